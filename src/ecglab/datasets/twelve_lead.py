"""Torch dataset over a :class:`~ecglab.datasets.pool.RecordTable` of 12-lead records.

Each record is read once and prepared by :func:`ecglab.signal.preprocess.preprocess_recording`
(the function inference uses too); the prepared array is kept in memory, and optionally in an
``.npz`` per record keyed by the preprocessing spec and the record files' size and mtime, so later
epochs and later runs read no WFDB file.

Training items are random crops drawn from a generator seeded by ``(seed, epoch, index)``: the
crops of an epoch do not depend on how many DataLoader workers there are or which worker serves
an item, so a run is reproducible. Call :meth:`TwelveLeadDataset.set_epoch` at the start of each
epoch (with ``persistent_workers=True`` the workers keep their own copy of the dataset and do
not see it; leave persistent workers off, or accept one crop pattern for all epochs).

A record that cannot be read or prepared is not a crash: its one-line reason goes to
``failures`` and the item is served by the next readable record (its ``"index"`` says which).
In worker processes those notes stay in the worker; call :meth:`TwelveLeadDataset.preload` in the
main process to read everything once, fill the memory cache and list all failures up front.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ecglab.datasets.pool import RecordTable
from ecglab.errors import ConfigError, EcglabError, RecordError
from ecglab.io.atomic import atomic_write
from ecglab.io.reader import read_record
from ecglab.signal.preprocess import PreprocessSpec, crop_or_pad, preprocess_recording, sliding_windows

__all__ = ["CACHE_VERSION", "TwelveLeadDataset", "demographics"]

#: Bump when the cached arrays change meaning, so old cache files are not reused.
CACHE_VERSION = 1
_SIGNAL_SUFFIXES = (".mat", ".dat")


def demographics(age: Any, sex: Any) -> np.ndarray:
    """float32 ``[3]``: age/100 (0 when missing), 1 if male, 1 if the age is missing."""
    try:
        years = float(age)
    except (TypeError, ValueError):  # None, pd.NA, text
        years = float("nan")
    missing = not np.isfinite(years)
    return np.array([0.0 if missing else years / 100.0, float(sex == "M"), float(missing)], np.float32)


class TwelveLeadDataset(Dataset):
    """Map-style dataset of prepared 12-lead records with multilabel targets.

    Parameters
    ----------
    table
        The records and their labels.
    spec
        How each record is prepared (rate, leads, filters, normalisation).
    crop_samples
        Length of an item in samples at ``spec.fs``.
    train
        Random crops (True) or centre crops (False).
    seed
        Base seed of the random crops.
    cache
        Keep prepared arrays in memory after the first read.
    cache_dir
        Also keep them as ``.npz`` files in this folder (None: no disk cache).
    window_step
        Step of :meth:`eval_windows` in samples (default: ``crop_samples``, non-overlapping).
    pad
        Where short records get their zeros (:func:`~ecglab.signal.preprocess.crop_or_pad`).

    Items
    -----
    dict
        ``x`` float32 tensor ``[leads, crop_samples]``, ``y`` float32 ``[n_classes]``, ``demo``
        float32 ``[3]`` (:func:`demographics`), ``index`` (int: the table row served).
    """

    def __init__(
        self,
        table: RecordTable,
        spec: PreprocessSpec,
        *,
        crop_samples: int,
        train: bool,
        seed: int = 0,
        cache: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        window_step: int | None = None,
        pad: str = "end",
    ) -> None:
        if crop_samples <= 0:
            raise ConfigError(f"crop_samples must be > 0, got {crop_samples}")
        self.table = table
        self.spec = spec
        self.crop_samples = int(crop_samples)
        self.train = bool(train)
        self.seed = int(seed)
        self.cache = bool(cache)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.window_step = int(window_step or crop_samples)
        self.pad = pad
        self.epoch = 0
        self.failures: list[str] = []
        self._failed: set[int] = set()
        self._memory: dict[int, np.ndarray] = {}
        rows = table.rows
        self._y = torch.from_numpy(np.ascontiguousarray(table.y, dtype=np.float32))
        demo = [demographics(a, s) for a, s in zip(rows["age"], rows["sex"], strict=True)]
        self._demo = torch.from_numpy(np.stack(demo) if demo else np.zeros((0, 3), np.float32))

    def __len__(self) -> int:
        return len(self.table)

    def set_epoch(self, epoch: int) -> None:
        """Select the crop pattern of ``epoch`` (training items only)."""
        self.epoch = int(epoch)

    # --------------------------------------------------------------------------------- signals
    def signal(self, index: int) -> np.ndarray:
        """Prepared float32 ``[leads, n]`` array of row ``index`` (cached; raises on a bad record)."""
        cached = self._memory.get(index)
        if cached is not None:
            return cached
        row = self.table.rows.iloc[index]
        x = self._load_disk(row, self.cache_dir) if self.cache_dir is not None else None
        if x is None:
            rec = read_record(row["path"], kind=row["kind"])
            x = preprocess_recording(rec, self.spec)
            if self.cache_dir is not None:
                self._save_disk(row, x, self.cache_dir)
        if self.cache:
            self._memory[index] = x
        return x

    def _readable(self, index: int) -> int:
        """``index`` or, if that record fails, the next readable row (failures are noted once)."""
        n = len(self)
        for k in range(n):
            j = (index + k) % n
            if j in self._failed:
                continue
            try:
                self.signal(j)
                return j
            except (EcglabError, OSError) as exc:
                self._failed.add(j)
                self.failures.append(str(exc).splitlines()[0] or f"row {j}: {type(exc).__name__}")
        raise RecordError(f"none of the {n} records of the dataset could be read ({self.failures[0]})")

    def preload(self) -> list[str]:
        """Read and prepare every record now; returns the failures (also in ``failures``)."""
        for i in range(len(self)):
            if i not in self._failed:
                self._readable(i)
        return list(self.failures)

    # ----------------------------------------------------------------------------------- items
    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} records")
        j = self._readable(int(index))
        x = self._memory.get(j)
        x = self.signal(j) if x is None else x
        rng = np.random.default_rng([self.seed, self.epoch, j]) if self.train else None
        crop = crop_or_pad(x, self.crop_samples, rng, pad=self.pad)  # type: ignore[arg-type]
        return {"x": torch.from_numpy(crop), "y": self._y[j], "demo": self._demo[j], "index": j}

    def eval_windows(self, index: int) -> torch.Tensor:
        """All windows of row ``index`` (``[n_windows, leads, crop_samples]``) for full-record evaluation.

        Raises
        ------
        RecordError
            If that record cannot be read (evaluation must not silently score another record).
        """
        x = self.signal(int(index))
        windows = sliding_windows(x, self.crop_samples, self.window_step, pad=self.pad)  # type: ignore[arg-type]
        return torch.from_numpy(windows)

    # ------------------------------------------------------------------------------ disk cache
    def _cache_path(self, row: Any, cache_dir: Path) -> Path:
        base = Path(row["path"])
        files = []
        for suffix in (".hea", *_SIGNAL_SUFFIXES):
            path = base.with_suffix(suffix)
            if path.is_file():
                st = path.stat()
                files.append([path.name, st.st_size, st.st_mtime_ns])
        key = {"path": str(base.resolve()), "files": files, "spec": self.spec.to_dict(), "v": CACHE_VERSION}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return cache_dir / f"{row['record_id']}-{digest}.npz"

    def _load_disk(self, row: Any, cache_dir: Path) -> np.ndarray | None:
        path = self._cache_path(row, cache_dir)
        if not path.is_file():
            return None
        # Writes are atomic, but a foreign or damaged file is rebuilt rather than trusted.
        with contextlib.suppress(OSError, ValueError, KeyError, zipfile.BadZipFile), np.load(path) as z:
            return np.asarray(z["x"], dtype=np.float32)
        return None

    def _save_disk(self, row: Any, x: np.ndarray, cache_dir: Path) -> None:
        path = self._cache_path(row, cache_dir)
        try:
            with atomic_write(path, "wb") as handle:
                np.savez(handle, x=x)
        except OSError as exc:  # a read-only or full cache folder slows later epochs but breaks nothing
            warnings.warn(f"could not write the signal cache {path}: {exc}", RuntimeWarning, stacklevel=3)
