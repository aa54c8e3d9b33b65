"""Shandong Provincial Hospital (SPH) 12-lead database: HDF5 files plus ``metadata.csv``.

Each ``SPHnnnnn.h5`` holds one dataset ``ecg`` shaped ``[12, samples]``. The file itself states
neither units nor lead order nor sampling rate; the database's documentation does (Liu et al.,
Sci Data 9:159, 2022): millivolts, the standard 12-lead order, and the ``fs`` column of
``metadata.csv`` (500 Hz for every record of the database). A record without a metadata row is
read at the documented 500 Hz with a warning, and without labels.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ecglab.errors import RecordError, RecordNotFoundError
from ecglab.io.challenge import parse_dx, parse_sex
from ecglab.io.leads import STANDARD_12
from ecglab.io.recording import Recording

METADATA_CSV = "metadata.csv"
#: The database's sampling rate, as its documentation states it for every record.
SPH_FS = 500.0


def _metadata(folder: Path) -> pd.DataFrame | None:
    csv = folder / METADATA_CSV
    if not csv.is_file():
        return None
    return _load_metadata(str(csv), csv.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_metadata(csv: str, mtime_ns: int) -> pd.DataFrame:
    """The table, cached per file version (``mtime_ns`` is part of the cache key)."""
    try:
        return pd.read_csv(csv, dtype=str).set_index("ECG_ID")
    except Exception as exc:
        raise RecordError(f"{csv}: unreadable SPH metadata: {exc}") from None


def read_sph(path: str | Path, *, fs: float | None = None) -> Recording:
    """Read one SPH record (``.h5``) with its row of ``metadata.csv`` when present."""
    path = Path(path)
    if not path.is_file():
        raise RecordNotFoundError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as handle:
            if "ecg" not in handle:
                raise RecordError(f"{path}: no 'ecg' dataset (has: {', '.join(handle.keys()) or 'nothing'})")
            signal = np.asarray(handle["ecg"][()], dtype=np.float32)
    except OSError as exc:
        raise RecordError(f"{path}: unreadable HDF5 file: {exc}") from None
    if signal.ndim != 2 or signal.shape[0] != len(STANDARD_12):
        raise RecordError(f"{path}: 'ecg' has shape {signal.shape}, expected (12, samples)")
    table = _metadata(path.parent)
    meta: dict = {"source": {"reader": "sph", "path": str(path)}}
    if table is not None and path.name in table.index:
        row = table.loc[path.name]
        age = pd.to_numeric(row.get("Age"), errors="coerce")
        meta |= {
            "age": None if pd.isna(age) else float(age),
            "sex": parse_sex(row.get("Sex")),
            "dx": parse_dx(row.get("SNOMEDCTCode")),
            "patient_id": row.get("Patient_ID"),
            "aha_codes": [c for c in str(row.get("AHA_Code", "")).split(";") if c],
            "date": row.get("Date"),
        }
        fs = fs or float(row["fs"])
        if str(row.get("N", "")).isdigit() and int(row["N"]) != signal.shape[1]:
            raise RecordError(f"{path}: {signal.shape[1]} samples but {METADATA_CSV} says {row['N']}")
    elif fs is None:
        warnings.warn(
            f"{path}: no row in {METADATA_CSV}; using SPH's documented {SPH_FS:g} Hz, no labels",
            stacklevel=2,
        )
        fs = SPH_FS
    return Recording(signal=signal, fs=fs, leads=STANDARD_12, record_id=path.stem, meta=meta)
