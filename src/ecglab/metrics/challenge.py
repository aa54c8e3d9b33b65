"""Scoring of the PhysioNet/Computing in Cardiology Challenges 2020 and 2021 (12-lead ECG classification).

A clean NumPy re-implementation, from their published definitions, of the official evaluation scripts:

- 2020: ``evaluate_12ECG_score.py`` of ``physionetchallenges/evaluation-2020`` (final version; the tables
  shipped here come from commit ``8ad0242``),
- 2021: ``evaluate_model.py`` and ``helper_code.py`` of ``physionetchallenges/evaluation-2021`` (final
  version; tables from commit ``e2a75fc``).

``benchmarks/score_vs_official.py`` runs both side by side on random cases; every metric agrees to 1e-6.

Rules reproduced (each is cited where it is implemented):

- The scored classes and their order are the rows of ``weights.csv``; every other SNOMED CT code is
  dropped. Equivalent codes count as one class: 2020 lists three pairs in the script (the first code of a
  pair represents it), 2021 writes them into ``weights.csv`` as ``a|b`` and adds 733534002 ≡ 164909002.
- Labels: the codes of the header's ``#Dx:`` line(s); a class is positive when any of its codes is there.
- Outputs: one CSV per record (``#record``, classes, binary outputs, scores). A class is positive when any
  equivalent column is ``1/True/true/T/t``; its score is the mean of the equivalent columns (2020: NaN
  ignored in that mean; 2021: non-finite values count as 0); NaN scores become 0.
- Accuracy is exact match over the scored classes; F-measure is the macro mean of per-class F1 (classes
  without any label or output are left out); 2020 adds F-beta and G-beta (beta = 2) on confusion
  matrices in which each record weighs 1 / (its number of positive labels).
- AUROC and AUPRC use the official threshold sweep (every distinct score plus one above the maximum;
  trapezoids for ROC in (sensitivity, specificity), steps for PR) — not scikit-learn's interpolation.
- The Challenge metric: a class-by-class matrix A where record i adds 1/|labels ∪ outputs| to A[j, k] for
  each positive label j and positive output k; score = sum(W * A), normalised so that the true labels
  give 1 and always answering the normal class (sinus rhythm, 426783006) gives 0. The final scripts do
  not change labels or outputs for the normal class (an early 2020 release did; not reproduced), and a
  record with no positive output simply earns nothing.
- 2021 scored each lead subset (12, 6, 4, 3, 2 leads) by running the same script on each subset's
  outputs; the scorer itself knows nothing of leads, and neither does this module.

Deliberate differences with the official scripts: a missing output file is scored as an all-negative
output with zero scores and counted in the result (the official scripts stop with ``IOError``); a
malformed output file raises an :class:`~ecglab.errors.EcglabError` naming the file and line unless
``strict=False`` (then it is all-negative, as the 2020 script does); ``# Dx:`` (with a space, as in some
repackaged headers) is read too, where the official scripts see no label (2021) or fail (2020);
blank lines of an output file are skipped in both years (the 2021 script reads lines by position, so a
one-column file whose score field is empty differs).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ecglab.errors import ConfigError, DataNotFoundError, EcglabError, RecordError

NORMAL_CLASS = "426783006"
"""SNOMED CT code of sinus rhythm, the class of the "inactive" reference classifier (both years)."""

EQUIVALENT_CLASSES_2020: tuple[tuple[str, ...], ...] = (
    ("713427006", "59118001"),
    ("284470004", "63593006"),
    ("427172004", "17338001"),
)
"""The equivalent pairs hard-coded in ``evaluate_12ECG_score.py``; the first code represents the pair."""

VERSIONS = ("2020", "2021")
POSITIVE_TOKENS = frozenset({"1", "True", "true", "T", "t"})  # the official scripts' positive spellings
NEGATIVE_TOKENS = frozenset({"0", "False", "false", "F", "f"})
_DX_LINE = re.compile(r"^#\s*Dx\s*:(.*)$")


class ScoringError(EcglabError, ValueError):
    """Arrays handed to the scorer do not fit together (shapes, class count, empty input)."""


# --------------------------------------------------------------------------------------------- tables


@dataclass(frozen=True, eq=False)  # holds an array: compare tables by identity
class ChallengeTables:
    """The scored classes of one Challenge year and its reward matrix.

    Attributes
    ----------
    version : str
        ``"2020"`` or ``"2021"``.
    classes : tuple of str
        Class names in ``weights.csv`` order: the representative code in 2020 (``"713427006"``), the
        table's own spelling in 2021 (``"713427006|59118001"``).
    members : tuple of tuple of str
        The SNOMED CT codes each class stands for (one code, or the equivalent codes).
    weights : numpy.ndarray
        Reward matrix ``[C, C]`` (rows: true class, columns: output class).
    normal_class : str
        Code of the normal (sinus rhythm) class.
    abbreviations : tuple of str
        Display abbreviations (``"AF"``, ``"CRBBB|RBBB"``) from ``dx_mapping_scored.csv``.
    """

    version: str
    classes: tuple[str, ...]
    members: tuple[tuple[str, ...], ...]
    weights: np.ndarray
    normal_class: str = NORMAL_CLASS
    abbreviations: tuple[str, ...] = ()
    _code_index: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def equivalent_classes(self) -> tuple[tuple[str, ...], ...]:
        """The groups of codes scored as one class."""
        return tuple(m for m in self.members if len(m) > 1)

    @property
    def normal_index(self) -> int:
        """Column of the normal class."""
        return self.class_index(self.normal_class)  # type: ignore[return-value]

    def class_index(self, code: str) -> int | None:
        """Column of the class that ``code`` (a SNOMED CT code or a class name) belongs to, or None."""
        if code in self._code_index:
            return self._code_index[code]
        return self.classes.index(code) if code in self.classes else None

    def output_column_classes(self, name: str) -> list[int]:
        """Classes an output-file column named ``name`` counts for.

        2021 splits a column name on ``|`` and matches any of its codes (``load_classifier_outputs``);
        2020 compares the whole name after mapping it to its pair's representative (``load_outputs``).
        """
        parts = name.split("|") if self.version == "2021" else [name]
        return sorted({i for p in parts if (i := self._code_index.get(p.strip())) is not None})


def normalize_version(version: str) -> str:
    """``"2020"``/``"cinc2020"`` → ``"2020"``; anything else raises :class:`ConfigError`."""
    v = str(version).strip().lower().removeprefix("cinc").removeprefix("physionet")
    if v not in VERSIONS:
        raise ConfigError(f"challenge version {version!r}: use one of 2020, 2021 (or cinc2020, cinc2021)")
    return v


def _table_file(version: str, name: str) -> Path:
    return Path(str(resources.files("ecglab.metrics").joinpath("challenge_tables", version, name)))


def read_weights_csv(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read a ``weights.csv`` table: the class names of its header and the ``[C, C]`` weights.

    Cells that are not numbers become NaN (``load_table`` in both official scripts).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [[cell.strip() for cell in row] for row in csv.reader(handle) if row]
    except OSError as exc:
        raise DataNotFoundError(f"{path}: cannot read the weights table ({exc.strerror})") from exc
    if len(rows) < 2 or len(rows[0]) < 2:
        raise ConfigError(f"{path}: the weights table is empty")
    names = rows[0][1:]
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(names) + 1:
            raise ConfigError(f"{path}:{lineno}: {len(row) - 1} weights, the header has {len(names)} classes")
    if [row[0] for row in rows[1:]] != names:
        raise ConfigError(f"{path}: row names differ from the column names")
    values = np.array([[_float_or_nan(cell) for cell in row[1:]] for row in rows[1:]], dtype=np.float64)
    return names, values


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _abbreviation_map(path: Path) -> dict[str, str]:
    """SNOMED CT code → abbreviation from ``dx_mapping_scored.csv`` (its column names differ by year)."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        code_col = next(
            (c for c in reader.fieldnames or () if c.replace(" ", "").lower() == "snomedctcode"), None
        )
        if code_col is None:
            return {}
        return {row[code_col].strip(): (row.get("Abbreviation") or "").strip() for row in reader}


