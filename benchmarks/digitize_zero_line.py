"""Choose where 0 mV is on validation renders, never on test images: pulse foot or isoelectric line.

A printed row plots every sample against its 0 mV line, which only the calibration pulse shows: the
pulse stands on it. The isoelectric line the layout stage finds (where the trace spends its time)
sits off it by the record's own offset, which the PhysioNet 2024 SNR (no offset removed) counts as
error. With ``ecglab.digitize.layout.ZERO_FROM_PULSE`` a row with a calibration pulse, joined to
its trace or printed apart from it, is measured from the pulse's foot. The validation-fold records
of ``configs/digitize-series.yaml`` are rendered with the pulse joined to the trace (ecg-image-kit's
style, two pens, and with the default damage) and apart from it (ecglab's style, clean and
damaged); the classical tracker and the learned model read each set with the setting off and on.

A lead plotted twice (lead II in its panel and on the rhythm strip) is read from two rows whose 0 mV
lines were found separately, and the plots are averaged where they overlap. With
``ecglab.digitize.pipeline.ALIGN_LEAD_ZEROS`` they are first put on one 0 mV (a pulse-zeroed row's
when there is one). The third setting adds it; pages printed without a pulse test it alone.

The 15 ecg-image-kit pages of ``images/cinc2024_ptbxl`` are scored too, for the record only:
choose on the validation rows.

Usage::

    python benchmarks/digitize_zero_line.py [--model digitizer] [--count 12]

Prints a table and writes ``benchmarks/results/digitize_zero_line.json``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from digitize_bar_hold import KIT, THICK, render_sets, report, validation_arguments, validation_records

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_zero_line.json"
JOINED = ["render.pulse_joined=true", "render.connect_panels=true"]
CONDITIONS = {
    "validation, kit-style, pulse joined, 0.25 mm pen": [*KIT, *THICK, *JOINED, "render.trace_width_mm=0.25"],
    "validation, kit-style, pulse joined, 0.4 mm pen": [*KIT, *THICK, *JOINED],
    "validation, damaged, pulse joined": ["render.pulse_joined=true"],
    "validation, clean, pulse apart": ["damage.enabled=false"],
    "validation, damaged, pulse apart": [],
    "validation, clean, no pulse": ["damage.enabled=false", "render.calibration_pulse=false"],
    "validation, damaged, no pulse": ["render.calibration_pulse=false"],
}
#: label: (layout.ZERO_FROM_PULSE, pipeline.ALIGN_LEAD_ZEROS)
SETTINGS = {
    "isoelectric line": (False, False),
    "pulse foot": (True, False),
    "pulse foot, one 0 mV per lead": (True, True),
}


def main() -> None:
    parser = validation_arguments(__doc__.split("\n")[0], 12)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    import ecglab.digitize.layout as layout
    import ecglab.digitize.pipeline as pipeline
    from ecglab.digitize.evaluate import evaluate_digitization
    from ecglab.digitize.learned import LearnedDigitizer

    methods = {"classical": None, args.model: LearnedDigitizer.from_pretrained(args.model)}
    records = validation_records(args.data)[: args.count]
    rows = []
    defaults = layout.ZERO_FROM_PULSE, pipeline.ALIGN_LEAD_ZEROS
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folders = render_sets(records, CONDITIONS, Path(tmp), args.seed, args.data)
            for label, folder in folders.items():
                for name, model in methods.items():
                    for what, (zero, align) in SETTINGS.items():
                        layout.ZERO_FROM_PULSE, pipeline.ALIGN_LEAD_ZEROS = zero, align
                        s = evaluate_digitization(folder, folder, model=model)["summary"]
                        setting = f"{name}, {what}"
                        rows.append({"condition": label, "setting": setting, "images": s["images"],
                                     "failed": s["failed"], "kaggle_score_db": s["kaggle_score_db"],
                                     "physionet_db_mean": s["physionet_db_mean"]})  # fmt: skip
                        print(f"{label:50s} {setting:40s} {s['kaggle_score_db']:6.2f} "
                              f"({s['physionet_db_mean']:.2f}) dB", flush=True)  # fmt: skip
    finally:
        layout.ZERO_FROM_PULSE, pipeline.ALIGN_LEAD_ZEROS = defaults
    columns = list(dict.fromkeys(r["setting"] for r in rows))
    payload = {"model": args.model, "seed": args.seed,
               "records": [str(r.relative_to(args.data)) for r in records]}  # fmt: skip
    report(rows, columns, "where 0 mV is: Kaggle dB (PhysioNet dB)", payload, args.json, 240)


if __name__ == "__main__":
    main()
