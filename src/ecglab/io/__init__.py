"""Records in and out: the :class:`Recording` contract and its readers and writers."""

from ecglab.io.challenge import read_challenge, write_challenge
from ecglab.io.csv_io import read_csv, write_csv
from ecglab.io.leads import LEAD_SUBSETS, STANDARD_12, normalize_lead, normalize_leads
from ecglab.io.paths import data_dir, dataset_dir
from ecglab.io.ptbxl import read_ptbxl
from ecglab.io.reader import detect_kind, iter_record_paths, read_record
from ecglab.io.recording import Annotations, Recording
from ecglab.io.sph import read_sph
from ecglab.io.wfdb_io import read_annotations, read_wfdb, write_annotations, write_wfdb

__all__ = [
    "LEAD_SUBSETS",
    "STANDARD_12",
    "Annotations",
    "Recording",
    "data_dir",
    "dataset_dir",
    "detect_kind",
    "iter_record_paths",
    "normalize_lead",
    "normalize_leads",
    "read_annotations",
    "read_challenge",
    "read_csv",
    "read_ptbxl",
    "read_record",
    "read_sph",
    "read_wfdb",
    "write_annotations",
    "write_challenge",
    "write_csv",
    "write_wfdb",
]
