"""Damage of synthetic ECG pages: truth stays consistent, randomness is reproducible, settings validate."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from ecglab.errors import ConfigError, RecordError
from ecglab.synth.damage import (
    DAMAGE_ORDER,
    PRESETS,
    DamageSettings,
    apply_damage,
    fit_homography,
    paper_colour,
    transform_points,
    warp_page,
)
from ecglab.synth.page import MASK_GRID_HORIZONTAL, MASK_GRID_VERTICAL, MASK_TRACE, LeadGeometry, Page

GEOMETRIC = ("rotation", "perspective")
PHOTOMETRIC = tuple(name for name in DAMAGE_ORDER if name not in GEOMETRIC)
PAPER = (250, 244, 240)


def make_page(width: int = 480, height: int = 360, n_leads: int = 3, thickness: int = 3) -> Page:
    """A small page: a pink grid and ``n_leads`` sine traces drawn with cv2 from their own points."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = PAPER
    mask = np.zeros((height, width), np.uint8)
    leads = np.zeros((height, width), np.uint8)
    for x in range(0, width, 10):
        image[:, x] = (240, 170, 170)
        mask[:, x] = MASK_GRID_VERTICAL
    for y in range(0, height, 10):
        image[y, :] = (240, 170, 170)
        mask[y, :] = np.where(mask[y, :] == MASK_GRID_VERTICAL, 3, MASK_GRID_HORIZONTAL)
    fs = 100.0
    geometry = []
    row_h = height / n_leads
    for k in range(n_leads):
        n = 300
        x = 40 + np.arange(n) * (width - 80) / n
        baseline = row_h * (k + 0.5)
        y = baseline - 20 * np.sin(2 * np.pi * (k + 1) * np.arange(n) / fs)
        points = np.stack([x, y], axis=1)
        points[100:110] = np.nan  # a gap in the plotted signal
        for part in (points[:100], points[110:]):
            fixed = [np.round(part * 16).astype(np.int32)]
            cv2.polylines(image, fixed, False, (20, 20, 20), thickness, cv2.LINE_8, shift=4)
            cv2.polylines(mask, fixed, False, MASK_TRACE, thickness, cv2.LINE_8, shift=4)
            cv2.polylines(leads, fixed, False, k + 1, thickness, cv2.LINE_8, shift=4)
        geometry.append(
            LeadGeometry(
                name=f"L{k}",
                index=k,
                bbox=(0.0, k * row_h, float(width), (k + 1) * row_h),
                start_sample=0,
                stop_sample=n,
                fs=fs,
                x0=40.0,
                baseline_y=baseline,
                px_per_mm_x=1.6,
                px_per_mm_y=1.6,
                gain_mm_per_mv=10.0,
                speed_mm_per_s=25.0,
                points=points,
            )
        )
    signal = np.zeros((n_leads, 300), np.float32)
    return Page(
        image=image,
        mask=mask,
        leads=leads,
        geometry=geometry,
        signal=signal,
        lead_names=tuple(g.name for g in geometry),
        fs=fs,
        record_id="test",
    )


def only(name: str, **params: float) -> DamageSettings:
    """Settings applying exactly one damage, always."""
    data = {n: {"p": 0.0} for n in DAMAGE_ORDER}
    data[name] = {"p": 1.0, **params}
    return DamageSettings.from_dict(data)


def points_on_lead(page: Page) -> float:
    """Fraction of in-frame points whose nearest pixel belongs to their own lead's trace."""
    hits = total = 0
    for g in page.geometry:
        pts = g.points[np.isfinite(g.points).all(axis=1)]
        cols, rows = np.round(pts[:, 0]).astype(int), np.round(pts[:, 1]).astype(int)
        inside = (cols >= 0) & (cols < page.width) & (rows >= 0) & (rows < page.height)
        rows, cols = rows[inside], cols[inside]
        ok = (page.leads[rows, cols] == g.index + 1) & (page.mask[rows, cols] == MASK_TRACE)
        hits += int(ok.sum())
        total += len(rows)
    return hits / total


def test_undamaged_page_points_fall_on_their_traces() -> None:
    assert points_on_lead(make_page()) == 1.0


