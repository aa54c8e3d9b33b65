"""Choose the bar-hold margin of ``ecglab.digitize.separators`` on validation renders, never on test images.

The validation-fold records of ``configs/digitize-series.yaml`` (patient-grouped, ``cv.val_fold``:
never rendered for training) are rendered by ``ecglab.synth`` in ecg-image-kit's print style with
its 7 x 0.6 mm separator bars, with the panels apart and joined (``render.connect_panels``), and with
ecglab's own thin bars (where the hold must change nothing). Each set is digitized by the learned
model without the hold and with every margin, and scored with the Kaggle metric. The 15 ecg-image-kit
pages of ``images/cinc2024_ptbxl`` are scored too, for the record only: choose on the validation rows.

Usage::

    python benchmarks/digitize_bar_hold.py [--model digitizer] [--count 20] [--margins 0.25 0.5 0.75]

Prints a table and writes ``benchmarks/results/digitize_bar_hold.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_bar_hold.json"
SYNTH = REPO / "configs" / "synth.yaml"
SPLIT_CONFIG = REPO / "configs" / "digitize-series.yaml"
KIT = ["damage.enabled=false", "render.label_position=below", "render.lead_separators=true"]
THICK = ["render.separator_height_mm=7", "render.separator_width_mm=0.6"]
CONDITIONS = {
    "validation, 7 mm bars": [*KIT, *THICK],
    "validation, 7 mm bars, panels joined": [*KIT, *THICK, "render.connect_panels=true"],
    "validation, ecglab's thin bars": KIT,
}


def validation_records(data: Path) -> list[Path]:
    """The validation fold's records of the digitizer configs."""
    from ecglab.config import load_config
    from ecglab.training.digitize import record_splits

    cfg = load_config(SPLIT_CONFIG, [f"data.root={data}"])
    return [Path(p) for p in record_splits(cfg)["val"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("ECGLAB_DATA", REPO.parent / "shared" / "data"))
    )
    parser.add_argument("--model", default="digitizer", help="learned digitizer: shipped name or run folder")
    parser.add_argument("--count", type=int, default=20, help="validation records per condition")
    parser.add_argument("--margins", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    import ecglab.digitize.separators as separators
    from ecglab.digitize.evaluate import evaluate_digitization
    from ecglab.digitize.learned import LearnedDigitizer
    from ecglab.synth.job import SynthJob, load_synth_settings, run_job

    model = LearnedDigitizer.from_pretrained(args.model)
    records = validation_records(args.data)[: args.count]
    default_margin = separators.HOLD_MARGIN_MM
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for k, (label, overrides) in enumerate(CONDITIONS.items()):
            out = Path(tmp) / f"c{k}"
            job = SynthJob(
                records=[r.with_suffix("") for r in records], out_dir=out, count=len(records),
                seed=args.seed, settings=load_synth_settings(SYNTH, overrides),
            )  # fmt: skip
            run_job(job, workers=2)
            folders[label] = out
        folders["cinc2024_ptbxl (test: for the record)"] = args.data / "images" / "cinc2024_ptbxl"
        try:
            for label, folder in folders.items():
                for margin in [None, *args.margins]:
                    if margin is not None:
                        separators.HOLD_MARGIN_MM = margin
                    res = evaluate_digitization(folder, folder, model=model, hold_bars=margin is not None)
                    s = res["summary"]
                    rows.append({"condition": label, "margin_mm": margin, "images": s["images"],
                                 "kaggle_score_db": s["kaggle_score_db"],
                                 "physionet_db_mean": s["physionet_db_mean"]})  # fmt: skip
                    print(
                        f"{label:40s} margin {margin!s:5s} Kaggle {s['kaggle_score_db']:6.2f} dB", flush=True
                    )
        finally:
            separators.HOLD_MARGIN_MM = default_margin
    table = Table(title=f"bar hold of {args.model}: Kaggle dB (PhysioNet dB) by margin")
    table.add_column("images")
    for m in ["no hold", *(f"{m:g} mm" for m in args.margins)]:
        table.add_column(m, justify="right")
    for label in folders:
        cells = [
            f"{r['kaggle_score_db']:.2f} ({r['physionet_db_mean']:.2f})"
            for r in rows
            if r["condition"] == label
        ]
        table.add_row(label, *cells)
    Console(width=150).print(table)
    print("Choose the margin on the validation rows; the cinc2024_ptbxl row is the test set.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": args.model,
        "seed": args.seed,
        "records": [str(r.relative_to(args.data)) for r in records],
        "rows": rows,
    }
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
