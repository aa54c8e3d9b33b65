"""The classical (no-training) digitizer: SNR tables on synthetic and Challenge-2024 images.

Conditions:

* ``ecglab 3x4+1 clean`` / ``damaged``: 20 PTB-XL 500 Hz records (``ptbxl/records500/00000``,
  first 20) rendered by ``ecglab.synth.job.run_job`` with ``configs/synth.yaml`` (A4, 3x4+1,
  200 DPI; ``damage.enabled=false`` for clean, the default damage otherwise; seed 0), digitized
  by :func:`ecglab.digitize.digitize_image` and scored against the written ``<id>.hea/.dat``
  (NaN where not plotted);
* ``ecglab 6x2 clean`` and ``ecglab 12x1 clean``: the same records in the other layouts;
* ``cinc2024_ptbxl``: the 15 ecg-image-kit images of ``images/cinc2024_ptbxl`` against their
  ``NNNNN_hr.hea``, cut to the plotted samples given by the generator JSON (as the Challenge's
  ``--mask_unplotted_samples``; the digitizer does not read the JSON);
* ``... + einthoven``: the same with ``einthoven=True``.

Metrics (``ecglab.digitize.evaluate``): Kaggle score (``10 log10`` of the mean capped ratio over
images, perfect = 25.84 dB), mean per-image Kaggle dB, PhysioNet-2024 SNR (mean dB over
(image, lead) pairs; a failed image is an all-zero prediction), mean Pearson r and RMSE (mV) over
the digitized samples, seconds per image (wall time of ``digitize_image``, OpenCV limited to
``--threads`` threads; the machine is shared, so the load average is recorded).

Usage::

    python benchmarks/digitize_classical.py [--data DIR] [--threads 2] [--records 20] [--quick]

Prints a table and writes ``benchmarks/results/digitize_classical.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_classical.json"
CONFIG = REPO / "configs" / "synth.yaml"
SYNTH_CONDITIONS = {
    "ecglab 3x4+1 clean": ["damage.enabled=false"],
    "ecglab 3x4+1 damaged": [],
    "ecglab 6x2 clean": ["damage.enabled=false", "render.layout=6x2"],
    "ecglab 12x1 clean": ["damage.enabled=false", "render.layout=12x1"],
}
KEYS = (
    "images", "failed", "kaggle_score_db", "kaggle_db_mean", "physionet_db_mean", "pearson_r_mean",
    "rmse_mv_mean", "seconds_per_image",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("ECGLAB_DATA", REPO.parent / "shared" / "data"))
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="OpenCV threads (the target machine has 2 cores)"
    )
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument(
        "--quick", action="store_true", help="only 3x4+1 clean/damaged and cinc2024, no einthoven"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    import cv2

    from ecglab.digitize.evaluate import evaluate_digitization
    from ecglab.synth.job import SynthJob, load_synth_settings, run_job

    cv2.setNumThreads(args.threads)
    records = sorted((args.data / "ptbxl" / "records500" / "00000").glob("*.hea"))[: args.records]
    if not records:
        raise SystemExit(f"no PTB-XL records under {args.data}/ptbxl/records500/00000 (set --data)")
    cinc = args.data / "images" / "cinc2024_ptbxl"
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for label, overrides in SYNTH_CONDITIONS.items():
            if args.quick and "3x4+1" not in label:
                continue
            settings = load_synth_settings(CONFIG, overrides)
            out_dir = Path(tmp) / label.replace(" ", "_").replace("+", "p")
            job = SynthJob(
                records=[r.with_suffix("") for r in records], out_dir=out_dir, count=len(records),
                seed=args.seed, settings=settings,
            )  # fmt: skip
            results = run_job(job, workers=1)
            errors = [r.error for r in results if r.error]
            variants = [False] if args.quick or "damaged" in label or "x1" in label else [False, True]
            for einthoven in variants:
                rows.append(_run(label, out_dir, out_dir, einthoven, evaluate_digitization, errors))
        for einthoven in [False] if args.quick else [False, True]:
            rows.append(
                _run("cinc2024_ptbxl (ecg-image-kit)", cinc, cinc, einthoven, evaluate_digitization, [])
            )
    _print(rows)
    payload = {
        "benchmark": "digitize_classical",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "digitizer": "ecglab.digitize.digitize_image (classical, defaults: baseline='row', method='sweep')",
        "settings": "configs/synth.yaml: A4, 200 DPI, 25 mm/s, 10 mm/mV, trace 0.4 mm; damage preset default",
        "records": [str(r.relative_to(args.data)) for r in records],
        "seed": args.seed,
        "opencv_threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "conditions": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.json}")


def _run(label, images, truth, einthoven, evaluate, errors) -> dict:
    t0 = time.perf_counter()
    res = evaluate(images, truth, einthoven=einthoven)
    summary = res["summary"]
    row = {"condition": label + (" + einthoven" if einthoven else ""), "render_errors": errors}
    row.update({k: summary[k] for k in KEYS})
    row["failures"] = [f"{r['image']}: {r.get('error', '')}" for r in res["images"] if r["status"] != "ok"]
    row["per_lead_kaggle_db"] = {lead: round(v["kaggle_db"], 2) for lead, v in res["per_lead"].items()}
    row["per_image_kaggle_db"] = {r["image"]: round(r["kaggle_db"], 2) for r in res["images"]}
    row["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _print(rows: list[dict]) -> None:
    table = Table(title="classical digitizer")
    for col in ("condition", "n", "failed", "Kaggle", "Kaggle mean", "PhysioNet", "r", "RMSE mV", "s/img"):
        table.add_column(col, justify="left" if col == "condition" else "right")
    for r in rows:
        table.add_row(
            r["condition"], str(r["images"]), str(r["failed"]), f"{r['kaggle_score_db']:.2f}",
            f"{r['kaggle_db_mean']:.2f}", f"{r['physionet_db_mean']:.2f}", f"{r['pearson_r_mean']:.3f}",
            f"{r['rmse_mv_mean']:.3f}", f"{r['seconds_per_image']:.2f}",
        )  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
