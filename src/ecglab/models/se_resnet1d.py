"""SE-ResNet with adaptive lead weighting, after Zhao et al. (PhysioNet/CinC Challenge 2020, 2nd place).

Zhao Z, Fang H, Relton SD, Yan R, Liu Y, Li Z, Qin J, Wong DC. "Adaptive Lead Weighted ResNet Trained
With Different Duration Signals for Classifying 12-lead ECGs." Computing in Cardiology 2020;47.
https://doi.org/10.22489/CinC.2020.112 (team "Between_a_ROC_and_a_heart_place": 5-fold CV challenge
score 0.684, 0.520 on the full hidden test set). Reference code: ``ZhaoZhibin/Physionet2020model``
(``models/SEResnet1dag.py``, their ``seresnet18_1d_ag``).

Layout (defaults = their SE-ResNet-18 on 4096 samples at 257 Hz)::

    [lead weights: x * w, one learnable w per lead]
    conv(k=15, stride 2, 64) - BN - ReLU - maxpool(3, stride 2)
    4 stages of basic SE blocks (2 each), 64, 128, 256, 512 channels, stride 1, 2, 2, 2
    global average pooling [+ age/sex] -> dense -> logits (sigmoid in the loss)

A basic SE block::

    conv(k=7, stride s) - BN - ReLU - dropout - conv(k=7) - BN - SE
    + identity (conv 1x1 stride s - BN when the shape changes)  ->  ReLU

where SE (squeeze-and-excitation, Hu et al. 2018) rescales each channel by
``sigmoid(W2 relu(W1 mean_t(x)))``, ``W1`` reducing the channels by ``se_reduction``.

In the paper the "adaptive lead weighting" is these SE layers (channel attention learned per record);
their code has no layer that acts on the leads themselves. This module adds an explicit, inspectable
lead weighting: one learnable scale per input lead (initialised to 1) applied before the stem, read with
:meth:`SEResNet1d.lead_weights`. Because the stem convolution is linear in each lead, such a scale can
be traded against that lead's stem weights: read it as a learned relative emphasis (meaningful under
weight decay), not as a calibrated importance. ``lead_weighting=False`` gives the reference network.

Other differences from the reference code: any input length (global pooling, "same" padding so every
layer gives ``ceil(T / stride)`` samples); demographics are concatenated to the pooled features directly
(their code maps 5 age/sex values through a linear 5 -> 10 layer first, which adds nothing to the linear
output layer that follows); the SE bottleneck keeps at least 4 units so that narrow CPU variants work.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ecglab.errors import ConfigError
from ecglab.models.registry import register_model
from ecglab.models.resnet1d import _append_demo, _check_signal, _check_sizes

__all__ = ["SEResNet1d"]


class _MaxPool1d(nn.MaxPool2d):
    """``nn.MaxPool1d`` computed as a 2-D pool over ``[B, C, 1, T]``.

    In torch 2.13 ``max_pool1d`` pins the time axis to the example's length under ``torch.export``
    (``max_pool2d`` does not), which would break ONNX export with a dynamic time axis.
    """

    def __init__(self, kernel_size: int, stride: int, padding: int = 0) -> None:
        super().__init__((1, kernel_size), (1, stride), (0, padding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.unsqueeze(-2)).squeeze(-2)


class _SqueezeExcite(nn.Module):
    """Channel attention: scale each channel by a gate computed from its time average."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x.mean(dim=-1)).unsqueeze(-1)


class _SEBasicBlock(nn.Module):
    def __init__(
        self, c_in: int, c_out: int, stride: int, kernel_size: int, dropout: float, se_reduction: int
    ) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.se = _SqueezeExcite(c_out, se_reduction)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or c_in != c_out:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.drop(self.relu(self.bn1(self.conv1(x))))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(out + self.shortcut(x))


