"""``ecglab info PATH...``: a summary table of any record (or of every record in a folder)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ecglab.cli.console import console, debug_enabled, err_console
from ecglab.errors import EcglabError
from ecglab.io.leads import is_known_lead
from ecglab.io.reader import RECORD_KINDS, detect_kind, iter_record_paths, read_record
from ecglab.io.summary import summarize


def register(app: typer.Typer) -> None:
    """Add ``info`` to the app."""
    app.command("info")(info)


def info(
    paths: list[Path] = typer.Argument(..., help="Record files, record paths without extension, or folders."),
    kind: str | None = typer.Option(None, help=f"Force a reader: {', '.join(RECORD_KINDS)}."),
    fs: float | None = typer.Option(None, help="Sampling rate in Hz (CSV without a time column)."),
    units: str | None = typer.Option(None, help="Amplitude unit of CSV columns that state none."),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON (one object per record) instead of tables."
    ),
) -> None:
    """Summarise records: fs, duration, leads, units, gain, format, annotation counts by symbol."""
    targets = _expand(paths)
    summaries, failures = [], []
    for path in targets:
        try:
            summaries.append(_summarize_path(path, kind=kind, fs=fs, units=units))
        except EcglabError as exc:
            if debug_enabled():
                raise
            failures.append((path, str(exc)))
            err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    if as_json:
        console.print_json(json.dumps(summaries if len(targets) > 1 else (summaries or [None])[0]))
    elif len(summaries) == 1 and len(targets) == 1:
        _print_one(summaries[0])
    elif summaries:
        _print_many(summaries)
    if failures:
        err_console.print(f"[red]{len(failures)} of {len(targets)} record(s) failed:[/]")
        for path, _ in failures:
            err_console.print(f"  {escape(str(path))}", highlight=False)
        raise typer.Exit(1)


def _expand(paths: list[Path]) -> list[Path]:
    targets: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = list(iter_record_paths(path))
            if not found:
                err_console.print(f"[yellow]warning:[/] {path}: no records found", highlight=False)
            targets.extend(found)
        else:
            targets.append(path)
    return targets


def _summarize_path(path: Path, *, kind: str | None, fs: float | None, units: str | None) -> dict:
    record_kind = kind or detect_kind(path)
    options: dict = {"allow_unknown_leads": True}
    if record_kind == "csv":
        options |= {"fs": fs, "units": units}
    elif record_kind == "sph" and fs:
        options["fs"] = fs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recording = read_record(path, kind=record_kind, **options)
    summary = summarize(recording, record_kind)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    unknown = [lead for lead in recording.leads if not is_known_lead(lead)]
    if unknown:
        notes.append(f"channel name(s) {', '.join(unknown)} are not ECG lead names")
    if notes:
        summary["notes"] = notes
    return summary


def _fmt_gain(lead: dict) -> str:
    gain = lead["gain"]
    if gain is None:
        return "-"
    return "0 (uncalibrated)" if gain == 0 else f"{gain:g}/{lead['units']}"


def _fmt_counts(counts: dict[str, int], limit: int = 8) -> str:
    items = [f"{symbol}:{n}" for symbol, n in list(counts.items())[:limit]]
    if len(counts) > limit:
        items.append(f"+{len(counts) - limit} more")
    return " ".join(items) or "-"


def _print_one(s: dict) -> None:
    head = Table(show_header=False, box=None, padding=(0, 2))
    head.add_row("record", f"{s['record']} ({s['kind']})")
    head.add_row("path", str(s.get("path") or "-"))
    head.add_row("fs", f"{s['fs']:g} Hz")
    head.add_row("duration", f"{s['duration_s']:g} s ({s['samples']} samples)")
    head.add_row("leads", f"{len(s['leads'])}: {' '.join(s['leads'])}")
    for key in ("age", "sex", "dx", "scp_codes", "strat_fold", "patient_id"):
        if key in s:
            value = s[key]
            head.add_row(key, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
    total = sum(s["annotations"].values())
    head.add_row("annotations", f"{total}  {_fmt_counts(s['annotations'], limit=30)}" if total else "-")
    console.print(head)
    table = Table(title=None, show_lines=False)
    for col in ("lead", "units", "gain", "format", "min mV", "max mV", "missing"):
        table.add_column(col, justify="right" if col not in ("lead", "units") else "left")
    for lead in s["per_lead"]:
        table.add_row(
            lead["lead"],
            lead["units"],
            _fmt_gain(lead),
            str(lead["format"] or "-"),
            f"{lead['min_mv']:.3f}",
            f"{lead['max_mv']:.3f}",
            f"{lead['missing']:.2%}",
        )
    console.print(table)
    for note in s.get("notes", []):
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


def _print_many(summaries: list[dict]) -> None:
    table = Table()
    for col in ("record", "kind", "fs", "duration", "leads", "units", "gain", "annotations"):
        table.add_column(col, justify="right" if col in ("fs", "duration") else "left", overflow="fold")
    for s in summaries:
        units = sorted({lead["units"] for lead in s["per_lead"]})
        gains = sorted({_fmt_gain(lead) for lead in s["per_lead"]})
        leads = s["leads"]
        table.add_row(
            s["record"],
            s["kind"],
            f"{s['fs']:g}",
            f"{s['duration_s']:g} s",
            " ".join(leads) if len(leads) <= 3 else f"{len(leads)}: {leads[0]}..{leads[-1]}",
            ",".join(units),
            ",".join(gains),
            _fmt_counts(s["annotations"]),
        )
    console.print(table)
    noted = [s for s in summaries if s.get("notes")]
    for s in noted:
        for note in s["notes"]:
            console.print(f"[yellow]note:[/] {s['record']}: {escape(note)}", highlight=False)
