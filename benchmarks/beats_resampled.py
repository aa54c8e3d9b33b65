"""Benchmark the beat classifier end to end on DS2 records resampled and renamed like other databases.

The shipped beat model is judged by running ``ecglab predict --model mitdb-beats`` on
beat-annotated records of *other* databases (MIT-BIH Supraventricular Arrhythmia DB: 128 Hz, leads
``ECG1``/``ECG2``; St Petersburg INCART: 257 Hz, the 12 standard leads). This benchmark measures the
closest thing available: the 22 DS2 records of MIT-BIH (never seen in training), resampled and
renamed, written as real WFDB records and run through the user path.

Conditions (``--conditions``, comma-separated keys):

``360``  the original records (``MLII``/``V1``..): the baseline, reproduces ``benchmarks/beats.py``.
``128``  128 Hz, channels renamed ``ECG1``/``ECG2`` by position, format 212 at 200 adu/mV (SVDB-like).
``257``  257 Hz, ``MLII`` renamed ``II`` (the other lead keeps its name), format 16 at 1000 adu/mV
         (INCART-like).
``500``  500 Hz, ``II``/``V1``.., format 16 at 1000 adu/mV.
``250``  250 Hz, ``ECG1``/``ECG2``, format 212 at 200 adu/mV.

For each condition every record is resampled with :meth:`ecglab.io.recording.Recording.resample`
(ecglab's polyphase anti-aliasing resampler; reference annotations mapped to
``round(sample * fs / 360)``), written with ``wfdb.wrsamp`` + ``wfdb.wrann`` in a temporary folder,
then predicted exactly as ``ecglab predict`` does (its reader, ``BeatClassifier.predict`` with
ecglab's own detector, ``write_csv``); with ``--cli`` the real ``ecglab predict`` command is run on
the folder instead. The ``<record>.beats.csv`` files are what gets scored, against the written
``.atr`` files:

* R peaks: EC57 gross Se / PPV (±150 ms, all beat annotations, flutter episodes excluded), as
  ``benchmarks/rpeaks.py`` scores them;
* classes: accuracy, macro-F1 and F1 N/S/V end to end as
  :func:`ecglab.evaluate.beats.score_beat_predictions` defines them (a missed reference beat and a
  spurious detection are errors);
* unless ``--no-at-reference``, also accuracy / F1 S / F1 V of the classifier at the reference beats of
  the resampled record (separates detection from classification losses);
* seconds per record of read + detect + classify + write CSV (with ``--cli``: the command's wall
  time divided by the records, model loading and start-up included).

Usage::

    python benchmarks/beats_resampled.py [--model mitdb-beats] [--data DIR] [--threads 1]
        [--conditions 360,128,257,500,250] [--records 100 232] [--no-at-reference] [--cli]

Prints one table and writes ``benchmarks/results/beats_resampled.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "beats_resampled.json"
CLASSES = ("N", "S", "V", "F", "Q")


@dataclass(frozen=True)
class Condition:
    """How the DS2 records are turned into another database's records."""

    key: str
    label: str
    fs: float
    naming: str  # "original", "ecg" (ECG1, ECG2 by position) or "standard" (MLII -> II)
    fmt: str = "16"
    adc_gain: float = 1000.0


CONDITIONS: dict[str, Condition] = {
    c.key: c
    for c in (
        Condition("360", "360 Hz, MLII/V1", 360.0, "original", "212", 200.0),
        Condition("128", "128 Hz, ECG1/ECG2", 128.0, "ecg", "212", 200.0),
        Condition("257", "257 Hz, II/V1", 257.0, "standard", "16", 1000.0),
        Condition("500", "500 Hz, II/V1", 500.0, "standard", "16", 1000.0),
        Condition("250", "250 Hz, ECG1/ECG2", 250.0, "ecg", "212", 200.0),
    )
}
DEFAULT_CONDITIONS = ("360", "128", "257", "500", "250")


def _data_root(explicit: str | None) -> str:
    return explicit or os.environ.get("ECGLAB_DATA") or str(REPO.parent / "shared" / "data")


