"""An ensemble of models of one family that averages their class probabilities.

Inter-patient beat classification on MIT-BIH is dominated by *which* patients a model trained on:
the same recipe trained on four different 18-patient subsets of DS1 scores between 0.1 and 0.8
validation F1 for S beats. Averaging members trained on different patient subsets (each
early-stopped on its own held-out patients) removes much of that variance. Members are built by
``ecglab ensemble RUN_DIR...`` (:func:`ecglab.training.ensemble.build_ensemble`) from finished runs.

The output is ``log(mean softmax)``: a softmax of it gives back the averaged probabilities, so every
consumer that treats a model's output as logits (prediction, evaluation, ONNX) works unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecglab.models.registry import create_model, register_model

__all__ = ["ProbabilityEnsemble"]

#: Attributes read by predictors and exporters, passed through from the first member.
_PASSTHROUGH = ("n_classes", "n_rr", "in_leads", "window")


@register_model("ensemble")
class ProbabilityEnsemble(nn.Module):
    """``n_members`` models ``member(**member_params)`` whose softmax outputs are averaged.

    Parameters
    ----------
    member
        Registered model name of every member (e.g. ``beat_cnn``).
    member_params
        Keyword arguments of that model (the same for all members).
    n_members
        Number of members (>= 1).
    """

    def __init__(self, member: str, member_params: dict[str, Any] | None = None, n_members: int = 1) -> None:
        super().__init__()
        if int(n_members) < 1:
            raise ValueError(f"an ensemble needs n_members >= 1, got {n_members}")
        if member == "ensemble":
            raise ValueError("an ensemble's members cannot be ensembles")
        params = dict(member_params or {})
        self.members = nn.ModuleList(create_model(member, **params) for _ in range(int(n_members)))
        for name in _PASSTHROUGH:
            if hasattr(self.members[0], name):
                setattr(self, name, getattr(self.members[0], name))

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        """Log of the members' mean class probabilities ``[B, n_classes]``.

        ``x`` is the members' first input, ``aux`` their optional second one (a beat model's RR
        features). Two named arguments, not ``*inputs``, so that ONNX export sees a fixed signature.
        """
        inputs = (x,) if aux is None else (x, aux)
        probs = torch.stack([m(*inputs).float().softmax(-1) for m in self.members]).mean(0)
        return probs.clamp_min(1e-12).log()

    def example_inputs(self, batch: int = 2) -> Any:
        """The first member's example inputs."""
        return self.members[0].example_inputs(batch)
