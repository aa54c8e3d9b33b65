"""The in-memory product of the renderer: an ECG page image with its exact ground truth.

The renderer (:mod:`ecglab.synth.render`) builds a :class:`Page`; damage
(:mod:`ecglab.synth.damage`) maps a page to a damaged page, transforming image, masks and point
geometry together; the writers (:mod:`ecglab.synth.writers`) store it as ``<id>.png``,
``<id>.mask.png``, ``<id>.leads.png``, ``<id>.json`` and ``<id>.hea/.dat``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Classes of ``Page.mask`` (the segmentation seed's five classes). Trace pixels win over grid pixels.
MASK_BACKGROUND = 0
MASK_GRID_HORIZONTAL = 1
MASK_GRID_VERTICAL = 2
MASK_GRID_INTERSECTION = 3
MASK_TRACE = 4
MASK_CLASSES = ("background", "grid_horizontal", "grid_vertical", "grid_intersection", "trace")


@dataclass
class LeadGeometry:
    """Where one lead panel sits on the *flat* (undamaged) page and how it maps to mV and seconds.

    Attributes
    ----------
    name
        Canonical lead name (``"II"``, ``"V1"``, ...).
    index
        Instance id in ``Page.leads`` is ``index + 1``; ``index`` is the lead's position in the
        rendered record's lead list.
    bbox
        ``(x0, y0, x1, y1)`` pixel box of the panel on the flat page.
    start_sample, stop_sample
        Half-open span of the source signal (at ``fs``) drawn in this panel.
    fs
        Sampling rate of the source signal, Hz.
    x0
        Flat-page x (pixels, sub-pixel) of ``start_sample``.
    baseline_y
        Flat-page y (pixels) of 0 mV.
    px_per_mm_x, px_per_mm_y
        Pixels per millimetre of paper, horizontally and vertically.
    gain_mm_per_mv, speed_mm_per_s
        Printing gain and paper speed.
    points
        ``[n, 2]`` float64 sub-pixel ``(x, y)`` of every plotted sample **in the output image's
        coordinates** (after damage), NaN rows where a sample was not plotted (NaN signal).
    """

    name: str
    index: int
    bbox: tuple[float, float, float, float]
    start_sample: int
    stop_sample: int
    fs: float
    x0: float
    baseline_y: float
    px_per_mm_x: float
    px_per_mm_y: float
    gain_mm_per_mv: float
    speed_mm_per_s: float
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def px_per_s(self) -> float:
        """Horizontal pixels per second on the flat page."""
        return self.px_per_mm_x * self.speed_mm_per_s

    @property
    def px_per_mv(self) -> float:
        """Vertical pixels per millivolt on the flat page."""
        return self.px_per_mm_y * self.gain_mm_per_mv


@dataclass
class Page:
    """One rendered ECG page and its ground truth, all in the same pixel grid.

    Attributes
    ----------
    image
        ``[H, W, 3]`` uint8 RGB.
    mask
        ``[H, W]`` uint8 classes (see ``MASK_*``).
    leads
        ``[H, W]`` uint8 per-lead instance mask: 0 none, ``k`` = lead index + 1 (trace pixels only).
    geometry
        One :class:`LeadGeometry` per drawn panel (a lead may appear twice, e.g. a rhythm strip).
    homography
        ``3x3`` float64 map from flat-page pixel coordinates to output-image coordinates
        (identity until a geometric damage is applied). Inverting it maps image pixels back to the
        flat page, where ``baseline_y``/``x0``/``px_per_mm`` hold.
    signal
        ``[leads, samples]`` float32 mV actually plotted (NaN where not plotted), at ``fs``.
    lead_names
        Names of the rows of ``signal``.
    fs
        Sampling rate of ``signal``.
    record_id
        Id of the source record.
    meta
        Free-form render settings (layout, dpi, paper, colours, damage applied, seed).
    """

    image: np.ndarray
    mask: np.ndarray
    leads: np.ndarray
    geometry: list[LeadGeometry]
    signal: np.ndarray
    lead_names: tuple[str, ...]
    fs: float
    record_id: str
    homography: np.ndarray = field(default_factory=lambda: np.eye(3))
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def replace(self, **changes: Any) -> Page:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)
