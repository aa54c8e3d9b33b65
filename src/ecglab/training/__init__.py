"""Training: one Lightning-based trainer for every task, a task registry, and the base task module.

>>> from ecglab.config import load_config
>>> from ecglab.training import train
>>> run_dir = train(load_config("configs/mitdb-beats.yaml"), name="mitdb-beats")  # doctest: +SKIP

Names are imported lazily: ``import ecglab.training.tasks`` (to register a task) does not import
Lightning, and the CLI stays fast until a command trains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecglab._lazy import lazy_exports

if TYPE_CHECKING:
    from ecglab.training.module import EcgTaskModule, TrainingDiverged, build_optimizer, build_scheduler
    from ecglab.training.tasks import TaskParts, TaskSpec, get_task, list_tasks, register_task
    from ecglab.training.trainer import (
        HistoryCallback,
        export_weights,
        load_model_from_run,
        load_pretrained_weights,
        read_history,
        train,
    )

_EXPORTS = {
    "EcgTaskModule": "ecglab.training.module",
    "TrainingDiverged": "ecglab.training.module",
    "build_optimizer": "ecglab.training.module",
    "build_scheduler": "ecglab.training.module",
    "TaskParts": "ecglab.training.tasks",
    "TaskSpec": "ecglab.training.tasks",
    "get_task": "ecglab.training.tasks",
    "list_tasks": "ecglab.training.tasks",
    "register_task": "ecglab.training.tasks",
    "HistoryCallback": "ecglab.training.trainer",
    "export_weights": "ecglab.training.trainer",
    "load_model_from_run": "ecglab.training.trainer",
    "load_pretrained_weights": "ecglab.training.trainer",
    "read_history": "ecglab.training.trainer",
    "train": "ecglab.training.trainer",
}

__all__ = [
    "EcgTaskModule",
    "HistoryCallback",
    "TaskParts",
    "TaskSpec",
    "TrainingDiverged",
    "build_optimizer",
    "build_scheduler",
    "export_weights",
    "get_task",
    "list_tasks",
    "load_model_from_run",
    "load_pretrained_weights",
    "read_history",
    "register_task",
    "train",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