@register_model("se_resnet1d")
class SEResNet1d(nn.Module):
    """SE-ResNet for 12-lead ECGs with a learnable weight per lead (Zhao et al., CinC 2020).

    Parameters
    ----------
    in_leads
        Number of input leads.
    n_classes
        Number of outputs (independent labels: sigmoid / BCE).
    width
        Channels of the stem and first stage; stage ``i`` has ``width * 2**i``.
    layers
        Basic SE blocks per stage (``(2, 2, 2, 2)``: SE-ResNet-18; ``(3, 4, 6, 3)``: SE-ResNet-34).
    kernel_size
        Odd kernel length of the block convolutions (7 in the reference).
    stem_kernel
        Odd kernel length of the stride-2 stem convolution (15 in the reference).
    dropout
        Drop probability between the two convolutions of every block.
    n_demo
        Number of demographic inputs concatenated to the pooled features; 0: none.
    se_reduction
        Channel reduction of the squeeze-and-excitation bottleneck.
    lead_weighting
        Multiply each input lead by a learnable weight (see the module notes); False: the reference
        network, and :meth:`lead_weights` returns ones.

    Attributes
    ----------
    feature_dim
        Channels ``F`` of :meth:`features` (``width * 2**(len(layers) - 1)``).
    feature_stride
        Time downsampling of :meth:`features` (stem 2 x max-pool 2 x 2 per later stage = 32 by default):
        ``T' = ceil(T / feature_stride)``.

    Examples
    --------
    >>> model = SEResNet1d(in_leads=12, n_classes=24).eval()
    >>> model(torch.zeros(2, 12, 4096)).shape
    torch.Size([2, 24])
    """

    def __init__(
        self,
        in_leads: int = 12,
        n_classes: int = 24,
        width: int = 64,
        layers: Sequence[int] = (2, 2, 2, 2),
        kernel_size: int = 7,
        stem_kernel: int = 15,
        dropout: float = 0.2,
        n_demo: int = 0,
        se_reduction: int = 16,
        lead_weighting: bool = True,
    ) -> None:
        super().__init__()
        layers = [int(n) for n in layers]
        _check_sizes(in_leads=in_leads, n_classes=n_classes, n_demo=n_demo, dropout=dropout)
        if width < 4:
            raise ConfigError(f"width must be >= 4, got {width}")
        if not layers or min(layers) < 1:
            raise ConfigError(f"layers: need >= 1 stage, each with >= 1 block, got {layers}")
        for name, k in (("kernel_size", kernel_size), ("stem_kernel", stem_kernel)):
            if k < 1 or k % 2 == 0:
                raise ConfigError(f"{name} must be odd (symmetric 'same' padding), got {k}")
        if se_reduction < 1:
            raise ConfigError(f"se_reduction must be >= 1, got {se_reduction}")

        self.in_leads, self.n_classes, self.n_demo = in_leads, n_classes, n_demo
        self.lead_weighting = lead_weighting
        chans = [width * 2**i for i in range(len(layers))]
        self.feature_dim = chans[-1]
        self.feature_stride = 4 * 2 ** (len(layers) - 1)

        # One scale per lead, initialised to 1 (the identity); a buffer when disabled so that
        # lead_weights() and checkpoints look the same either way.
        ones = torch.ones(in_leads)
        if lead_weighting:
            self.lead_weight = nn.Parameter(ones)
        else:
            self.register_buffer("lead_weight", ones)
        self.stem = nn.Sequential(
            nn.Conv1d(in_leads, width, stem_kernel, stride=2, padding=stem_kernel // 2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            _MaxPool1d(3, stride=2, padding=1),
        )
        blocks: list[nn.Module] = []
        c_in = width
        for stage, (c_out, n_blocks) in enumerate(zip(chans, layers, strict=True)):
            for b in range(n_blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(_SEBasicBlock(c_in, c_out, stride, kernel_size, dropout, se_reduction))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(chans[-1] + n_demo, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv1d):  # as the reference code
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def lead_weights(self) -> torch.Tensor:
        """Current per-lead input weights, ``[in_leads]`` float32 on the CPU (a detached copy)."""
        return self.lead_weight.detach().float().cpu().clone()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the last stage, before pooling.

        Parameters
        ----------
        x
            float32 ``[B, in_leads, T]`` signal (mV; no NaN: fill missing samples first).

        Returns
        -------
        torch.Tensor
            ``[B, feature_dim, ceil(T / feature_stride)]``.
        """
        _check_signal(x, self.in_leads, "se_resnet1d")
        x = x * self.lead_weight.to(x.dtype).view(1, -1, 1)
        return self.blocks(self.stem(x))

    def forward(self, x: torch.Tensor, demo: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits.

        Parameters
        ----------
        x
            float32 ``[B, in_leads, T]`` signal, any ``T >= 1``.
        demo
            float32 ``[B, n_demo]`` demographics; required when ``n_demo > 0``, ignored otherwise.

        Returns
        -------
        torch.Tensor
            ``[B, n_classes]`` logits (apply a sigmoid for probabilities).
        """
        h = self.features(x).mean(dim=-1)
        return self.fc(_append_demo(h, demo, self.n_demo, "se_resnet1d"))

    def example_inputs(self, batch: int = 2, length: int = 4096) -> tuple[torch.Tensor, ...]:
        """Zero inputs of the right shapes (signal, and demographics when ``n_demo > 0``)."""
        x = torch.zeros(batch, self.in_leads, length)
        return (x, torch.zeros(batch, self.n_demo)) if self.n_demo else (x,)
