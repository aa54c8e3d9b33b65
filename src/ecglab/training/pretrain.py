"""Task ``pretrain``: self-supervised pre-training by masked-sample reconstruction.

The records are those of the ``multilabel`` pool (same ``multilabel`` and ``cv`` keys) minus the
validation and test folds, so that a fine-tuned model is later scored on records pre-training never
saw; labels are not read. A tenth of the remaining records (by patient) monitors the reconstruction
loss. Fine-tune with ``ecglab train --config configs/cinc-resnet1d.yaml model.pretrained=RUN_DIR``:
the backbone's weights load by name (``backbone.`` prefix removed), the classifier head starts fresh.
"""

from __future__ import annotations

from typing import Any

import lightning
import numpy as np
import torch
from omegaconf import DictConfig, open_dict

from ecglab.errors import ConfigError
from ecglab.training.module import EcgTaskModule
from ecglab.training.multilabel import augment_batch, build_table, crop_loader, preprocess_spec, split_indices
from ecglab.training.tasks import TaskParts, register_task


class PretrainData(lightning.LightningDataModule):
    """Unlabelled training crops of the pool's training folds."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.datasets: dict[str, Any] = {}

    def setup(self, stage: str | None = None) -> None:
        from ecglab.datasets.twelve_lead import TwelveLeadDataset

        if self.datasets:
            return
        cfg = self.cfg
        table = build_table(cfg)
        train = split_indices(cfg, table)["train"]
        patients = table.rows["patient_id"].to_numpy()[train]
        unique = np.unique(patients)
        rng = np.random.default_rng(int(cfg.cv.seed))
        monitor = set(rng.choice(unique, size=max(1, len(unique) // 10), replace=False).tolist())
        is_monitor = np.array([p in monitor for p in patients])
        spec = preprocess_spec(cfg)
        crop = round(float(cfg.multilabel.crop_s) * float(cfg.data.fs))
        for name, idx in (("train", train[~is_monitor]), ("val", train[is_monitor])):
            self.datasets[name] = TwelveLeadDataset(
                table.subset(idx),
                spec,
                crop_samples=crop,
                train=True,
                seed=int(cfg.training.seed),
                cache_dir=cfg.multilabel.cache_dir,
            )

    def _loader(self, name: str, shuffle: bool) -> torch.utils.data.DataLoader:
        return crop_loader(self.cfg, self.datasets[name], shuffle=shuffle, drop_last=False)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader("val", False)


PRETRAIN_RECORDS_FILE = "pretrain_records.json"


class PretrainModule(EcgTaskModule):
    """Mean squared error on the hidden samples of masked crops (``val_loss`` is monitored)."""

    def on_fit_start(self) -> None:
        # Which records pre-training saw: fine-tuning refuses to validate or test on them.
        import json
        import os

        from ecglab.io.atomic import atomic_write
        from ecglab.training.trainer import RUN_DIR_ENV

        run_dir = os.environ.get(RUN_DIR_ENV)
        datamodule = getattr(self.trainer, "datamodule", None)
        if not run_dir or datamodule is None or not self.trainer.is_global_zero:
            return
        ids = sorted({str(r) for ds in datamodule.datasets.values() for r in ds.table.rows["record_id"]})
        with atomic_write(os.path.join(run_dir, PRETRAIN_RECORDS_FILE), encoding="utf-8") as handle:
            json.dump({"record_ids": ids}, handle)

    def shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        from ecglab.models.masked_pretrain import random_time_mask

        p, fs = self.cfg.pretrain, float(self.cfg.data.fs)
        x = batch["x"]
        if stage == "train":
            x = augment_batch(x, noise_std=0.0)
            generator = None
        else:  # the same masks every epoch, so validation losses compare
            generator = torch.Generator().manual_seed(int(batch["index"][0]))
        mask = random_time_mask(
            tuple(x.shape), round(float(p.span_s) * fs), float(p.mask_ratio), float(p.lead_drop), generator
        ).to(x.device)
        recon = self.model(x * (1 - mask), mask)
        hidden = mask.sum().clamp_min(1.0)
        return (((recon.float() - x) ** 2) * mask).sum() / hidden


def build_pretrain(cfg: DictConfig) -> TaskParts:
    """Task builder registered as ``pretrain``."""
    if cfg.model.name != "masked_pretrain":
        raise ConfigError(f"model.name: the pretrain task trains 'masked_pretrain', got {cfg.model.name!r}")
    data = PretrainData(cfg)
    data.setup()
    with open_dict(cfg):
        cfg.model.params["in_leads"] = len(preprocess_spec(cfg).leads)
    return TaskParts(module=PretrainModule(cfg), datamodule=data, evaluate=None)


register_task("pretrain", build_pretrain, description="masked-sample reconstruction pre-training")
