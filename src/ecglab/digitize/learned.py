"""Trace extraction with a learned digitizer (``series`` or ``whole``) instead of column tracking.

The classical stages still rectify the page, measure the grid and find the rows and panels; the
model then reads, in canonical crops placed at those rows (:mod:`ecglab.digitize.strips`), one
y distribution per output column, decoded to a sub-pixel y by a windowed soft-argmax. Each panel's
samples are read off that curve at their times and turned into mV from the row baseline. Where
nothing is plotted the curve is not trusted: samples beyond the row's ink are NaN, and columns with
no ink near the row where the model is unsure (the pen lifting between two panels) are bridged.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage

from ecglab.digitize.errors import DigitizeError
from ecglab.digitize.extract import PanelTrace
from ecglab.digitize.layout import PageLayout
from ecglab.digitize.strips import (
    CropSpec,
    RowFrame,
    crop_page,
    crop_rows,
    crop_y_to_image,
    image_y_to_crop,
    output_x,
    page_frame,
    soft_argmax,
    strip_top,
)

#: Samples further than this (mm of paper) outside a row's ink are NaN: nothing was plotted there.
BEYOND_INK_MM = 0.5
#: Below this peak probability mass the model's y is a guess (a column holding no trace); where the
#: column has no ink near the row either, the curve is bridged over it.
UNSURE_CONFIDENCE = 0.3
#: Samples this close (mm of paper) to a bridged gap are bridged too: beside an inkless gap the
#: model can be sure and wrong (it reads the stroke's cut end), and a hold from there carries the
#: error across the whole gap.
BRIDGE_MARGIN_MM = 0.5
#: The model sees a band of ``spec.height_mm`` (48 mm: +-2.4 mV at 10 mm/mV) around each row's
#: baseline. Where the classical tracker's trace goes within this much (mm of paper) of the band's
#: edge or beyond, and the model is unsure there (:data:`OFF_BAND_CONFIDENCE`), the stroke has left
#: the band (a tall QRS in V2-V4) and the tracker's samples are taken over that stretch.
STRIP_EDGE_MM = 1.5
#: Below this peak probability mass the model is taken not to see the stroke; 0 turns the rule off,
#: the default. Seen on two ecg-image-kit test pages: where the stroke left the band the model held
#: 0.17-0.48 there; where the tracker strayed out of the band into the next row's spike the model,
#: on the right trace, 0.6-0.99. At 0.5 the test pages gain (cinc2024_ptbxl 15.64 -> 15.99 Kaggle
#: dB), but validation renders do not agree: tall leads in ecg-image-kit's style +0.26 dB, clean
#: -0.53, every other set -0.05 (``python benchmarks/digitize_off_band.py``). Off until a rule
#: that validation prefers is found.
OFF_BAND_CONFIDENCE = 0.0
#: A stretch taken from the tracker reaches this far (mm of paper) either side of where it is out.
OFF_BAND_SPREAD_MM = 0.5


@dataclass
class RowCurve:
    """A row's trace as the model sees it: image ``x``, ``y`` and the peak probability mass per column."""

    x: np.ndarray
    y: np.ndarray
    confidence: np.ndarray


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-2, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-2, keepdims=True)


