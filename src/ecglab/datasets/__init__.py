"""Datasets: MIT-BIH beats (inter-patient protocol), CinC 2020/2021 and PTB-XL 12-lead pools, splits.

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
_MORE = {
    "ecglab.datasets.cinc": (
        "CincClasses",
        "UnknownCodeWarning",
        "encode_dx",
        "load_cinc_classes",
        "scan_cinc",
        "source_of",
    ),
    "ecglab.datasets.pool": ("RecordTable", "build_pool", "link_ptbxl_patients"),
    "ecglab.datasets.ptbxl": (
        "SCP_TO_SNOMED",
        "mapping_agreement",
        "ptbxl_labels",
        "ptbxl_snomed",
        "scan_ptbxl",
    ),
    "ecglab.datasets.splits": (
        "database_split",
        "fold_split",
        "patient_stratified_folds",
        "ptbxl_fold_split",
    ),
    "ecglab.datasets.twelve_lead": ("TwelveLeadDataset",),
}
_EXPORTS.update({name: module for module, names in _MORE.items() for name in names})

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
