"""Task ``beats``: AAMI beat classification on MIT-BIH with the inter-patient protocol.

Training uses the DS1 records minus a patient-held-out validation set
(:func:`ecglab.datasets.mitdb.split_records`); after training, the evaluation hook scores the best
checkpoint on DS2 at the reference beat locations and writes ``ds2_confusion.png``. The windows and
RR features come from :func:`ecglab.signal.beats.extract_beats`, the same function prediction on
arbitrary records uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning
import numpy as np
import torch
from omegaconf import DictConfig

from ecglab.errors import ConfigError
from ecglab.training.module import EcgTaskModule
from ecglab.training.tasks import TaskParts, register_task


def window_spec(cfg: DictConfig) -> Any:
    """The :class:`~ecglab.signal.beats.BeatWindowSpec` of a beats config."""
    from ecglab.signal.beats import BeatWindowSpec

    b = cfg.beats
    return BeatWindowSpec(
        fs=float(cfg.data.fs),
        before_s=b.before_s,
        after_s=b.after_s,
        low_hz=b.low_hz,
        high_hz=b.high_hz,
        template=bool(b.get("template", False)),
    )


def check_model_matches_data(cfg: DictConfig) -> None:
    """The model's input sizes must be the data's: say which key to change when they are not."""
    from ecglab.signal.beats import RR_FEATURE_NAMES

    params = cfg.model.params
    spec = window_spec(cfg)
    expected = {
        "in_leads": len(cfg.data.leads) * spec.channels_per_lead,
        "window": spec.n_samples,
        "n_rr": len(RR_FEATURE_NAMES),
    }
    for key, value in expected.items():
        if key in params and int(params[key]) != value:
            raise ConfigError(
                f"model.params.{key} is {params[key]} but the data give {value}; set it to {value}"
            )


class BeatsData(lightning.LightningDataModule):
    """DS1 training/validation beats (cached on disk after the first read)."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.train_set: Any = None
        self.val_set: Any = None
        self.train_soft: np.ndarray | None = None  # teacher probabilities (distillation)

    def _load(self, records: Any) -> Any:
        from ecglab.datasets.mitdb import load_beat_set

        cfg = self.cfg
        return load_beat_set(
            records, data_root=cfg.data.root, spec=window_spec(cfg), leads=tuple(cfg.data.leads),
            cache_dir=cfg.beats.cache_dir,
        )  # fmt: skip

    def setup(self, stage: str | None = None) -> None:
        """Load the beats of the training and validation records."""
        from ecglab.datasets.mitdb import intra_split, split_records

        if self.train_set is not None:
            return
        b = self.cfg.beats
        seed = int(self.cfg.cv.seed)
        if b.split == "intra":
            beats = self._load(split_records("intra"))
            self.train_set, self.val_set = intra_split(beats, test_fraction=b.val_fraction, seed=seed)
        else:
            self.train_set = self._load(split_records("train", val_fraction=b.val_fraction, seed=seed))
            self.val_set = self._load(split_records("val", val_fraction=b.val_fraction, seed=seed))
        if b.get("teacher"):
            self.train_soft = teacher_probabilities(self.cfg, self.train_set)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        from ecglab.datasets.mitdb import BeatDataset, class_weights

        # Augmentation runs on whole batches in BeatsModule (per-item tensor ops cost ~10x more).
        dataset: torch.utils.data.Dataset = BeatDataset(self.train_set, augment=False)
        if self.train_soft is not None:
            dataset = WithSoftTargets(dataset, self.train_soft)
        sampler = None
        if self.cfg.beats.balance == "sampler":
            w = class_weights(self.train_set.labels, self.cfg.beats.weights).numpy()[self.train_set.labels]
            generator = torch.Generator().manual_seed(int(self.cfg.training.seed))
            sampler = torch.utils.data.WeightedRandomSampler(
                torch.as_tensor(w, dtype=torch.double), len(w), replacement=True, generator=generator
            )
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=int(self.cfg.training.batch_size),
            shuffle=sampler is None,
            sampler=sampler,
            num_workers=int(self.cfg.data.num_workers),
            persistent_workers=int(self.cfg.data.num_workers) > 0,
            drop_last=True,
        )

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        from ecglab.datasets.mitdb import BeatDataset

        return torch.utils.data.DataLoader(BeatDataset(self.val_set), batch_size=2048, shuffle=False)


