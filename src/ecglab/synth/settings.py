"""Options of the ECG paper renderer, with defaults and one-line validation errors.

:class:`RenderSettings` is a plain dataclass so that the CLI can build it from the ``render`` section
of ``configs/synth.yaml`` (``RenderSettings.from_dict(OmegaConf.to_container(cfg.render))``). Every
invalid value raises :class:`~ecglab.errors.ConfigError` naming the key, the value and what is
allowed; an unknown key gets a did-you-mean.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecglab.errors import ConfigError
from ecglab.io.leads import STANDARD_12

#: Paper sizes in millimetres, landscape (width, height).
PAPER_SIZES_MM: dict[str, tuple[float, float]] = {"a4": (297.0, 210.0), "letter": (279.4, 215.9)}

#: Layout names understood by :func:`ecglab.synth.layouts.layout_spec`.
LAYOUT_NAMES: tuple[str, ...] = ("3x4", "3x4+1", "3x4+3", "6x2", "12x1", "2x1", "1x1")
#: Rhythm strips under the 3x4 grid, per layout.
RHYTHM_STRIPS: dict[str, int] = {"3x4+1": 1, "3x4+3": 3}

#: Grid colour schemes: RGB of paper, minor lines and major lines. ``bw`` prints no grid at all.
#: Where lead names may sit relative to the baseline (see ``RenderSettings.label_position``).
LABEL_POSITIONS: tuple[str, ...] = ("above", "below", "on", "kit")

GRID_COLORS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]] | None] = {
    "red": ((255, 255, 255), (246, 190, 190), (226, 110, 110)),
    "pink": ((255, 246, 248), (248, 205, 218), (232, 140, 170)),
    "green": ((250, 255, 250), (185, 228, 185), (100, 178, 100)),
    "blue": ((250, 252, 255), (192, 212, 242), (110, 150, 220)),
    "grey": ((255, 255, 255), (214, 214, 214), (150, 150, 150)),
    # ecg-image-kit's random grid colours (its handwritten-text samples): minor lines as dark as a
    # pen, in another hue than the major ones.
    "navy": ((206, 226, 220), (25, 66, 100), (9, 110, 77)),
    "brown": ((227, 220, 215), (116, 80, 54), (66, 64, 107)),
    "bw": None,
}

#: Named trace colours (RGB); a trace colour may also be an ``[r, g, b]`` list of 0..255 integers.
TRACE_COLORS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "darkblue": (10, 20, 90),
    "blue": (20, 40, 170),
    "darkgrey": (60, 60, 60),
}

#: Paper speeds (mm/s) and gains (mm/mV) printed on real ECGs.
SPEEDS_MM_PER_S: tuple[float, ...] = (12.5, 25.0, 50.0)
GAINS_MM_PER_MV: tuple[float, ...] = (2.5, 5.0, 10.0, 20.0)


@dataclass
class RenderSettings:
    """Everything the renderer needs to know besides the recording.

    Attributes
    ----------
    layout
        One of :data:`LAYOUT_NAMES`: ``3x4`` (rows I/aVR/V1/V4, II/aVL/V2/V5, III/aVF/V3/V6, each
        column a quarter of the page duration, consecutive in time), ``3x4+1`` (plus a rhythm strip
        of II), ``3x4+3`` (rhythm strips II, V1, V5), ``6x2``, ``12x1``, ``2x1`` (Holter strip: the
        record's first two leads over the whole width) and ``1x1`` (the first lead).
    rhythm_leads
        The rhythm strips' leads of ``3x4+1`` / ``3x4+3``, top to bottom, where the printer's
        choice differs from the default (II; II, V1, V5), e.g. ``[V1, II, V5]``.
    paper
        ``a4`` or ``letter``, always landscape.
    dpi
        Dots per inch of the image (0 < dpi ≤ 1200).
    speed_mm_per_s, gain_mm_per_mv
        Paper speed (12.5, 25 or 50 mm/s) and gain (2.5, 5, 10 or 20 mm/mV).
    duration_s
        Seconds shown by a full-width row; ``None`` gives 250 mm of paper (10 s at 25 mm/s, 5 s at
        50 mm/s).
    margin_left_mm, margin_right_mm, margin_top_mm, margin_bottom_mm
        Blank paper around the grid; the header text sits in the top margin.
    grid_color
        One of :data:`GRID_COLORS` (``bw``: black-and-white paper without grid).
    minor_grid
        Print the 1 mm lines (the 5 mm lines are always printed unless ``grid_color`` is ``bw``).
    grid_minor_width_mm, grid_major_width_mm
        Grid line widths, rounded to whole pixels (at least 1).
    trace_width_mm, trace_width_px
        Trace width; ``trace_width_px`` wins when given. OpenCV's anti-aliased lines come in a few
        widths (about 1.4, 3.5, 5.5, 7.5 px), the nearest one is used (see ``Page.meta``).
    trace_color
        A name of :data:`TRACE_COLORS` or ``[r, g, b]``.
    calibration_pulse
        Draw a 1 mV x 200 ms pulse at the start of each row.
    pulse_joined
        Draw the pulse as ecg-image-kit does: its falling edge runs into the row's first sample, so
        the trace starts on it (otherwise the pulse ends on the baseline 1 mm before the trace).
    lead_labels
        Write each panel's lead name near its start.
    label_position
        Where a lead name sits relative to its panel's baseline: ``above`` (clear of the trace),
        ``below`` (its top just under the baseline at the panel start, so the trace runs over the
        glyphs), ``on`` (centred on the baseline) or ``kit`` (ecg-image-kit's place: the glyphs'
        foot 7 mm under the baseline at the panel's first sample, just below a separator bar, which
        a trace read down the bar runs into; measured on ``images/cinc2024_ptbxl``).
    label_size_mm
        Height of the lead names' capitals.
    lead_separators
        Draw a short vertical bar at the start of every panel after a row's first (ecg-image-kit's
        lead separators); like text, it belongs to no mask class.
    separator_height_mm, separator_width_mm
        Total height (centred on the baseline, at most 30 % of the row pitch) and line width of the
        separator bars.
    connect_panels
        Join consecutive panels of a row with the vertical step from one lead's last sample to the
        next lead's first, as ecg-image-kit plots a row as one line (trace ink in the trace mask
        class, in no lead's mask).
    header
        Write one header line (record id, date, age/sex, speed/gain/fs) in the top margin.
    allow_missing_leads
        A layout lead the record lacks is left blank (NaN) instead of raising ``LeadError``.
    """

    layout: str = "3x4+1"
    rhythm_leads: list[str] | None = None
    paper: str = "a4"
    dpi: float = 200.0
    speed_mm_per_s: float = 25.0
    gain_mm_per_mv: float = 10.0
    duration_s: float | None = None
    margin_left_mm: float = 8.0
    margin_right_mm: float = 8.0
    margin_top_mm: float = 18.0
    margin_bottom_mm: float = 8.0
    grid_color: str = "red"
    minor_grid: bool = True
    grid_minor_width_mm: float = 0.1
    grid_major_width_mm: float = 0.2
    trace_width_mm: float = 0.4
    trace_width_px: float | None = None
    trace_color: Any = "black"
    calibration_pulse: bool = True
    pulse_joined: bool = False
    lead_labels: bool = True
    label_position: str = "above"
    label_size_mm: float = 2.5
    lead_separators: bool = False
    separator_height_mm: float = 4.0
    separator_width_mm: float = 0.25
    connect_panels: bool = False
    header: bool = True
    allow_missing_leads: bool = False

    def __post_init__(self) -> None:
        self._check_types()
        self._check_values()

    # ------------------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> RenderSettings:
        """Settings from a plain mapping (unknown keys raise ``ConfigError`` with a did-you-mean).

        Parameters
        ----------
        values
            Key → value, e.g. the ``render`` section of ``configs/synth.yaml`` converted with
            ``OmegaConf.to_container``; None or empty gives the defaults.
        """
        if values is None:
            return cls()
        if not isinstance(values, Mapping):
            raise ConfigError(f"render settings must be a mapping of key: value, got {type(values).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ConfigError(f"render: unknown key '{key}' ({hint}valid keys: {', '.join(known)})")
        kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the settings (the inverse of :meth:`from_dict`)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if isinstance(out["trace_color"], (list, tuple)):
            out["trace_color"] = [int(c) for c in out["trace_color"]]
        return out

    # -------------------------------------------------------------------------- derived values
    @property
    def paper_size_mm(self) -> tuple[float, float]:
        """(width, height) of the landscape paper in mm."""
        return PAPER_SIZES_MM[self.paper]

    @property
    def px_per_mm(self) -> float:
        """Pixels per millimetre of paper."""
        return float(self.dpi) / 25.4

    @property
    def row_duration_s(self) -> float:
        """Seconds shown by a full-width row."""
        return float(self.duration_s) if self.duration_s is not None else 250.0 / self.speed_mm_per_s

    @property
    def lead_in_mm(self) -> float:
        """Paper between the grid's left edge and the first sample: room for the calibration pulse.

        1 mm of baseline, the 200 ms pulse, 1 mm of baseline and 1 mm of space, so that the trace
        starts at the same place whether or not the pulse is drawn.
        """
        return 3.0 + 0.2 * self.speed_mm_per_s

    @property
    def trace_rgb(self) -> tuple[int, int, int]:
        """Trace colour as an RGB tuple."""
        if isinstance(self.trace_color, str):
            return TRACE_COLORS[self.trace_color]
        r, g, b = (int(c) for c in self.trace_color)
        return (r, g, b)

    # ------------------------------------------------------------------------------ validation
    def _check_types(self) -> None:
        floats = (
            "dpi", "speed_mm_per_s", "gain_mm_per_mv", "margin_left_mm", "margin_right_mm",
            "margin_top_mm", "margin_bottom_mm", "grid_minor_width_mm", "grid_major_width_mm",
            "trace_width_mm", "label_size_mm", "separator_height_mm", "separator_width_mm",
        )  # fmt: skip
        for name in (*floats, "duration_s", "trace_width_px"):
            value = getattr(self, name)
            if value is None and name in ("duration_s", "trace_width_px"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"render.{name}: expected a number, got {value!r}")
            setattr(self, name, float(value))
        flags = (
            "minor_grid", "calibration_pulse", "pulse_joined", "lead_labels", "lead_separators",
            "connect_panels", "header",
        )  # fmt: skip
        for name in (*flags, "allow_missing_leads"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"render.{name}: expected true or false, got {getattr(self, name)!r}")
        for name in ("layout", "paper", "grid_color", "label_position"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"render.{name}: expected a string, got {getattr(self, name)!r}")

    def _check_values(self) -> None:
        _check_choice("layout", self.layout, LAYOUT_NAMES)
        _check_choice("paper", self.paper, tuple(PAPER_SIZES_MM))
        _check_choice("grid_color", self.grid_color, tuple(GRID_COLORS))
        _check_choice("label_position", self.label_position, LABEL_POSITIONS)
        if not (0 < self.separator_height_mm <= 30 and 0 < self.separator_width_mm <= 3):
            raise ConfigError(
                f"render.separator_height_mm / separator_width_mm: must be in (0, 30] / (0, 3] mm, got "
                f"{self.separator_height_mm:g} / {self.separator_width_mm:g}"
            )
        if not 0.5 <= self.label_size_mm <= 10:
            raise ConfigError(f"render.label_size_mm: must be in [0.5, 10], got {self.label_size_mm:g}")
        if not 0 < self.dpi <= 1200:
            raise ConfigError(f"render.dpi: must be > 0 and <= 1200, got {self.dpi:g}")
        if self.speed_mm_per_s not in SPEEDS_MM_PER_S:
            raise ConfigError(
                f"render.speed_mm_per_s: {self.speed_mm_per_s:g} is not a paper speed "
                f"(choose {', '.join(f'{s:g}' for s in SPEEDS_MM_PER_S)})"
            )
        if self.gain_mm_per_mv not in GAINS_MM_PER_MV:
            raise ConfigError(
                f"render.gain_mm_per_mv: {self.gain_mm_per_mv:g} is not a gain "
                f"(choose {', '.join(f'{g:g}' for g in GAINS_MM_PER_MV)})"
            )
        for name in ("margin_left_mm", "margin_right_mm", "margin_top_mm", "margin_bottom_mm"):
            if getattr(self, name) < 0:
                raise ConfigError(f"render.{name}: must be >= 0, got {getattr(self, name):g}")
        for name in ("grid_minor_width_mm", "grid_major_width_mm", "trace_width_mm"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"render.{name}: must be > 0, got {getattr(self, name):g}")
        if self.trace_width_px is not None and not 0 < self.trace_width_px <= 50:
            raise ConfigError(f"render.trace_width_px: must be > 0 and <= 50, got {self.trace_width_px:g}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ConfigError(f"render.duration_s: must be > 0, got {self.duration_s:g}")
        self._check_trace_color()
        self._check_rhythm_leads()
        width_mm, height_mm = self.paper_size_mm
        usable_w = width_mm - self.margin_left_mm - self.margin_right_mm
        usable_h = height_mm - self.margin_top_mm - self.margin_bottom_mm
        needed = self.lead_in_mm + self.row_duration_s * self.speed_mm_per_s
        if needed > usable_w + 1e-9:
            raise ConfigError(
                f"render: {self.row_duration_s:g} s at {self.speed_mm_per_s:g} mm/s needs {needed:g} mm "
                f"but the {self.paper} paper leaves {usable_w:g} mm between the margins "
                "(shorten duration_s or the margins)"
            )
        if usable_h < 20:
            raise ConfigError(f"render: margins leave only {usable_h:g} mm of paper height (need >= 20 mm)")

    def _check_rhythm_leads(self) -> None:
        leads = self.rhythm_leads
        if leads is None:
            return
        strips = RHYTHM_STRIPS.get(self.layout, 0)
        if not strips:
            raise ConfigError(f"render.rhythm_leads: layout {self.layout} has no rhythm strip")
        if not isinstance(leads, (list, tuple)) or len(leads) != strips:
            raise ConfigError(
                f"render.rhythm_leads: layout {self.layout} has {strips} rhythm strip(s), got {leads!r}"
            )
        for lead in leads:
            if lead not in STANDARD_12:
                raise ConfigError(
                    f"render.rhythm_leads: {lead!r} is not a standard lead "
                    f"(choose from {', '.join(STANDARD_12)})"
                )
        self.rhythm_leads = list(leads)

    def _check_trace_color(self) -> None:
        color = self.trace_color
        if isinstance(color, str):
            _check_choice("trace_color", color, tuple(TRACE_COLORS))
            return
        ok = (
            isinstance(color, (list, tuple))
            and len(color) == 3
            and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)
        )
        if not ok:
            raise ConfigError(
                f"render.trace_color: expected a name ({', '.join(TRACE_COLORS)}) or [r, g, b] "
                f"integers 0..255, got {color!r}"
            )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            f"render.{name}: unknown value {value!r} ({hint}choose one of {', '.join(choices)})"
        )
