"""Find the lead rows of an ECG page and place every lead's panel (name, x-span, baseline).

Rows: the trace mask's horizontal projection peaks at each row's isoelectric line. A peak is a
lead row when a long stretch of the page (at least 60 % of the widest one) has trace pixels
near it in nearly every column; text lines (header, labels) are short or full of gaps. For a faint,
broken trace (``span_coverage``) a band inked over most of the widest row's span is a row too. A
layout is refused when a broken trace lies between two rows or the rows span under half a row's
duration: read further, it would be misplaced.

Layout: the row count decides (3 → ``3x4``, 4 → ``3x4+1``, 6 → ``3x4+3`` or ``6x2``,
12 → ``12x1``). A rhythm strip's lead is the panel it repeats (:mod:`ecglab.digitize.rhythm`),
which also tells the six-row layouts apart: only in ``3x4+3`` do rows 4-6 repeat panels above.

Time: every row of the supported layouts spans the whole page duration, the columns being
consecutive in time, so ``t = 0`` is where the rows' traces start (after the calibration pulse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.ndimage
import scipy.signal

from ecglab.digitize.errors import LayoutError
from ecglab.digitize.grid import GridInfo
from ecglab.digitize.rhythm import match_rhythm_rows, name_rhythm_strips
from ecglab.synth.layouts import layout_spec

#: Layouts the classical digitizer recognises, by number of rows.
LAYOUTS_BY_ROWS: dict[int, tuple[str, ...]] = {3: ("3x4",), 4: ("3x4+1",), 6: ("3x4+3", "6x2"), 12: ("12x1",)}
SUPPORTED_LAYOUTS: tuple[str, ...] = ("3x4", "3x4+1", "3x4+3", "6x2", "12x1")
#: Layouts with rhythm strips under a 3x4 grid, whose leads are read from the page.
RHYTHM_LAYOUTS: tuple[str, ...] = ("3x4+1", "3x4+3")
_MIN_COVERAGE = 0.6  # fraction of a row's columns holding trace pixels near its baseline
_MIN_WIDTH_FRACTION = 0.6  # of the widest row
ROW_SCALE_TOLERANCE = 0.06  # a row's own length may set its time scale within this of the grid's
ROW_SCALE_AGREE = 0.005  # closer than this, the grid's scale is kept
CAP_FRACTION = 0.25  # first sample's x = leftmost ink column + CAP_FRACTION * pen width ...
#: ... except for pens this thin (mask pixels) or thinner. 0: every pen has the cap. ecglab's renderer
#: draws a 1 px stroke without a cap, so on its thin-pen pages a start at the leftmost ink column
#: would be right (``python benchmarks/digitize_time_origin.py``: 100 DPI, 0.25 mm pen, t = 0 5.8 ms
#: late with the cap, 0.4 ms without; the model 6.6 -> 13.7 dB PhysioNet), but ecg-image-kit's test
#: pages lose 1.4 dB PhysioNet without it (the model, 13.66 -> 12.30). Two generators, two
#: conventions for where the first ink lies: the cap stays for every pen.
CAP_FREE_PEN_PX = 0.0
#: A rejected row candidate between two rows, inked in this fraction of the rows' span, is a
#: row the gap-free rule missed: the layout is refused rather than read with a row short.
MISSED_ROW_COVERAGE = 0.75
#: Rows whose traces span less than this fraction of a row's duration were found in pieces: their
#: starts cannot be trusted.
MIN_SPAN_FRACTION = 0.5
#: Measure signals from a calibration pulse's foot (the row's 0 mV line) instead of the
#: row's isoelectric line, where the two are at most ZERO_MAX_OFFSET_MV apart (further, the foot
#: was misread or the page is curled between the pulse and the trace).
ZERO_FROM_PULSE = True
ZERO_MAX_OFFSET_MV = 0.5


@dataclass(frozen=True)
class PanelBox:
    """One lead panel placed on the (de-rotated) image.

    Attributes
    ----------
    lead
        Canonical lead name.
    row, column
        Row from the top and column from the left (0 for a rhythm strip).
    start_s, stop_s
        Seconds of the page shown by the panel.
    x0, x1
        Image x of ``start_s`` and ``stop_s``.
    baseline_y
        Image y of the row's isoelectric line (its trace-density peak).
    rhythm
        Full-width rhythm strip.
    zero_y
        Image y of the row's 0 mV line where the page shows it (a calibration pulse's foot), else
        NaN; see :attr:`zero_line_y`.
    """

    lead: str
    row: int
    column: int
    start_s: float
    stop_s: float
    x0: float
    x1: float
    baseline_y: float
    rhythm: bool = False
    zero_y: float = float("nan")

    @property
    def zero_line_y(self) -> float:
        """Image y of 0 mV: the pulse's foot where one was found, else the isoelectric line.

        The page plots every sample against the row's 0 mV line, which only a calibration pulse
        shows. The isoelectric line (where the trace spends its time) sits off it by the record's
        own offset: 0.04 mV typically and over 0.1 mV on one panel in ten on the ecg-image-kit
        pages of ``images/cinc2024_ptbxl``, which costs PhysioNet SNR (it removes no offset).
        """
        return self.zero_y if np.isfinite(self.zero_y) else self.baseline_y


@dataclass
class RowInfo:
    """A lead row.

    Attributes
    ----------
    baseline_y
        Image y of the isoelectric line.
    x_lo, x_hi
        First and last ink column of the row's trace (``x_lo`` sub-pixel after a joined pulse).
    coverage
        Fraction of the columns in ``x_lo..x_hi`` holding ink near the row.
    x_start, px_per_s
        Image x of ``t = 0`` in this row and its time scale. The row's own start; the grid's scale
        when the row's length matches it within 0.5 %, the row's own between 0.5 and 6 % (a skewed
        page), else the page's start and scale (a row cut short).
    pulse_edge_x
        Image x of a joined calibration pulse's falling edge where the trace starts on it (NaN:
        none): the edge hides the row's first samples.
    pulse_skipped
        A calibration pulse joined to the trace was found at the row's start and left out of it.
    ink_lo, ink_hi
        First and last column with any ink near the row (:meth:`PageLayout.near_band`), gaps and all
        (``x_lo``/``x_hi`` end at a gap wider than the bridged one): nothing is plotted outside them.
    zero_y
        Image y of the row's 0 mV line, the foot of its calibration pulse, joined to the trace or
        apart from it (NaN: none found, or too far from ``baseline_y`` to trust, see
        :data:`ZERO_MAX_OFFSET_MV`).
    """

    baseline_y: float
    x_lo: float
    x_hi: float
    coverage: float
    x_start: float = float("nan")
    px_per_s: float = float("nan")
    pulse_edge_x: float = float("nan")
    pulse_skipped: bool = False
    ink_lo: float = float("nan")
    ink_hi: float = float("nan")
    zero_y: float = float("nan")


@dataclass
class PageLayout:
    """The detected layout.

    Attributes
    ----------
    name
        Layout name (``3x4+1`` ...).
    rows
        The lead rows, top to bottom.
    x_start
        Image x of ``t = 0`` (the first sample of every row).
    px_per_s, px_per_mv
        Scales (grid px/mm times paper speed and gain).
    duration_s
        Seconds shown by a full row.
    panels
        Every panel, row by row, left to right.
    pen_px
        Estimated drawn pen width (most frequent vertical run of trace pixels), pixels.
    notes
        Cross-checks (row extent vs. the expected duration, calibration pulse height).
    """

    name: str
    rows: list[RowInfo]
    x_start: float
    px_per_s: float
    px_per_mv: float
    duration_s: float
    panels: list[PanelBox]
    pen_px: float
    notes: list[str] = field(default_factory=list)

    @property
    def baselines(self) -> list[float]:
        """Row baselines, top to bottom."""
        return [r.baseline_y for r in self.rows]

    def row_band(self, row: int, height: int) -> tuple[int, int]:
        """Image rows a row's trace may occupy: up to 90 % of the way to the neighbouring baselines."""
        b = self.baselines
        pitch = float(np.median(np.diff(b))) if len(b) > 1 else height / 4
        up = (b[row] - b[row - 1]) if row > 0 else pitch
        down = (b[row + 1] - b[row]) if row + 1 < len(b) else pitch
        return max(int(b[row] - 0.9 * up), 0), min(int(np.ceil(b[row] + 0.9 * down)), height)

    def near_band(self, row: int, height: int) -> tuple[int, int]:
        """The part of :meth:`row_band` within 45 % of its reach of the baseline: clear of the
        neighbouring rows' waves."""
        y_lo, y_hi = self.row_band(row, height)
        y = self.rows[row].baseline_y
        return max(y_lo, int(y - 0.45 * (y - y_lo))), min(int(y + 0.45 * (y_hi - y)) + 1, height)


