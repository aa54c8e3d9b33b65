"""`ecglab train`: train the task of a config, or resume a run, into one run directory; `ecglab ensemble`.

Examples::

    ecglab train --config configs/beats.yaml training.batch_size=32 optimizer.lr=5e-4
    ecglab train --config configs/beats.yaml --run-dir runs/beats-fold0 cv.val_fold=0
    ecglab train --resume runs/beats-20250101-120000                    # continue a killed run
    ecglab train --resume runs/beats-20250101-120000 training.epochs=80  # ... and train longer
    ecglab ensemble runs/beats-s0 runs/beats-s1 runs/beats-s2 --out models/beats-ens  # average runs

A resumed run keeps the config saved in its folder; ``training.epochs`` is the only override it
accepts (see :mod:`ecglab.training.trainer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ecglab.cli.console import console, err_console
from ecglab.errors import ConfigError


def train_command(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config file (not with --resume).", show_default=False
    ),
    overrides: list[str] | None = typer.Argument(
        None,
        help="Dot-notation overrides, e.g. training.batch_size=8 optimizer.lr=5e-4 "
        "(with --resume: training.epochs only).",
        show_default=False,
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Run directory to continue from its last.ckpt.", show_default=False
    ),
    run_dir: Path | None = typer.Option(
        None,
        "--run-dir",
        help="Exact run directory (default: <logging.run_dir>/<name>-<timestamp>).",
        show_default=False,
    ),
) -> None:
    """Train a model: writes config.yaml, checkpoints, history.csv, curves.png and metrics.json."""
    run_training(config, overrides, resume, run_dir)


def pretrain_command(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config of task pretrain."),
    overrides: list[str] | None = typer.Argument(None, help="Dot-notation overrides.", show_default=False),
    resume: Path | None = typer.Option(
        None, "--resume", help="Run directory to continue.", show_default=False
    ),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Exact run directory.", show_default=False),
) -> None:
    """Self-supervised pre-training (masked-sample reconstruction); fine-tune with model.pretrained=RUN."""
    run_training(config, overrides, resume, run_dir, expect_task="pretrain")


def ensemble_command(
    runs: list[Path] = typer.Argument(
        ..., help="Finished run directories of one recipe.", show_default=False
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the ensemble to.", show_default=False),
) -> None:
    """Average the class probabilities of finished runs (e.g. one recipe on several cv.seed splits)."""
    from ecglab.training.ensemble import build_ensemble

    folder = build_ensemble(runs, out)
    console.print(f"wrote an ensemble of {len(runs)} runs to {folder} (use it as --model {folder})")


def run_training(
    config: Path | None,
    overrides: list[str] | None,
    resume: Path | None,
    run_dir: Path | None,
    expect_task: str | None = None,
) -> None:
    """Load the config (or the resumed run's), train, and print the final metrics."""
    from ecglab.config import load_config
    from ecglab.training.trainer import CONFIG_FILE, METRICS_FILE, train

    if resume is not None:
        if config is not None:
            raise ConfigError("give either --config (a new run) or --resume (an existing run), not both")
        cfg = load_config(resume / CONFIG_FILE, overrides or ()) if (resume / CONFIG_FILE).is_file() else None
        name = None
    elif config is None:
        raise ConfigError("missing --config CFG (or --resume RUN_DIR)")
    else:
        cfg = load_config(config, overrides or ())
        name = config.stem
    if expect_task is not None and cfg is not None and cfg.task != expect_task:
        raise ConfigError(
            f"{config or resume}: task is {cfg.task!r}; `ecglab pretrain` runs task: {expect_task}"
        )

    def announce(path: Path) -> None:
        verb = "resuming" if resume is not None else "run directory"
        err_console.print(f"[bold]{verb}:[/] {path}", highlight=False, soft_wrap=True)

    out = train(cfg, run_dir=run_dir, resume=resume, name=name, on_start=announce)

    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    metrics_file = out / METRICS_FILE
    if getattr(rank_zero_only, "rank", 0) == 0 and metrics_file.is_file():
        import json

        print_metrics(json.loads(metrics_file.read_text(encoding="utf-8")), out)


def print_metrics(metrics: dict[str, Any], run_dir: Path) -> None:
    """Print the final metrics of a run as a two-column table (plain lines when not a terminal)."""
    rows = [(key, _show(value)) for key, value in metrics.items() if key not in ("last_epoch", "evaluation")]
    rows += [(f"evaluation.{key}", _show(value)) for key, value in (metrics.get("evaluation") or {}).items()]
    if console.is_terminal:
        from rich.table import Table

        table = Table(title=f"{run_dir}", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(key, value)
        console.print(table)
    else:
        typer.echo(f"run: {run_dir}")
        for key, value in rows:
            typer.echo(f"{key}: {value}")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        import json

        text = json.dumps(value)
        return text if len(text) <= 80 else f"{text[:77]}..."
    return "null" if value is None else str(value)


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""
    app.command("train")(train_command)
    app.command("pretrain")(pretrain_command)
    app.command("ensemble")(ensemble_command)
