"""Beat-classifier evaluation on MIT-BIH, two ways.

* **Reference beats**: classify the windows at the annotated R peaks (what papers report).
* **End to end**: ecglab's own detector finds the beats, which are matched to the reference beats
  with EC57's ±150 ms rule. A missed reference beat and a spurious detection both count as errors
  (an extra class ``none`` in the confusion matrix). Detections that match a reference beat
  outside the AAMI classes (``?``, ``B`` ...) and beats in ventricular flutter are not scored.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ecglab.io.atomic import atomic_write
from ecglab.metrics.classification import classification_report

CLASSES = ("N", "S", "V", "F", "Q")
NONE = len(CLASSES)  # label of "no beat" (missed reference beat / spurious detection)


def score_beat_predictions(
    annotations: Any,
    fs: float,
    pred_samples: np.ndarray,
    pred_labels: Sequence[str],
    tolerance_s: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """End-to-end label pairs of one record: ``(y_true, y_pred)`` with ``NONE`` for misses/extras.

    Parameters
    ----------
    annotations
        The record's reference :class:`~ecglab.io.recording.Annotations`.
    pred_samples, pred_labels
        Predicted beats (sample at ``fs``) and their AAMI class letters.
    """
    from ecglab.datasets.mitdb import AAMI_MAP, BEAT_SYMBOLS
    from ecglab.metrics.beats import excluded_intervals, match_beats

    symbols = np.asarray(annotations.symbol)
    samples = annotations.sample
    is_beat = np.isin(symbols, list(BEAT_SYMBOLS))
    flutter = excluded_intervals(annotations)
    in_flutter = np.zeros(samples.size, bool)
    for lo, hi in flutter:
        in_flutter |= (samples >= lo) & (samples <= hi)
    ref = np.flatnonzero(is_beat & ~in_flutter)
    ref_samples, ref_symbols = samples[ref], symbols[ref]
    pred_samples = np.asarray(pred_samples, dtype=np.int64)
    pred = np.array([CLASSES.index(c) for c in pred_labels], dtype=np.int64)
    keep_pred = np.ones(pred_samples.size, bool)
    for lo, hi in flutter:
        keep_pred &= ~((pred_samples >= lo) & (pred_samples <= hi))
    ri, ti = match_beats(ref_samples, pred_samples, fs, tolerance_s)
    ref_label = np.array([CLASSES.index(AAMI_MAP[s]) if s in AAMI_MAP else -1 for s in ref_symbols], np.int64)
    y_true, y_pred = [], []
    scored = ref_label[ri] >= 0  # matches to '?'/'B'... reference beats are neither right nor wrong
    y_true += ref_label[ri][scored].tolist()
    y_pred += pred[ti][scored].tolist()
    missed = np.setdiff1d(np.arange(ref_samples.size), ri)
    missed = missed[ref_label[missed] >= 0]
    y_true += ref_label[missed].tolist()
    y_pred += [NONE] * missed.size
    extra = np.setdiff1d(np.flatnonzero(keep_pred), ti)
    y_true += [NONE] * extra.size
    y_pred += pred[extra].tolist()
    return np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)


def _record_row(record: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    rep = classification_report(y_true, y_pred, CLASSES, extra_label="none")
    row: dict[str, Any] = {"record": record, "n": rep["n"], "accuracy": rep["accuracy"]}
    for c in ("N", "S", "V"):
        pc = rep["per_class"][c]
        row |= {f"n_{c}": pc["n"], f"se_{c}": pc["sensitivity"], f"ppv_{c}": pc["ppv"]}
    row["missed"] = int(np.sum(y_pred == NONE))
    row["extra"] = int(np.sum(y_true == NONE))
    return row


def evaluate_beat_model(
    classifier: Any,
    records: Sequence[str],
    out_dir: str | Path,
    *,
    data_root: str | None = None,
    split_name: str = "ds2",
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a :class:`~ecglab.predict.BeatClassifier` on MIT-BIH records; write reports.

    Writes ``metrics.json`` (``reference_beats`` and ``end_to_end`` sections), ``per_record.csv``
    and the confusion matrices ``confusion_reference.png`` / ``confusion_end_to_end.png``.
    """
    from ecglab.datasets.mitdb import AAMI_MAP, dataset_root
    from ecglab.io.wfdb_io import read_wfdb
    from ecglab.viz import plot_confusion

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = dataset_root(data_root)
    ref_true, ref_pred, e2e_true, e2e_pred, rows = [], [], [], [], []
    for record in tqdm(list(records), desc=f"evaluate {split_name}", unit="record", disable=not progress):
        rec = read_wfdb(root / record)
        ann = rec.annotations
        # Reference beats: classify at every annotated beat (RR from all beats), score AAMI ones.
        from ecglab.metrics.beats import reference_beats

        beats = reference_beats(ann, exclude_flutter=False)
        at_ref = classifier.predict(rec, peaks=beats)
        sym = dict(zip(ann.sample.tolist(), ann.symbol, strict=False))
        labels = np.array([CLASSES.index(AAMI_MAP[sym[s]]) if sym.get(s) in AAMI_MAP else -1
                           for s in at_ref.sample.tolist()], np.int64)  # fmt: skip
        ok = labels >= 0
        ref_true.append(labels[ok])
        ref_pred.append(at_ref.probs.argmax(1)[ok])
        # End to end: ecglab's detector.
        found = classifier.predict(rec)
        yt, yp = score_beat_predictions(ann, rec.fs, found.sample, found.labels)
        e2e_true.append(yt)
        e2e_pred.append(yp)
        rows.append(_record_row(record, yt, yp))
    reference = classification_report(np.concatenate(ref_true), np.concatenate(ref_pred), CLASSES)
    end_to_end = classification_report(np.concatenate(e2e_true), np.concatenate(e2e_pred), CLASSES,
                                        extra_label="none")  # fmt: skip
    plot_confusion(reference["confusion"], reference["labels"], out / "confusion_reference.png",
                   title=f"MIT-BIH {split_name}: reference beats")  # fmt: skip
    plot_confusion(end_to_end["confusion"], end_to_end["labels"], out / "confusion_end_to_end.png",
                   title=f"MIT-BIH {split_name}: ecglab detector (none = missed / extra)")  # fmt: skip
    result = {"dataset": "mitdb", "split": split_name, "records": list(records),
              "reference_beats": reference, "end_to_end": end_to_end}  # fmt: skip
    with atomic_write(out / "metrics.json", "w") as f:
        json.dump(result, f, indent=2)
    with atomic_write(out / "per_record.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return result
