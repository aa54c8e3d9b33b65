"""Lead-separator bars: found where ecg-image-kit-sized bars are drawn, not for thin ones, and a
learned trace is held beside them."""

from __future__ import annotations

import numpy as np
import pytest

from ecglab.digitize import digitize_image
from ecglab.digitize.extract import PanelTrace
from ecglab.digitize.image import normalise, trace_mask
from ecglab.digitize.layout import PanelBox
from ecglab.digitize.separators import HOLD_MARGIN_MM, SeparatorBar, find_separator_bars, hold_under_bars
from ecglab.io.leads import STANDARD_12
from ecglab.metrics.snr import kaggle_snr
from ecglab.signal.simulate import simulate_12lead
from ecglab.synth import render_page

OPTS = {"dpi": 200, "layout": "3x4+1", "label_position": "below"}


@pytest.fixture(scope="module")
def record():
    return simulate_12lead(seed=3, heart_rate=70)


def _bars(page):
    layout = digitize_image(page.image, rotate=False).layout
    return find_separator_bars(trace_mask(normalise(page.image)), layout), layout


def test_thick_bars_are_found_at_every_inner_panel_boundary(record):
    page = render_page(record, {**OPTS, "lead_separators": True, "separator_height_mm": 7.0,
                                "separator_width_mm": 0.6})  # fmt: skip
    bars, layout = _bars(page)
    ppm = page.meta["px_per_mm"]
    assert len(bars) == 9  # 3 rows x 3 inner boundaries; the rhythm strip has none
    assert sorted({b.row for b in bars}) == [0, 1, 2]
    truth = {(round(g.baseline_y), round(g.x0)) for g in page.geometry if g.x0 > layout.x_start + ppm}
    for bar in bars:
        assert bar.x0 - 2 <= bar.x_boundary <= bar.x1 + 2
        assert 0.4 * ppm <= bar.x1 - bar.x0 + 1 <= 1.2 * ppm  # about 0.6 mm wide (plus anti-aliasing)
        assert min(abs(bar.x_boundary - x) for _, x in truth) < 0.5 * ppm
        assert 6.5 * ppm <= bar.y1 - bar.y0 + 1 <= 8.0 * ppm  # 7 mm tall, centred on the baseline
        assert min(abs((bar.y0 + bar.y1) / 2 - y) for y, _ in truth) < 0.5 * ppm


@pytest.mark.parametrize("separators", [False, True])
def test_no_bars_on_pages_without_thick_ones(record, separators):
    page = render_page(record, {**OPTS, "lead_separators": separators})  # ecglab's 0.25 mm bars
    assert _bars(page)[0] == []


def _trace(row: int, start_s: float, stop_s: float, xs: np.ndarray, values: np.ndarray) -> PanelTrace:
    panel = PanelBox(lead="I", row=row, column=0, start_s=start_s, stop_s=stop_s, x0=xs[0], x1=xs[-1],
                     baseline_y=100.0)  # fmt: skip
    return PanelTrace(panel=panel, values=values.astype(float), xs=xs.astype(float), ys=100.0 - values)


def test_hold_keeps_each_panel_on_its_own_side_of_the_bar():
    layout = digitize_image(render_page(simulate_12lead(seed=0), OPTS).image, rotate=False).layout
    ppm = layout.px_per_s / 25.0
    left = _trace(0, 0.0, 2.5, np.arange(0, 100), np.linspace(0, 1, 100))
    right = _trace(0, 2.5, 5.0, np.arange(100, 200), np.linspace(2, 3, 100))
    other_row = _trace(1, 2.5, 5.0, np.arange(100, 200), np.linspace(2, 3, 100))
    before = [t.values.copy() for t in (left, right, other_row)]
    bar = SeparatorBar(row=0, x_boundary=100.0, x0=98.0, x1=102.0)
    held = hold_under_bars([left, right, other_row], [bar], layout)
    margin = HOLD_MARGIN_MM * ppm
    lo, hi = 98.0 - margin, 102.0 + margin
    in_left, in_right = left.xs >= lo, right.xs <= hi
    assert held == in_left.sum() + in_right.sum() > 0
    assert np.all(left.values[in_left] == before[0][~in_left][-1])  # last value left of the span
    assert np.all(right.values[in_right] == before[1][~in_right][0])  # first value right of it
    assert np.array_equal(left.values[~in_left], before[0][~in_left])
    assert np.array_equal(other_row.values, before[2])  # other rows untouched
    assert np.allclose(left.ys, 100.0 - left.values)


