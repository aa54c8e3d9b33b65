"""Benchmark the beat classifier: DS2 quality, whole-record latency, and beats per second.

1. **Quality**: ``ecglab.evaluate.evaluate_beat_model`` on the 22 DS2 records (inter-patient,
   never seen in training): at the reference beats and end to end with ecglab's detector.
2. **Latency**: read + detect + classify one 30-minute MIT-BIH record (median of 3 runs on each of
   3 records), torch and onnxruntime. Target: <= 1 s on 2 cores.
3. **Throughput**: beats/s of the classifier alone on 8,192 prepared DS2 beats, batch 1024,
   torch and onnxruntime. Target: >= 20,000 beats/s on 2 cores.

Usage::

    python benchmarks/beats.py [--model mitdb-beats] [--data DIR] [--threads 2] [--skip-quality]

Prints a short table and writes ``benchmarks/results/beats.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "beats.json"


def _data_root(explicit: str | None) -> str:
    return explicit or os.environ.get("ECGLAB_DATA") or str(REPO.parent / "shared" / "data")


def _latency(classifier, root: Path, records: list[str]) -> float:
    from ecglab.io.wfdb_io import read_wfdb

    times = []
    for record in records:
        for _ in range(3):
            t0 = time.perf_counter()
            rec = read_wfdb(root / record, annotations=None)
            classifier.predict(rec)
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _throughput(classifier, windows: np.ndarray, rr: np.ndarray) -> float:
    classifier.proba(windows[:1024], rr[:1024])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(windows), 1024):
        classifier.proba(windows[i : i + 1024], rr[i : i + 1024])
    return len(windows) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mitdb-beats")
    parser.add_argument("--data", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--json", default=str(DEFAULT_JSON))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from ecglab.cli.export import _parity_beats
    from ecglab.datasets.mitdb import dataset_root, split_records
    from ecglab.evaluate import evaluate_beat_model
    from ecglab.export import export_onnx
    from ecglab.predict import BeatClassifier

    root_arg = _data_root(args.data)
    root = dataset_root(root_arg)
    torch_clf = BeatClassifier.from_pretrained(args.model)
    result: dict = {
        "benchmark": "beats",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": args.model,
        "threads": args.threads,
        "data": str(root),
    }
    with tempfile.TemporaryDirectory() as tmp:
        windows, rr, _ = _parity_beats(torch_clf.cfg, Path(root_arg))
        onnx_path = export_onnx(
            torch_clf.model,
            {"window": torch.from_numpy(windows[:2]), "rr": torch.from_numpy(rr[:2])},
            Path(tmp) / "m.onnx",
        )
        onnx_clf = BeatClassifier(None, torch_clf.cfg, backend="onnx", onnx_path=onnx_path)
        reps = int(np.ceil(8192 / len(windows)))
        w8, r8 = np.concatenate([windows] * reps)[:8192], np.concatenate([rr] * reps)[:8192]
        records = ["100", "208", "232"]
        result["latency_s"] = {
            "torch": _latency(torch_clf, root, records),
            "onnx": _latency(onnx_clf, root, records),
        }
        result["beats_per_s"] = {
            "torch": _throughput(torch_clf, w8, r8),
            "onnx": _throughput(onnx_clf, w8, r8),
        }
        if not args.skip_quality:
            quality = evaluate_beat_model(
                torch_clf,
                list(split_records("ds2")),
                Path(tmp) / "eval",
                data_root=root_arg,
                split_name="ds2",
            )
            result["ds2"] = {k: quality[k] for k in ("reference_beats", "end_to_end")}
    console = Console()
    table = Table(title=f"beat classifier {args.model} ({args.threads} threads)")
    for col in ("measure", "value", "target"):
        table.add_column(col)
    for backend in ("torch", "onnx"):
        table.add_row(
            f"30-min record, read+detect+classify ({backend})",
            f"{result['latency_s'][backend]:.2f} s",
            "<= 1 s",
        )
        table.add_row(
            f"classifier throughput ({backend})",
            f"{result['beats_per_s'][backend]:,.0f} beats/s",
            ">= 20,000",
        )
    for name, key in (("reference beats", "reference_beats"), ("ecglab detector", "end_to_end")):
        if "ds2" not in result:
            continue
        rep = result["ds2"][key]
        pc = rep["per_class"]
        table.add_row(f"DS2 {name}: accuracy", f"{rep['accuracy']:.3f}", ">= 0.95")
        table.add_row(
            f"DS2 {name}: F1 S / F1 V", f"{pc['S']['f1']:.3f} / {pc['V']['f1']:.3f}", ">= 0.70 / 0.90"
        )
    console.print(table)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
