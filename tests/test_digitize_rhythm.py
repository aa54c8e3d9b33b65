"""Rhythm strips named from the page, and calibration pulses joined to a row's trace.

Pages come from ``ecglab.synth.render_page`` of a simulated 12-lead record; pulse masks are drawn
here with OpenCV, thin, broken into dashes or tilted as a phone photo leaves them.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ecglab.digitize import digitize_image
from ecglab.digitize.layout import PanelBox, pulse_end
from ecglab.digitize.rhythm import RhythmMatch, name_rhythm_strips
from ecglab.errors import ConfigError
from ecglab.io.leads import STANDARD_12
from ecglab.signal.simulate import simulate_12lead
from ecglab.synth import RenderSettings, render_page
from ecglab.synth.layouts import layout_spec

DPI = 150.0


@pytest.fixture(scope="module")
def record():
    return simulate_12lead(seed=3, heart_rate=80)


def _rhythm_leads(result) -> list[str]:
    return [p.lead for p in result.layout.panels if p.rhythm]


@pytest.mark.parametrize(
    ("layout", "strips"),
    [("3x4+3", ["V1", "II", "V5"]), ("3x4+1", ["V2"]), ("3x4+1", None), ("3x4+3", None)],
)
def test_rhythm_strips_are_read_from_the_panels_they_repeat(record, layout, strips):
    page = render_page(record, RenderSettings(layout=layout, dpi=DPI, rhythm_leads=strips))
    result = digitize_image(page.image)
    expected = strips or [p.lead for p in layout_spec(layout).panels if p.rhythm]
    assert result.layout.name == layout
    assert _rhythm_leads(result) == expected
    assert any("rhythm strip(s) read as" in n for n in result.notes)
    # The strips land in their leads: each digitized strip lead follows the plotted signal.
    for lead in expected:
        k = STANDARD_12.index(lead)
        truth = page.signal[page.lead_names.index(lead)]
        got = result.signal[k]
        n = min(truth.size, got.size)
        ok = np.isfinite(truth[:n]) & np.isfinite(got[:n])
        assert ok.mean() > 0.9
        assert np.corrcoef(truth[:n][ok], got[:n][ok])[0, 1] > 0.9, lead


def test_six_rows_without_a_repeated_panel_are_6x2(record):
    page = render_page(record, RenderSettings(layout="6x2", dpi=DPI))
    result = digitize_image(page.image)
    assert result.layout.name == "6x2"
    assert not any(p.rhythm for p in result.layout.panels)


def _strips(leads: list[str]) -> list[PanelBox]:
    return [
        PanelBox(lead, 3 + i, 0, 0.0, 10.0, 0.0, 100.0, 50.0, rhythm=True) for i, lead in enumerate(leads)
    ]


def test_unmatched_or_disputed_strips_keep_the_default_leads():
    panels = _strips(["II", "V1", "V5"])
    matches = [
        RhythmMatch(3, "V1", 0.05, 0.4),
        RhythmMatch(4, None, 0.6, 0.7),
        RhythmMatch(5, None, 0.5, 0.6),
    ]
    named, notes = name_rhythm_strips(panels, matches)
    assert [p.lead for p in named] == ["V1", "II", "V5"]  # the defaults left over, in order
    assert any("read as V1 (row 4)" in n for n in notes) and any(
        "assumed II (row 5), V5 (row 6)" in n for n in notes
    )
    disputed = [
        RhythmMatch(3, "aVR", 0.1, 0.5),
        RhythmMatch(4, "aVR", 0.1, 0.5),
        RhythmMatch(5, "V5", 0.1, 0.5),
    ]
    named, _ = name_rhythm_strips(panels, disputed)
    assert [p.lead for p in named] == ["II", "V1", "V5"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"layout": "3x4", "rhythm_leads": ["II"]}, "has no rhythm strip"),
        ({"layout": "3x4+3", "rhythm_leads": ["II"]}, "has 3 rhythm strip"),
        ({"layout": "3x4+1", "rhythm_leads": ["V7"]}, "not a standard lead"),
    ],
)
def test_rhythm_leads_setting_is_validated(settings, message):
    with pytest.raises(ConfigError, match=message):
        RenderSettings.from_dict(settings)


# ----------------------------------------------------------------------------- calibration pulse
PPM = 4.4  # px/mm of a phone photo of an A4 page
PX_PER_MV = 10 * PPM
BASE = 120  # baseline y


def _row(
    pulse_mm: float | None, *, tilt_px: int = 0, dashes: bool = False, gap_mm: float = 2.0
) -> np.ndarray:
    """A row's mask: 1 mm of baseline, a 1 mV pulse ``pulse_mm`` wide, then a wavy trace."""
    img = np.zeros((240, 400), np.uint8)
    x = 10
    if pulse_mm is not None:
        top = int(BASE - PX_PER_MV)
        rise, fall = x + int(PPM), x + int(PPM) + int(pulse_mm * PPM)
        pts = [(x, BASE), (rise, BASE), (rise + tilt_px, top), (fall + tilt_px, top), (fall, BASE)]
        cv2.polylines(img, [np.array(pts, np.int32)], False, 1, 2)
        x = fall + int(gap_mm * PPM)
    t = np.arange(x, 400)
    y = BASE - 8 * np.sin((t - x) / 9.0) * (t - x > 0)
    cv2.polylines(img, [np.stack([t, y], 1).astype(np.int32)], False, 1, 2)
    mask = img.astype(bool)
    if dashes:  # a faint thin pen: every third image row of ink lost
        mask[::3] = False
    return mask


