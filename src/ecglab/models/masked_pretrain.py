"""Masked-sample reconstruction around any 12-lead backbone (self-supervised pre-training).

The backbone (``resnet1d``, ``se_resnet1d``: anything with ``features(x) -> [B, F, T']``,
``feature_dim`` and ``feature_stride``) sees a recording with spans of time (and some whole leads)
set to zero; a light decoder upsamples its features back to the input rate and, together with the
visible samples and the mask, predicts every sample. The loss (in the ``pretrain`` task) only counts
hidden samples. After pre-training, the backbone's weights (``backbone.*``) initialise a classifier
of the same family through ``model.pretrained=RUN_DIR``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ecglab.models.registry import create_model, register_model


@register_model("masked_pretrain")
class MaskedReconstruction(nn.Module):
    """Backbone encoder + upsampling decoder predicting hidden samples.

    Parameters
    ----------
    backbone
        Registry name of the encoder (``resnet1d`` or ``se_resnet1d``).
    backbone_params
        Its keyword arguments (use those of the classifier you will fine-tune, so names and shapes
        match); ``in_leads`` is set from ``in_leads``.
    in_leads
        Number of input leads.
    decoder_width
        Channels of the decoder convolutions.
    """

    def __init__(
        self,
        backbone: str = "resnet1d",
        backbone_params: dict[str, Any] | None = None,
        in_leads: int = 12,
        decoder_width: int = 64,
    ) -> None:
        super().__init__()
        params = dict(backbone_params or {})
        params["in_leads"] = in_leads
        params.setdefault("n_classes", 1)  # the head is not trained here; fine-tuning replaces it
        self.backbone = create_model(backbone, **params)
        self.in_leads = in_leads
        feature_dim = int(self.backbone.feature_dim)
        self.project = nn.Conv1d(feature_dim, decoder_width, kernel_size=1)
        # Visible samples and the mask enter the decoder too: the encoder has to supply what the
        # neighbourhood cannot (the shape of a hidden beat), not copy visible samples.
        self.decoder = nn.Sequential(
            nn.Conv1d(decoder_width + 2 * in_leads, decoder_width, kernel_size=9, padding=4),
            nn.BatchNorm1d(decoder_width),
            nn.GELU(),
            nn.Conv1d(decoder_width, decoder_width, kernel_size=9, padding=4),
            nn.BatchNorm1d(decoder_width),
            nn.GELU(),
            nn.Conv1d(decoder_width, in_leads, kernel_size=1),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruct ``x [B, L, T]`` (hidden samples zeroed) with ``mask [B, L, T]`` (1 = hidden)."""
        if mask is None:
            mask = torch.zeros_like(x)
        features = self.project(self.backbone.features(x))
        up = F.interpolate(features, size=x.shape[-1], mode="linear", align_corners=False)
        return self.decoder(torch.cat([up, x, mask], dim=1))


def random_time_mask(
    shape: tuple[int, int, int], span: int, ratio: float, lead_drop: float, generator: torch.Generator | None
) -> torch.Tensor:
    """A ``[B, L, T]`` float mask (1 = hidden): spans of ``span`` samples covering about ``ratio`` of
    the time in every lead, plus whole leads hidden with probability ``lead_drop`` (never all)."""
    b, leads, t = shape
    n_spans = max(1, round(ratio * t / max(span, 1)))
    starts = torch.randint(0, max(t - span, 1), (b, n_spans), generator=generator)
    time = torch.arange(t).view(1, 1, t)
    hidden = ((time >= starts[..., None]) & (time < starts[..., None] + span)).any(1)  # [B, T]
    mask = hidden[:, None, :].expand(b, leads, t).clone()
    if lead_drop > 0 and leads > 1:
        drop = torch.rand(b, leads, generator=generator) < lead_drop
        drop[drop.all(1)] = False
        mask |= drop[..., None]
    return mask.float()