def load_tables(version: str) -> ChallengeTables:
    """Scored classes, equivalences and weights of the 2020 or 2021 Challenge (tables shipped in ecglab).

    Parameters
    ----------
    version : str
        ``"2020"``, ``"2021"``, ``"cinc2020"`` or ``"cinc2021"``.

    Returns
    -------
    ChallengeTables
        2020: 24 classes (27 codes, three equivalent pairs); 2021: 26 classes (30 codes, four pairs).
    """
    version = normalize_version(version)
    weights_path = _table_file(version, "weights.csv")
    names, values = read_weights_csv(weights_path)
    if version == "2020":
        # load_weights (2020): rows of equivalent codes are merged into their representative's row,
        # after checking that they carry identical weights; class order = first appearance.
        rep = {code: pair[0] for pair in EQUIVALENT_CLASSES_2020 for code in pair}
        reps = [rep.get(n, n) for n in names]
        classes = list(dict.fromkeys(reps))
        first = [reps.index(c) for c in classes]
        for j, r in enumerate(reps):
            k = first[classes.index(r)]
            same = np.array_equal(values[j], values[k], equal_nan=True)
            if not (same and np.array_equal(values[:, j], values[:, k], equal_nan=True)):
                raise ConfigError(f"{weights_path}: equivalent classes {names[k]} and {names[j]} differ")
        members = [next((pair for pair in EQUIVALENT_CLASSES_2020 if pair[0] == c), (c,)) for c in classes]
        weights = values[np.ix_(first, first)]
    else:
        # load_weights (2021): a row named "a|b" is one class standing for codes a and b.
        classes = names
        members = [tuple(p.strip() for p in n.split("|")) for n in names]
        weights = values
    code_index: dict[str, int] = {}
    for i, codes in enumerate(members):
        for code in codes:
            if code in code_index:
                raise ConfigError(f"{weights_path}: code {code} belongs to two classes")
            code_index[code] = i
    if NORMAL_CLASS not in code_index:
        raise ConfigError(f"{weights_path}: the normal class {NORMAL_CLASS} is not scored")
    abbrev = _abbreviation_map(_table_file(version, "dx_mapping_scored.csv"))
    abbreviations = tuple("|".join(abbrev.get(c, c) for c in codes) for codes in members)
    weights.setflags(write=False)
    return ChallengeTables(
        version=version,
        classes=tuple(classes),
        members=tuple(tuple(m) for m in members),
        weights=weights,
        normal_class=NORMAL_CLASS,
        abbreviations=abbreviations,
        _code_index=code_index,
    )


