"""A compact 1-D CNN for single-beat classification (AAMI classes N, S, V, F, Q).

Two branches meet in a small head:

- a 4-block 1-D CNN on the beat window ``[B, leads, samples]`` (morphology), ending in global
  average + max pooling so the head sees both the typical and the most extreme activation of each
  filter and the model does not depend on the exact window length;
- an MLP on the per-record normalised RR features ``[B, F]`` (rhythm) from
  :func:`ecglab.signal.beats.rr_features`. Inter-patient, the RR ratios are what separate S beats
  from N beats (their morphology is nearly normal), so they enter the head directly rather than
  being learned from the window.

The network has no data-dependent Python control flow, so it traces and exports to ONNX as is,
and with the defaults it has about 35k parameters (~140 kB of float32 weights).
"""

from __future__ import annotations

import torch
from torch import nn

from ecglab.models.registry import register_model

__all__ = ["BeatCNN"]

#: RR features are clipped to this range before the MLP: a pause of tens of seconds (signal loss,
#: missed detections) would otherwise dominate the normalisation layer's statistics.
RR_CLIP = (0.0, 5.0)


def _conv_block(c_in: int, c_out: int, kernel: int, *, stride: int = 1, pool: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),  # BN has a bias
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool1d(2))
    return nn.Sequential(*layers)


@register_model("beat_cnn")
class BeatCNN(nn.Module):
    """Beat classifier: CNN on the window + MLP on the RR features → class logits.

    Parameters
    ----------
    in_leads
        Number of leads per window (rows of the window).
    window
        Window length in samples (``BeatWindowSpec().n_samples``, 126 at 180 Hz). Global pooling
        makes the network length-agnostic; the value is kept for export (example input) and
        checkpoints.
    n_rr
        Number of RR features (``len(RR_FEATURE_NAMES)``).
    n_classes
        Number of output classes (5 AAMI classes).
    width
        Base channel width: the conv blocks have ``width/2, 3*width/4, 3*width/2, 2*width``
        channels (16, 24, 48, 64 for the default 32).
    dropout
        Dropout before the last linear layer.
    use_rr
        Use the RR branch. Without it the model sees morphology only (an ablation; the ``rr``
        argument of :meth:`forward` is then ignored).
    rr_columns
        Indices of the RR features (columns of ``ecglab.signal.beats.RR_FEATURE_NAMES``) the model
        uses; None: all. The input still carries all ``n_rr`` columns.

    Examples
    --------
    >>> model = BeatCNN().eval()
    >>> model(torch.zeros(8, 1, 126), torch.ones(8, 8)).shape
    torch.Size([8, 5])
    """

    def __init__(
        self,
        in_leads: int = 1,
        window: int = 126,
        n_rr: int = 8,
        n_classes: int = 5,
        width: int = 32,
        dropout: float = 0.2,
        use_rr: bool = True,
        rr_columns: list[int] | None = None,
    ) -> None:
        super().__init__()
        if in_leads < 1 or window < 16 or n_classes < 2 or width < 4 or (use_rr and n_rr < 1):
            raise ValueError(
                f"invalid BeatCNN size: in_leads={in_leads}, window={window} (>= 16), n_rr={n_rr}, "
                f"n_classes={n_classes}, width={width} (>= 4)"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_leads, self.window, self.n_rr, self.n_classes = in_leads, window, n_rr, n_classes
        self.use_rr = use_rr
        columns = list(range(n_rr)) if rr_columns is None else [int(c) for c in rr_columns]
        if not columns or min(columns) < 0 or max(columns) >= n_rr:
            raise ValueError(f"rr_columns must index the {n_rr} RR features, got {rr_columns}")
        # Which RR features the model uses (all by default); the input keeps all n_rr columns so
        # every caller passes the same features and the selection travels with the weights.
        self.register_buffer("rr_columns", torch.tensor(columns, dtype=torch.long), persistent=False)
        n_used = len(columns)
        chans = (max(width // 2, 4), max(3 * width // 4, 4), 3 * width // 2, 2 * width)
        # The first block downsamples by a strided convolution instead of conv + max-pool: the
        # windows are band-limited to 40 Hz, so at 180 Hz they are oversampled ~2x and a learned
        # stride-2 filter loses nothing, while it halves the cost of the widest activation (the
        # network is memory-bound there). Wide first kernel: a QRS spans ~15 samples at 180 Hz.
        # Resolution after the blocks: 126 -> 63 -> 31 -> 15 -> 15 samples; the receptive field of
        # the last block is 63 samples (350 ms), enough to relate a P wave to its QRS complex, which
        # is what tells many S beats from N beats.
        self.features = nn.Sequential(
            _conv_block(in_leads, chans[0], 7, stride=2, pool=False),
            _conv_block(chans[0], chans[1], 5),
            _conv_block(chans[1], chans[2], 5),
            _conv_block(chans[2], chans[3], 5, pool=False),
        )
        head_in = 2 * chans[-1]
        if use_rr:
            # BatchNorm on the raw features standardises seconds and ratios alike.
            self.rr_mlp = nn.Sequential(
                nn.BatchNorm1d(n_used),
                nn.Linear(n_used, width),
                nn.ReLU(inplace=True),
                nn.Linear(width, width),
                nn.ReLU(inplace=True),
            )
            head_in += width
        else:
            self.rr_mlp = None
        self.head = nn.Sequential(
            nn.Linear(head_in, 2 * width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(2 * width, n_classes),
        )

    def forward(self, windows: torch.Tensor, rr: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits.

        Parameters
        ----------
        windows
            float32 ``[B, in_leads, window]`` normalised beat windows.
        rr
            float32 ``[B, n_rr]`` RR features (required when ``use_rr``).

        Returns
        -------
        torch.Tensor
            ``[B, n_classes]`` logits (apply softmax for probabilities).
        """
        h = self.features(windows)
        h = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)
        if self.rr_mlp is not None:
            if rr is None:
                raise ValueError("BeatCNN was built with use_rr=True: pass the RR features")
            rr = rr.index_select(1, self.rr_columns)
            h = torch.cat([h, self.rr_mlp(rr.clamp(*RR_CLIP))], dim=1)
        return self.head(h)

    def example_inputs(self, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero inputs of the right shapes (for export and smoke tests)."""
        return torch.zeros(batch, self.in_leads, self.window), torch.ones(batch, self.n_rr)