def test_a_trace_hugging_the_bar_beside_the_span_is_held_at_the_steady_level(monkeypatch):
    import ecglab.digitize.separators as separators

    layout = digitize_image(render_page(simulate_12lead(seed=0), OPTS).image, rotate=False).layout
    ppm = layout.px_per_s / 25.0
    xs = np.arange(100.0, 200.0, 0.4)  # 500 Hz at 200 DPI
    values = np.full(xs.size, 0.05)
    hi = 102.0 + HOLD_MARGIN_MM * ppm
    hug = np.flatnonzero(xs > hi)[:4]  # the model slides down the bar's edge and back for 1.6 px
    values[hug] = [-0.3, -0.6, -0.4, -0.2]
    bar = SeparatorBar(row=0, x_boundary=100.0, x0=98.0, x1=102.0)

    monkeypatch.setattr(separators, "HOLD_START_TAIL_MM", 0.0)  # the nearest sample gives the level
    first = _trace(0, 2.5, 5.0, xs, values.copy())
    hold_under_bars([first], [bar], layout)
    assert np.all(first.values[xs <= hi] == -0.3)

    monkeypatch.setattr(separators, "HOLD_TAIL_MM", 0.5)  # the other side's reach: no effect here
    same = _trace(0, 2.5, 5.0, xs, values.copy())
    hold_under_bars([same], [bar], layout)
    assert np.all(same.values[xs <= hi] == -0.3)

    monkeypatch.setattr(separators, "HOLD_START_TAIL_MM", 0.5)  # the first steady sample gives it
    tail = _trace(0, 2.5, 5.0, xs, values.copy())
    held = hold_under_bars([tail], [bar], layout)
    assert np.all(tail.values == 0.05)  # the hugging samples are held too
    assert held == np.sum(xs <= hi) + hug.size
    assert np.allclose(tail.ys, 100.0 - tail.values)


def test_a_trace_run_down_past_the_bar_takes_its_level_from_inside_the_bars_height(monkeypatch):
    import ecglab.digitize.separators as separators

    layout = digitize_image(render_page(simulate_12lead(seed=0), OPTS).image, rotate=False).layout
    ppm = layout.px_per_s / 25.0
    xs = np.arange(100.0, 200.0, 0.4)
    hi = 102.0 + HOLD_MARGIN_MM * ppm
    beside = np.flatnonzero(xs > hi)[:4]
    bar = SeparatorBar(row=0, x_boundary=100.0, x0=98.0, x1=102.0, y0=96.0, y1=104.0)  # ys = 100 - values
    monkeypatch.setattr(separators, "HOLD_START_TAIL_MM", 0.5)
    monkeypatch.setattr(separators, "HOLD_START_INSIDE_BAR", True)

    name = np.full(xs.size, 0.05)
    name[beside] = [-10.0, -9.5, -10.0, -9.0]  # read on down into the lead name under the bar
    trace = _trace(0, 2.5, 5.0, xs, name)
    hold_under_bars([trace], [bar], layout)
    assert np.all(trace.values == 0.05)  # the first steady sample back inside the bar's height

    wave = np.full(xs.size, 0.05)
    wave[beside] = [2.0, 3.0, 2.5, 1.0]  # a wave level with the bar: the nearest sample, as without
    trace = _trace(0, 2.5, 5.0, xs, wave)
    hold_under_bars([trace], [bar], layout)
    assert np.all(trace.values[xs <= hi] == 2.0)
    assert np.array_equal(trace.values[xs > hi], wave[xs > hi])


def test_holding_beside_thick_bars_helps_the_learned_digitizer(record):
    page = render_page(record, {**OPTS, "lead_separators": True, "separator_height_mm": 7.0,
                                "separator_width_mm": 0.6})  # fmt: skip
    truth = np.stack([record.signal[record.leads.index(name)] for name in STANDARD_12])
    scores = {}
    for hold in (False, True):
        result = digitize_image(page.image, model="digitizer", hold_bars=hold)
        t = np.where(np.isnan(result.signal), np.nan, truth[:, : result.signal.shape[1]])
        scores[hold] = kaggle_snr(t, result.signal, result.fs)
    assert any("lead-separator bar" in n for n in result.notes)
    assert scores[True] > scores[False]
