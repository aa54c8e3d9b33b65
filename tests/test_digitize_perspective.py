"""Perspective rectification from the grid lines: rendered pages warped with a known homography.

Pages come from ``ecglab.synth.render_page`` (A4, 3x4+1, 200 DPI) of a simulated 12-lead record and
are warped like the synthetic ``perspective`` damage (corner jitter, then scaled to fit the page),
so the true map from the flat page to the image is known (``Page.homography``). After rectification
the flat page's 5 mm grid crossings must land on an axis-parallel grid: the composed map is
checked against the best scale-and-shift of the flat page (no rotation allowed).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from ecglab.digitize.deskew import estimate_rotation
from ecglab.digitize.errors import ImageError
from ecglab.digitize.perspective import (
    MIN_RESIDUAL_DEG,
    Perspective,
    estimate_perspective,
    rectify_perspective,
)
from ecglab.synth import RenderSettings, render_page
from ecglab.synth.damage import (
    DamageSettings,
    _perspective_matrix,
    _rotation_matrix,
    apply_damage,
    fit_homography,
    transform_points,
    warp_page,
)
from ecglab.synth.page import Page


@pytest.fixture(scope="module")
def page() -> Page:
    from ecglab.signal.simulate import simulate_12lead

    record = simulate_12lead(duration=12.0, fs=500.0, seed=3)
    return render_page(record, RenderSettings(layout="3x4+1", dpi=200))


def warped(page: Page, *, jitter: float = 0.0, angle_deg: float = 0.0, seed: int = 0) -> Page:
    """The page rotated and/or with its corners moved by up to ``jitter`` of its size, fitted back
    into the same canvas, exactly as the synthetic ``rotation``/``perspective`` damage does."""
    size = (page.width, page.height)
    matrix = np.eye(3)
    if angle_deg:
        matrix = _rotation_matrix(size, angle_deg) @ matrix
    if jitter:
        corners = np.random.default_rng(seed).uniform(-1, 1, (4, 2)) * jitter
        matrix = _perspective_matrix(size, corners) @ matrix
    matrix, out_size = fit_homography(matrix, size, expand=False)
    return warp_page(page, matrix, out_size)


def grid_crossings(page: Page) -> np.ndarray:
    """Flat-page pixel coordinates of every 5 mm grid crossing."""
    gx0, gy0 = page.meta["grid_origin_px"]
    ppm = page.meta["px_per_mm"]
    nx, ny = page.meta["grid_size_mm"]
    xs = gx0 + np.arange(0, nx + 1, 5) * ppm
    ys = gy0 + np.arange(0, ny + 1, 5) * ppm
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)


def axis_fit_error(src: np.ndarray, dst: np.ndarray) -> float:
    """Largest distance (px) of ``dst`` from the best ``x' = sx x + tx, y' = sy y + ty`` of ``src``:
    zero when the map is an axis-parallel scale and shift (straight, level grid, square or not)."""
    err = []
    for k in (0, 1):
        a = np.column_stack([src[:, k], np.ones(len(src))])
        coef, *_ = np.linalg.lstsq(a, dst[:, k], rcond=None)
        err.append(a @ coef - dst[:, k])
    return float(np.hypot(*err).max())


def test_clean_page_is_left_alone(page: Page) -> None:
    est = estimate_perspective(page.image)
    assert isinstance(est, Perspective)
    assert not est.applied
    assert est.residual_deg < MIN_RESIDUAL_DEG
    assert abs(est.rotation_deg) < 0.05
    assert est.n_lines >= 16
    out, hom = rectify_perspective(page.image)
    assert out is page.image
    np.testing.assert_array_equal(hom, np.eye(3))


@pytest.mark.parametrize(("jitter", "angle_deg", "seed"), [(0.03, 0.0, 1), (0.05, 0.0, 2), (0.04, -2.0, 3)])
def test_perspective_is_removed(page: Page, jitter: float, angle_deg: float, seed: int) -> None:
    damaged = warped(page, jitter=jitter, angle_deg=angle_deg, seed=seed)
    truth = damaged.homography  # flat page -> damaged image
    flat = grid_crossings(page)
    before = axis_fit_error(flat, transform_points(flat, truth))
    assert before > 10  # the warp is real: tens of pixels off an axis-parallel grid

    start = time.perf_counter()
    rectified, hom = rectify_perspective(damaged.image)
    print(f"\nrectify_perspective {jitter:.0%} jitter, {angle_deg}°: {time.perf_counter() - start:.3f} s")
    assert rectified.shape == damaged.image.shape and hom.dtype == np.float64
    est = estimate_perspective(damaged.image)
    assert est.applied and est.residual_deg > 1.0, est.note

    # The flat grid, through the warp and the rectification, is axis-parallel to ~1 px at 200 DPI.
    composed = hom @ truth
    after = axis_fit_error(flat, transform_points(flat, composed))
    assert after < 1.5, f"{after:.2f} px (before {before:.1f} px)"
    # ... and the composed map is a similarity: no projective part, square grid cells kept.
    composed = composed / composed[2, 2]
    assert np.abs(composed[2, :2]).max() * page.width < 2e-3
    sx, sy = np.linalg.norm(composed[:2, :2], axis=0)
    assert abs(sx / sy - 1) < 2e-3
    # The whole grid stays in view, at about the same scale (area kept).
    mapped = transform_points(flat, composed)
    assert mapped.min() >= 0 and (mapped.max(axis=0) <= (page.width - 1, page.height - 1)).all()
    assert 0.85 < sx < 1.1

    # In the rectified pixels the grid is level everywhere: each quadrant's own rotation estimate
    # agrees with the others within 0.2° (they spread by several degrees before).
    h, w = rectified.shape[:2]
    quads = [rectified[y : y + h // 2, x : x + w // 2] for y in (0, h // 2) for x in (0, w // 2)]
    angles = [estimate_rotation(q).angle_deg for q in quads]
    assert np.ptp(angles) < 0.2, angles


def test_pure_rotation_gives_a_rotation(page: Page) -> None:
    damaged = warped(page, angle_deg=3.0)
    est = estimate_perspective(damaged.image)
    # Parallel lines: nothing for this stage to do (the rotation stage de-rotates) ...
    assert not est.applied and est.residual_deg < MIN_RESIDUAL_DEG, est.note
    out, hom = rectify_perspective(damaged.image)
    assert out is damaged.image and np.array_equal(hom, np.eye(3))
    # ... but the estimate is the rotation itself: -3° in image coordinates (y down).
    assert est.rotation_deg == pytest.approx(-3.0, abs=0.02)
    hom = est.homography / est.homography[2, 2]
    assert np.abs(hom[2, :2]).max() * page.width < 1e-3  # no projective part
    lin = hom[:2, :2] / np.sqrt(abs(np.linalg.det(hom[:2, :2])))
    assert np.degrees(np.arctan2(lin[1, 0], lin[0, 0])) == pytest.approx(3.0, abs=0.02)  # levels them
    np.testing.assert_allclose(lin @ lin.T, np.eye(2), atol=2e-3)  # a rotation, no shear
    flat = grid_crossings(page)
    assert axis_fit_error(flat, transform_points(flat, est.homography @ damaged.homography)) < 1.0


def test_black_and_white_paper_is_left_alone(page: Page) -> None:
    from ecglab.signal.simulate import simulate_12lead

    record = simulate_12lead(duration=12.0, fs=500.0, seed=3)
    bw = warped(render_page(record, RenderSettings(layout="3x4+1", dpi=100, grid_color="bw")), jitter=0.04)
    est = estimate_perspective(bw.image)
    assert not est.applied and est.source == "trace" and "too few" in est.note
    out, hom = rectify_perspective(bw.image)
    assert out is bw.image and np.array_equal(hom, np.eye(3))


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("blank", np.full((827, 1169, 3), 255, np.uint8)),
        ("black", np.zeros((400, 500, 3), np.uint8)),
        ("noise", np.random.default_rng(0).integers(0, 256, (400, 600, 3), dtype=np.uint8)),
        ("tiny", np.full((20, 30, 3), 200, np.uint8)),
    ],
)
def test_no_lines_gives_identity_with_a_note(name: str, image: np.ndarray) -> None:
    est = estimate_perspective(image)
    assert not est.applied and est.note and est.n_lines == 0, (name, est.note)
    np.testing.assert_array_equal(est.homography, np.eye(3))
    out, hom = rectify_perspective(image)
    assert out is image and np.array_equal(hom, np.eye(3))


@pytest.mark.parametrize("bad", [np.zeros((300, 400), np.uint8), np.zeros((300, 400, 3), np.float32)])
def test_bad_input_raises(bad: np.ndarray) -> None:
    with pytest.raises(ImageError, match="uint8"):
        estimate_perspective(bad)


def test_heavy_damage_page(page: Page) -> None:
    """A page with the ``heavy`` preset's damage (shading, creases, stamps, blur, noise, JPEG...)
    and a sure perspective; binarization is off (see the module's known gaps)."""
    settings = DamageSettings.from_dict(
        {"preset": "heavy", "perspective": {"p": 1.0}, "threshold": {"p": 0.0}}
    )
    damaged = apply_damage(page, settings, np.random.default_rng(5))
    flat = grid_crossings(page)
    est = estimate_perspective(damaged.image)
    assert est.applied, est.note
    assert axis_fit_error(flat, transform_points(flat, est.homography @ damaged.homography)) < 1.5


@pytest.mark.slow
def test_heavy_preset_figures(page: Page) -> None:
    """Ten pages with the ``heavy`` preset as is (seeds 0-9): corner error of the grid against the
    truth ``apply_damage`` records; printed for the report, bounded loosely."""
    settings = DamageSettings.preset("heavy")
    flat = grid_crossings(page)
    rows = []
    for seed in range(10):
        damaged = apply_damage(page, settings, np.random.default_rng(seed))
        names = [d["name"] for d in damaged.meta["damage"]]
        start = time.perf_counter()
        est = estimate_perspective(damaged.image)
        seconds = time.perf_counter() - start
        hom = est.homography if est.applied else np.eye(3)
        before = axis_fit_error(flat, transform_points(flat, damaged.homography))
        after = axis_fit_error(flat, transform_points(flat, hom @ damaged.homography))
        rows.append(("perspective" in names, est.applied, before, after, seconds))
        print(f"seed {seed}: perspective={'perspective' in names} applied={est.applied} "
              f"{before:7.2f} -> {after:6.2f} px  {seconds:.3f} s  {est.note}")  # fmt: skip
    persp = [r for r in rows if r[0]]
    errs = np.array([r[3] for r in persp])
    print(f"perspective pages {len(persp)}: median {np.median(errs):.2f} px, max {errs.max():.2f} px")
    assert persp and all(r[1] for r in persp)
    assert np.median(errs) < 1.0 and errs.max() < 3.0
    # Pages without a perspective are never made worse.
    assert all(r[3] <= r[2] + 0.5 for r in rows if not r[0])


def test_rectify_uses_the_perspective_stage_then_falls_back_to_rotation(page: Page) -> None:
    from ecglab.digitize.deskew import rectify

    damaged = warped(page, jitter=0.04, seed=5)
    out, hom = rectify(damaged.image)
    assert out.shape == damaged.image.shape
    flat = grid_crossings(page)
    assert abs(hom[2, :2]).max() > 0  # a homography, not a rotation
    assert axis_fit_error(flat, transform_points(flat, hom @ damaged.homography)) < 1.5
    rotated = warped(page, angle_deg=2.0)
    _, hom = rectify(rotated.image)
    np.testing.assert_allclose(hom[2], [0.0, 0.0, 1.0])  # the rotation search's affine matrix
    assert abs(abs(np.degrees(np.arctan2(hom[1, 0], hom[0, 0]))) - 2.0) < 0.1
    assert axis_fit_error(flat, transform_points(flat, hom @ rotated.homography)) < 1.5