@pytest.mark.parametrize(
    ("kwargs", "width_mm"),
    [({}, 5.0), ({"dashes": True}, 5.0), ({"tilt_px": 3}, 5.0), ({}, 2.0), ({"gap_mm": 0.0}, 5.0)],
)
def test_pulse_end_finds_the_trace_after_a_joined_pulse(kwargs, width_mm):
    mask = _row(width_mm, **kwargs)
    x_lo = int(np.flatnonzero(mask.any(axis=0))[0])
    pulse = pulse_end(mask, BASE, x_lo, PPM, PX_PER_MV, 2.0)
    fall = 10 + int(PPM) + int(width_mm * PPM)
    assert pulse is not None
    assert fall - 2 <= pulse.start <= fall + kwargs.get("gap_mm", 2.0) * PPM + 3
    assert abs(pulse.edge - fall) <= 2 + kwargs.get("tilt_px", 0)
    assert pulse.on_edge == (kwargs.get("gap_mm") == 0.0)


@pytest.mark.parametrize("width_mm", [None, 0.6, 12.0])
def test_pulse_end_ignores_what_is_not_a_pulse(width_mm):
    """No pulse, a narrow spike (a QRS complex at the row start), a block too wide to be a pulse."""
    mask = _row(width_mm)
    x_lo = int(np.flatnonzero(mask.any(axis=0))[0])
    assert pulse_end(mask, BASE, x_lo, PPM, PX_PER_MV, 2.0) is None


@pytest.mark.integration
def test_real_page_with_v1_ii_v5_rhythm_strips(shared_data):
    """ecg00053 (a GE-style 3x4+3 printout) labels its rhythm strips V1, II, V5 (read by eye); its
    pulses are joined to the traces. It used to be named II, V1, V5, and told from 6x2 only by
    the correlation of those joined pulses."""
    result = digitize_image(shared_data / "images" / "ecg_image_kit_real" / "ecg00053.png")
    assert result.layout.name == "3x4+3"
    assert _rhythm_leads(result) == ["V1", "II", "V5"]
    assert any("calibration pulse joined to the trace in 4 row(s)" in n for n in result.notes)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["ecg00027.jpg", "ecg00033.jpg"])
def test_real_photos_skip_the_pulses_joined_to_three_rows(shared_data, name):
    """Phone photos at about 4 px/mm: the pulses' edges come out dashed and tilted. By eye, rows
    1-3 of 00027 and 2-4 of 00033 start on a joined pulse (it used to be read as trace)."""
    result = digitize_image(shared_data / "images" / "ecg_image_kit_real" / name)
    assert any("calibration pulse joined to the trace in 3 row(s)" in n for n in result.notes)


# ------------------------------------------------------------------------ pulse edge hold
def _first_samples_error(result, page, lead: str = "I", seconds: float = 0.06) -> float:
    """Largest error (mV) over a lead's first ``seconds``, less its row's offset (the next 0.5 s)."""
    k = page.lead_names.index(lead)
    n = round(seconds * result.fs)
    error = result.signal[STANDARD_12.index(lead)][: 10 * n] - page.signal[k][: 10 * n]
    return float(np.nanmax(np.abs(error[:n] - np.nanmedian(error[n:]))))


