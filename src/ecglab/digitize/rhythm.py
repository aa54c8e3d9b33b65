"""Which lead a rhythm strip shows: the panel of the 3x4 grid it repeats.

A rhythm strip plots one lead over the whole page, so over the quarter where that lead's 2.5 s
panel sits in the 3x4 grid above it, the two traces are the same signal. Printers differ in
their choice (II; II, V1, V5; V1, II, V5 ...), so the strip's lead is read from the page rather
than assumed: each strip is compared with the twelve panels over their own quarters, and the
lead whose panel it repeats, clearly better than any other, names it.

The same test tells ``3x4+3`` from ``6x2`` (both six rows): only in ``3x4+3`` do rows 4-6 repeat
panels of rows 1-3. A ``6x2`` page has no lead twice; its closest look-alike (aVF under II)
differs by more than a repeated lead and keeps resembling the row above into the next quarter,
where a rhythm strip's panel has already changed lead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ecglab.synth.layouts import layout_spec

if TYPE_CHECKING:  # layout imports this module
    from ecglab.digitize.layout import PageLayout, PanelBox

#: A strip repeats a panel when their traces differ by less than this fraction of their RMS.
MATCH_ERROR = 0.25
#: ... and the next best panel differs by at least this factor more (an unambiguous match).
MATCH_MARGIN = 2.0
#: Traces flatter than this (RMS, mV) cannot be told apart by their shape.
MIN_RMS_MV = 0.02
#: Time shift allowed between a strip and a panel (rows are placed independently), seconds.
MAX_LAG_S = 0.04
#: Panel ends left out of the comparison (separator marks, pen lifts), seconds.
EDGE_S = 0.1


@dataclass(frozen=True)
class RhythmMatch:
    """The panel a rhythm row repeats.

    Attributes
    ----------
    row
        The rhythm row (page row index).
    lead
        Lead of the best-matching panel, or None when no panel matches unambiguously.
    error
        Its RMS difference over the RMS of the two traces (0: identical).
    runner_up
        The same for the second-best panel.
    """

    row: int
    lead: str | None
    error: float
    runner_up: float


def _segment(trace: np.ndarray, page: PageLayout, row: int, t0: float, t1: float, n: int) -> np.ndarray:
    """``n`` samples of ``row``'s trace (mV, median removed) over page seconds ``t0..t1``."""
    from ecglab.digitize.extract import track_row

    r = page.rows[row]
    x0 = int(np.floor(r.x_start + t0 * r.px_per_s))
    x1 = int(np.ceil(r.x_start + t1 * r.px_per_s)) + 1
    y, _ = track_row(trace, page, row, x0, x1)
    xs = r.x_start + np.linspace(t0, t1, n) * r.px_per_s - x0
    cols = np.arange(y.size)
    ok = np.isfinite(y)
    if ok.sum() < 0.5 * y.size:
        return np.full(n, np.nan)
    v = -np.interp(xs, cols[ok], y[ok]) / page.px_per_mv
    return v - np.median(v)


def _difference(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Smallest relative RMS difference of ``a`` and ``b`` (mV) over shifts of up to ``max_lag`` samples
    (inf where either is missing or both are nearly flat)."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    best = float("inf")
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(lag, 0) : a.size + min(lag, 0)]
        y = b[max(-lag, 0) : b.size + min(-lag, 0)]
        x, y = x - x.mean(), y - y.mean()
        scale = np.sqrt(0.5 * (np.mean(x**2) + np.mean(y**2)))
        if scale > MIN_RMS_MV:
            best = min(best, float(np.sqrt(np.mean((x - y) ** 2)) / scale))
    return best


def match_rhythm_rows(trace: np.ndarray, page: PageLayout, rows: list[int]) -> list[RhythmMatch]:
    """For each of ``rows``, the 3x4 panel (rows 0-2 of ``page``) it repeats.

    Parameters
    ----------
    trace
        ``[H, W]`` bool trace mask.
    page
        A :class:`~ecglab.digitize.layout.PageLayout` whose rows 0-2 are the 3x4 grid and whose rows
        carry ``x_start``/``px_per_s``.
    rows
        Candidate rhythm rows.

    Returns
    -------
    list of RhythmMatch
        One per row, ``lead`` None where no panel matches unambiguously.
    """
    spec = layout_spec("3x4", page.duration_s)
    quarter = page.duration_s / 4
    n = max(round((quarter - 2 * EDGE_S) * page.px_per_s), 8)
    max_lag = round(MAX_LAG_S * page.px_per_s)
    panels = {}
    for p in spec.panels:
        t0, t1 = p.start_s + EDGE_S, p.stop_s - EDGE_S
        panels[p.lead] = (t0, t1, _segment(trace, page, p.row, t0, t1, n))
    out = []
    for row in rows:
        strip = {
            span: _segment(trace, page, row, *span, n) for span in {(t0, t1) for t0, t1, _ in panels.values()}
        }
        errors = {lead: _difference(strip[t0, t1], seg, max_lag) for lead, (t0, t1, seg) in panels.items()}
        ranked = sorted(errors, key=errors.__getitem__)
        best, second = errors[ranked[0]], errors[ranked[1]]
        sure = best < MATCH_ERROR and second >= MATCH_MARGIN * best
        out.append(RhythmMatch(row, ranked[0] if sure else None, best, second))
    return out


def name_rhythm_strips(
    panels: list[PanelBox], matches: list[RhythmMatch]
) -> tuple[list[PanelBox], list[str]]:
    """Panels with each rhythm strip named after the panel it repeats.

    A strip with no unambiguous match, or one whose match another strip also claims, keeps the
    layout's default lead (the first default not taken by a matched strip).

    Parameters
    ----------
    panels
        :class:`~ecglab.digitize.layout.PanelBox` list of a layout with rhythm strips.
    matches
        :func:`match_rhythm_rows` for the rhythm rows.

    Returns
    -------
    (panels, notes)
        The renamed panels and what was read or assumed.
    """
    strips = [p for p in panels if p.rhythm]
    found = {m.row: m.lead for m in matches if m.lead is not None}
    claimed = list(found.values())
    found = {row: lead for row, lead in found.items() if claimed.count(lead) == 1}
    spare = [p.lead for p in strips if p.lead not in found.values()]
    names = {}
    for p in strips:
        names[p.row] = found[p.row] if p.row in found else spare.pop(0)
    notes = []
    read = [f"{names[p.row]} (row {p.row + 1})" for p in strips if p.row in found]
    assumed = [f"{names[p.row]} (row {p.row + 1})" for p in strips if p.row not in found]
    if read:
        notes.append("rhythm strip(s) read as " + ", ".join(read) + " (they repeat that lead's panel)")
    if assumed:
        notes.append("rhythm strip(s) assumed " + ", ".join(assumed) + " (no panel they clearly repeat)")
    return [replace(p, lead=names[p.row]) if p.rhythm else p for p in panels], notes
