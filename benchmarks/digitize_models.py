"""Choose between learned digitizers on validation renders, never on test images.

Two training runs of ``configs/digitize-series.yaml`` (say the shipped ``digitizer`` and a longer
run) are compared on the same pages: the validation-fold records (patient-grouped, never rendered
for training) rendered by ``ecglab.synth`` clean with ecglab's 0.4 mm pen, with the default damage,
in ecg-image-kit's print style (0.25 mm pen, 7 x 0.6 mm separator bars, panels joined, pulse joined)
and with a thin pen at 100 DPI. Each model reads every page through the full pipeline (widening,
holds) and is scored with the Kaggle metric (PhysioNet in brackets). The 15 ecg-image-kit pages of
``images/cinc2024_ptbxl`` are scored too, for the record only: choose on the validation rows.

Usage::

    python benchmarks/digitize_models.py --models digitizer runs/ship/digitize-series-long-... [--count 12]
    python benchmarks/digitize_models.py --models digitizer digitizer@h digitizer@v digitizer@hv

``NAME@FLIPS`` reads with flip test-time augmentation (``h``, ``v`` or ``hv``, see
``ecglab.digitize.learned.LearnedDigitizer``).

Prints a table and writes ``benchmarks/results/digitize_models.json``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from digitize_bar_hold import KIT, THICK, render_sets, report, validation_arguments, validation_records

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_models.json"
THIN = ["render.trace_width_mm=0.25"]
JOINED = ["render.connect_panels=true", "render.pulse_joined=true"]
CONDITIONS = {
    "validation, clean, 0.4 mm pen": ["damage.enabled=false"],
    "validation, damaged": [],
    "validation, kit-style, joined": [*KIT, *THICK, *THIN, *JOINED],
    "validation, clean, 0.25 mm pen, 100 DPI": ["damage.enabled=false", *THIN, "render.dpi=100"],
}


def main() -> None:
    parser = validation_arguments(__doc__.split("\n")[0], 12)
    parser.add_argument("--models", nargs="+", required=True, help="shipped names or run folders")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    from ecglab.digitize.evaluate import evaluate_digitization
    from ecglab.digitize.learned import LearnedDigitizer

    # NAME@TTA reads with test-time flips (h, v or hv; see LearnedDigitizer)
    models = {}
    for name in args.models:
        source, _, flips = name.partition("@")
        models[name] = LearnedDigitizer.from_pretrained(source, tta=flips or False)
    records = validation_records(args.data)[: args.count]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = render_sets(records, CONDITIONS, Path(tmp), args.seed, args.data)
        for label, folder in folders.items():
            for name, model in models.items():
                s = evaluate_digitization(folder, folder, model=model)["summary"]
                rows.append({"condition": label, "setting": name, "images": s["images"],
                             "failed": s["failed"], "kaggle_score_db": s["kaggle_score_db"],
                             "physionet_db_mean": s["physionet_db_mean"]})  # fmt: skip
                print(f"{label:42s} {name:50s} {s['kaggle_score_db']:6.2f} dB", flush=True)
    payload = {"models": args.models, "seed": args.seed,
               "records": [str(r.relative_to(args.data)) for r in records]}  # fmt: skip
    report(rows, list(models), "learned digitizers: Kaggle dB (PhysioNet dB)", payload, args.json, 170)


if __name__ == "__main__":
    main()
