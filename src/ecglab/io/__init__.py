"""Records in and out: the :class:`Recording` contract and its readers and writers.

Names are imported on first use (PEP 562) so that ``import ecglab.io.leads`` or the CLI's start-up
does not pay for wfdb, pandas and scipy until a record is actually read.
"""

from __future__ import annotations

from ecglab._lazy import lazy_exports

_EXPORTS = {
    "LEAD_SUBSETS": "ecglab.io.leads",
    "STANDARD_12": "ecglab.io.leads",
    "normalize_lead": "ecglab.io.leads",
    "normalize_leads": "ecglab.io.leads",
    "Annotations": "ecglab.io.recording",
    "Recording": "ecglab.io.recording",
    "data_dir": "ecglab.io.paths",
    "dataset_dir": "ecglab.io.paths",
    "detect_kind": "ecglab.io.reader",
    "iter_record_paths": "ecglab.io.reader",
    "read_record": "ecglab.io.reader",
    "read_annotations": "ecglab.io.wfdb_io",
    "read_wfdb": "ecglab.io.wfdb_io",
    "write_annotations": "ecglab.io.wfdb_io",
    "write_wfdb": "ecglab.io.wfdb_io",
    "read_challenge": "ecglab.io.challenge",
    "write_challenge": "ecglab.io.challenge",
    "read_csv": "ecglab.io.csv_io",
    "write_csv": "ecglab.io.csv_io",
    "read_ptbxl": "ecglab.io.ptbxl",
    "read_sph": "ecglab.io.sph",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
