"""``ecglab score cinc2020|cinc2021 --labels DIR --outputs DIR [--json F]``: the official Challenge scores.

Scores a folder of Challenge output files (``<record>.csv``) against a folder of headers (``#Dx:``)
with :mod:`ecglab.metrics.challenge`, prints the overall metrics and a per-class table, and writes
the result as JSON (atomically) with ``--json``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ecglab.cli.console import console, err_console

score_app = typer.Typer(
    name="score",
    help="Score classifier outputs with the PhysioNet/CinC Challenge 2020 or 2021 metrics.",
    no_args_is_help=True,
)

LabelsOption = Annotated[
    Path, typer.Option("--labels", "-l", help="Folder of headers (.hea) with #Dx: lines.", show_default=False)
]
OutputsOption = Annotated[
    Path, typer.Option("--outputs", "-o", help="Folder of output files <record>.csv.", show_default=False)
]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the full result to this JSON file.")]
LenientOption = Annotated[
    bool,
    typer.Option(
        "--lenient",
        help="Score a malformed output file as all-negative (as the official 2020 script does).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``score`` command group to ``app``."""
    app.add_typer(score_app, name="score")


@score_app.command("cinc2020")
def cinc2020(
    labels: LabelsOption, outputs: OutputsOption, json: JsonOption = None, lenient: LenientOption = False
) -> None:
    """Challenge 2020 scores: AUROC, AUPRC, accuracy, F-measure, F-beta, G-beta, Challenge metric."""
    _score("2020", labels, outputs, json, lenient)


@score_app.command("cinc2021")
def cinc2021(
    labels: LabelsOption, outputs: OutputsOption, json: JsonOption = None, lenient: LenientOption = False
) -> None:
    """Challenge 2021 scores: AUROC, AUPRC, accuracy, F-measure, Challenge metric."""
    _score("2021", labels, outputs, json, lenient)


def _score(version: str, labels: Path, outputs: Path, json_path: Path | None, lenient: bool) -> None:
    from ecglab.io.atomic import atomic_write
    from ecglab.metrics.challenge import result_to_json, score_directories

    result = score_directories(labels, outputs, version, strict=not lenient)
    _print_result(result)
    n = result["n_records"]
    for key, what in (("missing_outputs", "missing"), ("malformed_outputs", "malformed")):
        ids = result[key]
        if ids:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            err_console.print(
                f"[yellow]warning:[/] {len(ids)} of {n} output files {what}, scored as all-negative: {shown}",
                highlight=False,
            )
    if json_path is not None:
        with atomic_write(json_path, "w", encoding="utf-8") as handle:
            handle.write(result_to_json(result))
        console.print(f"wrote {json_path}")


def _print_result(result: dict[str, Any]) -> None:
    names = [
        ("challenge_metric", "Challenge metric"),
        ("auroc", "AUROC"),
        ("auprc", "AUPRC"),
        ("accuracy", "accuracy"),
        ("f_measure", "F-measure"),
        ("f_beta", "F-beta (2)"),
        ("g_beta", "G-beta (2)"),
    ]
    overall = Table(title=f"CinC {result['version']}: {result['n_records']} records", title_justify="left")
    overall.add_column("metric")
    overall.add_column("value", justify="right")
    for key, label in names:
        if key in result:
            overall.add_row(label, _num(result[key]))
    console.print(overall)
    per_class = Table(title="per class", title_justify="left")
    for col in ("class", "abbr.", "positives", "predicted", "AUROC", "AUPRC", "F-measure"):
        text = col in ("class", "abbr.")
        per_class.add_column(col, justify="left" if text else "right", no_wrap=text)
    for name, row in result["per_class"].items():
        per_class.add_row(
            name,
            row["abbreviation"],
            str(row["n_positive"]),
            str(row["n_predicted"]),
            _num(row["auroc"]),
            _num(row["auprc"]),
            _num(row["f_measure"]),
        )
    console.print(per_class)


def _num(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"
