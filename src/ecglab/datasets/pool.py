"""A table of 12-lead records with multilabel targets, and the merged CinC + PTB-XL training pool.

:class:`RecordTable` is what every 12-lead scanner returns (:func:`ecglab.datasets.cinc.scan_cinc`,
:func:`ecglab.datasets.ptbxl.scan_ptbxl`): one row per record, a label matrix aligned with the rows,
the class list, and the one-line reasons for records that could not be listed. Splits, datasets
and class statistics all work from it, so no stage needs to know where a record came from.

Row columns (``ROW_COLUMNS``; scanners may add their own, e.g. ``strat_fold``, ``scp_codes``):

``record_id``  record name (``A0001``, ``HR00001``, ``00001_lr``)
``path``       record path without extension (what :func:`ecglab.io.reader.read_record` takes)
``kind``       reader to use (``"challenge"`` or ``"wfdb"``)
``dataset``    collection it was scanned from (``"cinc2021"``, ``"cinc2020"``, ``"ptbxl"``)
``source``     database of origin (``cpsc2018``, ``georgia``, ``ptbxl`` ...)
``patient_id`` grouping key for patient-disjoint splits, prefixed by the collection
``fs``, ``n_samples``, ``n_leads``, ``age`` (years or NaN), ``sex`` (``"M"``/``"F"``/None)
``dx``         every SNOMED CT code of the record (list of str)
``unscored``   the codes that map to no class of the table (list of str)
``ptbxl_ecg_id`` PTB-XL ``ecg_id`` when the record is a PTB-XL ECG (challenge ``HR`` records too)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecglab.errors import ConfigError, RecordError

__all__ = ["ROW_COLUMNS", "RecordTable", "build_pool"]

ROW_COLUMNS: tuple[str, ...] = (
    "record_id",
    "path",
    "kind",
    "dataset",
    "source",
    "patient_id",
    "fs",
    "n_samples",
    "n_leads",
    "age",
    "sex",
    "dx",
    "unscored",
    "ptbxl_ecg_id",
)


@dataclass
class RecordTable:
    """Records (rows) with a multilabel target matrix.

    Attributes
    ----------
    rows
        One row per record (columns: see :data:`ROW_COLUMNS`), with a fresh ``RangeIndex``.
    y
        float32 ``[n_records, n_classes]`` 0/1 label matrix aligned with ``rows``.
    classes
        Class identifiers (SNOMED CT codes for CinC classes, SCP codes or superclasses for PTB-XL).
    class_names
        Short readable names, one per class (abbreviations such as ``AF``); defaults to ``classes``.
    failures
        One line per record that could not be listed (unreadable header, no ``#Dx`` ...).
    """

    rows: pd.DataFrame
    y: np.ndarray
    classes: tuple[str, ...]
    class_names: tuple[str, ...] = ()
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rows = self.rows.reset_index(drop=True)
        self.classes = tuple(str(c) for c in self.classes)
        self.class_names = tuple(self.class_names) or self.classes
        y = np.asarray(self.y, dtype=np.float32)
        if y.ndim != 2 or y.shape != (len(self.rows), len(self.classes)):
            raise RecordError(
                f"label matrix has shape {y.shape}, expected ({len(self.rows)} records, "
                f"{len(self.classes)} classes)"
            )
        if len(self.class_names) != len(self.classes):
            raise RecordError(f"{len(self.class_names)} class names for {len(self.classes)} classes")
        missing = [c for c in ROW_COLUMNS if c not in self.rows.columns]
        if missing:
            raise RecordError(f"record table lacks column(s) {', '.join(missing)}")
        self.y = y

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        sources = self.rows["source"].value_counts().to_dict() if len(self) else {}
        return (
            f"RecordTable({len(self)} records, {len(self.classes)} classes, sources={sources}, "
            f"failures={len(self.failures)})"
        )

    # ------------------------------------------------------------------------------------ views
    @property
    def groups(self) -> np.ndarray:
        """Patient id of every row (the grouping key of patient-disjoint splits)."""
        return self.rows["patient_id"].to_numpy(dtype=object)

    @property
    def sources(self) -> np.ndarray:
        """Source database of every row."""
        return self.rows["source"].to_numpy(dtype=object)

    def class_counts(self, *, by_name: bool = True) -> dict[str, int]:
        """Number of positive records per class (keys: class names, or class ids)."""
        keys = self.class_names if by_name else self.classes
        return {k: int(n) for k, n in zip(keys, self.y.sum(axis=0), strict=True)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> RecordTable:
        """Rows ``indices`` (integer positions or a boolean mask), in that order; failures are kept."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.size != len(self):
                raise RecordError(f"boolean mask of length {idx.size} for a table of {len(self)} records")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise RecordError(f"subset index out of range for a table of {len(self)} records")
        return RecordTable(
            rows=self.rows.iloc[idx],
            y=self.y[idx],
            classes=self.classes,
            class_names=self.class_names,
            failures=list(self.failures),
        )

    # ----------------------------------------------------------------------------------- merging
    @classmethod
    def concat(cls, tables: Iterable[RecordTable]) -> RecordTable:
        """Merge tables that share one class list into one pool.

        A PTB-XL ECG can be listed twice: as challenge record ``HR000NN`` and as PTB-XL ``ecg_id`` NN.
        Only one copy is kept (the challenge copy, whose labels are the challenge's own; otherwise
        the first), so a pool never trains and tests on the same ECG. Record ids that repeat within
        one collection are also kept once.

        Raises
        ------
        RecordError
            If the tables have different classes or no table is given.
        """
        tables = list(tables)
        if not tables:
            raise RecordError("no record tables to concatenate")
        first = tables[0]
        for t in tables[1:]:
            if t.classes != first.classes:
                raise RecordError(
                    "cannot merge record tables with different classes "
                    f"({len(first.classes)} vs {len(t.classes)}; scan both with the same CinC version)"
                )
        rows = pd.concat([t.rows for t in tables], ignore_index=True)
        y = np.concatenate([t.y for t in tables], axis=0)
        keep = _dedupe_mask(rows)
        failures = [f for t in tables for f in t.failures]
        return cls(rows.loc[keep], y[keep], first.classes, first.class_names, failures)


def _dedupe_mask(rows: pd.DataFrame) -> np.ndarray:
    """Rows to keep: one per PTB-XL ecg_id (challenge copy first) and per (dataset, record_id)."""
    n = len(rows)
    # Challenge rows sort first so that drop_duplicates keeps them.
    is_challenge = rows["dataset"].astype(str).str.startswith("cinc").to_numpy()
    order = np.lexsort((np.arange(n), ~is_challenge))
    ecg = rows["ptbxl_ecg_id"].iloc[order]
    dup_ecg = ecg.notna().to_numpy() & ecg.duplicated(keep="first").to_numpy()
    dup_id = rows[["dataset", "record_id"]].iloc[order].duplicated(keep="first").to_numpy()
    keep = np.ones(n, dtype=bool)
    keep[order[dup_ecg | dup_id]] = False
    return keep


def link_ptbxl_patients(table: RecordTable, database: pd.DataFrame) -> RecordTable:
    """Give challenge ``HR`` records the PTB-XL patient id of their ``ecg_id`` where the table has it.

    The challenge headers carry no patient id, but its PTB-XL records are PTB-XL ECGs, whose
    ``patient_id`` is in ``ptbxl_database.csv``. Linking them keeps a patient's HR records and
    PTB-XL records on the same side of a split.
    """
    rows = table.rows.copy()
    ecg = pd.to_numeric(rows["ptbxl_ecg_id"], errors="coerce")
    known = ecg.notna() & ecg.isin(database.index)
    pid = database["patient_id"]
    rows.loc[known, "patient_id"] = [f"ptbxl:{int(pid.loc[int(e)])}" for e in ecg[known]]
    return RecordTable(rows, table.y, table.classes, table.class_names, list(table.failures))


POOL_SOURCES = ("cinc", "ptbxl")


def build_pool(
    root: str | os.PathLike[str] | None = None,
    sources: Sequence[str] = POOL_SOURCES,
    version: str = "2021",
    task: str = "cinc",
    *,
    sampling_rate: int = 500,
) -> RecordTable:
    """Scan the challenge records and/or PTB-XL under a data root into one training pool.

    Parameters
    ----------
    root
        Data root holding ``cinc2020/`` and ``ptbxl/`` (``--data`` > ``$ECGLAB_DATA`` > cache).
    sources
        ``"cinc"`` (the challenge folder tree) and/or ``"ptbxl"`` (the PTB-XL database).
    version
        CinC class set, ``"2020"`` or ``"2021"``.
    task
        ``"cinc"``: CinC classes for every record (PTB-XL statements mapped to SNOMED CT). A PTB-XL
        task (``superdiagnostic``, ``diagnostic``, ``rhythm``) is possible only with
        ``sources=("ptbxl",)``, because challenge records have no SCP statements.
    sampling_rate
        PTB-XL files to list (100 or 500 Hz); records without a file at that rate are failures.

    Returns
    -------
    RecordTable
        The merged pool; PTB-XL ECGs that are also challenge ``HR`` records appear once (the
        challenge copy), and HR records get their PTB-XL patient id when the PTB-XL table has it.
    """
    from ecglab.io.paths import dataset_dir

    unknown = sorted(set(sources) - set(POOL_SOURCES))
    if unknown or not sources:
        raise ConfigError(f"pool sources {list(sources)}: choose from {', '.join(POOL_SOURCES)}")
    if task != "cinc" and "cinc" in sources:
        raise ConfigError(
            f"task {task!r} is a PTB-XL task; challenge records have only CinC labels (task 'cinc')"
        )
    tables: list[RecordTable] = []
    database = None
    if "ptbxl" in sources:
        from ecglab.datasets.ptbxl import scan_ptbxl
        from ecglab.io.ptbxl import load_database

        ptbxl_root = dataset_dir("ptbxl", root)
        tables.append(scan_ptbxl(ptbxl_root, task=task, sampling_rate=sampling_rate, version=version))
        database = load_database(ptbxl_root)
    if "cinc" in sources:
        from ecglab.datasets.cinc import scan_cinc

        cinc = scan_cinc(Path(dataset_dir("cinc2020", root)), version=version)
        if database is not None:
            cinc = link_ptbxl_patients(cinc, database)
        tables.insert(0, cinc)
    return RecordTable.concat(tables)