def test_rows_starting_on_a_joined_pulse_hold_their_first_samples(record, monkeypatch):
    """ecg-image-kit's print: each row's trace starts on the pulse's falling edge."""
    import ecglab.digitize.separators as separators

    # A page starting on a steady stretch (a held sample cannot follow a QRS complex under the edge).
    fs, n = record.fs, round(0.08 * record.fs)
    spread = [np.ptp(record.signal[:, i : i + n], axis=1).max() for i in range(round(2 * fs))]
    start = int(np.argmin(spread)) / fs
    settings = RenderSettings(layout="3x4+1", dpi=DPI, pulse_joined=True, duration_s=9.0)
    page = render_page(record, settings, window_start_s=start)
    result = digitize_image(page.image, duration_s=9.0)
    assert any("4 row(s) start on a pulse's falling edge" in n for n in result.notes)
    assert all(np.isfinite(r.pulse_edge_x) for r in result.layout.rows)
    held = max(_first_samples_error(result, page, lead) for lead in ("I", "II", "III"))
    monkeypatch.setattr(separators, "PULSE_HOLD_MM", {"learned": None, "classical": None})
    raw = max(
        _first_samples_error(digitize_image(page.image, duration_s=9.0), page, lead)
        for lead in ("I", "II", "III")
    )
    assert held < 0.1 < raw


def test_a_pulse_apart_from_the_trace_holds_nothing(record):
    page = render_page(record, RenderSettings(layout="3x4+1", dpi=DPI))
    result = digitize_image(page.image)
    assert not any("falling edge" in n for n in result.notes)
    assert not any(np.isfinite(r.pulse_edge_x) for r in result.layout.rows)


def test_joined_pulse_is_drawn_into_the_first_sample(record):
    page = render_page(record, RenderSettings(layout="3x4", dpi=DPI, pulse_joined=True, lead_labels=False))
    first = next(g for g in page.geometry if g.name == "I").points[0]
    x, y = round(first[0]), round(first[1])
    top = round(page.geometry[0].baseline_y - 10 * page.geometry[0].px_per_mm_y)
    column = page.mask[min(y, top) : max(y, top) + 1, x - 1 : x + 2].any(axis=1)
    assert column.all()  # one inked stroke from the pulse's top to the first sample
    with pytest.raises(ConfigError, match="pulse_joined"):
        RenderSettings.from_dict({"pulse_joined": "yes"})


@pytest.mark.parametrize("joined", [True, False])
def test_rows_are_measured_from_the_calibration_pulses_foot(record, monkeypatch, joined):
    """A page plots each sample against the row's 0 mV line, which only the pulse shows: a record
    0.15 mV off its isoelectric line keeps that offset when read from the pulse's foot, whether
    the pulse is joined to the trace (ecg-image-kit) or printed apart from it."""
    import ecglab.digitize.layout as layout

    shifted = record.replace(signal=record.signal + np.float32(0.15))
    page = render_page(shifted, RenderSettings(layout="3x4+1", dpi=DPI, pulse_joined=joined))

    def median_offsets() -> tuple[np.ndarray, object]:
        result = digitize_image(page.image)
        offsets = []
        for lead in ("I", "aVR", "V1", "V4"):
            got = result.signal[STANDARD_12.index(lead)]
            truth = page.signal[page.lead_names.index(lead)][: got.size]
            offsets.append(np.nanmedian(got - truth))
        return np.array(offsets), result

    from_foot, result = median_offsets()
    assert all(np.isfinite(r.zero_y) for r in result.layout.rows)
    assert np.abs(from_foot).max() < 0.04
    monkeypatch.setattr(layout, "ZERO_FROM_PULSE", False)
    from_isoelectric, result = median_offsets()
    assert not any(np.isfinite(r.zero_y) for r in result.layout.rows)
    assert np.all(from_isoelectric < -0.1)  # the offset is lost: read as if it were 0 mV


def test_rows_without_a_pulse_keep_the_isoelectric_line(record):
    page = render_page(record, RenderSettings(layout="3x4+1", dpi=DPI, calibration_pulse=False))
    result = digitize_image(page.image)
    assert not any(np.isfinite(r.zero_y) for r in result.layout.rows)
    assert all(p.zero_line_y == p.baseline_y for p in result.layout.panels)
