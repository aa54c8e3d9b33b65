"""Where datasets live.

One resolution order for every command and function: an explicit directory (``--data DIR``) wins,
then the ``ECGLAB_DATA`` environment variable, then a per-user cache directory
(``$XDG_CACHE_HOME/ecglab/data``, by default ``~/.cache/ecglab/data``). Datasets sit in
sub-folders named after them (``mitdb/``, ``ptbxl/``, ``cinc2020/`` ...).
"""

from __future__ import annotations

import os
from pathlib import Path

from ecglab.errors import DataNotFoundError

ENV_VAR = "ECGLAB_DATA"


def user_cache_dir() -> Path:
    """Per-user cache directory of ecglab (``$XDG_CACHE_HOME/ecglab`` or ``~/.cache/ecglab``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "ecglab"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data root: ``explicit`` > ``$ECGLAB_DATA`` > the per-user cache.

    Parameters
    ----------
    explicit
        A directory given on the command line (``--data DIR``) or by the caller.

    Returns
    -------
    Path
        The resolved directory (it may not exist yet; :func:`dataset_dir` checks).
    """
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return user_cache_dir() / "data"


def data_source(explicit: str | os.PathLike[str] | None = None) -> str:
    """Say which setting chose the data root (for messages): ``--data``, ``ECGLAB_DATA`` or cache."""
    if explicit:
        return "--data"
    if os.environ.get(ENV_VAR):
        return ENV_VAR
    return "per-user cache"


def dataset_dir(
    name: str, explicit: str | os.PathLike[str] | None = None, *, must_exist: bool = True
) -> Path:
    """Directory of one dataset (``<data root>/<name>``).

    Raises
    ------
    DataNotFoundError
        If ``must_exist`` and the directory is missing; the message names the setting used and the
        command that downloads the dataset.
    """
    root = data_dir(explicit)
    path = root / name
    if must_exist and not path.is_dir():
        raise DataNotFoundError(
            f"dataset '{name}' not found at {path} (data root from {data_source(explicit)}); "
            f"run `ecglab data download {name}` or point --data / {ENV_VAR} at a folder holding '{name}/'"
        )
    return path
