"""``ecglab evaluate --model M --dataset mitdb --split ds2 --out DIR``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ecglab.cli.console import console
from ecglab.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to the app."""
    app.command("evaluate")(evaluate)


def evaluate(
    model: str = typer.Option("mitdb-beats", "--model", "-m", help="Shipped model name or a run folder."),
    dataset: str = typer.Option("mitdb", help="Dataset to evaluate on (mitdb)."),
    split: str = typer.Option("ds2", help="Split: ds2 (test), ds1, val, train."),
    records_opt: str | None = typer.Option(
        None,
        "--records",
        help="Comma-separated record names instead of --split (e.g. 232, or 118e00 with "
        "--data pointing at an nstdb folder).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for metrics.json and plots."),
    data: Path | None = typer.Option(None, "--data", help="Data root (else $ECGLAB_DATA, then the cache)."),
    backend: str = typer.Option("torch", help="torch or onnx."),
) -> None:
    """Metrics at the reference beats and end to end with ecglab's detector."""
    from ecglab.datasets.mitdb import split_records
    from ecglab.evaluate import evaluate_beat_model
    from ecglab.predict import BeatClassifier

    if dataset != "mitdb":
        raise ConfigError(f"--dataset {dataset!r}: beat models evaluate on mitdb")
    classifier = BeatClassifier.from_pretrained(model, backend=backend)
    cfg = classifier.cfg  # val/train are the model's own held-out / training records
    if records_opt:
        records, split = [r.strip() for r in records_opt.split(",") if r.strip()], "records"
    else:
        records = list(split_records(split, val_fraction=cfg.beats.val_fraction, seed=int(cfg.cv.seed)))
    result = evaluate_beat_model(
        classifier, records, out, data_root=str(data) if data else None, split_name=split
    )
    table = Table(title=f"{model} on MIT-BIH {split} ({len(records)} records)")
    for col in ("beats at", "n", "accuracy", "macro F1", "Se S", "PPV S", "F1 S", "Se V", "PPV V", "F1 V"):
        table.add_column(col, justify="right")
    for name, rep in (("reference", result["reference_beats"]), ("ecglab detector", result["end_to_end"])):
        s, v = rep["per_class"]["S"], rep["per_class"]["V"]
        cells = [_pct(rep["accuracy"]), _num(rep["macro_f1"])]
        cells += [
            _pct(s["sensitivity"]),
            _pct(s["ppv"]),
            _num(s["f1"]),
            _pct(v["sensitivity"]),
            _pct(v["ppv"]),
        ]
        table.add_row(name, str(rep["n"]), *cells, _num(v["f1"]))
    console.print(table)
    console.print(f"metrics.json, per_record.csv and confusion matrices in {out}/")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"