# --------------------------------------------------------------------------------------------- labels


def read_dx_codes(path: str | os.PathLike[str]) -> list[str]:
    """SNOMED CT codes of a header's ``#Dx:`` (or ``# Dx:``) line(s), in file order.

    A header without a Dx line has no label (as ``get_labels`` of the 2021 helper code).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RecordError(f"{path}: cannot read the header ({exc.strerror})") from exc
    codes: list[str] = []
    for line in text.splitlines():
        match = _DX_LINE.match(line.strip())
        if match:
            codes += [c.strip() for c in match.group(1).split(",") if c.strip()]
    return codes


def encode_labels(codes: Iterable[str], tables: ChallengeTables) -> np.ndarray:
    """One-hot ``[C]`` of the scored classes among ``codes``; unscored codes are dropped."""
    row = np.zeros(len(tables.classes), dtype=bool)
    for code in codes:
        j = tables._code_index.get(code)
        if j is not None:
            row[j] = True
    return row


def find_label_files(label_dir: str | os.PathLike[str]) -> list[Path]:
    """The ``.hea`` files of a folder and its sub-folders, sorted by name, hidden ones skipped.

    The official ``find_challenge_files`` looks at the top folder only; searching sub-folders too
    lets ``ecglab score --labels`` take a database tree (``cinc2021/georgia/...``) as it is. For a flat
    folder both find the same files.

    Raises
    ------
    DataNotFoundError
        No folder, or no header in it.
    ScoringError
        Two headers with the same record name in different sub-folders.
    """
    label_dir = Path(label_dir)
    if not label_dir.is_dir():
        raise DataNotFoundError(f"label folder {label_dir} does not exist")
    files = [
        p
        for p in label_dir.rglob("*")
        if p.is_file()
        and p.name.lower().endswith(".hea")
        and not any(part.startswith(".") for part in p.relative_to(label_dir).parts)
    ]
    files.sort(key=lambda p: p.name)
    if not files:
        raise DataNotFoundError(f"no .hea label files in {label_dir}")
    seen: dict[str, Path] = {}
    for path in files:
        if path.name in seen:
            raise ScoringError(f"record {path.stem!r} has two label files: {seen[path.name]} and {path}")
        seen[path.name] = path
    return files


def load_label_dir(
    label_dir: str | os.PathLike[str], tables: ChallengeTables
) -> tuple[list[str], np.ndarray]:
    """Labels of every header in a folder.

    Parameters
    ----------
    label_dir : path
        Folder of WFDB headers carrying ``#Dx:`` lines.
    tables : ChallengeTables
        Scored classes (:func:`load_tables`).

    Returns
    -------
    record_ids : list of str
        File names without ``.hea``, sorted; the output file of record ``r`` is ``r.csv``.
    labels : numpy.ndarray
        Boolean ``[n, C]``.
    """
    files = find_label_files(label_dir)
    record_ids = [os.path.splitext(p.name)[0] for p in files]
    labels = np.stack([encode_labels(read_dx_codes(p), tables) for p in files])
    return record_ids, labels


# --------------------------------------------------------------------------------------------- outputs


class OutputFile(NamedTuple):
    """One parsed output file: its columns as written (before mapping them to scored classes)."""

    record_id: str | None
    classes: tuple[str, ...]
    binary: np.ndarray  # bool [k]
    scores: np.ndarray  # float64 [k]; NaN/inf kept as written, text that is not a number -> 0


class ChallengeOutputs(NamedTuple):
    """Outputs of a folder aligned with the label records."""

    binary: np.ndarray  # bool [n, C]
    scores: np.ndarray  # float64 [n, C]
    missing: tuple[str, ...]  # record ids without an output file (scored all-negative, scores 0)
    malformed: tuple[str, ...]  # record ids whose file was unreadable (only with strict=False)


def write_output_file(
    path: str | os.PathLike[str],
    record_id: str,
    classes: Sequence[str],
    binary: Sequence[Any] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
) -> Path:
    """Write one record's outputs in the Challenge format, atomically.

    The file has four lines: ``#record_id``, the class codes, the binary outputs (0/1) and the scores,
    comma-separated (``save_outputs`` of the 2021 helper code; the 2020 format is the same).
    """
    from ecglab.io.atomic import atomic_write

    binary = np.asarray(binary).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not (len(classes) == binary.size == scores.size) or not len(classes):
        raise ScoringError(
            f"{path}: {len(classes)} classes, {binary.size} binary outputs and {scores.size} scores differ"
        )
    bad = [c for c in classes if not str(c).strip() or "," in str(c) or "\n" in str(c)]
    if bad:
        raise ScoringError(f"{path}: class name {bad[0]!r} cannot be written (empty, comma or newline)")
    text = (
        f"#{record_id}\n"
        + ",".join(str(c) for c in classes)
        + "\n"
        + ",".join("1" if b else "0" for b in binary)
        + "\n"
        + ",".join(repr(float(s)) for s in scores)
        + "\n"
    )
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path


def read_output_file(path: str | os.PathLike[str], *, strict: bool = True) -> OutputFile:
    """Parse one output file.

    Blank lines are skipped and the first line starting with ``#`` gives the record id; the next three
    lines are the classes, binary outputs and scores, with as many fields each (``load_outputs``, 2020).
    Binary fields ``1/True/true/T/t`` are positive.

    Parameters
    ----------
    path : path
        The ``.csv`` file.
    strict : bool
        True: a binary field that is neither a positive nor a negative spelling (0/False/false/F/f), or a
        score that is not a number, raises. False: they count as 0, as in the official scripts.

    Raises
    ------
    RecordError
        With ``path:line``: fewer than three data lines, rows of different lengths, bad fields (strict).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RecordError(f"{path}: cannot read the output file ({exc.strerror})") from exc
    record_id: str | None = None
    data: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if record_id is None and not data:
                record_id = stripped[1:].strip() or None
            continue
        data.append((lineno, [cell.strip() for cell in line.split(",")]))
    if len(data) < 3:
        where = data[-1][0] if data else 1
        raise RecordError(f"{path}:{where}: expected lines of classes, binary outputs and scores")
    (_, names), (bin_line, bin_cells), (score_line, score_cells) = data[:3]
    for lineno, cells in data[1:3]:
        if len(cells) != len(names):
            raise RecordError(f"{path}:{lineno}: {len(cells)} fields, the class line has {len(names)}")
    binary = np.zeros(len(names), dtype=bool)
    for k, cell in enumerate(bin_cells):
        if cell in POSITIVE_TOKENS:
            binary[k] = True
        elif strict and cell not in NEGATIVE_TOKENS:
            raise RecordError(f"{path}:{bin_line}: binary output {cell!r} of {names[k]} is not 0/1")
    scores = np.zeros(len(names), dtype=np.float64)
    for k, cell in enumerate(score_cells):
        try:
            scores[k] = float(cell)
        except ValueError:
            if strict:
                raise RecordError(
                    f"{path}:{score_line}: score {cell!r} of {names[k]} is not a number"
                ) from None
    return OutputFile(record_id, tuple(names), binary, scores)


