"""Canonical crops for the learned digitizers, and the map between their columns and the page.

Both learned models see the page at a fixed scale in pixels per *millimetre of paper* (not per image
pixel), so one model serves every DPI:

* ``series`` crops one strip per lead row, centred on the row's baseline, ``height_mm`` tall, from
  ``margin_mm`` before the row's t = 0 to ``margin_mm`` after its last sample;
* ``whole`` sees the full page height and the same horizontal span.

A crop is an affine image of the (de-rotated) page: crop pixel ``(c, r)`` shows page point
``x = x_start + (c / P - margin_mm) * ppm_x``, ``y = y_top + r / P * ppm_y`` (``P`` the canonical
pixels per mm). The models predict one y per *output* column, ``upsample`` output columns per crop
column (a wide output resolution); output column ``j`` sits at crop x ``(j + 0.5) / upsample - 0.5``.
The same functions build the training targets and decode predictions, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CropSpec:
    """Scale and extent of a canonical crop.

    Attributes
    ----------
    px_per_mm
        Canonical pixels per millimetre of paper, both axes.
    height_mm
        Strip height (``series``), centred on the row baseline; ignored by ``whole``.
    margin_mm
        Paper shown before t = 0 and after the last sample.
    duration_mm
        Paper length of a full row (10 s at 25 mm/s = 250 mm).
    upsample
        Output columns per crop column.
    multiple
        Crop sizes are rounded up to a multiple of this (the encoder's total stride).
    """

    px_per_mm: float = 4.0
    height_mm: float = 48.0
    margin_mm: float = 3.0
    duration_mm: float = 250.0
    upsample: int = 2
    multiple: int = 8

    @property
    def width(self) -> int:
        """Crop width in pixels."""
        return _round_up((self.duration_mm + 2 * self.margin_mm) * self.px_per_mm, self.multiple)

    @property
    def height(self) -> int:
        """Strip height in pixels (``series``)."""
        return _round_up(self.height_mm * self.px_per_mm, self.multiple)


@dataclass(frozen=True)
class RowFrame:
    """Where one lead row sits on the (de-rotated) page image.

    Attributes
    ----------
    baseline_y
        Image y of the row's 0 mV line.
    x_start
        Image x of the row's t = 0.
    ppm_x, ppm_y
        Image pixels per mm of paper, horizontally and vertically.
    """

    baseline_y: float
    x_start: float
    ppm_x: float
    ppm_y: float


def _round_up(value: float, multiple: int) -> int:
    return int(np.ceil(value / multiple) * multiple)


def crop_affine(frame: RowFrame, spec: CropSpec, y_top: float) -> np.ndarray:
    """2x3 matrix from crop pixels to image pixels."""
    p = spec.px_per_mm
    return np.array(
        [
            [frame.ppm_x / p, 0.0, frame.x_start - spec.margin_mm * frame.ppm_x],
            [0.0, frame.ppm_y / p, y_top],
        ]
    )


def strip_top(frame: RowFrame, spec: CropSpec) -> float:
    """Image y of a ``series`` strip's first pixel row (the baseline sits at the strip's centre)."""
    return frame.baseline_y - spec.height / 2 * frame.ppm_y / spec.px_per_mm


def warp_crop(
    image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], border: float = 255.0
) -> np.ndarray:
    """Sample ``image`` at ``matrix @ (c, r, 1)`` for every crop pixel; ``border`` (white) outside the page.

    Downscaling more than 1.5x first blurs the page (an anti-alias filter), so a thin pen does not
    fall between the sampled pixels.
    """
    sx, sy = matrix[0, 0], matrix[1, 1]
    if max(sx, sy) > 1.5:
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=max((sx - 1) / 2, 0.1), sigmaY=max((sy - 1) / 2, 0.1))
    return cv2.warpAffine(
        image,
        matrix,
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border, border, border) if image.ndim == 3 else border,
    )


def crop_rows(image: np.ndarray, frames: list[RowFrame], spec: CropSpec) -> np.ndarray:
    """``[R, H, W, ...]`` canonical strips, one per row (``series`` input)."""
    size = (spec.width, spec.height)
    return np.stack([warp_crop(image, crop_affine(f, spec, strip_top(f, spec)), size) for f in frames])


def page_frame(frames: list[RowFrame]) -> RowFrame:
    """The frame of a ``whole`` crop: the rows' earliest start, mean scales, the page top."""
    ppm_x = float(np.mean([f.ppm_x for f in frames]))
    ppm_y = float(np.mean([f.ppm_y for f in frames]))
    return RowFrame(baseline_y=0.0, x_start=min(f.x_start for f in frames), ppm_x=ppm_x, ppm_y=ppm_y)