@pytest.mark.parametrize("name", GEOMETRIC)
@pytest.mark.parametrize("expand", [False, True])
def test_geometric_damage_keeps_points_on_their_lead(name: str, expand: bool) -> None:
    page = make_page()
    settings = only(name, **({"max_deg": 8.0} if name == "rotation" else {"max_jitter": 0.08}))
    settings.expand = expand
    for seed in range(5):
        out = apply_damage(page, settings, np.random.default_rng(seed))
        assert out.image.shape[:2] == out.mask.shape == out.leads.shape
        if not expand:
            assert out.image.shape == page.image.shape
        # Nearest-neighbour labels and exactly mapped points: every point is on its own lead.
        assert points_on_lead(out) >= 0.99
        # The whole page stays in view: every point is inside the frame.
        pts = np.concatenate([g.points for g in out.geometry])
        pts = pts[np.isfinite(pts).all(axis=1)]
        assert (
            (pts >= -0.5).all()
            and (pts[:, 0] <= out.width - 0.5).all()
            and (pts[:, 1] <= out.height - 0.5).all()
        )
        # Truth is still a label image: only the classes and instances that were there.
        assert set(np.unique(out.mask)) <= set(np.unique(page.mask))
        assert set(np.unique(out.leads)) == set(np.unique(page.leads))
        # The stored homography maps the flat page's points to the new ones; NaN rows stay NaN.
        for g0, g1 in zip(page.geometry, out.geometry, strict=True):
            np.testing.assert_allclose(transform_points(g0.points, out.homography), g1.points, atol=1e-9)
            assert np.isnan(g1.points[100:110]).all()
        assert [d["name"] for d in out.meta["damage"]] == [name, "warp"]


def test_rotation_angle_matches_recorded_parameter() -> None:
    page = make_page()
    out = apply_damage(page, only("rotation", max_deg=5.0), np.random.default_rng(3))
    angle = out.meta["damage"][0]["angle_deg"]
    h = out.homography
    # cv2.getRotationMatrix2D's linear part is [[cos, sin], [-sin, cos]] (counter-clockwise on screen).
    measured = np.degrees(np.arctan2(h[0, 1], h[0, 0]))
    assert measured == pytest.approx(angle, abs=1e-6)


@pytest.mark.parametrize("name", PHOTOMETRIC)
def test_photometric_damage_leaves_truth_bit_identical(name: str) -> None:
    page = make_page()
    out = apply_damage(page, only(name), np.random.default_rng(1))
    assert out.mask is page.mask or np.array_equal(out.mask, page.mask)
    assert np.array_equal(out.leads, page.leads)
    np.testing.assert_array_equal(out.homography, np.eye(3))
    for g0, g1 in zip(page.geometry, out.geometry, strict=True):
        np.testing.assert_array_equal(g0.points, g1.points)
    assert out.image.shape == page.image.shape and out.image.dtype == np.uint8
    assert not np.array_equal(out.image, page.image), f"{name} did not change the image"
    assert [d["name"] for d in out.meta["damage"]] == [name]


def test_threshold_output_is_black_and_white_rgb() -> None:
    out = apply_damage(make_page(), only("threshold"), np.random.default_rng(0))
    assert set(np.unique(out.image)) <= {0, 255}
    assert (out.image[..., 0] == out.image[..., 1]).all() and (out.image[..., 1] == out.image[..., 2]).all()


def test_shadow_and_creases_only_darken_or_lighten_smoothly() -> None:
    page = make_page()
    out = apply_damage(page, only("shadow", strength=0.5), np.random.default_rng(2))
    ratio = out.image[..., 0].astype(float) / page.image[..., 0]
    assert ratio.max() <= 1.0 + 1 / 128 and ratio.min() >= 0.5 - 2 / 128
    assert ratio.min() < 0.9  # a real shadow somewhere


def test_input_page_is_not_modified() -> None:
    page = make_page()
    before = page.image.copy(), page.mask.copy(), [g.points.copy() for g in page.geometry]
    apply_damage(page, DamageSettings.preset("heavy"), np.random.default_rng(0))
    assert np.array_equal(page.image, before[0]) and np.array_equal(page.mask, before[1])
    for g, pts in zip(page.geometry, before[2], strict=True):
        np.testing.assert_array_equal(g.points, pts)
    assert "damage" not in page.meta


