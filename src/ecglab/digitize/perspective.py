"""Perspective rectification of an ECG page from its grid lines (vanishing points → homography).

A photographed or skewed page keeps its grid lines straight but makes each family (the horizontal
lines, the vertical lines) converge to a vanishing point. The homography whose inverse has the
two vanishing points as its first two columns sends them to infinity along x and y: the vanishing
line goes back to infinity and both families become axis-parallel (Hartley & Zisserman, *Multiple
View Geometry*, 2nd ed., sections 2.7.1-2.7.2: affine rectification from the vanishing line, then
the two directions made orthogonal). The aspect left open by two directions is fixed by the paper
itself: ECG grid cells are square, so the x and y grid periods are made equal.

How the vanishing points are found, and why:

1. **Tile directions (initial guess).** The grid-strength image of a working copy (about 1200 px
   long side; trace pixels and their grey flanks removed) is cut into 128 px tiles. A family of
   parallel lines puts its spectral energy on one ray through the origin (its normal: the 5 mm
   period with its harmonics, the 1 mm period), the trace spreads its energy over all directions;
   so each tile's line angle is the ray (±20° around each axis) with the largest summed amplitude.
   A spectrum uses every grid pixel of the tile at once and is insensitive to the pixel staircase
   of thin tilted lines, which biases gradient-orientation (structure tensor) estimates towards
   the axes (measured: errors of 0.5-3° per tile against 0.1-0.2° here). A tile slope ``m`` at
   centre ``(x, y)`` is a linear constraint on the family's vanishing point written ``(1, a, b)``
   in homogeneous centred coordinates: ``m = a + b (m x - y)`` (``a`` the slope at the centre,
   ``b`` the inverse distance of the vanishing point, 0 for parallel lines, so the form stays
   well conditioned near infinity). RANSAC over tile pairs, then least squares on the inliers.
2. **Line fits (refinement).** Every grid pixel is mapped to its rectified ``y`` (``x`` for the
   other family) under the current pair of vanishing points, where the lines are evenly spaced
   peaks of the profile whatever the perspective. The 5 mm lines are taken (the autocorrelation
   gives their spacing; the 1 mm lines are too faint on a damaged page to be told apart
   reliably), each pixel near a peak joins that line, each line is fitted by weighted least
   squares over the page (the pixel band then follows the line's own fit, so a slightly wrong
   model does not truncate the line on one side), and the vanishing point is the weighted
   least-squares solution of ``slope_k = a - b intercept_k`` over the lines, with iterative
   3.5-sigma rejection of lines that miss it (creases, stamp edges, strokes). The fitted region
   grows from the central 40 % of the page to all of it, then a few passes over the whole page.
3. **Checks.** The correction is applied only when the grid lines are at least
   :data:`MIN_RESIDUAL_DEG` from parallel and the rectified grid's profile sharpness (the measure
   of :func:`ecglab.digitize.deskew.estimate_rotation`) beats the plainly de-rotated grid's by
   :data:`MIN_GAIN`: a fit that does not straighten the grid is not used.

Hough transforms were not used: on a 1 mm grid they return many near-duplicate peaks (minor and
major lines, both edges of a wide line) and their angular resolution at a usable accumulator size
(0.1°) is coarser than what the line fits give (a few 1e-4 rad).

Black-and-white paper has no grid: the ink stands in for it, but the trace alone has no vertical
lines, so such a page is left as it is (the rotation stage still works from the trace).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.ndimage
import scipy.signal

from ecglab.digitize.errors import ImageError
from ecglab.digitize.image import grid_strength, normalise, trace_mask

#: Below this largest angle difference between grid lines (degrees) the page is left as it is.
MIN_RESIDUAL_DEG = 0.3
#: Long side of the working copy, pixels (half of an A4 page at 200 DPI).
WORK_SIDE_PX = 1200
#: Fewest inlier lines per family for the vanishing point to be trusted.
MIN_LINES = 8
#: The rectified grid's profile sharpness over the de-rotated grid's must reach this to be applied.
MIN_GAIN = 1.25

_MIN_SIDE_PX = 64  # smaller images hold too few grid lines to fit
_TILE_PX = 128  # FFT tile side at working scale: ~30 minor grid periods at 1200 px
_WEDGE_DEG = 20.0  # tile line angles searched within this angle of each axis
_MIN_CONTRAST = 1.3  # a tile's best ray sum over the median ray sum
_MAX_POINTS = 80_000  # grid pixels used for line snapping (random subset beyond this)
_SNAP_SPACING = 0.45  # a pixel joins a line within this fraction of the line spacing
# Growing half-width of the fitted region (fraction of the page), then repeated passes over all of
# it (each pass moves the model only part of the way where the initial guess was poor).
_REGIONS = (0.4, 0.7, 1.0, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Perspective:
    """Estimated perspective of a page and the homography that removes it.

    Attributes
    ----------
    homography
        3x3 float64, input-image pixel → rectified pixel (pixel-centre coordinates, OpenCV's
        convention). Makes both grid line families axis-parallel (rotation included), keeps the
        area of the image and its centroid at the centre of an output of the same size, and makes
        grid cells square. Identity when nothing was found; see ``applied``.
    residual_deg
        Largest angle difference between any two grid lines of the page before rectification,
        degrees, with 90° taken off the vertical family (0 for a level or purely rotated page;
        the spread of a converging family, or the shear between the families, otherwise).
    rotation_deg
        Mean line angle (horizontal family, and vertical family minus 90°), degrees, image y down
        (positive: lines fall to the right on screen). The same sense as
        ``-Rotation.angle_deg`` of :func:`ecglab.digitize.deskew.estimate_rotation`.
    n_lines
        Grid lines (both families) that were fitted and agreed with their vanishing point.
    applied
        True when :func:`rectify_perspective` warps the image with ``homography``.
    note
        Why it was or was not applied.
    source
        ``grid``, ``trace`` (ink stands in for a missing grid) or ``none``.
    """

    homography: np.ndarray
    residual_deg: float
    rotation_deg: float
    n_lines: int
    applied: bool
    note: str
    source: str = "grid"


@dataclass(frozen=True)
class _Family:
    """Vanishing point ``(1, a, b)`` of one line family in its own centred working coordinates
    (``x`` along the lines, ``y`` across), the intercepts at ``x = 0`` of its inlier lines and
    their spacing."""

    a: float
    b: float
    intercepts: np.ndarray
    period: float  # spacing of the fitted (5 mm) lines, working px


def estimate_perspective(image: np.ndarray) -> Perspective:
    """Estimate the perspective of the ECG page in ``image`` from its grid lines.

    Parameters
    ----------
    image
        ``[H, W, 3]`` uint8 RGB.

    Returns
    -------
    Perspective
        A blank or grid-less image gives the identity with a ``note`` saying why.

    Raises
    ------
    ImageError
        If ``image`` is not an ``[H, W, 3]`` uint8 array.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageError(f"perspective: expected an [H, W, 3] uint8 image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < _MIN_SIDE_PX:
        return _identity(f"image {w}x{h} px is too small to measure grid lines", "none")
    scale = min(1.0, WORK_SIDE_PX / max(h, w))
    small = image
    if scale < 1.0:
        size = (max(round(w * scale), 1), max(round(h * scale), 1))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    weight, source = _line_weight(small)
    if weight is None:
        return _identity("no grid lines or ink found", "none")
    hs, ws = weight.shape
    # Centred working coordinates; (sx, sy) map them to centred full-resolution ones.
    sx, sy = w / ws, h / hs
    tiles = _tile_directions(weight)
    ys, xs = np.nonzero(weight)
    wts = weight[ys, xs]
    if ys.size > _MAX_POINTS:
        pick = np.random.default_rng(0).choice(ys.size, _MAX_POINTS, replace=False)
        ys, xs, wts = ys[pick], xs[pick], wts[pick]
    xc = xs.astype(np.float64) - (ws - 1) / 2
    yc = ys.astype(np.float64) - (hs - 1) / 2
    inits = []
    for k, what in enumerate(("horizontal", "vertical")):
        init = _ransac_family(tiles[k], ws, hs, swap=k == 1)
        if init is None:
            return _identity(f"too few {what} grid lines for a vanishing point", source)
        inits.append(init)
    fh, fv = _snap_families(xc, yc, wts, inits[0], inits[1])
    for fam, what in ((fh, "horizontal"), (fv, "vertical")):
        if fam is None or fam.intercepts.size < MIN_LINES:
            count = 0 if fam is None else fam.intercepts.size
            return _identity(f"too few {what} grid lines fitted ({count})", source)
    assert fh is not None and fv is not None
    # Vanishing points in centred full-resolution homogeneous coordinates.
    d = np.diag([sx, sy, 1.0])
    v_h = d @ np.array([1.0, fh.a, fh.b])
    v_v = d @ np.array([fv.a, 1.0, fv.b])
    residual, rotation = _angle_stats(v_h, v_v, w, h)
    n_lines = fh.intercepts.size + fv.intercepts.size
    hom = _square_cells(_rectifying_homography(v_h, v_v, w, h), fh, fv, sx, sy, w, h)
    if residual < MIN_RESIDUAL_DEG:
        note = f"grid lines parallel within {residual:.2f}° (< {MIN_RESIDUAL_DEG}°): left as it is"
        return Perspective(hom, residual, rotation, n_lines, False, note, source)
    # Check the fit against the simpler answer: the grid must come out sharper than de-rotated.
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    pts = np.column_stack([xc * sx, yc * sy]) + centre
    turn = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), rotation, scale)
    gain = _sharpness(_apply(hom, pts) * scale, wts) / _sharpness(pts @ turn[:, :2].T + turn[:, 2], wts)
    if gain < MIN_GAIN:
        note = (
            f"grid lines {residual:.2f}° from parallel, but the fit sharpens the grid only {gain:.2f}x "
            "over a plain rotation: left as it is"
        )
        return Perspective(hom, residual, rotation, n_lines, False, note, source)
    note = f"grid lines {residual:.2f}° from parallel: rectified from {n_lines} lines (sharpness x{gain:.2f})"
    return Perspective(hom, residual, rotation, n_lines, True, note, source)