def whole_height(image_height: int, frame: RowFrame, spec: CropSpec) -> int:
    """``whole`` crop height in pixels: the full page at the canonical scale."""
    return _round_up(image_height / frame.ppm_y * spec.px_per_mm, spec.multiple)


def crop_page(image: np.ndarray, frame: RowFrame, spec: CropSpec) -> np.ndarray:
    """``[H, W, ...]`` canonical crop of the whole page (``whole`` input), top at image y = 0."""
    size = (spec.width, whole_height(image.shape[0], frame, spec))
    return warp_crop(image, crop_affine(frame, spec, 0.0), size)


def output_x(frame: RowFrame, spec: CropSpec, n_columns: int) -> np.ndarray:
    """Image x of every output column of a crop of ``frame``."""
    c = (np.arange(n_columns) + 0.5) / spec.upsample - 0.5
    return frame.x_start + (c / spec.px_per_mm - spec.margin_mm) * frame.ppm_x


def crop_y_to_image(r: np.ndarray, frame: RowFrame, spec: CropSpec, y_top: float) -> np.ndarray:
    """Image y of crop row coordinate ``r`` (sub-pixel)."""
    return y_top + np.asarray(r, np.float64) * frame.ppm_y / spec.px_per_mm


def image_y_to_crop(y: np.ndarray, frame: RowFrame, spec: CropSpec, y_top: float) -> np.ndarray:
    """Crop row coordinate of image y (inverse of :func:`crop_y_to_image`)."""
    return (np.asarray(y, np.float64) - y_top) * spec.px_per_mm / frame.ppm_y


def column_targets(
    panels_points: list[np.ndarray],
    frame: RowFrame,
    spec: CropSpec,
    n_columns: int,
    y_top: float,
    height: int,
) -> np.ndarray:
    """``[n_columns]`` crop-row coordinate of the trace in every output column (NaN: no trace there).

    Parameters
    ----------
    panels_points
        One ``[n, 2]`` array of image ``(x, y)`` per panel of the row (NaN rows skipped); x must
        increase along each panel (a de-rotated page).
    frame, spec, y_top
        The crop.
    n_columns
        Output columns.
    height
        Crop height: positions outside ``0 .. height - 1`` are NaN (the trace left the crop).
    """
    xs = output_x(frame, spec, n_columns)
    out = np.full(n_columns, np.nan)
    for pts in panels_points:
        pts = pts[np.isfinite(pts).all(axis=1)]
        if len(pts) < 2:
            continue
        order = np.argsort(pts[:, 0], kind="stable")
        px, py = pts[order, 0], pts[order, 1]
        inside = (xs >= px[0]) & (xs <= px[-1])
        out[inside] = image_y_to_crop(np.interp(xs[inside], px, py), frame, spec, y_top)
    out[(out < 0) | (out > height - 1)] = np.nan
    return out


def soft_argmax(prob: np.ndarray, radius: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel peak of per-column distributions over y.

    Parameters
    ----------
    prob
        ``[..., H, W]`` probabilities over ``H`` for each column.
    radius
        Half-width of the window around the arg-max whose centre of mass is the estimate (a plain
        expectation over all of ``H`` is pulled towards a second trace in the crop).

    Returns
    -------
    y, confidence
        ``[..., W]`` sub-pixel row and the probability mass inside the window.
    """
    h = prob.shape[-2]
    peak = prob.argmax(axis=-2)
    offsets = np.arange(-radius, radius + 1)
    rows = np.clip(peak[..., None, :] + offsets[:, None], 0, h - 1)
    window = np.take_along_axis(prob, rows, axis=-2)
    # Clipping repeats the edge row: drop the repeats so they are not counted twice.
    valid = (peak[..., None, :] + offsets[:, None] >= 0) & (peak[..., None, :] + offsets[:, None] < h)
    window = np.where(valid, window, 0.0)
    mass = window.sum(axis=-2)
    y = (window * rows).sum(axis=-2) / np.maximum(mass, 1e-12)
    return y, mass