def encode_outputs(output: OutputFile, tables: ChallengeTables) -> tuple[np.ndarray, np.ndarray]:
    """Map one file's columns onto the scored classes: ``(binary [C], scores [C])``.

    Unscored columns are dropped, a class missing from the file is negative with score 0, equivalent
    columns are merged: positive if any is, score = their mean. 2020 (``load_outputs``) averages with
    ``nanmean`` and keeps infinities; 2021 (``load_classifier_outputs``) first sets every non-finite
    score to 0. A score still NaN after merging becomes 0.
    """
    n_classes = len(tables.classes)
    col, cls = [], []
    for k, name in enumerate(output.classes):
        for j in tables.output_column_classes(name):
            col.append(k)
            cls.append(j)
    binary = np.zeros(n_classes, dtype=bool)
    scores = np.zeros(n_classes, dtype=np.float64)
    if not col:
        return binary, scores
    col_a, cls_a = np.array(col), np.array(cls)
    np.logical_or.at(binary, cls_a, output.binary[col_a])
    values = output.scores[col_a]
    if tables.version == "2021":
        values = np.where(np.isfinite(values), values, 0.0)
    finite = ~np.isnan(values)
    sums = np.zeros(n_classes)
    counts = np.zeros(n_classes)
    np.add.at(sums, cls_a, np.where(finite, values, 0.0))
    np.add.at(counts, cls_a, finite)
    with np.errstate(invalid="ignore"):
        scores = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    scores[np.isnan(scores)] = 0.0  # e.g. nanmean(inf, -inf) in 2020
    return binary, scores