class LearnedDigitizer:
    """A trained ``series`` or ``whole`` model with its crop geometry.

    Parameters
    ----------
    model
        The torch model (eval mode).
    cfg
        Its training config (``task: digitize``).
    onnx_path
        Run an exported ONNX file with onnxruntime instead of ``model``.
    tta
        Flip test-time augmentation: also run mirrored crops, mirror their distributions back and
        average. ``True`` or ``"h"``: left-right (time reversed); ``"v"``: upside down (the
        signal negated); ``"hv"``: both flips and their combination (4 passes). The y distribution
        has one bin per crop row, so an upside-down crop's distribution maps back exactly.
    """

    def __init__(
        self,
        model: Any,
        cfg: Any,
        *,
        onnx_path: str | os.PathLike[str] | None = None,
        tta: bool | str = False,
    ):
        from ecglab.training.digitize import MODEL_MODES, crop_spec

        self.model = model
        self.cfg = cfg
        self.mode = MODEL_MODES[str(cfg.model.name)]
        self.spec = crop_spec(cfg)
        self.tta = _tta_flips(tta)
        self.n_series = int(getattr(model, "n_series", 0)) if self.mode == "whole" else 0
        self._onnx = None
        if onnx_path is not None:
            from ecglab.export import OnnxModel

            self._onnx = OnnxModel(onnx_path)

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike[str],
        *,
        backend: str = "torch",
        onnx_path: Path | None = None,
        tta: bool | str = False,
    ) -> LearnedDigitizer:
        """Load a shipped digitizer by name (``digitizer``) or a run/weights folder.

        Raises
        ------
        DigitizeError
            When the model was not trained by the ``digitize`` task, or ``backend`` is unknown or
            its ONNX file is missing.
        """
        from ecglab.pretrained import load_task_model

        net, cfg, _folder, onnx_path = load_task_model(
            model, "digitize", backend=backend, onnx_path=onnx_path, error=DigitizeError
        )
        return cls(net, cfg, onnx_path=onnx_path, tta=tta)

    @property
    def name(self) -> str:
        return str(self.cfg.model.name)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Per-column y probabilities of a batch of crops (``[B, R, 3, H, W]`` or ``[B, 3, H, W]``, 0..1)."""
        prob = _softmax_rows(self._logits(x))
        for axes in self.tta:  # each flip of the input, its distribution flipped back
            prob = prob + np.flip(_softmax_rows(self._logits(np.ascontiguousarray(np.flip(x, axes)))), axes)
        return prob / (1 + len(self.tta))

    def _logits(self, x: np.ndarray) -> np.ndarray:
        if self._onnx is not None:
            return self._onnx(x=x.astype(np.float32))[0]
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))[0].float().numpy()

    def follow_rows(self, rgb: np.ndarray, frames: list[RowFrame]) -> list[RowCurve]:
        """Each row's curve on the (de-rotated) page ``rgb``.

        Raises
        ------
        DigitizeError
            A ``whole`` model asked for more rows than it has series.
        """
        spec = self.spec
        if self.mode == "series":
            crops = crop_rows(rgb, frames, spec)  # [R, H, W, 3]
            x = np.moveaxis(crops, -1, -3)[None].astype(np.float32) / 255.0
            prob = self.probabilities(x)[0]  # [R, H, Wo]
            y, conf = soft_argmax(prob)
            return [
                RowCurve(
                    x=output_x(f, spec, y.shape[-1]),
                    y=crop_y_to_image(y[r], f, spec, strip_top(f, spec)),
                    confidence=conf[r],
                )
                for r, f in enumerate(frames)
            ]
        if len(frames) > self.n_series:
            raise DigitizeError(
                f"the whole model follows at most {self.n_series} rows and this page has {len(frames)}: "
                "use the series model (--model with a series run) or the classical pipeline"
            )
        frame = page_frame(frames)
        crop = crop_page(rgb, frame, spec)
        x = np.moveaxis(crop, -1, -3)[None].astype(np.float32) / 255.0
        prob = self.probabilities(x)[0][: len(frames)]  # [R, H, Wo]
        y, conf = soft_argmax(within_row_bands(prob, frames, frame, self.spec))
        xs = output_x(frame, spec, y.shape[-1])
        return [
            RowCurve(x=xs, y=crop_y_to_image(y[r], frame, spec, 0.0), confidence=conf[r])
            for r in range(len(frames))
        ]


def within_row_bands(prob: np.ndarray, frames: list[RowFrame], frame: RowFrame, spec: CropSpec) -> np.ndarray:
    """A ``whole`` model's row distributions, each zeroed outside its row's band.

    The band is the ``series`` strip (``spec.height_mm`` centred on the row's baseline): the rows'
    positions are known from the layout, so series ``r`` may not be read off another row's trace,
    which an under-trained ``whole`` model otherwise does on foreign pages.

    Parameters
    ----------
    prob
        ``[R, H, W]`` per-column distributions of a page crop (top at image y = 0).
    frames
        The rows, top to bottom.
    frame, spec
        The page crop's frame and geometry.
    """
    out = prob.copy()
    rows = np.arange(prob.shape[-2])
    half = spec.height_mm / 2 * spec.px_per_mm
    for r, f in enumerate(frames):
        centre = float(image_y_to_crop(f.baseline_y, frame, spec, 0.0))
        out[r, np.abs(rows - centre) > half] = 0.0
    return out


def row_frames(page: PageLayout, speed_mm_per_s: float, gain_mm_per_mv: float) -> list[RowFrame]:
    """The crop frames of the detected rows (row start and scale, baseline, grid scale)."""
    ppm_y = page.px_per_mv / gain_mm_per_mv
    return [
        RowFrame(
            baseline_y=r.baseline_y,
            x_start=r.x_start if np.isfinite(r.x_start) else page.x_start,
            ppm_x=(r.px_per_s if np.isfinite(r.px_per_s) else page.px_per_s) / speed_mm_per_s,
            ppm_y=ppm_y,
        )
        for r in page.rows
    ]


def extract_traces_learned(
    rgb: np.ndarray,
    page: PageLayout,
    digitizer: LearnedDigitizer,
    *,
    fs: float = 500.0,
    speed_mm_per_s: float = 25.0,
    gain_mm_per_mv: float = 10.0,
    trace: np.ndarray | None = None,
    classical: list[PanelTrace] | None = None,
) -> list[PanelTrace]:
    """Every panel's signal in mV at ``fs``, read off the model's row curves.

    Parameters
    ----------
    rgb
        The de-rotated page.
    page
        Its detected layout.
    digitizer
        The model.
    fs
        Output sampling rate, Hz.
    speed_mm_per_s, gain_mm_per_mv
        Paper speed and gain.
    trace
        The page's trace mask. Where a column holds no ink near the row (the pen lifted between
        two panels) and the model is unsure (:data:`UNSURE_CONFIDENCE`), the curve is bridged
        from the panel's samples either side instead of read.
    classical
        The same panels read by :func:`ecglab.digitize.extract.extract_traces`. Where a stroke
        leaves the band the model sees, they fill in (:data:`STRIP_EDGE_MM`).

    Returns
    -------
    list of PanelTrace
        In the order of ``page.panels``; NaN where a panel's time falls outside the model's crop.
    """
    frames = row_frames(page, speed_mm_per_s, gain_mm_per_mv)
    curves = digitizer.follow_rows(rgb, frames)
    inked = None if trace is None else _inked_columns(trace, page)
    tracked = {id(t.panel): t for t in classical or ()}
    out = []
    for p in page.panels:
        frame, curve, row = frames[p.row], curves[p.row], page.rows[p.row]
        s0 = round(p.start_s * fs)
        n = max(round(p.stop_s * fs) - s0, 0)
        xs = frame.x_start + (s0 + np.arange(n)) / fs * frame.ppm_x * speed_mm_per_s
        ys = np.interp(xs, curve.x, curve.y, left=np.nan, right=np.nan)
        # Nothing was plotted beyond the row's ink (a row shorter than the page's scale says): the
        # model's curve there follows whatever else the crop shows.
        slack = BEYOND_INK_MM * frame.ppm_x
        ys[(xs < row.ink_lo - slack) | (xs > row.ink_hi + slack)] = np.nan
        confidence = np.interp(xs, curve.x, curve.confidence, left=0.0, right=0.0)
        if inked is not None:
            columns = np.clip(np.round(xs).astype(np.int64), 0, inked.shape[1] - 1)
            unsure = np.isfinite(ys) & (confidence < UNSURE_CONFIDENCE) & ~inked[p.row, columns]
            margin = round(BRIDGE_MARGIN_MM * fs / speed_mm_per_s)
            if unsure.any() and margin > 0:  # widen each unsure run by the margin on both sides
                near = np.convolve(unsure, np.ones(2 * margin + 1), mode="same") > 0
                unsure = near & np.isfinite(ys)
            _bridge(ys, unsure)
        if id(p) in tracked:
            step = frame.ppm_x * speed_mm_per_s / fs
            _take_off_band(ys, tracked[id(p)].ys, confidence, frame, digitizer.spec, step)
        values = (p.zero_line_y - ys) / page.px_per_mv
        out.append(PanelTrace(panel=p, values=values, xs=xs, ys=ys))
    return out


def _take_off_band(
    ys: np.ndarray,
    tracked: np.ndarray,
    confidence: np.ndarray,
    frame: RowFrame,
    spec: CropSpec,
    step_px: float,
) -> None:
    """Replace ``ys`` (samples ``step_px`` apart) in place by the tracker's ``tracked`` y where the
    stroke leaves the model's band.

    A stretch is taken where the tracker is out (within :data:`STRIP_EDGE_MM` of the band's edge or
    beyond), spread by :data:`OFF_BAND_SPREAD_MM`, and the model is unsure somewhere in it.
    """
    if tracked.shape != ys.shape or ys.size < 2:
        return
    inner = (spec.height_mm / 2 - STRIP_EDGE_MM) * frame.ppm_y  # from the baseline, image px
    with np.errstate(invalid="ignore"):
        out = np.abs(tracked - frame.baseline_y) > inner
    if not out.any():
        return
    spread = round(OFF_BAND_SPREAD_MM * frame.ppm_x / step_px)
    near = np.convolve(out, np.ones(2 * spread + 1), mode="same") > 0
    runs, count = scipy.ndimage.label(near)
    for k in range(1, count + 1):
        run = runs == k
        if (run & out & (confidence < OFF_BAND_CONFIDENCE)).any():
            take = run & np.isfinite(tracked) & np.isfinite(ys)
            ys[take] = tracked[take]


def _inked_columns(trace: np.ndarray, page: PageLayout) -> np.ndarray:
    """``[rows, W]``: the column, or one beside it, holds ink near the row's baseline."""
    h = trace.shape[0]
    out = np.zeros((len(page.rows), trace.shape[1]), bool)
    for i in range(len(page.rows)):
        top, bottom = page.near_band(i, h)
        out[i] = trace[top:bottom].any(axis=0)
    out[:, 1:] |= out[:, :-1].copy()  # ink in the column left of it counts ...
    out[:, :-1] |= out[:, 1:].copy()  # ... and in the one right of it (not wrapping round)
    return out


