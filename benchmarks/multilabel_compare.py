"""Compare 12-lead classifiers on the same folds: SE-ResNet, ResNet1d, pre-trained + fine-tuned ResNet1d.

Every variant trains with ``ecglab train`` on the pooled shared CinC + PTB-XL records with the same
patient-grouped stratified folds (``cv.seed``): fold ``val_fold`` validates (early stopping, per-class
thresholds), the next fold is the test set. The pre-trained variant first runs ``ecglab pretrain``
(configs/pretrain-ecg.yaml, same folds: validation and test records left out), then fine-tunes
configs/cinc-resnet1d.yaml from it. Test-fold figures: the CinC 2021 challenge metric, macro AUROC,
macro AUPRC, macro F1, and the seconds each run took.

Usage::

    python benchmarks/multilabel_compare.py [--folds 0 1 2 3 4] [--epochs N] [--data DIR]

Prints a table (mean ± sd over folds) and writes ``benchmarks/results/multilabel_compare.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "multilabel_compare.json"
ECGLAB = [sys.executable, "-m", "ecglab.cli.main"]

VARIANTS = {
    "se_resnet1d": ("configs/cinc-seresnet.yaml", False),
    "resnet1d": ("configs/cinc-resnet1d.yaml", False),
    "resnet1d + pretrain": ("configs/cinc-resnet1d.yaml", True),
}


def _run(command: list[str], env: dict[str, str]) -> None:
    print("$", " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True, env=env, cwd=REPO)


def _summary(run_dir: Path, pretrain_dir: Path | None = None) -> dict[str, float | None]:
    """Test-fold figures of a finished run; seconds are the runs' own wall times (pre-training included)."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    seconds = float(metrics.get("wall_time_s") or 0.0)
    if pretrain_dir is not None:
        seconds += float(json.loads((pretrain_dir / "metrics.json").read_text()).get("wall_time_s") or 0.0)
    test = metrics["evaluation"]["test"]
    challenge = (test.get("challenge") or {}).get("challenge_metric")
    return {
        "challenge": challenge,
        "macro_auroc": test["macro_auroc"],
        "macro_auprc": test["macro_auprc"],
        "macro_f1": test["macro_f1"],
        "epochs": metrics.get("epochs_run"),
        "train_time_s": metrics.get("train_time_s"),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="override training.epochs")
    parser.add_argument("--data", default=None)
    parser.add_argument("--runs", default=str(REPO / "runs" / "compare"))
    parser.add_argument("--json", default=str(DEFAULT_JSON))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = parser.parse_args()
    env = dict(os.environ)
    if args.data:
        env["ECGLAB_DATA"] = args.data
    extra = [f"training.epochs={args.epochs}"] if args.epochs else []
    runs = Path(args.runs)
    results: dict[str, list[dict]] = {name: [] for name in args.variants}
    for fold in args.folds:
        folds = [f"cv.val_fold={fold}"]
        for name in args.variants:
            config, pretrained = VARIANTS[name]
            overrides = list(folds) + extra
            pre_dir = None
            if pretrained:
                pre_dir = runs / f"pretrain-fold{fold}"
                if not (pre_dir / "model.safetensors").is_file():
                    _run([*ECGLAB, "pretrain", "--config", "configs/pretrain-ecg.yaml", "--run-dir",
                          str(pre_dir), *folds, *extra], env)  # fmt: skip
                overrides.append(f"model.pretrained={pre_dir}")
            run_dir = runs / f"{name.replace(' + ', '-')}-fold{fold}"
            if not (run_dir / "metrics.json").is_file():
                _run([*ECGLAB, "train", "--config", config, "--run-dir", str(run_dir), *overrides], env)
            results[name].append({"fold": fold, "run_dir": str(run_dir), **_summary(run_dir, pre_dir)})

    table = Table(title=f"12-lead classification, test fold after val fold(s) {args.folds} (shared data)")
    for col in ("model", "challenge 2021", "macro AUROC", "macro AUPRC", "macro F1", "s/run"):
        table.add_column(col)

    def show(rows: list[dict], key: str) -> str:
        values = [r[key] for r in rows if r[key] is not None]
        if not values:
            return "-"
        return f"{np.mean(values):.3f}" + (f" ± {np.std(values):.3f}" if len(values) > 1 else "")

    for name, rows in results.items():
        table.add_row(name, *(show(rows, k) for k in ("challenge", "macro_auroc", "macro_auprc", "macro_f1")),
                      f"{np.mean([r['seconds'] for r in rows]):.0f}")  # fmt: skip
    Console().print(table)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"folds": args.folds, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
