"""Lead-separator bars between panels, and holding a learned trace where one hides it.

Some generators (ecg-image-kit, many cart printouts) draw a short thick vertical bar where one lead
hands over to the next in a row: about 7 mm tall and 0.6 mm wide, over the trace. The bar hides
the trace and its level jump, and the ``series`` model, which never saw bars that thick, follows
the bar up or down. :func:`find_separator_bars` finds solid bars at the panel boundaries;
:func:`hold_under_bars` replaces a trace's samples under a bar (plus a margin) by the nearest sample
outside it, on the side of the bar the sample belongs to. Thin separators (ecglab's own renders draw
0.25 mm) are narrower than the width threshold and are left alone.

A calibration pulse whose falling edge a row's trace starts on (ecg-image-kit) hides the row's
first samples the same way: :func:`pulse_edge_bars` turns those edges into bars before the first
panel, and their samples are held too, for every method (:data:`PULSE_HOLD_MM`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecglab.digitize.extract import PanelTrace
from ecglab.digitize.layout import PageLayout

#: A bar is at least this tall (mm of paper) ...
MIN_BAR_HEIGHT_MM = 3.0
#: ... at least this wide (mm), and at least this many pen widths wide.
MIN_BAR_WIDTH_MM = 0.45
MIN_BAR_PEN_WIDTHS = 1.5
#: Columns of one bar start and end within this distance of each other (mm).
BAR_EDGE_TOLERANCE_MM = 0.4  # round caps of half the bar width
#: How far from the panel boundary a bar is looked for, and above/below the row baseline (mm).
SEARCH_X_MM = 1.5
SEARCH_Y_MM = 6.0
#: Samples this far beyond a bar's edges are held too (the model's context blurs the bar into them).
#: Chosen with HOLD_TAIL_MM by benchmarks/digitize_bar_hold.py on 20 validation-fold renders with
#: 7 x 0.6 mm bars, Kaggle dB for MARGIN:TAIL mm (no hold / 0.25:0 / 0.25:0.5 / 0.25:1 / 0.5:0 /
#: 0.5:0.5): apart 14.82 / 15.87 / 15.64 / 15.53 / 15.59 / 15.27; panels joined as ecg-image-kit
#: draws them 14.80 / 15.78 / 15.78 / 15.78 / 15.76 / 15.53; joined with its 0.25 mm pen 12.09 /
#: 13.52 / 13.50 / 13.43 / 13.45 / 13.19. Thin bars are left alone. Rechecked with the retrained
#: digitizer (2026-11-22): apart 15.41 / 16.47 / 16.25 / 16.16 / 16.18 / 15.88; joined 15.25 / 16.50 /
#: 16.50 / 16.50 / 16.47 / 16.21; joined, 0.25 mm pen 13.22 / 14.67 / 14.67 / 14.59 / 14.77 / 14.52.
HOLD_MARGIN_MM = 0.25
#: Beside the span, samples up to this far (mm) before the first steady one are held too. On the
#: ecg-image-kit test pages a model hugging the bar's edge just outside the span made the nearest
#: sample a bad level; validation renders did not show it (see above), so the tail stays off.
HOLD_TAIL_MM = 0.0
#: The same reach for the panel that starts at a bar. ecg-image-kit writes the lead name just under
#: the bar at the panel's start, and the model reads bar and glyphs as one stroke down to the name's
#: foot, up to about 1 mm past the bar.
HOLD_START_TAIL_MM = 0.5
#: For the panel starting at a bar, take the level from a sample inside the bar's height: where the
#: nearest sample lies beyond the bar's end (the model went on down into the name under it), the
#: first steady sample within HOLD_START_TAIL_MM that is back inside gives the level instead; else
#: the nearest sample, as with no tail. Chosen with HOLD_START_TAIL_MM by
#: benchmarks/digitize_bar_hold.py (2026-12-06, 20 validation renders per set), Kaggle dB for
#: 0.25:0 (the hold before) / 0.25:0:0.5 (reach alone) / 0.25:0:0.5 with this rule / 0.25:0:1 with
#: it: 7 mm bars 16.53 / 16.31 / 16.53 / 16.27; joined 16.56 all; joined, 0.25 mm pen 14.71 / 14.72 /
#: 14.67 / 14.63; thin bars 18.10 all; 7 mm bars with ecg-image-kit's name placement 16.61 / 16.36 /
#: 16.61 / 16.37; the same joined with its 0.25 mm pen 11.91 / 13.80 / 15.11 / 15.48 (mean of the six
#: 15.74 / 15.98 / 16.26 / 16.24).
HOLD_START_INSIDE_BAR = True
#: (margin, tail) in mm of the hold after a joined calibration pulse's falling edge, on which the
#: row's first samples lie (see HOLD_MARGIN_MM, HOLD_TAIL_MM), per method; None: no hold. Chosen by
#: benchmarks/digitize_pulse_hold.py on 12 validation-fold records rendered with the pulse joined,
#: Kaggle dB for no hold / 0.25:0 / 0.25:0.5 / 0.25:1 / 0.5:0.5 with ecg-image-kit's 0.25 mm pen:
#: model 13.39 / 13.22 / 13.41 / 13.36 / 13.35, classical 13.45 / 13.85 / 13.58 / 13.49 / 13.59;
#: with a 0.4 mm pen: model 15.60 / 15.75 / 15.63 / 15.63 / 15.36, classical 9.90 / 10.25 / 10.20 /
#: 10.20 / 10.16. The model's choice follows the 0.25 mm pen, the one ecg-image-kit joins pulses with.
#: Rechecked with the retrained digitizer (2026-11-22), model: 0.25 mm pen 14.18 / 13.96 / 14.19 /
#: 14.19 / 14.26; 0.4 mm pen 16.39 / 16.50 / 16.37 / 16.37 / 15.88 (within the noise of 12 records: kept).
PULSE_HOLD_MM: dict[str, tuple[float, float] | None] = {"learned": (0.25, 0.5), "classical": (0.25, 0.0)}
#: Steady: the trace moves at most this many mV per mm of paper over the next STEADY_MM (1 mV/mm
#: is 25 mV/s: ST segments and T waves are steady, QRS strokes and a trace along a bar are not).
STEADY_MV_PER_MM = 1.0
STEADY_MM = 0.15


@dataclass(frozen=True)
class SeparatorBar:
    """A separator bar at the boundary between two panels of a row.

    Attributes
    ----------
    row
        Row index in the page layout.
    x_boundary
        Image x where the earlier panel ends and the later one starts.
    x0, x1
        First and last image column of the bar.
    y0, y1
        Its top and bottom image row (NaN where unknown: a calibration pulse's edge).
    """

    row: int
    x_boundary: float
    x0: float
    x1: float
    y0: float = float("nan")
    y1: float = float("nan")


def pulse_edge_bars(page: PageLayout) -> list[SeparatorBar]:
    """The falling edges of calibration pulses that rows start on, as bars before their first panel.

    ecg-image-kit draws the trace from the pulse's falling edge, so the row's first samples lie on
    a vertical stroke up to 1 mV tall, which neither the column tracker nor the model can read a
    level from; held like a separator bar, they take the first steady level after it.
    """
    bars = []
    for i, r in enumerate(page.rows):
        if np.isfinite(r.pulse_edge_x):
            half = max(page.pen_px if np.isfinite(page.pen_px) else 1.0, 1.0) / 2
            bars.append(SeparatorBar(i, r.x_start - 1.0, r.pulse_edge_x - half, r.pulse_edge_x + half))
    return bars


def longest_vertical_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of a bool ``[H, W]`` mask, the length and the first row of its longest vertical run."""
    best = np.zeros(mask.shape[1], np.int64)
    top = np.zeros(mask.shape[1], np.int64)
    current = np.zeros(mask.shape[1], np.int64)
    for y, row in enumerate(mask):
        current = np.where(row, current + 1, 0)
        longer = current > best
        best[longer] = current[longer]
        top[longer] = y - current[longer] + 1
    return best, top


def _widest_bar(length: np.ndarray, top: np.ndarray, min_length: float, tol: float) -> tuple[int, int]:
    """Widest stretch of columns whose tall runs share one top and bottom (a solid bar); (0, 0) if none.

    A steep QRS stroke touching the bar is tall too, but its run starts and ends elsewhere.
    """
    best = (0, 0)
    tall = np.flatnonzero(length >= min_length)
    if tall.size == 0:
        return best
    groups = np.split(tall, np.flatnonzero(np.diff(tall) > 1) + 1)
    for cols in groups:
        t, b = top[cols], top[cols] + length[cols]
        same = (np.abs(t - np.median(t)) <= tol) & (np.abs(b - np.median(b)) <= tol)
        start = None
        for i, flag in enumerate([*same, False]):
            if flag and start is None:
                start = i
            elif not flag and start is not None:
                if i - start > best[1] - best[0]:
                    best = (int(cols[start]), int(cols[i - 1]) + 1)
                start = None
    return best


def find_separator_bars(
    ink: np.ndarray, page: PageLayout, *, speed_mm_per_s: float = 25.0
) -> list[SeparatorBar]:
    """Thick vertical bars at the boundaries between consecutive panels of each row.

    Parameters
    ----------
    ink
        ``[H, W]`` bool mask of dark (trace-coloured) pixels of the page the layout refers to.
    page
        Its layout.
    speed_mm_per_s
        Paper speed (turns the layout's px/s into px/mm).

    Returns
    -------
    list of SeparatorBar
        One per boundary where a bar was found (none on pages without thick bars).
    """
    bars = []
    px_per_mm = page.px_per_s / speed_mm_per_s
    min_width = max(MIN_BAR_WIDTH_MM * px_per_mm, MIN_BAR_PEN_WIDTHS * float(page.pen_px))
    height, width = ink.shape
    for panel in page.panels:
        if panel.start_s <= 0 or panel.rhythm:
            continue
        xb = panel.x0  # where the previous panel of the row ends
        x0 = max(int(np.floor(xb - SEARCH_X_MM * px_per_mm)), 0)
        x1 = min(int(np.ceil(xb + SEARCH_X_MM * px_per_mm)) + 1, width)
        y0 = max(int(panel.baseline_y - SEARCH_Y_MM * px_per_mm), 0)
        y1 = min(int(panel.baseline_y + SEARCH_Y_MM * px_per_mm) + 1, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        length, top = longest_vertical_runs(ink[y0:y1, x0:x1])
        tol = max(1.5, BAR_EDGE_TOLERANCE_MM * px_per_mm)
        a, b = _widest_bar(length, top, MIN_BAR_HEIGHT_MM * px_per_mm, tol)
        if b - a >= min_width:
            top_y = y0 + float(np.median(top[a:b]))
            bottom_y = y0 + float(np.median(top[a:b] + length[a:b])) - 1
            bars.append(SeparatorBar(panel.row, float(xb), float(x0 + a), float(x0 + b - 1), top_y, bottom_y))
    return bars


def hold_under_bars(
    traces: list[PanelTrace],
    bars: list[SeparatorBar],
    page: PageLayout,
    *,
    speed_mm_per_s: float = 25.0,
    margin_mm: float | None = None,
    tail_mm: float | None = None,
) -> int:
    """Hold each trace's samples under a bar (± :data:`HOLD_MARGIN_MM`) at the panel's level beside it.

    A panel ending at a bar is held at its last steady sample left of the held span; a panel
    starting at one, at its first steady sample right of it. Steady: the trace moves less than
    :data:`STEADY_MV_PER_MM` over the next :data:`STEADY_MM`. Where the model's trace still hugs the
    bar's edge just outside the span it is steep there, so the samples up to :data:`HOLD_TAIL_MM`
    (:data:`HOLD_START_TAIL_MM` for a panel starting at the bar) further, before the first steady
    one, are held too; with none steady in that reach, the nearest sample gives the level.
    ``margin_mm`` and ``tail_mm`` replace :data:`HOLD_MARGIN_MM` and both tails (a pulse's edge:
    :data:`PULSE_HOLD_MM`). ``values`` and ``ys`` are changed in place.

    Returns
    -------
    int
        The number of samples held.
    """
    px_per_mm = page.px_per_s / speed_mm_per_s
    margin = (HOLD_MARGIN_MM if margin_mm is None else margin_mm) * px_per_mm
    held = 0
    for trace in traces:
        p = trace.panel
        for bar in bars:
            if bar.row != p.row or not len(trace.xs):
                continue
            lo, hi = bar.x0 - margin, bar.x1 + margin
            inside = (trace.xs >= lo) & (trace.xs <= hi)
            if not inside.any():
                continue
            ends_here = trace.xs[-1] <= bar.x_boundary + 1.0  # the panel lies left of the boundary
            away = (lo - trace.xs) if ends_here else (trace.xs - hi)  # mm * px_per_mm beyond the span
            beside = np.flatnonzero((away > 0) & np.isfinite(trace.values))
            if beside.size == 0:
                continue
            beside = beside[np.argsort(away[beside], kind="stable")]  # outwards from the span
            reach = tail_mm if tail_mm is not None else HOLD_TAIL_MM if ends_here else HOLD_START_TAIL_MM
            allowed = None
            if tail_mm is None and not ends_here and HOLD_START_INSIDE_BAR and np.isfinite(bar.y1):
                pen = float(page.pen_px) if np.isfinite(page.pen_px) else 1.0
                ys = trace.ys[beside]
                allowed = (ys >= bar.y0 - pen) & (ys <= bar.y1 + pen)
                if allowed[0]:  # the nearest sample is level with the bar: use it, as without the rule
                    allowed = None
                    reach = 0.0
            first = _first_steady(trace.values[beside], away[beside] / px_per_mm, reach, allowed)
            hold = inside.copy()
            hold[beside[:first]] = True
            trace.values[hold] = trace.values[beside[first]]
            trace.ys[hold] = trace.ys[beside[first]]
            held += int(hold.sum())
    return held


def _first_steady(
    values: np.ndarray, away_mm: np.ndarray, tail_mm: float | None = None, allowed: np.ndarray | None = None
) -> int:
    """Index of the first sample within ``tail_mm`` (default :data:`HOLD_TAIL_MM`) that starts a
    steady stretch, among the ``allowed`` ones where given (else 0)."""
    reach = away_mm <= (HOLD_TAIL_MM if tail_mm is None else tail_mm)
    for i in np.flatnonzero(reach if allowed is None else reach & allowed):
        ahead = away_mm <= away_mm[i] + STEADY_MM
        ahead[: i + 1] = False
        if not ahead.any():
            break
        slope = np.abs(values[ahead] - values[i]) / np.maximum(away_mm[ahead] - away_mm[i], 1e-9)
        if np.all(slope <= STEADY_MV_PER_MM):
            return int(i)
    return 0
