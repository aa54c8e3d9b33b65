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
