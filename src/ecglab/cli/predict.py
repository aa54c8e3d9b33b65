"""``ecglab predict --model M PATH... --out DIR``: run a trained model on records."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ecglab.cli.console import console, debug_enabled, err_console
from ecglab.errors import EcglabError


def register(app: typer.Typer) -> None:
    """Add ``predict`` to the app."""
    app.command("predict")(predict)


def predict(
    paths: list[Path] = typer.Argument(..., help="Records (any kind ecglab reads) or folders of records."),
    model: str = typer.Option(
        "mitdb-beats", "--model", "-m", help="Shipped model (mitdb-beats, cinc-12lead) or a run folder."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    backend: str = typer.Option("torch", help="torch or onnx (onnxruntime; export the model first)."),
    onnx_path: Path | None = typer.Option(None, "--onnx", help="ONNX file for --backend onnx."),
    peaks_from: str = typer.Option("ecglab", help="ecglab (own detector) or atr (reference annotations)."),
    leads: str | None = typer.Option(None, help="Comma-separated leads to use instead of choosing."),
    fs: float | None = typer.Option(None, help="Sampling rate of CSV records without a time column."),
    units: str | None = typer.Option(None, help="Amplitude unit of CSV columns that state none."),
) -> None:
    """Run a model on each record.

    A beat model (mitdb-beats) writes <record>.beats.csv and <record>.ecglab; a 12-lead model
    (cinc-12lead) writes <record>.csv in the PhysioNet/CinC challenge output format.
    """
    from ecglab.io.reader import iter_record_paths
    from ecglab.pretrained import load_model_config

    if peaks_from not in ("ecglab", "atr"):
        raise typer.BadParameter("--peaks-from must be ecglab or atr")
    _, cfg = load_model_config(model)
    targets = [p for path in paths for p in (iter_record_paths(path) if path.is_dir() else [path])]
    out.mkdir(parents=True, exist_ok=True)
    if cfg.task == "multilabel":
        _predict_multilabel(targets, model, out, backend, onnx_path, fs, units)
        return
    _predict_beats(targets, model, out, backend, onnx_path, peaks_from, leads, fs, units)


def _read(path: Path, fs: float | None, units: str | None) -> Any:
    from ecglab.io.reader import detect_kind, read_record

    kind = detect_kind(path)
    options = {"fs": fs, "units": units} if kind == "csv" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_record(path, kind=kind, allow_unknown_leads=True, **options)


def _run_records(
    targets: list[Path],
    fs: float | None,
    units: str | None,
    table: Table,
    out: Path,
    handle: Callable[[Path, Any, dict[str, Path]], list[str]],
) -> None:
    """Read each record and ``handle(path, rec, written)`` it (it writes outputs, returns a table row).

    A bad record is reported and skipped; the failures are listed at the end with exit code 1.
    ``written`` maps output names to the records that produced them, so that no record silently
    overwrites another one's outputs.
    """
    failures: list[tuple[Path, str]] = []
    written: dict[str, Path] = {}
    for path in targets:
        try:
            row = handle(path, _read(path, fs, units), written)
        except EcglabError as exc:
            if debug_enabled():
                raise
            failures.append((path, str(exc)))
            err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            continue
        table.add_row(*row)
    console.print(table)
    console.print(f"outputs in {escape(str(out))}/")
    if failures:
        err_console.print(f"[red]{len(failures)} of {len(targets)} record(s) failed:[/]")
        for path, _ in failures:
            err_console.print(f"  {escape(str(path))}", highlight=False)
        raise typer.Exit(1)


def _claim(written: dict[str, Path], name: str, path: Path, files: str) -> None:
    """Reserve output name ``name`` for ``path``; refuse a second record with the same name."""
    if name in written:
        raise EcglabError(f"{path}: outputs would overwrite those of {written[name]} ({files})")
    written[name] = path


def _predict_multilabel(
    targets: list[Path],
    model: str,
    out: Path,
    backend: str,
    onnx_path: Path | None,
    fs: float | None,
    units: str | None,
) -> None:
    """One challenge output file per record, and a table of the positive classes."""
    from ecglab.predict import MultilabelClassifier

    classifier = MultilabelClassifier.from_pretrained(model, backend=backend, onnx_path=onnx_path)
    table = Table(title=f"12-lead classes by {model} ({backend})")
    for col in ("record", "fs", "s", "predicted", "notes"):
        table.add_column(col, overflow="fold")

    def handle(path: Path, rec: Any, written: dict[str, Path]) -> list[str]:
        result = classifier.predict(rec)
        _claim(written, result.record_id, path, f"{result.record_id}.csv")
        result.write_challenge(out / f"{result.record_id}.csv")
        return [result.record_id, f"{rec.fs:g}", f"{rec.duration:.1f}",
                escape(", ".join(result.positive()) or "-"), escape("; ".join(result.notes))]  # fmt: skip

    _run_records(targets, fs, units, table, out, handle)


def _predict_beats(
    targets: list[Path],
    model: str,
    out: Path,
    backend: str,
    onnx_path: Path | None,
    peaks_from: str,
    leads: str | None,
    fs: float | None,
    units: str | None,
) -> None:
    """<record>.beats.csv and <record>.ecglab per record."""
    from ecglab.predict import BeatClassifier

    classifier = BeatClassifier.from_pretrained(model, backend=backend, onnx_path=onnx_path)
    table = Table(title=f"beats by {model} ({backend})")
    for col in ("record", "fs", "leads", "beats", "N", "S", "V", "F", "Q", "notes"):
        table.add_column(col, overflow="fold")

    def handle(path: Path, rec: Any, written: dict[str, Path]) -> list[str]:
        result = classifier.predict(
            rec,
            peaks="atr" if peaks_from == "atr" else None,
            leads=[x.strip() for x in leads.split(",")] if leads else None,
        )
        _claim(written, result.output_name, path, f"{result.output_name}.beats.csv")
        result.write_csv(out / f"{result.output_name}.beats.csv")
        result.write_annotations(out)
        counts = result.counts()
        return [result.record_id, f"{rec.fs:g}", ",".join(result.leads), str(len(result.sample)),
                *(str(counts[c]) for c in "NSVFQ"), escape("; ".join(result.notes))]  # fmt: skip

    _run_records(targets, fs, units, table, out, handle)
