"""Follow each row's trace column by column and turn it into millivolts per panel.

Tracking (written by hand: it is the ECG-specific part): in every image column the trace mask has
a few vertical runs of ink in the row's band (this row's trace, a neighbour row's tall wave, a
lead label). The run kept is the one touching the run kept in the previous column (the trace is a
continuous stroke); failing that the nearest one within a jump limit; at the start of a column of
the layout (where the lead changes) and after a gap, the one nearest the baseline. Small
connected components (text, specks) are used only where nothing else is there.

The kept runs form a clean one-lead mask from which :func:`ecglab.synth.roundtrip.panel_signal`
(the ``sweep`` column method, the most accurate on synthetic pages) reads one y per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ecglab.digitize.layout import PageLayout, PanelBox
from ecglab.synth.page import LeadGeometry
from ecglab.synth.roundtrip import panel_signal

_SMALL_MM = 4.0  # components smaller than this in both directions are text or specks
_MAX_JUMP_FRACTION = 0.35  # of the row pitch, between columns without touching ink
_RESET_GAP_MM = 1.0  # after this much blank, look near the baseline again


@dataclass
class PanelTrace:
    """One panel's extracted trace.

    Attributes
    ----------
    panel
        The panel.
    values
        ``[n]`` mV at the output rate over ``start_s..stop_s`` (NaN where nothing was found), the
        panel median removed.
    xs, ys
        Image coordinates of the samples (for overlays); ``ys`` NaN where ``values`` is.
    """

    panel: PanelBox
    values: np.ndarray
    xs: np.ndarray
    ys: np.ndarray


def _runs(band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertical runs of a bool band: (column, top row, end row exclusive, per-column index offsets)."""
    t = band.T.astype(np.int8)
    d = np.diff(t, axis=1, prepend=0, append=0)
    sc, sr = np.nonzero(d == 1)
    _, er = np.nonzero(d == -1)
    offsets = np.searchsorted(sc, np.arange(band.shape[1] + 1))
    return sc, sr, er, offsets


def small_components(trace: np.ndarray, px_per_mm: float) -> np.ndarray:
    """``[H, W]`` bool: pixels of connected components smaller than 4 mm both ways (text, specks)."""
    _n, labels, stats, _ = cv2.connectedComponentsWithStats(trace.astype(np.uint8), connectivity=8)
    limit = _SMALL_MM * px_per_mm
    small = (stats[:, cv2.CC_STAT_WIDTH] < limit) & (stats[:, cv2.CC_STAT_HEIGHT] < limit)
    small[0] = False
    return small[labels]