def _json_safe(obj: Any) -> Any:
    """NaN is not JSON: write null instead."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def _rename(leads: tuple[str, ...], naming: str) -> list[str]:
    if naming == "ecg":
        return [f"ECG{i + 1}" for i in range(len(leads))]
    if naming == "standard":
        return ["II" if lead == "MLII" else "I" if lead == "MLI" else "III" if lead == "MLIII" else lead
                for lead in leads]  # fmt: skip
    return list(leads)


def prepare_record(cond: Condition, mitdb: Path, record: str, folder: Path) -> tuple[Path, dict[str, Any]]:
    """The record as the condition's database would hold it; returns its ``.hea`` path and facts."""
    import wfdb

    from ecglab.io.wfdb_io import read_wfdb, write_annotations

    if cond.naming == "original":
        return mitdb / f"{record}.hea", {"clipped_samples": 0}
    rec = read_wfdb(mitdb / record).resample(cond.fs)
    leads = _rename(rec.leads, cond.naming)
    # Quantise as the target database would: fixed gain, baseline 0; clip to the format's range.
    lim = (2**11 if cond.fmt == "212" else 2**15) - 1
    x = rec.signal.astype(np.float64)
    clipped = int(np.sum(np.abs(x) * cond.adc_gain > lim - 1))
    x = np.clip(x, -(lim - 1) / cond.adc_gain, (lim - 1) / cond.adc_gain)
    wfdb.wrsamp(
        record,
        fs=cond.fs,
        units=["mV"] * rec.n_leads,
        sig_name=leads,
        p_signal=x.T,
        fmt=[cond.fmt] * rec.n_leads,
        adc_gain=[cond.adc_gain] * rec.n_leads,
        baseline=[0] * rec.n_leads,
        comments=[f"MIT-BIH record {record} resampled 360 -> {cond.fs:g} Hz by ecglab benchmark"],
        write_dir=str(folder),
    )
    write_annotations(rec.annotations, folder / record, cond.fs, "atr")  # wfdb.wrann
    return folder / f"{record}.hea", {"clipped_samples": clipped}


def predict_in_process(classifier: Any, heas: list[Path], out: Path, desc: str) -> dict[str, dict[str, Any]]:
    """What ``ecglab predict`` does per record (its reader, predict, write_csv), timed per record."""
    from ecglab.cli.predict import _read

    info = {}
    for hea in tqdm(heas, desc=desc, unit="record", file=sys.stderr, leave=False):
        t0 = time.perf_counter()
        rec = _read(hea, None, None)
        result = classifier.predict(rec)
        result.write_csv(out / f"{result.output_name}.beats.csv")
        info[hea.stem] = {"seconds": time.perf_counter() - t0, "leads_used": list(result.leads),
                          "record_leads": list(rec.leads), "notes": list(result.notes)}  # fmt: skip
    return info


