"""MIT-BIH Arrhythmia Database beats with the inter-patient protocol of de Chazal et al. (2004).

The 44 non-paced records are split by *patient* into DS1 (training) and DS2 (test), 22 records
each; the four paced records (102, 104, 107, 217) are excluded. Beat labels are mapped to the five
AAMI EC57 classes N, S, V, F, Q. A beat-level random split of all records (``intra``) reaches
accuracies near 99 % because beats of the same patient fall on both sides; it is provided only for
comparison with papers that use it, and everything that returns it is flagged ``leaky``.

Beats are prepared by :func:`ecglab.signal.beats.extract_beats` - the same function inference
uses on any record - and cached per record as ``.npz`` so a second load does not touch WFDB.

Example
-------
>>> train = load_beat_set(split_records("train"))  # doctest: +SKIP
>>> train.class_counts()  # doctest: +SKIP
{'N': 37533, 'S': 762, 'V': 3147, 'F': 397, 'Q': 8}
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ecglab.errors import DataNotFoundError, RecordError
from ecglab.io.atomic import atomic_write
from ecglab.io.leads import normalize_leads, resolve_alternatives
from ecglab.io.paths import ENV_VAR, dataset_dir, user_cache_dir
from ecglab.io.wfdb_io import read_wfdb
from ecglab.metrics.beats import BEAT_SYMBOLS
from ecglab.signal.beats import FEATURE_VERSION, RR_FEATURE_NAMES, BeatWindowSpec, extract_beats

__all__ = [
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
    "dataset_root",
    "intra_split",
    "load_beat_set",
    "split_records",
    "val_records",
]

# ------------------------------------------------------------------------------------ constants
#: AAMI EC57 beat classes; labels are indices into this tuple.
AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")

#: MIT-BIH beat symbol → AAMI class (de Chazal 2004, table 1).
AAMI_MAP: dict[str, str] = {
    **dict.fromkeys(("N", "L", "R", "e", "j"), "N"),  # normal, bundle branch blocks, escape beats
    **dict.fromkeys(("A", "a", "J", "S"), "S"),  # supraventricular ectopic beats
    **dict.fromkeys(("V", "E"), "V"),  # ventricular ectopic beats
    "F": "F",  # fusion of ventricular and normal
    **dict.fromkeys(("/", "f", "Q"), "Q"),  # paced, paced fusion, unclassifiable
}

# RR intervals are computed from every beat code (BEAT_SYMBOLS, the EC57 list), also those outside
# the AAMI classes (``B``, ``r``, ``n``, ``?``), so the intervals are the physiological ones.

#: Training set of the inter-patient protocol (22 records).
DS1: tuple[str, ...] = (
    "101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
    "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230",
)  # fmt: skip
#: Test set of the inter-patient protocol (22 records).
DS2: tuple[str, ...] = (
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210",
    "212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234",
)  # fmt: skip
#: Paced records, excluded (AAMI EC57 recommends it: too few of them to learn paced beats).
PACED: tuple[str, ...] = ("102", "104", "107", "217")
#: The 44 records of DS1 and DS2, sorted.
ALL_RECORDS: tuple[str, ...] = tuple(sorted(DS1 + DS2))

#: Beats per AAMI class (N, S, V, F, Q) in each DS1 record, counted from the ``.atr`` files with
#: :data:`AAMI_MAP` (totals 45866 / 944 / 3788 / 415 / 8 as in de Chazal 2004). Used to choose the
#: validation records without reading the data; the integration tests check it against the files.
DS1_CLASS_COUNTS: dict[str, tuple[int, int, int, int, int]] = {
    "101": (1860, 3, 0, 0, 2), "106": (1507, 0, 520, 0, 0), "108": (1740, 4, 17, 2, 0),
    "109": (2492, 0, 38, 2, 0), "112": (2537, 2, 0, 0, 0), "114": (1820, 12, 43, 4, 0),
    "115": (1953, 0, 0, 0, 0), "116": (2302, 1, 109, 0, 0), "118": (2166, 96, 16, 0, 0),
    "119": (1543, 0, 444, 0, 0), "122": (2476, 0, 0, 0, 0), "124": (1536, 31, 47, 5, 0),
    "201": (1635, 128, 198, 2, 0), "203": (2529, 2, 444, 1, 4), "205": (2571, 3, 71, 11, 0),
    "207": (1543, 107, 210, 0, 0), "208": (1586, 2, 992, 373, 2), "209": (2621, 383, 1, 0, 0),
    "215": (3195, 3, 164, 1, 0), "220": (1954, 94, 0, 0, 0), "223": (2045, 73, 473, 14, 0),
    "230": (2255, 0, 1, 0, 0),
}  # fmt: skip

#: Split names accepted by :func:`split_records`.
SPLITS: tuple[str, ...] = ("ds1", "ds2", "train", "val", "intra")

#: Version of the cache layout (on top of the feature code's FEATURE_VERSION).
CACHE_VERSION = 1

_LEAKY_MESSAGE = (
    "the 'intra' split mixes beats of the same patients in training and test (beat-level random "
    "split): its scores are optimistic by several points and NOT comparable with inter-patient "
    "(DS1/DS2) results; use it only to reproduce papers that report it"
)


class LeakySplitWarning(UserWarning):
    """Warns that a split puts beats of one patient on both sides (scores are optimistic)."""


# ----------------------------------------------------------------------------------------- splits
@dataclass(frozen=True)
class RecordSplit(Sequence[str]):
    """Record ids of one split; behaves as a sequence of strings.

    Attributes
    ----------
    name
        Split name (``ds1``, ``ds2``, ``train``, ``val``, ``intra``).
    records
        Record ids, sorted.
    leaky
        True if the split does not separate patients (``intra``): its scores are optimistic.
    """

    name: str
    records: tuple[str, ...]
    leaky: bool = False

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]  # int -> str, slice -> tuple
        return self.records[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)


def split_records(split: str, *, val_fraction: float = 0.2, seed: int = 0) -> RecordSplit:
    """Record ids of a split of the MIT-BIH Arrhythmia Database.

    Parameters
    ----------
    split
        ``ds1`` / ``ds2``: de Chazal's training / test records. ``train``: DS1 minus the validation
        records. ``val``: validation records, held out by patient from DS1 (see
        :func:`val_records` for the rule). ``intra``: all 44 records, for a beat-level split with
        :func:`intra_split`; flagged ``leaky`` and warned about.
    val_fraction, seed
        Size and seed of the validation choice (``train`` and ``val`` only).

    Returns
    -------
    RecordSplit
        A sequence of record ids with ``name`` and ``leaky`` attributes.
    """
    key = str(split).lower()
    if key == "ds1":
        return RecordSplit("ds1", tuple(sorted(DS1)))
    if key == "ds2":
        return RecordSplit("ds2", tuple(sorted(DS2)))
    if key in ("train", "val"):
        val = val_records(val_fraction=val_fraction, seed=seed)
        if key == "val":
            return RecordSplit("val", val)
        return RecordSplit("train", tuple(r for r in sorted(DS1) if r not in val))
    if key == "intra":
        warnings.warn(_LEAKY_MESSAGE, LeakySplitWarning, stacklevel=2)
        return RecordSplit("intra", ALL_RECORDS, leaky=True)
    raise RecordError(f"unknown MIT-BIH split {split!r} (choose one of {', '.join(SPLITS)})")


def val_records(*, val_fraction: float = 0.2, seed: int = 0) -> tuple[str, ...]:
    """DS1 records held out (by patient) for validation, chosen by a seeded class-aware rule.

    The rule, on the per-record class counts :data:`DS1_CLASS_COUNTS`:

    1. ``k = round(val_fraction * 22)`` records; every ``k``-subset of DS1 is a candidate.
    2. Admissible: the subset holds at most half of DS1's beats of every class (so 208, with 90 %
       of the F beats, and 209, with 41 % of the S beats, cannot both leave training), and at
       least ``min(k, 2)`` of its records have >= 10 S beats, and as many >= 10 V beats (validation
       S and V scores then do not hinge on one patient).
    3. Score: the largest relative deviation of the subset's share of DS1's N, S and V beats from
       ``k / 22``. Admissible subsets scoring <= 0.25 (every share within ±25 % of the record
       share) form the pool; if none does, the best-scoring admissible subsets do.
    4. ``seed`` picks one member of the pool through SHA-256 (stable across NumPy versions).

    With the defaults (``val_fraction=0.2``, ``seed=0``) validation is records 114, 116, 118 and
    223: 8333 N, 182 S (from 118, 223, 114), 641 V (from all four), 18 F beats, i.e. 18.2 % /
    19.3 % / 16.9 % / 4.3 % of DS1's N / S / V / F beats; training keeps the other 18 DS1
    records (209 and 220, rich in S, and 208, with the F beats, among them). Other seeds give
    other, equally balanced choices.

    Returns
    -------
    tuple[str, ...]
        Sorted record ids.
    """
    if not 0 < float(val_fraction) <= 0.5:
        raise RecordError(f"val_fraction must be in (0, 0.5], got {val_fraction}")
    k = max(1, round(float(val_fraction) * len(DS1)))
    return _choose_val(k, int(seed))


@lru_cache(maxsize=16)
def _choose_val(k: int, seed: int) -> tuple[str, ...]:
    ids = sorted(DS1)
    counts = np.array([DS1_CLASS_COUNTS[r] for r in ids], dtype=np.float64)  # [22, 5]
    total = counts.sum(axis=0)
    n_sets = math.comb(len(ids), k)
    combos = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(len(ids)), k)), np.int8, n_sets * k
    ).reshape(n_sets, k)
    sums = np.zeros((n_sets, counts.shape[1]))
    for j in range(k):
        sums += counts[combos[:, j]]
    share = np.divide(sums, total, out=np.zeros_like(sums), where=total > 0)
    rich = counts >= 10  # [22, 5]: record has >= 10 beats of the class
    n_rich_s = rich[combos, 1].sum(axis=1)
    n_rich_v = rich[combos, 2].sum(axis=1)
    need = min(k, 2)
    admissible = (share[:, :4] <= 0.5).all(axis=1) & (n_rich_s >= need) & (n_rich_v >= need)
    target = k / len(ids)
    score = np.abs(share[:, :3] / target - 1.0).max(axis=1)
    if admissible.any():
        score = np.where(admissible, score, np.inf)
    pool = np.flatnonzero(score <= 0.25)
    if pool.size == 0:
        pool = np.flatnonzero(score <= score.min() + 1e-12)
    digest = hashlib.sha256(f"ecglab-mitdb-val:{k}:{seed}".encode()).hexdigest()
    chosen = combos[pool[int(digest, 16) % pool.size]]
    return tuple(sorted(ids[i] for i in chosen))


# --------------------------------------------------------------------------------------- beat set
@dataclass
class BeatSet:
    """Beats of one or more records, ready for a model.

    Attributes
    ----------
    windows
        float32 ``[n, leads, spec.n_samples]`` normalised beat windows.
    rr
        float32 ``[n, len(RR_FEATURE_NAMES)]`` RR features.
    labels
        int64 ``[n]`` indices into :data:`AAMI_CLASSES`.
    records
        ``[n]`` record id of each beat (str array).
    samples
        int64 ``[n]`` R-peak sample of each beat at the record's own sampling rate (360 Hz).
    spec, leads
        How the windows were made.
    leaky
        True if this set comes from a beat-level (``intra``) split.
    """

    windows: np.ndarray
    rr: np.ndarray
    labels: np.ndarray
    records: np.ndarray
    samples: np.ndarray
    spec: BeatWindowSpec = field(default_factory=BeatWindowSpec)
    leads: tuple[str, ...] = ("MLII",)
    leaky: bool = False

    def __post_init__(self) -> None:
        n = len(self.labels)
        self.records = np.asarray(self.records, dtype=str)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.samples = np.asarray(self.samples, dtype=np.int64)
        for name in ("windows", "rr", "records", "samples"):
            if len(getattr(self, name)) != n:
                raise RecordError(f"BeatSet.{name} holds {len(getattr(self, name))} rows, labels hold {n}")

    def __len__(self) -> int:
        return int(self.labels.size)

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}={k}" for c, k in self.class_counts().items())
        flag = ", LEAKY" if self.leaky else ""
        return (
            f"BeatSet({len(self)} beats from {len(np.unique(self.records))} records, {counts}, "
            f"window {tuple(self.windows.shape[1:])}{flag})"
        )

    def class_counts(self) -> dict[str, int]:
        """Beats per AAMI class, in :data:`AAMI_CLASSES` order (zeros included)."""
        counts = np.bincount(self.labels, minlength=len(AAMI_CLASSES))
        return {c: int(k) for c, k in zip(AAMI_CLASSES, counts, strict=False)}

    def counts_by_record(self) -> dict[str, dict[str, int]]:
        """:meth:`class_counts` per record id."""
        ids = dict.fromkeys(self.records.tolist())  # first-seen order
        return {r: self.subset(self.records == r).class_counts() for r in ids}

    def subset(self, index: np.ndarray, *, leaky: bool | None = None) -> BeatSet:
        """Beats selected by a boolean mask or an index array."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return BeatSet(
            windows=self.windows[idx],
            rr=self.rr[idx],
            labels=self.labels[idx],
            records=self.records[idx],
            samples=self.samples[idx],
            spec=self.spec,
            leads=self.leads,
            leaky=self.leaky if leaky is None else leaky,
        )

    @classmethod
    def concatenate(cls, parts: Sequence[BeatSet]) -> BeatSet:
        """Join beat sets made with the same spec and leads."""
        if not parts:
            raise RecordError("no beat sets to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if p.spec != first.spec or p.leads != first.leads:
                raise RecordError("cannot concatenate beat sets made with different specs or leads")
        return cls(
            windows=np.concatenate([p.windows for p in parts]),
            rr=np.concatenate([p.rr for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
            records=np.concatenate([p.records for p in parts]),
            samples=np.concatenate([p.samples for p in parts]),
            spec=first.spec,
            leads=first.leads,
            leaky=any(p.leaky for p in parts),
        )


def intra_split(beats: BeatSet, *, test_fraction: float = 0.2, seed: int = 0) -> tuple[BeatSet, BeatSet]:
    """Random beat-level train/test split (the leaky "intra-patient" protocol), for comparison only.

    Both returned sets have ``leaky=True`` and a :class:`LeakySplitWarning` is issued: beats of the
    same patient land on both sides, so scores are optimistic and not comparable with DS1 → DS2.

    Returns
    -------
    train, test
    """
    warnings.warn(_LEAKY_MESSAGE, LeakySplitWarning, stacklevel=2)
    if not 0 < test_fraction < 1:
        raise RecordError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(beats))
    n_test = round(test_fraction * len(beats))
    return (
        beats.subset(np.sort(order[n_test:]), leaky=True),
        beats.subset(np.sort(order[:n_test]), leaky=True),
    )


# ---------------------------------------------------------------------------------------- loading
def load_beat_set(
    records: Iterable[str | int],
    *,
    data_root: str | os.PathLike[str] | None = None,
    spec: BeatWindowSpec | None = None,
    leads: Sequence[str] = ("MLII",),
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    edge: Literal["pad", "drop"] = "pad",
) -> BeatSet:
    """Load the AAMI-labelled beats of MIT-BIH records (cached per record).

    For each record: read it with :func:`~ecglab.io.wfdb_io.read_wfdb`, take every beat annotation
    of the ``.atr`` file (:data:`BEAT_SYMBOLS`) as the R peaks, compute windows and RR features
    with :func:`~ecglab.signal.beats.extract_beats` from all of them, and keep the beats whose
    symbol is in :data:`AAMI_MAP`. The result is cached as ``.npz`` keyed by the record, ``spec``,
    ``leads``, ``edge``, :data:`~ecglab.signal.beats.FEATURE_VERSION` and the size and
    modification time of the record's files; a second load reads the cache only.

    Parameters
    ----------
    records
        Record ids (``"100"``, ``208`` ...) or a :class:`RecordSplit`.
    data_root
        Data root holding ``mitdb/`` (or the ``mitdb`` folder itself); default ``$ECGLAB_DATA``,
        then the per-user cache (see :func:`ecglab.io.paths.data_dir`).
    spec
        Window specification (default :class:`BeatWindowSpec`).
    leads
        Leads to use; selection is by name, so record 114 (V5 first, MLII second) works.
    cache_dir
        Cache folder; default ``user_cache_dir()/beats``.
    progress
        Show a tqdm progress bar.
    edge
        Passed to :func:`extract_beats`; with ``"pad"`` every annotated beat is kept.

    Returns
    -------
    BeatSet
        Beats of all records, in record order then time order; ``leaky`` if ``records`` is.

    Raises
    ------
    DataNotFoundError
        If the dataset or a record is missing (the message says how to download it).
    LeadError
        If a record lacks one of ``leads``.
    """
    spec = spec or BeatWindowSpec()
    # canonical spellings ("ML2" -> "MLII") so equivalent requests share one cache entry
    leads = normalize_leads((leads,) if isinstance(leads, str) else leads, allow_unknown=True)
    ids = [str(r) for r in records]
    if not ids:
        raise RecordError("no records to load")
    root = dataset_root(data_root)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else user_cache_dir() / "beats"
    parts = []
    for rec_id in tqdm(ids, desc="mitdb beats", unit="record", disable=not progress, leave=False):
        arrays = _load_record(root, rec_id, spec, leads, cache, edge)
        parts.append(
            BeatSet(
                windows=arrays["windows"],
                rr=arrays["rr"],
                labels=arrays["labels"],
                records=np.full(arrays["labels"].shape, rec_id),
                samples=arrays["samples"],
                spec=spec,
                leads=leads,
            )
        )
    beats = BeatSet.concatenate(parts)
    beats.leaky = bool(getattr(records, "leaky", False))
    return beats


def dataset_root(data_root: str | os.PathLike[str] | None) -> Path:
    """The folder of the MIT-BIH records: ``<root>/mitdb``, or ``data_root`` if it holds them."""
    if data_root is not None:
        root = Path(data_root).expanduser()
        if not (root / "mitdb").is_dir() and root.is_dir() and any(root.glob("*.hea")):
            return root
    return dataset_dir("mitdb", data_root)


def _record_files(root: Path, rec_id: str) -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of the record's files; raises DataNotFoundError if it is incomplete."""
    for ext in (".hea", ".atr"):
        if not (root / f"{rec_id}{ext}").is_file():
            raise DataNotFoundError(
                f"MIT-BIH record {rec_id} is incomplete in {root} (no {rec_id}{ext}); run "
                f"`ecglab data download mitdb` or point --data / {ENV_VAR} at a folder holding 'mitdb/'"
            )
    files = []
    for path in sorted(root.glob(f"{rec_id}.*")):
        if path.is_file():
            st = path.stat()
            files.append((path.name, st.st_size, st.st_mtime_ns))
    return files


def _cache_path(
    cache: Path, root: Path, rec_id: str, spec: BeatWindowSpec, leads: tuple[str, ...], edge: str
) -> Path:
    key = {
        "dataset": "mitdb",
        "record": rec_id,
        "spec": spec.to_dict(),
        "leads": list(leads),
        "edge": edge,
        "feature_version": FEATURE_VERSION,
        "cache_version": CACHE_VERSION,
        "files": _record_files(root, rec_id),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache / f"mitdb-{rec_id}-{digest}.npz"


_CACHED = ("windows", "rr", "labels", "samples")


def _load_record(
    root: Path, rec_id: str, spec: BeatWindowSpec, leads: tuple[str, ...], cache: Path, edge: str
) -> dict[str, np.ndarray]:
    path = _cache_path(cache, root, rec_id, spec, leads, edge)
    if path.is_file():
        # Writes are atomic, but a foreign or damaged file is rebuilt rather than trusted.
        with contextlib.suppress(OSError, ValueError, KeyError, zipfile.BadZipFile), np.load(path) as z:
            return {k: z[k] for k in _CACHED}
    arrays = _extract_record(root, rec_id, spec, leads, edge)
    try:
        with atomic_write(path, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError as exc:  # a read-only or full cache folder slows later loads but breaks nothing
        warnings.warn(f"could not write the beat cache {path}: {exc}", RuntimeWarning, stacklevel=3)
    return arrays


def _extract_record(
    root: Path, rec_id: str, spec: BeatWindowSpec, leads: tuple[str, ...], edge: str
) -> dict[str, np.ndarray]:
    rec = read_wfdb(root / rec_id, annotations="atr")
    ann = rec.annotations
    symbols = np.asarray(ann.symbol if ann is not None else (), dtype=str)
    is_beat = np.isin(symbols, sorted(BEAT_SYMBOLS))
    peaks, beat_symbols = ann.sample[is_beat], symbols[is_beat]
    leads = resolve_alternatives(leads, rec.leads)  # "V1|V2|V4|V5": the record's chest lead
    windows, rr, kept = extract_beats(rec, peaks, spec, leads, edge=edge)
    lookup = {s: AAMI_CLASSES.index(c) for s, c in AAMI_MAP.items()}
    labels = np.array([lookup.get(s, -1) for s in beat_symbols[kept]], dtype=np.int64)
    keep = labels >= 0  # beats outside the AAMI classes served the RR features only
    return {
        "windows": windows[keep],
        "rr": rr[keep],
        "labels": labels[keep],
        "samples": peaks[kept][keep].astype(np.int64),
    }


# ------------------------------------------------------------------------------------------ torch
class BeatDataset(Dataset):
    """Map-style torch dataset over a :class:`BeatSet`: items ``(window, rr, label)``.

    Parameters
    ----------
    beats
        The beats.
    augment
        Apply light, label-preserving augmentation (training only): amplitude scaling by a factor
        in ``1 ± scale``, a time shift of up to ``max_shift`` samples (R-peak jitter of a detector
        at inference; 3 samples = 17 ms at 180 Hz), and Gaussian noise of ``noise_std`` (the
        windows are scaled to a median peak-to-peak of 1). RR features are not augmented.
        Randomness comes from torch's generator, which DataLoader seeds per worker.

    Items
    -----
    window
        float32 tensor ``[leads, samples]``.
    rr
        float32 tensor ``[len(RR_FEATURE_NAMES)]``.
    label
        int (index into :data:`AAMI_CLASSES`); the default collate makes it an int64 tensor.
    """

    def __init__(
        self,
        beats: BeatSet,
        *,
        augment: bool = False,
        scale: float = 0.15,
        max_shift: int = 3,
        noise_std: float = 0.02,
    ) -> None:
        self.windows = torch.from_numpy(np.ascontiguousarray(beats.windows, dtype=np.float32))
        self.rr = torch.from_numpy(np.ascontiguousarray(beats.rr, dtype=np.float32))
        self.labels = np.asarray(beats.labels, dtype=np.int64)
        if self.rr.shape[1:] != (len(RR_FEATURE_NAMES),) and len(beats):
            raise RecordError(f"rr features must have {len(RR_FEATURE_NAMES)} columns, got {self.rr.shape}")
        self.augment = augment
        self.scale = float(scale)
        self.max_shift = int(max_shift)
        self.noise_std = float(noise_std)

    def __len__(self) -> int:
        return int(self.labels.size)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        window = self.windows[index]
        if self.augment:
            window = self._augment(window)
        return window, self.rr[index], int(self.labels[index])

    def _augment(self, window: torch.Tensor) -> torch.Tensor:
        out = window * (1.0 + self.scale * (2.0 * torch.rand(()) - 1.0))
        if self.max_shift > 0:
            shift = int(torch.randint(-self.max_shift, self.max_shift + 1, ()).item())
            if shift:
                out = torch.roll(out, shift, dims=-1)
                # Replace the wrapped-around samples by the edge value instead of the far end.
                if shift > 0:
                    out[..., :shift] = out[..., shift : shift + 1]
                else:
                    out[..., shift:] = out[..., shift - 1 : shift]
        if self.noise_std > 0:
            out = out + self.noise_std * torch.randn_like(out)
        return out


def class_weights(
    labels: np.ndarray | Sequence[int],
    scheme: Literal["inverse_sqrt", "inverse", "none"] | None = "inverse_sqrt",
    n_classes: int = len(AAMI_CLASSES),
) -> torch.Tensor:
    """Per-class loss weights from label frequencies, for ``torch.nn.CrossEntropyLoss(weight=...)``.

    Parameters
    ----------
    labels
        Integer class labels of the training set.
    scheme
        ``"inverse_sqrt"`` (default): weight ∝ 1/√count, a compromise that lifts rare classes (S
        is ~2 % of DS1) without letting a handful of beats (Q: 8 in DS1) dominate the loss.
        ``"inverse"``: ∝ 1/count (balanced). ``None`` or ``"none"`` (as written in a config): all
        ones.
    n_classes
        Number of classes.

    Returns
    -------
    torch.Tensor
        float32 ``[n_classes]``, scaled so the average weight *per training beat* is 1 (the loss
        keeps its unweighted magnitude). With a weighting scheme, classes absent from ``labels``
        get 0.
    """
    if isinstance(scheme, str) and scheme.lower() in ("none", "null"):
        scheme = None
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise RecordError(f"labels must lie in 0..{n_classes - 1}")
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    if scheme is None:
        w[:] = 1.0
    elif scheme == "inverse":
        w[present] = 1.0 / counts[present]
    elif scheme == "inverse_sqrt":
        w[present] = 1.0 / np.sqrt(counts[present])
    else:
        raise RecordError(f"unknown class weight scheme {scheme!r} (choose inverse_sqrt, inverse or None)")
    if scheme is not None and y.size:
        w *= y.size / float((w * counts).sum())
    return torch.as_tensor(w, dtype=torch.float32)
