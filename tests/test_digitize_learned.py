"""Learned digitizers: crop geometry, targets, decoding, models, a tiny training run, ONNX parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ecglab.datasets.digitize_pages import PageRecipe, page_example
from ecglab.digitize.strips import CropSpec, RowFrame, crop_y_to_image, image_y_to_crop, output_x, soft_argmax
from ecglab.models.registry import create_model
from ecglab.signal.simulate import simulate_12lead
from ecglab.synth import render_page

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EXACT = PageRecipe(jitter_mm=0.0, jitter_scale=0.0)


@pytest.fixture(scope="module")
def page():
    rec = simulate_12lead(duration=10.0, fs=500.0, seed=3, record_id="learned")
    return render_page(rec, {"layout": "3x4+1", "dpi": 150}, rng=np.random.default_rng(0))


def test_soft_argmax_recovers_a_sub_pixel_peak():
    h = 40
    centres = np.array([10.3, 20.0, 5.75, 30.5, 0.2])
    rows = np.arange(h)[:, None]
    prob = np.exp(-0.5 * ((rows - centres[None]) / 1.0) ** 2)
    prob /= prob.sum(axis=0, keepdims=True)
    y, mass = soft_argmax(prob, radius=3)
    # Interior peaks come back to 0.01 px; one at the edge is pulled inward by < 0.5 px.
    np.testing.assert_allclose(y[:4], centres[:4], atol=0.01)
    assert abs(y[4] - 0.2) < 0.5  # half of its Gaussian is cut off by the crop edge
    assert (mass > 0.9).all()


def test_crop_coordinates_round_trip():
    spec = CropSpec(px_per_mm=3.0)
    frame = RowFrame(baseline_y=300.0, x_start=50.0, ppm_x=7.87, ppm_y=7.9)
    y = np.array([100.0, 300.0, 512.5])
    np.testing.assert_allclose(crop_y_to_image(image_y_to_crop(y, frame, spec, 80.0), frame, spec, 80.0), y)
    xs = output_x(frame, spec, spec.width * spec.upsample)
    # Output columns are evenly spaced at 1/(px_per_mm * upsample) mm; t = 0 lies margin_mm into the crop.
    np.testing.assert_allclose(np.diff(xs), frame.ppm_x / (spec.px_per_mm * spec.upsample))
    t0 = np.interp(frame.x_start, xs, np.arange(xs.size))
    assert abs(t0 - (spec.margin_mm * spec.px_per_mm + 0.5) * spec.upsample + 0.5) < 1e-6


def test_whole_rows_are_read_within_their_own_band():
    from ecglab.digitize.learned import within_row_bands

    spec = CropSpec(px_per_mm=3.0, height_mm=20.0)  # bands of +-10 mm = +-30 crop rows
    page = RowFrame(baseline_y=0.0, x_start=0.0, ppm_x=6.0, ppm_y=6.0)  # 2 image px per crop px
    rows = [RowFrame(baseline_y=y, x_start=0.0, ppm_x=6.0, ppm_y=6.0) for y in (100.0, 300.0)]
    h, w = 200, 3  # crop rows: baselines at 50 and 150
    prob = np.zeros((2, h, w))
    prob[0, 150] = 0.7  # series 0 is drawn to row 1's trace ...
    prob[0, 55] = 0.3  # ... with a weaker peak on its own row
    prob[1, 150] = 1.0
    banded = within_row_bands(prob, rows, page, spec)
    y, _ = soft_argmax(banded)
    np.testing.assert_allclose(y[0], 55.0)
    np.testing.assert_allclose(y[1], 150.0)
    assert banded[0, :20].sum() == 0 and banded[0, 81:].sum() == 0  # outside 50 +- 30
    assert prob[0, 150, 0] == 0.7  # the input is not changed


@pytest.mark.parametrize("mode", ["series", "whole"])
def test_targets_sit_on_the_rows_own_trace_pixels(page, mode):
    spec = CropSpec(px_per_mm=3.0, multiple=16)
    ex = page_example(page, mode, spec, np.random.default_rng(0), EXACT)
    y, rows = ex["y"], ex["rows"]
    assert y.shape[0] == 4  # 3x4+1: four rows
    hits = total = 0
    for r in range(4):
        own = rows[r] if mode == "series" else rows == r + 1
        cols = np.flatnonzero(np.isfinite(y[r]))
        assert cols.size > 0.9 * y.shape[1]  # the whole 10 s is plotted in every row
        for j in cols[::7]:
            c = int((j + 0.5) / spec.upsample)
            ink = np.flatnonzero(own[:, c])
            total += 1
            hits += ink.size > 0 and np.min(np.abs(ink - y[r, j])) <= 1.5
    assert hits / total > 0.97, hits / total


def test_models_shapes_and_cross_series_fusion():
    torch.manual_seed(0)
    series = create_model("series", widths=(4, 8, 8), upsample=2).eval()
    with torch.no_grad():
        series.fusion[0].weight.mul_(20.0)  # a fresh fusion layer is weak; make its effect measurable
    x = torch.rand(1, 3, 3, 32, 48)
    y_logits, mask_logits = series(x)
    assert y_logits.shape == (1, 3, 32, 96) and mask_logits.shape == (1, 3, 32, 48)
    # With fusion, changing another row changes row 0's output; without, it does not.
    x2 = x.clone()
    x2[:, 2] = torch.rand_like(x2[:, 2])
    with torch.no_grad():
        changed = (series(x)[0][:, 0] - series(x2)[0][:, 0]).abs().max()
        lone = create_model("series", widths=(4, 8, 8), fuse=False).eval()
        same = (lone(x)[0][:, 0] - lone(x2)[0][:, 0]).abs().max()
    assert changed > 100 * max(same, 1e-7)  # strips of a page are otherwise computed independently
    whole = create_model("whole", n_series=5, widths=(4, 8, 8), upsample=3).eval()
    y_logits, mask_logits = whole(torch.rand(2, 3, 32, 48))
    assert y_logits.shape == (2, 5, 32, 144) and mask_logits.shape == (2, 5, 32, 48)


@pytest.mark.integration
def test_tiny_training_run_digitizes_and_exports(tmp_path, page):
    """Train a tiny series model on rendered shared records, digitize with it, export with parity."""
    from ecglab.cli.main import app
    from ecglab.digitize import digitize_image
    from ecglab.digitize.errors import DigitizeError
    from ecglab.digitize.learned import LearnedDigitizer
    from ecglab.synth import write_page
    from ecglab.training import train

    overrides = [
        "digitize.train_pages=4", "digitize.val_pages=1", "digitize.workers=0", "training.epochs=1",
        "training.batch_size=2", "model.params.widths=[4,8,8]", f"digitize.cache_dir={tmp_path / 'cache'}",
        f"logging.run_dir={tmp_path / 'runs'}", "digitize.pages.layouts=[3x4+1]",
    ]  # fmt: skip
    from ecglab.config import load_config

    run = train(load_config(CONFIGS / "digitize-series.yaml", overrides))
    assert (run / "model.safetensors").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert np.isfinite(metrics["evaluation"]["val_mae_mm"])

    image = write_page(page, tmp_path / "page", "p")["image"]
    digitizer = LearnedDigitizer.from_pretrained(run)
    out = digitize_image(image, model=digitizer)
    assert out.method == "series" and out.signal.shape == (12, 5000)
    assert np.isfinite(out.signal).sum(axis=1).min() > 1000  # every lead read somewhere

    onnx = run / "model.onnx"
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["export", "--model", str(run), "--out", str(onnx)])
    assert res.exit_code == 0, res.output
    via_onnx = digitize_image(image, model=LearnedDigitizer.from_pretrained(run, backend="onnx"))
    np.testing.assert_allclose(via_onnx.signal, out.signal, atol=1e-3, equal_nan=True)

    whole_like = LearnedDigitizer(digitizer.model, digitizer.cfg)
    whole_like.mode, whole_like.n_series = "whole", 2
    with pytest.raises(DigitizeError, match="at most 2 rows"):
        digitize_image(image, model=whole_like)


def test_frame_jitter_tail_and_recipe_checks():
    from ecglab.datasets.digitize_pages import jitter_frames, recipe_from_config
    from ecglab.errors import ConfigError

    frames = [RowFrame(baseline_y=100.0 * (i + 1), x_start=50.0, ppm_x=8.0, ppm_y=8.0) for i in range(400)]
    rng = np.random.default_rng(0)
    calm = np.array([f.baseline_y for f in jitter_frames(frames, rng, PageRecipe(jitter_mm=0.0))])
    assert np.allclose(calm, [f.baseline_y for f in frames])
    shifted = jitter_frames(
        frames, rng, PageRecipe(jitter_mm=0.0, jitter_scale=0.0, p_shift=1.0, shift_mm=4.0)
    )
    dy_mm = np.array([(s.baseline_y - f.baseline_y) / 8.0 for s, f in zip(shifted, frames, strict=True)])
    assert np.abs(dy_mm).max() <= 4.0 and np.abs(dy_mm).max() > 3.5 and abs(dy_mm.mean()) < 0.5
    assert recipe_from_config({"label_positions": ["below", "on"]}).label_positions == ("below", "on")
    with pytest.raises(ConfigError, match='quote "on"'):
        recipe_from_config({"label_positions": ["below", "True"]})


def test_page_recipe_joins_panels_only_when_asked(monkeypatch):
    import ecglab.io.reader
    import ecglab.synth.render
    from ecglab.datasets.digitize_pages import _render_task

    seen = []
    monkeypatch.setattr(ecglab.io.reader, "read_record", lambda *a, **k: simulate_12lead(seed=0))

    def fake_render(rec, settings, rng=None):
        seen.append(dict(settings))
        raise ValueError("stop after the settings")

    monkeypatch.setattr(ecglab.synth.render, "render_page", fake_render)
    spec = CropSpec()
    for p_connect in (0.0, 1.0):
        example, error = _render_task(("rec", 0, 3, "series", spec, PageRecipe(p_connect=p_connect)))
        assert example is None and "stop after the settings" in error
    assert seen[0].pop("connect_panels") is False and seen[1].pop("connect_panels") is True
    assert seen[0] == seen[1]  # the other page settings are drawn exactly as before


def test_page_recipe_widens_a_thin_pen_as_inference_does():
    rec = simulate_12lead(duration=10.0, fs=500.0, seed=3, record_id="thin")
    spec = CropSpec(px_per_mm=3.0, multiple=16)
    ink = {}
    for width in (0.25, 0.4):
        page = render_page(rec, {"layout": "3x4+1", "dpi": 200, "trace_width_mm": width})
        for widen in (False, True):
            recipe = PageRecipe(jitter_mm=0.0, jitter_scale=0.0, widen_thin_pen=widen)
            ex = page_example(page, "series", spec, np.random.default_rng(0), recipe)
            ink[width, widen] = float((255 - ex["image"].astype(float)).mean())
    assert ink[0.25, True] > 1.2 * ink[0.25, False]  # the thin pen gets darker strips
    assert ink[0.4, True] == ink[0.4, False]  # a 0.4 mm pen is left alone


def test_nothing_is_read_beyond_a_rows_ink():
    """A row whose last second was not printed (torn off, faded): the model is not asked to guess it."""
    from ecglab.digitize import digitize_image
    from ecglab.io.leads import STANDARD_12

    rec = simulate_12lead(duration=10.0, fs=500.0, seed=4, record_id="cut")
    page = render_page(rec, {"layout": "3x4+1", "dpi": 150}, rng=np.random.default_rng(0))
    v4 = next(g for g in page.geometry if g.name == "V4")
    cut = v4.x0 + 1.5 * v4.px_per_s  # 9 s into the row: V4 shows 7.5-9 s only
    image = page.image.copy()
    band = slice(int(v4.baseline_y - 20 * v4.px_per_mm_y), int(v4.baseline_y + 20 * v4.px_per_mm_y))
    image[band, int(cut) :] = 255
    result = digitize_image(image, model="digitizer")
    lead = result.signal[STANDARD_12.index("V4")]
    fs = result.fs
    assert np.isfinite(lead[round(7.6 * fs) : round(8.9 * fs)]).all()
    assert np.isnan(lead[round(9.1 * fs) : round(10 * fs)]).all()
    # The row below keeps its whole 10 s.
    v5 = result.signal[STANDARD_12.index("V5")]
    assert np.isfinite(v5[round(7.6 * fs) : round(9.9 * fs)]).all()


def test_a_gap_between_two_panels_is_bridged_not_guessed(monkeypatch):
    """The pen lifts for 3 mm between aVR and V1 (a cart's print): with no ink there and an unsure
    model, the curve is bridged from the panel's samples either side."""
    import ecglab.digitize.learned as learned
    from ecglab.digitize import digitize_image
    from ecglab.io.leads import STANDARD_12

    rec = simulate_12lead(duration=10.0, fs=500.0, seed=4, record_id="gap")
    settings = {"layout": "3x4", "dpi": 150, "lead_separators": False}
    page = render_page(rec, settings, rng=np.random.default_rng(0))
    v1 = next(g for g in page.geometry if g.name == "V1")
    image = page.image.copy()
    band = slice(int(v1.baseline_y - 20 * v1.px_per_mm_y), int(v1.baseline_y + 20 * v1.px_per_mm_y))
    half_gap = 1.5  # mm; the shipped model reads a 2 mm gap well enough unaided
    image[band, int(v1.x0 - half_gap * v1.px_per_mm_x) : int(v1.x0 + half_gap * v1.px_per_mm_x)] = 255

    def end_of_avr_error() -> float:
        result = digitize_image(image, model="digitizer")
        span = slice(round(4.9 * result.fs), round(5.0 * result.fs))
        got = result.signal[STANDARD_12.index("aVR")][span]
        return float(np.nanmax(np.abs(got - page.signal[page.lead_names.index("aVR")][span])))

    assert end_of_avr_error() < 0.5
    # Half a pixel earlier start (no cap): the last sure sample is the stroke's misread cut end, and
    # only the margin around the gap keeps the hold from carrying it across.
    monkeypatch.setattr("ecglab.digitize.layout.CAP_FREE_PEN_PX", 3.0)
    assert end_of_avr_error() < 0.5
    monkeypatch.setattr(learned, "BRIDGE_MARGIN_MM", 0.0)
    assert end_of_avr_error() > 1.0
    monkeypatch.setattr(learned, "BRIDGE_MARGIN_MM", 0.5)
    monkeypatch.setattr(learned, "UNSURE_CONFIDENCE", 0.0)  # read the model's guess instead
    assert end_of_avr_error() > 1.0


def test_flip_tta_maps_each_mirrored_distribution_back():
    """Every flip's distribution is mirrored back before averaging: an off-centre trace stays put."""
    from ecglab.digitize.errors import DigitizeError
    from ecglab.digitize.learned import LearnedDigitizer, _tta_flips

    class SharpReader(torch.nn.Module):
        """Logits that peak on the darkest row of each column, like a perfect reader."""

        def forward(self, x):  # [B, R, 3, H, W] -> ([B, R, H, W],)
            return (-50.0 * x.mean(dim=-3),)

    crops = np.ones((1, 1, 3, 40, 30), np.float32)
    rows = 8 + np.arange(30) // 3  # a rising trace, far from the crop's centre row (20)
    crops[0, 0, :, rows, np.arange(30)] = 0.0
    reader = LearnedDigitizer.__new__(LearnedDigitizer)  # only probabilities() is exercised
    reader.model, reader._onnx = SharpReader(), None
    for tta in (False, True, "h", "v", "hv"):
        reader.tta = _tta_flips(tta)
        prob = reader.probabilities(crops)[0, 0]
        np.testing.assert_allclose(prob.sum(axis=0), 1.0, rtol=1e-5)
        assert (prob.argmax(axis=0) == rows).all(), tta
    assert len(_tta_flips("hv")) == 3 and _tta_flips(True) == _tta_flips("h") and _tta_flips(False) == ()
    with pytest.raises(DigitizeError, match="tta must be one of"):
        _tta_flips("diagonal")


def test_a_stroke_leaving_the_models_band_is_taken_from_the_tracker(monkeypatch):
    """V2 three times as tall: its R waves run 2.9 mV above the baseline, out of the 48 mm band the
    model sees. With the switch on, where the tracker follows them out and the model is unsure, the
    tracker's samples are used."""
    import dataclasses

    import ecglab.digitize.learned as learned
    from ecglab.digitize import digitize_image
    from ecglab.io.leads import STANDARD_12

    rec = simulate_12lead(duration=10.0, fs=500.0, seed=4, record_id="tall")
    signal = rec.signal.copy()
    signal[list(rec.leads).index("V2")] *= 3.0
    page = render_page(dataclasses.replace(rec, signal=signal), {"layout": "3x4", "dpi": 150},
                       rng=np.random.default_rng(0))  # fmt: skip
    truth = page.signal[page.lead_names.index("V2")]
    out = np.isfinite(truth) & (np.abs(truth - np.nanmedian(truth)) > 2.3)
    assert out.sum() > 10

    def error_out_of_band() -> float:
        got = digitize_image(page.image, model="digitizer").signal[STANDARD_12.index("V2")]
        return float(np.nanmedian(np.abs(got - truth)[out]))

    assert error_out_of_band() > 1.4  # the default, the model's own reading: measured 1.72 mV
    monkeypatch.setattr(learned, "OFF_BAND_CONFIDENCE", 0.5)
    assert error_out_of_band() < 1.0  # measured 0.61 mV


def test_off_band_samples_are_taken_only_where_the_model_is_unsure(monkeypatch):
    import ecglab.digitize.learned as learned
    from ecglab.digitize.learned import _take_off_band

    monkeypatch.setattr(learned, "OFF_BAND_CONFIDENCE", 0.5)

    frame = RowFrame(baseline_y=200.0, x_start=0.0, ppm_x=4.0, ppm_y=4.0)
    spec = CropSpec(px_per_mm=3.0, height_mm=48.0)
    ys = np.full(100, 200.0)
    tracked = ys.copy()
    tracked[40:50] = 200.0 - 100.0  # 25 mm up: beyond the band's edge (24 mm)
    sure, unsure = np.full(100, 0.9), np.full(100, 0.2)
    step = 1.0  # image px between samples: the 0.5 mm spread is 2 samples

    kept = ys.copy()
    _take_off_band(kept, tracked, sure, frame, spec, step)
    assert np.array_equal(kept, ys)  # a sure model stays on its trace
    taken = ys.copy()
    _take_off_band(taken, tracked, unsure, frame, spec, step)
    assert np.array_equal(taken[40:50], tracked[40:50])
    assert np.array_equal(taken[:38], ys[:38]) and np.array_equal(taken[52:], ys[52:])
    inside = ys.copy()
    _take_off_band(inside, np.full(100, 200.0 - 60.0), unsure, frame, spec, step)  # 15 mm: in band
    assert np.array_equal(inside, ys)
