"""Shared CLI state: rich consoles (results to stdout, messages to stderr) and the --debug flag."""

from rich.console import Console

console = Console()
err_console = Console(stderr=True)

_debug = {"on": False}


def set_debug(on: bool) -> None:
    """Turn tracebacks on (``--debug``): batch commands then stop at the first error and raise it."""
    _debug["on"] = on


def debug_enabled() -> bool:
    """True when ``--debug`` was given."""
    return _debug["on"]
