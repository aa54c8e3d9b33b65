"""One trainer for every task: a run directory per run, Lightning underneath, resumable, exportable.

:func:`train` takes a validated config (see :mod:`ecglab.config`) whose ``task:`` names a task
registered with :func:`~ecglab.training.tasks.register_task`, and writes one run directory::

    <logging.run_dir>/<name>-<YYYYmmdd-HHMMSS>/
        config.yaml        the resolved config, written before training starts
        best.ckpt          Lightning checkpoint of the best epoch (training.monitor / monitor_mode)
        last.ckpt          checkpoint of the last finished epoch: what --resume continues from
        history.csv        one row per epoch: epoch, step, lr, train_loss, val_loss, every epoch metric
        curves.png         loss curves, the monitored metric (best epoch marked), learning rate
        model.safetensors  the best weights, pickle-free (what load_model_from_run reads)
        metrics.json       best score and epoch, epochs run, stop reason, wall time, evaluation
        logs/version_N/    the logger's files (csv, tensorboard); mlruns/ for mlflow

Epochs are numbered from 0, as in Lightning's progress bar and checkpoints.

Resuming (``resume=RUN_DIR``) continues a killed or finished run from ``RUN_DIR/last.ckpt`` in the
same directory with the config saved there; the only setting that may change is
``training.epochs`` (to train longer), except with the ``onecycle`` schedule, whose shape is fixed by
the first run's length. Every other difference is refused: a resumed run must mean the same thing.

Checkpoints are loaded with ``torch.load(..., weights_only=True)``: they hold tensors and plain
Python values only (the config is stored as a plain dict). Weights meant to be shipped go through
:func:`export_weights` (``model.safetensors`` + ``config.yaml``) and come back with
:func:`load_model_from_run`, which never unpickles anything.

Distributed runs: with ``strategy=ddp`` Lightning relaunches the command once per extra device; the
first process creates the run directory and hands it to the others through the ``ECGLAB_RUN_DIR``
environment variable. Launchers that start every process themselves (``torchrun``, ``srun``, several
nodes) must give all processes the same ``run_dir``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf

from ecglab.config import config_from_dict, load_config, save_config
from ecglab.errors import ConfigError
from ecglab.io.atomic import atomic_write
from ecglab.training.module import TrainingDiverged
from ecglab.training.tasks import TaskParts, get_task

__all__ = [
    "RESUMABLE_KEYS",
    "HistoryCallback",
    "export_weights",
    "load_model_from_run",
    "load_pretrained_weights",
    "plot_history",
    "read_history",
    "train",
]

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
BEST_CKPT = "best.ckpt"
LAST_CKPT = "last.ckpt"
HISTORY_FILE = "history.csv"
CURVES_FILE = "curves.png"
METRICS_FILE = "metrics.json"
WEIGHTS_FILE = "model.safetensors"
# Hands the run directory from the first DDP process to the processes Lightning relaunches.
RUN_DIR_ENV = "ECGLAB_RUN_DIR"
# Config keys a resumed run may change.
RESUMABLE_KEYS = frozenset({"training.epochs"})

_LOGGER_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",)}
_STOP_REASONS = {
    "PATIENCE_EXHAUSTED": "early_stopping",
    "NON_FINITE_METRIC": "non_finite_metric",
    "STOPPING_THRESHOLD": "stopping_threshold",
    "DIVERGENCE_THRESHOLD": "divergence_threshold",
}


# ----------------------------------------------------------------------------------------------
# train
# ----------------------------------------------------------------------------------------------


def train(
    cfg: DictConfig | Mapping[str, Any] | None = None,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
    name: str | None = None,
    on_start: Callable[[Path], None] | None = None,
) -> Path:
    """Train the task of ``cfg`` and return its run directory.

    Parameters
    ----------
    cfg
        Validated config (from :func:`~ecglab.config.load_config`), or a plain mapping validated
        here. With ``resume`` it may be omitted: the run's own ``config.yaml`` is used.
    run_dir
        Exact run directory to use instead of ``<logging.run_dir>/<name>-<timestamp>``; it must not
        hold a run already.
    resume
        A run directory to continue from its ``last.ckpt`` (see the module notes).
    name
        Run name when ``logging.name`` is null, usually the config file's stem; else the task name.
    on_start
        Called with the run directory once it exists, before training (the CLI prints it). Only the
        first process of a distributed run calls it.

    Returns
    -------
    Path
        The run directory.

    Raises
    ------
    ConfigError
        Unknown task or model, bad model arguments, missing logger package, a ``run_dir`` that holds
        a run, a resume that changes the config, a monitored metric that is never logged, or a
        Trainer setting Lightning refuses.
    TrainingDiverged
        The training loss became NaN/inf (``metrics.json`` records it with ``stop_reason: diverged``).
    """
    started = time.monotonic()
    secondary = _is_secondary_process()
    if resume is not None:
        run_path, cfg = _prepare_resume(Path(resume), cfg, run_dir)
    else:
        if cfg is None:
            raise TypeError("train() needs a config unless it resumes a run")
        cfg = _as_config(cfg)
        run_path = None
    _check_logger_available(cfg.logging.logger)
    task = get_task(cfg.task)

    lightning.seed_everything(cfg.training.seed, workers=True)
    parts = task.builder(cfg)
    if not isinstance(parts, TaskParts):
        raise TypeError(f"the builder of task {cfg.task!r} returned {type(parts).__name__}, not TaskParts")

    created = False
    if run_path is None:
        if secondary:
            run_path = _secondary_run_dir(run_dir)
        else:
            run_path, created = _create_run_dir(cfg, run_dir, name)

    checkpoint = ModelCheckpoint(
        dirpath=run_path,
        filename=Path(BEST_CKPT).stem,
        monitor=cfg.training.monitor,
        mode=cfg.training.monitor_mode,
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        # Save at the end of the training epoch, after HistoryCallback has added the epoch's row,
        # so that last.ckpt and history.csv always describe the same epochs.
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    history = HistoryCallback(run_path, monitor=cfg.training.monitor, mode=cfg.training.monitor_mode)
    callbacks: list[Callback] = [history]
    early_stopping = None
    if cfg.training.early_stopping_patience is not None:
        early_stopping = EarlyStopping(
            monitor=cfg.training.monitor,
            mode=cfg.training.monitor_mode,
            patience=cfg.training.early_stopping_patience,
            check_finite=True,
        )
        callbacks.append(early_stopping)
    callbacks += [LearningRateMonitor(), checkpoint]
    try:
        trainer = _make_trainer(cfg, run_path, callbacks, _make_logger(cfg, run_path, name))
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                run_path.rmdir()  # still empty: the config is written below
        raise

    if not secondary:
        save_config(cfg, run_path / CONFIG_FILE)
        if on_start is not None:
            on_start(run_path)

    summary: dict[str, Any] = {"resumed": resume is not None}
    previous_env = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_path)
    try:
        with warnings.catch_warnings():
            # The run directory holds config.yaml (and, resumed, its checkpoints) by design.
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            trainer.fit(
                parts.module,
                datamodule=parts.datamodule,
                ckpt_path=str(run_path / LAST_CKPT) if resume is not None else None,
                weights_only=True,
            )
    except TrainingDiverged as exc:
        if trainer.is_global_zero:
            summary.update(stop_reason="diverged", error=str(exc))
            _write_metrics(run_path, cfg, trainer, early_stopping, summary, started)
        raise
    except SystemExit:  # Lightning turns Ctrl-C into a graceful shutdown and sys.exit(1)
        if trainer.interrupted and trainer.is_global_zero:
            summary.update(stop_reason="interrupted")
            _write_metrics(run_path, cfg, trainer, early_stopping, summary, started)
        raise
    finally:
        if previous_env is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous_env

    if not trainer.is_global_zero:
        return run_path
    if trainer.interrupted:
        summary["stop_reason"] = "interrupted"
    module = parts.module
    best = run_path / BEST_CKPT
    if best.is_file():
        state = torch.load(best, map_location="cpu", weights_only=True)
        module.load_state_dict(state["state_dict"])
        summary["best_checkpoint"] = BEST_CKPT
    module.cpu().eval()
    model = getattr(module, "model", None)
    if isinstance(model, torch.nn.Module):
        _save_weights(model.state_dict(), run_path / WEIGHTS_FILE, cfg.model.name)
    if parts.evaluate is not None:
        with torch.no_grad():
            summary["evaluation"] = dict(parts.evaluate(module, parts.datamodule, run_path) or {})
    _write_metrics(run_path, cfg, trainer, early_stopping, summary, started)
    return run_path


def _as_config(cfg: DictConfig | Mapping[str, Any]) -> DictConfig:
    if isinstance(cfg, DictConfig) and OmegaConf.get_type(cfg) is not dict:
        return cfg  # already built on its schema by load_config/config_from_dict
    return config_from_dict(cfg)


def _is_secondary_process() -> bool:
    """True in a process that is not the first of a distributed launch (Lightning, torchrun, srun)."""
    names = ["LOCAL_RANK", "NODE_RANK", "RANK"]
    if _env_int("SLURM_NTASKS") > 1:  # srun starts every task of a multi-task job itself
        names.append("SLURM_PROCID")
    return any(_env_int(name) > 0 for name in names)


def _env_int(name: str) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else 0


def _secondary_run_dir(run_dir: str | os.PathLike[str] | None) -> Path:
    if run_dir is not None:
        return Path(run_dir)
    env = os.environ.get(RUN_DIR_ENV)
    if env:
        return Path(env)
    raise ConfigError(
        "this process is not the first of a distributed launch and does not know the run directory: "
        "give every process the same run directory (ecglab train --run-dir DIR)"
    )


def _create_run_dir(
    cfg: DictConfig, run_dir: str | os.PathLike[str] | None, name: str | None
) -> tuple[Path, bool]:
    """Make the run directory; return it and whether it was created (False: an empty one existed)."""
    if run_dir is not None:
        path = Path(run_dir)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{path}: run directory is a file")
        if path.is_dir() and any(path.iterdir()):
            if (path / CONFIG_FILE).exists() or any(path.glob("*.ckpt")):
                raise ConfigError(
                    f"{path}: already holds a run (continue it with --resume {path}, or pick another)"
                )
            raise ConfigError(f"{path}: run directory is not empty")
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        return path, created
    stem = cfg.logging.name or name or cfg.task
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(stem)).strip("._") or "run"
    root = Path(cfg.logging.run_dir)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        path = root / (f"{stem}-{stamp}" if attempt == 1 else f"{stem}-{stamp}-{attempt}")
        try:
            path.mkdir()  # atomic: two runs started in the same second get different folders
        except FileExistsError:
            continue
        return path, True
    raise ConfigError(f"{root}: cannot create a new run directory for {stem}-{stamp}")


def _prepare_resume(
    run: Path, cfg: DictConfig | Mapping[str, Any] | None, run_dir: str | os.PathLike[str] | None
) -> tuple[Path, DictConfig]:
    if run_dir is not None and Path(run_dir).resolve() != run.resolve():
        raise ConfigError(
            f"--run-dir {run_dir} and --resume {run}: a resumed run continues in its own folder"
        )
    if not run.is_dir():
        raise ConfigError(f"{run}: run directory not found")
    if not (run / CONFIG_FILE).is_file():
        raise ConfigError(f"{run}: no {CONFIG_FILE}; not an ecglab run directory")
    if not (run / LAST_CKPT).is_file():
        raise ConfigError(f"{run}: no {LAST_CKPT} to resume from (the run stopped before finishing an epoch)")
    saved = load_config(run / CONFIG_FILE)
    if cfg is None:
        return run, saved
    new = _as_config(cfg)
    changed = _changed_keys(saved, new)
    refused = [key for key in changed if key not in RESUMABLE_KEYS]
    if refused:
        allowed = ", ".join(sorted(RESUMABLE_KEYS))
        raise ConfigError(
            f"--resume {run}: a resumed run keeps its config; only {allowed} may change, "
            f"not {', '.join(refused)}"
        )
    if "training.epochs" in changed and new.scheduler.name == "onecycle":
        raise ConfigError(
            f"--resume {run}: training.epochs cannot change with scheduler.name=onecycle "
            "(its schedule is fixed by the first run's length)"
        )
    return run, new


def _changed_keys(old: DictConfig, new: DictConfig) -> list[str]:
    a = _flatten(OmegaConf.to_container(old, resolve=True))
    b = _flatten(OmegaConf.to_container(new, resolve=True))
    return sorted(key for key in a.keys() | b.keys() if a.get(key, _MISSING) != b.get(key, _MISSING))


_MISSING = object()


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def _check_logger_available(logger: str) -> None:
    import importlib.util

    packages = _LOGGER_PACKAGES.get(logger)
    if packages and not any(importlib.util.find_spec(pkg) is not None for pkg in packages):
        raise ConfigError(f"logging.logger={logger} needs `pip install ecglab[{logger}]`")


def _make_logger(cfg: DictConfig, run_path: Path, name: str | None) -> Any:
    kind = cfg.logging.logger
    if kind == "csv":
        from lightning.pytorch.loggers import CSVLogger

        # version=None: logs/version_0, then version_1 for a resumed run (CSVLogger would delete the
        # metrics of an existing version folder).
        return CSVLogger(save_dir=run_path, name="logs", version=None)
    if kind == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=run_path, name="logs", version=None)
    if kind == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        return MLFlowLogger(
            experiment_name=cfg.logging.name or name or cfg.task,
            run_name=run_path.name,
            tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or (run_path.resolve() / "mlruns").as_uri(),
        )
    raise ConfigError(f"logging.logger: {kind!r} is not one of csv, tensorboard, mlflow")


class _AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file and rename it: a kill mid-save keeps the old last.ckpt."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options=storage_options)
        os.replace(tmp, path)


def _make_trainer(
    cfg: DictConfig, run_path: Path, callbacks: list[Callback], logger: Any
) -> lightning.Trainer:
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    t = cfg.training
    # DeepSpeed and FSDP write sharded checkpoints through their own IO; everything else is atomic.
    sharded = t.strategy.startswith(("deepspeed", "fsdp"))
    try:
        return lightning.Trainer(
            max_epochs=t.epochs,
            precision=t.precision,
            accelerator=t.accelerator,
            devices=t.devices,
            strategy=t.strategy,
            num_nodes=t.num_nodes,
            accumulate_grad_batches=t.accumulate_grad_batches,
            gradient_clip_val=t.gradient_clip_val,
            gradient_clip_algorithm=t.gradient_clip_algorithm if t.gradient_clip_val is not None else None,
            deterministic=t.deterministic,
            log_every_n_steps=cfg.logging.log_every_n_steps,
            logger=logger,
            callbacks=callbacks,
            default_root_dir=run_path,
            plugins=None if sharded else [_AtomicCheckpointIO()],
        )
    except (MisconfigurationException, ValueError, RuntimeError) as exc:
        raise ConfigError(f"training: Lightning refuses these settings: {_first_line(exc)}") from exc


# ----------------------------------------------------------------------------------------------
# History and metrics
# ----------------------------------------------------------------------------------------------


class HistoryCallback(Callback):
    """Record one row per epoch; rewrite ``history.csv`` after each epoch and ``curves.png`` often.

    A row holds ``epoch`` (from 0), ``step`` (optimizer steps so far), ``lr`` (of the first
    parameter group when the epoch started), every epoch-level metric Lightning knows at the end of
    the training epoch (``train_loss``, ``val_loss``, task metrics; ``*_step`` values are left out),
    and ``epoch_time_s``. The rows are part of the checkpoint, so a resumed run keeps the rows of the
    epochs before it. Only the global-rank-0 process writes files.

    ``curves.png`` is redrawn after an epoch when at least ``plot_every_s`` seconds, and ten times
    the last drawing's cost, have passed since the last drawing (matplotlib takes about 0.3 s, which
    would dominate runs of short epochs), and always when training ends or fails.

    Parameters
    ----------
    run_dir
        Folder of ``history.csv`` and ``curves.png``.
    monitor
        The metric of the second plot panel, whose best epoch is marked.
    mode
        ``min`` or ``max``: which ``monitor`` value is best.
    plot
        Draw ``curves.png`` (matplotlib, no pyplot).
    plot_every_s
        Least number of seconds between two drawings during training.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        monitor: str = "val_loss",
        mode: str = "min",
        plot: bool = True,
        plot_every_s: float = 5.0,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.monitor = monitor
        self.mode = mode
        self.plot = plot
        self.plot_every_s = plot_every_s
        self.rows: list[dict[str, Any]] = []
        self._epoch_start = time.monotonic()
        self._lr: float | None = None
        self._last_plot = time.monotonic()
        self._plot_cost = 0.0
        self._plotted_rows = -1

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        self._last_plot = time.monotonic()

    def on_fit_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        if trainer.is_global_zero:
            self.write(plot=True)

    def on_exception(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule, exception: BaseException
    ) -> None:
        if trainer.is_global_zero and self.rows:
            self.write(plot=True)

    def on_train_epoch_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        self._epoch_start = time.monotonic()
        self._lr = _current_lr(trainer)

    def on_train_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        self._check_monitor(trainer, pl_module)
        row: dict[str, Any] = {"epoch": trainer.current_epoch, "step": trainer.global_step, "lr": self._lr}
        for key, value in sorted(trainer.callback_metrics.items()):
            # LearningRateMonitor's "lr-<Optimizer>" values repeat the lr column.
            if key.endswith("_step") or key.startswith("lr-") or key in row:
                continue
            number = _scalar(value)
            if number is not None:
                row[key] = number
        row["epoch_time_s"] = round(time.monotonic() - self._epoch_start, 4)
        # A row per epoch even if Lightning repeats an epoch end after a resume.
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        if trainer.is_global_zero:
            due = time.monotonic() - self._last_plot >= max(self.plot_every_s, 10 * self._plot_cost)
            self.write(plot=due)

    def _check_monitor(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        """A config error, before EarlyStopping and ModelCheckpoint fail with their own, if the monitored
        metric is not logged (skipped when the module logs in its own ``on_train_epoch_end``, which
        Lightning runs after this callback)."""
        from lightning.pytorch.utilities.model_helpers import is_overridden

        if self.monitor in trainer.callback_metrics or is_overridden("on_train_epoch_end", pl_module):
            return
        logged = ", ".join(sorted(k for k in trainer.callback_metrics if not k.startswith("lr-"))) or "none"
        raise ConfigError(
            f"training.monitor: {self.monitor!r} is never logged by task {type(pl_module).__name__} "
            f"(logged metrics: {logged})"
        )

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(row) for row in self.rows]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(row) for row in state_dict.get("rows", [])]

    def columns(self) -> list[str]:
        """Column order: epoch, step, lr, losses, the monitor, other metrics (sorted), epoch time."""
        keys: dict[str, None] = {}
        for row in self.rows:
            keys.update(dict.fromkeys(row))
        first = [k for k in ("epoch", "step", "lr", "train_loss", "val_loss", self.monitor) if k in keys]
        last = [k for k in ("epoch_time_s",) if k in keys]
        middle = sorted(k for k in keys if k not in first and k not in last)
        return list(dict.fromkeys(first + middle + last))

    def write(self, plot: bool = True) -> None:
        """Rewrite ``history.csv`` atomically from the rows, and ``curves.png`` if ``plot`` (and it is
        not already up to date)."""
        columns = self.columns()
        with atomic_write(self.run_dir / HISTORY_FILE, encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(self.rows)
        if plot and self.plot and self._plotted_rows != len(self.rows):
            started = time.monotonic()
            png = plot_history(self.rows, monitor=self.monitor, mode=self.mode)
            with atomic_write(self.run_dir / CURVES_FILE, mode="wb") as handle:
                handle.write(png)
            self._last_plot = time.monotonic()
            self._plot_cost = self._last_plot - started
            self._plotted_rows = len(self.rows)


def plot_history(rows: Sequence[Mapping[str, Any]], *, monitor: str = "val_loss", mode: str = "min") -> bytes:
    """PNG bytes of three panels: train/val loss, the monitored metric (best marked), learning rate."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6), layout="constrained")
    loss_ax, monitor_ax, lr_ax = fig.subplots(1, 3)

    def series(key: str) -> tuple[list[int], list[float]]:
        points = [(int(r["epoch"]), float(r[key])) for r in rows if _is_number(r.get(key))]
        return [p[0] for p in points], [p[1] for p in points]

    for key, style in (("train_loss", "o-"), ("val_loss", "s-")):
        x, y = series(key)
        if x:
            loss_ax.plot(x, y, style, markersize=3, label=key)
    loss_ax.set(title="loss", xlabel="epoch")
    if loss_ax.has_data():
        loss_ax.legend()
    x, y = series(monitor)
    if x:
        monitor_ax.plot(x, y, "o-", markersize=3, color="tab:green")
        best = _best_index(y, mode)
        if best is not None:
            monitor_ax.plot([x[best]], [y[best]], "*", markersize=12, color="tab:red",
                            label=f"best {y[best]:.4g} (epoch {x[best]})")  # fmt: skip
            monitor_ax.legend()
    monitor_ax.set(title=f"{monitor} ({mode})", xlabel="epoch")
    x, y = series("lr")
    if x:
        lr_ax.plot(x, y, "o-", markersize=3, color="tab:purple")
        if all(v > 0 for v in y):
            lr_ax.set_yscale("log")
    lr_ax.set(title="learning rate (epoch start)", xlabel="epoch")
    for ax in (loss_ax, monitor_ax, lr_ax):
        ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def read_history(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of ``history.csv`` with numbers parsed (empty cells dropped); ``[]`` if absent."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        for raw in csv.DictReader(handle):
            row: dict[str, Any] = {}
            for key, text in raw.items():
                if text in ("", None):
                    continue
                number = float(text)
                row[key] = int(number) if key in ("epoch", "step") else number
            rows.append(row)
    return rows


def _write_metrics(
    run_path: Path,
    cfg: DictConfig,
    trainer: lightning.Trainer,
    early_stopping: EarlyStopping | None,
    summary: dict[str, Any],
    started: float,
) -> None:
    # From history.csv on disk: with ddp_spawn the callbacks of this process never saw the epochs.
    rows = read_history(run_path)
    monitor, mode = cfg.training.monitor, cfg.training.monitor_mode
    values = [r.get(monitor, math.nan) for r in rows]
    best = _best_index(values, mode)
    epochs_run = len(rows)
    reason = summary.get("stop_reason")
    if reason is None and early_stopping is not None:
        reason = _STOP_REASONS.get(early_stopping.stopping_reason.name)
    if reason is None:
        reason = "max_epochs" if epochs_run >= cfg.training.epochs else "stopped"
    metrics: dict[str, Any] = {
        "task": cfg.task,
        "model": cfg.model.name,
        "monitor": monitor,
        "mode": mode,
        "best_score": values[best] if best is not None else None,
        "best_epoch": rows[best]["epoch"] if best is not None else None,
        "epochs_run": epochs_run,
        "max_epochs": int(cfg.training.epochs),
        "stop_reason": reason,
        "wall_time_s": round(time.monotonic() - started, 3),
        "train_time_s": round(sum(float(r.get("epoch_time_s", 0.0)) for r in rows), 3),
        "global_step": int(trainer.global_step),
        "resumed": summary.get("resumed", False),
        "best_checkpoint": summary.get("best_checkpoint"),
        "last_epoch": rows[-1] if rows else None,
    }
    for key in ("error", "evaluation"):
        if key in summary:
            metrics[key] = summary[key]
    with atomic_write(run_path / METRICS_FILE, encoding="utf-8") as handle:
        json.dump(_jsonable(metrics), handle, indent=2, allow_nan=False)
        handle.write("\n")


def _best_index(values: Sequence[Any], mode: str) -> int | None:
    """Index of the first best finite value (ModelCheckpoint keeps the first of equal scores)."""
    best = None
    for i, value in enumerate(values):
        if not _is_number(value) or not math.isfinite(value):
            continue
        if best is None or (value < values[best] if mode == "min" else value > values[best]):
            best = i
    return best


def _current_lr(trainer: lightning.Trainer) -> float | None:
    try:
        return float(trainer.optimizers[0].param_groups[0]["lr"])
    except (IndexError, KeyError, AttributeError, TypeError):
        return None


def _scalar(value: Any) -> float | None:
    if isinstance(value, torch.Tensor):
        return float(value.detach().cpu().item()) if value.numel() == 1 else None
    if _is_number(value):
        return float(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _jsonable(value: Any) -> Any:
    """Plain JSON values: tensors and numpy numbers to Python, NaN/inf to null, paths to strings."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.detach().cpu().tolist())
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy scalars
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    return str(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ----------------------------------------------------------------------------------------------
# Weights: export, load, pretrained
# ----------------------------------------------------------------------------------------------


def export_weights(
    run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, checkpoint: str = "best"
) -> Path:
    """Write a run's ``model.safetensors``, ``config.yaml`` and, if any, ``thresholds.json`` to ``out_dir``.

    Parameters
    ----------
    run_dir
        A run directory written by :func:`train`.
    out_dir
        Destination folder (created); may be ``run_dir`` itself.
    checkpoint
        ``best`` or ``last``: which checkpoint's weights.

    Returns
    -------
    Path
        ``out_dir``, which :func:`load_model_from_run` accepts.

    Raises
    ------
    ConfigError
        If the run directory, its config or the checkpoint is missing.
    """
    run = Path(run_dir)
    ckpt = run / f"{checkpoint}.ckpt"
    if not (run / CONFIG_FILE).is_file():
        raise ConfigError(f"{run}: no {CONFIG_FILE}; not an ecglab run directory")
    if not ckpt.is_file():
        raise ConfigError(f"{run}: no {ckpt.name} to export")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    weights = {key[len("model.") :]: value for key, value in state.items() if key.startswith("model.")}
    if not weights:
        raise ConfigError(f"{ckpt}: no 'model.*' weights (was it written by an EcgTaskModule?)")
    out = Path(out_dir)
    model_name = _read_model_section(run / CONFIG_FILE)[0]
    _save_weights(weights, out / WEIGHTS_FILE, model_name)
    # The config, and what prediction needs beside the weights (a multilabel model's class list and
    # tuned thresholds).
    for name in (CONFIG_FILE, "thresholds.json"):
        if (run / name).is_file() and (out / name).resolve() != (run / name).resolve():
            text = (run / name).read_text(encoding="utf-8")
            with atomic_write(out / name, encoding="utf-8") as handle:
                handle.write(text)
    return out


def load_model_from_run(path: str | os.PathLike[str], *, map_location: str = "cpu") -> torch.nn.Module:
    """Rebuild a model from ``config.yaml`` and load ``model.safetensors`` (no pickle involved).

    Parameters
    ----------
    path
        A finished run directory, a folder written by :func:`export_weights`, or the
        ``.safetensors`` file itself (its folder must hold ``config.yaml``).
    map_location
        Device of the loaded weights.

    Returns
    -------
    torch.nn.Module
        The model in eval mode.

    Raises
    ------
    ConfigError
        Missing files, an unknown model, or weights that do not fit the configured model.
    """
    path = Path(path)
    weights = path if path.suffix == ".safetensors" else path / WEIGHTS_FILE
    folder = weights.parent
    if not (folder / CONFIG_FILE).is_file():
        raise ConfigError(f"{folder}: no {CONFIG_FILE} describing the model")
    if not weights.is_file():
        raise ConfigError(f"{folder}: no {WEIGHTS_FILE} (finish the run, or export it with export_weights)")
    from safetensors.torch import load_file

    from ecglab.models import create_model

    name, params = _read_model_section(folder / CONFIG_FILE)
    model = create_model(name, **params)
    try:
        model.load_state_dict(load_file(weights, device=map_location))
    except RuntimeError as exc:
        raise ConfigError(f"{weights}: weights do not fit model {name!r}: {_first_line(exc)}") from exc
    return model.to(map_location).eval()


def load_pretrained_weights(model: torch.nn.Module, source: str | os.PathLike[str]) -> list[str]:
    """Load the weights of ``source`` whose name and shape match ``model``'s; return their names.

    ``source`` is a ``.safetensors`` file or a folder holding ``model.safetensors``.

    Raises
    ------
    ConfigError
        If ``source`` has no weights file or no weight matches the model.
    """
    from safetensors.torch import load_file

    path = Path(source)
    weights = path / WEIGHTS_FILE if path.is_dir() else path
    if not weights.is_file():
        raise ConfigError(f"model.pretrained: {source}: no {WEIGHTS_FILE} or .safetensors file there")
    state = load_file(weights)
    own = model.state_dict()
    if not any(k in own for k in state):
        # A pre-training run wraps the encoder as ``backbone`` (see models/masked_pretrain.py).
        prefix = "backbone."
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise ConfigError(f"model.pretrained: {source}: no weight matches the model's names and shapes")
    model.load_state_dict(matched, strict=False)
    skipped = len(own) - len(matched)
    log.info(
        "loaded %d pretrained tensors from %s (%d keep their initialisation)", len(matched), weights, skipped
    )
    return sorted(matched)


def _save_weights(state_dict: Mapping[str, torch.Tensor], path: Path, model_name: str) -> None:
    from safetensors.torch import save

    from ecglab import __version__

    # Clones: safetensors refuses tensors that share memory (tied weights, views).
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in state_dict.items()}
    data = save(tensors, metadata={"format": "pt", "model": str(model_name), "ecglab": __version__})
    with atomic_write(path, mode="wb") as handle:
        handle.write(data)


def _read_model_section(config_file: Path) -> tuple[str, dict[str, Any]]:
    """``model.name`` and ``model.params`` read as plain YAML (no task schema needs registering)."""
    import yaml

    try:
        data = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        model = data["model"]
        name, params = model["name"], dict(model.get("params") or {})
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{config_file}: no readable model.name/model.params ({_first_line(exc)})") from exc
    return str(name), params
