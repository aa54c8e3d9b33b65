"""``digitize_image``: the classical (no-training) pipeline from an ECG image to 12 leads in mV.

load → rectify (perspective or rotation) → trace/grid separation → grid scale → rows and layout → per-panel
tracking → leads at ``fs`` (NaN where the page shows nothing) → optional Einthoven correction.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecglab.digitize.deskew import rectify
from ecglab.digitize.errors import GridError, LayoutError
from ecglab.digitize.extract import PanelTrace, extract_traces
from ecglab.digitize.grid import GridInfo, detect_grid
from ecglab.digitize.image import (
    as_rgb,
    clean_trace,
    faint_ink_mask,
    fragmented,
    grid_strength,
    ink_mask,
    load_image,
    normalise,
    trace_mask,
)
from ecglab.digitize.layout import PageLayout, detect_layout, find_rows, pen_width, row_extent
from ecglab.io.leads import STANDARD_12
from ecglab.io.recording import Recording

#: Dashes of a faint trace closer than this (mm) count as one stroke when the layout is retried.
BRIDGE_MM = 0.25
#: ... and a band inked over this fraction of the widest row's span counts as a row however broken.
SPAN_COVERAGE = 0.75
#: ... and a row's ends are those of its ink with gaps up to this (mm) bridged: the pen lifts
#: between panels, and a faint steep stroke may be lost.
FAINT_GAP_MM = 2.5
#: ... and, that failing too, with the ink's core threshold this far from the faint one to the plain.
FAINTER_CORE = 0.5
#: ... and, that failing too, with dashes up to this far apart (mm) bridged: a grey pen in a small
#: JPEG (real photo 00013, 3.8 px/mm) breaks into dashes 2-3 px apart, too short to count as trace.
WIDE_BRIDGE_MM = 0.75
#: Without a grid the scale comes from the rows' length, which must cross this much of the image.
MIN_ROW_WIDTH_FRACTION = 0.4

# Limb leads as combinations of (I, II): Einthoven's and Goldberger's relations.
_LIMB = ("I", "II", "III", "aVR", "aVL", "aVF")
_LIMB_BASIS = np.array([[1, 0], [0, 1], [-1, 1], [-0.5, -0.5], [1, -0.5], [-0.5, 1]], np.float64)


@dataclass
class DigitizeResult:
    """What :func:`digitize_image` found.

    Attributes
    ----------
    signal
        ``[12, n]`` float32 mV in :data:`STANDARD_12` order, NaN where the page did not plot a lead
        (or nothing was found).
    fs
        Sampling rate, Hz.
    record_id
        The image stem (or ``image``).
    layout
        Rows, panels, scales.
    grid
        Grid scale and confidence.
    transform
        3x3 map from input-image pixels to the de-rotated image the geometry refers to.
    traces
        Per-panel traces (image coordinates of the de-rotated image), for overlays.
    notes
        Cross-checks and fallbacks worth reporting.
    seconds
        Wall time per stage.
    method
        ``classical`` or the learned model's name (``series``, ``whole``).
    """

    signal: np.ndarray
    fs: float
    record_id: str
    layout: PageLayout
    grid: GridInfo
    transform: np.ndarray
    traces: list[PanelTrace]
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    method: str = "classical"

    @property
    def lead_names(self) -> tuple[str, ...]:
        return STANDARD_12

    @property
    def recording(self) -> Recording:
        """The signal as a :class:`Recording` (a lead with no sample at all is 0 mV, noted in ``meta``)."""
        signal = self.signal.copy()
        empty = np.isnan(signal).all(axis=1)
        signal[empty] = 0.0
        meta: dict[str, Any] = {
            "source": f"ecglab.digitize ({self.method})",
            "layout": self.layout.name,
            "empty_leads": [STANDARD_12[i] for i in np.flatnonzero(empty)],
            "comments": [
                f"digitized by ecglab.digitize ({self.method}), layout {self.layout.name}",
                "NaN = not plotted",
            ],
        }
        return Recording(signal=signal, fs=self.fs, leads=STANDARD_12, record_id=self.record_id, meta=meta)


def digitize_image(
    image: str | Path | np.ndarray,
    *,
    fs: float = 500.0,
    layout: str = "auto",
    duration_s: float = 10.0,
    speed_mm_per_s: float = 25.0,
    gain_mm_per_mv: float = 10.0,
    einthoven: bool = False,
    rotate: bool = True,
    method: str = "sweep",
    baseline: str = "row",
    model: str | Path | Any | None = None,
    backend: str = "torch",
    tta: bool = False,
    hold_bars: bool = True,
    thicken_thin_pen: bool = True,
) -> DigitizeResult:
    """Digitize one ECG page image into the 12 standard leads.

    Parameters
    ----------
    image
        Image path or ``[H, W, 3]`` RGB (``[H, W]`` grey) array.
    fs
        Output sampling rate, Hz.
    layout
        ``auto`` or a layout name (``3x4``, ``3x4+1``, ``3x4+3``, ``6x2``, ``12x1``).
    duration_s
        Seconds shown by a full row.
    speed_mm_per_s, gain_mm_per_mv
        Paper speed and gain the page was printed with.
    einthoven
        Replace the limb leads, where three or more of them overlap in time, by their
        least-squares fit under I + III = II and Goldberger's relations.
    rotate
        Estimate and undo the page rotation.
    method, baseline
        Column method and 0 mV reference of the classical tracker (see
        :func:`ecglab.digitize.extract.extract_traces`).
    model
        A learned digitizer (shipped name such as ``digitizer``, a run folder, or a loaded
        :class:`~ecglab.digitize.learned.LearnedDigitizer`) that reads the traces instead of the
        classical tracker; None: classical.
    backend
        ``torch`` or ``onnx`` for a model given by name.
    tta
        Flip test-time augmentation for a model given by name.
    hold_bars
        With a model: where a thick lead-separator bar hides the trace at a panel boundary, hold
        the model's trace at its value beside the bar (:mod:`ecglab.digitize.separators`).
    thicken_thin_pen
        With a model: widen a pen thinner than 0.32 mm to about 0.35 mm before the model reads the
        page (:mod:`ecglab.digitize.pen`).

    Returns
    -------
    DigitizeResult

    Raises
    ------
    ImageError, GridError, LayoutError
        With a one-line message naming the image.
    """
    where = str(image) if isinstance(image, (str, Path)) else "image"
    record_id = Path(image).stem if isinstance(image, (str, Path)) else "image"
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    try:
        rgb = load_image(image) if isinstance(image, (str, Path)) else as_rgb(image, where=where)
        lap("load")
        if rotate:
            rgb, transform = rectify(rgb)
        else:
            transform = np.eye(3)
        lap("rectify")
        norm = normalise(rgb)
        plain = trace_mask(norm)
        grid = detect_grid(rgb, strength=grid_strength(norm, plain))
        notes = list(grid.notes)
        if grid.found and grid.px_per_mm_x * duration_s * speed_mm_per_s > 1.05 * rgb.shape[1]:
            notes.append(
                f"grid scale {grid.px_per_mm_x:.2f} px/mm would not fit a {duration_s:g} s row: ignored"
            )
            grid.confidence = 0.0
        printed = {
            "duration_s": duration_s,
            "speed_mm_per_s": speed_mm_per_s,
            "gain_mm_per_mv": gain_mm_per_mv,
        }
        trace, grid, page, found = _read_layout_escalating(norm, plain, grid, layout, printed, where)
        notes += found + page.notes
        lap("layout")
        if model is None:
            traces = extract_traces(trace, page, fs=fs, method=method, baseline=baseline)
            used = "classical"
        else:
            from ecglab.digitize import learned as learned_module
            from ecglab.digitize.learned import LearnedDigitizer, extract_traces_learned, load_digitizer

            learned = (
                model if isinstance(model, LearnedDigitizer) else load_digitizer(str(model), backend, tta)
            )
            seen = rgb
            if thicken_thin_pen:
                from ecglab.digitize.pen import pen_growth_px, thicken_pen

                grow = pen_growth_px(page.pen_px, page.px_per_s / speed_mm_per_s)
                if grow:
                    seen = thicken_pen(rgb, grow)
                    notes.append(f"thin pen ({page.pen_px:g} px): widened by {grow} px for the model")
            # The tracker's reading fills in where a stroke leaves the band the model sees (a
            # switch, off by default: see ecglab.digitize.learned.OFF_BAND_CONFIDENCE).
            tracked = None
            if learned_module.OFF_BAND_CONFIDENCE > 0:
                tracked = extract_traces(trace, page, fs=fs, method=method, baseline=baseline)
            traces = extract_traces_learned(
                seen, page, learned, fs=fs, speed_mm_per_s=speed_mm_per_s, gain_mm_per_mv=gain_mm_per_mv,
                trace=trace, classical=tracked,
            )  # fmt: skip
            used = learned.name
            if hold_bars:
                from ecglab.digitize.separators import find_separator_bars, hold_under_bars

                bars = find_separator_bars(trace, page, speed_mm_per_s=speed_mm_per_s)
                if bars and hold_under_bars(traces, bars, page, speed_mm_per_s=speed_mm_per_s):
                    notes.append(f"{len(bars)} lead-separator bar(s): model trace held beside them")
        from ecglab.digitize import separators

        edges = separators.pulse_edge_bars(page)
        hold = separators.PULSE_HOLD_MM["classical" if model is None else "learned"]
        if (
            edges
            and hold is not None
            and separators.hold_under_bars(
                traces, edges, page, speed_mm_per_s=speed_mm_per_s, margin_mm=hold[0], tail_mm=hold[1]
            )
        ):
            notes.append(f"{len(edges)} row(s) start on a pulse's falling edge: their first samples held")
        lap("extract")
    except Exception as exc:
        from ecglab.errors import EcglabError

        if isinstance(exc, EcglabError) and where != "image" and not str(exc).startswith(where):
            raise type(exc)(f"{where}: {exc}") from None
        raise
    signal = assemble_leads(traces, fs, duration_s)
    if einthoven:
        signal = einthoven_correct(signal)
        notes.append("limb leads corrected with Einthoven/Goldberger relations where >= 3 overlap")
    lap("assemble")
    return DigitizeResult(
        signal=signal,
        fs=float(fs),
        record_id=record_id,
        layout=page,
        grid=grid,
        transform=transform,
        traces=traces,
        notes=notes,
        seconds=seconds,
        method=used,
    )


def _read_layout_escalating(
    norm: np.ndarray,
    plain: np.ndarray,
    grid: GridInfo,
    layout: str,
    printed: dict[str, float],
    where: str,
) -> tuple[np.ndarray, GridInfo, PageLayout, list[str]]:
    """:func:`_read_layout` on the plain mask, then on fainter ones; the first error if all fail.

    A thin pen photographed at low resolution loses its steep strokes and the rows fall apart into
    pieces: the faint ink is read against the grid's own darkness instead, and where the pen has
    no dark core in places (uneven light), from a fainter core too (:data:`FAINTER_CORE`), and with
    wider gaps bridged (:data:`WIDE_BRIDGE_MM`).
    """
    try:
        return _read_layout(norm, plain, grid, layout, printed, where, faint=False)
    except (LayoutError, GridError) as first:
        for core, bridge_mm, note in (
            (1.0, BRIDGE_MM, ""),
            (FAINTER_CORE, BRIDGE_MM, ", seeded from fainter ink"),
            (FAINTER_CORE, WIDE_BRIDGE_MM, f", seeded from fainter ink, gaps up to {WIDE_BRIDGE_MM:g} mm"),
        ):
            try:
                trace, grid_used, page, found = _read_layout(
                    norm, plain, grid, layout, printed, where, faint=True, core=core, bridge_mm=bridge_mm
                )
            except (LayoutError, GridError):
                continue
            found.append(f"rows found on the faint-ink mask (thin trace broken into dashes{note})")
            return trace, grid_used, page, found
        raise first from None


def _read_layout(
    norm: np.ndarray,
    plain: np.ndarray,
    grid: GridInfo,
    layout: str,
    printed: dict[str, float],
    where: str,
    *,
    faint: bool,
    core: float = 1.0,
    bridge_mm: float = BRIDGE_MM,
) -> tuple[np.ndarray, GridInfo, PageLayout, list[str]]:
    """Trace mask, grid scale (from the rows' length where the page shows no grid) and layout.

    ``plain`` is :func:`~ecglab.digitize.image.trace_mask` of ``norm``, read unless ``faint``:
    the faint-ink mask (:func:`~ecglab.digitize.image.faint_ink_mask`) with dashes
    bridged, rows taken by their ink's spread and their ends with wider gaps bridged, for a thin
    trace that the plain mask breaks into pieces.
    """
    notes: list[str] = []
    trace = faint_ink_mask(norm, core=core) if faint else plain
    span = SPAN_COVERAGE if faint else None
    gap_mm = FAINT_GAP_MM if faint else None
    if not grid.found:
        grid = _grid_from_trace(
            trace, grid, printed["duration_s"], printed["speed_mm_per_s"], where, span_coverage=span
        )
        notes.append(f"no usable grid: scale {grid.px_per_mm_x:.3f} px/mm taken from the row length")
    if not faint and fragmented(trace, grid.px_per_mm):  # a blurred thin trace: add its faint flanks
        trace = ink_mask(norm)
        notes.append("faint trace: hysteresis threshold used")
    bridge = max(round(bridge_mm * grid.px_per_mm), 1) if faint else 0
    trace = clean_trace(trace, grid.px_per_mm, pen_width(trace), bridge_px=bridge)
    page = detect_layout(trace, grid, layout, span_coverage=span, gap_mm=gap_mm, **printed)
    return trace, grid, page, notes


def _grid_from_trace(
    trace: np.ndarray,
    grid: GridInfo,
    duration_s: float,
    speed: float,
    where: str,
    *,
    span_coverage: float | None = None,
) -> GridInfo:
    """Scale from the rows' length (``duration_s`` at ``speed``) when the page shows no grid."""
    _h, w = trace.shape
    guess = w / 297.0  # an A4 landscape page filling the image, for the row search only
    rows = find_rows(trace, guess, span_coverage=span_coverage)
    if not rows:
        raise GridError(f"{where}: no ECG paper grid and no trace rows found")
    pitch = float(np.median(np.diff([r.baseline_y for r in rows]))) if len(rows) > 1 else 20 * guess
    # Each row's ink with gaps of at most 0.5 mm bridged: a calibration pulse 1 mm away stays out.
    lengths = []
    for r in rows:
        lo, hi = row_extent(
            trace,
            max(int(r.baseline_y - pitch / 2), 0),
            int(r.baseline_y + pitch / 2),
            guess,
            gap_mm=FAINT_GAP_MM if span_coverage is not None else None,
        )
        lengths.append(hi - lo)
    length = float(np.median(lengths))
    if length < MIN_ROW_WIDTH_FRACTION * w:  # every supported layout's rows cross most of the page
        raise GridError(f"{where}: no ECG paper grid, and the rows' trace is too broken to measure")
    ppm = length / (duration_s * speed)
    return GridInfo(ppm, ppm, grid.confidence, "trace", [*grid.notes, "scale from the row length"])


#: Give every plot of one lead the same 0 mV before overlaps are averaged (see :func:`assemble_leads`).
ALIGN_LEAD_ZEROS = True


def assemble_leads(traces: list[PanelTrace], fs: float, duration_s: float) -> np.ndarray:
    """``[12, n]`` float32: each lead's panels placed at their times, overlaps averaged, NaN elsewhere.

    A lead plotted twice (lead II in its 3x4 panel and on the rhythm strip) is read from two rows
    whose 0 mV lines were found separately; where a row has no calibration pulse, each comes from
    its own isoelectric line. With :data:`ALIGN_LEAD_ZEROS` the plots of one lead are first shifted
    onto one 0 mV, by their median difference where they overlap: onto a plot whose row's 0 mV came
    from a pulse's foot when one did (the page's own zero), else onto the longest plot. Otherwise
    the average steps where the overlap ends, by half the two rows' disagreement.
    """
    n = round(duration_s * fs)
    placed = []
    index = {name: i for i, name in enumerate(STANDARD_12)}
    for tr in traces:
        s0 = round(tr.panel.start_s * fs)
        v = tr.values[: max(n - s0, 0)].astype(np.float64)
        placed.append((index[tr.panel.lead], s0, v, bool(np.isfinite(tr.panel.zero_y))))
    if ALIGN_LEAD_ZEROS:
        placed = _align_lead_zeros(placed)
    total = np.zeros((12, n))
    count = np.zeros((12, n))
    for k, s0, v, _ in placed:
        ok = np.isfinite(v)
        total[k, s0 : s0 + v.size][ok] += v[ok]
        count[k, s0 : s0 + v.size][ok] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def _align_lead_zeros(
    placed: list[tuple[int, int, np.ndarray, bool]],
) -> list[tuple[int, int, np.ndarray, bool]]:
    """Shift the plots of each lead onto its reference plot's 0 mV (see :func:`assemble_leads`)."""
    out = list(placed)
    for k in {p[0] for p in placed}:
        mine = [i for i, p in enumerate(placed) if p[0] == k]
        if len(mine) < 2:
            continue
        # The reference: a pulse-zeroed plot if any, the longest first.
        ref = max(mine, key=lambda i: (placed[i][3], np.isfinite(placed[i][2]).sum()))
        _, r0, rv, _ = placed[ref]
        for i in mine:
            _, s0, v, zeroed = placed[i]
            if i == ref or zeroed:
                continue  # a pulse-zeroed plot is on the page's own 0 mV already (and so is ref)
            lo, hi = max(s0, r0), min(s0 + v.size, r0 + rv.size)
            if hi <= lo:
                continue
            diff = v[lo - s0 : hi - s0] - rv[lo - r0 : hi - r0]
            diff = diff[np.isfinite(diff)]
            if diff.size >= 0.5 * (hi - lo):
                out[i] = (k, s0, v - float(np.median(diff)), zeroed)
    return out


def einthoven_correct(signal: np.ndarray) -> np.ndarray:
    """Least-squares projection of the limb leads onto Einthoven's and Goldberger's relations.

    At each sample where at least three of I, II, III, aVR, aVL, aVF are present, (I, II) are fitted
    to the present leads and those leads replaced by the fit; other samples are unchanged (with two
    leads the relations add nothing, and absent leads stay absent).

    Parameters
    ----------
    signal
        ``[12, n]`` in :data:`STANDARD_12` order.
    """
    out = np.array(signal, dtype=np.float64, copy=True)
    limb = out[:6]
    present = np.isfinite(limb)
    patterns = present.T.astype(np.uint8) @ (1 << np.arange(6, dtype=np.uint8))
    for pattern in np.unique(patterns):
        have = np.array([(pattern >> i) & 1 for i in range(6)], bool)
        if have.sum() < 3:
            continue
        cols = patterns == pattern
        a = _LIMB_BASIS[have]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            coef, *_ = np.linalg.lstsq(a, limb[have][:, cols], rcond=None)
        limb[np.ix_(have, cols)] = a @ coef
    out[:6] = limb
    return out.astype(np.float32)
