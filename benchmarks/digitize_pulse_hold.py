"""Choose how far past a joined calibration pulse's edge the row's first samples are held (validation).

ecg-image-kit draws each row's trace from the calibration pulse's falling edge (``render.pulse_joined``
in ``ecglab.synth``): the row's first samples lie on a vertical stroke up to 1 mV tall, from which
neither the model nor the column tracker can read a level. ``ecglab.digitize.separators`` holds the
samples within ``PULSE_HOLD_MM`` = (MARGIN, TAIL), per method, of the edge: those under it and MARGIN mm
beside it, plus up to TAIL mm more before the first steady sample, which gives the level. This benchmark
renders the validation-fold records of ``configs/digitize-series.yaml`` (never rendered for
training) in ecg-image-kit's print style with the pulse joined (its 0.25 mm pen and ecglab's 0.4 mm)
and apart (where the hold must change nothing), digitizes them with the learned model and the
classical tracker, without the hold and with each setting, and scores them with the Kaggle metric.
The 15 ecg-image-kit pages of ``images/cinc2024_ptbxl`` are scored too, for the record only: choose
on the validation rows.

Usage::

    python benchmarks/digitize_pulse_hold.py [--model digitizer] [--count 20] [--settings 0.25:0.5 ...]

Prints a table and writes ``benchmarks/results/digitize_pulse_hold.json``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from digitize_bar_hold import (
    KIT,
    THICK,
    add_settings_argument,
    hold_label,
    render_sets,
    report,
    validation_arguments,
    validation_records,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_pulse_hold.json"
JOINED = [*KIT, *THICK, "render.connect_panels=true", "render.pulse_joined=true"]
CONDITIONS = {
    "validation, pulse joined, 0.25 mm pen": [*JOINED, "render.trace_width_mm=0.25"],
    "validation, pulse joined, 0.4 mm pen": JOINED,
    "validation, pulse apart": [*KIT, *THICK, "render.connect_panels=true"],
}


def main() -> None:
    parser = validation_arguments(__doc__.split("\n")[0], 20)
    add_settings_argument(parser, [(0.25, 0.0), (0.25, 0.5), (0.25, 1.0), (0.5, 0.5)])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    import ecglab.digitize.separators as separators
    from ecglab.digitize.evaluate import evaluate_digitization
    from ecglab.digitize.learned import LearnedDigitizer

    methods = {args.model: LearnedDigitizer.from_pretrained(args.model), "classical": None}
    records = validation_records(args.data)[: args.count]
    default = separators.PULSE_HOLD_MM
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = render_sets(records, CONDITIONS, Path(tmp), args.seed, args.data)
        try:
            for label, folder in folders.items():
                for name, model in methods.items():
                    for setting in [None, *args.settings]:
                        separators.PULSE_HOLD_MM = {"learned": setting, "classical": setting}
                        res = evaluate_digitization(folder, folder, model=model)
                        s = res["summary"]
                        rows.append({"condition": f"{label}, {name}", "setting": hold_label(setting),
                                     "images": s["images"], "kaggle_score_db": s["kaggle_score_db"],
                                     "physionet_db_mean": s["physionet_db_mean"]})  # fmt: skip
                        print(
                            f"{label:40s} {name:10s} {hold_label(setting):8s} {s['kaggle_score_db']:6.2f} dB",
                            flush=True,
                        )
        finally:
            separators.PULSE_HOLD_MM = default
    payload = {"model": args.model, "seed": args.seed,
               "records": [str(r.relative_to(args.data)) for r in records]}  # fmt: skip
    title = "pulse-edge hold: Kaggle dB (PhysioNet dB); MARGIN:TAIL mm"
    report(rows, [hold_label(x) for x in [None, *args.settings]], title, payload, args.json, 160)


if __name__ == "__main__":
    main()
