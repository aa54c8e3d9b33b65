"""Splits of a 12-lead record pool: patient-grouped multilabel folds, hold-out databases, PTB-XL folds.

Records of one patient must not be on both sides of a split (a model would recognise the patient,
not the disease). :func:`patient_stratified_folds` therefore stratifies *patients*: each patient's
label vector is the union of its records' labels, iterative stratification (Sechidis et al. 2011,
``iterstrat.ml_stratifiers.MultilabelStratifiedKFold``) spreads the patients over folds so that
every class is represented in proportion, and each record inherits its patient's fold.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ecglab.errors import ConfigError, RecordError

__all__ = ["database_split", "fold_split", "patient_stratified_folds", "ptbxl_fold_split"]


def patient_stratified_folds(
    y: np.ndarray, groups: Sequence[object] | np.ndarray, n_folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Fold index (0 .. n_folds-1) of every record, patient-disjoint and multilabel-stratified.

    Parameters
    ----------
    y
        ``[n_records, n_classes]`` 0/1 label matrix.
    groups
        Patient id of every record.
    n_folds
        Number of folds (>= 2).
    seed
        Seed of the shuffling: the same inputs and seed give the same folds.

    Returns
    -------
    np.ndarray
        int64 ``[n_records]`` fold indices; all records of a patient share one fold.

    Raises
    ------
    ConfigError
        If there are fewer patients than folds, or ``n_folds < 2``.
    RecordError
        If ``y`` and ``groups`` disagree in length or ``y`` is not 2-D.
    """
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    y = np.asarray(y)
    groups = np.asarray(groups, dtype=object)
    if y.ndim != 2:
        raise RecordError(f"label matrix must be 2-D [records, classes], got shape {y.shape}")
    if len(groups) != len(y):
        raise RecordError(f"{len(groups)} patient ids for {len(y)} records")
    if n_folds < 2:
        raise ConfigError(f"n_folds must be >= 2, got {n_folds}")
    # Union of labels per patient; patients in order of first appearance (deterministic).
    codes, patients = pd.factorize(pd.Series(groups, dtype=object), sort=False)
    if (codes < 0).any():
        raise RecordError(f"record {int(np.flatnonzero(codes < 0)[0])} has no patient id (None/NaN)")
    if len(patients) < n_folds:
        raise ConfigError(
            f"{len(patients)} patient(s) cannot fill {n_folds} patient-disjoint folds; use fewer folds"
        )
    y_patient = np.zeros((len(patients), y.shape[1]), dtype=np.int64)
    np.maximum.at(y_patient, codes, (y > 0).astype(np.int64))
    splitter = MultilabelStratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    patient_fold = np.full(len(patients), -1, dtype=np.int64)
    for fold, (_, test) in enumerate(splitter.split(np.zeros((len(patients), 1)), y_patient)):
        patient_fold[test] = fold
    return patient_fold[codes]


def fold_split(folds: np.ndarray | Sequence[int], val_fold: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``: the rows of fold ``val_fold`` against all the others."""
    folds = np.asarray(folds)
    if not np.any(folds == val_fold):
        raise ConfigError(
            f"validation fold {val_fold} holds no record (folds: {sorted(set(folds.tolist()))})"
        )
    return np.flatnonzero(folds != val_fold), np.flatnonzero(folds == val_fold)


def database_split(
    sources: Sequence[str] | np.ndarray, test_sources: Iterable[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, test_idx)`` holding out whole source databases (e.g. train on all but Georgia).

    Raises
    ------
    ConfigError
        If a test source does not occur, or nothing would be left to train on.
    """
    sources = np.asarray(sources, dtype=object)
    test = list(dict.fromkeys(test_sources))
    present = set(sources.tolist())
    absent = [s for s in test if s not in present]
    if not test or absent:
        raise ConfigError(
            f"test source(s) {', '.join(absent) or '(none given)'} not in the pool "
            f"(sources: {', '.join(sorted(map(str, present)))})"
        )
    is_test = np.isin(sources, test)
    if is_test.all():
        raise ConfigError(f"holding out {', '.join(test)} leaves no record to train on")
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def ptbxl_fold_split(
    strat_fold: np.ndarray | Sequence[int], *, val_fold: int = 9, test_fold: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train_idx, val_idx, test_idx)`` from PTB-XL's own ``strat_fold`` (1-10).

    Folds 9 and 10 are the conventional validation and test folds (their labels were validated by
    a cardiologist; Wagner et al. 2020). Note that the shared ecglab sample of PTB-XL holds fold 10
    for one record only (ecg_id 9, also challenge record HR00009): its test set is then tiny, and a
    :class:`UserWarning` says so when a fold is empty or has fewer than 10 records.
    """
    folds = np.asarray(strat_fold, dtype=np.int64)
    if val_fold == test_fold:
        raise ConfigError(f"validation and test fold must differ, both are {val_fold}")
    val, test = np.flatnonzero(folds == val_fold), np.flatnonzero(folds == test_fold)
    for name, fold, idx in (("validation", val_fold, val), ("test", test_fold, test)):
        if idx.size < 10:
            warnings.warn(
                f"PTB-XL {name} fold {fold} holds only {idx.size} record(s)", UserWarning, stacklevel=2
            )
    train = np.flatnonzero((folds != val_fold) & (folds != test_fold))
    return train, val, test