def rectify_perspective(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove the perspective of an ECG page so that its grid lines are horizontal and vertical.

    Parameters
    ----------
    image
        ``[H, W, 3]`` uint8 RGB.

    Returns
    -------
    (rectified, homography)
        The warped image (same size, borders replicated) and the 3x3 float64 map from input pixels
        to rectified ones; ``(image, identity)`` unchanged when the grid lines are parallel within
        :data:`MIN_RESIDUAL_DEG` (a level or purely rotated page: the rotation stage handles it),
        too few lines were found or the fit does not straighten the grid (see
        :func:`estimate_perspective`).

    Raises
    ------
    ImageError
        If ``image`` is not an ``[H, W, 3]`` uint8 array.
    """
    est = estimate_perspective(image)
    if not est.applied:
        return image, np.eye(3)
    out = cv2.warpPerspective(
        image,
        est.homography,
        (image.shape[1], image.shape[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out, est.homography


# ----------------------------------------------------------------------------------------------
# Steps
# ----------------------------------------------------------------------------------------------


def _identity(note: str, source: str) -> Perspective:
    return Perspective(np.eye(3), 0.0, 0.0, 0, False, note, source)


def _line_weight(small: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Grid-line weight of the working copy (0..1), or the ink when there is no grid."""
    norm = normalise(small)
    ink = trace_mask(norm)
    # The trace's anti-aliased flanks are grey, not ink: widen the mask so they are not grid.
    wide = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    weight = grid_strength(norm, wide).astype(np.float32) / 255.0
    weight[weight < 0.08] = 0.0
    if np.count_nonzero(weight) >= 0.01 * weight.size:
        return weight, "grid"
    if np.count_nonzero(ink) >= 0.002 * ink.size:
        return ink.astype(np.float32), "trace"
    return None, "none"


def _tile_directions(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile line slopes of both families from the tiles' amplitude spectra.

    A family of parallel lines puts its energy on one ray through the origin of the spectrum (the
    lines' normal: the 5 mm period and its harmonics, the 1 mm period), while the trace spreads
    its energy over all directions. So each candidate line angle (±20° around the axis, 0.5°
    steps) scores the amplitude summed along its normal ray (bilinear samples), and the best angle
    is refined by a parabola.

    Returns
    -------
    (horizontal, vertical)
        ``[n, 4]`` arrays of ``(x, y, slope, contrast)`` in centred working coordinates (contrast:
        best ray sum over the median one); for the vertical family ``x``/``y`` are swapped and the
        slope is dx/dy.
    """
    hs, ws = weight.shape
    t = min(_TILE_PX, hs, ws)
    nx, ny = max(ws // t, 1), max(hs // t, 1)
    x0 = np.linspace(0, ws - t, nx).round().astype(int)
    y0 = np.linspace(0, hs - t, ny).round().astype(int)
    stack = np.stack([weight[y : y + t, x : x + t] for y in y0 for x in x0]).astype(np.float32)
    stack -= stack.mean(axis=(1, 2), keepdims=True)
    win = np.hanning(t).astype(np.float32)
    amp = np.fft.fftshift(np.abs(np.fft.rfft2(stack * (win[:, None] * win[None, :]))), axes=1)
    centres = np.array([(x + (t - 1) / 2, y + (t - 1) / 2) for y in y0 for x in x0], np.float64)
    centres -= ((ws - 1) / 2, (hs - 1) / 2)
    phi = np.radians(np.arange(-_WEDGE_DEG, _WEDGE_DEG + 1e-9, 0.5))
    r = np.arange(4.0, 0.45 * t)
    n_tiles = amp.shape[0]
    out = []
    for family in (0, 1):
        if family == 0:  # horizontal lines at angle phi: normal (-sin, cos), mirrored to kx >= 0
            sign = np.where(phi > 0, -1.0, 1.0)[:, None]
            kx, ky = -np.sin(phi)[:, None] * r * sign, np.cos(phi)[:, None] * r * sign
        else:  # vertical lines at dx/dy = tan(phi): normal (cos, -sin)
            kx, ky = np.cos(phi)[:, None] * r, -np.sin(phi)[:, None] * r
        coords = np.broadcast_arrays(
            np.arange(n_tiles, dtype=np.float64)[:, None, None], (ky + t // 2)[None], kx[None]
        )
        rays = scipy.ndimage.map_coordinates(amp, [c.ravel() for c in coords], order=1)
        score = rays.reshape(n_tiles, phi.size, r.size).sum(axis=2)
        best = np.argmax(score, axis=1)
        i = np.clip(best, 1, phi.size - 2)
        rows = np.arange(n_tiles)
        lo, mid, hi = score[rows, i - 1], score[rows, i], score[rows, i + 1]
        denom = lo - 2 * mid + hi
        frac = np.where(denom < 0, 0.5 * (lo - hi) / np.where(denom < 0, denom, -1.0), 0.0)
        angle = phi[i] + np.clip(frac, -1, 1) * (phi[1] - phi[0])
        contrast = score[rows, best] / np.maximum(np.median(score, axis=1), 1e-12)
        cx, cy = (centres[:, 0], centres[:, 1]) if family == 0 else (centres[:, 1], centres[:, 0])
        out.append(np.column_stack([cx, cy, np.tan(angle), contrast]))
    return out[0], out[1]


def _ransac_family(tiles: np.ndarray, ws: int, hs: int, *, swap: bool) -> tuple[float, float] | None:
    """Initial ``(a, b)`` of one family from tile slopes: RANSAC over tile pairs, then least squares.

    Each tile gives ``m = a + b (m x - y)`` (linear in ``a``, ``b``). Written by hand: a two-
    parameter weighted line fit with a fixed set of candidate pairs is shorter than adapting a
    general robust estimator (``skimage.measure.ransac``) to weights.
    """
    keep = tiles[:, 3] >= _MIN_CONTRAST
    x, y, m, c = (tiles[keep, i] for i in range(4))
    if x.size < 4:
        return None
    z = m * x - y
    wts = np.log(c)
    tol = np.tan(np.radians(0.5))
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, x.size, (2, 300))
    ok = np.abs(z[i] - z[j]) > 0.2 * (ws if swap else hs)  # pairs across the page fix b
    i, j = i[ok], j[ok]
    if i.size == 0:
        a0 = float(np.median(m))
        return (a0, 0.0) if np.sum(np.abs(m - a0) < tol) >= 4 else None
    b = (m[i] - m[j]) / (z[i] - z[j])
    a = m[i] - b * z[i]
    resid = np.abs(m[None, :] - a[:, None] - b[:, None] * z[None, :])
    score = ((resid < tol) * wts[None, :]).sum(axis=1)
    best = int(np.argmax(score))
    inl = resid[best] < tol
    if inl.sum() < 4:
        return None
    return _weighted_line(z[inl], m[inl], wts[inl])


def _weighted_line(z: np.ndarray, m: np.ndarray, wts: np.ndarray) -> tuple[float, float]:
    """Weighted least squares of ``m = a + b z``; ``b = 0`` when ``z`` does not vary."""
    sw = wts.sum()
    zm, mm = (wts * z).sum() / sw, (wts * m).sum() / sw
    var = (wts * (z - zm) ** 2).sum()
    if var <= 1e-12 * max(sw, 1e-12):
        return float(mm), 0.0
    b = float((wts * (z - zm) * (m - mm)).sum() / var)
    return float(mm - b * zm), b


def _snap_families(
    xc: np.ndarray, yc: np.ndarray, wts: np.ndarray, init_h: tuple[float, float], init_v: tuple[float, float]
) -> tuple[_Family | None, _Family | None]:
    """Refine both vanishing points by fitting the lines (see the module docstring).

    Each family works in its own coordinates, ``along`` its lines and ``across`` them (x, y for
    the horizontal lines, y, x for the vertical ones), so one code path serves both.
    """
    models = [init_h, init_v]
    found: list[_Family | None] = [None, None]
    frames = ((xc, yc), (yc, xc))
    for region in _REGIONS:
        for k, (along, across) in enumerate(frames):
            if found[k] is None and region != _REGIONS[0]:
                continue  # this family failed in an earlier pass
            reach = float(np.abs(along).max()) or 1.0
            sel = np.abs(along) <= region * reach
            lines = _fit_lines(
                along[sel], across[sel], wts[sel], models[k], models[1 - k], min_extent=0.12 * region * reach
            )
            if lines is None:
                found[k] = None if region == _REGIONS[0] else found[k]
                continue
            slope, intercept, weight, period = lines
            a, b, keep = _vanishing_point(slope, intercept, weight, models[k])
            height = float(np.abs(across).max()) or 1.0
            spread = np.sqrt(np.cov(intercept[keep], aweights=weight[keep])) if keep.sum() > 1 else 0.0
            if spread < 0.15 * height:  # lines too close together to show convergence: keep b
                b = models[k][1]
                a = float(np.average(slope[keep] + b * intercept[keep], weights=weight[keep]))
            # A vanishing point inside the page is no grid; keep it beyond twice the page size.
            models[k] = (a, float(np.clip(b, -0.5 / reach, 0.5 / reach)))
            found[k] = _Family(*models[k], np.sort(intercept[keep]), period)
    return found[0], found[1]


def _vanishing_point(
    slope: np.ndarray, intercept: np.ndarray, weight: np.ndarray, model: tuple[float, float]
) -> tuple[float, float, np.ndarray]:
    """``(a, b)`` of the lines ``y = intercept + slope x`` through one point: ``slope = a - b
    intercept`` (the point is ``(1/b, a/b)``), weighted least squares with 3.5-sigma rejection
    of lines that miss it. Returns ``(a, b, inliers)``."""
    keep = np.ones(slope.size, bool)
    a, b = model
    for _ in range(4):
        a, minus_b = _weighted_line(intercept[keep], slope[keep], weight[keep])
        b = -minus_b
        resid = slope - (a - b * intercept)
        sigma = 1.4826 * _weighted_median(np.abs(resid[keep]), weight[keep])
        new_keep = np.abs(resid) <= max(3.5 * sigma, 2e-4)
        if new_keep.sum() < 3 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return a, b, keep


def _fit_lines(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    own: tuple[float, float],
    other: tuple[float, float],
    *,
    min_extent: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """Lines of one family: pixels snapped to the peaks of their rectified ``y`` profile, each line
    fitted by weighted least squares ``y = c + m x``.

    ``own`` is the family's vanishing point ``(1, a, b)`` and ``other`` the other family's
    ``(a, 1, b)``, both in this family's coordinates: with both, the rectified ``y`` is constant
    along each line and evenly spaced across them (one spacing for the whole page however strong
    the perspective).

    Returns
    -------
    (slope, intercept, weight, period) or None
        Per line; ``weight`` is the inverse variance of the slope up to a common factor;
        ``period`` is the line spacing (working px).
    """
    inv = np.linalg.inv(np.array([[1.0, other[0], 0.0], [own[0], 1.0, 0.0], [own[1], other[1], 1.0]]))
    u = (inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]) / (inv[2, 0] * x + inv[2, 1] * y + inv[2, 2])
    pos = u - (float(u.min()) - 2)
    n = int(pos.max()) + 3
    base = np.floor(pos).astype(np.int64)
    frac = pos - base
    prof = np.bincount(base, w * (1 - frac), n) + np.bincount(base + 1, w * frac, n)
    prof = prof - scipy.ndimage.uniform_filter1d(prof, 15, mode="nearest")
    period = _fundamental(prof)
    if period is None:
        return None
    peaks, props = scipy.signal.find_peaks(prof, distance=max(2.0, 0.6 * period), prominence=0)
    if peaks.size >= 3:
        peaks = peaks[props["prominences"] > 0.1 * np.percentile(props["prominences"], 90)]
    if peaks.size < 3:
        return None
    # A pixel within half the line spacing of a peak is a candidate of that line; it is used
    # within ``window`` of the line (not out to the 1 mm lines beside a 5 mm one: 1 mm is ~4
    # working px on a whole A4 or letter page).
    window = float(np.clip(_SNAP_SPACING * period, 0.75, 3.0))
    # Nearest peak of every profile bin (a lookup table instead of a search per pixel).
    mids = (peaks[:-1] + peaks[1:]) / 2
    nearest = np.searchsorted(mids, np.arange(n) + 0.5)
    k = nearest[np.minimum(np.round(pos).astype(np.int64), n - 1)]
    offset = pos - peaks[k]
    cand = np.abs(offset) <= max(window, _SNAP_SPACING * period)
    k, x, y, w, offset = k[cand], x[cand], y[cand], w[cand], offset[cand]
    n_lines = peaks.size
    use = np.abs(offset) <= window
    # First around the vanishing-point model, then around each line's own fit: a band around a
    # slightly wrong line cuts the true line's pixels on one side and pulls the fit towards the
    # model, so the band follows the fit (three passes).
    for _ in range(3):
        kk, xx, yy, ww = k[use], x[use], y[use], w[use]

        def sums(v: np.ndarray, kk: np.ndarray = kk) -> np.ndarray:
            return np.bincount(kk, v, n_lines)

        s0, sx, sy, sxx, sxy = sums(ww), sums(ww * xx), sums(ww * yy), sums(ww * xx * xx), sums(ww * xx * yy)
        with np.errstate(invalid="ignore", divide="ignore"):
            mx, my = sx / s0, sy / s0
            vx = sxx / s0 - mx**2
            slope = (sxy / s0 - mx * my) / vx
            intercept = my - slope * mx
        fitted = np.isfinite(slope) & np.isfinite(intercept)
        resid = y - np.where(fitted, intercept, 0)[k] - np.where(fitted, slope, 0)[k] * x
        use = np.where(fitted[k], np.abs(resid) <= window, use)
    count = np.bincount(kk, minlength=n_lines)
    good = (count >= 20) & (s0 > 0) & (np.sqrt(np.maximum(vx, 0)) >= min_extent) & fitted
    if good.sum() < 3:
        return None
    return slope[good], intercept[good], (s0 * vx)[good], period


def _fundamental(profile: np.ndarray) -> float | None:
    """Spacing of the strongest lines of a detrended profile from its autocorrelation peaks (the
    5 mm major lines, where every line of the grid lines up at once), sub-bin by a parabola.

    The 1 mm lines are not used: on a damaged page or a 1 px grid their autocorrelation peak can
    fall below the one at 2 mm, and a line picked at the wrong spacing blends two lines into one.
    """
    n = profile.size
    if n < 16:
        return None
    spec = np.fft.rfft(profile - profile.mean(), 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:n] / np.maximum(n - np.arange(n), 1)
    if ac[0] <= 0:
        return None
    ac = ac / ac[0]
    peaks, _ = scipy.signal.find_peaks(ac[: n // 4], height=0.2)
    peaks = peaks[peaks >= 2]
    if peaks.size == 0:
        return None
    # The shortest lag nearly as high as the highest: multiples of the spacing score as high.
    i = int(peaks[np.flatnonzero(ac[peaks] >= 0.8 * ac[peaks].max())[0]])
    # Resampling can make every other (or third) 5 mm line stronger: then the spacing is a peak at
    # a half (or third) of that lag, a little lower.
    for k in (3, 2):
        near = peaks[(np.abs(peaks - i / k) <= max(1.0, 0.05 * i / k)) & (ac[peaks] >= 0.6 * ac[i])]
        if near.size:
            i = int(near[0])
    a, b, c = ac[i - 1], ac[i], ac[i + 1]
    denom = a - 2 * b + c
    return float(i + 0.5 * (a - c) / denom) if denom < 0 else float(i)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _angle_stats(v_h: np.ndarray, v_v: np.ndarray, w: int, h: int) -> tuple[float, float]:
    """Largest angle difference between grid lines over the page, and their mean angle (degrees).

    The lines through the four corners and the centre towards each vanishing point (centred
    full-resolution coordinates); 90° is taken off the vertical family.
    """
    pts = np.array([[0, 0], [-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], float)
    angles = []
    for v, off in ((v_h, 0.0), (v_v, 90.0)):
        # Direction from each point to the vanishing point (or along it when it is at infinity).
        d = v[None, :2] - v[2] * pts
        if off == 0.0:
            d *= np.sign(d[:, :1] + 1e-300)
        else:
            d *= np.sign(d[:, 1:2] + 1e-300)
        angles.append(np.degrees(np.arctan2(d[:, 1], d[:, 0])) - off)
    all_angles = np.concatenate(angles)
    return float(np.ptp(all_angles)), float(all_angles.mean())


def _rectifying_homography(v_h: np.ndarray, v_v: np.ndarray, w: int, h: int) -> np.ndarray:
    """The homography (full-resolution pixels) sending ``v_h`` to x-infinity and ``v_v`` to
    y-infinity, area-preserving over the image and keeping its centroid at the image centre."""
    vh = v_h / np.hypot(*v_h[:2]) * np.sign(v_h[0] or 1.0)
    vv = v_v / np.hypot(*v_v[:2]) * np.sign(v_v[1] or 1.0)
    # Inverse = [v_h | v_v | centre]: unit line directions at the centre become unit axis vectors.
    hom = np.linalg.inv(np.column_stack([vh, vv, [0.0, 0.0, 1.0]]))
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    t_in = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1.0]])
    return _fit_output(hom @ t_in, w, h)


def _fit_output(hom: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale ``hom`` so the image keeps its area and translate its centroid to the output centre."""
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    q = _apply(hom, corners)
    xq, yq = q[:, 0], q[:, 1]
    cross = xq * np.roll(yq, -1) - np.roll(xq, -1) * yq
    area = 0.5 * cross.sum()
    if not np.isfinite(area) or abs(area) < 1e-9:
        return hom
    cx = ((xq + np.roll(xq, -1)) * cross).sum() / (6 * area)
    cy = ((yq + np.roll(yq, -1)) * cross).sum() / (6 * area)
    s = np.sqrt(w * h / abs(area))
    fit = np.array([[s, 0, (w - 1) / 2 - s * cx], [0, s, (h - 1) / 2 - s * cy], [0, 0, 1.0]])
    out = fit @ hom
    return out / out[2, 2]


def _square_cells(
    hom: np.ndarray, fh: _Family, fv: _Family, sx: float, sy: float, w: int, h: int
) -> np.ndarray:
    """Make grid cells square: scale x and y of the rectified page so both grid periods agree.

    Where the horizontal lines cross the centre column and the vertical lines the centre row,
    mapped through ``hom``, are the rectified line positions along y and x; the period of each
    is fitted to them (:func:`_line_period`), starting from the family's profile period.
    """
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    zh, zv = np.zeros_like(fh.intercepts), np.zeros_like(fv.intercepts)
    ys = _apply(hom, np.column_stack([zh, fh.intercepts * sy]) + centre)[:, 1]
    xs = _apply(hom, np.column_stack([fv.intercepts * sx, zv]) + centre)[:, 0]
    # Local scale of the rectification at the centre turns the profile periods into hints.
    probe = _apply(hom, centre + np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    px = _line_period(xs, fv.period * sx * np.linalg.norm(probe[1] - probe[0]))
    py = _line_period(ys, fh.period * sy * np.linalg.norm(probe[2] - probe[0]))
    if px is None or py is None:
        return hom
    # The two axes may have locked on to different multiples of the 1 mm spacing.
    ratio = min((px / py * m for m in (1, 2, 0.5, 3, 1 / 3, 5, 0.2)), key=lambda q: abs(np.log(q)))
    if not 1 / 1.15 < ratio < 1.15:
        return hom  # not one square grid: leave the aspect alone
    r = np.sqrt(ratio)
    fix = np.array([[1 / r, 0, (w - 1) / 2 * (1 - 1 / r)], [0, r, (h - 1) / 2 * (1 - r)], [0, 0, 1.0]])
    return fix @ hom


def _line_period(pos: np.ndarray, hint: float) -> float | None:
    """Spacing of grid lines from their positions: some lines missing, some 1 mm lines among the
    5 mm ones (where a 5 mm line was hidden), a few spurious.

    All of them lie on the 1 mm lattice, ``hint / 5`` for the 5 mm spacing ``hint``: the comb of
    positions seen at frequency ``1 / p`` scores ``|sum exp(2 pi i pos / p)|``, the count of lines
    on the lattice of spacing ``p``. The best ``p`` within ±15 % of ``hint / 5`` (no other lattice
    of integer-mm lines is in that range) on a 0.05 % grid, refined on a finer one and by a
    parabola, times 5. Written by hand:
    :func:`ecglab.digitize.grid.axis_period` reads a dense profile (about 25 ms a call), whereas
    the line positions are already known here.
    """
    pos = pos[np.isfinite(pos)]
    if pos.size < 5 or not np.isfinite(hint) or hint <= 0:
        return None
    pos = pos - pos.mean()
    best = hint / 5
    for half, step in ((0.15, 5e-4), (1e-3, 2e-5)):
        cands = best * (1 + np.arange(-half, half + step / 2, step))
        score = np.abs(np.exp(2j * np.pi * pos[None, :] / cands[:, None]).sum(axis=1))
        i = int(np.argmax(score))
        best = float(cands[i])
        if 0 < i < cands.size - 1:
            a, b, c = score[i - 1], score[i], score[i + 1]
            denom = a - 2 * b + c
            if denom < 0:
                best += float(0.5 * (a - c) / denom * (cands[1] - cands[0]))
    return 5 * best


def _sharpness(pts: np.ndarray, wts: np.ndarray) -> float:
    """Sum of squared column and row profiles (minus their local mean) of weighted points, the
    measure of :func:`ecglab.digitize.deskew.estimate_rotation`: highest when the lines are
    straight and axis-parallel."""
    total = 0.0
    for coord in (pts[:, 0], pts[:, 1]):
        ok = np.isfinite(coord)
        c = coord[ok] - np.min(coord[ok], initial=0.0) + 1
        lo = np.floor(c).astype(np.int64)
        frac = c - lo
        n = int(lo.max(initial=0)) + 2
        prof = np.bincount(lo, wts[ok] * (1 - frac), n) + np.bincount(lo + 1, wts[ok] * frac, n)
        prof -= scipy.ndimage.uniform_filter1d(prof, 15)
        total += float(np.sum(prof**2))
    return total


def _apply(hom: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = pts @ hom[:, :2].T + hom[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return p[:, :2] / p[:, 2:3]
