"""Synthetic ECG paper images with exact ground truth: render, (damage), write, read back.

Names are imported on first use (PEP 562): ``import ecglab.synth`` costs nothing, and nothing here
imports torch.

>>> from ecglab.synth import RenderSettings, render_page, write_page  # doctest: +SKIP
>>> page = render_page(recording, RenderSettings(layout="3x4+1", dpi=200), rng=0)  # doctest: +SKIP
>>> write_page(page, "out", "ecg0001")  # doctest: +SKIP
"""

from __future__ import annotations

from ecglab._lazy import lazy_exports

_EXPORTS = {
    "MASK_BACKGROUND": "ecglab.synth.page",
    "MASK_CLASSES": "ecglab.synth.page",
    "MASK_GRID_HORIZONTAL": "ecglab.synth.page",
    "MASK_GRID_INTERSECTION": "ecglab.synth.page",
    "MASK_GRID_VERTICAL": "ecglab.synth.page",
    "MASK_TRACE": "ecglab.synth.page",
    "LeadGeometry": "ecglab.synth.page",
    "Page": "ecglab.synth.page",
    "RenderSettings": "ecglab.synth.settings",
    "LAYOUT_NAMES": "ecglab.synth.settings",
    "GRID_COLORS": "ecglab.synth.settings",
    "Panel": "ecglab.synth.layouts",
    "LayoutSpec": "ecglab.synth.layouts",
    "layout_spec": "ecglab.synth.layouts",
    "render_page": "ecglab.synth.render",
    "write_page": "ecglab.synth.writers",
    "page_truth": "ecglab.synth.writers",
    "read_page_truth": "ecglab.synth.writers",
    "signals_from_truth": "ecglab.synth.roundtrip",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
