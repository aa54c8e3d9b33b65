"""Learned digitizers (``series``, ``whole``) against the classical baseline, on images they never saw.

Conditions:

* ``held-out 3x4+1 clean`` / ``damaged`` / ``kit-style``: the records of the digitize configs' held-out fold
  (patient-grouped folds of the 12-lead pool, ``cv.val_fold`` + 1: never rendered for training or
  validation; PTB-XL records at 500 Hz where the shared data has them), rendered by
  ``ecglab.synth.job.run_job`` with ``configs/synth.yaml`` (A4, 3x4+1, 200 DPI; ``damage.enabled=false``
  for clean, the default damage otherwise; ``kit-style``: clean, with lead names under the trace and
  lead separator bars as ecg-image-kit prints them, ecglab's thin ones or ecg-image-kit's 7 x 0.6 mm
  ones, and with those bars, the panels joined and ecg-image-kit's 0.25 mm pen, then also with lead
  names where ecg-image-kit prints them; seed 0);
* ``cinc2024_ptbxl``: the 15 ecg-image-kit images of ``images/cinc2024_ptbxl`` (another generator),
  scored on the plotted samples as the Challenge does;
* ``ecg-image-kit samples``: the 4 sample pages ecg-image-kit ships of PTB-XL records 00002-00004
  (``images/ecg_image_kit_generated``; two with handwritten notes and dark random grid colours),
  scored on the samples their standard 3x4+1 layout plotted (:data:`KIT_SAMPLES`).

Every image is digitized by :func:`ecglab.digitize.digitize_image` with each method (the learned
ones replace only the trace reading: rectification, grid and layout are shared) and scored by
:func:`ecglab.digitize.evaluate_digitization`: Kaggle score (perfect 25.84 dB), mean PhysioNet-2024
SNR over (image, lead) pairs, mean Pearson r and RMSE, seconds per image (OpenCV and torch limited
to ``--threads`` threads; the machine may be shared, so the load average is recorded).

Usage::

    python benchmarks/digitize_compare.py [--series digitizer|RUN] [--whole RUN] [--count 40] [--tta] \
        [--no-bar-hold-too] [--no-widen-too]

``--no-bar-hold-too`` also scores the learned models without holding their trace beside thick lead
separators (``digitize_image(hold_bars=False)``), ``--no-widen-too`` without widening a thin pen
(``digitize_image(thicken_thin_pen=False)``).

Prints a table and writes ``benchmarks/results/digitize_compare.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_compare.json"
SYNTH = REPO / "configs" / "synth.yaml"
SPLIT_CONFIG = REPO / "configs" / "digitize-series.yaml"
CONDITIONS = {
    "held-out 3x4+1 clean": ["damage.enabled=false"],
    "held-out 3x4+1 damaged": [],
    # ecg-image-kit's print style (lead names under the trace, separator bars) on ecglab's renderer
    "held-out 3x4+1 kit-style": [
        "damage.enabled=false",
        "render.label_position=below",
        "render.lead_separators=true",
    ],
    # the same with separator bars of ecg-image-kit's size (about 7 x 0.6 mm; ecglab draws 4 x 0.25)
    "held-out 3x4+1 kit-style, 7 mm bars": [
        "damage.enabled=false",
        "render.label_position=below",
        "render.lead_separators=true",
        "render.separator_height_mm=7",
        "render.separator_width_mm=0.6",
    ],
    # closest to ecg-image-kit: its bars, panels joined into one line per row, its 0.25 mm pen
    "held-out 3x4+1 kit-style, 7 mm bars, joined, 0.25 mm pen": [
        "damage.enabled=false",
        "render.label_position=below",
        "render.lead_separators=true",
        "render.separator_height_mm=7",
        "render.separator_width_mm=0.6",
        "render.connect_panels=true",
        "render.trace_width_mm=0.25",
    ],
    # ... and ecg-image-kit's lead-name placement: under the bar, the glyphs' foot 7 mm down
    "held-out 3x4+1 kit-style, 7 mm bars, kit names, joined, 0.25 mm pen": [
        "damage.enabled=false",
        "render.label_position=kit",
        "render.lead_separators=true",
        "render.separator_height_mm=7",
        "render.separator_width_mm=0.6",
        "render.connect_panels=true",
        "render.trace_width_mm=0.25",
    ],
}
#: ecg-image-kit's sample pages whose records are in the shared data: page name here -> (image, truth
#: record), all at 500 Hz, first 10 s, 3x4+1. Its fifth sample, ``cinc2021_JS00001-0.png``, is left
#: out: its leads I and III match the Chapman record JS00001 (r 0.95 / 0.98 after digitizing), but its
#: other panels match no lead of that record at any shift up to 0.8 s (best r 0.4-0.7).
KIT_SAMPLES = {
    "00002_hr-0.png": ("ptbxl_00002_hr-0.png", "ptbxl/records500/00000/00002_hr"),
    "00003_hr-0.png": ("ptbxl_00003_hr-0.png", "ptbxl/records500/00000/00003_hr"),
    "00002_hr-1.png": ("ptbxl_00002_hr-0_handwritten.png", "ptbxl/records500/00000/00002_hr"),
    "00004_hr-1.png": ("ptbxl_00004_hr-0_handwritten.png", "ptbxl/records500/00000/00004_hr"),
}
KEYS = (
    "images", "failed", "kaggle_score_db", "kaggle_db_mean", "physionet_db_mean", "pearson_r_mean",
    "rmse_mv_mean", "seconds_per_image",
)  # fmt: skip


def kit_samples_folder(data: Path, out: Path) -> Path:
    """``out`` filled with :data:`KIT_SAMPLES`: the pages, their truth records and, per page, an
    ecg-image-kit style JSON naming the samples each lead's 3x4+1 panels plotted (2.5 s columns,
    lead II for all 10 s), so that :func:`evaluate_digitization` scores only those."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    fs, column = 500, 1250
    columns = (("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6"))
    leads = [
        {"lead_name": name, "start_sample": c * column, "end_sample": (c + 1) * column}
        for c, names in enumerate(columns)
        for name in names
    ]
    leads.append({"lead_name": "II", "start_sample": 0, "end_sample": 4 * column})
    for page, (image, record) in KIT_SAMPLES.items():
        shutil.copyfile(data / "images" / "ecg_image_kit_generated" / image, out / page)
        for suffix in (".hea", ".dat"):
            target = out / (Path(record).name + suffix)
            if not target.exists():
                shutil.copyfile(data / (record + suffix), target)
        meta = {"sampling_frequency": fs, "leads": leads}
        (out / page).with_suffix(".json").write_text(json.dumps(meta))
    return out