class WithSoftTargets(torch.utils.data.Dataset):
    """A beat dataset whose items carry the teacher's probabilities as a fourth element."""

    def __init__(self, base: torch.utils.data.Dataset, soft: np.ndarray) -> None:
        if len(soft) != len(base):  # type: ignore[arg-type]
            raise ValueError(f"{len(soft)} teacher rows for {len(base)} beats")  # type: ignore[arg-type]
        self.base = base
        self.soft = torch.from_numpy(np.ascontiguousarray(soft, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.soft)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return (*self.base[index], self.soft[index])


def teacher_probabilities(cfg: DictConfig, beats: Any) -> np.ndarray:
    """Class probabilities of ``beats.teacher`` on ``beats`` (which must be cut as the teacher's were).

    Raises
    ------
    ConfigError
        The teacher is not a beats model, or its windows, leads or sampling rate differ.
    """
    from ecglab.pretrained import load_task_model

    teacher, tcfg, folder, _ = load_task_model(cfg.beats.teacher, "beats")
    mine, theirs = (window_spec(cfg), list(cfg.data.leads)), (window_spec(tcfg), list(tcfg.data.leads))
    if mine != theirs:
        raise ConfigError(
            f"beats.teacher {folder}: its beat windows/leads {theirs} differ from this config's {mine}"
        )
    if int(getattr(teacher, "n_rr", 0)) > beats.rr.shape[1]:
        raise ConfigError(f"beats.teacher {folder}: needs {teacher.n_rr} RR features, the data have fewer")
    return predict_proba(teacher, beats.windows, beats.rr)


class BeatsModule(EcgTaskModule):
    """Cross-entropy (optionally class-weighted or focal) on beat windows + RR features.

    Logs ``val_macro_f1`` (over N, S, V, F: Q has a handful of beats in MIT-BIH) and ``val_f1_<c>``.
    """

    def __init__(self, cfg: DictConfig, class_weight: torch.Tensor | None = None) -> None:
        super().__init__(cfg)
        self.register_buffer("class_weight", class_weight if class_weight is not None else torch.ones(5))
        self._val_true: list[torch.Tensor] = []
        self._val_pred: list[torch.Tensor] = []

    def loss(self, logits: torch.Tensor, y: torch.Tensor, soft: torch.Tensor | None = None) -> torch.Tensor:
        """Batch loss as configured (``beats.loss``, ``beats.balance``).

        With teacher probabilities ``soft``, the loss is ``(1 - w) * hard + w * T^2 * KL(teacher_T ||
        student_T)`` (Hinton et al. 2015), both temperature-softened, each beat weighted as in ``hard``.
        """
        b = self.cfg.beats
        weight = self.class_weight if b.balance == "weighted" else None
        ce = torch.nn.functional.cross_entropy(logits, y, weight=weight, reduction="none",
                                               label_smoothing=float(b.label_smoothing))  # fmt: skip
        if b.loss == "focal":
            p_true = torch.softmax(logits, 1).gather(1, y[:, None]).squeeze(1).clamp_min(1e-6)
            ce = (1 - p_true) ** float(b.focal_gamma) * ce
        denom = weight[y].sum() if weight is not None else torch.tensor(float(y.numel()), device=y.device)
        hard = ce.sum() / denom.clamp_min(1e-6)
        if soft is None:
            return hard
        t, w = float(b.distill_temperature), float(b.distill_weight)
        target = torch.log_softmax(torch.log(soft.clamp_min(1e-8)) / t, 1)
        student = torch.log_softmax(logits / t, 1)
        kl = (target.exp() * (target - student)).sum(1) * t * t
        if weight is not None:
            kl = kl * weight[y]
        return (1 - w) * hard + w * kl.sum() / denom.clamp_min(1e-6)

    def shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        windows, rr, y, *soft = batch
        if stage == "train" and self.cfg.beats.augment:
            windows = augment_windows(windows)
        if stage == "train" and float(self.cfg.beats.get("rr_dropout", 0.0)) > 0:
            rr = hide_local_rhythm(rr, float(self.cfg.beats.rr_dropout))
        logits = self.model(windows, rr)
        if stage == "val":
            self._val_true.append(y.detach().cpu())
            self._val_pred.append(logits.argmax(1).detach().cpu())
        return self.loss(logits, y, soft[0] if soft else None)

    def on_validation_epoch_end(self) -> None:
        if not self._val_true:
            return
        from sklearn.metrics import f1_score

        y = torch.cat(self._val_true).numpy()
        p = torch.cat(self._val_pred).numpy()
        self._val_true.clear()
        self._val_pred.clear()
        f1 = f1_score(y, p, labels=[0, 1, 2, 3], average=None, zero_division=0)
        self.log("val_macro_f1", float(np.mean(f1)), prog_bar=True, sync_dist=True)
        for name, value in zip("NSVF", f1, strict=True):
            self.log(f"val_f1_{name}", float(value), sync_dist=True)
        self.log("val_accuracy", float((y == p).mean()), sync_dist=True)


def augment_windows(
    windows: torch.Tensor, scale: float = 0.15, max_shift: int = 3, noise_std: float = 0.02
) -> torch.Tensor:
    """Label-preserving batch augmentation: amplitude scale ``1 ± scale``, a time shift of up to
    ``max_shift`` samples (R-peak jitter of a detector), Gaussian noise (windows have a median
    peak-to-peak of 1). Uses torch's global generator, which the trainer seeds."""
    b, _, n = windows.shape
    gain = 1.0 + scale * (2.0 * torch.rand(b, 1, 1, device=windows.device) - 1.0)
    shift = torch.randint(-max_shift, max_shift + 1, (b, 1, 1), device=windows.device)
    index = (torch.arange(n, device=windows.device).view(1, 1, n) - shift).clamp(0, n - 1)
    shifted = windows.gather(2, index.expand_as(windows))  # edge samples repeat, nothing wraps
    return shifted * gain + noise_std * torch.randn_like(windows)


def hide_local_rhythm(rr: torch.Tensor, p: float) -> torch.Tensor:
    """For a random fraction ``p`` of beats, set the local/record rhythm ratios to 1 ("regular").

    In DS1 prematurity is visible in ``pre_local_ratio`` and ``pre_sinus_ratio`` alike, so a model
    learns to lean on the local one, which fails where ectopic beats set the local rhythm (MIT-BIH
    232). Hiding it now and then makes the model use the sinus-cycle ratio as well.
    """
    from ecglab.signal.beats import RR_FEATURE_NAMES

    hide = torch.rand(rr.shape[0], device=rr.device) < p
    rr = rr.clone()
    for name in ("pre_local_ratio", "pre_record_ratio"):
        rr[hide, RR_FEATURE_NAMES.index(name)] = 1.0
    local = RR_FEATURE_NAMES.index("local_rr")
    rr[hide, local] = rr[hide, RR_FEATURE_NAMES.index("pre_rr")]
    record = RR_FEATURE_NAMES.index("record_rr")
    rr[hide, record] = rr[hide, RR_FEATURE_NAMES.index("pre_rr")]
    return rr


def predict_proba(
    model: torch.nn.Module, windows: np.ndarray, rr: np.ndarray, batch: int = 4096
) -> np.ndarray:
    """Class probabilities ``[n, classes]`` of beats, in batches, without gradients."""
    model = model.eval()
    # Features are only ever appended (FEATURE_VERSION): a model trained on fewer uses the first ones.
    rr = rr[:, : int(getattr(model, "n_rr", rr.shape[1]))]
    out = []
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            logits = model(torch.from_numpy(windows[i : i + batch]), torch.from_numpy(rr[i : i + batch]))
            out.append(torch.softmax(logits.float(), 1).numpy())
    n_classes = int(getattr(model, "n_classes", 5))
    return np.concatenate(out) if out else np.zeros((0, n_classes), np.float32)


def evaluate_beats(module: BeatsModule, datamodule: BeatsData, run_dir: Path) -> dict[str, Any]:
    """Score the best checkpoint on DS2 at the reference beats; write ``ds2_confusion.png``."""
    from ecglab.datasets.mitdb import AAMI_CLASSES, split_records
    from ecglab.metrics.classification import classification_report
    from ecglab.viz import plot_confusion

    split = str(module.cfg.beats.eval_split)
    if module.cfg.beats.split == "intra":
        beats, split = datamodule.val_set, "intra-test (LEAKY: same patients as training)"
    else:
        b, seed = module.cfg.beats, int(module.cfg.cv.seed)
        beats = datamodule._load(split_records(split, val_fraction=b.val_fraction, seed=seed))
    probs = predict_proba(module.model, beats.windows, beats.rr)
    report = classification_report(beats.labels, probs.argmax(1), AAMI_CLASSES)
    plot_confusion(report["confusion"], report["labels"], run_dir / f"{split.split()[0]}_confusion.png",
                   title=f"MIT-BIH {split}, reference beats")  # fmt: skip
    return {"split": split, **report}


def build_beats(cfg: DictConfig) -> TaskParts:
    """Task builder registered as ``beats``."""
    from ecglab.datasets.mitdb import class_weights

    check_model_matches_data(cfg)
    data = BeatsData(cfg)
    data.setup()
    weight = class_weights(data.train_set.labels, cfg.beats.weights)
    return TaskParts(module=BeatsModule(cfg, weight), datamodule=data, evaluate=evaluate_beats)


register_task("beats", build_beats)
