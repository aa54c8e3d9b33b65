"""The 1-D residual network of Ribeiro et al. (2020) for 12-lead ECG classification.

Ribeiro AH, Ribeiro MH, Paixão GMM, et al. "Automatic diagnosis of the 12-lead ECG using a deep neural
network." Nat Commun 11, 1760 (2020). https://doi.org/10.1038/s41467-020-15432-4
Reference code: ``antonior92/automatic-ecg-diagnosis`` (Keras, ``model.py``) and its PyTorch port
``antonior92/ecg-age-prediction`` (``resnet.py``).

Layout (defaults, for 4096 samples at 400 Hz in the paper)::

    conv(k=17, 64) - BN - ReLU
    4 x residual unit: 128, 196, 256, 320 filters, each downsampling time by 4 (4096 -> 16 samples)
    global average + max pooling over time [+ age/sex] -> dense -> logits (sigmoid in the loss)

A residual unit (the pre-activation form of their code)::

    main: conv(k) - BN - ReLU - dropout - conv(k, stride s)
    skip: maxpool(s) [+ conv 1x1 when the channel count changes]
    x = main + skip;  y = x (carried to the next unit's skip);  x = dropout(ReLU(BN(x)))

Differences from the paper (all deliberate):

- any input length: the paper flattens the last ``[320, 16]`` map into the dense layer, which fixes
  the input at 4096 samples; here the last map is pooled over time (average and max), so one network
  reads 2.5 s crops, 10 s records at 500 Hz and 16 s records alike, and exports with a dynamic time axis;
- "same" padding is ``kernel_size // 2`` on both sides with an odd kernel (17; the Keras code uses 16
  with TensorFlow's asymmetric padding) and the skip max-pool uses ``ceil_mode``, so both branches of
  a unit give ``ceil(T / s)`` samples for every ``T`` (the ``ecg-age-prediction`` port needs lengths
  divisible by the strides);
- dropout defaults to 0.2 (the Keras code's keyword default, 0.8, is its drop probability);
- optional demographics (``n_demo`` values, e.g. age and sex) enter next to the pooled features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ecglab.errors import ConfigError, LeadError
from ecglab.models.registry import register_model

__all__ = ["ResNet1d"]


class _CeilMaxPool1d(nn.Module):
    """Max-pool by ``stride`` with window = stride, keeping ``ceil(T / stride)`` samples.

    The same as ``nn.MaxPool1d(stride, ceil_mode=True)``, written as pad + reshape + max because in
    torch 2.13 ``max_pool1d`` pins the time axis to the example's length under ``torch.export`` and
    ``ceil_mode`` adds a guard the exporter cannot prove: either breaks ONNX export with a dynamic
    time axis.
    """

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        n = (t + self.stride - 1) // self.stride
        # -inf padding never wins the max: every window holds at least one real sample.
        x = nn.functional.pad(x, (0, n * self.stride - t), value=float("-inf"))
        return x.reshape(b, c, n, self.stride).amax(dim=-1)


class _ResidualUnit(nn.Module):
    """One pre-activation residual unit; ``forward(x, y)`` takes the activated input and the skip."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel_size, padding=pad, bias=False)  # BN has the bias
        self.bn1 = nn.BatchNorm1d(c_out)
        self.drop1 = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.drop2 = nn.Dropout(dropout)
        skip: list[nn.Module] = []
        if stride > 1:
            skip.append(_CeilMaxPool1d(stride))
        if c_in != c_out:
            skip.append(nn.Conv1d(c_in, c_out, 1, bias=False))
        self.skip = nn.Sequential(*skip)  # empty: identity
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.skip(y)
        x = self.drop1(self.relu(self.bn1(self.conv1(x))))
        x = self.conv2(x) + y
        y = x
        x = self.drop2(self.relu(self.bn2(x)))
        return x, y


