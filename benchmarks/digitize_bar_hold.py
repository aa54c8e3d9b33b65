"""Choose the bar hold of ``ecglab.digitize.separators`` on validation renders, never on test images.

The validation-fold records of ``configs/digitize-series.yaml`` (patient-grouped, ``cv.val_fold``:
never rendered for training) are rendered by ``ecglab.synth`` in ecg-image-kit's print style with
its 7 x 0.6 mm separator bars, with the panels apart and joined (``render.connect_panels``), joined
with ecg-image-kit's thinner pen, and with ecglab's own thin bars (where the hold must change
nothing). Each set is digitized by the learned model without the hold and with every hold setting,
and scored with the Kaggle metric. A setting ``MARGIN:TAIL`` (mm) holds the samples under a bar
and MARGIN beside it, plus up to TAIL mm more before the first steady sample, which gives the level
(``HOLD_MARGIN_MM``, ``HOLD_TAIL_MM``); ``0.25:0`` is the first hold, the nearest sample's value.
``MARGIN:TAIL:START_TAIL`` gives the panel starting at a bar its own reach (``HOLD_START_TAIL_MM``:
ecg-image-kit writes the lead name there, under the bar). Two sets have ecg-image-kit's name
placement (``render.label_position=kit``).
The 15 ecg-image-kit pages of ``images/cinc2024_ptbxl`` are scored too, for the record only:
choose on the validation rows.

Usage::

    python benchmarks/digitize_bar_hold.py [--model digitizer] [--count 20] [--settings 0.25:0.5 ...]

Prints a table and writes ``benchmarks/results/digitize_bar_hold.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_bar_hold.json"
SYNTH = REPO / "configs" / "synth.yaml"
SPLIT_CONFIG = REPO / "configs" / "digitize-series.yaml"
KIT = ["damage.enabled=false", "render.label_position=below", "render.lead_separators=true"]
THICK = ["render.separator_height_mm=7", "render.separator_width_mm=0.6"]
TEST_LABEL = "cinc2024_ptbxl (test: for the record)"
CONDITIONS = {
    "validation, 7 mm bars": [*KIT, *THICK],
    "validation, 7 mm bars, panels joined": [*KIT, *THICK, "render.connect_panels=true"],
    # ecg-image-kit's pen: 2 px at 200 DPI (pen_px of the pipeline on images/cinc2024_ptbxl)
    "validation, 7 mm bars, joined, 0.25 mm pen": [
        *KIT,
        *THICK,
        "render.connect_panels=true",
        "render.trace_width_mm=0.25",
    ],
    "validation, ecglab's thin bars": KIT,
    # ecg-image-kit's lead names: under the bar at the panel start, their foot 7 mm down
    "validation, 7 mm bars, kit names": [*KIT, *THICK, "render.label_position=kit"],
    "validation, 7 mm bars, kit names, joined, 0.25 mm pen": [
        *KIT,
        *THICK,
        "render.label_position=kit",
        "render.connect_panels=true",
        "render.trace_width_mm=0.25",
    ],
}


def margin_tail(text: str) -> tuple[float, ...]:
    """``MARGIN:TAIL``, ``MARGIN:TAIL:START_TAIL`` or ``MARGIN:TAIL:START_TAILb`` (mm) from the command
    line; a trailing ``b`` (a 4th value, 1) turns on ``HOLD_START_INSIDE_BAR``."""
    inside = text.endswith("b")
    values = tuple(float(v) for v in text.rstrip("b").split(":"))
    if len(values) not in (2, 3) or (inside and len(values) != 3):
        raise argparse.ArgumentTypeError(f"{text!r}: expected MARGIN:TAIL or MARGIN:TAIL:START_TAIL[b]")
    return (*values, 1.0) if inside else values


def hold_label(setting: tuple[float, ...] | None) -> str:
    """A hold setting as the tables name it."""
    if setting is None:
        return "no hold"
    return ":".join(f"{v:g}" for v in setting[:3]) + ("b" if len(setting) == 4 and setting[3] else "")


def apply_setting(separators, setting: tuple[float, ...]) -> None:
    """Set ``HOLD_MARGIN_MM``, ``HOLD_TAIL_MM``, ``HOLD_START_TAIL_MM`` (TAIL where not given) and
    ``HOLD_START_INSIDE_BAR``."""
    separators.HOLD_MARGIN_MM, separators.HOLD_TAIL_MM = setting[:2]
    separators.HOLD_START_TAIL_MM = setting[2] if len(setting) >= 3 else setting[1]
    separators.HOLD_START_INSIDE_BAR = len(setting) == 4 and bool(setting[3])


def add_settings_argument(parser: argparse.ArgumentParser, default: list[tuple[float, ...]]) -> None:
    """``--settings MARGIN:TAIL ...``, the hold settings a benchmark compares."""
    parser.add_argument(
        "--settings",
        type=margin_tail,
        nargs="+",
        default=default,
        help="MARGIN:TAIL[:START_TAIL[b]] in mm (see above)",
    )


def validation_records(data: Path) -> list[Path]:
    """The validation fold's records of the digitizer configs."""
    from ecglab.config import load_config
    from ecglab.training.digitize import record_splits

    cfg = load_config(SPLIT_CONFIG, [f"data.root={data}"])
    return [Path(p) for p in record_splits(cfg)["val"]]