def predict_cli(model: str, heas: list[Path], out: Path, threads: int) -> dict[str, dict[str, Any]]:
    """The real ``ecglab predict`` command on the records; seconds are its wall time per record."""
    exe = Path(sys.executable).with_name("ecglab")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    subprocess.run([str(exe), "predict", "--model", model, *map(str, heas), "--out", str(out)],
                   check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
    per = (time.perf_counter() - t0) / len(heas)
    return {hea.stem: {"seconds": per} for hea in heas}


def read_beats_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    """Samples and labels of a ``<record>.beats.csv`` written by ``ecglab predict``."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([int(r["sample"]) for r in rows], np.int64), [r["label"] for r in rows]


def at_reference(classifier: Any, hea: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` of the classifier at the record's reference beats (AAMI beats only)."""
    from ecglab.datasets.mitdb import AAMI_MAP
    from ecglab.io.wfdb_io import read_wfdb

    rec = read_wfdb(hea, allow_unknown_leads=True)
    res = classifier.predict(rec, peaks="atr")
    sym = dict(zip(rec.annotations.sample.tolist(), rec.annotations.symbol, strict=False))
    labels = np.array([CLASSES.index(AAMI_MAP[sym[s]]) if sym.get(s) in AAMI_MAP else -1
                       for s in res.sample.tolist()], np.int64)  # fmt: skip
    ok = labels >= 0
    return labels[ok], res.probs.argmax(1)[ok]


def run_condition(
    cond: Condition, classifier: Any, mitdb: Path, records: list[str], work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Prepare, predict and score one condition."""
    from ecglab.evaluate.beats import NONE, _record_row, score_beat_predictions
    from ecglab.io.wfdb_io import read_annotations, read_header
    from ecglab.metrics import aggregate_scores, detection_scores, excluded_intervals, reference_beats
    from ecglab.metrics.classification import classification_report

    folder, out = work / cond.key / "records", work / cond.key / "out"
    folder.mkdir(parents=True)
    out.mkdir(parents=True)
    heas, facts = [], {}
    for record in tqdm(records, desc=f"{cond.key} Hz: write", unit="record", file=sys.stderr, leave=False):
        hea, facts[record] = prepare_record(cond, mitdb, record, folder)
        heas.append(hea)
    if args.cli:
        timing = predict_cli(args.model, heas, out, args.threads)
    else:
        timing = predict_in_process(classifier, heas, out, f"{cond.key} Hz: predict")
    rows, det, e2e_true, e2e_pred, ref_true, ref_pred = [], [], [], [], [], []
    for record, hea in zip(records, heas, strict=True):
        base = hea.with_suffix("")
        ann = read_annotations(base, "atr")
        header = read_header(base)
        fs = float(header.fs)
        samples, labels = read_beats_csv(out / f"{record}.beats.csv")
        scores = detection_scores(reference_beats(ann), samples, fs, tolerance_s=0.15,
                                  exclude=excluded_intervals(ann, header.sig_len))  # fmt: skip
        det.append(scores)
        yt, yp = score_beat_predictions(ann, fs, samples, labels)
        e2e_true.append(yt)
        e2e_pred.append(yp)
        row = {"record": record, "fs": fs, **{k: scores[k] for k in ("TP", "FN", "FP", "Se", "PPV")}}
        row |= _record_row(record, yt, yp)
        row["f1_S"] = classification_report(yt, yp, CLASSES, extra_label="none")["per_class"]["S"]["f1"]
        if args.at_reference:
            rt, rp = at_reference(classifier, hea)
            ref_true.append(rt)
            ref_pred.append(rp)
            row["ref_accuracy"] = float(np.mean(rt == rp)) if rt.size else float("nan")
        row |= timing[record] | facts[record]
        rows.append(row)
    yt, yp = np.concatenate(e2e_true), np.concatenate(e2e_pred)
    result = {
        "condition": asdict(cond),
        "detection": aggregate_scores(det),
        "end_to_end": classification_report(yt, yp, CLASSES, extra_label="none"),
        "missed": int(np.sum(yp == NONE)),
        "extra": int(np.sum(yt == NONE)),
        "seconds_per_record": float(np.mean([r["seconds"] for r in rows])),
        "per_record": rows,
    }
    if args.at_reference:
        result["reference_beats"] = classification_report(np.concatenate(ref_true), np.concatenate(ref_pred),
                                                          CLASSES)  # fmt: skip
    shutil.rmtree(work / cond.key)
    return result


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def print_table(results: dict[str, Any], title: str, console: Console) -> None:
    table = Table(title=title)
    cols = ["condition", "beats", "Se %", "PPV %", "acc", "macro-F1", "F1 N", "F1 S", "F1 V", "s/rec"]
    with_ref = any("reference_beats" in r for r in results.values())
    if with_ref:
        cols += ["acc @ref", "F1 S @ref", "F1 V @ref"]
    for col in cols:
        table.add_column(col, justify="left" if col == "condition" else "right")
    for res in results.values():
        det, e2e = res["detection"], res["end_to_end"]
        pc = e2e["per_class"]
        cells = [res["condition"]["label"], str(det["TP"] + det["FN"]), _f(100 * det["Se"], 2),
                 _f(100 * det["PPV"], 2), _f(e2e["accuracy"]), _f(e2e["macro_f1"]), _f(pc["N"]["f1"]),
                 _f(pc["S"]["f1"]), _f(pc["V"]["f1"]), _f(res["seconds_per_record"], 2)]  # fmt: skip
        if with_ref:
            ref = res.get("reference_beats")
            cells += [_f(ref["accuracy"]), _f(ref["per_class"]["S"]["f1"]), _f(ref["per_class"]["V"]["f1"])]
        table.add_row(*cells)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mitdb-beats")
    parser.add_argument("--data", default=None, help="data root holding mitdb/ (default: $ECGLAB_DATA)")
    parser.add_argument(
        "--conditions",
        default=",".join(DEFAULT_CONDITIONS),
        help=f"comma-separated, from {', '.join(CONDITIONS)} (default: %(default)s)",
    )
    parser.add_argument("--records", nargs="+", help="DS2 records to use (default: all 22)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--at-reference", action=argparse.BooleanOptionalAction, default=True,
                        help="also classify at the reference beats of each resampled record")  # fmt: skip
    parser.add_argument("--cli", action="store_true", help="run the real `ecglab predict` command")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from ecglab.datasets.mitdb import dataset_root, split_records
    from ecglab.io.wfdb_io import read_wfdb
    from ecglab.predict import BeatClassifier

    keys = [k.strip() for k in args.conditions.split(",") if k.strip()]
    unknown = [k for k in keys if k not in CONDITIONS]
    if unknown or not keys:
        parser.error(
            f"unknown condition(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(CONDITIONS)}"
        )
    ds2 = list(split_records("ds2"))
    records = args.records or ds2
    if bad := [r for r in records if r not in ds2]:
        parser.error(f"not DS2 record(s): {', '.join(bad)}")
    mitdb = dataset_root(_data_root(args.data))
    classifier = BeatClassifier.from_pretrained(args.model)
    classifier.predict(read_wfdb(mitdb / records[0]).crop_seconds(0, 20))  # warm-up: lazy imports
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ecglab-beats-resampled-") as tmp:
        for key in keys:
            results[key] = run_condition(CONDITIONS[key], classifier, mitdb, records, Path(tmp), args)
    console = Console(width=None if sys.stdout.isatty() else 150)
    how = "ecglab predict" if args.cli else "ecglab predict path, in process"
    print_table(results, f"{args.model} on DS2 ({len(records)} records) resampled; {how}, "
                f"{args.threads} thread(s); EC57 ±150 ms", console)  # fmt: skip

    import scipy
    import wfdb

    out = {
        "benchmark": "beats_resampled",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": args.model,
        "data": str(mitdb),
        "records": records,
        "threads": args.threads,
        "path": how,
        "scoring": "R peaks: EC57 gross Se/PPV, ±150 ms, beat annotations, flutter excluded; classes: "
        "end to end (score_beat_predictions: missed/extra beats count as errors) from <record>.beats.csv",
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "wfdb": wfdb.__version__,
            "torch": torch.__version__,
        },
        "conditions": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_json_safe(out), indent=1) + "\n")
    console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
