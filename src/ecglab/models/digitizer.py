"""Learned ECG-image digitizers: ``whole`` (the page at once) and ``series`` (one strip per lead row).

Both follow the recipe of the best open digitizers (PhysioNet 2024, Kaggle 2025): a compact U-Net
encoder-decoder (written here: torchvision is not a dependency, and the network is 40 lines) whose
decoder predicts, **for every output column, a distribution over the trace's y position** (a
softmax over the crop's rows, trained against a Gaussian around the true y) plus a trace mask. The
y head has a wide output resolution (``upsample`` columns per input column).

* ``whole`` appends normalised y coordinates to the input and to every decoder stage (CoordConv),
  so one channel per row (``n_series``, top to bottom) can tell *which* row's trace it follows.
* ``series`` sees one strip per row, centred on its baseline, through a shared encoder; at the
  bottleneck each strip's features are fused with the mean of all strips of the page (cross-series
  fusion: the rows of a 3x4 page show the same beats at the same columns).

Inputs are ``uint8``-range RGB scaled to ``[0, 1]`` by the caller; every output is a logit.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ecglab.models.registry import register_model

__all__ = ["SeriesDigitizer", "UNet2d", "WholeDigitizer"]


def _conv_block(c_in: int, c_out: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def y_coordinates(x: torch.Tensor) -> torch.Tensor:
    """``[N, 1, H, W]`` row coordinate in ``[-1, 1]`` (the CoordConv channel)."""
    n, _c, h, w = x.shape
    ys = torch.linspace(-1.0, 1.0, h, dtype=x.dtype, device=x.device)
    return ys.view(1, 1, h, 1).expand(n, 1, h, w)


class UNet2d(nn.Module):
    """A compact U-Net: ``len(widths) - 1`` max-pool stages, a dilated context block, skip decoder.

    Parameters
    ----------
    in_channels
        Input channels (RGB plus any coordinate channels).
    widths
        Channels per stage, finest first; sizes must be multiples of ``2 ** (len(widths) - 1)``.
    coord
        Append the y coordinate to every decoder stage's input (CoordConv decoder).
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (16, 32, 48, 64, 96), coord: bool = False):
        super().__init__()
        self.coord = coord
        self.encoders = nn.ModuleList()
        c = in_channels
        for w in widths:
            self.encoders.append(_conv_block(c, w))
            c = w
        self.context = _conv_block(c, c, dilation=2)
        extra = 1 if coord else 0
        self.decoders = nn.ModuleList(
            _conv_block(widths[i + 1] + widths[i] + extra, widths[i])
            for i in reversed(range(len(widths) - 1))
        )
        self.out_channels = widths[0]
        self.stride = 2 ** (len(widths) - 1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of every stage, finest first (the last is the bottleneck after the context block)."""
        feats = []
        for i, enc in enumerate(self.encoders):
            if i:
                x = F.max_pool2d(x, 2)
            x = enc(x)
            feats.append(x)
        feats[-1] = feats[-1] + self.context(feats[-1])
        return feats

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """``[N, widths[0], H, W]`` decoder output."""
        x = feats[-1]
        for dec, skip in zip(self.decoders, reversed(feats[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            parts = [x, skip, y_coordinates(skip)] if self.coord else [x, skip]
            x = dec(torch.cat(parts, dim=1))
        return x


class _Heads(nn.Module):
    """Per-column y logits at ``upsample`` x the width, and a trace-mask logit per pixel."""

    def __init__(self, channels: int, n_out: int, upsample: int):
        super().__init__()
        self.widen = (
            nn.ConvTranspose2d(channels, channels, kernel_size=(1, upsample), stride=(1, upsample))
            if upsample > 1
            else nn.Identity()
        )
        self.y = nn.Conv2d(channels, n_out, 1)
        self.mask = nn.Conv2d(channels, n_out if n_out > 1 else 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.y(F.relu(self.widen(x))), self.mask(x)


@register_model("whole")
class WholeDigitizer(nn.Module):
    """All rows of a page at once: ``[B, 3, H, W]`` → y logits ``[B, n_series, H, W * upsample]``.

    Parameters
    ----------
    n_series
        Rows followed, top to bottom (4 for 3x4+1; a page with fewer rows leaves the last ones free).
    widths
        U-Net channels per stage.
    upsample
        Output columns per input column.

    Returns
    -------
    y_logits, mask_logits
        Softmax ``y_logits`` over dim 2 (rows) for each column; ``mask_logits [B, n_series, H, W]``
        marks each series' own trace pixels.

    Examples
    --------
    >>> model = WholeDigitizer(n_series=4).eval()
    >>> [t.shape for t in model(torch.zeros(1, 3, 64, 96))]
    [torch.Size([1, 4, 64, 192]), torch.Size([1, 4, 64, 96])]
    """

    def __init__(self, n_series: int = 4, widths: tuple[int, ...] = (16, 32, 48, 64, 96), upsample: int = 2):
        super().__init__()
        self.n_series = n_series
        self.upsample = upsample
        self.unet = UNet2d(4, tuple(widths), coord=True)
        self.heads = _Heads(self.unet.out_channels, n_series, upsample)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([x - 0.5, y_coordinates(x)], dim=1)
        return self.heads(self.unet.decode(self.unet.encode(x)))


@register_model("series")
class SeriesDigitizer(nn.Module):
    """One strip per row with cross-series fusion: ``[B, R, 3, H, W]`` → ``[B, R, H, W * upsample]``.

    Parameters
    ----------
    widths
        U-Net channels per stage (shared by all strips).
    upsample
        Output columns per input column.
    fuse
        Add the mean bottleneck features of the page's strips to each strip's (cross-series fusion);
        False treats strips independently.

    Returns
    -------
    y_logits, mask_logits
        ``[B, R, H, W * upsample]`` (softmax over dim 2) and ``[B, R, H, W]`` (the strip's own trace).

    Examples
    --------
    >>> model = SeriesDigitizer().eval()
    >>> [t.shape for t in model(torch.zeros(1, 4, 3, 32, 64))]
    [torch.Size([1, 4, 32, 128]), torch.Size([1, 4, 32, 64])]
    """

    def __init__(self, widths: tuple[int, ...] = (16, 32, 48, 64, 96), upsample: int = 2, fuse: bool = True):
        super().__init__()
        self.upsample = upsample
        self.fuse = fuse
        self.unet = UNet2d(4, tuple(widths), coord=True)
        c = widths[-1]
        self.fusion = nn.Sequential(
            nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)
        )
        self.heads = _Heads(self.unet.out_channels, 1, upsample)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, r, c, h, w = x.shape
        flat = x.reshape(b * r, c, h, w)
        flat = torch.cat([flat - 0.5, y_coordinates(flat)], dim=1)
        feats = self.unet.encode(flat)
        if self.fuse:
            deep = feats[-1]
            grouped = deep.reshape(b, r, *deep.shape[1:])
            context = grouped.mean(dim=1, keepdim=True).expand_as(grouped).reshape(deep.shape)
            feats[-1] = deep + self.fusion(torch.cat([deep, context], dim=1))
        y_logits, mask_logits = self.heads(self.unet.decode(feats))
        return y_logits.reshape(b, r, h, -1), mask_logits.reshape(b, r, h, w)
