"""Shipped model weights and how a model name or path becomes a loaded model.

A shipped model is a folder ``ecglab/pretrained/<name>/`` holding ``model.safetensors`` (weights
only: loading never unpickles anything), the resolved training ``config.yaml`` and ``card.md``
(data, split, metrics and the command that reproduces them). Everywhere a model is asked for
(``--model``), a shipped name, a run directory of ``ecglab train`` or a folder written by
:func:`ecglab.training.trainer.export_weights` is accepted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ecglab.errors import ConfigError

PRETRAINED_ROOT = Path(__file__).resolve().parent
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"


def available_models() -> list[str]:
    """Names of the shipped models."""
    return sorted(p.name for p in PRETRAINED_ROOT.iterdir() if (p / WEIGHTS_FILE).is_file())


def resolve_model_dir(model: str | os.PathLike[str]) -> Path:
    """Folder holding ``config.yaml`` + ``model.safetensors`` for a shipped name or a path.

    Raises
    ------
    ConfigError
        Naming the shipped models when ``model`` is neither one of them nor a usable folder.
    """
    text = str(model)
    shipped = PRETRAINED_ROOT / text
    if "/" not in text and os.sep not in text and (shipped / WEIGHTS_FILE).is_file():
        return shipped
    path = Path(text).expanduser()
    if path.suffix == ".safetensors":
        path = path.parent
    if path.is_dir() and (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file():
        return path
    if path.is_dir() and (path / "best.ckpt").is_file():
        raise ConfigError(
            f"{path}: run has best.ckpt but no {WEIGHTS_FILE}; it did not finish - export it with "
            "ecglab.training.trainer.export_weights"
        )
    names = ", ".join(available_models()) or "none shipped yet"
    raise ConfigError(f"model {text!r} is neither a shipped model ({names}) nor a run/weights folder")


def load_model_config(model: str | os.PathLike[str]) -> tuple[Path, Any]:
    """The model folder and its validated config."""
    from ecglab.config import load_config

    folder = resolve_model_dir(model)
    return folder, load_config(folder / CONFIG_FILE)


def load_model(model: str | os.PathLike[str]) -> tuple[Any, Any, Path]:
    """Load a model (eval mode, CPU) from safetensors, with its config and folder."""
    from ecglab.training.trainer import load_model_from_run

    folder, cfg = load_model_config(model)
    return load_model_from_run(folder), cfg, folder


def load_task_model(
    model: str | os.PathLike[str],
    task: str,
    *,
    backend: str = "torch",
    onnx_path: str | os.PathLike[str] | None = None,
    error: type[Exception] = ConfigError,
) -> tuple[Any, Any, Path, Path | None]:
    """Load a model trained for ``task`` and, for ``backend='onnx'``, find its ONNX file.

    Parameters
    ----------
    model
        Shipped name or run/weights folder.
    task
        The task the model must have been trained for.
    backend
        ``torch`` or ``onnx``.
    onnx_path
        ONNX file; None looks for ``model.onnx`` beside the weights (onnx backend only; shipped models
        with an ONNX file carry it there).
    error
        Exception class raised (one line) for a wrong backend, task or a missing ONNX file.

    Returns
    -------
    (model, config, folder, onnx_path)
        ``onnx_path`` is None for the torch backend.
    """
    if backend not in ("torch", "onnx"):
        raise error(f"backend {backend!r}: choose torch or onnx")
    net, cfg, folder = load_model(model)
    if cfg.task != task:
        raise error(f"model {model!s} was trained for task {cfg.task!r}, not {task}")
    if backend == "torch":
        return net, cfg, folder, None
    if onnx_path is not None:  # an explicit file is checked where it is opened
        return net, cfg, folder, Path(onnx_path)
    path = folder / "model.onnx"
    if not path.is_file():
        raise error(
            f"backend onnx needs an ONNX file: make one with `ecglab export --model {model} "
            "--out FILE.onnx` and pass --onnx FILE.onnx"
        )
    return net, cfg, folder, path
