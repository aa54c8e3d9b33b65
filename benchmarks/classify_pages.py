"""The 12-lead classifier on what a printed page keeps: each lead's 2.5 s, and decision thresholds for it.

A 3x4+1 page shows each lead for one quarter of the 10 s (plus lead II in full), so a digitized page
gives the classifier a record that is zero outside those stretches (``recording_for_classifier``).
Its probabilities shift on such input, and with the thresholds tuned on full records it calls many
classes that are not there (the demo's page: 11 labels against 4 for the same record in full).

This benchmark masks the records of ``cinc-12lead``'s own folds exactly as a 3x4+1 page does (the
first 10 s; zero where the page plots nothing), tunes a second set of thresholds on the masked
**validation** fold with the same objective as the shipped ones (the challenge metric), and scores
the masked **test** fold with both sets, next to the full records. ``--write`` stores the page
thresholds beside the model (``thresholds_page.json``), which ``ecglab digitize --classify`` and the
demo use for 3x4 pages.

Usage::

    python benchmarks/classify_pages.py [--data DIR] [--write]

Prints a table and writes ``benchmarks/results/classify_pages.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ecglab.io.recording import Recording

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "classify_pages.json"
MODEL = "cinc-12lead"
LAYOUT = "3x4+1"
PAGE_S = 10.0


def page_mask(n: int, fs: float, leads: tuple[str, ...]) -> np.ndarray:
    """``[leads, n]`` bool: the samples a 3x4+1 page of ``PAGE_S`` seconds plots of each lead."""
    from ecglab.synth.layouts import layout_spec

    mask = np.zeros((len(leads), n), bool)
    for panel in layout_spec(LAYOUT, PAGE_S).panels:
        if panel.lead in leads:
            mask[leads.index(panel.lead), round(panel.start_s * fs) : round(panel.stop_s * fs)] = True
    return mask


def as_page(recording: Recording) -> Recording:
    """The record as a digitized 3x4+1 page gives it to the classifier: first 10 s, 0 mV elsewhere."""
    n = min(recording.n_samples, round(PAGE_S * recording.fs))
    signal = recording.signal[:, :n]
    return recording.replace(signal=np.where(page_mask(n, recording.fs, recording.leads), signal, 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("ECGLAB_DATA", REPO.parent / "shared" / "data"))
    )
    parser.add_argument("--write", action="store_true", help="store thresholds_page.json beside the model")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    from tqdm import tqdm

    from ecglab.config import load_config
    from ecglab.io import read_record
    from ecglab.predict import MultilabelClassifier
    from ecglab.predict.multilabel import PAGE_THRESHOLDS_FILE
    from ecglab.pretrained import resolve_model_dir
    from ecglab.training.multilabel import (
        build_table,
        challenge_metric_fn,
        split_indices,
        tune_thresholds,
        write_thresholds,
    )

    folder = resolve_model_dir(MODEL)
    cfg = load_config(folder / "config.yaml", [f"data.root={args.data}"])
    table = build_table(cfg)
    splits = split_indices(cfg, table)
    classifier = MultilabelClassifier.from_pretrained(MODEL)
    classes = classifier.classes
    column = {c: i for i, c in enumerate(table.classes)}
    metric = challenge_metric_fn(cfg, classes)

    def probabilities(rows: np.ndarray, page: bool) -> np.ndarray:
        out = []
        for i in tqdm(rows, desc=f"{'page' if page else 'full'} records", leave=False):
            rec = read_record(table.rows["path"].iloc[i])
            out.append(classifier.predict(as_page(rec) if page else rec).probabilities)
        return np.asarray(out)

    def labels(rows: np.ndarray) -> np.ndarray:
        return np.stack([table.y[rows][:, column[c]] for c in classes], axis=1).astype(bool)

    val, test = splits["val"], splits["test"]
    tuned = tune_thresholds(labels(val), probabilities(val, True), objective="challenge", metric=metric)
    y = labels(test)
    full, page = probabilities(test, False), probabilities(test, True)
    shipped = classifier.thresholds
    results = []
    for name, probs, thresholds in (
        ("full records, shipped thresholds", full, shipped),
        ("3x4+1 page, shipped thresholds", page, shipped),
        ("3x4+1 page, page thresholds", page, tuned),
    ):
        binary = probs >= thresholds
        reference = full >= shipped  # what the full record is called
        agree = 2 * (binary & reference).sum() / max(binary.sum() + reference.sum(), 1)
        results.append({
            "input": name, "challenge": metric(y, binary), "labels_per_record": float(binary.sum(1).mean()),
            "f1_vs_full_record_labels": float(agree),
        })  # fmt: skip
    table_out = Table(
        title=f"{MODEL} on the test fold ({len(test)} records), thresholds tuned on fold {cfg.cv.val_fold}"
    )
    for col in ("input", "challenge metric", "labels / record", "F1 vs full-record labels"):
        table_out.add_column(col)
    for r in results:
        table_out.add_row(
            r["input"],
            f"{r['challenge']:.3f}",
            f"{r['labels_per_record']:.2f}",
            f"{r['f1_vs_full_record_labels']:.2f}",
        )
    Console().print(table_out)
    payload = {
        "benchmark": "classify_pages", "model": MODEL, "layout": LAYOUT, "test_records": len(test),
        "val_records": len(val), "page_thresholds": [float(t) for t in tuned], "results": results,
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.json}")
    if args.write:
        info = {
            "names": classifier.names,
            "tuned_on": f"fold {cfg.cv.val_fold} masked as a {LAYOUT} page (benchmarks/classify_pages.py)",
        }
        write_thresholds(folder / PAGE_THRESHOLDS_FILE, classes, tuned, info)
        print(f"wrote {folder / PAGE_THRESHOLDS_FILE}")


if __name__ == "__main__":
    main()
