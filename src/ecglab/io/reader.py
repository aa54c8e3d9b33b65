"""One entry point for every record kind: :func:`read_record` picks the reader from the files.

Detection looks at what is on disk, never at guesses about content: ``.csv`` is CSV, ``.h5`` is
an SPH record, a header whose signal file is a ``.mat`` is a challenge record, a ``NNNNN_lr/hr``
record below ``ptbxl_database.csv`` is PTB-XL, any other header is plain WFDB.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ecglab.errors import RecordError, RecordNotFoundError
from ecglab.io.recording import Recording

# The readers are imported where they are used: each pulls in a heavy library (wfdb, pandas,
# h5py, scipy.io) that a command reading only one kind of record should not pay for.

RECORD_KINDS = ("wfdb", "challenge", "ptbxl", "sph", "csv")
_H5 = (".h5", ".hdf5")


def detect_kind(path: str | Path) -> str:
    """Which reader handles ``path``: one of :data:`RECORD_KINDS`.

    Raises
    ------
    RecordNotFoundError
        If nothing readable is at ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in _H5:
        return "sph"
    if path.is_dir():
        raise RecordError(f"{path}: is a directory, not a record (list its records with `ecglab info DIR`)")
    from ecglab.io.ptbxl import is_ptbxl_record
    from ecglab.io.wfdb_io import record_base

    hea = record_base(path).with_suffix(".hea")
    if not hea.is_file():
        if suffix and suffix not in (".hea", ".dat", ".mat", ".atr"):
            raise RecordError(f"{path}: unknown record type {suffix!r} (.hea/.dat/.mat, .csv, .h5)")
        raise RecordNotFoundError(f"{hea}: header file not found")
    if _header_names_mat(hea):
        return "challenge"
    if is_ptbxl_record(hea):
        return "ptbxl"
    return "wfdb"


def _header_names_mat(hea: Path) -> bool:
    try:
        lines = [ln for ln in hea.read_text(errors="replace").splitlines() if ln.strip() and ln[0] != "#"]
    except OSError as exc:
        raise RecordError(f"{hea}: unreadable: {exc.strerror}") from None
    return len(lines) > 1 and lines[1].split()[0].lower().endswith(".mat")


def read_record(path: str | Path, *, kind: str | None = None, **options: Any) -> Recording:
    """Read any supported record as a :class:`Recording`.

    Parameters
    ----------
    path
        A record file (``.hea``, ``.dat``, ``.mat``, ``.csv``, ``.h5``) or a WFDB record path
        without extension.
    kind
        Force a reader (one of :data:`RECORD_KINDS`) instead of detecting it.
    **options
        Passed to the reader: ``fs`` and ``units`` for CSV, ``fs`` for SPH, ``annotations`` and
        ``allow_unknown_leads`` for WFDB.
    """
    kind = kind or detect_kind(path)
    allow_unknown = options.pop("allow_unknown_leads", False)
    if kind == "csv":
        from ecglab.io.csv_io import read_csv

        return read_csv(path, allow_unknown_leads=allow_unknown, **options)
    if kind == "sph":
        from ecglab.io.sph import read_sph

        return read_sph(path, **options)
    if kind == "challenge":
        from ecglab.io.challenge import read_challenge

        return read_challenge(path, allow_unknown_leads=allow_unknown)
    if kind == "ptbxl":
        from ecglab.io.ptbxl import read_ptbxl_file

        return read_ptbxl_file(path)
    if kind == "wfdb":
        from ecglab.io.wfdb_io import read_wfdb

        return read_wfdb(path, allow_unknown_leads=allow_unknown, **options)
    raise RecordError(f"unknown record kind {kind!r} (choose from {', '.join(RECORD_KINDS)})")


def iter_record_paths(folder: str | Path, *, recursive: bool = True) -> Iterator[Path]:
    """Record paths below ``folder``: every ``.hea`` (as its record path), ``.csv`` and ``.h5``.

    The order is sorted, so batch output is reproducible. PTB-XL's and SPH's tables
    (``ptbxl_database.csv``, ``scp_statements.csv``, ``metadata.csv``) are not records and are skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordNotFoundError(f"{folder}: no such directory")
    for path in sorted(folder.glob("**/*" if recursive else "*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        suffix = path.suffix.lower()
        if suffix == ".hea" or suffix in _H5 or (suffix == ".csv" and not _is_table(path.name)):
            yield path


_TABLES = ("ptbxl_database.csv", "scp_statements.csv", "metadata.csv")
_TABLE_PREFIXES = ("weights", "dx_mapping")


def _is_table(name: str) -> bool:
    """Label/metadata tables that sit beside records but are not records themselves."""
    return name in _TABLES or name.startswith(_TABLE_PREFIXES)
