"""Choose the thin-pen widening of ``ecglab.digitize.pen`` on validation renders, never on test images.

The validation-fold records of ``configs/digitize-series.yaml`` (patient-grouped, never rendered
for training) are rendered by ``ecglab.synth`` with ecglab's 0.4 mm pen and with ecg-image-kit's
0.25 mm pen (2 px at 200 DPI: the pipeline's ``pen_px`` on ``images/cinc2024_ptbxl``), at 100, 200
and 300 DPI, clean, damaged and in ecg-image-kit's print style. Each set is digitized by the
classical tracker and by the learned model without the widening and with each target width, and
scored with the Kaggle metric (PhysioNet in brackets). The 15 ecg-image-kit pages of
``images/cinc2024_ptbxl`` are scored too, for the record only: choose on the validation rows.

Usage::

    python benchmarks/digitize_pen.py [--model digitizer] [--count 12] [--targets 0.35 0.4 0.5]

Prints a table and writes ``benchmarks/results/digitize_pen.json``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_pen.json"
CLEAN = ["damage.enabled=false"]
THIN = ["render.trace_width_mm=0.25"]
KIT = ["render.label_position=below", "render.lead_separators=true", "render.separator_height_mm=7",
       "render.separator_width_mm=0.6", "render.connect_panels=true"]  # fmt: skip
CONDITIONS = {
    "clean, 0.4 mm pen, 200 DPI": CLEAN,
    "clean, 0.25 mm pen, 200 DPI": [*CLEAN, *THIN],
    "clean, 0.25 mm pen, 100 DPI": [*CLEAN, *THIN, "render.dpi=100"],
    "clean, 0.25 mm pen, 300 DPI": [*CLEAN, *THIN, "render.dpi=300"],
    "damaged, 0.25 mm pen, 200 DPI": THIN,
    "kit-style, 0.25 mm pen, 200 DPI": [*CLEAN, *THIN, *KIT],
}


def main() -> None:
    from digitize_bar_hold import render_sets, report, validation_arguments, validation_records

    parser = validation_arguments(__doc__.split("\n")[0], 12)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.35, 0.4, 0.5])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    import ecglab.digitize.pen as pen
    from ecglab.digitize.evaluate import evaluate_digitization
    from ecglab.digitize.learned import LearnedDigitizer

    model = LearnedDigitizer.from_pretrained(args.model)
    records = validation_records(args.data)[: args.count]
    default_target = pen.TARGET_PEN_MM
    settings: list[tuple[str, float | None]] = [("classical", None), ("model, as read", None)]
    settings += [(f"model, pen to {t:g} mm", t) for t in args.targets]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = render_sets(records, CONDITIONS, Path(tmp), args.seed, args.data)
        try:
            for label, folder in folders.items():
                for name, target in settings:
                    if target is not None:
                        pen.TARGET_PEN_MM = target
                    res = evaluate_digitization(
                        folder, folder, model=None if name == "classical" else model,
                        thicken_thin_pen=target is not None,
                    )  # fmt: skip
                    s = res["summary"]
                    rows.append({"condition": label, "setting": name, "target_mm": target,
                                 "images": s["images"], "kaggle_score_db": s["kaggle_score_db"],
                                 "physionet_db_mean": s["physionet_db_mean"]})  # fmt: skip
                    print(f"{label:38s} {name:22s} {s['kaggle_score_db']:6.2f} dB", flush=True)
        finally:
            pen.TARGET_PEN_MM = default_target
    payload = {"model": args.model, "seed": args.seed,
               "records": [str(r.relative_to(args.data)) for r in records]}  # fmt: skip
    title = f"thin-pen widening for {args.model}: Kaggle dB (PhysioNet dB)"
    report(rows, [name for name, _ in settings], title, payload, args.json, 170)


if __name__ == "__main__":
    main()
