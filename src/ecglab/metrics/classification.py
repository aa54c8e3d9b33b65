"""Multi-class classification metrics as beat-classification papers report them.

scikit-learn computes the confusion matrix; this module derives the per-class sensitivity
(recall), positive predictivity (precision), specificity and F1 from it, because EC57-style reports
need specificity, which scikit-learn has no function for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], *, extra_label: str | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class Se/PPV/F1/Sp and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred
        Integer labels; ``len(classes)`` may appear as an extra label (``extra_label``, e.g. "none"
        for a missed or a spurious beat in end-to-end evaluation): it counts as an error in every
        metric but gets no per-class entry of its own.
    classes
        Class names in label order.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1`` (over classes present in ``y_true``), ``per_class`` (``n``,
        ``sensitivity``, ``ppv``, ``f1``, ``specificity``; None where undefined), ``confusion``
        (rows true, columns predicted, with the extra label last when given) and ``labels``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    labels = list(classes) + ([extra_label] if extra_label else [])
    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(labels))))
    n = int(cm.sum())
    per_class: dict[str, dict[str, Any]] = {}
    f1s = []
    for k, name in enumerate(classes):
        tp = cm[k, k]
        fn = cm[k, :].sum() - tp
        fp = cm[:, k].sum() - tp
        tn = n - tp - fn - fp
        se, ppv = _ratio(tp, tp + fn), _ratio(tp, tp + fp)
        f1 = _ratio(2 * tp, 2 * tp + fn + fp)
        per_class[name] = {
            "n": int(tp + fn),
            "sensitivity": se,
            "ppv": ppv,
            "f1": f1,
            "specificity": _ratio(tn, tn + fp),
        }
        if tp + fn > 0:
            f1s.append(f1 or 0.0)
    return {
        "n": n,
        "accuracy": _ratio(np.trace(cm[: len(classes), : len(classes)]), n),
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "per_class": per_class,
        "labels": labels,
        "confusion": cm.tolist(),
    }


def multilabel_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    scores: np.ndarray,
    classes: Sequence[str],
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Per-class and macro metrics of multi-label predictions (12-lead classification).

    Parameters
    ----------
    y_true, y_pred
        ``[records, classes]`` 0/1 labels and thresholded predictions.
    scores
        ``[records, classes]`` probabilities (for AUROC and AUPRC, computed by scikit-learn).
    classes
        Class codes, one per column.
    names
        Display names (default: the codes).

    Returns
    -------
    dict
        ``exact_match`` (all classes of a record right), ``macro_f1``, ``macro_auroc``,
        ``macro_auprc`` (means over classes with at least one positive and one negative; ``None``
        where no class qualifies), ``n_records`` and ``per_class`` rows (code, name, support, tp, fp,
        fn, sensitivity, ppv, f1, auroc, auprc).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y_true).astype(bool)
    pred = np.asarray(y_pred).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    names = list(names) if names is not None else list(classes)
    rows = []
    for c, code in enumerate(classes):
        tp = int((y[:, c] & pred[:, c]).sum())
        fp = int((~y[:, c] & pred[:, c]).sum())
        fn = int((y[:, c] & ~pred[:, c]).sum())
        support = int(y[:, c].sum())
        ranked = 0 < support < len(y)
        rows.append({
            "code": str(code), "name": str(names[c]), "support": support, "tp": tp, "fp": fp, "fn": fn,
            "sensitivity": _ratio(tp, tp + fn), "ppv": _ratio(tp, tp + fp),
            "f1": float(2 * tp / (2 * tp + fp + fn)) if (2 * tp + fp + fn) else 0.0,
            "auroc": float(roc_auc_score(y[:, c], scores[:, c])) if ranked else None,
            "auprc": float(average_precision_score(y[:, c], scores[:, c])) if ranked else None,
        })  # fmt: skip

    def mean(key: str, rows_: list[dict[str, Any]]) -> float | None:
        values = [r[key] for r in rows_ if r[key] is not None]
        return float(np.mean(values)) if values else None

    present = [r for r in rows if r["support"] > 0]
    return {
        "n_records": len(y),
        "exact_match": float((y == pred).all(1).mean()) if len(y) else None,
        "macro_f1": mean("f1", present),
        "macro_auroc": mean("auroc", rows),
        "macro_auprc": mean("auprc", rows),
        "per_class": rows,
    }
