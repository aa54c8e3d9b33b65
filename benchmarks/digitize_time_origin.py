"""Where a digitized row's t = 0 lands, and what a late or early start costs.

A page plots each sample at ``x_start + t * px_per_s``; the digitizer finds ``x_start`` from the
row's leftmost ink column plus the stroke's cap (``ecglab.digitize.layout.stroke_cap_px``). A
start off by half a pixel is 2.5-5 ms of paper time, and on a QRS slope that is a large error:
the PhysioNet 2024 SNR aligns nothing, so it counts all of it (the Kaggle metric takes out the best
whole-sample shift only).

Validation-fold records (patient-grouped, never rendered for training) are rendered clean by
``ecglab.synth`` at several DPIs and pen widths, plus ecg-image-kit's print style (0.25 mm pen,
calibration pulse and panels joined to the trace, 7 mm bars), and the 15 ecg-image-kit pages of
``images/cinc2024_ptbxl`` are read too, for the record only (no t0 truth). For each setting of the pipeline
(``shipped``: a quarter pen as the cap, the pen widening's half-pixel shift left in;
``thin: no cap``: pens of at most 3 mask pixels get no cap; ``+ re-centred``: that, and the
widening shifted back) the table gives

- ``t0 ms``: the detected rows' ``x_start`` minus the renderer's, mean over rows;
- ``shift ms``: the time shift that best fits the digitized signal to the truth (negative:
  the signal comes early), mean over pages, for the classical tracker and the ``digitizer`` model;
- Kaggle dB and PhysioNet dB of both.

Usage::

    python benchmarks/digitize_time_origin.py [--count 8] [--model digitizer]

Prints a table and writes ``benchmarks/results/digitize_time_origin.json``.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_time_origin.json"
KIT = {"label_position": "below", "lead_separators": True, "separator_height_mm": 7,
       "separator_width_mm": 0.6, "connect_panels": True, "pulse_joined": True}  # fmt: skip
CONDITIONS: dict[str, dict] = {
    "100 DPI, 0.25 mm pen": {"dpi": 100, "trace_width_mm": 0.25},
    "150 DPI, 0.25 mm pen": {"dpi": 150, "trace_width_mm": 0.25},
    "200 DPI, 0.25 mm pen": {"dpi": 200, "trace_width_mm": 0.25},
    "200 DPI, 0.4 mm pen": {"dpi": 200, "trace_width_mm": 0.4},
    "300 DPI, 0.25 mm pen": {"dpi": 300, "trace_width_mm": 0.25},
    "300 DPI, 0.4 mm pen": {"dpi": 300, "trace_width_mm": 0.4},
    "200 DPI, ecg-image-kit style": {"dpi": 200, "trace_width_mm": 0.25, **KIT},
}
#: (CAP_FREE_PEN_PX, RECENTRE_ODD_GROWTH) of each pipeline setting.
SETTINGS = {"shipped": (0.0, False), "thin: no cap": (3.0, False), "+ re-centred": (3.0, True)}
SHIFTS_SAMPLES = np.arange(-4.0, 4.01, 0.25)


def best_shift_ms(truth: np.ndarray, pred: np.ndarray, fs: float) -> float:
    """The shift (ms; quarter samples up to 4 samples either way) that minimises the squared error
    over plotted samples."""
    x = np.arange(truth.shape[1], dtype=np.float64)
    errors = []
    for s in SHIFTS_SAMPLES:
        total, count = 0.0, 0
        for t, p in zip(truth, pred, strict=True):
            ok = np.isfinite(p)
            if ok.sum() < 10:
                continue
            q = np.interp(x + s, x[ok], p[ok], left=np.nan, right=np.nan)
            q[~ok] = np.nan
            e = (q - t)[np.isfinite(q - t)]
            total, count = total + float(np.sum(e**2)), count + e.size
        errors.append(total / count if count else math.inf)
    return float(SHIFTS_SAMPLES[int(np.argmin(errors))] * 1000.0 / fs)


def main() -> None:
    from digitize_bar_hold import TEST_LABEL, validation_arguments, validation_records

    parser = validation_arguments(__doc__.split("\n")[0], 8)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    from ecglab.digitize import layout as layout_mod
    from ecglab.digitize import pen as pen_mod
    from ecglab.digitize.evaluate import pair_images, read_truth, score_prediction
    from ecglab.digitize.learned import load_digitizer
    from ecglab.digitize.pipeline import digitize_image
    from ecglab.io import read_record
    from ecglab.metrics.snr import kaggle_score
    from ecglab.synth.render import render_page
    from ecglab.synth.settings import RenderSettings

    warnings.simplefilter("ignore", RuntimeWarning)
    records = [read_record(r) for r in validation_records(args.data)[: args.count]]
    model = load_digitizer(args.model)
    rows = []
    head = "shift ms, Kaggle, PhysioNet"
    methods = " | ".join(f"{name + ': ' + head:>40s}" for name in ("classical", "digitizer"))
    print(f"{'condition':30s} {'setting':12s} {'t0 ms':>6s} | {methods}")
    sets = {}
    for label, overrides in CONDITIONS.items():
        settings = RenderSettings(layout="3x4+1", **overrides)
        pages = [render_page(rec, settings, rng=k) for k, rec in enumerate(records)]
        sets[label] = [(p.image, p.signal, p.fs, p) for p in pages]
    pairs, _ = pair_images(args.data / "images" / "cinc2024_ptbxl", args.data / "images" / "cinc2024_ptbxl")
    sets[TEST_LABEL] = [(pair.image, *read_truth(pair), None) for pair in pairs]  # no t0 truth
    for label, items in sets.items():
        for setting, (cap, recentre) in SETTINGS.items():
            layout_mod.CAP_FREE_PEN_PX, pen_mod.RECENTRE_ODD_GROWTH = cap, recentre
            t0: list[float] = []
            row: dict = {"condition": label, "setting": setting}
            for method, reader in (("classical", None), ("digitizer", model)):
                shifts, kaggle, physio = [], [], []
                for image, truth, fs, page in items:
                    res = digitize_image(image, fs=fs, duration_s=truth.shape[1] / fs, model=reader)
                    if reader is None and page is not None:
                        ms_per_px = 1000.0 / (page.meta["px_per_mm"] * 25.0)
                        for r in res.layout.rows:
                            x0 = min(g.x0 for g in page.geometry if abs(g.baseline_y - r.baseline_y) < 10)
                            t0.append((r.x_start - x0) * ms_per_px)
                    scores = score_prediction(truth, res.signal.astype(np.float64), fs)
                    kaggle.append(scores.pop("_kaggle"))
                    physio += [v["physionet_db"] for v in scores["leads"].values()]
                    shifts.append(best_shift_ms(truth, res.signal, fs))
                row[method] = {
                    "shift_ms": float(np.mean(shifts)),
                    "shift_sd_ms": float(np.std(shifts)),
                    "kaggle_score_db": kaggle_score(kaggle),
                    "physionet_db_mean": float(np.nanmean(physio)),
                }
            row["t0_error_ms"] = float(np.mean(t0)) if t0 else math.nan
            row["t0_sd_ms"] = float(np.std(t0)) if t0 else math.nan
            rows.append(row)
            c, m = row["classical"], row["digitizer"]
            keys = ("shift_ms", "kaggle_score_db", "physionet_db_mean")
            cells = [f"{x[keys[0]]:14.2f} {x[keys[1]]:12.2f} {x[keys[2]]:12.2f}" for x in (c, m)]
            t0_ms = row["t0_error_ms"]
            print(f"{label[:30]:30s} {setting:12s} {t0_ms:6.2f} | {cells[0]} | {cells[1]}", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    keys = ("cap_free_pen_px", "recentre_odd_growth")
    settings_json = {k: dict(zip(keys, v, strict=True)) for k, v in SETTINGS.items()}
    payload = {"count": args.count, "settings": settings_json, "rows": rows}
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
