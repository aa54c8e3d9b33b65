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

#: How the instance pixels of a panel become one y per sample (see :func:`panel_signal`). The
#: 0.4 mm pen is 3.4 px at 200 DPI while a sample is 0.4 px: a column's mean cuts sharp peaks,
#: which is where nearly all of the ``mean`` error sits. Figures: ``benchmarks/synth_roundtrip.py``.
#:
#: * ``sweep`` (default): knots at every column's mean row, plus one at each turn of a steep sweep
#:   (a tall column's extreme top/bottom row, moved half a pen inwards, at the centre of that row's
#:   run, i.e. to a fraction of a column); linear interpolation between knots.
#: * ``envelope``: the stroke is the trace swept by the pen's disc, so its top edge dilated back by
#:   a half-disc (an *opening*) bounds the trace from above, its bottom edge eroded (a *closing*)
#:   from below, both evaluated at each sample's x; their mean where they agree, legs extrapolated
#:   and clipped to the bound at sharp extrema, the column mean elsewhere.
#: * ``extremum``: one y per column (``mean``), but a column that is a local extremum of the trace
#:   takes its outer edge moved inwards by half the pen width (top + w/2 at a signal maximum,
#:   bottom - w/2 at a minimum).
#: * ``mean``: mean row of each column's pixels; ``midpoint``: middle of its top and bottom pixel.
COLUMN_METHODS = ("sweep", "envelope", "extremum", "mean", "midpoint")
DEFAULT_METHOD = "sweep"


