"""Classical (no-training) ECG image digitizer: image → 12-lead signals in mV.

Stages, each usable alone: :func:`load_image`, :func:`rectify`, :func:`detect_grid`,
:func:`detect_layout`, :func:`extract_traces`; the whole pipeline is :func:`digitize_image`.
Names are imported on first use (PEP 562).

>>> from ecglab.digitize import digitize_image  # doctest: +SKIP
>>> result = digitize_image("page.png")  # doctest: +SKIP
>>> result.recording.signal.shape  # doctest: +SKIP
(12, 5000)
"""

from __future__ import annotations

from ecglab._lazy import lazy_exports

_EXPORTS = {
    "DigitizeError": "ecglab.digitize.errors",
    "ImageError": "ecglab.digitize.errors",
    "GridError": "ecglab.digitize.errors",
    "LayoutError": "ecglab.digitize.errors",
    "load_image": "ecglab.digitize.image",
    "trace_mask": "ecglab.digitize.image",
    "normalise": "ecglab.digitize.image",
    "rectify": "ecglab.digitize.deskew",
    "estimate_rotation": "ecglab.digitize.deskew",
    "Perspective": "ecglab.digitize.perspective",
    "estimate_perspective": "ecglab.digitize.perspective",
    "rectify_perspective": "ecglab.digitize.perspective",
    "GridInfo": "ecglab.digitize.grid",
    "detect_grid": "ecglab.digitize.grid",
    "PageLayout": "ecglab.digitize.layout",
    "PanelBox": "ecglab.digitize.layout",
    "detect_layout": "ecglab.digitize.layout",
    "PanelTrace": "ecglab.digitize.extract",
    "extract_traces": "ecglab.digitize.extract",
    "DigitizeResult": "ecglab.digitize.pipeline",
    "digitize_image": "ecglab.digitize.pipeline",
    "LearnedDigitizer": "ecglab.digitize.learned",
    "CropSpec": "ecglab.digitize.strips",
    "einthoven_correct": "ecglab.digitize.pipeline",
    "draw_overlay": "ecglab.digitize.overlay",
    "evaluate_digitization": "ecglab.digitize.evaluate",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