def _bridge(ys: np.ndarray, unsure: np.ndarray) -> None:
    """Replace ``ys[unsure]`` in place by linear interpolation between the other finite samples
    (held at the ends); left alone if no sample is left to bridge from."""
    ok = np.isfinite(ys) & ~unsure
    if unsure.any() and ok.any():
        idx = np.arange(ys.size)
        ys[unsure] = np.interp(idx[unsure], idx[ok], ys[ok])


#: Test-time flips by name: the axes of a ``[..., H, W]`` crop (and of its ``[..., H, Wo]``
#: distribution) that each extra pass mirrors.
TTA_FLIPS: dict[str, tuple[tuple[int, ...], ...]] = {
    "": (),
    "h": ((-1,),),
    "v": ((-2,),),
    "hv": ((-1,), (-2,), (-2, -1)),
}


def _tta_flips(tta: bool | str) -> tuple[tuple[int, ...], ...]:
    """The flips of a ``tta`` setting (``True`` is ``"h"``, the left-right flip)."""
    key = "h" if tta is True else "" if tta is False or tta is None else str(tta).lower()
    if key not in TTA_FLIPS:
        raise DigitizeError(
            f"tta must be one of {', '.join(repr(k) for k in TTA_FLIPS if k)} or off, got {tta!r}"
        )
    return TTA_FLIPS[key]


@functools.lru_cache(maxsize=4)
def load_digitizer(model: str, backend: str = "torch", tta: bool | str = False) -> LearnedDigitizer:
    """:meth:`LearnedDigitizer.from_pretrained`, loaded once per process (batches reuse it)."""
    return LearnedDigitizer.from_pretrained(model, backend=backend, tta=tta)