def signals_from_truth(
    leads_png: str | Path, json_path: str | Path, *, method: str = DEFAULT_METHOD
) -> tuple[np.ndarray, tuple[str, ...], float]:
    """Signals rebuilt from the instance mask and the page truth, without the stored points.

    Each image pixel is mapped back to the flat page (``cv2.warpPerspective`` with the inverse
    homography and nearest-neighbour sampling, skipped for an identity homography). For every panel,
    the panel's own instance pixels give trace positions (``method``, see :data:`COLUMN_METHODS`;
    the pen width comes from the JSON's ``trace_width_px``), which are converted to mV with
    ``baseline_y`` and ``px_per_mm_y * gain`` and placed in time with ``x0`` and
    ``px_per_mm_x * speed``, then linearly interpolated onto the panel's samples. A
    sample whose nearest column holds no pixel of the lead is NaN (gaps stay gaps). A lead drawn in
    two panels (a rhythm strip) gets the mean of both where they overlap.

    Parameters
    ----------
    leads_png
        ``<id>.leads.png`` (uint8 instances, 0 none, lead index + 1).
    json_path
        ``<id>.json``.
    method
        One of :data:`COLUMN_METHODS` (default :data:`DEFAULT_METHOD`).

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
    pen_px = pen_width_px(truth)
    names = tuple(truth["lead_names"])
    n = int(truth["n_samples"])
    total = np.zeros((len(names), n))
    count = np.zeros((len(names), n))
    for i, geo in enumerate(geometry):
        y_lo, y_hi = _band(geometry, i, flat.shape[0])
        values = panel_signal(flat, geo, y_lo, y_hi, method=method, pen_px=pen_px)
        ok = np.isfinite(values)
        total[geo.index, geo.start_sample : geo.stop_sample][ok] += values[ok]
        count[geo.index, geo.start_sample : geo.stop_sample][ok] += 1
    with np.errstate(invalid="ignore"):
        signal = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return signal.astype(np.float32), names, float(truth["fs"])


def pen_width_px(truth: dict) -> float | None:
    """The drawn pen width on the flat page (``trace_width_px`` of the page JSON), None if absent.

    The image-space width is divided by the homography's mean linear scale, so a warp that
    enlarges the page does not make the pen look thicker than it is on the flat page.
    """
    width = truth.get("trace_width_px")
    if width is None:
        return None
    h = np.asarray(truth["homography"], np.float64)
    scale = np.sqrt(abs(np.linalg.det(h[:2, :2] / h[2, 2])))
    return float(width) / scale if scale > 0 else float(width)


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
    flat: np.ndarray,
    geo: LeadGeometry,
    y_lo: int = 0,
    y_hi: int | None = None,
    *,
    method: str = DEFAULT_METHOD,
    pen_px: float | None = None,
) -> np.ndarray:
    """Samples ``geo.start_sample:geo.stop_sample`` of one panel, from its instance pixels (mV, NaN gaps).

    Parameters
    ----------
    flat
        Instance mask on the flat page.
    geo
        The panel's geometry.
    y_lo, y_hi
        Rows the panel may own (see :func:`signals_from_truth`).
    method
        One of :data:`COLUMN_METHODS`.
    pen_px
        Drawn pen width in flat-page pixels (``trace_width_px`` of the page); ``envelope`` and
        ``extremum`` need it, None estimates it from the mask (median pixels per column).
    """
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
    has = counts > 0
    if not has.any():
        return out
    rows = np.arange(y_lo, y_hi, dtype=np.float64)[:, None]
    # Column statistics (image rows); NaN where the column holds no pixel of the lead.
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (own * rows).sum(axis=0) / counts
    top = np.where(has, np.where(own, rows, np.inf).min(axis=0), np.nan)
    bottom = np.where(has, np.where(own, rows, -np.inf).max(axis=0), np.nan)
    if pen_px is None or not np.isfinite(pen_px) or pen_px <= 0:
        pen_px = float(np.median(counts[has]))
    cols = np.arange(c0, c1, dtype=np.float64)
    if method == "sweep":
        knot_x, knot_y = _sweep_knots(own, y_lo, top, bottom, mean, pen_px)
        y = np.interp(xs, knot_x + c0, knot_y)
    elif method == "envelope":
        y = _envelope_y(xs - c0, top, bottom, mean, pen_px / 2)
    else:
        if method == "mean":
            column_y = mean
        elif method == "midpoint":
            column_y = (top + bottom) / 2
        else:
            column_y = _extremum_columns(mean, top, bottom, pen_px / 2)
        y = np.interp(xs, cols[has], column_y[has])
    out = (geo.baseline_y - y) / geo.px_per_mv
    nearest = np.clip(np.round(xs).astype(np.int64) - c0, 0, c1 - c0 - 1)
    out[~has[nearest]] = np.nan
    return out


def _sweep_knots(
    own: np.ndarray, y_lo: int, top: np.ndarray, bottom: np.ndarray, mean: np.ndarray, pen: float
) -> tuple[np.ndarray, np.ndarray]:
    """Knots ``(x, y)`` of the trace (x relative to the first column) for linear interpolation.

    Every column with pixels gives a knot at its mean row (exact on shallow stretches and on
    straight steep sweeps). Where a sweep turns (a column taller than the pen, or beside one, whose
    top or bottom row is an extremum of that edge) the apex is the pen's disc, so one more knot sits
    half a pen inside that extreme row, at the centre of that row's run: the apex then lies to a
    fraction of a column instead of being cut by the column mean.
    """
    n = top.size
    has = np.isfinite(mean)
    extent = np.where(has, bottom - top + 1, 0)
    tall = extent > pen + TALL_EXTRA_PX
    top_f = np.where(has, top, np.inf)
    bottom_f = np.where(has, bottom, -np.inf)
    near_tall = tall | np.concatenate(([False], tall[:-1])) | np.concatenate((tall[1:], [False]))
    turn_x, turn_y = [], []
    for edge, sign in ((top_f, 1.0), (bottom_f, -1.0)):
        left = np.concatenate(([np.inf * sign], edge[:-1]))
        right = np.concatenate((edge[1:], [np.inf * sign]))
        # Extremum of the edge (first column of a plateau) among tall columns and their neighbours.
        turn = has & (sign * edge < sign * left) & (sign * edge <= sign * right)
        for c in np.flatnonzero(turn & near_tall):
            row = own[int(edge[c]) - y_lo]
            a = c
            while a > 0 and row[a - 1]:
                a -= 1
            b = c
            while b < n - 1 and row[b + 1]:
                b += 1
            turn_x.append((a + b) / 2)
            turn_y.append(edge[c] - sign * 0.5 + sign * pen / 2)
    # Every column's mean stays a knot: dropping the tall columns between two turns (whose pen
    # shadow is clipped at the ends) was tried and lost 3 dB: the turn knots alone are too sparse.
    keep = has
    cols = np.arange(n)
    xs = [cols[keep].astype(np.float64), np.asarray(turn_x, np.float64)]
    ys = [mean[keep], np.asarray(turn_y, np.float64)]
    knot_x = np.concatenate(xs)
    knot_y = np.concatenate(ys)
    order = np.argsort(knot_x, kind="stable")
    return knot_x[order], knot_y[order]


TALL_EXTRA_PX = 2.0  # a column taller than the pen by more than this holds a steep sweep


def _extremum_columns(mean: np.ndarray, top: np.ndarray, bottom: np.ndarray, half_pen: float) -> np.ndarray:
    """Column y: the mean, but a local extremum's outer pixel edge moved inwards by half the pen.

    A column is a signal maximum when its mean row is above (smaller than) both neighbours', a
    minimum when below both; at a thick stroke's apex the outer edge is where the pen's disc
    touches, half a pen from the trace, while the mean is pulled towards the legs.
    """
    y = mean.copy()
    left = np.concatenate(([np.nan], mean[:-1]))
    right = np.concatenate((mean[1:], [np.nan]))
    with np.errstate(invalid="ignore"):
        peak = (mean < left) & (mean <= right)
        trough = (mean > left) & (mean >= right)
    # Pixel rows are centres: the stroke's edge lies half a pixel beyond the outermost one.
    y[peak] = top[peak] - 0.5 + half_pen
    y[trough] = bottom[trough] + 0.5 - half_pen
    return y


def _envelope_y(
    xs: np.ndarray, top: np.ndarray, bottom: np.ndarray, mean: np.ndarray, radius: float
) -> np.ndarray:
    """Image y of every sample (x relative to the first column) from the stroke's edges.

    ``lower`` is the grey-level dilation of the top edge by a half-disc of ``radius`` (so the
    opening of the trace), ``upper`` the erosion of the bottom edge (its closing), both evaluated at
    each sample's sub-pixel x; the trace lies between them. Written by hand because the
    structuring element must be sampled at the samples' fractional offsets to the columns, which
    scikit-image's / OpenCV's grey morphology on a pixel grid cannot do.
    """
    n_cols = top.size
    top_edge = np.where(np.isfinite(top), top - 0.5, np.inf)  # pixel centre -> stroke edge
    bottom_edge = np.where(np.isfinite(bottom), bottom + 0.5, -np.inf)
    reach = int(np.ceil(radius))
    base = np.floor(xs).astype(np.int64)
    lower = np.full(xs.size, -np.inf)
    upper = np.full(xs.size, np.inf)
    for k in range(-reach, reach + 2):
        col = base + k
        ok = (col >= 0) & (col < n_cols)
        dist = xs - col
        ok &= np.abs(dist) <= radius
        cap = np.sqrt(np.clip(radius**2 - dist**2, 0.0, None))
        colc = np.clip(col, 0, n_cols - 1)
        np.maximum(lower, np.where(ok, top_edge[colc] + cap, -np.inf), out=lower)
        np.minimum(upper, np.where(ok, bottom_edge[colc] - cap, np.inf), out=upper)
    cols = np.arange(n_cols, dtype=np.float64)
    has = np.isfinite(mean)
    y = np.interp(xs, cols[has], mean[has])  # steep and plain stretches: the column mean
    found = np.isfinite(lower) & np.isfinite(upper)
    # Smooth stretches (bends wider than the pen): the bounds meet on the trace.
    agree = found & (upper - lower <= AGREE_PX)
    y[agree] = (lower[agree] + upper[agree]) / 2
    # Sharp extrema: between the two legs' extrapolations, clipped to the bound on the convex side.
    left = np.concatenate(([np.nan], mean[:-1]))
    right = np.concatenate((mean[1:], [np.nan]))
    with np.errstate(invalid="ignore"):
        peak = (mean < left) & (mean <= right)  # image y: smallest = signal maximum
        trough = (mean > left) & (mean >= right)
    for c in np.flatnonzero((peak | trough)[2:-2]) + 2:
        if not has[c - 2 : c + 3].all():
            continue
        near = (xs >= c - 1) & (xs <= c + 1) & ~agree
        if not near.any():
            continue
        x = xs[near]
        left_line = mean[c - 1] + (mean[c - 1] - mean[c - 2]) * (x - (c - 1))
        right_line = mean[c + 1] + (mean[c + 1] - mean[c + 2]) * ((c + 1) - x)
        if peak[c]:
            y[near] = np.maximum(np.maximum(left_line, right_line), lower[near])
        else:
            y[near] = np.minimum(np.minimum(left_line, right_line), upper[near])
    return y


AGREE_PX = 1.5  # bounds closer than this (pixel quantisation of both edges) count as agreeing
