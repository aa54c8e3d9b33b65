"""Config schemas of the training tasks (light: dataclasses only, no torch).

Each task's schema is registered here so that ``load_config`` knows ``task: beats`` without
importing the task's training code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

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
    # Knowledge distillation: a trained beats model (shipped name or run folder) whose softened
    # probabilities on the training beats are an extra target, weighted by distill_weight.
    teacher: str | None = None
    distill_weight: float = bounded(0.5, ge=0.0, le=1.0)
    distill_temperature: float = bounded(2.0, gt=0.0)


@dataclass
class BeatsConfig(GenericConfig):
    """Config of the ``beats`` task: the generic sections plus ``beats``."""

    task: str = "beats"
    beats: BeatsSection = field(default_factory=BeatsSection)


register_schema("beats", BeatsConfig)


CHALLENGE_VERSIONS = ("2020", "2021")
PTBXL_TASKS = ("superdiagnostic", "diagnostic", "rhythm")
SOURCES = ("cinc", "ptbxl")
NORMALIZE = ("zscore", "none")
ML_LOSSES = ("bce", "focal")
POS_WEIGHTS = ("none", "sqrt", "inverse")
THRESHOLD_OBJECTIVES = ("challenge", "f1", "fixed")
LEAD_SET_SIZES = (12, 6, 4, 3, 2)


@dataclass
class MultilabelSection:
    """Records, labels, preprocessing, loss and thresholds of the ``multilabel`` task.

    ``sources`` picks the pool: ``cinc`` (PhysioNet/CinC 2020/2021 records with the challenge's
    scored SNOMED CT classes of ``version``), ``ptbxl`` (PTB-XL; with ``cinc`` its SCP codes are mapped
    to the challenge classes, alone it uses ``ptbxl_task``'s classes). ``test_sources`` holds whole
    databases out (database-wise split); otherwise fold ``test_fold`` (default: the fold after
    ``cv.val_fold``) is the test set, never seen in training or threshold tuning.
    """

    sources: list[str] = field(default_factory=lambda: ["cinc", "ptbxl"])
    version: str = choice("2021", CHALLENGE_VERSIONS)
    ptbxl_task: str = choice("superdiagnostic", PTBXL_TASKS)
    ptbxl_fs: int = 100
    test_sources: list[str] = field(default_factory=list)
    test_fold: int | None = bounded(None, ge=0)
    lead_set: int = 12
    crop_s: float = bounded(10.0, gt=0.0)
    eval_step_s: float | None = bounded(None, gt=0.0)
    bandpass: list[float] | None = field(default_factory=lambda: [0.5, 45.0])
    notch_hz: float | None = bounded(None, gt=0.0)
    normalize: str = choice("zscore", NORMALIZE)
    use_demographics: bool = False
    loss: str = choice("bce", ML_LOSSES)
    focal_gamma: float = bounded(2.0, ge=0.0)
    pos_weight: str = choice("none", POS_WEIGHTS)
    augment: bool = True
    threshold_objective: str = choice("challenge", THRESHOLD_OBJECTIVES)
    cache_dir: str | None = None

    @staticmethod
    def check_section(section: Any) -> Iterator[tuple[str, str]]:
        """Sources must be known and not empty; a band-pass is ``[low, high]``."""
        if not section.sources:
            yield "sources", f"must name at least one of {', '.join(SOURCES)}"
        for source in section.sources:
            if source not in SOURCES:
                yield "sources", f"unknown source {source!r} (choose from {', '.join(SOURCES)})"
        if section.lead_set not in LEAD_SET_SIZES:
            yield "lead_set", f"expected one of {', '.join(map(str, LEAD_SET_SIZES))} (CinC 2021 lead sets)"
        if section.ptbxl_fs not in (100, 500):
            yield "ptbxl_fs", f"PTB-XL comes at 100 or 500 Hz, got {section.ptbxl_fs}"
        band = section.bandpass
        if band is not None and (len(band) != 2 or not 0 <= band[0] < band[1]):
            yield "bandpass", f"expected [low_hz, high_hz] with 0 <= low < high, got {list(band)}"


@dataclass
class MultilabelConfig(GenericConfig):
    """Config of the ``multilabel`` task (12-lead classification, CinC 2020/2021 and PTB-XL)."""

    task: str = "multilabel"
    multilabel: MultilabelSection = field(default_factory=MultilabelSection)


@dataclass
class PretrainSection:
    """Self-supervised pre-training by masked-sample reconstruction (``pretrain`` task).

    Each training crop hides ``mask_ratio`` of its time in spans of ``span_s`` seconds (the same
    spans in every lead) and, with probability ``lead_drop``, whole leads; the model reconstructs the
    hidden samples from the rest (MSE on hidden samples only). Labels are never read. Records of the
    validation and test folds of the ``multilabel`` split (same ``cv`` keys) are left out, so a
    fine-tuned model is scored on records pre-training never saw.
    """

    mask_ratio: float = bounded(0.3, gt=0.0, lt=1.0)
    span_s: float = bounded(0.4, gt=0.0)
    lead_drop: float = bounded(0.2, ge=0.0, le=1.0)


@dataclass
class PretrainConfig(GenericConfig):
    """Config of the ``pretrain`` task: the ``multilabel`` data sections plus ``pretrain``."""

    task: str = "pretrain"
    multilabel: MultilabelSection = field(default_factory=MultilabelSection)
    pretrain: PretrainSection = field(default_factory=PretrainSection)


register_schema("multilabel", MultilabelConfig)
register_schema("pretrain", PretrainConfig)


DIGITIZE_DAMAGE_PRESETS = ("none", "light", "default", "heavy")


@dataclass
class DigitizePagesSection:
    """How training pages are drawn (see :class:`ecglab.datasets.digitize_pages.PageRecipe`)."""

    layouts: list[str] = field(default_factory=lambda: ["3x4+1", "3x4+1", "3x4", "6x2", "3x4+3"])
    dpis: list[float] = field(default_factory=lambda: [100.0, 150.0, 200.0, 300.0])
    grid_colors: list[str] = field(default_factory=lambda: ["red", "pink", "green", "blue", "grey", "bw"])
    trace_width_mm: list[float] = field(default_factory=lambda: [0.2, 0.6])
    damage_preset: str = choice("default", DIGITIZE_DAMAGE_PRESETS)
    p_damage: float = bounded(0.7, ge=0.0, le=1.0)
    jitter_mm: float = bounded(1.0, ge=0.0)
    jitter_scale: float = bounded(0.01, ge=0.0)
    p_shift: float = bounded(0.0, ge=0.0, le=1.0)
    shift_mm: float = bounded(4.0, ge=0.0)
    label_positions: list[str] = field(default_factory=lambda: ["above"])
    p_separators: float = bounded(0.0, ge=0.0, le=1.0)
    p_connect: float = bounded(0.0, ge=0.0, le=1.0)
    widen_thin_pen: bool = False


@dataclass
class DigitizeSection:
    """Pages, crops and loss of the ``digitize`` task (learned ``whole`` / ``series`` digitizers).

    Pages are rendered from the 12-lead records of ``sources`` (the ``multilabel`` pool): records of
    fold ``cv.val_fold`` validate, those of the next fold are held out for evaluation renders and
    never rendered for training, the rest train. Crops are ``px_per_mm`` pixels per mm of paper;
    training sees random ``crop_width_mm`` windows of them (``series``: ``max_rows`` rows of a page).
    """

    sources: list[str] = field(default_factory=lambda: ["cinc", "ptbxl"])
    ptbxl_fs: int = 100
    train_pages: int = bounded(400, ge=1)
    val_pages: int = bounded(48, ge=1)
    px_per_mm: float = bounded(3.0, gt=0.0)
    height_mm: float = bounded(48.0, gt=0.0)
    margin_mm: float = bounded(3.0, ge=0.0)
    upsample: int = bounded(2, ge=1)
    crop_width_mm: float = bounded(80.0, gt=0.0)
    max_rows: int = bounded(3, ge=1)
    sigma: float = bounded(1.0, gt=0.0)
    mask_weight: float = bounded(0.5, ge=0.0)
    workers: int = bounded(2, ge=0)
    cache_dir: str | None = None
    pages: DigitizePagesSection = field(default_factory=DigitizePagesSection)

    @staticmethod
    def check_section(section: Any) -> Iterator[tuple[str, str]]:
        """Sources must be known; the pen width is ``[low, high]``."""
        for source in section.sources:
            if source not in SOURCES:
                yield "sources", f"unknown source {source!r} (choose from {', '.join(SOURCES)})"
        if section.ptbxl_fs not in (100, 500):
            yield "ptbxl_fs", f"PTB-XL comes at 100 or 500 Hz, got {section.ptbxl_fs}"
        width = section.pages.trace_width_mm
        if len(width) != 2 or not 0 < width[0] <= width[1]:
            yield "pages.trace_width_mm", f"expected [low, high] with 0 < low <= high, got {list(width)}"


@dataclass
class DigitizeConfig(GenericConfig):
    """Config of the ``digitize`` task (models ``whole`` and ``series``)."""

    task: str = "digitize"
    digitize: DigitizeSection = field(default_factory=DigitizeSection)


register_schema("digitize", DigitizeConfig)
