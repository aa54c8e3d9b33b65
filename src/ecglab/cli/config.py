"""`ecglab config`: show a config fully resolved, or check it, with command-line overrides applied.

Examples::

    ecglab config show configs/base.yaml training.batch_size=8 optimizer.lr=5e-4
    ecglab config validate configs/base.yaml training.precision=bf16-mixed
"""

from __future__ import annotations

from pathlib import Path

import typer

from ecglab.cli.console import console

config_app = typer.Typer(
    name="config",
    help="Show or validate an experiment config (YAML plus KEY=VALUE overrides).",
    no_args_is_help=True,
)

_CONFIG_ARG = typer.Argument(..., help="YAML config file.", show_default=False)
_OVERRIDES_ARG = typer.Argument(
    None, help="Dot-notation overrides, e.g. training.batch_size=8 optimizer.lr=5e-4.", show_default=False
)


@config_app.command("show")
def show(config: Path = _CONFIG_ARG, overrides: list[str] | None = _OVERRIDES_ARG) -> None:
    """Print the fully resolved config: schema defaults, then the file, then the overrides."""
    from ecglab.config import config_to_yaml, load_config

    text = config_to_yaml(load_config(config, overrides or ()))
    print_yaml(text)


@config_app.command("validate")
def validate(config: Path = _CONFIG_ARG, overrides: list[str] | None = _OVERRIDES_ARG) -> None:
    """Print ``ok`` if the config is valid, else the one-line error (non-zero exit)."""
    from ecglab.config import load_config

    load_config(config, overrides or ())
    typer.echo("ok")


def print_yaml(text: str) -> None:
    """Print YAML syntax-highlighted on a terminal, as plain text otherwise (pipes, files)."""
    if console.is_terminal:
        from rich.syntax import Syntax

        console.print(Syntax(text.rstrip("\n"), "yaml", background_color="default", word_wrap=True))
    else:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add the ``config`` command group to ``app``."""
    app.add_typer(config_app, name="config")