def render_sets(
    records: list[Path], conditions: dict[str, list[str]], tmp: Path, seed: int, data: Path
) -> dict[str, Path]:
    """Render ``records`` under each condition's ``configs/synth.yaml`` overrides; add the test pages."""
    from ecglab.synth.job import SynthJob, load_synth_settings, run_job

    folders = {}
    for k, (label, overrides) in enumerate(conditions.items()):
        out = tmp / f"c{k}"
        job = SynthJob(
            records=[r.with_suffix("") for r in records], out_dir=out, count=len(records),
            seed=seed, settings=load_synth_settings(SYNTH, overrides),
        )  # fmt: skip
        run_job(job, workers=2)
        folders[label] = out
    folders[TEST_LABEL] = data / "images" / "cinc2024_ptbxl"
    return folders


def report(rows: list[dict], columns: list[str], title: str, payload: dict, path: Path, width: int) -> None:
    """Print the Kaggle (PhysioNet) table, one row per condition, and write ``payload`` + rows."""
    table = Table(title=title)
    table.add_column("images")
    for name in columns:
        table.add_column(name, justify="right")
    for label in dict.fromkeys(r["condition"] for r in rows):
        mine = [r for r in rows if r["condition"] == label]
        table.add_row(label, *(f"{r['kaggle_score_db']:.2f} ({r['physionet_db_mean']:.2f})" for r in mine))
    Console(width=width).print(table)
    print("Choose on the validation rows; the cinc2024_ptbxl row is the test set.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**payload, "rows": rows}, indent=1) + "\n")
    print(f"wrote {path}")


def validation_arguments(description: str, count: int) -> argparse.ArgumentParser:
    """A parser with the options both validation benchmarks share: --data, --model, --count."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("ECGLAB_DATA", REPO.parent / "shared" / "data"))
    )
    parser.add_argument("--model", default="digitizer", help="learned digitizer: shipped name or run folder")
    parser.add_argument("--count", type=int, default=count, help="validation records per condition")
    return parser


def main() -> None:
    parser = validation_arguments(__doc__.split("\n")[0], 20)
    add_settings_argument(
        parser, [(0.25, 0.0, 0.0), (0.25, 0.0, 0.5), (0.25, 0.0, 0.5, 1.0), (0.25, 0.0, 1.0, 1.0)]
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    import ecglab.digitize.separators as separators
    from ecglab.digitize.evaluate import evaluate_digitization
    from ecglab.digitize.learned import LearnedDigitizer

    model = LearnedDigitizer.from_pretrained(args.model)
    records = validation_records(args.data)[: args.count]
    defaults = (separators.HOLD_MARGIN_MM, separators.HOLD_TAIL_MM, separators.HOLD_START_TAIL_MM,
                float(separators.HOLD_START_INSIDE_BAR))  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = render_sets(records, CONDITIONS, Path(tmp), args.seed, args.data)
        try:
            for label, folder in folders.items():
                for setting in [None, *args.settings]:
                    if setting is not None:
                        apply_setting(separators, setting)
                    res = evaluate_digitization(folder, folder, model=model, hold_bars=setting is not None)
                    s = res["summary"]
                    rows.append({"condition": label, "setting": hold_label(setting), "images": s["images"],
                                 "kaggle_score_db": s["kaggle_score_db"],
                                 "physionet_db_mean": s["physionet_db_mean"]})  # fmt: skip
                    print(f"{label:40s} {hold_label(setting):12s} {s['kaggle_score_db']:6.2f} dB", flush=True)
        finally:
            apply_setting(separators, defaults)
    payload = {"model": args.model, "seed": args.seed,
               "records": [str(r.relative_to(args.data)) for r in records]}  # fmt: skip
    title = f"bar hold of {args.model}: Kaggle dB (PhysioNet dB); MARGIN:TAIL[:START_TAIL[b]] mm"
    report(rows, [hold_label(x) for x in [None, *args.settings]], title, payload, args.json, 150)


if __name__ == "__main__":
    main()
