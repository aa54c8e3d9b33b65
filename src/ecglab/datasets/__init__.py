"""Datasets for training and evaluation: MIT-BIH Arrhythmia beats with the inter-patient protocol.

Names are imported on first use (PEP 562): ``import ecglab.datasets`` stays cheap, and torch,
wfdb and scipy are loaded only when a dataset is actually used.
"""

from __future__ import annotations

from ecglab._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