def load_output_dir(
    output_dir: str | os.PathLike[str],
    record_ids: Sequence[str],
    tables: ChallengeTables,
    *,
    strict: bool = True,
) -> ChallengeOutputs:
    """Outputs ``<output_dir>/<record_id>.csv`` of every record, aligned with the labels.

    Parameters
    ----------
    output_dir : path
        Folder of output files.
    record_ids : sequence of str
        Records in label order (:func:`load_label_dir`).
    tables : ChallengeTables
        Scored classes.
    strict : bool
        True: a malformed file raises :class:`~ecglab.errors.RecordError` (path and line). False: it is
        scored all-negative with zero scores, as the official 2020 script does, and listed in
        ``malformed``.

    Returns
    -------
    ChallengeOutputs
        ``binary`` ``[n, C]``, ``scores`` ``[n, C]``, and the ids of ``missing`` and ``malformed`` files
        (both scored all-negative; the official scripts stop on a missing file instead).
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise DataNotFoundError(f"output folder {output_dir} does not exist")
    n_classes = len(tables.classes)
    binary = np.zeros((len(record_ids), n_classes), dtype=bool)
    scores = np.zeros((len(record_ids), n_classes), dtype=np.float64)
    missing: list[str] = []
    malformed: list[str] = []
    for i, record_id in enumerate(record_ids):
        path = output_dir / f"{record_id}.csv"
        if not path.is_file():
            missing.append(record_id)
            continue
        try:
            parsed = read_output_file(path, strict=strict)
        except RecordError:
            if strict:
                raise
            malformed.append(record_id)
            continue
        binary[i], scores[i] = encode_outputs(parsed, tables)
    return ChallengeOutputs(binary, scores, tuple(missing), tuple(malformed))


# --------------------------------------------------------------------------------------------- metrics


def _nanmean(values: np.ndarray) -> float:
    """Mean of the finite entries, NaN when there is none (without numpy's empty-slice warning)."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0 (the official scripts' ``if den: ... else: nan``)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def accuracy(labels: np.ndarray, outputs: np.ndarray) -> float:
    """Fraction of records whose binary outputs equal their labels on every scored class."""
    labels, outputs = np.asarray(labels, bool), np.asarray(outputs, bool)
    return float(np.mean(np.all(labels == outputs, axis=1)))