def test_same_seed_gives_byte_identical_output() -> None:
    page = make_page()
    settings = DamageSettings.preset("heavy")
    a = apply_damage(page, settings, np.random.default_rng(42))
    b = apply_damage(page, settings, np.random.default_rng(42))
    c = apply_damage(page, settings, np.random.default_rng(43))
    assert a.image.tobytes() == b.image.tobytes()
    assert a.mask.tobytes() == b.mask.tobytes() and a.leads.tobytes() == b.leads.tobytes()
    assert a.meta["damage"] == b.meta["damage"]
    assert a.image.tobytes() != c.image.tobytes()
    json.dumps(a.meta["damage"])  # JSON-serialisable


def test_one_damage_settings_do_not_change_the_others_draws() -> None:
    page = make_page()
    base = DamageSettings.from_dict({n: {"p": 1.0} for n in ("rotation", "noise")})
    other = DamageSettings.from_dict({n: {"p": 1.0} for n in ("rotation", "noise")} | {"blur": {"p": 1.0}})
    a = apply_damage(page, base, np.random.default_rng(5)).meta["damage"]
    b = apply_damage(page, other, np.random.default_rng(5)).meta["damage"]
    assert a[0] == b[0]  # same rotation angle whether or not blur is on


def test_probability_zero_or_disabled_leaves_page_unchanged() -> None:
    page = make_page()
    zero = DamageSettings.from_dict({n: {"p": 0.0} for n in DAMAGE_ORDER})
    for settings in (zero, DamageSettings.preset("none")):
        out = apply_damage(page, settings, np.random.default_rng(0))
        assert np.array_equal(out.image, page.image) and np.array_equal(out.mask, page.mask)
        assert np.array_equal(out.leads, page.leads)
        assert out.meta["damage"] == []


def test_every_damage_with_probability_one_runs_in_order() -> None:
    data = {n: {"p": 1.0} for n in DAMAGE_ORDER}
    out = apply_damage(make_page(), DamageSettings.from_dict(data), np.random.default_rng(0))
    names = [d["name"] for d in out.meta["damage"]]
    expected = [n for n in DAMAGE_ORDER if n not in GEOMETRIC]
    expected[5:5] = ["rotation", "perspective", "warp"]
    assert names == expected
    assert points_on_lead(out) >= 0.99


