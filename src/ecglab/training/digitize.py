"""Task ``digitize``: train the learned digitizers (``whole``, ``series``) on rendered ECG pages.

Loss: for every output column with a trace, the cross-entropy between the model's softmax over
the crop's rows and a Gaussian of ``digitize.sigma`` rows around the true y (a soft target: it
beats a plain mask arg-max by about 1 dB in the published digitizers), plus ``mask_weight`` times
a binary cross-entropy on the trace mask. Validation reports the mean absolute y error in mm of
paper (``val_mae_mm``, 0.1 mm = 0.01 mV at 10 mm/mV), decoded as at inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning
import numpy as np
import torch
from omegaconf import DictConfig
from torch.nn import functional as F

from ecglab.errors import ConfigError
from ecglab.training.module import EcgTaskModule
from ecglab.training.tasks import TaskParts, register_task

MODEL_MODES = {"series": "series", "whole": "whole"}


def crop_spec(cfg: DictConfig) -> Any:
    """The :class:`~ecglab.digitize.strips.CropSpec` of a ``digitize`` config."""
    from ecglab.digitize.strips import CropSpec

    d = cfg.digitize
    widths = list(cfg.model.params.get("widths", (16, 32, 48, 64, 96)))
    return CropSpec(
        px_per_mm=float(d.px_per_mm),
        height_mm=float(d.height_mm),
        margin_mm=float(d.margin_mm),
        upsample=int(d.upsample),
        multiple=2 ** (len(widths) - 1),
    )


def record_splits(cfg: DictConfig) -> dict[str, list[str]]:
    """Record paths of ``train``, ``val`` and ``test`` (patient-disjoint, by ``cv.val_fold``).

    Uses the patient-grouped stratified folds of the 12-lead pool: fold ``cv.val_fold`` validates,
    the next one is held out (``ecglab synth`` renders it for evaluation), the rest train.
    """
    from ecglab.datasets.pool import build_pool
    from ecglab.datasets.splits import patient_stratified_folds
    from ecglab.io.paths import data_dir

    d, cv = cfg.digitize, cfg.cv
    table = build_pool(
        data_dir(cfg.data.root),
        sources=tuple(d.sources),
        version="2021",
        task="cinc",
        sampling_rate=int(d.ptbxl_fs),
    )
    rows = table.rows
    folds = patient_stratified_folds(
        table.y, rows["patient_id"].to_numpy(), n_folds=int(cv.n_folds), seed=int(cv.seed)
    )
    val_fold = int(cv.val_fold)
    test_fold = (val_fold + 1) % int(cv.n_folds)
    paths = rows["path"].astype(str).to_numpy()
    out = {
        "train": sorted(paths[(folds != val_fold) & (folds != test_fold)]),
        "val": sorted(paths[folds == val_fold]),
        "test": sorted(paths[folds == test_fold]),
    }
    for name, items in out.items():
        if not items:
            raise ConfigError(
                f"cv: the {name} split of the digitize pool is empty; check cv.n_folds and sources"
            )
    return out


class PageCrops(torch.utils.data.Dataset):
    """Random ``crop_width_mm`` windows of cached pages (training) or whole pages (validation)."""

    def __init__(self, pages: Any, *, crop_px: int | None, max_rows: int, seed: int) -> None:
        self.pages = pages
        self.crop_px = crop_px
        self.max_rows = max_rows
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pages)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        pages, up = self.pages, self.pages.spec.upsample
        image, rows, y = pages.images[i], pages.rows[i], pages.y[i]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        if pages.mode == "series" and image.shape[0] > self.max_rows:
            keep = np.sort(rng.choice(image.shape[0], self.max_rows, replace=False))
            image, rows, y = image[keep], rows[keep], y[keep]
        width = image.shape[-2]
        if self.crop_px is not None and self.crop_px < width:
            x0 = int(rng.integers(0, width - self.crop_px + 1))
            image = image[..., x0 : x0 + self.crop_px, :]
            rows = rows[..., x0 : x0 + self.crop_px]
            y = y[..., x0 * up : (x0 + self.crop_px) * up]
        x = torch.from_numpy(np.ascontiguousarray(image)).float().div_(255.0)
        x = x.movedim(-1, -3)  # [..., H, W, 3] → [..., 3, H, W]
        return {"x": x, "rows": torch.from_numpy(np.ascontiguousarray(rows)), "y": torch.from_numpy(y)}


def collate_pages(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack pages, padding ``whole`` pages of different heights with white (and no trace) at the bottom."""
    h = max(it["x"].shape[-2] for it in items)
    n_rows = max(it["y"].shape[0] for it in items)
    out: dict[str, list[torch.Tensor]] = {"x": [], "rows": [], "y": []}
    for it in items:
        pad = h - it["x"].shape[-2]
        out["x"].append(F.pad(it["x"], (0, 0, 0, pad), value=1.0))
        out["rows"].append(F.pad(it["rows"], (0, 0, 0, pad), value=0))
        out["y"].append(F.pad(it["y"], (0, 0, 0, n_rows - it["y"].shape[0]), value=float("nan")))
    return {k: torch.stack(v) for k, v in out.items()}


