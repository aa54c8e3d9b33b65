"""Typed experiment configs: YAML files plus dot-notation overrides, validated against schemas.

>>> from ecglab.config import load_config
>>> cfg = load_config("configs/base.yaml", ["training.batch_size=8"])  # doctest: +SKIP

The ``task:`` key of a config picks its schema among :func:`available_tasks` (``generic`` by
default); features with their own sections register a subclass of :class:`GenericConfig` with
:func:`register_schema`. Every mistake raises :class:`~ecglab.errors.ConfigError` with one line
naming the file or override, the key, and the valid keys or choices.
"""

from ecglab.config.loader import config_from_dict, config_to_yaml, load_config, save_config
from ecglab.config.schema import (
    CVConfig,
    DataConfig,
    GenericConfig,
    LoggingConfig,
    ModelConfig,
    OptimizerConfig,
    SchedulerConfig,
    TrainingConfig,
    available_tasks,
    bounded,
    choice,
    register_schema,
    schema_for,
)
from ecglab.config.tasks import BeatsConfig, BeatsSection  # registers the task schemas

__all__ = [
    "BeatsConfig",
    "BeatsSection",
    "CVConfig",
    "DataConfig",
    "GenericConfig",
    "LoggingConfig",
    "ModelConfig",
    "OptimizerConfig",
    "SchedulerConfig",
    "TrainingConfig",
    "available_tasks",
    "bounded",
    "choice",
    "config_from_dict",
    "config_to_yaml",
    "load_config",
    "register_schema",
    "save_config",
    "schema_for",
]
