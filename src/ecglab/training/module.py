"""The base ``LightningModule`` of every ecglab task: model, optimizer, schedule, loss logging.

A task subclasses :class:`EcgTaskModule` and implements :meth:`~EcgTaskModule.shared_step`, which
returns the loss of one batch (and may log task metrics); the base class logs ``train_loss`` and
``val_loss`` per epoch, stops on a non-finite training loss, and builds the optimizer and learning
rate schedule from the config::

    class BeatsModule(EcgTaskModule):
        def shared_step(self, batch, stage):
            x, y = batch
            logits = self(x)
            self.log(f"{stage}_acc", (logits.argmax(1) == y).float().mean(), on_epoch=True, on_step=False)
            return F.cross_entropy(logits, y)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import lightning
import torch
from omegaconf import DictConfig, OmegaConf

from ecglab.errors import ConfigError, EcglabError

__all__ = ["EcgTaskModule", "TrainingDiverged", "build_model", "build_optimizer", "build_scheduler"]

STAGES = ("train", "val", "test")


class TrainingDiverged(EcglabError):
    """The training loss became NaN or infinite; the message names the epoch and step."""

    exit_code = 3


class EcgTaskModule(lightning.LightningModule):
    """Base class of task modules: holds the model and implements the parts every task shares.

    Parameters
    ----------
    cfg
        The validated run config (``DictConfig`` or plain mapping). It is kept as ``self.cfg`` and
        stored in checkpoints as a plain nested dict under ``hyper_parameters["config"]``, so our
        checkpoints load with ``torch.load(..., weights_only=True)``. Subclasses must not call
        ``save_hyperparameters()`` with config objects.
    model
        A ready model; ``None`` builds ``create_model(cfg.model.name, **cfg.model.params)`` and, if
        ``cfg.model.pretrained`` is set, loads those weights (see :func:`build_model`).

    Notes
    -----
    Subclasses implement :meth:`shared_step`. Epoch metrics must be logged from the step methods
    (``on_epoch=True``) or from ``on_validation_epoch_end`` to appear in ``history.csv``; values
    logged in ``on_train_epoch_end`` reach the logger but not the history.
    """

    def __init__(self, cfg: DictConfig | Mapping[str, Any], model: torch.nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(cfg, DictConfig):
            cfg = OmegaConf.create(dict(cfg))
        self.cfg = cfg
        plain = OmegaConf.to_container(cfg, resolve=True)
        self.save_hyperparameters({"config": plain})
        self.model = model if model is not None else build_model(cfg)

    # ------------------------------------------------------------------------------------------
    # What subclasses implement
    # ------------------------------------------------------------------------------------------

    def shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        """Compute the loss of ``batch`` in ``stage`` (``train``, ``val`` or ``test``).

        Log task metrics here with ``self.log(f"{stage}_<name>", value, on_epoch=True, on_step=False)``.

        Returns
        -------
        torch.Tensor
            The scalar loss (the base class logs it as ``<stage>_loss``).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement shared_step(batch, stage)")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the model."""
        return self.model(*args, **kwargs)

    # ------------------------------------------------------------------------------------------
    # Lightning hooks
    # ------------------------------------------------------------------------------------------

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Loss of one training batch; logs ``train_loss`` (epoch mean) and checks it is finite."""
        loss = self.shared_step(batch, "train")
        self.check_finite_loss(loss, batch_idx)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=batch_size_of(batch))  # fmt: skip
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Loss of one validation batch, logged as ``val_loss`` (epoch mean over all processes)."""
        loss = self.shared_step(batch, "val")
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=batch_size_of(batch))  # fmt: skip
        return loss

    def test_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Loss of one test batch, logged as ``test_loss``."""
        loss = self.shared_step(batch, "test")
        self.log("test_loss", loss, on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=batch_size_of(batch))  # fmt: skip
        return loss

    def on_train_epoch_start(self) -> None:
        """Tell the training dataset the epoch (datasets that draw random crops per epoch)."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        dataset = getattr(datamodule, "datasets", {}).get("train") if datamodule is not None else None
        if dataset is not None and hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.current_epoch)

    def check_finite_loss(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Raise :class:`TrainingDiverged` if ``loss`` is NaN or infinite in any process.

        The decision is reduced over processes so that every DDP rank raises together instead of
        one rank leaving the others waiting in the gradient all-reduce.
        """
        finite = bool(torch.isfinite(loss.detach()).all())
        trainer = self._trainer
        if trainer is not None:
            finite = trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            value = loss.detach().float().flatten()[0].item() if loss.numel() else float("nan")
            raise TrainingDiverged(
                f"training loss is {value} at epoch {self.current_epoch}, step {self.global_step} "
                f"(batch {batch_idx}); lower optimizer.lr, set training.gradient_clip_val, or check "
                "the data for NaN/inf"
            )

    def configure_optimizers(self) -> Any:
        """Optimizer from ``cfg.optimizer`` and schedule from ``cfg.scheduler`` (see the builders)."""
        optimizer = build_optimizer(self, self.cfg)  # the whole module: heads and learnable losses too
        scheduler = build_scheduler(optimizer, self.cfg, self.trainer)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


# ----------------------------------------------------------------------------------------------
# Builders (public so that tasks overriding configure_optimizers can reuse them)
# ----------------------------------------------------------------------------------------------


def build_model(cfg: DictConfig) -> torch.nn.Module:
    """``create_model(cfg.model.name, **cfg.model.params)``, plus ``cfg.model.pretrained`` weights.

    ``pretrained`` is a ``.safetensors`` file, or a folder with ``model.safetensors`` (an exported
    model or a finished run); weights whose name and shape match are loaded, others keep their
    initialisation (a pretrained encoder under a new head).

    Raises
    ------
    ConfigError
        From the model registry, or if ``pretrained`` is missing or shares no weight with the model.
    """
    from ecglab.models import create_model

    params = OmegaConf.to_container(cfg.model.params, resolve=True) if cfg.model.params is not None else {}
    model = create_model(cfg.model.name, **dict(params))  # type: ignore[arg-type]
    pretrained = cfg.model.get("pretrained")
    if pretrained:
        from ecglab.training.trainer import load_pretrained_weights

        load_pretrained_weights(model, pretrained)
    return model


def build_optimizer(model: torch.nn.Module, cfg: DictConfig) -> torch.optim.Optimizer:
    """The optimizer of ``cfg.optimizer`` (``adam``, ``adamw`` or ``sgd``) over trainable parameters.

    Weight decay applies to matrices and kernels only: biases and normalisation weights (1-D
    parameters) are not decayed, the usual practice that keeps BatchNorm/LayerNorm scales free.
    """
    opt = cfg.optimizer
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [g for g in ({"params": decay, "weight_decay": opt.weight_decay},
                          {"params": no_decay, "weight_decay": 0.0}) if g["params"]]  # fmt: skip
    if not groups:
        raise ConfigError(f"model.name: model {cfg.model.name!r} has no trainable parameters")
    if opt.name == "adam":
        return torch.optim.Adam(groups, lr=opt.lr)
    if opt.name == "adamw":
        return torch.optim.AdamW(groups, lr=opt.lr)
    if opt.name == "sgd":
        return torch.optim.SGD(groups, lr=opt.lr, momentum=opt.momentum)
    raise ConfigError(f"optimizer.name: {opt.name!r} is not one of adam, adamw, sgd")


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: DictConfig, trainer: lightning.Trainer | None
) -> dict[str, Any] | None:
    """The Lightning scheduler config of ``cfg.scheduler``, or ``None`` for ``none``.

    * ``plateau``: ``ReduceLROnPlateau`` on ``training.monitor`` (mode ``training.monitor_mode``),
      stepped each epoch.
    * ``cosine``: linear warm-up over ``warmup_epochs`` from ``lr / warmup_steps`` to ``lr``, then
      cosine annealing to ``min_lr`` at the last step; stepped every optimizer step.
    * ``onecycle``: ``OneCycleLR`` peaking at ``max_lr`` (default ``optimizer.lr``) after
      ``pct_start`` of the steps; stepped every optimizer step.

    Step counts come from ``trainer.estimated_stepping_batches`` (epochs x batches / accumulation);
    without a trainer, or with loaders of unknown length, ``cosine`` counts epochs instead.
    """
    sched = cfg.scheduler
    epochs = int(cfg.training.epochs)
    if sched.name == "none":
        return None
    if sched.name == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode=cfg.training.monitor_mode,
            factor=sched.factor,
            patience=sched.patience,
            min_lr=sched.min_lr,
        )
        return {"scheduler": plateau, "monitor": cfg.training.monitor, "interval": "epoch", "frequency": 1}

    total_steps = _total_steps(trainer)
    if sched.name == "cosine":
        if total_steps is None:
            total, warmup, interval = epochs, int(sched.warmup_epochs), "epoch"
        else:
            total, interval = total_steps, "step"
            warmup = round(sched.warmup_epochs * total_steps / max(epochs, 1))
        base_lr = float(cfg.optimizer.lr)
        floor = min(float(sched.min_lr) / base_lr, 1.0)
        schedule = _warmup_cosine(total, warmup, floor)
        lambda_lr = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"scheduler": lambda_lr, "interval": interval, "frequency": 1}
    if sched.name == "onecycle":
        if total_steps is None:
            raise ConfigError("scheduler.name: onecycle needs data loaders with a known length")
        onecycle = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=float(sched.max_lr if sched.max_lr is not None else cfg.optimizer.lr),
            total_steps=total_steps,
            pct_start=float(sched.pct_start),
        )
        return {"scheduler": onecycle, "interval": "step", "frequency": 1}
    raise ConfigError(f"scheduler.name: {sched.name!r} is not one of none, plateau, cosine, onecycle")


def _total_steps(trainer: lightning.Trainer | None) -> int | None:
    if trainer is None:
        return None
    try:
        steps = trainer.estimated_stepping_batches
    except Exception:  # no loaders attached yet
        return None
    if steps is None or not math.isfinite(steps) or steps < 1:
        return None
    return int(steps)


def _warmup_cosine(total: int, warmup: int, floor: float) -> Any:
    """Multiplier of the base lr at step ``s``: linear warm-up, then cosine down to ``floor``.

    A closure (not a callable object) on purpose: ``LambdaLR`` then keeps it out of its state dict,
    so a resumed run recomputes it from the config (and may extend ``training.epochs``).
    """
    total = max(int(total), 1)
    warmup = min(max(int(warmup), 0), total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        span = max(total - warmup, 1)
        progress = min((step - warmup) / span, 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def batch_size_of(batch: Any) -> int | None:
    """Length of the first tensor found in ``batch`` (a tensor, a sequence or a mapping)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else None
    if isinstance(batch, Mapping):
        items: Any = batch.values()
    elif isinstance(batch, list | tuple):
        items = batch
    else:
        return None
    for item in items:
        size = batch_size_of(item)
        if size is not None:
            return size
    return None