def stroke_cap_px(pen_px: float) -> float:
    """Pixels between a stroke's leftmost ink column and its first point: a quarter pen (measured
    on synthetic pages, OpenCV anti-aliased strokes), none for a pen of at most
    :data:`CAP_FREE_PEN_PX`."""
    if not np.isfinite(pen_px) or pen_px <= CAP_FREE_PEN_PX:
        return 0.0
    return CAP_FRACTION * float(pen_px)


def pen_width(trace: np.ndarray) -> float:
    """Most frequent length of the vertical runs of trace pixels: the pen width on flat stretches."""
    t = trace.T.astype(np.int8)
    d = np.diff(t, axis=1, prepend=0, append=0)
    starts = np.flatnonzero(d.ravel() == 1)
    ends = np.flatnonzero(d.ravel() == -1)
    if starts.size == 0:
        return float("nan")
    counts = np.bincount(ends - starts)
    return float(np.argmax(counts[1:]) + 1)


def _longest_run(covered: np.ndarray, max_gap: int) -> tuple[int, int, float]:
    """Longest stretch of ``covered`` columns with gaps of at most ``max_gap``: (lo, hi, coverage)."""
    idx = np.flatnonzero(covered)
    if idx.size == 0:
        return 0, 0, 0.0
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate(([0], breaks + 1))
    stops = np.concatenate((breaks, [idx.size - 1]))
    widths = idx[stops] - idx[starts]
    k = int(np.argmax(widths))
    lo, hi = int(idx[starts[k]]), int(idx[stops[k]])
    return lo, hi, float((stops[k] - starts[k] + 1) / max(hi - lo + 1, 1))


