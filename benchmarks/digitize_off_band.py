"""Choose when the learned digitizer takes the classical trace where a stroke leaves its band.

The ``series`` model sees a 48 mm band around each row's baseline (+-2.4 mV at 10 mm/mV); a taller
QRS leaves it, and the model, unable to follow, jumps to whatever the band shows. Where the
classical tracker's trace reaches the band's edge and the model is unsure
(``ecglab.digitize.learned.OFF_BAND_CONFIDENCE``; 0, the default, is off), the tracker's samples
are taken instead. This benchmark scores that rule off and at several confidence bars on validation
renders (the
validation-fold records of ``configs/digitize-series.yaml``, never rendered for training): clean
and damaged pages of the first records, and the records with a lead beyond +-2.3 mV in its first
10 s, clean and in ecg-image-kit's print style. The 15 ecg-image-kit pages of
``images/cinc2024_ptbxl`` and ecg-image-kit's own 4 sample pages are scored for the record only:
choose on the validation rows.

Usage::

    python benchmarks/digitize_off_band.py [--model digitizer] [--count 12] [--tall 16]

Prints a table and writes ``benchmarks/results/digitize_off_band.json``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from digitize_bar_hold import (
    KIT,
    TEST_LABEL,
    THICK,
    render_sets,
    report,
    validation_arguments,
    validation_records,
)
from digitize_compare import kit_samples_folder

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_off_band.json"
THIN_JOINED = ["render.trace_width_mm=0.25", "render.connect_panels=true", "render.pulse_joined=true"]
#: Confidence bars scored; ``off`` never takes the tracker's samples.
SETTINGS: dict[str, float] = {"off": -1.0, "0.3": 0.3, "0.5": 0.5, "0.7": 0.7}
TALL_MV = 2.3


def tall_records(records: list[Path], limit_mv: float = TALL_MV) -> list[Path]:
    """The records with a lead further than ``limit_mv`` from its median in the first 10 s."""
    from ecglab.io import read_record

    out = []
    for path in records:
        rec = read_record(path)
        x = rec.signal[:, : int(10 * rec.fs)]
        if np.nanmax(np.abs(x - np.nanmedian(x, axis=1, keepdims=True))) > limit_mv:
            out.append(path)
    return out


def main() -> None:
    parser = validation_arguments(__doc__.split("\n")[0], 12)
    parser.add_argument("--tall", type=int, default=16, help="validation records with a tall lead")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    from ecglab.digitize import learned
    from ecglab.digitize.evaluate import evaluate_digitization
    from ecglab.digitize.learned import LearnedDigitizer

    model = LearnedDigitizer.from_pretrained(args.model)
    records = validation_records(args.data)
    tall = tall_records(records)[: args.tall]
    sets = {
        "validation, clean": (records[: args.count], ["damage.enabled=false"]),
        "validation, damaged": (records[: args.count], []),
        f"validation, a lead beyond {TALL_MV} mV, clean": (tall, ["damage.enabled=false"]),
        f"validation, a lead beyond {TALL_MV} mV, kit-style, joined": (tall, [*KIT, *THICK, *THIN_JOINED]),
    }
    rows = []
    default = learned.OFF_BAND_CONFIDENCE
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for k, (label, (recs, overrides)) in enumerate(sets.items()):
            made = render_sets(recs, {label: overrides}, Path(tmp) / f"s{k}", args.seed, args.data)
            folders[label] = made[label]
        folders[TEST_LABEL] = args.data / "images" / "cinc2024_ptbxl"
        folders["ecg-image-kit samples (test: for the record)"] = kit_samples_folder(
            args.data, Path(tmp) / "kit_samples"
        )
        try:
            for label, folder in folders.items():
                for name, bar in SETTINGS.items():
                    learned.OFF_BAND_CONFIDENCE = bar
                    s = evaluate_digitization(folder, folder, model=model)["summary"]
                    rows.append({"condition": label, "setting": name, "images": s["images"],
                                 "failed": s["failed"], "kaggle_score_db": s["kaggle_score_db"],
                                 "physionet_db_mean": s["physionet_db_mean"]})  # fmt: skip
                    print(f"{label:52s} {name:5s} {s['kaggle_score_db']:6.2f} dB", flush=True)
        finally:
            learned.OFF_BAND_CONFIDENCE = default
    payload = {
        "model": args.model,
        "seed": args.seed,
        "settings": SETTINGS,
        "records": [str(r.relative_to(args.data)) for r in records[: args.count]],
        "tall_records": [str(r.relative_to(args.data)) for r in tall],
    }
    title = "classical samples where a stroke leaves the model's band: Kaggle dB (PhysioNet dB)"
    report(rows, list(SETTINGS), title, payload, args.json, 170)


if __name__ == "__main__":
    main()