class DigitizeData(lightning.LightningDataModule):
    """Rendered training and validation pages (cached), from patient-disjoint records."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.datasets: dict[str, PageCrops] = {}
        self.failures: list[str] = []

    def setup(self, stage: str | None = None) -> None:
        from ecglab.datasets.digitize_pages import recipe_from_config, render_pages
        from ecglab.io.paths import user_cache_dir

        if self.datasets:
            return
        cfg, d = self.cfg, self.cfg.digitize
        spec = crop_spec(cfg)
        mode = MODEL_MODES[str(cfg.model.name)]
        recipe = recipe_from_config(dict(d.pages))
        splits = record_splits(cfg)
        cache = Path(d.cache_dir) if d.cache_dir else user_cache_dir() / "digitize"
        seed = int(cfg.training.seed)
        for name, count, crop in (
            ("train", int(d.train_pages), round(float(d.crop_width_mm) * spec.px_per_mm)),
            ("val", int(d.val_pages), None),
        ):
            pages = render_pages(
                splits[name], mode=mode, spec=spec, recipe=recipe, pages=count,
                seed=seed + (0 if name == "train" else 1_000_003), workers=int(d.workers), cache_dir=cache,
                desc=f"render {name} pages",
            )  # fmt: skip
            if len(pages) == 0:
                raise ConfigError(f"digitize: no {name} page rendered ({'; '.join(pages.failures[:3])})")
            self.failures += pages.failures
            self.datasets[name] = PageCrops(pages, crop_px=crop, max_rows=int(d.max_rows), seed=seed)

    def _loader(self, name: str, shuffle: bool) -> torch.utils.data.DataLoader:
        batch = int(self.cfg.training.batch_size) if name == "train" else 1
        dataset = self.datasets[name]
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch, shuffle=shuffle, collate_fn=collate_pages,
            num_workers=int(self.cfg.data.num_workers), drop_last=shuffle and len(dataset) > batch,
        )  # fmt: skip

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader("val", False)


def gaussian_targets(y: torch.Tensor, height: int, sigma: float) -> torch.Tensor:
    """``[..., H, W]`` normalised Gaussians over rows centred on ``y [..., W]`` (NaN columns: zeros)."""
    rows = torch.arange(height, dtype=torch.float32, device=y.device).view(*([1] * (y.dim() - 1)), height, 1)
    t = torch.exp(-0.5 * ((rows - y.unsqueeze(-2).nan_to_num(-1e4)) / sigma) ** 2)
    return t / t.sum(dim=-2, keepdim=True).clamp_min(1e-12)


def soft_argmax_torch(logits: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Torch twin of :func:`ecglab.digitize.strips.soft_argmax` (rows of the window's centre of mass)."""
    prob = logits.float().softmax(dim=-2)
    h = prob.shape[-2]
    peak = prob.argmax(dim=-2, keepdim=True)
    offsets = torch.arange(-radius, radius + 1, device=prob.device).view(*([1] * (prob.dim() - 2)), -1, 1)
    rows = peak + offsets
    valid = (rows >= 0) & (rows < h)
    window = torch.gather(prob, -2, rows.clamp(0, h - 1)) * valid
    return (window * rows).sum(-2) / window.sum(-2).clamp_min(1e-12)