def held_out_records(data: Path) -> list[Path]:
    """The held-out fold's records, PTB-XL at 500 Hz where available (same record, finer truth)."""
    from ecglab.config import load_config
    from ecglab.training.digitize import record_splits

    cfg = load_config(SPLIT_CONFIG, [f"data.root={data}"])
    out = []
    for path in record_splits(cfg)["test"]:
        p = Path(path)
        hr = Path(str(p).replace("records100", "records500").replace("_lr", "_hr"))
        out.append(hr if hr.with_suffix(".hea").is_file() or hr.is_file() else p)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("ECGLAB_DATA", REPO.parent / "shared" / "data"))
    )
    parser.add_argument("--series", default="digitizer", help="series model: shipped name or run folder")
    parser.add_argument("--whole", default=None, help="whole model run folder (skipped when not given)")
    parser.add_argument("--count", type=int, default=40, help="held-out images per condition")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tta", action="store_true", help="also score the learned models with flip TTA")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-bar-hold-too", action="store_true", help="also score the learned models without the bar hold"
    )
    parser.add_argument(
        "--no-widen-too", action="store_true", help="also score the learned models without pen widening"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    import cv2
    import torch

    from ecglab.digitize.evaluate import evaluate_digitization
    from ecglab.digitize.learned import LearnedDigitizer
    from ecglab.synth.job import SynthJob, load_synth_settings, run_job

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    # name: (model, hold_bars, thicken_thin_pen)
    methods: dict[str, tuple[object, bool, bool]] = {"classical": (None, True, True)}
    for name in ("series", "whole"):
        source = getattr(args, name)
        if source:
            model = LearnedDigitizer.from_pretrained(source)
            methods[f"{name} ({source})"] = (model, True, True)
            if args.no_bar_hold_too:
                methods[f"{name} ({source}), no bar hold"] = (model, False, True)
            if args.no_widen_too:
                methods[f"{name} ({source}), no pen widening"] = (model, True, False)
            if args.tta:
                tta_model = LearnedDigitizer.from_pretrained(source, tta=True)
                methods[f"{name} ({source}) + tta"] = (tta_model, True, True)
    records = held_out_records(args.data)[: args.count]
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for label, overrides in CONDITIONS.items():
            out_dir = Path(tmp) / label.replace(" ", "_").replace("+", "p")
            job = SynthJob(
                records=[r.with_suffix("") for r in records], out_dir=out_dir, count=len(records),
                seed=args.seed, settings=load_synth_settings(SYNTH, overrides),
            )  # fmt: skip
            errors = [r.error for r in run_job(job, workers=2) if r.error]
            folders[label] = (out_dir, errors)
        folders["cinc2024_ptbxl (ecg-image-kit)"] = (args.data / "images" / "cinc2024_ptbxl", [])
        folders["ecg-image-kit samples"] = (kit_samples_folder(args.data, Path(tmp) / "kit_samples"), [])
        for label, (folder, errors) in folders.items():
            for method, (model, hold, widen) in methods.items():
                res = evaluate_digitization(
                    folder, folder, model=model, hold_bars=hold, thicken_thin_pen=widen
                )
                row = {"condition": label, "method": method, "render_errors": errors}
                row.update({k: res["summary"][k] for k in KEYS})
                row["failures"] = [
                    f"{r['image']}: {r.get('error', '')}" for r in res["images"] if r["status"] != "ok"
                ]
                row["per_lead_kaggle_db"] = {
                    lead: round(v["kaggle_db"], 2) for lead, v in res["per_lead"].items()
                }
                rows.append(row)
                _print_row(row)
    _print(rows)
    payload = {
        "benchmark": "digitize_compare",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "methods": list(methods),
        "held_out_records": [str(r.relative_to(args.data)) for r in records],
        "synth_settings": "configs/synth.yaml: A4, 3x4+1, 200 DPI, 25 mm/s, 10 mm/mV, trace 0.4 mm",
        "seed": args.seed,
        "threads": args.threads,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "conditions": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.json}")


def _print_row(r: dict) -> None:
    print(f"{r['condition']:34s} {r['method']:28s} Kaggle {r['kaggle_score_db']:6.2f} dB  "
          f"PhysioNet {r['physionet_db_mean']:6.2f} dB  failed {r['failed']}  "
          f"{r['seconds_per_image']:.2f} s/img")  # fmt: skip


def _print(rows: list[dict]) -> None:
    table = Table(title="digitizers on unseen images")
    for col in ("condition", "method", "n", "failed", "Kaggle", "PhysioNet", "r", "RMSE mV", "s/img"):
        table.add_column(col, justify="left" if col in ("condition", "method") else "right")
    for r in rows:
        table.add_row(
            r["condition"], r["method"], str(r["images"]), str(r["failed"]), f"{r['kaggle_score_db']:.2f}",
            f"{r['physionet_db_mean']:.2f}", f"{r['pearson_r_mean']:.3f}", f"{r['rmse_mv_mean']:.3f}",
            f"{r['seconds_per_image']:.2f}",
        )  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
