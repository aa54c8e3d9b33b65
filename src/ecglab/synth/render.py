"""Draw a :class:`~ecglab.io.recording.Recording` on ECG paper, with pixel-exact ground truth.

Everything in the masks comes from the geometry the renderer itself used, never from looking at
the image afterwards:

* **Grid.** Line ``k`` (k mm from the grid origin) is centred at ``origin + k * px_per_mm`` and
  covers ``w`` whole pixels (``w`` = line width rounded, at least 1) around that centre; lines are
  pixel-aligned and not anti-aliased, so the image and the mask agree pixel for pixel. Mask class 1
  marks horizontal-line pixels, 2 vertical-line pixels, 3 pixels on both (the crossings).
* **Traces.** Each panel's polyline is rasterised once with ``cv2.polylines(..., cv2.LINE_AA,
  shift=4)`` into a one-channel *coverage* buffer (0..255). The image is darkened by exactly that
  coverage (``pixel = paper * (1 - c) + ink * c``, where several strokes overlap ``c`` is their
  maximum), and **a trace pixel is a pixel with coverage >= 0.5 (128/255)**: mask class 4, which
  wins over the grid classes.
* **Instances.** ``Page.leads`` holds ``index + 1`` of the lead whose own coverage is largest at a
  trace pixel; ties go to the lower lead index (panels are drawn in lead order and only a strictly
  larger coverage takes a pixel over). A lead shown twice (a rhythm strip) has one instance id.
* **Calibration pulses** (1 mV x 200 ms at each row start) are ink of the same pen, so their pixels
  are class 4 (trace) in ``Page.mask`` but **0 in** ``Page.leads``; their boxes are listed in
  ``Page.meta["calibration_boxes"]`` (flat-page ``[x0, y0, x1, y1]``) so a digitizer can drop them.
* **Text** (lead labels, header) is printed over the grid but is not in any mask class (0 where it
  does not cover a grid line; the grid class is kept where it does).

Coordinates are pixel-centre based, as OpenCV's: ``(0, 0)`` is the centre of the top-left pixel.
Sample ``s`` of a panel is drawn at ``x = x0 + (s - start_sample) / fs * px_per_s`` and
``y = baseline_y - value * px_per_mv``; the points stored in :class:`LeadGeometry` are those
coordinates rounded to the 1/16 px that ``shift=4`` draws, so they are exactly what was drawn.
A valid sample with a missing (NaN) sample on both sides is not drawn (a single point makes no
stroke) and is NaN in ``Page.signal`` and ``points``. Traces are not clipped at the row limits:
real ECGs overlap rows, the masks stay exact.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ecglab.errors import RecordError
from ecglab.io.recording import Recording
from ecglab.synth.layouts import LayoutSpec, Panel, check_layout_leads, layout_spec
from ecglab.synth.page import (
    MASK_GRID_HORIZONTAL,
    MASK_GRID_VERTICAL,
    MASK_TRACE,
    LeadGeometry,
    Page,
)
from ecglab.synth.settings import GRID_COLORS, RenderSettings

SHIFT_BITS = 4  # cv2 fixed-point fraction bits: vertices are drawn at 1/16 px
_SUBPIXEL = float(1 << SHIFT_BITS)
TRACE_THRESHOLD = 128  # coverage >= 0.5 is a trace pixel
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_RGB = (0, 0, 0)


@dataclass(frozen=True)
class PageFrame:
    """Pixel geometry of the paper: size, grid origin and extent, rows.

    Attributes
    ----------
    width, height
        Image size in pixels.
    px_per_mm
        Pixels per millimetre (both axes).
    grid_x0, grid_y0
        Pixel-centre coordinates of the grid origin (top-left grid line crossing).
    grid_mm_x, grid_mm_y
        Number of whole millimetres the grid spans (lines ``0..grid_mm``).
    row_pitch_mm
        Height of one row in mm.
    trace_x0
        x of the first sample of every row (after the calibration pulse's room).
    """

    width: int
    height: int
    px_per_mm: float
    grid_x0: float
    grid_y0: float
    grid_mm_x: int
    grid_mm_y: int
    row_pitch_mm: float
    trace_x0: float

    def row_top(self, row: int) -> float:
        """y of the top of ``row``."""
        return self.grid_y0 + row * self.row_pitch_mm * self.px_per_mm

    def baseline_y(self, row: int) -> float:
        """y of 0 mV in ``row``: on a whole-mm grid line a little below the row centre (R waves
        rise higher than S waves fall)."""
        mm = round(self.row_pitch_mm * (row + 0.58))
        return self.grid_y0 + mm * self.px_per_mm


def page_frame(settings: RenderSettings, n_rows: int) -> PageFrame:
    """The paper geometry for ``settings`` and a layout of ``n_rows`` rows."""
    ppm = settings.px_per_mm
    width_mm, height_mm = settings.paper_size_mm
    usable_w = width_mm - settings.margin_left_mm - settings.margin_right_mm
    usable_h = height_mm - settings.margin_top_mm - settings.margin_bottom_mm
    gx0, gy0 = settings.margin_left_mm * ppm, settings.margin_top_mm * ppm
    return PageFrame(
        width=round(width_mm * ppm),
        height=round(height_mm * ppm),
        px_per_mm=ppm,
        grid_x0=gx0,
        grid_y0=gy0,
        grid_mm_x=math.floor(usable_w + 1e-9),
        grid_mm_y=math.floor(usable_h + 1e-9),
        row_pitch_mm=usable_h / n_rows,
        trace_x0=gx0 + settings.lead_in_mm * ppm,
    )


# ------------------------------------------------------------------------------------------ grid
def grid_line_pixels(origin: float, px_per_mm: float, n_mm: int, width_px: int, every_mm: int) -> np.ndarray:
    """Pixel indices (rows or columns) covered by grid lines ``0, every_mm, 2 every_mm, ... <= n_mm``.

    A line centred at ``c`` covers ``width_px`` consecutive pixels starting at
    ``round(c - (width_px - 1) / 2)``, i.e. the pixels whose centres are nearest to ``c``.
    """
    centres = origin + np.arange(0, n_mm + 1, every_mm) * px_per_mm
    first = np.round(centres - (width_px - 1) / 2).astype(np.int64)
    return np.unique((first[:, None] + np.arange(width_px)[None, :]).ravel())


def _line_width_px(width_mm: float, px_per_mm: float) -> int:
    return max(1, round(width_mm * px_per_mm))


def draw_grid(image: np.ndarray, mask: np.ndarray, frame: PageFrame, settings: RenderSettings) -> dict:
    """Paint paper and grid into ``image`` and the grid classes into ``mask`` (in place).

    The grid is separable: a pixel's colour depends only on whether its row lies on a horizontal
    line and its column on a vertical one (major lines printed over minor ones). So three template
    rows (no horizontal line, minor line, major line) are built once and copied row by row, which
    is ~10x faster than painting lines with fancy indexing.

    Returns
    -------
    dict
        Line widths in pixels, for the page's metadata.
    """
    colors = GRID_COLORS[settings.grid_color]
    if colors is None:  # black-and-white paper: no grid
        image[:] = 255
        return {"minor_px": 0, "major_px": 0}
    ppm = frame.px_per_mm
    minor_w = _line_width_px(settings.grid_minor_width_mm, ppm)
    major_w = _line_width_px(settings.grid_major_width_mm, ppm)
    x_lo = max(round(frame.grid_x0 - (major_w - 1) / 2), 0)
    y_lo = max(round(frame.grid_y0 - (major_w - 1) / 2), 0)
    x_hi = min(round(frame.grid_x0 + frame.grid_mm_x * ppm - (major_w - 1) / 2) + major_w, frame.width)
    y_hi = min(round(frame.grid_y0 + frame.grid_mm_y * ppm - (major_w - 1) / 2) + major_w, frame.height)
    # Line level per column and per row: 0 none, 1 minor, 2 major (major wins).
    col_level = np.zeros(frame.width, np.uint8)
    row_level = np.zeros(frame.height, np.uint8)
    passes = [(1, minor_w, 1)] if settings.minor_grid else []
    passes.append((2, major_w, 5))
    for level, width, every in passes:
        cols = grid_line_pixels(frame.grid_x0, ppm, frame.grid_mm_x, width, every)
        rows = grid_line_pixels(frame.grid_y0, ppm, frame.grid_mm_y, width, every)
        col_level[cols[(cols >= x_lo) & (cols < x_hi)]] = level
        row_level[rows[(rows >= y_lo) & (rows < y_hi)]] = level
    palette = np.array(colors, np.uint8)  # paper, minor, major
    image[:] = np.tile(palette[0], (frame.width, 1))  # a whole row broadcasts ~40x faster than 3 bytes
    mask_row = np.where(col_level > 0, MASK_GRID_VERTICAL, 0).astype(np.uint8)
    inside = np.zeros(frame.width, bool)
    inside[x_lo:x_hi] = True
    image[y_lo:y_hi] = palette[col_level]
    mask[y_lo:y_hi] = mask_row
    for level in (1, 2):
        rows = np.flatnonzero(row_level == level)
        template = palette[np.where(inside, np.maximum(col_level, level), 0)]
        image[rows] = template
        mask[rows] = mask_row | np.where(inside, MASK_GRID_HORIZONTAL, 0).astype(np.uint8)
    return {"minor_px": minor_w if settings.minor_grid else 0, "major_px": major_w}


# ---------------------------------------------------------------------------------------- traces
@functools.lru_cache(maxsize=1)
def _aa_widths() -> tuple[float, ...]:
    """Measured width (px, summed coverage across a horizontal stroke) of ``cv2.LINE_AA`` strokes
    of thickness 1..16: OpenCV only draws a few distinct widths, so they are measured, not assumed."""
    widths = []
    for t in range(1, 17):
        buf = np.zeros((64, 64), np.uint8)
        cv2.line(buf, (4 * 16, 32 * 16), (60 * 16, 32 * 16), 255, t, cv2.LINE_AA, SHIFT_BITS)
        widths.append(float(buf[:, 32].sum()) / 255.0)
    return tuple(widths)


def trace_thickness(width_px: float) -> tuple[int, float]:
    """OpenCV thickness whose drawn anti-aliased width is nearest to ``width_px``.

    Returns
    -------
    (thickness, drawn_width_px)
    """
    widths = _aa_widths()
    best = min(range(len(widths)), key=lambda i: (abs(widths[i] - width_px), i))
    return best + 1, widths[best]


def valid_runs(points: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges of consecutive finite rows of ``points`` with at least 2 rows."""
    ok = np.isfinite(points).all(axis=1)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.view(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 2]


def rasterise_polylines(
    polylines: list[np.ndarray], thickness: int, shape: tuple[int, int]
) -> tuple[np.ndarray, int, int] | None:
    """Anti-aliased coverage of open polylines, in a buffer just large enough to hold them.

    Parameters
    ----------
    polylines
        ``[n_i, 2]`` float (x, y) arrays already on the 1/16 px grid, each at least 2 points.
    thickness
        OpenCV line thickness.
    shape
        ``(height, width)`` of the page; the buffer is clipped to it.

    Returns
    -------
    (coverage, x_off, y_off) or None
        uint8 coverage whose pixel ``[0, 0]`` is page pixel ``(x_off, y_off)``; None if nothing of
        the polylines falls on the page.
    """
    if not polylines:
        return None
    allpts = np.concatenate(polylines)
    pad = thickness + 2
    x_off = max(math.floor(allpts[:, 0].min()) - pad, 0)
    y_off = max(math.floor(allpts[:, 1].min()) - pad, 0)
    x_end = min(math.ceil(allpts[:, 0].max()) + pad + 1, shape[1])
    y_end = min(math.ceil(allpts[:, 1].max()) + pad + 1, shape[0])
    if x_end <= x_off or y_end <= y_off:
        return None
    buf = np.zeros((y_end - y_off, x_end - x_off), np.uint8)
    offset = np.array([x_off, y_off], np.float64)
    fixed = [np.round((p - offset) * _SUBPIXEL).astype(np.int32) for p in polylines]
    cv2.polylines(buf, fixed, False, 255, thickness, cv2.LINE_AA, SHIFT_BITS)
    return buf, x_off, y_off


def quantise(points: np.ndarray) -> np.ndarray:
    """Round coordinates to the 1/16 px grid OpenCV draws on (NaN stays NaN)."""
    return np.round(points * _SUBPIXEL) / _SUBPIXEL


class _Ink:
    """Page-wide coverage and per-lead instance buffers, merged stroke by stroke."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.coverage = np.zeros(shape, np.uint8)  # max coverage of every stroke (image and class 4)
        self.lead_coverage = np.zeros(shape, np.uint8)  # max coverage of lead strokes only
        self.leads = np.zeros(shape, np.uint8)

    def add(self, stroke: tuple[np.ndarray, int, int] | None, instance: int = 0) -> None:
        if stroke is None:
            return
        buf, x0, y0 = stroke
        sl = np.s_[y0 : y0 + buf.shape[0], x0 : x0 + buf.shape[1]]
        np.maximum(self.coverage[sl], buf, out=self.coverage[sl])
        if instance:
            best = self.lead_coverage[sl]
            wins = (buf > best) & (buf >= TRACE_THRESHOLD)  # strictly larger: ties keep the lower lead
            np.copyto(self.leads[sl], np.uint8(instance), where=wins)
            np.maximum(best, buf, out=best)


def _blend(image: np.ndarray, coverage: np.ndarray, rgb: tuple[int, int, int]) -> None:
    """Darken ``image`` towards ``rgb`` by ``coverage`` in place: ``paper * (1 - c) + ink * c``.

    Only inked pixels (a few % of the page) are touched: their indices come from a boolean mask,
    for which NumPy's ``flatnonzero`` is ~6x faster than on the uint8 coverage itself.
    """
    flat_cov = coverage.reshape(-1)
    idx = np.flatnonzero(flat_cov != 0)
    pixels = image.reshape(-1, 3)
    alpha = flat_cov[idx].astype(np.float32)[:, None] / 255.0
    paper = pixels[idx].astype(np.float32)
    ink = np.asarray(rgb, np.float32)[None, :]
    pixels[idx] = np.round(paper + (ink - paper) * alpha).astype(np.uint8)


def calibration_pulse(
    frame: PageFrame, row: int, settings: RenderSettings, first_point: np.ndarray | None = None
) -> np.ndarray:
    """Polyline of the 1 mV x 200 ms pulse at the start of ``row``: 1 mm of baseline each side,
    from the grid's left edge, ending 1 mm before the first sample (so no stroke joins a lead's).

    With ``first_point`` (the row's first plotted sample, ``(x, y)``), the pulse is drawn as
    ecg-image-kit draws it: its falling edge at that sample's x, running down (or up) to it, so
    the row's trace starts on the edge.
    """
    ppm = frame.px_per_mm
    y = frame.baseline_y(row)
    top = y - settings.gain_mm_per_mv * ppm
    wide = 0.2 * settings.speed_mm_per_s * ppm
    if first_point is not None:
        x1, y1 = (float(v) for v in first_point)
        pts = [(x1 - wide - ppm, y), (x1 - wide, y), (x1 - wide, top), (x1, top), (x1, y1)]
        return quantise(np.array(pts, np.float64))
    x = frame.grid_x0
    pts = [
        (x, y),
        (x + ppm, y),
        (x + ppm, top),
        (x + ppm + wide, top),
        (x + ppm + wide, y),
        (x + 2 * ppm + wide, y),
    ]
    return quantise(np.array(pts, np.float64))


def _row_first_points(geometry: list[LeadGeometry], spec: LayoutSpec) -> dict[int, np.ndarray]:
    """Each row's first plotted sample ``(x, y)`` (rows whose first panel plotted nothing: none)."""
    first: dict[int, np.ndarray] = {}
    for panel, geo in zip(spec.panels, geometry, strict=True):
        if panel.column != 0 or panel.row in first:
            continue
        ok = np.flatnonzero(np.isfinite(geo.points).all(axis=1))
        if ok.size and ok[0] == 0:
            first[panel.row] = geo.points[0]
    return first


# ------------------------------------------------------------------------------------------ text
def _put_text(image: np.ndarray, text: str, x: float, y: float, height_px: float) -> None:
    """Write ``text`` with its baseline-left corner at (x, y), about ``height_px`` tall."""
    scale = height_px / 22.0  # HERSHEY_SIMPLEX capitals are ~22 px tall at scale 1
    thick = max(1, round(scale * 1.6))
    cv2.putText(image, text, (round(x), round(y)), _FONT, scale, _TEXT_RGB, thick, cv2.LINE_AA)


def header_text(recording: Recording, settings: RenderSettings) -> str:
    """One header line: id, date, age/sex, speed, gain, sampling rate."""
    meta = recording.meta
    parts = [f"ID: {recording.record_id}"]
    date = meta.get("date") or meta.get("base_date")
    if date:
        parts.append(f"Date: {date}")
    if meta.get("age") is not None:
        parts.append(f"Age: {meta['age']:g}" if isinstance(meta["age"], float) else f"Age: {meta['age']}")
    if meta.get("sex"):
        parts.append(f"Sex: {meta['sex']}")
    parts.append(
        f"{settings.speed_mm_per_s:g} mm/s   {settings.gain_mm_per_mv:g} mm/mV   {recording.fs:g} Hz"
    )
    return "    ".join(parts)


# ---------------------------------------------------------------------------------------- window
def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator | None:
    return np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng


def select_window(
    recording: Recording,
    leads: tuple[str, ...],
    duration_s: float,
    rng: np.random.Generator | int | None = None,
    window_start_s: float | None = None,
) -> tuple[np.ndarray, int]:
    """The ``[len(leads), n]`` float64 window of the record the page shows, and its first sample.

    ``n = round(duration_s * fs)``. A longer record gets a window starting at ``window_start_s``,
    else at a sample drawn from ``rng``, else at 0. Samples past the record's end and leads the
    record lacks are NaN.
    """
    fs = recording.fs
    n_need = max(2, round(duration_s * fs))
    n = recording.n_samples
    if window_start_s is not None:
        start = round(float(window_start_s) * fs)
        if not 0 <= start < n:
            raise RecordError(
                f"record {recording.record_id!r}: window start {window_start_s!r} s is outside the "
                f"record (0..{recording.duration:g} s)"
            )
    else:
        generator = _as_rng(rng)
        start = int(generator.integers(0, n - n_need + 1)) if generator is not None and n > n_need else 0
    window = np.full((len(leads), n_need), np.nan)
    stop = min(start + n_need, n)
    index = {name: i for i, name in enumerate(recording.leads)}
    for row, lead in enumerate(leads):
        if lead in index:
            window[row, : stop - start] = recording.signal[index[lead], start:stop]
    return window, start


# ---------------------------------------------------------------------------------------- render
def render_page(
    recording: Recording,
    settings: RenderSettings | Mapping[str, Any] | None = None,
    *,
    rng: np.random.Generator | int | None = None,
    window_start_s: float | None = None,
) -> Page:
    """Render ``recording`` on ECG paper.

    Parameters
    ----------
    recording
        Any record: any sampling rate, 1..12+ leads (the layout picks the leads it shows).
    settings
        :class:`RenderSettings` or a plain dict of them; None uses the defaults (3x4+1, A4, 200 DPI).
    rng
        Generator (or seed) choosing the window of a record longer than the page; None takes the
        first window.
    window_start_s
        Start of the window in seconds (wins over ``rng``).

    Returns
    -------
    Page
        Image, masks, per-panel geometry and the plotted signal (NaN where nothing was drawn), with
        an identity homography.

    Raises
    ------
    LeadError
        If the layout needs leads the record lacks and ``allow_missing_leads`` is false.
    RecordError
        If ``window_start_s`` lies outside the record.
    """
    if settings is None:
        settings = RenderSettings()
    elif isinstance(settings, Mapping):
        settings = RenderSettings.from_dict(settings)
    spec = layout_spec(settings.layout, settings.row_duration_s, recording.leads, settings.rhythm_leads)
    missing = check_layout_leads(
        spec,
        recording.leads,
        allow_missing=settings.allow_missing_leads,
        where=f"record {recording.record_id!r}",
    )
    window, start = select_window(recording, spec.leads, spec.duration_s, rng, window_start_s)
    frame = page_frame(settings, spec.n_rows)
    shape = (frame.height, frame.width)
    image = np.empty((*shape, 3), np.uint8)
    mask = np.zeros(shape, np.uint8)
    grid_px = draw_grid(image, mask, frame, settings)
    thickness, drawn_width = trace_thickness(
        settings.trace_width_px
        if settings.trace_width_px is not None
        else settings.trace_width_mm * frame.px_per_mm
    )
    ink = _Ink(shape)
    plotted = np.full(window.shape, np.nan, np.float32)
    geometry = _draw_panels(spec, window, recording.fs, frame, settings, thickness, ink, plotted)
    calibration = []
    if settings.calibration_pulse:
        joined = _row_first_points(geometry, spec) if settings.pulse_joined else {}
        for row in range(spec.n_rows):
            pulse = calibration_pulse(frame, row, settings, joined.get(row))
            ink.add(rasterise_polylines([pulse], thickness, shape))
            calibration.append([float(v) for v in (*pulse.min(axis=0), *pulse.max(axis=0))])
    _draw_text(image, recording, spec, geometry, frame, settings)
    _blend(image, ink.coverage, settings.trace_rgb)
    np.copyto(mask, np.uint8(MASK_TRACE), where=ink.coverage >= TRACE_THRESHOLD)
    meta = {
        "layout": spec.name,
        "paper": settings.paper,
        "dpi": settings.dpi,
        "settings": settings.to_dict(),
        "window_start_sample": start,
        "source_n_samples": recording.n_samples,
        "missing_leads": list(missing),
        "flat_size": [frame.width, frame.height],
        "px_per_mm": frame.px_per_mm,
        "grid_origin_px": [frame.grid_x0, frame.grid_y0],
        "grid_size_mm": [frame.grid_mm_x, frame.grid_mm_y],
        "grid_line_px": grid_px,
        "trace_thickness": thickness,
        "trace_width_px": drawn_width,
        "calibration_boxes": calibration,
        "damage": [],
    }
    return Page(
        image=image,
        mask=mask,
        leads=ink.leads,
        geometry=geometry,
        signal=plotted,
        lead_names=spec.leads,
        fs=recording.fs,
        record_id=recording.record_id,
        meta=meta,
    )


def _draw_panels(
    spec: LayoutSpec,
    window: np.ndarray,
    fs: float,
    frame: PageFrame,
    settings: RenderSettings,
    thickness: int,
    ink: _Ink,
    plotted: np.ndarray,
) -> list[LeadGeometry]:
    """Draw every panel's trace into ``ink``, fill ``plotted``; return the panels' geometry.

    Panels are drawn in lead order (then row, column) so that overlap ties go to the lower lead.
    """
    ppm = frame.px_per_mm
    px_per_s = ppm * settings.speed_mm_per_s
    px_per_mv = ppm * settings.gain_mm_per_mv
    lead_index = {lead: i for i, lead in enumerate(spec.leads)}
    n = window.shape[1]
    order = sorted(spec.panels, key=lambda p: (lead_index[p.lead], p.row, p.column))
    geometry: dict[Panel, LeadGeometry] = {}
    for panel in order:
        k = lead_index[panel.lead]
        s0 = min(round(panel.start_s * fs), n)
        s1 = n if panel.rhythm else min(round(panel.stop_s * fs), n)
        values = window[k, s0:s1]
        baseline = frame.baseline_y(panel.row)
        x0 = frame.trace_x0 + s0 / fs * px_per_s
        xs = frame.trace_x0 + np.arange(s0, s1) / fs * px_per_s
        points = quantise(np.column_stack([xs, baseline - values * px_per_mv]))
        runs = valid_runs(points)
        drawn = np.zeros(len(points), bool)
        for a, b in runs:
            drawn[a:b] = True
        points[~drawn] = np.nan
        plotted[k, s0:s1][drawn] = values[drawn]
        ink.add(rasterise_polylines([points[a:b] for a, b in runs], thickness, ink.coverage.shape), k + 1)
        top = frame.row_top(panel.row)
        bbox = (x0, top, frame.trace_x0 + s1 / fs * px_per_s, top + frame.row_pitch_mm * ppm)
        geometry[panel] = LeadGeometry(
            name=panel.lead,
            index=k,
            bbox=tuple(float(v) for v in bbox),
            start_sample=int(s0),
            stop_sample=int(s1),
            fs=float(fs),
            x0=float(x0),
            baseline_y=float(baseline),
            px_per_mm_x=ppm,
            px_per_mm_y=ppm,
            gain_mm_per_mv=settings.gain_mm_per_mv,
            speed_mm_per_s=settings.speed_mm_per_s,
            points=points,
        )
    if settings.connect_panels:
        _connect_panels(spec, geometry, thickness, ink)
    return [geometry[p] for p in spec.panels]  # layout order: row by row, left to right


def _connect_panels(spec: LayoutSpec, geometry: dict[Panel, LeadGeometry], thickness: int, ink: _Ink) -> None:
    """The vertical step between consecutive panels of a row (one lead's last point, the next's first)."""
    for row in {p.row for p in spec.panels}:
        panels = sorted((p for p in spec.panels if p.row == row and not p.rhythm), key=lambda p: p.column)
        for left, right in itertools.pairwise(panels):
            a, b = geometry[left].points, geometry[right].points
            a, b = a[np.isfinite(a).all(axis=1)], b[np.isfinite(b).all(axis=1)]
            if len(a) and len(b):
                ink.add(rasterise_polylines([np.stack([a[-1], b[0]])], thickness, ink.coverage.shape))


def _draw_text(
    image: np.ndarray,
    recording: Recording,
    spec: LayoutSpec,
    geometry: list[LeadGeometry],
    frame: PageFrame,
    settings: RenderSettings,
) -> None:
    """Lead labels near each panel's start, lead separators, and the header line in the top margin."""
    ppm = frame.px_per_mm
    size = settings.label_size_mm * ppm
    for panel, geo in zip(spec.panels, geometry, strict=True):
        if settings.lead_separators and panel.column:
            half = min(0.5 * settings.separator_height_mm, 0.15 * frame.row_pitch_mm) * ppm
            x = round(geo.x0)
            thick = max(1, round(settings.separator_width_mm * ppm))
            top, bottom = round(geo.baseline_y - half), round(geo.baseline_y + half)
            cv2.line(image, (x, top), (x, bottom), _TEXT_RGB, thick)
        if not settings.lead_labels:
            continue
        x = geo.x0 + (0.5 * ppm if panel.column else 0.0)
        if settings.label_position == "below":  # top of the capitals ~0.5 mm under the baseline
            y = geo.baseline_y + 0.5 * ppm + size
        elif settings.label_position == "on":
            y = geo.baseline_y + 0.5 * size
        elif settings.label_position == "kit":  # ecg-image-kit: foot 0.7 mV down, at the first sample
            x = geo.x0 + (0.2 * ppm if panel.column else 0.0)
            y = geo.baseline_y + 7.0 * ppm
        else:
            y = geo.baseline_y - min(0.3 * frame.row_pitch_mm, 12.0) * ppm
        _put_text(image, panel.lead, x, y, size)
    if settings.header and settings.margin_top_mm >= 6:
        y = frame.grid_y0 - 0.35 * settings.margin_top_mm * ppm
        _put_text(image, header_text(recording, settings), frame.grid_x0, y, 3.0 * ppm)
