"""Combine finished runs of one recipe into one :class:`~ecglab.models.ensemble.ProbabilityEnsemble`.

``ecglab ensemble RUN_DIR... --out DIR`` writes ``DIR/model.safetensors`` (member ``i``'s weights
under ``members.i.``), ``DIR/config.yaml`` (the first run's config with ``model`` replaced by the
ensemble) and ``DIR/ensemble.json`` (which runs, their validation records and scores), a folder that
``ecglab predict/evaluate/export --model DIR`` and :func:`ecglab.pretrained.load_model` accept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ecglab.errors import ConfigError
from ecglab.io.atomic import atomic_write

__all__ = ["build_ensemble"]

CONFIG_FILE = "config.yaml"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the run's config ({exc})") from exc
    if not isinstance(data, dict) or "model" not in data:
        raise ConfigError(f"{path}: not an ecglab run config (no model section)")
    return data


def _recipe(cfg: dict[str, Any]) -> tuple[Any, Any]:
    """What members must share: the task and the model (its pre-training source aside)."""
    model = {k: v for k, v in cfg["model"].items() if k != "pretrained"}
    return cfg.get("task"), model


def _member_summary(run: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    if (run / "metrics.json").is_file():
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    return {
        "run": run.name,
        "cv_seed": (cfg.get("cv") or {}).get("seed"),
        "monitor": metrics.get("monitor"),
        "best_score": metrics.get("best_score"),
        "best_epoch": metrics.get("best_epoch"),
    }


def build_ensemble(run_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]) -> Path:
    """Write an ensemble of the finished runs ``run_dirs`` (their best weights) to ``out_dir``.

    Parameters
    ----------
    run_dirs
        Finished run directories (each with ``config.yaml`` and ``model.safetensors``) of one task
        and one model (same ``model.name`` and ``model.params``); typically one recipe trained on
        several validation splits (``cv.seed``).
    out_dir
        Destination folder (created).

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    ConfigError
        Fewer than two runs, a run that is missing files, or runs of different tasks or models.
    """
    from safetensors.torch import load_file

    from ecglab.training.trainer import WEIGHTS_FILE, _save_weights

    runs = [Path(r) for r in run_dirs]
    if len(runs) < 2:
        raise ConfigError(f"an ensemble needs at least two runs, got {len(runs)}")
    configs = [_read_yaml(r / CONFIG_FILE) for r in runs]
    first = configs[0]
    for run, cfg in zip(runs[1:], configs[1:], strict=True):
        if _recipe(cfg) != _recipe(first):
            raise ConfigError(f"{run}: task or model differs from {runs[0]}'s; members must share one recipe")
    if first["model"]["name"] == "ensemble":
        raise ConfigError(f"{runs[0]}: is an ensemble already; pass the member runs")
    state: dict[str, Any] = {}
    for i, run in enumerate(runs):
        weights = run / WEIGHTS_FILE
        if not weights.is_file():
            raise ConfigError(f"{run}: no {WEIGHTS_FILE} (is the run finished?)")
        state.update({f"members.{i}.{k}": v for k, v in load_file(weights).items()})
    model = {
        "name": "ensemble",
        "params": {
            "member": first["model"]["name"],
            "member_params": dict(first["model"].get("params") or {}),
            "n_members": len(runs),
        },
        "pretrained": None,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _save_weights(state, out / WEIGHTS_FILE, "ensemble")
    with atomic_write(out / CONFIG_FILE, encoding="utf-8") as f:
        yaml.safe_dump({**first, "model": model}, f, sort_keys=False)
    members = [_member_summary(r, c) for r, c in zip(runs, configs, strict=True)]
    with atomic_write(out / "ensemble.json", encoding="utf-8") as f:
        json.dump({"member_model": first["model"]["name"], "members": members}, f, indent=2)
    # Check that the folder loads as a model before reporting success.
    from ecglab.training.trainer import load_model_from_run

    load_model_from_run(out)
    return out
