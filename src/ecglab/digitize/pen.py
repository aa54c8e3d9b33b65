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
#: Shift an odd growth's output back by half a pixel (see :func:`thicken_pen`). Off: the shift is
#: part of what the rest of the pipeline was tuned with. ``python benchmarks/digitize_time_origin.py``:
#: on ecglab's ecg-image-kit-style renders (0.25 mm pen, pulse joined) the model gains with it, 10.70
#: -> 13.21 dB PhysioNet, but on the ecg-image-kit test pages it loses (13.66 -> 12.09 with thin pens
#: uncapped as well), and where ecglab's renderer draws thin strokes without a cap the layout's
#: start is late by about as much as the shift.
RECENTRE_ODD_GROWTH = False


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

    The kernel is ``grow_px + 1`` square. An even kernel cannot be centred: OpenCV's erosion then
    extends strokes right and down, moving them by half a pixel (1.6 ms of paper time at 200 DPI).
    With :data:`RECENTRE_ODD_GROWTH` an odd growth is shifted back by half a pixel (bilinear).
    """
    if grow_px <= 0:
        return rgb
    out = cv2.erode(rgb, np.ones((grow_px + 1, grow_px + 1), np.uint8))
    if grow_px % 2 and RECENTRE_ODD_GROWTH:
        back = np.float32([[1, 0, -0.5], [0, 1, -0.5]])
        out = cv2.warpAffine(
            out, back, (out.shape[1], out.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    return out