@register_model("resnet1d")
class ResNet1d(nn.Module):
    """Ribeiro et al. (2020) 12-lead ECG ResNet, made length-agnostic by global pooling.

    Parameters
    ----------
    in_leads
        Number of input leads (rows of the signal).
    n_classes
        Number of outputs (independent labels: the logits go to a sigmoid / BCE loss).
    filters
        Channels of the first convolution followed by those of each residual unit; the number of
        units is ``len(filters) - 1``.
    downsample
        Time downsampling factor of each residual unit (``len(filters) - 1`` values). The paper's
        ``(4, 4, 4, 4)`` reduces 4096 samples to 16; use smaller factors (e.g. ``(2, 2, 4, 4)``) for
        short crops so that the last map keeps a few samples.
    kernel_size
        Odd convolution kernel length (17 samples = 42 ms at 400 Hz).
    dropout
        Drop probability of every dropout layer.
    n_demo
        Number of demographic inputs (e.g. 2 for age and sex) concatenated to the pooled features
        before the dense layer; 0: none, and :meth:`forward` takes the signal only.
    width_mult
        Multiplies every entry of ``filters`` (rounded, at least 4): ``0.375`` gives a CPU-sized
        network of about 1M parameters.

    Attributes
    ----------
    feature_dim
        Channels ``F`` of :meth:`features`.
    feature_stride
        Time downsampling of :meth:`features` (product of ``downsample``): ``T' = ceil(T / stride)``.

    Examples
    --------
    >>> model = ResNet1d(in_leads=12, n_classes=6).eval()
    >>> model(torch.zeros(2, 12, 5000)).shape
    torch.Size([2, 6])
    """

    def __init__(
        self,
        in_leads: int = 12,
        n_classes: int = 6,
        filters: Sequence[int] = (64, 128, 196, 256, 320),
        downsample: Sequence[int] = (4, 4, 4, 4),
        kernel_size: int = 17,
        dropout: float = 0.2,
        n_demo: int = 0,
        width_mult: float = 1.0,
    ) -> None:
        super().__init__()
        filters = [int(f) for f in filters]
        downsample = [int(d) for d in downsample]
        _check_sizes(in_leads=in_leads, n_classes=n_classes, n_demo=n_demo, dropout=dropout)
        if len(filters) < 2 or min(filters) < 1:
            raise ConfigError(f"filters: need >= 2 positive channel counts (stem + units), got {filters}")
        if len(downsample) != len(filters) - 1 or min(downsample) < 1:
            raise ConfigError(
                f"downsample: need {len(filters) - 1} factors >= 1 (one per residual unit), got {downsample}"
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd (symmetric 'same' padding), got {kernel_size}")
        if width_mult <= 0:
            raise ConfigError(f"width_mult must be > 0, got {width_mult}")
        chans = [max(4, round(f * width_mult)) for f in filters]

        self.in_leads, self.n_classes, self.n_demo = in_leads, n_classes, n_demo
        self.feature_dim = chans[-1]
        self.feature_stride = math.prod(downsample)

        pad = kernel_size // 2
        self.stem = nn.Sequential(
            nn.Conv1d(in_leads, chans[0], kernel_size, padding=pad, bias=False),
            nn.BatchNorm1d(chans[0]),
            nn.ReLU(inplace=True),
        )
        self.units = nn.ModuleList(
            _ResidualUnit(c_in, c_out, s, kernel_size, dropout)
            for c_in, c_out, s in zip(chans[:-1], chans[1:], downsample, strict=True)
        )
        # Average + max pooling: the typical and the most extreme response of each filter over the record.
        self.fc = nn.Linear(2 * chans[-1] + n_demo, n_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # He-normal (fan-in) convolutions as in the Keras reference (kernel_initializer='he_normal').
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the last residual unit, before pooling.

        Parameters
        ----------
        x
            float32 ``[B, in_leads, T]`` signal (mV; no NaN: fill missing samples first).

        Returns
        -------
        torch.Tensor
            ``[B, feature_dim, ceil(T / feature_stride)]``.
        """
        _check_signal(x, self.in_leads, "resnet1d")
        x = self.stem(x)
        y = x
        for unit in self.units:
            x, y = unit(x, y)
        return x

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
        h = self.features(x)
        h = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)
        return self.fc(_append_demo(h, demo, self.n_demo, "resnet1d"))

    def example_inputs(self, batch: int = 2, length: int = 4096) -> tuple[torch.Tensor, ...]:
        """Zero inputs of the right shapes (signal, and demographics when ``n_demo > 0``)."""
        x = torch.zeros(batch, self.in_leads, length)
        return (x, torch.zeros(batch, self.n_demo)) if self.n_demo else (x,)


def _check_sizes(*, in_leads: int, n_classes: int, n_demo: int, dropout: float) -> None:
    """Constructor checks shared by the 12-lead models (one line naming the argument)."""
    if in_leads < 1:
        raise ConfigError(f"in_leads must be >= 1, got {in_leads}")
    if n_classes < 1:
        raise ConfigError(f"n_classes must be >= 1, got {n_classes}")
    if n_demo < 0:
        raise ConfigError(f"n_demo must be >= 0, got {n_demo}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")


def _check_signal(x: torch.Tensor, in_leads: int, model: str) -> None:
    # Static shape checks only (lead count, rank), so they do not break export with a dynamic time axis.
    if x.dim() != 3 or x.shape[1] != in_leads:
        raise LeadError(
            f"{model}: expected a [batch, {in_leads} leads, samples] signal, got {tuple(x.shape)}"
        )


def _append_demo(h: torch.Tensor, demo: torch.Tensor | None, n_demo: int, model: str) -> torch.Tensor:
    if n_demo == 0:
        return h
    if demo is None:
        raise ConfigError(f"{model}: built with n_demo={n_demo}: pass demo [batch, {n_demo}]")
    if demo.dim() != 2 or demo.shape[1] != n_demo:
        raise ConfigError(f"{model}: demo must be [batch, {n_demo}], got {tuple(demo.shape)}")
    return torch.cat([h, demo.to(h.dtype)], dim=1)