def find_rows(trace: np.ndarray, px_per_mm: float, *, span_coverage: float | None = None) -> list[RowInfo]:
    """Lead rows of a trace mask: baselines with a long, nearly gap-free trace near them.

    Parameters
    ----------
    trace
        ``[H, W]`` bool trace mask of the de-rotated page.
    px_per_mm
        Vertical grid scale.
    span_coverage
        Also take a candidate whose band has ink in at least this fraction of the columns spanned
        by the widest row, however broken its trace (a thin pen photographed at low resolution
        falls apart into dashes). None: only the gap-free rule.

    Returns
    -------
    list of RowInfo
        Top to bottom (x-extents of the ink between the halfway lines to the neighbouring rows,
        gaps up to 1 mm bridged).
    """
    rows, _missed = _rows_and_missed(trace, px_per_mm, span_coverage)
    return rows


def _rows_and_missed(
    trace: np.ndarray, px_per_mm: float, span_coverage: float | None
) -> tuple[list[RowInfo], list[RowInfo]]:
    """Rows by :func:`find_rows`, and the rejected candidates lying between two of them whose band
    has ink over :data:`MISSED_ROW_COVERAGE` of the rows' span (a row the gap-free rule missed)."""
    h, _w = trace.shape
    raw = trace.sum(axis=1).astype(np.float64)
    # Heavily smoothed, each row's ink is one bump wherever its waves go; the lightly smoothed
    # profile then puts the baseline on the row's most inked line (the isoelectric stretches).
    coarse = scipy.ndimage.gaussian_filter1d(raw, 2.0 * px_per_mm)
    fine = scipy.ndimage.gaussian_filter1d(raw, 0.4 * px_per_mm)
    if coarse.max() <= 0:
        return [], []
    peaks, _ = scipy.signal.find_peaks(
        coarse, distance=max(int(8 * px_per_mm), 1), prominence=0.1 * coarse.max()
    )
    if peaks.size == 0:  # ink spread evenly down the page: no row stands out
        return [], []
    half = max(round(5 * px_per_mm), 1)
    # Each candidate's band reaches halfway to its neighbours: a row's ink stays in it however far
    # its baseline wanders, and nearly every column between its ends holds some.
    mids = (peaks[1:] + peaks[:-1]) / 2
    tops = np.concatenate(([peaks[0] - (mids[0] - peaks[0] if mids.size else half)], mids))
    bottoms = np.concatenate((mids, [peaks[-1] + (peaks[-1] - mids[-1] if mids.size else half)]))
    cands, inked = [], []
    for y, top, bottom in zip(peaks, tops, bottoms, strict=True):
        covered = trace[max(int(top), 0) : int(bottom) + 1].any(axis=0)
        lo, hi, cov = _longest_run(covered, max_gap=int(px_per_mm))
        cands.append(RowInfo(float(y), lo, hi, cov))
        inked.append(covered)
    wide = max(cands, key=lambda c: c.x_hi - c.x_lo)
    widest = wide.x_hi - wide.x_lo
    span = slice(int(wide.x_lo), int(wide.x_hi) + 1)
    spread = [float(c[span].mean()) for c in inked]
    gap_free = [
        c.coverage >= _MIN_COVERAGE and c.x_hi - c.x_lo >= _MIN_WIDTH_FRACTION * widest for c in cands
    ]
    lenient = [
        ok or (span_coverage is not None and f >= span_coverage)
        for ok, f in zip(gap_free, spread, strict=True)
    ]
    for c, ok, was, covered in zip(cands, lenient, gap_free, inked, strict=True):
        if ok and not was:  # a broken row: its ink's first and last columns within the rows' span
            cols = np.flatnonzero(covered[span]) + span.start
            c.x_lo, c.x_hi, c.coverage = int(cols[0]), int(cols[-1]), float(covered[span].mean())
    rows = [c for c, ok in zip(cands, lenient, strict=True) if ok]
    taken = [i for i, ok in enumerate(lenient) if ok]
    missed = [
        cands[i]
        for i in range(len(cands))
        if not lenient[i] and taken and taken[0] < i < taken[-1] and spread[i] >= MISSED_ROW_COVERAGE
    ]
    for r in rows:
        y0 = int(r.baseline_y)
        lo, hi = max(y0 - half, 1), min(y0 + half + 1, h - 1)
        y = lo + int(np.argmax(fine[lo:hi]))
        a, b, c = fine[y - 1 : y + 2]
        denom = a - 2 * b + c
        r.baseline_y = y + 0.5 * (a - c) / denom if denom < 0 else float(y)  # sub-pixel parabola
    return rows, missed


