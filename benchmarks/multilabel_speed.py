"""Speed of the 12-lead classifiers: records/s on 12 x 5000 inputs, and seconds per training epoch.

1. **Inference**: a 10-s 12-lead record at 500 Hz (12 x 5000) through the whole predictor
   (preprocess: filters, resampling to the model rate, z-score; windows; model; mean), and the
   model alone on the prepared windows, for torch fp32, torch bf16 autocast and onnxruntime.
2. **Training**: seconds per epoch of each config on the shared pool (median over the epochs of a
   short run, from its ``history.csv``), or of existing runs given with ``--runs``.

Usage::

    python benchmarks/multilabel_speed.py [--model cinc-12lead] [--records 64] [--threads 2]
                                          [--train-epochs 3] [--runs runs/compare/*]

Prints a table and writes ``benchmarks/results/multilabel_speed.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "multilabel_speed.json"
CONFIGS = ("configs/cinc-resnet1d.yaml", "configs/cinc-seresnet.yaml", "configs/ptbxl-superdiag.yaml")


def _records(n: int) -> list:
    from ecglab.io.recording import Recording
    from ecglab.signal.simulate import simulate_12lead

    base = simulate_12lead(duration=10.0, fs=500.0, seed=0)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):  # the same beats with fresh noise: realistic amplitudes, cheap to make
        noise = 0.02 * rng.standard_normal(base.signal.shape).astype(np.float32)
        out.append(Recording(signal=base.signal + noise, fs=500.0, leads=base.leads, record_id=f"r{i}"))
    return out


def _rate(fn, items) -> float:
    fn(items[0])  # warm-up
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def inference(model: str, n: int) -> list[dict]:
    from ecglab.predict import MultilabelClassifier
    from ecglab.training.multilabel import predict_windows

    clf = MultilabelClassifier.from_pretrained(model)
    records = _records(n)
    windows = [clf.prepare(r)[0] for r in records]
    rows = []
    fp32 = _rate(lambda w: predict_windows(clf.model, w), windows)

    def bf16(w):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return predict_windows(clf.model, w)

    rows.append({"backend": "torch fp32", "model_records_per_s": fp32,
                 "pipeline_records_per_s": _rate(clf.predict, records)})  # fmt: skip
    rows.append({"backend": "torch bf16 autocast", "model_records_per_s": _rate(bf16, windows),
                 "pipeline_records_per_s": None})  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "m.onnx"
        subprocess.run([sys.executable, "-m", "ecglab.cli.main", "export", "--model", str(model), "--out",
                        str(onnx_path)], check=True, capture_output=True)  # fmt: skip
        onnx = MultilabelClassifier.from_pretrained(model, backend="onnx", onnx_path=onnx_path)
        model_rate = _rate(lambda w: onnx.proba(w, None), windows)
        rows.append({"backend": "onnxruntime", "model_records_per_s": model_rate,
                     "pipeline_records_per_s": _rate(onnx.predict, records)})  # fmt: skip
    for row in rows:
        row["input"] = "12 x 5000 (10 s at 500 Hz)"
        row["model_input"] = f"{windows[0].shape[0]} x {windows[0].shape[1]} x {windows[0].shape[2]}"
    return rows


def epoch_seconds(run_dir: Path) -> dict:
    with open(run_dir / "history.csv") as handle:
        times = [float(r["epoch_time_s"]) for r in csv.DictReader(handle) if r.get("epoch_time_s")]
    config = (run_dir / "config.yaml").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in config.splitlines() if line.startswith("  name:")), "?"
    )
    return {"run": run_dir.name, "model": model, "epochs": len(times),
            "median_epoch_s": float(np.median(times[1:] or times)) if times else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cinc-12lead")
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--runs", nargs="*", default=None, help="existing run dirs to read epoch times from")
    parser.add_argument("--json", default=str(DEFAULT_JSON))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    rows = inference(args.model, args.records)
    table = Table(title=f"{args.model}: 12-lead records/s on {args.threads} CPU threads")
    for col in ("backend", "model only (records/s)", "read-free pipeline (records/s)"):
        table.add_column(col)
    for r in rows:
        pipe = r["pipeline_records_per_s"]
        table.add_row(r["backend"], f"{r['model_records_per_s']:.1f}", "-" if pipe is None else f"{pipe:.1f}")
    console.print(table)

    runs = [Path(p) for p in args.runs] if args.runs is not None else []
    if args.runs is None:
        tmp = Path(tempfile.mkdtemp(prefix="ecglab-epochs-"))
        for config in CONFIGS:
            run_dir = tmp / Path(config).stem
            subprocess.run([sys.executable, "-m", "ecglab.cli.main", "train", "--config", config, "--run-dir",
                            str(run_dir), f"training.epochs={args.train_epochs}",
                            "training.early_stopping_patience=null"],
                           check=True, capture_output=True, env=dict(os.environ))  # fmt: skip
            runs.append(run_dir)
    epochs = [epoch_seconds(r) for r in runs if (r / "history.csv").is_file()]
    table = Table(title="seconds per training epoch (shared pool, 2 CPU cores)")
    for col in ("run", "model", "epochs", "median s/epoch"):
        table.add_column(col)
    for e in epochs:
        table.add_row(e["run"], e["model"], str(e["epochs"]), f"{e['median_epoch_s']:.1f}")
    console.print(table)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": args.model, "threads": args.threads, "inference": rows,
                               "training": epochs, "cpu_count": os.cpu_count()}, indent=2))  # fmt: skip
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
