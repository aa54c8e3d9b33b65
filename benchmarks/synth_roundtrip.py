"""The ceiling of image digitization: signals rebuilt from a perfect segmentation of synthetic paper.

Real 12-lead records (20 PTB-XL 500 Hz records of ``records500/00000`` and 10 CinC 2020 records
from five sources, 2 each: cpsc2018, georgia, chapman_shaoxing, ningbo and ptb, the last at
1000 Hz) are rendered with ``configs/synth.yaml`` (A4, 3x4+1) at 100, 200 and 300 DPI, clean
(``damage.enabled=false``) and with the default damage, through ``ecglab.synth.job.run_job`` (fixed
seed: the same record, window and damage draws for every run). Each image's signal is then rebuilt
by ``ecglab.synth.roundtrip.signals_from_truth`` from ``<id>.leads.png`` and ``<id>.json`` (the
instance mask and the page geometry, not the stored points) with every column method of
``--methods`` (default: all of ``COLUMN_METHODS``, the first one, the default ``sweep``, is the
headline; each condition's ``methods`` holds the figures of every method on the same images) and
scored against the written
``<id>.hea``/``<id>.dat`` (read with ``wfdb.rdrecord``: NaN where a lead was not plotted):

* **Kaggle SNR** (2025 digitization competition): ``kaggle_score`` over the images, i.e.
  ``10 log10`` of the mean capped linear ratio (at most 25.84 dB);
* **PhysioNet SNR** (Challenge 2024, no alignment): per image the mean dB over leads, then the
  mean over images. A lead rebuilt exactly has ``+inf`` dB; such leads are counted and left out of
  the mean (the Challenge's own ``nanmean`` would be ``+inf``) — ``physionet_inf_leads`` says how
  many there were;
* **RMSE** in mV over the samples present in both, mean over leads then images; ``coverage`` is the
  fraction of plotted samples that the rebuild recovered (not NaN).

Whatever error remains comes from rasterisation (and resampling by the damage warp) alone. A third
condition, ``clean, 1 px pen`` (``render.trace_width_px=1``), separates the two parts of it: the
pixel grid, and the 0.4 mm pen whose column-wise centre cuts the sharp peaks (most of the error sits
at the highest-curvature samples, so a thicker pen in pixels, i.e. a higher DPI, does not help).

Usage::

    python benchmarks/synth_roundtrip.py [--data DIR] [--dpi 100 200 300] [--workers 2] [--seed 0]
        [--methods sweep mean ...]

Prints a table and writes ``benchmarks/results/synth_roundtrip.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ecglab.synth.roundtrip import COLUMN_METHODS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "synth_roundtrip.json"
CONFIG = REPO / "configs" / "synth.yaml"
CINC_SOURCES = ("cpsc2018", "georgia", "chapman_shaoxing", "ningbo", "ptb")


def _data_root(explicit: str | None) -> str:
    return explicit or os.environ.get("ECGLAB_DATA") or str(REPO.parent / "shared" / "data")


def roundtrip_records(root: Path, n_ptbxl: int = 20, per_cinc_source: int = 2) -> list[Path]:
    """Header paths: the first ``n_ptbxl`` PTB-XL 500 Hz records, then ``per_cinc_source`` per CinC source."""
    ptbxl = sorted((root / "ptbxl" / "records500" / "00000").glob("*_hr.hea"))[:n_ptbxl]
    if not ptbxl:
        raise SystemExit(f"no PTB-XL 500 Hz records under {root / 'ptbxl' / 'records500' / '00000'}")
    cinc = [
        path
        for source in CINC_SOURCES
        for path in sorted((root / "cinc2020" / source).glob("*.hea"))[:per_cinc_source]
    ]
    return ptbxl + cinc


def score_image(out_dir: Path, image_id: str, method: str = "envelope") -> dict:
    """Rebuild one image's signal from its instance mask + JSON and score it against its WFDB truth.

    ``method`` is the rebuild's column method (``ecglab.synth.roundtrip.COLUMN_METHODS``).

    Returns
    -------
    dict
        JSON-able figures of the image, plus ``kaggle``: its :class:`~ecglab.metrics.snr.KaggleRecord`.
    """
    import wfdb

    from ecglab.metrics.snr import kaggle_snr_details, physionet_snr, rmse
    from ecglab.synth.roundtrip import signals_from_truth

    pred, names, fs = signals_from_truth(
        out_dir / f"{image_id}.leads.png", out_dir / f"{image_id}.json", method=method
    )
    record = wfdb.rdrecord(str(out_dir / image_id))
    truth = record.p_signal.T  # NaN where not plotted (WFDB's missing value)
    if tuple(record.sig_name) != tuple(names) or truth.shape != pred.shape:
        raise RuntimeError(f"{image_id}: rebuilt signal {pred.shape} {names} does not match the record")
    kaggle = kaggle_snr_details(truth, pred, fs, lead_names=names)
    physionet = physionet_snr(truth, pred)
    plotted = np.isfinite(truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lead_rmse = rmse(truth, pred)
    finite_db = physionet[np.isfinite(physionet)]
    return {
        "image_id": image_id,
        "fs": fs,
        "kaggle": kaggle,
        "kaggle_ratio": kaggle.ratio,
        "kaggle_db": kaggle.snr_db,
        "kaggle_max_abs_shift": max(abs(lead.shift) for lead in kaggle.leads),
        "physionet_db": float(np.mean(finite_db)) if finite_db.size else math.nan,
        "physionet_inf_leads": int(np.isposinf(physionet).sum()),
        "rmse_mv": float(np.nanmean(lead_rmse)),
        "coverage": float((plotted & np.isfinite(pred)).sum() / plotted.sum()),
    }


def _score(args: tuple[Path, str, str]) -> dict:
    return score_image(*args)


#: Conditions per DPI: label -> overrides of configs/synth.yaml. ``clean, 1 px pen`` is not a usual
#: page: it shows how much of the error comes from the 0.4 mm pen (a column of a thick stroke
#: cuts the peaks) rather than from the pixel grid.
CONDITIONS = {
    "clean": ["damage.enabled=false"],
    "damaged": [],
    "clean, 1 px pen": ["damage.enabled=false", "render.trace_width_px=1"],
}


def summarise(scores: list[dict]) -> dict:
    """The figures of one condition and rebuild method over its images (pops each ``kaggle`` record)."""
    from ecglab.metrics.snr import kaggle_score

    kaggle_records = [s.pop("kaggle") for s in scores]
    return {
        "kaggle_snr_db": kaggle_score(kaggle_records),
        "kaggle_record_db_median": float(np.median([s["kaggle_db"] for s in scores])),
        "physionet_snr_db": float(np.nanmean([s["physionet_db"] for s in scores])),
        "physionet_inf_leads": int(sum(s["physionet_inf_leads"] for s in scores)),
        "rmse_mv": float(np.mean([s["rmse_mv"] for s in scores])),
        "coverage": float(np.mean([s["coverage"] for s in scores])),
    }


def run_condition(
    records: list[Path], dpi: int, label: str, workers: int, seed: int, tmp: Path, methods: list[str]
) -> dict:
    """Render + write every record once at ``dpi`` with condition ``label``; rebuild each signal with
    every method of ``methods`` and score it. The top-level figures are those of ``methods[0]``."""
    from ecglab.synth.job import SynthJob, load_synth_settings, run_job

    overrides = [f"render.dpi={dpi}", *CONDITIONS[label]]
    settings = load_synth_settings(CONFIG, overrides)
    out_dir = tmp / f"dpi{dpi}_{list(CONDITIONS).index(label)}"
    job = SynthJob(records=records, out_dir=out_dir, count=len(records), seed=seed, settings=settings)
    t0 = time.perf_counter()
    results = run_job(job, workers=workers)
    errors = [r.error for r in results if r.error]
    done = [r for r in results if r.image_id]
    render_seconds = time.perf_counter() - t0
    by_method: dict[str, dict] = {}
    per_image: list[dict] = []
    with mp.get_context("fork").Pool(workers) as pool:
        for method in methods:
            t1 = time.perf_counter()
            scores = pool.map(_score, [(out_dir, r.image_id, method) for r in done])
            for result, score in zip(done, scores, strict=True):
                score["record"] = result.record
                score["damage"] = [d for d in result.damage if d != "warp"]
            by_method[method] = {**summarise(scores), "rebuild_seconds": time.perf_counter() - t1}
            if not per_image:
                per_image = scores
    for path in out_dir.iterdir():  # 300 DPI damaged pages are ~15 MB each
        path.unlink()
    return {
        "dpi": dpi,
        "condition": label,
        "damage": "none" if "damage.enabled=false" in CONDITIONS[label] else "default",
        "overrides": overrides,
        "images": len(done),
        "errors": errors,
        "method": methods[0],
        **{k: v for k, v in by_method[methods[0]].items() if k != "rebuild_seconds"},
        "render_seconds": render_seconds,
        "methods": by_method,
        "per_image": per_image,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--dpi", type=int, nargs="+", default=[100, 200, 300])
    parser.add_argument("--ptbxl", type=int, default=20, help="PTB-XL 500 Hz records")
    parser.add_argument("--per-cinc-source", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(COLUMN_METHODS),
        default=list(COLUMN_METHODS),
        help="rebuild methods to score on the same images; the first is the headline",
    )
    parser.add_argument("--json", default=str(DEFAULT_JSON))
    args = parser.parse_args()

    root = Path(_data_root(args.data))
    records = roundtrip_records(root, args.ptbxl, args.per_cinc_source)
    console = Console(width=120)
    result: dict = {
        "benchmark": "synth_roundtrip",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": "configs/synth.yaml: A4, 3x4+1, 25 mm/s, 10 mm/mV, trace 0.4 mm; damage preset default",
        "reconstruction": f"ecglab.synth.roundtrip.signals_from_truth(method={args.methods[0]!r})",
        "methods": args.methods,
        "physionet_inf_handling": "leads with +inf dB (exact rebuild) are counted and left out of the mean",
        "seed": args.seed,
        "data": str(root),
        "records": [str(p.relative_to(root)) for p in records],
        "conditions": [],
    }
    with tempfile.TemporaryDirectory(prefix="synth_roundtrip_") as tmp:
        for dpi in args.dpi:
            for label in args.conditions:
                cond = run_condition(records, dpi, label, args.workers, args.seed, Path(tmp), args.methods)
                result["conditions"].append(cond)
                for method, fig in cond["methods"].items():
                    console.print(
                        f"{dpi} DPI {label:15s} {method:9s}: Kaggle {fig['kaggle_snr_db']:.2f} dB, "
                        f"PhysioNet {fig['physionet_snr_db']:.2f} dB, RMSE {fig['rmse_mv'] * 1000:.1f} µV "
                        f"({cond['images']} images, rebuild {fig['rebuild_seconds']:.1f} s)"
                    )
    table = Table(
        title=f"round trip: perfect instance mask + page geometry -> signal ({len(records)} records)"
    )
    for col in (
        "DPI",
        "condition",
        "method",
        "Kaggle SNR dB",
        "PhysioNet SNR dB",
        "RMSE mV",
        "coverage",
        "n images",
    ):
        table.add_column(col)
    for cond in result["conditions"]:
        for method, fig in cond["methods"].items():
            table.add_row(
                str(cond["dpi"]),
                cond["condition"],
                method,
                f"{fig['kaggle_snr_db']:.2f}",
                f"{fig['physionet_snr_db']:.2f}"
                + (f" ({fig['physionet_inf_leads']} inf)" if fig["physionet_inf_leads"] else ""),
                f"{fig['rmse_mv']:.4f}",
                f"{fig['coverage']:.4f}",
                str(cond["images"]) + (f" ({len(cond['errors'])} errors)" if cond["errors"] else ""),
            )
    console.print(table)
    console.print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
