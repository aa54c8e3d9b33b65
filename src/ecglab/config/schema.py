"""Typed schemas of ecglab configs and the registry that picks one per task.

A config is a YAML file whose top-level ``task:`` key names a registered schema (``generic`` when
absent). Each schema is a dataclass used as an OmegaConf structured config, so an unknown key or a
value of the wrong type is an error instead of being silently accepted. Beyond types, fields carry
two kinds of metadata that :func:`ecglab.config.load_config` checks:

* ``choices``: the value must be one of a fixed set of strings (see :func:`choice`);
* bounds ``ge``/``gt``/``le``/``lt`` on numbers (see :func:`bounded`).

A section dataclass may also define a static method ``check_section(section)`` yielding
``(key, problem)`` pairs for rules that involve several fields (``cv.val_fold < cv.n_folds``).

Task-specific schemas subclass :class:`GenericConfig` and register themselves::

    @dataclass
    class BeatsConfig(GenericConfig):
        beats: BeatsSection = field(default_factory=BeatsSection)

    register_schema("beats", BeatsConfig)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig

# Values Lightning 2.6 accepts for ``Trainer(precision=...)`` as strings (aliases included).
PRECISIONS: tuple[str, ...] = (
    "32",
    "16-mixed",
    "bf16-mixed",
    "64",
    "32-true",
    "64-true",
    "16-true",
    "bf16-true",
    "16",
    "bf16",
    "transformer-engine",
    "transformer-engine-float16",
)
# ``Trainer(accelerator=...)``; ``gpu`` means whatever GPU backend is available.
ACCELERATORS: tuple[str, ...] = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
# ``Trainer(strategy=...)``: "auto" plus lightning.pytorch.strategies.StrategyRegistry of Lightning 2.6.
STRATEGIES: tuple[str, ...] = (
    "auto",
    "ddp",
    "ddp_spawn",
    "ddp_fork",
    "ddp_notebook",
    "ddp_find_unused_parameters_false",
    "ddp_find_unused_parameters_true",
    "ddp_spawn_find_unused_parameters_false",
    "ddp_spawn_find_unused_parameters_true",
    "ddp_fork_find_unused_parameters_false",
    "ddp_fork_find_unused_parameters_true",
    "ddp_notebook_find_unused_parameters_false",
    "ddp_notebook_find_unused_parameters_true",
    "deepspeed",
    "deepspeed_stage_1",
    "deepspeed_stage_2",
    "deepspeed_stage_2_offload",
    "deepspeed_stage_3",
    "deepspeed_stage_3_offload",
    "deepspeed_stage_3_offload_nvme",
    "fsdp",
    "fsdp_cpu_offload",
    "single_device",
    "single_xla",
    "xla_debug",
    "xla",
    "single_tpu",
)
GRADIENT_CLIP_ALGORITHMS: tuple[str, ...] = ("norm", "value")
MONITOR_MODES: tuple[str, ...] = ("min", "max")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
SCHEDULERS: tuple[str, ...] = ("none", "plateau", "cosine", "onecycle")
SPLITS: tuple[str, ...] = ("stratified", "patient", "random", "predefined")
LOGGERS: tuple[str, ...] = ("csv", "tensorboard", "mlflow")


def choice(default: str, choices: Sequence[str]) -> Any:
    """Declare a string field whose value must be one of ``choices``.

    Parameters
    ----------
    default
        The default value; it must itself be one of ``choices``.
    choices
        The valid values, in the order error messages list them.

    Returns
    -------
    dataclasses.Field
        A field for a dataclass schema (typed ``Any`` so it can stand in the annotation's place).
    """
    if default not in choices:
        raise ValueError(f"default {default!r} is not one of {', '.join(choices)}")
    return field(default=default, metadata={"choices": tuple(choices)})


def bounded(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """Declare a numeric field with inclusive (``ge``, ``le``) or exclusive (``gt``, ``lt``) bounds.

    ``None`` values (for ``Optional`` fields) are not checked against the bounds.

    Returns
    -------
    dataclasses.Field
        A field for a dataclass schema.
    """
    bounds = {
        name: value for name, value in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if value is not None
    }
    return field(default=default, metadata={"bounds": bounds})


@dataclass
class DataConfig:
    """Where the records come from and how they are read.

    Attributes
    ----------
    dataset
        Dataset name (``mitdb``, ``ptbxl``, ``cinc2020``, ...); required.
    root
        Folder holding the dataset; ``None`` uses the data-location setting (``--data``,
        ``ECGLAB_DATA`` or the per-user cache, see :mod:`ecglab.io.paths`).
    fs
        Sampling rate in Hz the signals are resampled to; ``None`` keeps the native rate.
    leads
        Lead names to use (``[I, II, V1]``); empty means every lead of the record.
    num_workers
        Data-loader worker processes (0 loads in the main process).
    """

    dataset: str = MISSING
    root: str | None = None
    fs: float | None = bounded(None, gt=0)
    leads: list[str] = field(default_factory=list)
    num_workers: int = bounded(4, ge=0)


@dataclass
class ModelConfig:
    """Which model to build.

    Attributes
    ----------
    name
        Name in the model registry; required.
    params
        Keyword arguments of the model's constructor; free-form here because each model family takes
        different ones (the model registry validates them).
    pretrained
        Checkpoint path or name to initialise the weights from; ``None`` starts from scratch.
    """

    name: str = MISSING
    params: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None


@dataclass
class TrainingConfig:
    """How to train: the arguments of the Lightning ``Trainer`` plus early stopping and the seed.

    Attributes
    ----------
    epochs
        Maximum number of epochs.
    batch_size
        Samples per batch on each device.
    precision
        Lightning precision (``32``, ``16-mixed``, ``bf16-mixed``, ``64``, ...).
    accelerator
        ``auto``, ``cpu``, ``gpu``, ``cuda``, ``mps`` or ``tpu``.
    devices
        Number of devices, ``-1`` for all of them, or ``auto``.
    strategy
        Lightning strategy (``auto``, ``ddp``, ``ddp_spawn``, ``fsdp``, ``xla``, ...).
    num_nodes
        Number of machines.
    accumulate_grad_batches
        Batches whose gradients are summed before each optimizer step.
    gradient_clip_val
        Gradient clipping threshold; ``None`` disables clipping.
    gradient_clip_algorithm
        ``norm`` (clip the global norm) or ``value`` (clip each element).
    early_stopping_patience
        Epochs without improvement of ``monitor`` before stopping; ``None`` disables early stopping.
    monitor
        Metric watched by early stopping, checkpointing and the ``plateau`` scheduler.
    monitor_mode
        ``min`` if a lower ``monitor`` is better, ``max`` otherwise.
    seed
        Seed of every random number generator (Python, NumPy, torch, data-loader workers).
    deterministic
        Ask torch for deterministic algorithms (slower; some operations have none).
    """

    epochs: int = bounded(50, ge=1)
    batch_size: int = bounded(64, ge=1)
    precision: str = choice("32", PRECISIONS)
    accelerator: str = choice("auto", ACCELERATORS)
    devices: int | str = "auto"
    strategy: str = choice("auto", STRATEGIES)
    num_nodes: int = bounded(1, ge=1)
    accumulate_grad_batches: int = bounded(1, ge=1)
    gradient_clip_val: float | None = bounded(None, gt=0)
    gradient_clip_algorithm: str = choice("norm", GRADIENT_CLIP_ALGORITHMS)
    early_stopping_patience: int | None = bounded(10, ge=1)
    monitor: str = "val_loss"
    monitor_mode: str = choice("min", MONITOR_MODES)
    seed: int = bounded(42, ge=0)
    deterministic: bool = False

    @staticmethod
    def check_section(section: DictConfig) -> Iterator[tuple[str, str]]:
        """Check ``devices``: a positive int, ``-1`` (every device) or ``auto``."""
        devices = section.devices
        if isinstance(devices, str):
            if devices != "auto":
                yield "devices", f"expected a positive int, -1 (all devices) or 'auto', got {devices!r}"
        elif devices < 1 and devices != -1:
            yield "devices", f"expected a positive int, -1 (all devices) or 'auto', got {devices}"


@dataclass
class OptimizerConfig:
    """The optimizer.

    Attributes
    ----------
    name
        ``adam``, ``adamw`` or ``sgd``.
    lr
        Learning rate.
    weight_decay
        L2 penalty (decoupled for ``adamw``).
    momentum
        Momentum of ``sgd`` (ignored by the Adam family).
    """

    name: str = choice("adamw", OPTIMIZERS)
    lr: float = bounded(1e-3, gt=0)
    weight_decay: float = bounded(1e-2, ge=0)
    momentum: float = bounded(0.9, ge=0, lt=1)


@dataclass
class SchedulerConfig:
    """The learning-rate schedule.

    Attributes
    ----------
    name
        ``none`` (constant), ``plateau`` (reduce on plateau of ``training.monitor``), ``cosine``
        (cosine annealing over ``training.epochs``) or ``onecycle``.
    factor
        ``plateau``: multiplier of the learning rate at each reduction.
    patience
        ``plateau``: epochs without improvement before a reduction.
    min_lr
        ``plateau`` and ``cosine``: lower bound of the learning rate.
    warmup_epochs
        ``cosine``: epochs of linear warm-up before the annealing starts.
    max_lr
        ``onecycle``: peak learning rate; ``None`` uses ``optimizer.lr``.
    pct_start
        ``onecycle``: fraction of the steps spent increasing the learning rate.
    """

    name: str = choice("none", SCHEDULERS)
    factor: float = bounded(0.1, gt=0, lt=1)
    patience: int = bounded(5, ge=0)
    min_lr: float = bounded(0.0, ge=0)
    warmup_epochs: int = bounded(0, ge=0)
    max_lr: float | None = bounded(None, gt=0)
    pct_start: float = bounded(0.3, gt=0, lt=1)


@dataclass
class CVConfig:
    """Cross-validation: how records are split into folds and which fold validates.

    Attributes
    ----------
    n_folds
        Number of folds.
    val_fold
        Index (from 0) of the validation fold.
    seed
        Seed of the split (independent of ``training.seed`` so that folds stay fixed across runs).
    split
        ``stratified`` (label proportions kept per fold), ``patient`` (all records of a patient in
        one fold), ``random``, or ``predefined`` (the dataset's own folds, e.g. PTB-XL ``strat_fold``).
    """

    n_folds: int = bounded(5, ge=2)
    val_fold: int = bounded(0, ge=0)
    seed: int = bounded(0, ge=0)
    split: str = choice("stratified", SPLITS)

    @staticmethod
    def check_section(section: DictConfig) -> Iterator[tuple[str, str]]:
        """Check that ``val_fold`` names one of the ``n_folds`` folds (a dataset's own fold number when
        ``split`` is ``predefined``, e.g. PTB-XL ``strat_fold`` 1-10)."""
        if section.split != "predefined" and section.val_fold >= section.n_folds:
            yield "val_fold", f"must be < cv.n_folds ({section.n_folds}), got {section.val_fold}"


@dataclass
class LoggingConfig:
    """Where and how a run is recorded.

    Attributes
    ----------
    logger
        ``csv``, ``tensorboard`` (needs the ``tensorboard`` extra) or ``mlflow`` (the ``mlflow`` extra).
    run_dir
        Root folder of runs; each run writes to ``<run_dir>/<name>/...``.
    name
        Run name; ``None`` derives it from the config file name.
    log_every_n_steps
        Training steps between two logged values.
    """

    logger: str = choice("csv", LOGGERS)
    run_dir: str = "runs"
    name: str | None = None
    log_every_n_steps: int = bounded(50, ge=1)


@dataclass
class GenericConfig:
    """The ``generic`` task: every section a training run needs; base class of task schemas.

    Attributes
    ----------
    task
        Registered schema name (see :func:`available_tasks`).
    """

    task: str = "generic"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    cv: CVConfig = field(default_factory=CVConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


DEFAULT_TASK = "generic"
_SCHEMAS: dict[str, type[GenericConfig]] = {DEFAULT_TASK: GenericConfig}


def register_schema(task: str, schema: type[GenericConfig]) -> type[GenericConfig]:
    """Register the schema of configs whose ``task:`` is ``task``.

    Parameters
    ----------
    task
        Task name written in the YAML (``beats``, ``multilabel``, ``pretrain``, ``digitize``, ...).
    schema
        A dataclass subclass of :class:`GenericConfig`.

    Returns
    -------
    type
        ``schema`` itself.

    Raises
    ------
    TypeError
        If ``schema`` is not a dataclass subclass of :class:`GenericConfig`.
    ValueError
        If ``task`` is empty or already registered to another schema.
    """
    if not (
        isinstance(schema, type) and dataclasses.is_dataclass(schema) and issubclass(schema, GenericConfig)
    ):
        raise TypeError(
            f"schema of task {task!r} must be a dataclass subclass of GenericConfig, got {schema!r}"
        )
    if not task or not isinstance(task, str):
        raise ValueError(f"task name must be a non-empty string, got {task!r}")
    registered = _SCHEMAS.get(task)
    if registered is not None and registered is not schema:
        raise ValueError(f"task {task!r} is already registered to {registered.__qualname__}")
    _SCHEMAS[task] = schema
    return schema


def available_tasks() -> list[str]:
    """Names of the registered tasks, sorted."""
    return sorted(_SCHEMAS)


def schema_for(task: str) -> type[GenericConfig]:
    """Schema registered for ``task``.

    Raises
    ------
    KeyError
        If no schema is registered under ``task`` (:func:`ecglab.config.load_config` turns this into
        a :class:`~ecglab.errors.ConfigError` listing :func:`available_tasks`).
    """
    return _SCHEMAS[task]
