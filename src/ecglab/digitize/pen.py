"""Thicken a thin pen before a learned digitizer reads the page.

The learned digitizer reads canonical strips at a few pixels per mm, after an anti-alias blur
(:func:`ecglab.digitize.strips.warp_crop`). A 0.25 mm pen, as ecg-image-kit and many carts print,
then comes out faint and the model loses precision everywhere: on clean 200 DPI validation renders
its Kaggle SNR is 18.0 dB with a 0.4 mm pen and 14.0 dB with a 0.25 mm one, while the classical
tracker, which reads the full-resolution mask, gains (``python benchmarks/digitize_pen.py``).
A grey-level erosion (a minimum filter) widens every dark stroke by the kernel size minus one
pixel, bringing the pen back to the widths the model reads best; pages drawn with a pen already
that wide are left alone.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Pens thinner than this (mm of paper) are thickened ...
THIN_PEN_MM = 0.32
#: ... to about this width (mm). Chosen on 12 validation records (benchmarks/digitize_pen.py), Kaggle
#: dB as read / widened to 0.35 / 0.4 / 0.5 mm, 0.25 mm pen: clean 200 DPI 13.97 / 15.68 / 15.68 /
#: 15.63, 100 DPI 15.77 / 15.77 / 15.28 / 15.28, damaged 11.59 / 12.17 / 12.17 / 11.90, ecg-image-kit
#: style 10.24 / 14.14 / 14.14 / 13.53; 300 DPI and 0.4 mm pens unchanged.
TARGET_PEN_MM = 0.35


def pen_growth_px(pen_px: float, px_per_mm: float, *, thin_mm: float | None = None,
                  target_mm: float | None = None) -> int:  # fmt: skip
    """Pixels to add to a pen of ``pen_px`` at ``px_per_mm`` (0: leave it).

    Parameters
    ----------
    pen_px
        Measured pen width, pixels (:func:`ecglab.digitize.layout.pen_width`).
    px_per_mm
        Page scale.
    thin_mm, target_mm
        See :data:`THIN_PEN_MM`, :data:`TARGET_PEN_MM` (module values when None).
    """
    thin = THIN_PEN_MM if thin_mm is None else thin_mm
    target = TARGET_PEN_MM if target_mm is None else target_mm
    if not (np.isfinite(pen_px) and np.isfinite(px_per_mm)) or pen_px <= 0 or px_per_mm <= 0:
        return 0
    if pen_px / px_per_mm >= thin:
        return 0
    return max(round(float(target * px_per_mm - pen_px)), 0)


def thicken_pen(rgb: np.ndarray, grow_px: int) -> np.ndarray:
    """Widen every dark stroke of ``rgb`` by ``grow_px`` pixels (a minimum filter; a copy).

    The kernel is ``grow_px + 1`` square, so an even growth shifts strokes by half a pixel up and
    left: 0.06 mm at 200 DPI, far below the digitizer's error.
    """
    if grow_px <= 0:
        return rgb
    return cv2.erode(rgb, np.ones((grow_px + 1, grow_px + 1), np.uint8))
