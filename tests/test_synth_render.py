"""The ECG paper renderer: layouts, settings, exact masks, writers and the truth round trip."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import wfdb

from ecglab.errors import ConfigError, LeadError, RecordError
from ecglab.io.leads import STANDARD_12
from ecglab.io.recording import Recording
from ecglab.synth.layouts import layout_spec
from ecglab.synth.page import (
    MASK_GRID_HORIZONTAL,
    MASK_GRID_INTERSECTION,
    MASK_GRID_VERTICAL,
    MASK_TRACE,
)
from ecglab.synth.render import render_page
from ecglab.synth.roundtrip import COLUMN_METHODS, DEFAULT_METHOD, pen_width_px, signals_from_truth
from ecglab.synth.settings import LAYOUT_NAMES, RenderSettings
from ecglab.synth.writers import kaggle_csv, read_page_truth, write_page


def ecg_like(fs: float = 500.0, seconds: float = 10.0, leads: tuple[str, ...] = STANDARD_12) -> Recording:
    """Cheap ECG-shaped signal: a slow wave plus narrow Gaussian 'QRS' spikes, different per lead."""
    t = np.arange(round(fs * seconds)) / fs
    rows = []
    for i in range(len(leads)):
        beats = sum(np.exp(-(((t - b) / 0.012) ** 2)) for b in np.arange(0.4 + 0.03 * i, seconds, 0.8))
        rows.append((0.8 - 0.1 * i) * beats + 0.15 * np.sin(2 * np.pi * (0.7 + 0.1 * i) * t))
    return Recording(signal=np.array(rows, np.float32), fs=fs, leads=leads, record_id="ecglike")


@pytest.fixture(scope="module")
def sim12() -> Recording:
    from ecglab.signal.simulate import simulate_12lead

    return simulate_12lead(duration=12.0, fs=500.0, seed=3)


# ----------------------------------------------------------------------------------------- helpers
def segment_distances(pixels: np.ndarray, points: np.ndarray, dx: float, x0: float) -> np.ndarray:
    """Distance of each pixel centre to the drawn polyline (segments between consecutive finite points).

    Only segments near each pixel in x are examined (x grows by ``dx`` per sample).
    """
    n = len(points)
    if n < 2:
        return np.full(len(pixels), np.inf)
    k = int(np.ceil(6.0 / dx)) + 2
    centre = np.round((pixels[:, 0] - x0) / dx).astype(np.int64)
    idx = np.clip(centre[:, None] + np.arange(-k, k + 1)[None, :], 0, n - 2)
    a, b = points[idx], points[idx + 1]
    ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    ab = b - a
    ap = pixels[:, None, :] - a
    denom = np.where(ok, (ab**2).sum(-1), 1.0)
    u = np.clip(np.where(ok, (ap * ab).sum(-1) / np.maximum(denom, 1e-12), 0.0), 0.0, 1.0)
    d = np.linalg.norm(ap - u[..., None] * ab, axis=-1)
    return np.where(ok, d, np.inf).min(axis=1)


def check_trace_masks(page, min_hit: float = 0.99) -> None:
    """Masks against the geometry: points hit their own lead, no lead pixel strays from its polyline."""
    trace = page.mask == MASK_TRACE
    assert not (page.leads > 0)[~trace].any(), "instance pixels outside the trace class"
    width = page.meta["trace_width_px"]
    by_lead: dict[int, list] = {}
    for geo in page.geometry:
        by_lead.setdefault(geo.index, []).append(geo)
        pts = geo.points[np.isfinite(geo.points).all(axis=1)]
        if len(pts) == 0:
            continue
        xi, yi = np.round(pts[:, 0]).astype(int), np.round(pts[:, 1]).astype(int)
        inside = (xi >= 1) & (yi >= 1) & (xi < page.width - 1) & (yi < page.height - 1)
        hits = np.zeros(inside.sum(), bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                hits |= page.leads[yi[inside] + dy, xi[inside] + dx] == geo.index + 1
        assert hits.mean() >= min_hit, f"{geo.name}: only {hits.mean():.3f} of points on own trace"
    for k, geos in by_lead.items():
        ys, xs = np.nonzero(page.leads == k + 1)
        if len(xs) == 0:
            continue
        pix = np.column_stack([xs, ys]).astype(np.float64)
        dist = np.full(len(pix), np.inf)
        for geo in geos:
            dist = np.minimum(dist, segment_distances(pix, geo.points, geo.px_per_s / geo.fs, geo.x0))
        assert dist.max() <= min(width, width / 2 + 1.0), (
            f"lead {geos[0].name}: trace pixel {dist.max():.2f} px from its polyline"
        )


# ---------------------------------------------------------------------------------------- layouts
def test_3x4_layout_rows_columns_and_time_spans():
    spec = layout_spec("3x4", 10.0)
    assert spec.n_rows == 3 and len(spec.panels) == 12
    rows = [[p.lead for p in spec.panels if p.row == r] for r in range(3)]
    assert rows == [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]]
    for p in spec.panels:
        assert (p.start_s, p.stop_s) == (2.5 * p.column, 2.5 * (p.column + 1))


@pytest.mark.parametrize(
    ("name", "rhythm"), [("3x4+1", ["II"]), ("3x4+3", ["II", "V1", "V5"]), ("12x1", list(STANDARD_12))]
)
def test_rhythm_strips_span_the_whole_page(name, rhythm):
    spec = layout_spec(name, 10.0)
    strips = [p for p in spec.panels if p.rhythm]
    assert [p.lead for p in strips] == rhythm
    assert all((p.start_s, p.stop_s, p.column) == (0.0, 10.0, 0) for p in strips)
    assert spec.n_rows == (len(rhythm) if name == "12x1" else 3 + len(rhythm))


def test_6x2_and_holter_layouts():
    spec = layout_spec("6x2", 10.0)
    assert [p.lead for p in spec.panels if p.column == 0] == ["I", "II", "III", "aVR", "aVL", "aVF"]
    assert {(p.start_s, p.stop_s) for p in spec.panels if p.column == 1} == {(5.0, 10.0)}
    holter = layout_spec("2x1", 60.0, record_leads=("MLII", "V5", "V1"))
    assert holter.leads == ("MLII", "V5") and all(p.stop_s == 60.0 for p in holter.panels)
    with pytest.raises(ConfigError, match="unknown layout"):
        layout_spec("4x3")


# --------------------------------------------------------------------------------------- settings
def test_settings_from_dict_and_validation():
    s = RenderSettings.from_dict(
        {"dpi": 300, "layout": "6x2", "grid_color": "green", "trace_color": [0, 0, 200]}
    )
    assert RenderSettings.from_dict(s.to_dict()) == s
    assert s.px_per_mm == pytest.approx(300 / 25.4)
    with pytest.raises(ConfigError, match="did you mean 'dpi'"):
        RenderSettings.from_dict({"dpii": 100})
    with pytest.raises(ConfigError, match=r"render\.dpi"):
        RenderSettings(dpi=-5)
    with pytest.raises(ConfigError, match=r"render\.layout"):
        RenderSettings(layout="4x4")
    with pytest.raises(ConfigError, match=r"render\.grid_color.*'green'"):
        RenderSettings(grid_color="gren")
    with pytest.raises(ConfigError, match=r"render\.paper"):
        RenderSettings(paper="a3")
    with pytest.raises(ConfigError, match="speed"):
        RenderSettings(speed_mm_per_s=30)
    with pytest.raises(ConfigError, match="needs"):
        RenderSettings(duration_s=12.0)  # 300 mm of signal on 277 mm of A4
    with pytest.raises(ConfigError, match="trace_color"):
        RenderSettings(trace_color=[0, 0, 300])
    with pytest.raises(ConfigError, match="true or false"):
        RenderSettings(header="yes")
    assert RenderSettings(speed_mm_per_s=50).row_duration_s == 5.0


# ------------------------------------------------------------------------------------- rendering
@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_every_layout_renders_exact_masks(layout):
    rec = ecg_like()
    page = render_page(rec, {"layout": layout, "dpi": 100})
    spec = layout_spec(layout, 10.0, rec.leads)
    assert page.image.shape == (827, 1169, 3) and page.image.dtype == np.uint8
    assert [g.name for g in page.geometry] == [p.lead for p in spec.panels]
    assert page.lead_names == spec.leads
    assert set(np.unique(page.leads)) == {0, *(rec.leads.index(x) + 1 for x in spec.leads)}
    check_trace_masks(page)


def test_masks_and_signal_of_a_simulated_12_lead_at_200_dpi(sim12):
    page = render_page(sim12, RenderSettings(dpi=200), rng=np.random.default_rng(5))
    check_trace_masks(page)
    start = page.meta["window_start_sample"]
    assert 0 <= start <= 1000
    # Challenge-2024 style signal: each lead only inside its panel, II over the whole rhythm strip.
    sig, src = page.signal, sim12.signal[:, start : start + 5000]
    i, avr, ii = STANDARD_12.index("I"), STANDARD_12.index("aVR"), STANDARD_12.index("II")
    np.testing.assert_array_equal(sig[i, :1250], src[i, :1250])
    assert np.isnan(sig[i, 1250:]).all()
    assert np.isnan(sig[avr, :1250]).all() and np.isnan(sig[avr, 2500:]).all()
    np.testing.assert_array_equal(sig[ii], src[ii])
    # Points follow the stated geometry exactly (to the 1/16 px OpenCV draws).
    geo = page.geometry[1]  # aVR, row 0, column 1
    n = np.arange(geo.stop_sample - geo.start_sample)
    expect_x = geo.x0 + n / geo.fs * geo.px_per_s
    expect_y = geo.baseline_y - src[avr, geo.start_sample : geo.stop_sample] * geo.px_per_mv
    assert np.abs(geo.points[:, 0] - expect_x).max() <= 1 / 32 + 1e-9
    assert np.abs(geo.points[:, 1] - expect_y).max() <= 1 / 32 + 1e-6


def test_grid_pixels_lie_on_whole_millimetres():
    page = render_page(ecg_like(), {"dpi": 300, "lead_labels": False, "header": False})
    ppm, (gx0, gy0) = page.meta["px_per_mm"], page.meta["grid_origin_px"]
    widths = page.meta["grid_line_px"]
    assert widths == {"minor_px": 1, "major_px": 2}
    on_grid = page.mask != MASK_TRACE
    h_rows = np.flatnonzero(
        ((page.mask == MASK_GRID_HORIZONTAL) | (page.mask == MASK_GRID_INTERSECTION)).any(1)
    )
    v_cols = np.flatnonzero(
        ((page.mask == MASK_GRID_VERTICAL) | (page.mask == MASK_GRID_INTERSECTION)).any(0)
    )
    for lines, origin, n_mm in (
        (h_rows, gy0, page.meta["grid_size_mm"][1]),
        (v_cols, gx0, page.meta["grid_size_mm"][0]),
    ):
        mm = (lines - origin) / ppm
        assert np.abs(mm - np.round(mm)).max() * ppm <= 1.0  # within a (major) line's width of k mm
        assert set(np.round(mm).astype(int)) == set(range(n_mm + 1))  # every millimetre has its line
        major = np.round(mm).astype(int) % 5 == 0
        assert len(lines[major]) == 2 * (n_mm // 5 + 1) and len(lines[~major]) == n_mm + 1 - (n_mm // 5 + 1)
    # Crossings: exactly the pixels on both a horizontal-line row and a vertical-line column.
    both = np.zeros_like(on_grid)
    both[np.ix_(h_rows, v_cols)] = True
    assert np.array_equal((page.mask == MASK_GRID_INTERSECTION), both & on_grid)
    bw = render_page(ecg_like(), {"dpi": 100, "grid_color": "bw"})
    assert set(np.unique(bw.mask)) == {0, MASK_TRACE}


@pytest.mark.parametrize("dpi", [100, 200, 300])
def test_trace_class_is_exactly_the_pixels_darkened_by_half(dpi):
    # On white paper with black ink and no text, a pixel's grey level is 255 * (1 - coverage):
    # the trace class (coverage >= 0.5) must be exactly the pixels at or below 127.
    page = render_page(ecg_like(), {"dpi": dpi, "grid_color": "bw", "lead_labels": False, "header": False})
    grey = page.image[:, :, 0]
    assert np.array_equal(page.image[:, :, 1], grey) and np.array_equal(page.image[:, :, 2], grey)
    assert np.array_equal(grey <= 127, page.mask == MASK_TRACE)
    assert ((grey < 255) & (grey > 127)).sum() > 0  # anti-aliased fringe exists and is not trace


def test_overlapping_leads_follow_the_instance_rule():
    # 12 rows at 20 mm/mV with 3x amplitudes overlap a lot. Each lead is rendered alone (same
    # geometry) to get its own coverage from the grey level; the full page's instance must be the
    # lead of largest coverage (>= 128), ties going to the lower lead index.
    rec = ecg_like(fs=250.0)
    rec = rec.replace(signal=rec.signal * 3)
    opts = {"layout": "12x1", "dpi": 100, "gain_mm_per_mv": 20, "grid_color": "bw", "lead_labels": False,
            "header": False, "calibration_pulse": False, "allow_missing_leads": True}  # fmt: skip
    page = render_page(rec, opts)
    coverage = np.stack(
        [255 - render_page(rec.select([lead]), opts).image[:, :, 0].astype(int) for lead in rec.leads]
    )
    best = coverage.max(axis=0)
    expected = np.where(best >= 128, coverage.argmax(axis=0) + 1, 0)  # argmax returns the first maximum
    assert ((coverage >= 128).sum(axis=0) >= 2).sum() > 100  # the leads do overlap
    assert np.array_equal(page.leads, expected)
    assert np.array_equal(255 - page.image[:, :, 0].astype(int), best)  # image coverage = max of strokes


@pytest.mark.parametrize(
    "opts",
    [
        {"paper": "letter", "grid_color": "pink", "speed_mm_per_s": 50.0, "gain_mm_per_mv": 5.0},
        {"grid_color": "blue", "gain_mm_per_mv": 20.0, "minor_grid": False, "trace_color": "darkblue"},
        {"grid_color": "grey", "trace_width_px": 6.0, "layout": "3x4+3", "dpi": 150.0},
    ],
)
def test_paper_speed_gain_and_colour_options(opts):
    page = render_page(ecg_like(), {"dpi": 100, **opts})
    settings = RenderSettings.from_dict({"dpi": 100, **opts})
    width_mm, height_mm = settings.paper_size_mm
    assert page.image.shape[:2] == (
        round(height_mm * settings.px_per_mm),
        round(width_mm * settings.px_per_mm),
    )
    assert page.signal.shape[1] == round(250 / settings.speed_mm_per_s * 500)
    geo = page.geometry[0]
    assert geo.px_per_mv == pytest.approx(settings.px_per_mm * settings.gain_mm_per_mv)
    if not settings.minor_grid:  # only the 5 mm lines: 1 + grid_mm // 5 of them
        rows = np.flatnonzero((page.mask == MASK_GRID_HORIZONTAL).any(axis=1))
        assert len(rows) == (page.meta["grid_size_mm"][1] // 5 + 1) * page.meta["grid_line_px"]["major_px"]
    check_trace_masks(page)


def test_calibration_pulse_is_trace_class_but_no_lead():
    page = render_page(ecg_like(), {"dpi": 100, "layout": "3x4"})
    assert len(page.meta["calibration_boxes"]) == 3
    for x0, y0, x1, y1 in page.meta["calibration_boxes"]:
        box = np.s_[int(y0) + 2 : int(y1) - 1, int(x0) : int(x1) + 1]
        assert (page.mask[box] == MASK_TRACE).sum() > 20
        assert not page.leads[box].any()
    plain = render_page(ecg_like(), {"dpi": 100, "layout": "3x4", "calibration_pulse": False})
    assert plain.meta["calibration_boxes"] == []
    assert np.array_equal(plain.leads, page.leads)


def test_short_record_is_padded_with_nan_and_not_drawn():
    rec = ecg_like(fs=250.0, seconds=4.0)
    page = render_page(rec, {"dpi": 100, "layout": "3x4+1"})
    assert page.signal.shape == (12, 2500)
    ii = page.geometry[-1]  # the rhythm strip
    assert np.isnan(page.signal[1, 1000:]).all() and np.isfinite(page.signal[1, :1000]).all()
    assert np.isnan(ii.points[1000:]).all()
    x_end = ii.x0 + 999 / 250 * ii.px_per_s
    cols = np.flatnonzero((page.leads == 2).any(axis=0))
    assert cols.max() <= x_end + page.meta["trace_width_px"]
    # Columns 3 and 4 (seconds 5..10) are blank for every lead.
    assert all(np.isnan(g.points).all() for g in page.geometry if g.start_sample >= 1250)


def test_missing_leads_raise_or_stay_blank():
    rec = ecg_like(leads=("I", "II", "V1"))
    with pytest.raises(LeadError, match=r"III, aVR, aVL, aVF, V2, V3, V4, V5, V6"):
        render_page(rec, {"layout": "3x4"})
    page = render_page(rec, {"layout": "3x4", "dpi": 100, "allow_missing_leads": True})
    assert page.meta["missing_leads"] == ["III", "aVR", "aVL", "aVF", "V2", "V3", "V4", "V5", "V6"]
    assert np.isnan(page.signal[2]).all() and np.isfinite(page.signal[0, :625]).all()
    assert set(np.unique(page.leads)) == {0, 1, 2, 7}
    check_trace_masks(page)


@pytest.mark.parametrize("fs", [100.0, 257.0, 500.0, 1000.0])
def test_any_sampling_rate(fs):
    page = render_page(ecg_like(fs=fs, seconds=11.0), {"dpi": 100}, window_start_s=0.5)
    n = round(10 * fs)
    assert page.signal.shape == (12, n) and page.fs == fs
    assert page.meta["window_start_sample"] == round(0.5 * fs)
    spans = [(g.start_sample, g.stop_sample) for g in page.geometry if g.name in ("I", "aVR", "V1", "V4")]
    assert spans == [
        (0, round(2.5 * fs)),
        (round(2.5 * fs), round(5 * fs)),
        (round(5 * fs), round(7.5 * fs)),
        (round(7.5 * fs), n),
    ]
    check_trace_masks(page)


def test_one_and_two_lead_records():
    one = render_page(ecg_like(leads=("MLII",)), {"layout": "1x1", "dpi": 100})
    assert one.lead_names == ("MLII",) and len(one.geometry) == 1
    check_trace_masks(one)
    two = render_page(ecg_like(fs=360.0, leads=("MLII", "V1")), {"layout": "2x1", "dpi": 100})
    assert two.lead_names == ("MLII", "V1") and set(np.unique(two.leads)) == {0, 1, 2}
    check_trace_masks(two)
    with pytest.raises(LeadError, match="I, II"):
        render_page(ecg_like(leads=("MLII",)), {"layout": "3x4+1"})


def test_window_choice_is_seeded_and_checked():
    rec = ecg_like(fs=100.0, seconds=60.0)
    a = render_page(rec, {"dpi": 50}, rng=7).meta["window_start_sample"]
    b = render_page(rec, {"dpi": 50}, rng=np.random.default_rng(7)).meta["window_start_sample"]
    assert a == b and 0 <= a <= 5000
    assert render_page(rec, {"dpi": 50}).meta["window_start_sample"] == 0
    with pytest.raises(RecordError, match="window start"):
        render_page(rec, {"dpi": 50}, window_start_s=61.0)


# --------------------------------------------------------------------------------------- writers
def test_write_read_round_trip_and_determinism(tmp_path):
    rec = ecg_like(fs=500.0, seconds=12.0)
    files = write_page(render_page(rec, {"dpi": 100}, rng=1), tmp_path / "a", "page-1", kaggle=True)
    again = write_page(render_page(rec, {"dpi": 100}, rng=1), tmp_path / "b", "page-1", kaggle=True)
    assert set(files) == {"image", "mask", "leads", "json", "hea", "dat", "csv"}
    for kind in files:
        assert files[kind].read_bytes() == again[kind].read_bytes(), f"{kind} differs between two renders"
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temp left over
    page = render_page(rec, {"dpi": 100}, rng=1)
    import cv2

    image = cv2.imread(str(files["image"]), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.array_equal(image, page.image)
    assert np.array_equal(cv2.imread(str(files["mask"]), cv2.IMREAD_UNCHANGED), page.mask)
    assert np.array_equal(cv2.imread(str(files["leads"]), cv2.IMREAD_UNCHANGED), page.leads)
    truth = read_page_truth(files["json"])
    assert truth["layout"] == "3x4+1" and truth["lead_names"] == list(STANDARD_12)
    assert (truth["width"], truth["height"], truth["fs"]) == (1169, 827, 500.0)
    assert truth["settings"]["dpi"] == 100.0 and truth["damage"] == []
    np.testing.assert_array_equal(truth["homography"], np.eye(3))
    for lead, geo in zip(truth["leads"], page.geometry, strict=True):
        assert lead["name"] == geo.name and lead["instance"] == geo.index + 1
        # JSON points are rounded to 1e-3 px (NaN rows compare equal).
        np.testing.assert_allclose(lead["points"], geo.points, rtol=0, atol=5e-4 + 1e-9)
        assert lead["source_start_sample"] == geo.start_sample + truth["window_start_sample"]
    record = wfdb.rdrecord(str(files["hea"].with_suffix("")))
    assert record.fmt == ["16"] * 12 and record.sig_name == list(STANDARD_12)
    stored = record.p_signal.T
    assert np.array_equal(np.isnan(stored), np.isnan(page.signal))
    assert np.nanmax(np.abs(stored - page.signal)) <= 0.0005 + 1e-6  # 1 µV steps
    rows = files["csv"].read_text().splitlines()
    assert rows[0] == ",".join(STANDARD_12) and len(rows) == 5001
    first = rows[1].split(",")
    assert first[3] == "" and float(first[0]) == pytest.approx(page.signal[0, 0], abs=1e-5)
    assert json.loads(files["json"].read_text())["leads"][1]["points"][0] is not None
    points_text = re.findall(r'"points":(\[.*?\]\])', files["json"].read_text())
    assert len(points_text) == 13 and not any(re.search(r"\.\d{4,}", t) for t in points_text)  # <= 3 dp


def test_points_are_rounded_and_damaged_pages_use_rle(tmp_path):
    """Warped (full-float) points are stored to 1e-3 px; a damaged page's PNG is encoded with the RLE
    strategy, deterministically, and decodes to the same pixels."""
    import cv2

    from ecglab.synth.writers import _PNG_IMAGE, image_png_params

    page = render_page(ecg_like(fs=100.0), {"dpi": 50}, rng=0)
    geo = page.geometry[0]
    shifted = geo.points + np.array([1 / 3, -2 / 7])  # what a warp leaves: full floats
    damaged = page.replace(
        geometry=[dataclasses.replace(geo, points=shifted), *page.geometry[1:]],
        meta={**page.meta, "damage": [{"name": "noise"}]},
    )
    assert image_png_params(page) == _PNG_IMAGE
    assert cv2.IMWRITE_PNG_STRATEGY_RLE in image_png_params(damaged)
    a = write_page(damaged, tmp_path / "a", "d")
    b = write_page(damaged, tmp_path / "b", "d")
    assert a["image"].read_bytes() == b["image"].read_bytes()
    assert np.array_equal(cv2.imread(str(a["image"]), cv2.IMREAD_COLOR)[:, :, ::-1], damaged.image)
    stored = read_page_truth(a["json"])["leads"][0]["points"]
    ok = np.isfinite(shifted[:, 0])
    np.testing.assert_array_equal(stored[ok], np.round(shifted[ok], 3))
    assert np.abs(stored[ok] - shifted[ok]).max() <= 5e-4 + 1e-12


def test_writer_refuses_bad_names_and_formats(tmp_path):
    page = render_page(ecg_like(fs=100.0), {"dpi": 50})
    with pytest.raises(RecordError, match="image id"):
        write_page(page, tmp_path, "bad.name")
    with pytest.raises(RecordError, match="image format"):
        write_page(page, tmp_path, "ok", image_format="tiff")
    assert kaggle_csv(page).count("\n") == 1001
    files = write_page(page, tmp_path, "as-jpeg", image_format="jpg")
    assert files["image"].name == "as-jpeg.jpg" and files["image"].read_bytes()[:2] == b"\xff\xd8"


# ------------------------------------------------------------------------------------- round trip
def test_signals_from_truth_undamaged(sim12, tmp_path):
    page = render_page(sim12, {"dpi": 200})
    files = write_page(page, tmp_path, "rt")
    rms = {}
    for method in COLUMN_METHODS:
        signal, names, fs = signals_from_truth(files["leads"], files["json"], method=method)
        assert names == STANDARD_12 and fs == 500.0 and signal.shape == page.signal.shape
        plotted = np.isfinite(page.signal)
        assert not (np.isfinite(signal) & ~plotted).any()  # nothing found where nothing was drawn
        assert np.isfinite(signal[plotted]).mean() > 0.999
        rms[method] = float(np.sqrt(np.nanmean((signal - page.signal) ** 2)))
    # Measured at 200 DPI with the default 0.4 mm (3.4 px) trace: see MEASURED below.
    assert all(value < 0.025 for value in rms.values()), rms
    assert rms["mean"] <= rms["midpoint"] + 1e-3
    assert rms[DEFAULT_METHOD] < rms["mean"], rms  # the default beats the plain column mean


def test_sweep_keeps_a_sharp_peak_that_the_column_mean_cuts(tmp_path):
    """A narrow 2 mV spike (a QRS at 500 Hz) drawn with the 3.4 px pen at 200 DPI: the column mean
    misses the apex by 0.90 mV on average, the sweep method (apex knot half a pen inside the top row)
    by 0.33 mV (measured)."""
    fs = 500.0
    t = np.arange(int(10 * fs)) / fs
    beat = np.zeros_like(t)
    for centre in np.arange(0.5, 10, 1.0):  # triangles: 10 ms up, 14 ms down, then a -0.6 mV trough
        k = int(centre * fs)
        beat[k - 5 : k + 1] = np.linspace(0, 2.0, 6)
        beat[k : k + 8] = np.linspace(2.0, -0.6, 8)
        beat[k + 7 : k + 13] = np.linspace(-0.6, 0, 6)
    rec = Recording(
        signal=np.tile(beat, (12, 1)).astype(np.float32), fs=fs, leads=STANDARD_12, record_id="spk"
    )
    page = render_page(rec, {"dpi": 200})
    files = write_page(page, tmp_path, "spk")
    peaks = np.isclose(page.signal, 2.0)
    assert peaks.sum() >= 30  # ~3 beats per 2.5 s panel, 10 on the rhythm strip
    err = {}
    for method in ("mean", "sweep"):
        got, _, _ = signals_from_truth(files["leads"], files["json"], method=method)
        err[method] = float(np.nanmean(np.abs(got[peaks] - 2.0)))
    assert err["sweep"] < 0.5 * err["mean"], err


def test_pen_width_is_taken_to_the_flat_page():
    truth = {"trace_width_px": 3.4, "homography": np.diag([2.0, 2.0, 1.0])}
    assert pen_width_px(truth) == pytest.approx(1.7)
    assert pen_width_px({"homography": np.eye(3)}) is None


def test_unknown_column_method_is_refused(tmp_path):
    files = write_page(render_page(ecg_like(fs=100.0), {"dpi": 50}), tmp_path, "m")
    with pytest.raises(RecordError, match="column method"):
        signals_from_truth(files["leads"], files["json"], method="median")


def test_signals_from_truth_undoes_a_homography(tmp_path):
    import cv2

    page = render_page(ecg_like(), {"dpi": 100})
    h = np.array([[0.97, 0.02, 14.0], [-0.015, 1.01, -6.0], [1e-5, -2e-5, 1.0]])
    size = (page.width, page.height)
    warped = page.replace(
        leads=cv2.warpPerspective(page.leads, h, size, flags=cv2.INTER_NEAREST),
        mask=cv2.warpPerspective(page.mask, h, size, flags=cv2.INTER_NEAREST),
        image=cv2.warpPerspective(page.image, h, size),
        homography=h,
    )
    flat = write_page(page, tmp_path, "flat")
    bent = write_page(warped, tmp_path, "bent")
    ref, _, _ = signals_from_truth(flat["leads"], flat["json"])
    got, _, _ = signals_from_truth(bent["leads"], bent["json"])
    both = np.isfinite(ref) & np.isfinite(got)
    assert both.sum() > 0.97 * np.isfinite(page.signal).sum()
    assert np.sqrt(np.mean((got[both] - page.signal[both]) ** 2)) < 0.05


# ------------------------------------------------------------------------------------- real data
@pytest.mark.integration
def test_real_records_render_with_exact_truth(shared_data, tmp_path):
    """PTB-XL (WFDB, 500 Hz), Challenge .mat (Georgia, 500 Hz) and MIT-BIH (360 Hz, 2 leads)."""
    from ecglab.io.reader import read_record

    # Round-trip RMSE bounds from measurements at 100 DPI (0.023, 0.038, 0.106 mV): real signals
    # carry more high-frequency content than simulated ones, and at 12.5 mm/s one pixel column
    # holds ~7 MIT-BIH samples, whose spread a column position cannot resolve.
    cases = [
        (shared_data / "ptbxl" / "records500" / "00000" / "00001_hr", {"layout": "3x4+1"}, 0.03),
        (shared_data / "cinc2020" / "georgia" / "E00001", {"layout": "6x2"}, 0.05),
        (shared_data / "mitdb" / "100", {"layout": "2x1", "speed_mm_per_s": 12.5}, 0.13),
    ]
    for path, opts, bound in cases:
        rec = read_record(path)
        page = render_page(rec, {**opts, "dpi": 100}, rng=0)
        check_trace_masks(page)
        files = write_page(page, tmp_path, page.record_id.replace(".", "_"))
        signal, names, fs = signals_from_truth(files["leads"], files["json"])
        assert names == page.lead_names and fs == rec.fs
        both = np.isfinite(signal) & np.isfinite(page.signal)
        assert both.sum() > 0.99 * np.isfinite(page.signal).sum()
        rmse = float(np.sqrt(np.mean((signal[both] - page.signal[both]) ** 2)))
        assert rmse < bound, f"{path.name}: round-trip RMSE {rmse:.4f} mV"


# ------------------------------------------------------------------------- labels and separators
def _dark_text(page, geo, y_lo: float, y_hi: float, x_lo: float, x_hi: float) -> int:
    """Dark pixels outside the trace class in a box (page pixels, relative to ``geo``)."""
    y0, y1 = round(geo.baseline_y + y_lo), round(geo.baseline_y + y_hi)
    x0, x1 = round(geo.x0 + x_lo), round(geo.x0 + x_hi)
    box = page.image[y0:y1, x0:x1, 0] < 100
    return int((box & (page.mask[y0:y1, x0:x1] != MASK_TRACE)).sum())


@pytest.mark.parametrize("position", ["above", "below", "on", "kit"])
def test_lead_label_position(position):
    opts = {"dpi": 200, "grid_color": "bw", "header": False, "calibration_pulse": False}
    page = render_page(ecg_like(), {**opts, "label_position": position, "label_size_mm": 3.0})
    bare = render_page(ecg_like(), {**opts, "lead_labels": False})
    ppm = page.meta["px_per_mm"]
    geo = next(g for g in page.geometry if g.name == "aVR")  # second column of the first row
    assert np.array_equal(page.mask, bare.mask)  # text never enters a mask class
    above = _dark_text(page, geo, -14 * ppm, -2 * ppm, 0, 10 * ppm)
    below = _dark_text(page, geo, 0.3 * ppm, 3.5 * ppm, 0, 10 * ppm)
    low = _dark_text(page, geo, 4.2 * ppm, 7.2 * ppm, 0, 10 * ppm)  # ecg-image-kit's place, under a bar
    assert (above > 20) == (position == "above")
    assert (below > 20) == (position in ("below", "on"))
    assert (low > 20) == (position == "kit")


def test_lead_separators_mark_later_panels_only():
    opts = {"dpi": 200, "grid_color": "bw", "header": False, "lead_labels": False, "calibration_pulse": False}
    page = render_page(ecg_like(), {**opts, "lead_separators": True})
    bare = render_page(ecg_like(), opts)
    ppm = page.meta["px_per_mm"]
    added = (page.image[:, :, 0] < 128) & (bare.image[:, :, 0] >= 128)
    for geo in page.geometry[:4]:  # first row: I, aVR, V1, V4
        x, y = round(geo.x0), round(geo.baseline_y)
        bar = added[y - round(1.5 * ppm) : y + round(1.5 * ppm), x - 1 : x + 2].any(axis=1).mean()
        assert (bar > 0.5) == (geo.name != "I"), geo.name
    assert np.array_equal(page.mask, bare.mask)


def test_separator_size_follows_the_settings():
    opts = {"dpi": 200, "grid_color": "bw", "header": False, "lead_labels": False, "calibration_pulse": False}
    bare = render_page(ecg_like(), opts)
    for height, width in ((3.0, 0.25), (6.0, 0.75)):
        page = render_page(ecg_like(), {**opts, "lead_separators": True, "separator_height_mm": height,
                                        "separator_width_mm": width})  # fmt: skip
        ppm = page.meta["px_per_mm"]
        geo = next(g for g in page.geometry if g.name == "aVR")
        added = (page.image[:, :, 0] < 128) & (bare.image[:, :, 0] >= 128)
        band = slice(round(geo.baseline_y - 10 * ppm), round(geo.baseline_y + 10 * ppm))  # this row only
        rows = np.flatnonzero(added[band, round(geo.x0) - 4 : round(geo.x0) + 5].any(axis=1))
        cols = np.flatnonzero(added[round(geo.baseline_y) - 2 : round(geo.baseline_y) + 3].any(axis=0))
        cols = cols[np.abs(cols - geo.x0) < 10]
        # OpenCV adds round caps of half the line width at both ends.
        assert abs((rows.max() - rows.min()) / ppm - (height + width)) < 0.4, (height, rows.min(), rows.max())
        assert abs(len(cols) / ppm - width) < 0.5, (width, len(cols))
    with pytest.raises(ConfigError, match="separator_height_mm"):
        RenderSettings.from_dict({"separator_height_mm": 0})


def test_label_settings_are_checked():
    with pytest.raises(ConfigError, match="label_position"):
        RenderSettings.from_dict({"label_position": "left"})
    with pytest.raises(ConfigError, match="label_size_mm"):
        RenderSettings.from_dict({"label_size_mm": 50})


def test_connected_panels_draw_the_step_between_leads_in_no_leads_mask():
    opts = {"dpi": 200, "grid_color": "bw", "header": False, "lead_labels": False, "calibration_pulse": False}
    page = render_page(ecg_like(), {**opts, "connect_panels": True})
    bare = render_page(ecg_like(), opts)
    added = (page.image[:, :, 0] < 128) & (bare.image[:, :, 0] >= 128)
    first, second = page.geometry[0], page.geometry[1]  # I then aVR in the first row
    end, start = first.points[np.isfinite(first.points).all(1)][-1], second.points[0]
    x = round(second.x0)
    step = np.flatnonzero(added[:, x - 2 : x + 3].any(axis=1))
    lo, hi = sorted((end[1], start[1]))
    assert step.size and step.min() <= lo + 2 and step.max() >= hi - 2  # spans the level change
    assert np.array_equal(page.leads, bare.leads)  # the step is no lead's
    assert (page.mask == MASK_TRACE).sum() >= (bare.mask == MASK_TRACE).sum()
    with pytest.raises(ConfigError, match="connect_panels"):
        RenderSettings.from_dict({"connect_panels": "yes"})
