"""Where each lead goes on an ECG page: rows, columns and the time span of every panel.

A layout is described in time only; :mod:`ecglab.synth.render` turns it into pixels. Columns are
consecutive in time, as a 12-lead electrocardiograph prints them: in ``3x4`` column ``c`` of a
10 s page shows seconds ``2.5c .. 2.5(c + 1)`` of every lead in that column, so the x position on
the page is always the time since the window start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ecglab.errors import ConfigError, LeadError
from ecglab.io.leads import STANDARD_12
from ecglab.synth.settings import LAYOUT_NAMES

_ROWS_3X4 = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
_RHYTHM = {"3x4": (), "3x4+1": ("II",), "3x4+3": ("II", "V1", "V5")}
_COLUMNS_6X2 = (("I", "II", "III", "aVR", "aVL", "aVF"), ("V1", "V2", "V3", "V4", "V5", "V6"))
_HOLTER_LEADS = {"2x1": 2, "1x1": 1}


@dataclass(frozen=True)
class Panel:
    """One lead drawn on one stretch of one row.

    Attributes
    ----------
    lead
        Canonical lead name.
    row, column
        Row from the top (0-based) and column from the left (0 for a full-width strip).
    start_s, stop_s
        Seconds since the window start shown by the panel (half-open).
    rhythm
        True for a full-width rhythm strip.
    """

    lead: str
    row: int
    column: int
    start_s: float
    stop_s: float
    rhythm: bool = False


@dataclass(frozen=True)
class LayoutSpec:
    """A page layout resolved for a given duration.

    Attributes
    ----------
    name
        Layout name (see :data:`ecglab.synth.settings.LAYOUT_NAMES`).
    n_rows
        Number of rows on the page.
    duration_s
        Seconds of signal the page shows (the width of a full row).
    panels
        Every panel, row by row, left to right.
    leads
        The page's leads in output order (rows of ``Page.signal``): the standard 12 for the 12-lead
        layouts, the record's first leads for the Holter strips.
    """

    name: str
    n_rows: int
    duration_s: float
    panels: tuple[Panel, ...]
    leads: tuple[str, ...]


def layout_spec(
    name: str,
    duration_s: float = 10.0,
    record_leads: Sequence[str] = STANDARD_12,
    rhythm_leads: Sequence[str] | None = None,
) -> LayoutSpec:
    """The panels of layout ``name`` for a page showing ``duration_s`` seconds.

    Parameters
    ----------
    name
        ``3x4``, ``3x4+1``, ``3x4+3``, ``6x2``, ``12x1``, ``2x1`` or ``1x1``.
    duration_s
        Seconds shown by a full row.
    record_leads
        The record's leads; only the Holter strips (``2x1``, ``1x1``) use them (their first one or
        two leads, whatever their names).
    rhythm_leads
        The rhythm strips' leads (``3x4+1``, ``3x4+3``) where they differ from the default (II; II,
        V1, V5), top to bottom.

    Returns
    -------
    LayoutSpec

    Examples
    --------
    >>> spec = layout_spec("3x4+1")
    >>> [(p.lead, p.row, p.column, p.start_s) for p in spec.panels[:2]]
    [('I', 0, 0, 0.0), ('aVR', 0, 1, 2.5)]
    """
    if name not in LAYOUT_NAMES:
        raise ConfigError(f"unknown layout {name!r} (choose one of {', '.join(LAYOUT_NAMES)})")
    if not duration_s > 0:
        raise ConfigError(f"layout {name}: duration must be > 0 s, got {duration_s!r}")
    d = float(duration_s)
    panels: list[Panel] = []
    if name in _RHYTHM:
        quarter = d / 4
        for r, row in enumerate(_ROWS_3X4):
            panels += [Panel(lead, r, c, c * quarter, (c + 1) * quarter) for c, lead in enumerate(row)]
        strips = tuple(rhythm_leads) if rhythm_leads is not None else _RHYTHM[name]
        if len(strips) != len(_RHYTHM[name]) or not set(strips) <= set(STANDARD_12):
            raise ConfigError(
                f"layout {name}: rhythm leads {list(strips)} do not fit its {len(_RHYTHM[name])} strip(s)"
            )
        panels += [Panel(lead, 3 + i, 0, 0.0, d, rhythm=True) for i, lead in enumerate(strips)]
        leads = STANDARD_12
    elif name == "6x2":
        half = d / 2
        for c, column in enumerate(_COLUMNS_6X2):
            panels += [Panel(lead, r, c, c * half, (c + 1) * half) for r, lead in enumerate(column)]
        panels.sort(key=lambda p: (p.row, p.column))
        leads = STANDARD_12
    elif name == "12x1":
        panels = [Panel(lead, r, 0, 0.0, d, rhythm=True) for r, lead in enumerate(STANDARD_12)]
        leads = STANDARD_12
    else:
        if not record_leads:
            raise LeadError(f"layout {name}: the record has no leads")
        leads = tuple(record_leads[: _HOLTER_LEADS[name]])
        panels = [Panel(lead, r, 0, 0.0, d, rhythm=True) for r, lead in enumerate(leads)]
    n_rows = max(p.row for p in panels) + 1
    return LayoutSpec(name=name, n_rows=n_rows, duration_s=d, panels=tuple(panels), leads=leads)


def missing_leads(spec: LayoutSpec, record_leads: Sequence[str]) -> tuple[str, ...]:
    """Leads of ``spec`` that ``record_leads`` lacks, in page order."""
    present = set(record_leads)
    return tuple(lead for lead in spec.leads if lead not in present)


def check_layout_leads(
    spec: LayoutSpec, record_leads: Sequence[str], *, allow_missing: bool = False, where: str = ""
) -> tuple[str, ...]:
    """Return the layout's missing leads, or raise ``LeadError`` naming them.

    Parameters
    ----------
    spec
        The layout.
    record_leads
        Leads of the record to draw.
    allow_missing
        Return the missing leads (they are left blank) instead of raising.
    where
        Prefix of the error message (the record id).
    """
    missing = missing_leads(spec, record_leads)
    if missing and not allow_missing:
        prefix = f"{where}: " if where else ""
        raise LeadError(
            f"{prefix}layout {spec.name} needs lead(s) {', '.join(missing)} that the record lacks "
            f"(it has {', '.join(record_leads)}; set allow_missing_leads to leave them blank)"
        )
    return missing
