"""Datasets for training and evaluation: MIT-BIH Arrhythmia beats with the inter-patient protocol.

Names are imported on first use (PEP 562): ``import ecglab.datasets`` stays cheap, and torch,
wfdb and scipy are loaded only when a dataset is actually used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    name: "ecglab.datasets.mitdb"
    for name in (
        "AAMI_CLASSES",
        "AAMI_MAP",
        "ALL_RECORDS",
        "BEAT_SYMBOLS",
        "DS1",
        "DS1_CLASS_COUNTS",
        "DS2",
        "PACED",
        "SPLITS",
        "BeatDataset",
        "BeatSet",
        "LeakySplitWarning",
        "RecordSplit",
        "class_weights",
        "intra_split",
        "load_beat_set",
        "split_records",
        "val_records",
    )
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ecglab.datasets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
