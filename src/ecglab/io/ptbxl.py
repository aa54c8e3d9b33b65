"""PTB-XL records: a WFDB record plus its row of ``ptbxl_database.csv``.

The database table carries what the headers do not: patient id, age, sex, the SCP-ECG statements
(``scp_codes`` with likelihoods) and the recommended ``strat_fold`` split. Label mapping to the
superdiagnostic/diagnostic/rhythm tasks belongs to :mod:`ecglab.datasets`, not here.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from ecglab.errors import RecordError, RecordNotFoundError
from ecglab.io.recording import Recording
from ecglab.io.wfdb_io import read_wfdb, record_base

DATABASE_CSV = "ptbxl_database.csv"
_RECORD_RE = re.compile(r"^(\d{5})_(lr|hr)$")
# PTB-XL writes ages above 89 as 300 (de-identification); ecglab reports them as 90.
_AGE_CAP_CODE = 300


def find_ptbxl_root(path: str | Path) -> Path | None:
    """The PTB-XL root (folder holding ``ptbxl_database.csv``) above ``path``, or None."""
    path = Path(path).resolve()
    for parent in [path, *path.parents][:5]:
        if (parent / DATABASE_CSV).is_file():
            return parent
    return None


def is_ptbxl_record(path: str | Path) -> bool:
    """True if ``path`` names a PTB-XL record (``NNNNN_lr``/``NNNNN_hr`` under a PTB-XL root)."""
    return bool(_RECORD_RE.match(record_base(path).name)) and find_ptbxl_root(path) is not None


def load_database(root: str | Path) -> pd.DataFrame:
    """``ptbxl_database.csv`` indexed by ``ecg_id`` (cached per file version)."""
    csv = Path(root) / DATABASE_CSV
    if not csv.is_file():
        raise RecordNotFoundError(f"{csv}: PTB-XL database table not found")
    return _load_database(str(csv), csv.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_database(csv: str, mtime_ns: int) -> pd.DataFrame:
    try:
        table = pd.read_csv(csv, index_col="ecg_id")
    except Exception as exc:
        raise RecordError(f"{csv}: unreadable PTB-XL table: {exc}") from None
    for column in ("scp_codes", "filename_lr", "filename_hr", "patient_id", "strat_fold"):
        if column not in table.columns:
            raise RecordError(f"{csv}: column {column!r} missing")
    return table


def parse_scp_codes(text: Any) -> dict[str, float]:
    """``"{'NORM': 100.0, 'SR': 0.0}"`` → ``{"NORM": 100.0, "SR": 0.0}`` (literal_eval, never eval)."""
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise RecordError(f"unreadable scp_codes {text!r}") from None
    if not isinstance(value, dict):
        raise RecordError(f"scp_codes is not a mapping: {text!r}")
    return {str(k): float(v) for k, v in value.items()}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def ptbxl_meta(row: pd.Series, ecg_id: int) -> dict[str, Any]:
    """Contract metadata from one row of the PTB-XL table."""
    age = _clean(row.get("age"))
    meta: dict[str, Any] = {
        "age": None if age is None else min(float(age), 90.0),
        # PTB-XL codes sex as 0 = male, 1 = female.
        "sex": {0: "M", 1: "F"}.get(_clean(row.get("sex"))),
        "patient_id": None if _clean(row.get("patient_id")) is None else int(row["patient_id"]),
        "scp_codes": parse_scp_codes(row.get("scp_codes")),
        "strat_fold": int(row["strat_fold"]),
        "report": _clean(row.get("report")),
        "ecg_id": int(ecg_id),
        "ptbxl": {str(k): _clean(v) for k, v in row.items()},
    }
    if age is not None and float(age) >= _AGE_CAP_CODE:
        meta["age_capped"] = True
    return meta


def read_ptbxl(root: str | Path, ecg_id: int, *, sampling_rate: int = 100) -> Recording:
    """Read PTB-XL record ``ecg_id`` at 100 or 500 Hz with its database row as metadata.

    Raises
    ------
    RecordNotFoundError
        If the id is not in the table or its signal file at that rate is absent.
    """
    if sampling_rate not in (100, 500):
        raise RecordError(f"PTB-XL ships 100 and 500 Hz records, not {sampling_rate} Hz")
    root = Path(root)
    table = load_database(root)
    if ecg_id not in table.index:
        raise RecordNotFoundError(f"{root / DATABASE_CSV}: no ecg_id {ecg_id}")
    row = table.loc[ecg_id]
    rel = row["filename_lr" if sampling_rate == 100 else "filename_hr"]
    if not isinstance(rel, str) or not rel:
        raise RecordNotFoundError(f"{root}: ecg_id {ecg_id} has no {sampling_rate} Hz record in the table")
    rec = read_wfdb(root / rel, annotations=None)
    meta = {**rec.meta, **ptbxl_meta(row, ecg_id)}
    meta["source"] = {"reader": "ptbxl", "path": str(root / rel)}
    return rec.replace(meta=meta)


def read_ptbxl_file(path: str | Path) -> Recording:
    """Read a PTB-XL record given by its file path (``records100/00000/00001_lr.hea``)."""
    base = record_base(path)
    match = _RECORD_RE.match(base.name)
    root = find_ptbxl_root(base)
    if not match or root is None:
        raise RecordError(f"{path}: not a PTB-XL record path (NNNNN_lr / NNNNN_hr under {DATABASE_CSV})")
    return read_ptbxl(root, int(match.group(1)), sampling_rate=100 if match.group(2) == "lr" else 500)