def row_extent(
    trace: np.ndarray, y_lo: int, y_hi: int, px_per_mm: float, *, gap_mm: float | None = None
) -> tuple[int, int]:
    """x-extent of a row's trace: the longest stretch of columns with ink in the row's band, gaps of
    at most ``gap_mm`` bridged (default 0.5 mm, so the calibration pulse, 1 mm before the trace,
    stays out; a joined pulse is found by :func:`pulse_end`)."""
    covered = trace[y_lo:y_hi].any(axis=0)
    lo, hi, _ = _longest_run(covered, max_gap=int((0.5 if gap_mm is None else gap_mm) * px_per_mm))
    return lo, hi


def detect_layout(
    trace: np.ndarray,
    grid: GridInfo,
    layout: str = "auto",
    *,
    duration_s: float = 10.0,
    speed_mm_per_s: float = 25.0,
    gain_mm_per_mv: float = 10.0,
    span_coverage: float | None = None,
    gap_mm: float | None = None,
) -> PageLayout:
    """Find the rows, decide the layout and place every lead's panel.

    Parameters
    ----------
    trace
        ``[H, W]`` bool trace mask of the de-rotated page.
    grid
        Grid scale (``px_per_mm_x``/``px_per_mm_y`` must be finite).
    layout
        ``auto`` or one of :data:`SUPPORTED_LAYOUTS`.
    duration_s, speed_mm_per_s, gain_mm_per_mv
        What a full row shows and how it was printed.
    span_coverage, gap_mm
        See :func:`find_rows` and :func:`row_extent` (for a faint, broken trace).

    Returns
    -------
    PageLayout

    Raises
    ------
    LayoutError
        No trace row, a row count no known layout has, fewer rows than the requested layout, or a
        broken trace between two rows that was not taken as a row.
    """
    if layout != "auto" and layout not in SUPPORTED_LAYOUTS:
        raise LayoutError(f"unknown layout {layout!r} (choose auto or one of {', '.join(SUPPORTED_LAYOUTS)})")
    h, _w = trace.shape
    ppm_x, ppm_y = grid.px_per_mm_x, grid.px_per_mm_y
    frac = trace.mean()
    if frac > 0.25:
        raise LayoutError(f"{100 * frac:.0f} % of the pixels are dark: not an ECG page on light paper")
    rows, missed = _rows_and_missed(trace, ppm_y, span_coverage)
    if not rows:
        raise LayoutError("no ECG trace rows found on the page")
    if missed:
        raise LayoutError(
            f"a broken trace at y={missed[0].baseline_y:.0f} px between rows was not taken as a row "
            "(the page's trace is too faint or fragmented to place the rows)"
        )
    notes: list[str] = []
    if layout == "auto":
        if len(rows) not in LAYOUTS_BY_ROWS:
            raise LayoutError(
                f"found {len(rows)} trace row(s); known 12-lead layouts have 3, 4, 6 or 12 "
                "(pass --layout to force one)"
            )
        names = LAYOUTS_BY_ROWS[len(rows)]
    else:
        names = (layout,)
        need = layout_spec(layout).n_rows
        if len(rows) < need:
            raise LayoutError(
                f"layout {layout} needs {need} rows but only {len(rows)} trace row(s) were found"
            )
        if len(rows) > need:  # keep the best-covered rows
            keep = sorted(sorted(rows, key=lambda r: -r.coverage)[:need], key=lambda r: r.baseline_y)
            notes.append(f"{len(rows)} rows found, kept the {need} best for layout {layout}")
            rows = keep
    pen = pen_width(trace)
    px_per_s = ppm_x * speed_mm_per_s
    page = PageLayout(
        name=names[0],
        rows=rows,
        x_start=0.0,
        px_per_s=px_per_s,
        px_per_mv=ppm_y * gain_mm_per_mv,
        duration_s=float(duration_s),
        panels=[],
        pen_px=pen,
        notes=notes,
    )
    starts, stops = [], []
    for i, r in enumerate(rows):
        _y_lo, y_hi = page.row_band(i, h)
        top, bottom = page.near_band(i, h)
        r.x_lo, r.x_hi = row_extent(trace, top, y_hi, ppm_x, gap_mm=gap_mm)
        inked = np.flatnonzero(trace[top:bottom].any(axis=0))
        r.ink_lo, r.ink_hi = (float(inked[0]), float(inked[-1])) if inked.size else (r.x_lo, r.x_hi)
        pulse = pulse_end(trace, r.baseline_y, r.x_lo, ppm_x, ppm_y * gain_mm_per_mv, pen)
        if pulse is not None:  # a calibration pulse joined to the trace: the trace starts after it
            r.x_lo = pulse.start  # type: ignore[assignment]  # sub-pixel
            if pulse.on_edge:
                r.pulse_edge_x = pulse.edge
            r.pulse_skipped = True
        else:  # a pulse standing apart, left of the trace, also shows the row's 0 mV line
            pulse = pulse_apart(trace, r.baseline_y, r.x_lo, ppm_x, ppm_y * gain_mm_per_mv, pen)
        max_offset = ZERO_MAX_OFFSET_MV * ppm_y * gain_mm_per_mv
        if ZERO_FROM_PULSE and pulse is not None and abs(pulse.foot_y - r.baseline_y) <= max_offset:
            r.zero_y = pulse.foot_y
        starts.append(r.x_lo)
        stops.append(r.x_hi)
    if pulses := sum(r.pulse_skipped for r in rows):
        notes.append(f"calibration pulse joined to the trace in {pulses} row(s): skipped")
    # The leftmost ink column lies the stroke's cap before the first sample.
    cap = stroke_cap_px(pen)
    page.x_start = float(np.median(starts)) + cap
    extent_s = (float(np.median(stops)) - cap - page.x_start) / px_per_s
    if extent_s < MIN_SPAN_FRACTION * duration_s:
        raise LayoutError(
            f"the rows' traces span {extent_s:.2f} s of the {duration_s:g} s a row shows "
            "(a broken or faint trace; or pass --duration)"
        )
    if abs(extent_s - duration_s) > 0.05 * duration_s:
        notes.append(f"rows span {extent_s:.2f} s, expected {duration_s:g} s (check paper speed / duration)")
    own_rows = 0
    for r in rows:
        scale = (r.x_hi - r.x_lo - 2 * cap) / duration_s
        deviation = abs(scale / px_per_s - 1)
        if deviation < ROW_SCALE_AGREE:  # the grid is the finer ruler; the row's start is its own
            r.x_start, r.px_per_s = r.x_lo + cap, px_per_s
        elif deviation < ROW_SCALE_TOLERANCE:  # a skewed or stretched page: the row's own ends
            r.x_start, r.px_per_s = r.x_lo + cap, scale
        else:
            r.x_start, r.px_per_s = page.x_start, px_per_s
            own_rows -= 1
        own_rows += 1
    if own_rows < len(rows):
        notes.append(
            f"{len(rows) - own_rows} row(s) timed with the page scale (their ends disagree with the grid)"
        )
    matches = []
    if page.name in RHYTHM_LAYOUTS or len(names) > 1:
        matches = match_rhythm_rows(trace, page, list(range(3, len(rows))))
        if len(names) > 1:  # six rows: only in 3x4+3 do rows 4-6 repeat panels of rows 1-3
            page.name = "3x4+3" if any(m.lead for m in matches) else "6x2"
    page.panels = place_panels(page)
    if page.name in RHYTHM_LAYOUTS:
        page.panels, named = name_rhythm_strips(page.panels, matches)
        notes += named
    pulse = calibration_pulse_height(trace, page)
    if pulse is not None:
        notes.append(f"calibration pulse: {pulse / gain_mm_per_mv:.3f} px/mm (grid {ppm_y:.3f})")
    return page