def confusion_counts(
    labels: np.ndarray, outputs: np.ndarray, *, normalize: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class ``(tp, fp, fn, tn)``, each ``[C]``.

    With ``normalize`` each record counts 1 / max(number of its positive labels, 1)
    (``compute_confusion_matrices(normalize=True)``, used by the 2020 F-beta and G-beta).
    """
    labels, outputs = np.asarray(labels, bool), np.asarray(outputs, bool)
    weight = 1.0 / np.maximum(labels.sum(axis=1), 1) if normalize else np.ones(labels.shape[0])
    w = weight[:, None]
    tp = np.sum(w * (labels & outputs), axis=0)
    fp = np.sum(w * (~labels & outputs), axis=0)
    fn = np.sum(w * (labels & ~outputs), axis=0)
    tn = np.sum(w * (~labels & ~outputs), axis=0)
    return tp, fp, fn, tn


def f_measure(labels: np.ndarray, outputs: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro F-measure and per-class F1 = 2TP / (2TP + FP + FN); NaN (left out of the mean) when 0/0."""
    tp, fp, fn, _ = confusion_counts(labels, outputs)
    per_class = _safe_ratio(2 * tp, 2 * tp + fp + fn)
    return _nanmean(per_class), per_class


def beta_measures(labels: np.ndarray, outputs: np.ndarray, beta: float = 2.0) -> tuple[float, float]:
    """Macro F-beta and G-beta of the 2020 Challenge (``compute_beta_measures``).

    On label-normalised confusion counts: F_beta = (1+b²)TP / ((1+b²)TP + FP + b²FN) and
    G_beta = TP / (TP + FP + b·FN), per class, then the mean over classes where they are defined.
    """
    tp, fp, fn, _ = confusion_counts(labels, outputs, normalize=True)
    b2 = beta**2
    f_beta = _safe_ratio((1 + b2) * tp, (1 + b2) * tp + fp + b2 * fn)
    g_beta = _safe_ratio(tp, tp + fp + beta * fn)
    return _nanmean(f_beta), _nanmean(g_beta)


def _class_auc(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """AUROC and AUPRC of one class with the official sweep (``compute_auc``).

    Thresholds: one above the largest score (nothing positive), then every distinct score, descending;
    at threshold t a record is positive when its score >= t. AUROC is the trapezoidal area under
    specificity as a function of sensitivity; AUPRC sums precision at each threshold times the recall
    gained there. Written by hand: scikit-learn drops thresholds and interpolates differently.
    """
    values, inverse = np.unique(s, return_inverse=True)
    pos_at = np.bincount(inverse, weights=y.astype(np.float64), minlength=values.size)[::-1]
    all_at = np.bincount(inverse, minlength=values.size)[::-1].astype(np.float64)
    tp = np.concatenate(([0.0], np.cumsum(pos_at)))
    fp = np.concatenate(([0.0], np.cumsum(all_at - pos_at)))
    n_pos = float(y.sum())
    n_neg = float(y.size) - n_pos
    tpr = _safe_ratio(tp, n_pos)
    tnr = _safe_ratio(n_neg - fp, n_neg)
    ppv = _safe_ratio(tp, tp + fp)
    d_tpr = np.diff(tpr)
    auroc = float(np.sum(0.5 * d_tpr * (tnr[1:] + tnr[:-1])))
    auprc = float(np.sum(d_tpr * ppv[1:]))
    return auroc, auprc


def auc_scores(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Macro AUROC, macro AUPRC and their per-class values ``[C]`` (NaN for a class without positives
    or without negatives; such classes are left out of the macro means).
    """
    labels = np.asarray(labels, bool)
    scores = np.asarray(scores, dtype=np.float64)
    per = np.array([_class_auc(labels[:, k], scores[:, k]) for k in range(labels.shape[1])]).reshape(-1, 2)
    return _nanmean(per[:, 0]), _nanmean(per[:, 1]), per[:, 0], per[:, 1]


def modified_confusion_matrix(labels: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """``A[j, k]`` = sum over records with label j and output k of 1 / |labels ∪ outputs| of the record
    (at least 1) — ``compute_modified_confusion_matrix``.
    """
    labels = np.asarray(labels, bool)
    outputs = np.asarray(outputs, bool)
    norm = np.maximum(np.sum(labels | outputs, axis=1), 1).astype(np.float64)
    return (labels / norm[:, None]).T @ outputs.astype(np.float64)


def challenge_metric(
    labels: np.ndarray,
    outputs_binary: np.ndarray,
    weights: np.ndarray,
    classes: Sequence[str],
    normal_class: str = NORMAL_CLASS,
) -> float:
    """The Challenge metric: reward sum(W * A), normalised between always-normal (0) and perfect (1).

    Parameters
    ----------
    labels, outputs_binary : numpy.ndarray
        Boolean ``[n, C]``.
    weights : numpy.ndarray
        Reward matrix ``[C, C]`` (rows: labels, columns: outputs); NaN entries count as 0.
    classes : sequence of str
        Class names of the columns; must contain ``normal_class``.
    normal_class : str
        The class the inactive reference classifier always outputs.

    Returns
    -------
    float
        (observed - inactive) / (correct - inactive), or 0.0 when correct == inactive
        (``compute_challenge_metric``).
    """
    labels = np.asarray(labels, bool)
    outputs_binary = np.asarray(outputs_binary, bool)
    weights = np.asarray(weights, dtype=np.float64)
    _check_pair(labels, outputs_binary, "binary outputs")
    n_classes = labels.shape[1]
    if weights.shape != (n_classes, n_classes) or len(classes) != n_classes:
        raise ScoringError(
            f"{n_classes} label columns, {len(classes)} classes and a {weights.shape} weight matrix differ"
        )
    if normal_class not in classes:
        raise ScoringError(f"normal class {normal_class} is not one of the classes")
    inactive = np.zeros_like(labels)
    inactive[:, list(classes).index(normal_class)] = True

    def reward(outputs: np.ndarray) -> float:
        return float(np.nansum(weights * modified_confusion_matrix(labels, outputs)))

    observed, correct, inactive_score = reward(outputs_binary), reward(labels), reward(inactive)
    if correct == inactive_score:
        return 0.0
    return (observed - inactive_score) / (correct - inactive_score)


def _check_pair(labels: np.ndarray, other: np.ndarray, what: str) -> None:
    if labels.ndim != 2 or labels.shape[0] == 0:
        raise ScoringError(f"labels must be a non-empty [records, classes] array, got shape {labels.shape}")
    if other.shape != labels.shape:
        raise ScoringError(f"{what} have shape {other.shape}, labels {labels.shape}")


def score(
    labels: np.ndarray, binary: np.ndarray, scores: np.ndarray, tables: ChallengeTables
) -> dict[str, Any]:
    """Every Challenge metric of one set of outputs.

    Parameters
    ----------
    labels, binary : numpy.ndarray
        Boolean ``[n, C]`` in ``tables.classes`` order.
    scores : numpy.ndarray
        ``[n, C]`` scores; NaN counts as 0 (as the loaders of the official scripts do).
    tables : ChallengeTables
        Classes and weights of the year.

    Returns
    -------
    dict
        ``version``, ``n_records``, ``accuracy``, ``f_measure``, ``f_beta`` and ``g_beta`` (2020 only),
        ``auroc``, ``auprc``, ``challenge_metric``, ``classes`` and ``per_class`` (class name →
        abbreviation, n_positive, n_predicted, auroc, auprc, f_measure). Undefined values are NaN.
    """
    labels = np.asarray(labels, bool)
    binary = np.asarray(binary, bool)
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0, posinf=np.inf, neginf=-np.inf)
    _check_pair(labels, binary, "binary outputs")
    _check_pair(labels, scores, "scores")
    if labels.shape[1] != len(tables.classes):
        raise ScoringError(
            f"{labels.shape[1]} columns, the {tables.version} tables score {len(tables.classes)}"
        )
    macro_auroc, macro_auprc, auroc, auprc = auc_scores(labels, scores)
    macro_f, per_f = f_measure(labels, binary)
    result: dict[str, Any] = {
        "version": tables.version,
        "n_records": int(labels.shape[0]),
        "accuracy": accuracy(labels, binary),
        "f_measure": macro_f,
    }
    if tables.version == "2020":
        result["f_beta"], result["g_beta"] = beta_measures(labels, binary, beta=2.0)
    result |= {
        "auroc": macro_auroc,
        "auprc": macro_auprc,
        "challenge_metric": challenge_metric(
            labels, binary, tables.weights, tables.classes, tables.classes[tables.normal_index]
        ),
        "classes": list(tables.classes),
        "per_class": {
            name: {
                "abbreviation": tables.abbreviations[k] if tables.abbreviations else "",
                "n_positive": int(labels[:, k].sum()),
                "n_predicted": int(binary[:, k].sum()),
                "auroc": float(auroc[k]),
                "auprc": float(auprc[k]),
                "f_measure": float(per_f[k]),
            }
            for k, name in enumerate(tables.classes)
        },
    }
    return result


def score_directories(
    label_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    version: str,
    *,
    strict: bool = True,
) -> dict[str, Any]:
    """Score a folder of output files against a folder of headers, as the official scripts do.

    Parameters
    ----------
    label_dir : path
        Headers with ``#Dx:`` lines.
    output_dir : path
        One ``<record>.csv`` per header.
    version : str
        ``"2020"`` or ``"2021"`` (or ``"cinc2020"``, ``"cinc2021"``).
    strict : bool
        See :func:`load_output_dir`.

    Returns
    -------
    dict
        :func:`score`'s result plus ``label_dir``, ``output_dir``, ``n_missing_outputs``,
        ``missing_outputs``, ``n_malformed_outputs`` and ``malformed_outputs``.
    """
    tables = load_tables(version)
    record_ids, labels = load_label_dir(label_dir, tables)
    outputs = load_output_dir(output_dir, record_ids, tables, strict=strict)
    result = score(labels, outputs.binary, outputs.scores, tables)
    result |= {
        "label_dir": str(label_dir),
        "output_dir": str(output_dir),
        "n_missing_outputs": len(outputs.missing),
        "missing_outputs": list(outputs.missing),
        "n_malformed_outputs": len(outputs.malformed),
        "malformed_outputs": list(outputs.malformed),
    }
    return result


def result_to_json(result: Mapping[str, Any]) -> str:
    """A score result as JSON text; NaN and infinities become ``null``."""

    def clean(value: Any) -> Any:
        if isinstance(value, float | np.floating):
            return float(value) if math.isfinite(value) else None
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(result), indent=2, allow_nan=False) + "\n"
