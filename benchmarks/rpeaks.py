"""Benchmark R-peak detectors on the MIT-BIH Arrhythmia Database, scored as EC57 does.

Methods
-------
``ecglab``
    :func:`ecglab.signal.peaks.detect_rpeaks` on both leads of each record.
``ecglab-lead0``
    The same detector on the first lead only (for a like-for-like comparison with the others).
``neurokit2``
    NeuroKit2's default: ``nk.ecg_peaks(nk.ecg_clean(x, fs), fs)`` on the first lead (MLII).
``xqrs``
    wfdb's XQRS: ``wfdb.processing.xqrs_detect(x, fs, verbose=False)`` on the first lead.

Every detection is matched one-to-one to the reference beats of the ``.atr`` file within 150 ms;
beats and detections inside ventricular flutter episodes are not scored (EC57). The summary gives
gross statistics (TP, FN, FP summed over records) and the mean wall-clock seconds per record of
the detection call alone (reading the record is not timed).

Usage::

    python benchmarks/rpeaks.py                          # all 48 records, all methods
    python benchmarks/rpeaks.py --records 100 101 --methods ecglab,xqrs --per-record
    python benchmarks/rpeaks.py --data /path/to/data --json out.json

The data folder is ``--data``, else ``$ECGLAB_DATA``, else ``../shared/data`` beside the checkout;
it may be the data root (holding ``mitdb/``) or the ``mitdb`` folder itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from ecglab.errors import EcglabError
from ecglab.io.recording import Recording
from ecglab.io.wfdb_io import read_wfdb
from ecglab.metrics import aggregate_scores, detection_scores, excluded_intervals, reference_beats
from ecglab.signal.peaks import detect_rpeaks

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "rpeaks.json"
DEFAULT_METHODS = ("ecglab", "neurokit2", "xqrs")


def _quiet(fn: Callable[[], np.ndarray]) -> np.ndarray:
    """Run a third-party detector with its warnings and prints silenced."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn()


def run_ecglab(rec: Recording) -> np.ndarray:
    return detect_rpeaks(rec)


def run_ecglab_lead0(rec: Recording) -> np.ndarray:
    return detect_rpeaks(rec, leads=[rec.leads[0]])


def run_neurokit2(rec: Recording) -> np.ndarray:
    import neurokit2 as nk

    x = rec.signal[0].astype(np.float64)
    fs = round(rec.fs)
    _, info = _quiet(lambda: nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=fs), sampling_rate=fs))
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def run_xqrs(rec: Recording) -> np.ndarray:
    from wfdb import processing

    x = rec.signal[0].astype(np.float64)
    return np.asarray(_quiet(lambda: processing.xqrs_detect(x, rec.fs, verbose=False)), dtype=np.int64)


METHODS: dict[str, tuple[Callable[[Recording], np.ndarray], str]] = {
    "ecglab": (run_ecglab, "ecglab detect_rpeaks, all leads"),
    "ecglab-lead0": (run_ecglab_lead0, "ecglab detect_rpeaks, first lead"),
    "neurokit2": (run_neurokit2, "nk.ecg_peaks(nk.ecg_clean(x)), first lead"),
    "xqrs": (run_xqrs, "wfdb.processing.xqrs_detect, first lead"),
}


def find_mitdb(data: str | None) -> Path:
    """The MIT-BIH folder from ``--data``, ``$ECGLAB_DATA`` or ``../shared/data``."""
    root = Path(data) if data else Path(os.environ.get("ECGLAB_DATA") or REPO.parent / "shared" / "data")
    for candidate in (root / "mitdb", root):
        if (candidate / "100.hea").is_file():
            return candidate
    raise SystemExit(f"MIT-BIH records not found under {root} (give --data or set ECGLAB_DATA)")


def list_records(mitdb: Path, wanted: list[str] | None) -> list[str]:
    listing = mitdb / "RECORDS"
    names = listing.read_text().split() if listing.is_file() else sorted(p.stem for p in mitdb.glob("*.hea"))
    if not wanted:
        return names
    missing = [r for r in wanted if not (mitdb / f"{r}.hea").is_file()]
    if missing:
        raise SystemExit(f"record(s) not found in {mitdb}: {', '.join(missing)}")
    return wanted