class PulseEnd(NamedTuple):
    """Where a row's trace starts after a joined calibration pulse.

    Attributes
    ----------
    start
        Image x of the trace's first sample (less the pen cap the caller adds back).
    edge
        Image x of the pulse's falling edge.
    on_edge
        The trace starts on the falling edge itself (ecg-image-kit), not after a gap.
    foot_y
        Image y of the pulse's 0 mV line (the centre of the pen at its foot).
    """

    start: float
    edge: float
    on_edge: bool
    foot_y: float = float("nan")


def pulse_end(
    trace: np.ndarray,
    baseline_y: float,
    x_lo: int,
    px_per_mm: float,
    px_per_mv: float,
    pen: float,
) -> PulseEnd | None:
    """Where the trace starts after a calibration pulse drawn joined to it, or None if there is none.

    The pulse is a hollow rectangle standing on its 0 mV line: a rising edge within 3 mm of the
    row's first ink, a falling edge 1.5-8 mm later, a flat top 0.7-1.3 mV above the baseline. The
    edges are found as columns inked over the middle half of the pulse's height (the falling edge:
    first over 0.55-0.85 mV), a pen's width of wobble allowed, so a faint edge broken into dashes
    still counts. Some generators (ecg-image-kit) start the trace at the pulse's falling edge;
    others leave a little baseline and a gap, which are skipped too.
    """
    h, w = trace.shape
    pen_px = float(pen) if np.isfinite(pen) else 1.0
    x0, x1 = int(x_lo), min(int(x_lo + 12 * px_per_mm), w)
    # The pulse stands on its own 0 mV line: the lowest ink of the row's first columns (its
    # lead-in stub, or the foot of its rising edge). A row's baseline from the ink's density may
    # sit a few tenths of a mV off it (a rhythm strip whose trace keeps to one side).
    near_lo, near_hi = max(int(baseline_y - 1.5 * px_per_mv), 0), min(int(baseline_y + px_per_mv) + 1, h)
    lead_in = np.flatnonzero(trace[near_lo:near_hi, x0 : x0 + max(2, round(0.5 * px_per_mm))].any(axis=1))
    if lead_in.size:
        baseline_y = near_lo + float(lead_in.max()) - (pen_px - 1) / 2
    top_y, mid_lo, mid_hi = (round(baseline_y - f * px_per_mv) for f in (1.4, 0.75, 0.25))
    if px_per_mm < 1.0 or x1 - x0 < 6 * px_per_mm or top_y < 0 or mid_hi - mid_lo < 4:
        return None  # a scale too small to show a pulse, or no room above the row
    k = max(1, round(pen_px / 2))
    mid = trace[mid_lo : mid_hi + 1, x0:x1]
    rising = _vertical_strokes(mid, k)
    if not rising or rising[0][0] > 3 * px_per_mm:
        return None
    rise = float(rising[0].mean())
    # The falling edge may end at the trace's first sample (ecg-image-kit) anywhere below the top:
    # it is looked for in the upper band, 0.55-0.85 mV up, which any sample under 0.55 mV reaches
    # (and where the trace's own strokes rarely join it); then in the middle band (a broken edge).
    up_lo, up_hi = (round(baseline_y - f * px_per_mv) for f in (0.85, 0.55))
    upper = trace[up_lo : up_hi + 1, x0:x1]
    box = trace[top_y : int(baseline_y), x0:x1]
    tol = max(0.5 * px_per_mm, 1.5)
    for fall_cols in [*_vertical_strokes(upper, k), *rising]:
        fall = float(fall_cols.mean())
        if not 1.5 * px_per_mm <= fall - rise <= 8 * px_per_mm:
            continue
        inner = box[:, int(rise) + 2 * k + 1 : int(fall) - 2 * k]
        if inner.shape[1] < 2:
            continue
        has = inner.any(axis=0)
        tops = np.argmax(inner, axis=0)[has]
        if has.mean() < 0.6:
            continue
        level = float(np.median(tops))
        height = baseline_y - (top_y + level + pen_px / 2)
        flat = np.mean(np.abs(tops - level) <= tol) * has.mean()
        hollow = trace[mid_lo : mid_hi + 1, x0 + int(rise) + 2 * k + 1 : x0 + int(fall) - 2 * k].mean()
        if flat >= 0.6 and hollow < 0.2 and 0.7 * px_per_mv <= height <= 1.3 * px_per_mv:
            end = _after_falling_edge(trace, baseline_y, x0, fall, px_per_mm, px_per_mv, pen_px)
            return end._replace(foot_y=baseline_y if lead_in.size else float("nan"))
    return None


