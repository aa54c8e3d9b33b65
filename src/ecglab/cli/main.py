"""The ``ecglab`` command: a typer app with one small module per command group.

Each module in this package registers its commands on :data:`app` through ``register(app)``;
later features (train, predict, evaluate, export, synth, digitize) add a module and one line in
:data:`COMMAND_MODULES`. Bad input raises :class:`~ecglab.errors.EcglabError`, which
:func:`run` turns into one red line and a non-zero exit (the traceback only with ``--debug``).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings

import typer
from rich.markup import escape
from typer.exceptions import TyperException

from ecglab import __version__
from ecglab.cli.console import debug_enabled, err_console, set_debug
from ecglab.errors import EcglabError

COMMAND_MODULES = (
    "ecglab.cli.info",
    "ecglab.cli.data",
    "ecglab.cli.config",
    "ecglab.cli.demo",
    "ecglab.cli.train",
    "ecglab.cli.evaluate",
    "ecglab.cli.predict",
    "ecglab.cli.export",
    "ecglab.cli.synth",
    "ecglab.cli.digitize",
    "ecglab.cli.score",
)

app = typer.Typer(
    name="ecglab",
    help="ECG toolkit: records in and out, classification, synthetic ECG paper, digitization.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ecglab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """ecglab command-line interface."""
    set_debug(debug or os.environ.get("ECGLAB_DEBUG") == "1")
    if not debug_enabled():
        # Library warnings (wfdb, neurokit2) are noise for a CLI user; ecglab reports what matters.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
    logging.basicConfig(level=logging.DEBUG if debug_enabled() else logging.WARNING)


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def run(argv: list[str] | None = None) -> None:
    """Entry point of the ``ecglab`` console script."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or os.environ.get("ECGLAB_DEBUG") == "1"
    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except EcglabError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except TyperException as exc:  # usage errors (unknown command or option, bad value)
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:  # anything unexpected: a bug, not bad input
        if debug:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (--debug shows the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(70)


if __name__ == "__main__":
    run()
