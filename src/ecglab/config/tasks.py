"""Config schemas of the training tasks (light: dataclasses only, no torch).

Each task's schema is registered here so that ``load_config`` knows ``task: beats`` without
importing the task's training code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ecglab.config.schema import GenericConfig, bounded, choice, register_schema

BALANCE = ("none", "weighted", "sampler")
WEIGHT_SCHEMES = ("inverse_sqrt", "inverse")
LOSSES = ("ce", "focal")
SPLITS = ("inter", "intra")


@dataclass
class BeatsSection:
    """Beat windows, class balance and the split protocol of the ``beats`` task."""

    before_s: float = bounded(0.25, ge=0.0)
    after_s: float = bounded(0.45, gt=0.0)
    low_hz: float = bounded(0.5, gt=0.0)
    high_hz: float = bounded(40.0, gt=0.0)
    template: bool = False
    rr_dropout: float = bounded(0.0, ge=0.0, le=1.0)
    split: str = choice("inter", SPLITS)
    val_fraction: float = bounded(0.2, gt=0.0, le=0.5)
    balance: str = choice("weighted", BALANCE)
    weights: str = choice("inverse_sqrt", WEIGHT_SCHEMES)
    loss: str = choice("ce", LOSSES)
    focal_gamma: float = bounded(2.0, ge=0.0)
    label_smoothing: float = bounded(0.0, ge=0.0, lt=1.0)
    augment: bool = True
    cache_dir: str | None = None
    eval_split: str = choice("ds2", ("ds2", "ds1", "val", "train"))


@dataclass
class BeatsConfig(GenericConfig):
    """Config of the ``beats`` task: the generic sections plus ``beats``."""

    task: str = "beats"
    beats: BeatsSection = field(default_factory=BeatsSection)


register_schema("beats", BeatsConfig)
