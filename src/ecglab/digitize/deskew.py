"""De-rotate an ECG page: the angle that makes the grid's projection profiles sharpest.

:func:`rectify` first tries a perspective correction (:mod:`ecglab.digitize.perspective`) and falls
back to the rotation search below when the grid shows none.

A grid line parallel to the image axes piles all its pixels into one bin of the row (or column)
profile; tilted by θ it spreads over ``W tan θ`` bins. So the sum of squared profile values peaks
at the true angle. The search is coarse-to-fine over the weighted grid pixels of a half-size
image; the trace stands in for the grid on black-and-white paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.ndimage

from ecglab.digitize.image import grid_strength, normalise, trace_mask

#: Largest page rotation searched, degrees.
MAX_ANGLE_DEG = 15.0
_MAX_POINTS = 100_000  # weighted pixels used for the search (random subset beyond this)


@dataclass(frozen=True)
class Rotation:
    """Estimated page rotation.

    Attributes
    ----------
    angle_deg
        Counter-clockwise rotation of the page content in the image, degrees (image y points down,
        so a positive angle lifts the right end of a horizontal line).
    sharpness_gain
        Profile sharpness at the angle over that at 0°, >= 1 (1: no better than leaving it).
    source
        ``grid`` or ``trace`` (black-and-white paper).
    """

    angle_deg: float
    sharpness_gain: float
    source: str


def estimate_rotation(image: np.ndarray, max_angle_deg: float = MAX_ANGLE_DEG) -> Rotation:
    """Estimate the rotation of the page in ``image`` (RGB uint8) from its grid lines.

    Parameters
    ----------
    image
        ``[H, W, 3]`` uint8 RGB.
    max_angle_deg
        Search range ±, degrees.

    Returns
    -------
    Rotation
    """
    h, w = image.shape[:2]
    small = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA) if min(h, w) >= 800 else image
    norm = normalise(small)
    ink = trace_mask(norm)
    weight = grid_strength(norm, ink).astype(np.float32) / 255.0
    weight[weight < 0.08] = 0.0
    source = "grid"
    if np.count_nonzero(weight) < 0.01 * weight.size:  # no grid: long horizontal trace stretches
        weight, source = ink.astype(np.float32), "trace"
    ys, xs = np.nonzero(weight)
    wts = weight[ys, xs]
    if ys.size > _MAX_POINTS:
        pick = np.random.default_rng(0).choice(ys.size, _MAX_POINTS, replace=False)
        ys, xs, wts = ys[pick], xs[pick], wts[pick]
    if ys.size < 100:
        return Rotation(0.0, 1.0, source)
    xs = xs.astype(np.float64) - small.shape[1] / 2
    ys = ys.astype(np.float64) - small.shape[0] / 2
    span = int(np.hypot(*small.shape[:2])) + 4

    def sharpness(angle_deg: float) -> float:
        t = math.radians(angle_deg)
        c, s = math.cos(t), math.sin(t)
        total = 0.0
        # Rows of horizontal lines (y' = y cos + x sin) and columns of vertical ones.
        for coord in (ys * c + xs * s, xs * c - ys * s):
            # Linear binning (each pixel split between its two nearest bins): nearest-bin rounding
            # favours exactly 0° on integer pixel grids. The profile minus its local mean keeps
            # only the lines, not broad shading.
            pos = coord + span
            lo = np.floor(pos).astype(np.int64)
            frac = pos - lo
            prof = np.bincount(lo, weights=wts * (1 - frac), minlength=2 * span + 2)
            prof += np.bincount(lo + 1, weights=wts * frac, minlength=2 * span + 2)
            prof -= scipy.ndimage.uniform_filter1d(prof, 15)
            total += float(np.sum(prof**2))
        return total

    best = 0.0
    for step, half in ((0.3, max_angle_deg), (0.05, 0.35), (0.01, 0.06)):
        angles = best + np.arange(-half, half + step / 2, step)
        angles = angles[np.abs(angles) <= max_angle_deg + 1e-9]
        scores = [sharpness(a) for a in angles]
        best = float(angles[int(np.argmax(scores))])
    gain = sharpness(best) / max(sharpness(0.0), 1e-12)
    if gain < 1.01:  # no measurable improvement: leave the page as it is
        best, gain = 0.0, 1.0
    # The profile's y' = y cos + x sin is level for lines at image angle -θ (y down): report the
    # page's counter-clockwise rotation as seen on screen.
    return Rotation(angle_deg=best, sharpness_gain=float(gain), source=source)


def rotation_matrix(shape: tuple[int, int], angle_deg: float) -> np.ndarray:
    """3x3 map from image pixels to de-rotated pixels (rotation about the image centre)."""
    h, w = shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), -angle_deg, 1.0)
    return np.vstack([m, [0.0, 0.0, 1.0]])


def rectify(image: np.ndarray, max_angle_deg: float = MAX_ANGLE_DEG) -> tuple[np.ndarray, np.ndarray]:
    """Rectify ``image`` so that the grid lines are horizontal and vertical (perspective, then rotation).

    Parameters
    ----------
    image
        ``[H, W, 3]`` uint8 RGB.
    max_angle_deg
        Search range ±, degrees.

    Returns
    -------
    (rectified, transform)
        The rectified image (same size, borders filled with the edge colour) and the 3x3 float64
        matrix mapping input-image pixel coordinates to rectified ones: the homography of
        :func:`~ecglab.digitize.perspective.estimate_perspective` when the grid shows a perspective
        (it levels both line families, rotation included), else a rotation (identity when the angle
        is below 0.02°). The rotation search is not run after a perspective correction: on a level
        grid it only adds noise.
    """
    from ecglab.digitize.perspective import rectify_perspective

    warped, homography = rectify_perspective(image)
    if warped is not image:  # a perspective was found and removed: both line families are level
        return warped, homography
    rot = estimate_rotation(image, max_angle_deg)
    if abs(rot.angle_deg) < 0.02:
        return image, np.eye(3)
    m = rotation_matrix(image.shape, rot.angle_deg)
    out = cv2.warpAffine(
        image,
        m[:2],
        (image.shape[1], image.shape[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out, m