def pulse_apart(
    trace: np.ndarray,
    baseline_y: float,
    x_trace: float,
    px_per_mm: float,
    px_per_mv: float,
    pen: float,
) -> PulseEnd | None:
    """A calibration pulse printed apart from the row's trace, in the 12 mm left of it, or None.

    The same shape test as :func:`pulse_end` (two edges, a flat hollow top 1 mV up), on the mask
    cut just left of the trace's first column ``x_trace``, so the trace itself cannot pass for the
    pulse's falling edge. Only ``foot_y`` of the result means anything here.
    """
    x_end = int(x_trace) - 1
    x_from = max(int(x_end - 12 * px_per_mm), 0)
    if x_end - x_from < 3 * px_per_mm:
        return None
    near_lo, near_hi = max(int(baseline_y - 1.5 * px_per_mv), 0), int(baseline_y + px_per_mv) + 1
    inked = np.flatnonzero(trace[near_lo:near_hi, x_from:x_end].any(axis=0))
    if not inked.size:
        return None
    return pulse_end(trace[:, :x_end], baseline_y, x_from + int(inked[0]), px_per_mm, px_per_mv, pen)


def _vertical_strokes(band: np.ndarray, k: int) -> list[np.ndarray]:
    """Groups of adjacent columns crossing ``band`` top to bottom, left to right.

    An edge's ink may wander by ``k`` (half the pen) and by a 6 degree tilt on a photographed
    page that is not perfectly rectified: a stroke's column is inked within that window over 60 %
    of the band, and within ``k`` over 30 % of it, so that a narrow pulse's two edges stay apart.
    """
    tilt = round(0.05 * band.shape[0])
    near = scipy.ndimage.maximum_filter1d(band, size=2 * k + 1, axis=1).mean(axis=0)
    wide = scipy.ndimage.maximum_filter1d(band, size=2 * (k + tilt) + 1, axis=1).mean(axis=0)
    cols = np.flatnonzero((wide >= 0.6) & (near >= 0.3))
    return np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1) if cols.size else []