def test_default_preset_applies_damage_at_the_configured_rate() -> None:
    page = make_page(160, 120, n_leads=1)
    settings = DamageSettings()
    counts = dict.fromkeys(DAMAGE_ORDER, 0)
    n = 200
    for seed in range(n):
        for entry in apply_damage(page, settings, np.random.default_rng(seed)).meta["damage"]:
            if entry["name"] in counts:
                counts[entry["name"]] += 1
    for name in DAMAGE_ORDER:
        p = getattr(settings, name).p
        assert abs(counts[name] / n - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9, name


def test_transform_points_and_fit() -> None:
    h = np.array([[2.0, 0, 1], [0, 3.0, -1], [0, 0, 1]])
    pts = np.array([[1.0, 1.0], [np.nan, np.nan], [0.0, 2.0]])
    out = transform_points(pts, h)
    np.testing.assert_allclose(out[[0, 2]], [[3.0, 2.0], [1.0, 5.0]])
    assert np.isnan(out[1]).all()
    # A 90-degree rotation of a 200x100 page: expand gives a 100x200 canvas, shrink a 0.5 scale.
    rot = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    _, size = fit_homography(rot, (200, 100), expand=True)
    assert size == (100, 200)
    fitted, size = fit_homography(rot, (200, 100), expand=False)
    assert size == (200, 100)
    corners = transform_points(np.array([[-0.5, -0.5], [199.5, 99.5]]), fitted)
    assert np.abs(np.diff(corners[:, 1])) == pytest.approx(100.0)
    assert corners.min() >= -0.5 - 1e-9


def test_warp_page_translation_moves_labels_exactly() -> None:
    page = make_page()
    shift = np.array([[1.0, 0, 7], [0, 1, -4], [0, 0, 1]])
    out = warp_page(page, shift, (page.width, page.height), border_rgb=(1, 2, 3))
    assert np.array_equal(out.leads[:-4, 7:], page.leads[4:, :-7])  # x + 7, y - 4
    assert (out.image[:, :7] == (1, 2, 3)).all()
    assert (out.mask[:, :7] == 0).all()
    assert paper_colour(page.image) == PAPER


def test_bad_page_raises_record_error() -> None:
    page = make_page()
    with pytest.raises(RecordError, match="mask"):
        apply_damage(page.replace(mask=page.mask[:-1]), DamageSettings(), np.random.default_rng(0))
    with pytest.raises(RecordError, match="uint8"):
        apply_damage(page.replace(image=page.image.astype(float)), DamageSettings(), np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------


def test_settings_round_trip_and_presets() -> None:
    for name in PRESETS:
        settings = DamageSettings.preset(name)
        assert DamageSettings.from_dict(settings.to_dict()) == settings
    heavy = DamageSettings.from_dict({"preset": "heavy", "rotation": {"p": 0.25}})
    assert heavy.rotation.p == 0.25 and heavy.rotation.max_deg == 5.0
    assert DamageSettings.from_dict(None) == DamageSettings()


def test_settings_from_omegaconf_with_dot_override() -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"damage": {"preset": "light", "jpeg": {"min_quality": 60}}})
    cfg.merge_with_dotlist(["damage.rotation.p=0.5", "damage.border_rgb=[255,255,255]"])
    settings = DamageSettings.from_dict(OmegaConf.to_container(cfg.damage))  # type: ignore[arg-type]
    assert settings.rotation.p == 0.5 and settings.rotation.max_deg == 1.0
    assert settings.jpeg.min_quality == 60 and settings.border_rgb == [255, 255, 255]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rotation": {"p": 1.5}}, r"^damage\.rotation\.p: probability must be in \[0, 1\], got 1\.5$"),
        ({"blur": {"p": -0.1}}, r"damage\.blur\.p: probability"),
        ({"blur": {"max_sigma": -1}}, r"^damage\.blur\.max_sigma: must not be negative, got -1$"),
        ({"rotaton": {"p": 0.5}}, r"^damage: unknown key 'rotaton' \(did you mean 'rotation'\?"),
        ({"noise": {"sigma": 2}}, r"^damage\.noise: unknown key 'sigma' \(did you mean 'max_sigma'\?"),
        (
            {"jpeg": {"min_quality": 90, "max_quality": 80}},
            r"damage\.jpeg\.min_quality: must be <= max_quality",
        ),
        ({"jpeg": {"max_quality": 101}}, r"damage\.jpeg\.max_quality: must be <= 100"),
        ({"strokes": {"max_count": 2.5}}, r"damage\.strokes\.max_count: expected an integer"),
        ({"shadow": {"strength": "strong"}}, r"damage\.shadow\.strength: expected a number"),
        ({"shadow": 0.3}, r"damage\.shadow: expected a mapping"),
        ({"enabled": "yes"}, r"damage\.enabled: expected true or false"),
        ({"border_rgb": [255, 255]}, r"damage\.border_rgb: expected null or \[r, g, b\]"),
        ({"preset": "hevy"}, r"damage\.preset: unknown preset 'hevy' \(did you mean 'heavy'\?"),
    ],
)
def test_settings_validation_errors(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        DamageSettings.from_dict(data)
    assert "\n" not in str(info.value)


def test_validation_also_guards_direct_construction() -> None:
    from ecglab.synth.damage import RotationSettings

    with pytest.raises(ConfigError, match=r"damage\.rotation\.p"):
        RotationSettings(p=2.0)


def test_source_prefix_in_messages() -> None:
    with pytest.raises(ConfigError, match=r"^configs/synth\.yaml: damage\.blur\.p"):
        DamageSettings.from_dict({"blur": {"p": 3}}, source="configs/synth.yaml")


# ------------------------------------------------------------------------------------------------
# Speed (A4 at 200 DPI)
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_default_preset_is_fast_on_an_a4_page() -> None:
    page = make_page(1654, 2339, n_leads=12, thickness=2)
    settings = DamageSettings()
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        apply_damage(page, settings, np.random.default_rng(0))
        start = time.perf_counter()
        n = 20
        for seed in range(n):
            apply_damage(page, settings, np.random.default_rng(seed))
        per_page = (time.perf_counter() - start) / n
    finally:
        cv2.setNumThreads(threads)
    assert per_page < 0.2, f"{per_page * 1000:.0f} ms per page"
