"""The real photos and scans of ``images/ecg_image_kit_real``: which ones the digitizer can place.

These 26 images (phone photos and screenshots of real printouts, shipped with ecg-image-kit) have no
truth signals, so no SNR can be computed. What can be checked is the layout stage every method
shares: is the page read at all, with which layout, by which mask (the plain trace mask, or the
faint-ink mask with dashes bridged for a thin pen photographed at about 4 px/mm), in how many
seconds, which leads the rhythm strips were read as (how many matched a panel above; the others
keep the layout's default) and in how many rows a calibration pulse joined to the trace was
skipped. Each image's overlay PNG is written so that the reading can be looked at.

``EXPECTED`` holds the layout of each page **as read by eye** from the image (rows of leads and
rhythm strips); ``?`` where the page is cropped so that it cannot be told. A layout that matches
is no proof that every panel is placed right: look at the overlays.

Usage::

    python benchmarks/digitize_photos.py [--model digitizer|classical] [--out DIR]

Prints a table and writes ``benchmarks/results/digitize_photos.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "digitize_photos.json"
FAINT_NOTE = "faint-ink mask"
#: Layouts read by eye from the images (``?``: cropped, cannot be told).
EXPECTED = {
    "ecg00001": "3x4+1", "ecg00003": "3x4+1", "ecg00005": "?", "ecg00007": "3x4",
    "ecg00009": "3x4+1", "ecg00011": "3x4+1", "ecg00013": "3x4", "ecg00015": "3x4",
    "ecg00017": "3x4", "ecg00019": "3x4", "ecg00021": "3x4", "ecg00023": "3x4",
    "ecg00025": "3x4", "ecg00027": "3x4+1", "ecg00029": "3x4+1", "ecg00031": "3x4+1",
    "ecg00033": "3x4+1", "ecg00035": "3x4+1", "ecg00037": "3x4+1", "ecg00039": "3x4+1",
    "ecg00041": "3x4+1", "ecg00043": "3x4+1", "ecg00045": "3x4+1", "ecg00047": "3x4+1",
    "ecg00049": "3x4+1", "ecg00053": "3x4+3",
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("ECGLAB_DATA", REPO.parent / "shared" / "data"))
    )
    parser.add_argument("--model", default="digitizer", help="learned digitizer, or 'classical'")
    parser.add_argument("--out", type=Path, default=Path("runs/digitize_photos"), help="overlay PNGs")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()

    import cv2

    from ecglab.digitize import digitize_image
    from ecglab.digitize.image import load_image
    from ecglab.digitize.learned import LearnedDigitizer
    from ecglab.digitize.overlay import draw_overlay

    cv2.setNumThreads(2)
    folder = args.data / "images" / "ecg_image_kit_real"
    images = sorted(p for p in folder.iterdir() if p.stem in EXPECTED)
    model = None if args.model == "classical" else LearnedDigitizer.from_pretrained(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in images:
        clock = time.perf_counter()
        row = {"image": path.name, "expected": EXPECTED[path.stem]}
        try:
            result = digitize_image(path, model=model)
        except Exception as exc:  # every failure is listed, none stops the run
            row.update(layout=None, mask=None, error=str(exc).replace(f"{path}: ", ""), rhythm=None)
        else:
            faint = any(FAINT_NOTE in n for n in result.notes)
            strips = [p.lead for p in result.layout.panels if p.rhythm]
            read = next((n for n in result.notes if n.startswith("rhythm strip(s) read as")), "")
            row.update(
                layout=result.layout.name,
                mask="faint" if faint else "plain",
                error=None,
                rhythm=" ".join(strips),
                rhythm_read=read.count("(row "),
                pulses_skipped=sum(r.pulse_skipped for r in result.layout.rows),
            )
            picture = draw_overlay(load_image(path), result)
            cv2.imwrite(str(args.out / f"{path.stem}.overlay.png"), picture[:, :, ::-1])
        row["seconds"] = round(time.perf_counter() - clock, 2)
        row["layout_matches"] = row["layout"] == row["expected"] if row["expected"] != "?" else None
        rows.append(row)
    _print(rows)
    labelled = [r for r in rows if r["expected"] != "?"]
    summary = {
        "images": len(rows),
        "read": sum(r["layout"] is not None for r in rows),
        "read_with_faint_mask": sum(r["mask"] == "faint" for r in rows),
        "labelled": len(labelled),
        "layout_matches": sum(bool(r["layout_matches"]) for r in labelled),
    }
    payload = {
        "benchmark": "digitize_photos",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": args.model,
        "expected": "layouts read by eye from the images",
        "summary": summary,
        "images": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print(
        f"read {summary['read']} of {summary['images']} "
        f"({summary['read_with_faint_mask']} with the faint-ink mask); "
        f"layout as read by eye on {summary['layout_matches']} of {summary['labelled']}; "
        f"overlays in {args.out}/; wrote {args.json}"
    )


def _print(rows: list[dict]) -> None:
    table = Table(title="ecg_image_kit_real: layout stage")
    for col in ("image", "expected", "layout", "rhythm", "mask", "s", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["image"], r["expected"], str(r["layout"] or "-"), _rhythm(r), str(r["mask"] or "-"),
            f"{r['seconds']:.2f}",
            (r["error"] or "")[:40],
        )  # fmt: skip
    Console().print(table)


def _rhythm(row: dict) -> str:
    """Rhythm strip leads and how many of them were read from the page (the rest are defaults)."""
    if not row.get("rhythm"):
        return "-"
    return f"{row['rhythm']} ({row['rhythm_read']} read)"


if __name__ == "__main__":
    main()