def track_row(
    trace: np.ndarray,
    page: PageLayout,
    row: int,
    x_lo: int,
    x_hi: int,
    *,
    small: np.ndarray | None = None,
    breaks: tuple[float, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Follow one row's trace over columns ``x_lo..x_hi``.

    Parameters
    ----------
    trace
        ``[H, W]`` bool trace mask.
    page
        The layout (row baselines and bands).
    row
        Row index.
    x_lo, x_hi
        Column range (half-open).
    small
        Pixels of small components (see :func:`small_components`), or None.
    breaks
        Image x where the lead changes (column starts): tracking restarts near the baseline.

    Returns
    -------
    (centre_y, own)
        ``[x_hi - x_lo]`` image y of the kept run's centre per column (NaN: none) and the
        ``[H, x_hi - x_lo]`` bool mask of the kept runs.
    """
    h, w = trace.shape
    x_lo, x_hi = max(int(x_lo), 0), min(int(x_hi), w)
    y_lo, y_hi = page.row_band(row, h)
    base = page.rows[row].baseline_y - y_lo
    band = trace[y_lo:y_hi, x_lo:x_hi]
    n_cols = x_hi - x_lo
    centre = np.full(n_cols, np.nan)
    own = np.zeros((h, n_cols), bool)
    if n_cols <= 0 or band.size == 0:
        return centre, own
    sc, sr, er, offsets = _runs(band)
    is_small = small[y_lo + sr, x_lo + sc] if small is not None else np.zeros(sr.size, bool)
    pitch = float(np.median(np.diff(page.baselines))) if len(page.rows) > 1 else h / 4
    max_jump = _MAX_JUMP_FRACTION * pitch
    ppm = page.px_per_s / 25.0
    reset_gap = max(int(_RESET_GAP_MM * ppm), 2)
    break_cols = {round(b) - x_lo for b in breaks}
    prev: tuple[int, int] | None = None
    missed = 0
    keep_s = np.full(n_cols, -1)
    keep_e = np.full(n_cols, -1)
    for c in range(n_cols):
        if c in break_cols:
            prev = None
        i0, i1 = offsets[c], offsets[c + 1]
        if i0 == i1:
            missed += 1
            if missed > reset_gap:
                prev = None
            continue
        cand = np.arange(i0, i1)
        big = cand[~is_small[cand]]
        if big.size:
            cand = big
        s, e = sr[cand], er[cand]
        mid = (s + e - 1) / 2
        pick = -1
        if prev is not None:
            touch = (s <= prev[1] + 1) & (e - 1 >= prev[0] - 1)
            if touch.any():
                ti = np.flatnonzero(touch)
                pmid = (prev[0] + prev[1]) / 2
                pick = int(ti[np.argmin(np.abs(mid[ti] - pmid))])
            else:
                pmid = (prev[0] + prev[1]) / 2
                j = int(np.argmin(np.abs(mid - pmid)))
                if abs(mid[j] - pmid) <= max_jump:
                    pick = j
        else:
            j = int(np.argmin(np.abs(mid - base)))
            if abs(mid[j] - base) <= 0.5 * pitch:
                pick = j
        if pick < 0:
            missed += 1
            if missed > reset_gap:
                prev = None
            continue
        missed = 0
        prev = (int(s[pick]), int(e[pick]) - 1)
        keep_s[c], keep_e[c] = s[pick], e[pick]
        centre[c] = y_lo + mid[pick]
    # Paint the kept runs: +1 at each top, -1 below each bottom, cumulative sum down the columns.
    cols = np.flatnonzero(keep_s >= 0)
    paint = np.zeros((y_hi - y_lo + 1, n_cols), np.int16)
    np.add.at(paint, (keep_s[cols], cols), 1)
    np.add.at(paint, (keep_e[cols], cols), -1)
    own[y_lo:y_hi] = np.cumsum(paint, axis=0)[:-1] > 0
    return centre, own


def extract_traces(
    trace: np.ndarray, page: PageLayout, *, fs: float = 500.0, method: str = "sweep", baseline: str = "row"
) -> list[PanelTrace]:
    """Every panel's signal in mV at ``fs``.

    Parameters
    ----------
    trace
        ``[H, W]`` bool trace mask of the de-rotated page (see :func:`ecglab.digitize.image.trace_mask`).
    page
        The detected layout.
    fs
        Output sampling rate, Hz.
    method
        Column method of :func:`ecglab.synth.roundtrip.panel_signal` (``sweep``, ``mean``, ...).
    baseline
        Where 0 mV is: ``row`` (the foot of the row's calibration pulse where one was found,
        else the row's isoelectric line, its trace-density peak) or ``median`` (each panel's
        median, the ECG's isoelectric level when the row line is not trusted).

    Returns
    -------
    list of PanelTrace
        In the order of ``page.panels``.
    """
    h, _w = trace.shape
    small = None  # the pipeline's trace mask is already cleaned of small components
    pen = page.pen_px if np.isfinite(page.pen_px) else None
    out: list[PanelTrace] = []
    for row in range(len(page.rows)):
        panels = [p for p in page.panels if p.row == row]
        if not panels:
            continue
        x_lo = int(np.floor(min(p.x0 for p in panels))) - 2
        x_hi = int(np.ceil(max(p.x1 for p in panels))) + 2
        breaks = tuple(p.x0 for p in panels if p.column > 0)
        _, own = track_row(trace, page, row, x_lo, x_hi, small=small, breaks=breaks)
        x_off = max(x_lo, 0)
        own_u8 = own.view(np.uint8)
        y_lo, y_hi = page.row_band(row, h)
        info = page.rows[row]
        for p in panels:
            n = max(round(p.stop_s * fs) - round(p.start_s * fs), 0)
            s0 = round(p.start_s * fs)
            geo = LeadGeometry(
                name=p.lead,
                index=0,
                bbox=(p.x0, 0.0, p.x1, float(h)),
                start_sample=s0,
                stop_sample=s0 + n,
                fs=fs,
                x0=info.x_start + s0 / fs * info.px_per_s - x_off,
                baseline_y=p.baseline_y,
                px_per_mm_x=info.px_per_s / 25.0,
                px_per_mm_y=page.px_per_mv / 10.0,
                gain_mm_per_mv=10.0,
                speed_mm_per_s=25.0,
            )
            values = panel_signal(own_u8, geo, y_lo, y_hi, method=method, pen_px=pen)
            xs = geo.x0 + x_off + np.arange(n) / fs * info.px_per_s
            ys = p.baseline_y - values * page.px_per_mv
            finite = np.isfinite(values)
            if baseline == "median" and finite.any():
                values = values - np.median(values[finite])
            else:  # measured from the row's 0 mV line where a calibration pulse shows it
                values = values + (p.zero_line_y - p.baseline_y) / page.px_per_mv
            out.append(PanelTrace(panel=p, values=values, xs=xs, ys=ys))
    return out
