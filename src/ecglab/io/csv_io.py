"""CSV recordings: one column per lead, an optional time column, units stated, never assumed.

Units come from the column headers (``II [mV]``, ``V1 (uV)``) or from the caller; a CSV that says
neither is refused. The sampling rate comes from the caller or from a uniformly spaced time column
(``time``, ``time_s``, ``t``), and the two must agree when both are there.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ecglab.errors import LeadError, RecordError, RecordNotFoundError, UnitsError
from ecglab.io.atomic import atomic_write
from ecglab.io.leads import normalize_leads
from ecglab.io.recording import Recording
from ecglab.io.units import canonical_unit, to_millivolts_factor

TIME_COLUMNS = ("time", "time_s", "t", "seconds", "time [s]", "time (s)")
_UNIT_RE = re.compile(r"^\s*(.*?)\s*[\[(]\s*([^\])]*)\s*[\])]\s*$")


def split_column_name(column: str) -> tuple[str, str | None]:
    """``"II [mV]"`` → ``("II", "mV")``; ``"II"`` → ``("II", None)``."""
    match = _UNIT_RE.match(str(column))
    if match:
        return match.group(1), match.group(2)
    return str(column).strip(), None


def read_csv(
    path: str | Path,
    *,
    fs: float | None = None,
    units: str | None = None,
    allow_unknown_leads: bool = False,
    record_id: str | None = None,
) -> Recording:
    """Read a CSV with one column per lead (header row of lead names) as a :class:`Recording`.

    Parameters
    ----------
    fs
        Sampling rate in Hz; may be omitted when a time column gives it.
    units
        Amplitude unit of every lead column without a unit in its header.

    Raises
    ------
    RecordError, UnitsError, LeadError
        Empty file, no header, non-numeric cell (row and column named), unknown units or leads,
        no sampling rate, irregular time column.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordNotFoundError(f"{path}: file not found")
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_csv_text(
        raw,
        where=str(path),
        fs=fs,
        units=units,
        allow_unknown_leads=allow_unknown_leads,
        record_id=record_id or path.stem,
    )


def parse_csv_text(
    text: str,
    *,
    where: str = "<csv>",
    fs: float | None = None,
    units: str | None = None,
    allow_unknown_leads: bool = False,
    record_id: str = "record",
) -> Recording:
    """Parse CSV text (see :func:`read_csv`); ``where`` names the source in error messages."""
    if not text.strip():
        raise RecordError(f"{where}: empty CSV")
    try:
        # The header row is read as data: pandas would rename a repeated name ("I" -> "I.1") and
        # silently turn the first column into the index when rows have one field more than it.
        table = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True, header=None
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RecordError(f"{where}: unreadable CSV: {reason}") from None
    columns = [str(c) for c in table.iloc[0]]
    table = table.iloc[1:].reset_index(drop=True)
    if table.shape[0] == 0:
        raise RecordError(f"{where}: CSV has a header but no data rows")
    if any(c.startswith("Unnamed:") or not c.strip() for c in columns):
        raise RecordError(f"{where}: every column needs a name in the header row (got {columns})")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise LeadError(f"{where}: duplicate column name(s) in the header row: {', '.join(map(repr, dupes))}")
    table.columns = columns
    time_cols = [c for c in columns if c.strip().lower() in TIME_COLUMNS]
    lead_cols = [c for c in columns if c not in time_cols]
    if not lead_cols:
        raise RecordError(f"{where}: no lead columns (only {', '.join(columns)})")
    values = np.column_stack([_numeric_column(table[c], c, where) for c in lead_cols]).T
    names, factors = [], []
    for column in lead_cols:
        name, unit = split_column_name(column)
        unit = unit or units
        if unit is None:
            raise UnitsError(
                f"{where}: units of column {column!r} unknown; name columns like 'II [mV]' or pass units"
            )
        names.append(name)
        factors.append(to_millivolts_factor(unit, where=f"{where}: column {column!r}"))
    leads = normalize_leads(names, allow_unknown=allow_unknown_leads, where=where)
    if time_cols:
        fs = _fs_from_time(_numeric_column(table[time_cols[0]], time_cols[0], where), fs, where)
    if fs is None:
        raise RecordError(f"{where}: sampling rate unknown; pass fs or add a 'time_s' column")
    signal = (values * np.asarray(factors)[:, None]).astype(np.float32)
    empty = np.isnan(signal).all(axis=1)
    if empty.any():
        bad = [leads[i] for i in np.flatnonzero(empty)]
        raise RecordError(f"{where}: lead(s) {', '.join(bad)} hold no numeric value")
    meta = {"source": {"reader": "csv", "path": where}}
    return Recording(signal=signal, fs=fs, leads=leads, record_id=record_id, meta=meta)


def _numeric_column(column: pd.Series, name: str, where: str) -> np.ndarray:
    """Column as float64; empty cells and NaN/NA become NaN, anything else non-numeric is an error."""
    text = column.astype(str).str.strip()
    missing = text.str.lower().isin(["", "nan", "na", "n/a", "null"])
    values = pd.to_numeric(text.where(~missing, None), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values) & ~missing.to_numpy())
    if bad.size:
        row = int(bad[0])
        raise RecordError(f"{where}: row {row + 2}, column {name!r}: {column.iloc[row]!r} is not a number")
    if np.isinf(values).any():
        row = int(np.flatnonzero(np.isinf(values))[0])
        raise RecordError(f"{where}: row {row + 2}, column {name!r}: infinite value")
    return values


def _fs_from_time(t: np.ndarray, fs: float | None, where: str) -> float:
    if np.isnan(t).any() or t.size < 2:
        raise RecordError(f"{where}: time column needs at least two values and no gaps")
    step = np.diff(t)
    median = float(np.median(step))
    if median <= 0 or np.max(np.abs(step - median)) > 0.01 * median + 1e-9:
        raise RecordError(f"{where}: time column is not uniformly increasing (step {median:g} s)")
    derived = 1.0 / median
    if fs is not None and abs(derived - fs) > 0.01 * fs:
        raise RecordError(f"{where}: time column says {derived:g} Hz but fs={fs:g} was given")
    return float(fs if fs is not None else round(derived, 6))


def write_csv(recording: Recording, path: str | Path, *, time_column: bool = True) -> Path:
    """Write a recording as CSV: ``time_s`` then one ``<lead> [mV]`` column per lead (atomic)."""
    path = Path(path)
    columns = {
        f"{lead} [{canonical_unit('mV')}]": row
        for lead, row in zip(recording.leads, recording.signal, strict=True)
    }
    table = pd.DataFrame(columns)
    if time_column:
        table.insert(0, "time_s", np.arange(recording.n_samples) / recording.fs)
    with atomic_write(path, "w", newline="") as handle:
        table.to_csv(handle, index=False, float_format="%.6g", na_rep="")
    return path
