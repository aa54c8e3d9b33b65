"""The task registry: how the trainer turns ``cfg.task`` into a model, its data and an evaluation.

A task (beat classification, 12-lead multilabel, pretraining, digitizer segmentation, ...) registers
a *builder*: a function of the validated config returning :class:`TaskParts`::

    from ecglab.training import EcgTaskModule, TaskParts, register_task

    def build_beats(cfg):
        return TaskParts(module=BeatsModule(cfg), datamodule=BeatsData(cfg), evaluate=evaluate_beats)

    register_task("beats", build_beats)

The config schema of the task is registered separately with :func:`ecglab.config.register_schema`
(the same name), so ``task: beats`` in a YAML file both selects the schema and this builder.
Modules that register tasks are listed in :data:`TASK_MODULES` and imported on first lookup.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecglab.errors import ConfigError

if TYPE_CHECKING:
    import lightning
    from omegaconf import DictConfig

__all__ = ["TASK_MODULES", "TaskParts", "TaskSpec", "get_task", "list_tasks", "register_task"]

# Modules that call register_task when imported; missing ones are skipped (features still to come).
TASK_MODULES: tuple[str, ...] = (
    "ecglab.training.beats",
    "ecglab.training.multilabel",
    "ecglab.training.pretrain",
    "ecglab.training.digitize",
)

EvaluateHook = Callable[
    ["lightning.LightningModule", "lightning.LightningDataModule", Path], Mapping[str, Any]
]


@dataclass
class TaskParts:
    """What a task builder returns for one run.

    Attributes
    ----------
    module
        The task's ``LightningModule``, usually an :class:`~ecglab.training.module.EcgTaskModule`.
    datamodule
        The ``LightningDataModule`` giving the train (and validation) loaders.
    evaluate
        Optional hook ``evaluate(module, datamodule, run_dir) -> dict`` called once after training,
        in the global-rank-0 process only, under ``torch.no_grad()``, with the best checkpoint's
        weights loaded into ``module`` (on the CPU, in eval mode; move it to a device yourself).
        It may write files into ``run_dir`` (confusion matrices, per-class reports); the
        JSON-serializable dict it returns is stored under ``"evaluation"`` in ``metrics.json``.
    """

    module: lightning.LightningModule
    datamodule: lightning.LightningDataModule
    evaluate: EvaluateHook | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A registered task.

    Attributes
    ----------
    name
        Task name (the config's ``task:`` value).
    builder
        ``builder(cfg) -> TaskParts``.
    description
        One line for listings.
    """

    name: str
    builder: Callable[[DictConfig], TaskParts]
    description: str = ""


_TASKS: dict[str, TaskSpec] = {}
_IMPORTED: set[str] = set()
_LOCK = threading.RLock()


def register_task(
    name: str, builder: Callable[[DictConfig], TaskParts] | None = None, *, description: str = ""
) -> Any:
    """Register the builder of task ``name``; usable directly or as ``@register_task("name")``.

    Parameters
    ----------
    name
        Task name, equal to the name its config schema is registered under.
    builder
        ``builder(cfg) -> TaskParts``; when omitted, returns a decorator.
    description
        One line describing the task.

    Returns
    -------
    Callable
        ``builder`` (or the decorator).

    Raises
    ------
    ValueError
        If ``name`` is already registered to a different builder.
    """
    if builder is None:

        def decorator(fn: Callable[[DictConfig], TaskParts]) -> Callable[[DictConfig], TaskParts]:
            register_task(name, fn, description=description)
            return fn

        return decorator
    if not isinstance(name, str) or not name:
        raise ValueError(f"task name must be a non-empty string, got {name!r}")
    if not callable(builder):
        raise TypeError(f"builder of task {name!r} must be callable, got {builder!r}")
    with _LOCK:
        registered = _TASKS.get(name)
        if registered is not None and _identity(registered.builder) != _identity(builder):
            raise ValueError(f"task {name!r} is already registered to {_identity(registered.builder)}")
        _TASKS[name] = TaskSpec(name, builder, description)
    return builder


def get_task(name: str) -> TaskSpec:
    """The task registered as ``name``.

    Raises
    ------
    ConfigError
        If no builder is registered for ``name``: lists the registered tasks and the closest one.
    """
    _import_task_modules()
    spec = _TASKS.get(name)
    if spec is None:
        names = sorted(_TASKS)
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            f"task: no trainer is registered for task {name!r} "
            f"({hint}trainable tasks: {', '.join(names) if names else 'none'})"
        )
    return spec


def list_tasks() -> list[str]:
    """Names of the tasks with a registered builder, sorted."""
    _import_task_modules()
    return sorted(_TASKS)


def _identity(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _import_task_modules() -> None:
    with _LOCK:
        for module in TASK_MODULES:
            if module in _IMPORTED:
                continue
            try:
                spec = importlib.util.find_spec(module)
            except ModuleNotFoundError:
                spec = None
            if spec is not None:
                importlib.import_module(module)
            _IMPORTED.add(module)