def _after_falling_edge(
    trace: np.ndarray,
    baseline_y: float,
    x0: int,
    fall: float,
    px_per_mm: float,
    px_per_mv: float,
    pen_px: float,
) -> PulseEnd:
    """Where the trace starts after a pulse's falling edge at image x ``x0 + fall``.

    A baseline tail and a gap after the edge (within 2.5 mm) are not trace either; with no gap the
    trace starts on the edge itself: its centre, less the cap the caller adds back.
    """
    y_lo = max(int(baseline_y - 1.5 * px_per_mv), 0)
    y_hi = int(baseline_y + 1.0 * px_per_mv) + 1
    has = trace[y_lo:y_hi, x0:].any(axis=0)
    start = int(fall + pen_px) + 1
    gap = np.flatnonzero(~has[start : int(fall + 2.5 * px_per_mm)])
    if gap.size:
        rest = np.flatnonzero(has[start + gap[-1] :])
        if rest.size:
            return PulseEnd(float(x0 + start + gap[-1] + rest[0]), float(x0 + fall), False)
    return PulseEnd(float(x0 + fall - stroke_cap_px(pen_px)), float(x0 + fall), True)


def place_panels(page: PageLayout) -> list[PanelBox]:
    """Panels of ``page.name`` on the image (needs ``rows``, ``x_start`` and ``px_per_s``)."""
    spec = layout_spec(page.name, page.duration_s)
    for r in page.rows:
        if not np.isfinite(r.x_start):
            r.x_start, r.px_per_s = page.x_start, page.px_per_s
    return [
        PanelBox(
            lead=p.lead,
            row=p.row,
            column=p.column,
            start_s=p.start_s,
            stop_s=p.stop_s,
            x0=page.rows[p.row].x_start + p.start_s * page.rows[p.row].px_per_s,
            x1=page.rows[p.row].x_start + p.stop_s * page.rows[p.row].px_per_s,
            baseline_y=page.rows[p.row].baseline_y,
            rhythm=p.rhythm,
            zero_y=page.rows[p.row].zero_y,
        )
        for p in spec.panels
    ]


def calibration_pulse_height(trace: np.ndarray, page: PageLayout) -> float | None:
    """Median height (px) of the ink left of the rows' traces, if it looks like a 1 mV pulse."""
    ppm = page.px_per_s / 25.0
    heights = []
    for i, r in enumerate(page.rows):
        y_lo, _ = page.row_band(i, trace.shape[0])
        y_hi = min(int(r.baseline_y + 2 * ppm), trace.shape[0])  # the pulse stands on the 0 mV line
        x_hi = int(r.x_lo) - 1
        x_lo = max(int(x_hi - 12 * ppm), 0)
        if x_hi - x_lo < 3 * ppm:
            continue
        box = trace[y_lo:y_hi, x_lo:x_hi]
        rows = np.flatnonzero(box.any(axis=1))
        cols = np.flatnonzero(box.any(axis=0))
        if rows.size and cols.size and 3 * ppm <= cols[-1] - cols[0] <= 10 * ppm:
            heights.append(rows[-1] - rows[0] + 1 - page.pen_px)
    if len(heights) < max(1, len(page.rows) // 2):
        return None
    h = float(np.median(heights))
    return h if 5 * ppm < h < 25 * ppm else None