def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def _json_safe(obj: Any) -> Any:
    """NaN is not JSON: write null instead."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def benchmark(mitdb: Path, records: list[str], methods: list[str]) -> dict[str, Any]:
    """Run every method on every record; return per-record and gross results."""
    per_record: dict[str, dict[str, Any]] = {m: {} for m in methods}
    # Warm-up, untimed: the first call of each method pays for lazy imports and JIT caches.
    warm = read_wfdb(mitdb / records[0], annotations=None).crop_seconds(0, 10)
    for method in methods:
        METHODS[method][0](warm)
    bar = tqdm(total=len(records) * len(methods), unit="run", desc="R-peaks", file=sys.stderr)
    for name in records:
        rec = read_wfdb(mitdb / name)
        if rec.annotations is None:
            raise SystemExit(f"record {name} has no .atr reference annotations")
        ref = reference_beats(rec.annotations)
        exclude = excluded_intervals(rec.annotations, rec.n_samples)
        for method in methods:
            bar.set_postfix_str(f"{name} {method}")
            fn = METHODS[method][0]
            t0 = time.perf_counter()
            detected = fn(rec)
            seconds = time.perf_counter() - t0
            scores = detection_scores(ref, detected, rec.fs, tolerance_s=0.15, exclude=exclude)
            per_record[method][name] = {**scores, "seconds": seconds, "detections": int(detected.size)}
            bar.update()
    bar.close()
    summary = {}
    for method in methods:
        rows = per_record[method]
        summary[method] = {
            **aggregate_scores(rows.values()),
            "seconds_per_record": float(np.mean([r["seconds"] for r in rows.values()])),
            "description": METHODS[method][1],
        }
    return {"summary": summary, "per_record": per_record}


def print_tables(result: dict[str, Any], records: list[str], per_record: bool, console: Console) -> None:
    summary = result["summary"]
    title = f"R-peak detection, MIT-BIH Arrhythmia Database ({len(records)} records, EC57 ±150 ms)"
    table = Table(title=title)
    for col in ("method", "Se %", "PPV %", "F1 %", "TP", "FN", "FP", "s/record"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method, s in summary.items():
        table.add_row(
            method,
            _pct(s["Se"]),
            _pct(s["PPV"]),
            _pct(s["F1"]),
            str(s["TP"]),
            str(s["FN"]),
            str(s["FP"]),
            f"{s['seconds_per_record']:.3f}",
        )
    console.print(table)
    if not per_record:
        return
    detail = Table(title="Per record: FN / FP")
    detail.add_column("record")
    for method in summary:
        detail.add_column(method, justify="right")
    for name in records:
        cells = []
        for method in summary:
            r = result["per_record"][method][name]
            cells.append(f"{r['FN']} / {r['FP']}")
        detail.add_row(name, *cells)
    console.print(detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="data root (holding mitdb/) or the mitdb folder itself")
    parser.add_argument("--records", nargs="+", help="record names (default: all in RECORDS)")
    parser.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help=f"comma-separated, from {', '.join(METHODS)} (default: %(default)s)",
    )
    parser.add_argument("--per-record", action="store_true", help="also print a per-record table")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results file (default: %(default)s)")
    args = parser.parse_args(argv)

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        given = ", ".join(unknown) or "(none given)"
        parser.error(f"unknown method(s) {given}; choose from {', '.join(METHODS)}")
    mitdb = find_mitdb(args.data)
    records = list_records(mitdb, args.records)
    try:
        result = benchmark(mitdb, records, methods)
    except EcglabError as exc:
        raise SystemExit(f"error: {exc}") from None
    print_tables(result, records, args.per_record, Console())

    import neurokit2
    import scipy
    import wfdb

    out = {
        "benchmark": "rpeaks",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(mitdb),
        "records": records,
        "tolerance_s": 0.15,
        "scoring": "EC57 gross statistics; ventricular flutter episodes excluded",
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "wfdb": wfdb.__version__,
            "neurokit2": neurokit2.__version__,
        },
        **result,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_json_safe(out), indent=1) + "\n")
    Console(stderr=True).print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
