"""Thin pens are widened before the learned digitizer reads a page; pens already wide are left alone."""

from __future__ import annotations

import numpy as np
import pytest

from ecglab.digitize import digitize_image
from ecglab.digitize.pen import pen_growth_px, thicken_pen
from ecglab.io.leads import STANDARD_12
from ecglab.metrics.snr import kaggle_snr
from ecglab.signal.simulate import simulate_12lead
from ecglab.synth import render_page


@pytest.mark.parametrize(
    ("pen_px", "px_per_mm", "grow"),
    [
        (2.0, 7.87, 1),  # ecg-image-kit's 0.25 mm pen at 200 DPI -> about 0.35 mm
        (3.0, 11.81, 1),  # the same pen at 300 DPI
        (1.0, 3.94, 0),  # at 100 DPI one more pixel would overshoot
        (3.0, 7.87, 0),  # 0.38 mm: wide enough
        (float("nan"), 7.87, 0),
        (2.0, 0.0, 0),
    ],
)
def test_growth_brings_thin_pens_to_the_target_width(pen_px, px_per_mm, grow):
    assert pen_growth_px(pen_px, px_per_mm) == grow


def test_thickening_widens_dark_strokes_and_keeps_the_paper(monkeypatch):
    img = np.full((20, 30, 3), 255, np.uint8)
    img[9:11, 5:25] = 0  # a 2 px horizontal stroke
    img[0, 0] = (250, 200, 200)  # light grid pink
    rows = np.arange(20)
    shipped = 255.0 - thicken_pen(img, 1)[:, 15, 0]
    assert (shipped * rows).sum() / shipped.sum() == pytest.approx(10.0, abs=0.01)  # odd: half a pixel down
    monkeypatch.setattr("ecglab.digitize.pen.RECENTRE_ODD_GROWTH", True)
    for grow in (1, 2, 3):
        ink = 255.0 - thicken_pen(img, grow)[:, 15, 0]
        assert ink.sum() / 255 == pytest.approx(2 + grow, abs=0.01)  # the stroke's width grows by `grow` px
        assert (ink * rows).sum() / ink.sum() == pytest.approx(9.5, abs=0.01)  # centred: no half-pixel shift
    vertical = np.full((30, 20, 3), 255, np.uint8)
    vertical[5:25, 9:11] = 0
    ink = 255.0 - thicken_pen(vertical, 1)[15, :, 0]
    assert (ink * np.arange(20)).sum() / ink.sum() == pytest.approx(9.5, abs=0.01)  # in time, too
    assert thicken_pen(img, 1)[15, 15].tolist() == [255, 255, 255]
    assert thicken_pen(img, 0) is img
    assert img[8, 15].tolist() == [255, 255, 255]  # input untouched


#: ecg-image-kit's print: labels under the trace, 7 x 0.6 mm bars, panels joined into one line per row.
KIT_STYLE = {"label_position": "below", "lead_separators": True, "separator_height_mm": 7,
             "separator_width_mm": 0.6, "connect_panels": True}  # fmt: skip


def test_widening_a_thin_pen_helps_the_learned_digitizer():
    # The shipped model gains 5.2, 1.3, 2.4 and 0.4 dB on seeds 1, 2, 3, 5 of this kit-style page;
    # on the same page without the kit style, -0.3 to +0.2 dB.
    record = simulate_12lead(seed=3, heart_rate=75)
    page = render_page(record, {"dpi": 200, "layout": "3x4+1", "trace_width_mm": 0.25, **KIT_STYLE})
    truth = np.stack([record.signal[record.leads.index(name)] for name in STANDARD_12])
    scores, notes = {}, {}
    for widen in (False, True):
        result = digitize_image(page.image, model="digitizer", thicken_thin_pen=widen)
        t = np.where(np.isnan(result.signal), np.nan, truth[:, : result.signal.shape[1]])
        scores[widen] = kaggle_snr(t, result.signal, result.fs)
        notes[widen] = result.notes
    assert any("thin pen" in n for n in notes[True])
    assert not any("thin pen" in n for n in notes[False])
    assert scores[True] > scores[False] + 0.5


def test_a_normal_pen_is_read_as_it_is():
    record = simulate_12lead(seed=5, heart_rate=75)
    page = render_page(record, {"dpi": 200, "layout": "3x4+1", "trace_width_mm": 0.4})
    a = digitize_image(page.image, model="digitizer", thicken_thin_pen=False)
    b = digitize_image(page.image, model="digitizer")
    assert not any("thin pen" in n for n in b.notes)
    np.testing.assert_array_equal(a.signal, b.signal)


def test_stroke_cap_is_a_quarter_pen_unless_the_pen_is_cap_free(monkeypatch):
    from ecglab.digitize.layout import stroke_cap_px

    assert stroke_cap_px(2.0) == pytest.approx(0.5)
    assert stroke_cap_px(6.0) == pytest.approx(1.5)
    assert stroke_cap_px(float("nan")) == 0.0
    monkeypatch.setattr("ecglab.digitize.layout.CAP_FREE_PEN_PX", 3.0)
    assert stroke_cap_px(2.0) == 0.0 and stroke_cap_px(3.0) == 0.0
    assert stroke_cap_px(6.0) == pytest.approx(1.5)