class DigitizeModule(EcgTaskModule):
    """Soft-target cross-entropy on per-column y distributions plus the trace-mask loss."""

    def _outputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y_logits, mask_logits = self.model(batch["x"])
        rows = batch["rows"]
        if rows.dim() == y_logits.dim() - 1:  # whole: one row map → one mask per series
            series = torch.arange(1, y_logits.shape[1] + 1, device=rows.device).view(1, -1, 1, 1)
            target_mask = (rows.unsqueeze(1) == series).float()
            y = batch["y"]
            if y.shape[1] > y_logits.shape[1]:
                raise ConfigError(
                    f"model.params.n_series: {y_logits.shape[1]} is fewer than the {y.shape[1]} rows of a "
                    "training page (drop that layout from digitize.pages.layouts or raise n_series)"
                )
            target_y = F.pad(y, (0, 0, 0, y_logits.shape[1] - y.shape[1]), value=float("nan"))
        else:
            target_mask = rows.float()
            target_y = batch["y"]
        return y_logits, mask_logits, (target_y, target_mask)

    def shared_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        d = self.cfg.digitize
        y_logits, mask_logits, (target_y, target_mask) = self._outputs(batch)
        valid = torch.isfinite(target_y)
        logp = y_logits.float().log_softmax(dim=-2)
        ce = -(gaussian_targets(target_y, logp.shape[-2], float(d.sigma)) * logp).sum(dim=-2)
        loss_y = ce[valid].mean() if valid.any() else ce.sum() * 0.0
        mask_logits = mask_logits.float()
        pos = target_mask.mean().clamp_min(1e-4)
        loss_mask = F.binary_cross_entropy_with_logits(
            mask_logits, target_mask, pos_weight=((1 - pos) / pos).sqrt().detach()
        )
        loss = loss_y + float(d.mask_weight) * loss_mask
        if stage != "train" and valid.any():
            err = (soft_argmax_torch(y_logits) - target_y).abs()[valid] / float(d.px_per_mm)
            n = int(valid.sum())
            self.log(
                f"{stage}_mae_mm", err.mean(), on_epoch=True, on_step=False, batch_size=n, sync_dist=True
            )
            self.log(f"{stage}_within_0.5mm", (err < 0.5).float().mean(), on_epoch=True, on_step=False,
                     batch_size=n, sync_dist=True)  # fmt: skip
        return loss


def evaluate_digitizer(module: DigitizeModule, datamodule: DigitizeData, run_dir: Path) -> dict[str, Any]:
    """Validation-page column error of the best weights (full-width crops, as at inference)."""
    errors = []
    for batch in datamodule.val_dataloader():
        y_logits, _mask, (target_y, _t) = module._outputs(batch)
        valid = torch.isfinite(target_y)
        errors.append(
            ((soft_argmax_torch(y_logits) - target_y).abs()[valid] / module.cfg.digitize.px_per_mm).numpy()
        )
    err = np.concatenate(errors) if errors else np.zeros(0)
    return {
        "val_pages": len(datamodule.datasets["val"]),
        "val_mae_mm": float(err.mean()) if err.size else float("nan"),
        "val_median_mm": float(np.median(err)) if err.size else float("nan"),
        "val_within_0.5mm": float((err < 0.5).mean()) if err.size else float("nan"),
        "render_failures": datamodule.failures,
    }


def build_digitize(cfg: DictConfig) -> TaskParts:
    """Task builder registered as ``digitize``."""
    if str(cfg.model.name) not in MODEL_MODES:
        raise ConfigError(
            f"model.name: the digitize task trains {' or '.join(MODEL_MODES)}, got {cfg.model.name!r}"
        )
    data = DigitizeData(cfg)
    data.setup()
    return TaskParts(module=DigitizeModule(cfg), datamodule=data, evaluate=evaluate_digitizer)


register_task("digitize", build_digitize, description="learned ECG-image digitizers (whole, series)")
