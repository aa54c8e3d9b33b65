"""Rebuild the plotted signal from a page's instance mask and its geometry: a digitizer's ceiling.

Given a perfect segmentation (``<id>.leads.png``) and the page geometry (``<id>.json``: baselines,
time origins, scales and the homography, but **not** the per-sample points), how well can the
signal be recovered? Whatever error remains comes from rasterisation alone, so it bounds any
image-based digitizer working at that resolution.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ecglab.errors import RecordError, RecordNotFoundError
from ecglab.synth.page import LeadGeometry
from ecglab.synth.writers import read_page_truth, truth_geometry

#: How a column of trace pixels becomes one y: ``mean`` of the pixel rows, or ``midpoint`` of the
#: top and bottom pixel. ``mean`` is the default: it reconstructs better (see the tests and report).
COLUMN_METHODS = ("mean", "midpoint")


def signals_from_truth(
    leads_png: str | Path, json_path: str | Path, *, method: str = "mean"
) -> tuple[np.ndarray, tuple[str, ...], float]:
    """Signals rebuilt from the instance mask and the page truth, without the stored points.

    Each image pixel is mapped back to the flat page (``cv2.warpPerspective`` with the inverse
    homography and nearest-neighbour sampling, skipped for an identity homography). For every panel,
    each pixel column of the panel's own instance gives one trace position (``method``), which is
    converted to mV with ``baseline_y`` and ``px_per_mm_y * gain`` and to a sample position with
    ``x0`` and ``px_per_mm_x * speed``; these are linearly interpolated onto the panel's samples. A
    sample whose nearest column holds no pixel of the lead is NaN (gaps stay gaps). A lead drawn in
    two panels (a rhythm strip) gets the mean of both where they overlap.

    Parameters
    ----------
    leads_png
        ``<id>.leads.png`` (uint8 instances, 0 none, lead index + 1).
    json_path
        ``<id>.json``.
    method
        ``mean`` or ``midpoint`` (see :data:`COLUMN_METHODS`).

    Returns
    -------
    (signal, lead_names, fs)
        float32 ``[leads, n_samples]`` in mV with NaN where nothing was found, the lead names and
        the sampling rate of the page's signal.
    """
    if method not in COLUMN_METHODS:
        raise RecordError(f"column method {method!r}: choose one of {', '.join(COLUMN_METHODS)}")
    truth = read_page_truth(json_path)
    path = Path(leads_png)
    if not path.is_file():
        raise RecordNotFoundError(f"{path}: instance mask not found")
    instances = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if instances is None or instances.ndim != 2 or instances.dtype != np.uint8:
        raise RecordError(f"{path}: not a one-channel uint8 instance mask PNG")
    flat = flat_instances(
        instances, truth["homography"], tuple(truth.get("flat_size") or instances.shape[::-1])
    )
    geometry = truth_geometry(truth)
    names = tuple(truth["lead_names"])
    n = int(truth["n_samples"])
    total = np.zeros((len(names), n))
    count = np.zeros((len(names), n))
    for i, geo in enumerate(geometry):
        y_lo, y_hi = _band(geometry, i, flat.shape[0])
        values = panel_signal(flat, geo, y_lo, y_hi, method=method)
        ok = np.isfinite(values)
        total[geo.index, geo.start_sample : geo.stop_sample][ok] += values[ok]
        count[geo.index, geo.start_sample : geo.stop_sample][ok] += 1
    with np.errstate(invalid="ignore"):
        signal = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return signal.astype(np.float32), names, float(truth["fs"])


def flat_instances(instances: np.ndarray, homography: np.ndarray, flat_size: tuple[int, int]) -> np.ndarray:
    """The instance mask mapped back onto the flat page (``flat_size`` = (width, height))."""
    if np.allclose(homography, np.eye(3)) and instances.shape[::-1] == tuple(flat_size):
        return instances
    # WARP_INVERSE_MAP: dst(p) = src(H p), i.e. the flat page pixel p looks up its image pixel H p.
    return cv2.warpPerspective(
        instances,
        np.asarray(homography, np.float64),
        (int(flat_size[0]), int(flat_size[1])),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def _band(geometry: list[LeadGeometry], i: int, height: int) -> tuple[int, int]:
    """Rows where panel ``i`` may own pixels: the whole page, split halfway between its baseline
    and that of any other panel of the same lead overlapping it in x (a lead and its rhythm strip)."""
    geo = geometry[i]
    lo, hi = 0.0, float(height)
    for j, other in enumerate(geometry):
        if j == i or other.index != geo.index:
            continue
        if other.bbox[0] >= geo.bbox[2] or other.bbox[2] <= geo.bbox[0]:
            continue
        mid = (geo.baseline_y + other.baseline_y) / 2
        if other.baseline_y > geo.baseline_y:
            hi = min(hi, mid)
        else:
            lo = max(lo, mid)
    return int(np.ceil(lo)), int(np.ceil(hi))


def panel_signal(
    flat: np.ndarray, geo: LeadGeometry, y_lo: int = 0, y_hi: int | None = None, *, method: str = "mean"
) -> np.ndarray:
    """Samples ``geo.start_sample:geo.stop_sample`` of one panel, from its instance pixels (mV, NaN gaps)."""
    n = geo.stop_sample - geo.start_sample
    xs = geo.x0 + np.arange(n) / geo.fs * geo.px_per_s  # x of every sample
    out = np.full(n, np.nan)
    if n == 0:
        return out
    c0 = max(int(np.floor(xs[0])), 0)
    c1 = min(int(np.ceil(xs[-1])) + 1, flat.shape[1])
    y_hi = flat.shape[0] if y_hi is None else y_hi
    if c1 <= c0 or y_hi <= y_lo:
        return out
    own = flat[y_lo:y_hi, c0:c1] == geo.index + 1
    counts = own.sum(axis=0)
    rows = np.arange(y_lo, y_hi, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "mean":
            y = (own * rows).sum(axis=0) / counts
        else:
            top = np.where(own, rows, np.inf).min(axis=0)
            bottom = np.where(own, rows, -np.inf).max(axis=0)
            y = (top + bottom) / 2
    cols = np.arange(c0, c1, dtype=np.float64)
    has = counts > 0
    if not has.any():
        return out
    values = (geo.baseline_y - y[has]) / geo.px_per_mv
    out = np.interp(xs, cols[has], values)
    nearest = np.clip(np.round(xs).astype(np.int64) - c0, 0, c1 - c0 - 1)
    out[~has[nearest]] = np.nan
    return out
