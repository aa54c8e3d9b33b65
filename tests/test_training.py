"""The trainer on a toy task: run directory, early stopping, resume, seeds, NaN guard, schedulers,
model and task registries, logger extras, safetensors export, CLI and 2-process DDP on the CPU.

The toy task (a tiny MLP on linearly separable random points) is registered for this module's tests
only (the registries are global: other test files must not see it). This file also runs as a
script, registering the task first: the DDP test starts it as ``python test_training.py RUNS_ROOT``,
and Lightning's ``ddp`` strategy relaunches that script once per extra process.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ecglab.config import GenericConfig, config_from_dict, load_config, register_schema
from ecglab.errors import ConfigError
from ecglab.models import create_model, list_models, register_model
from ecglab.training import (
    EcgTaskModule,
    TaskParts,
    TrainingDiverged,
    export_weights,
    get_task,
    load_model_from_run,
    register_task,
    train,
)

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning",  # Lightning: few loader workers, small log interval, tiny batches...
    "ignore::DeprecationWarning",
    "ignore:.*LeafSpec.*",  # torch's pytree deprecation, raised inside Lightning
)

# ----------------------------------------------------------------------------------------------
# The toy task
# ----------------------------------------------------------------------------------------------


class ToyMLP(nn.Module):
    """Two-layer perceptron."""

    def __init__(self, in_features: int = 8, hidden: int = 16, num_classes: int = 2, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ToyData(lightning.LightningDataModule):
    """64 training and 32 validation points, labelled by the sign of a linear function."""

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage: str | None = None) -> None:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(96, 8, generator=g)
        y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
        self.train_set = TensorDataset(x[:64], y[:64])
        self.val_set = TensorDataset(x[64:], y[64:])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size)


class ToyModule(EcgTaskModule):
    def shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        acc = (logits.argmax(1) == y).float().mean()
        self.log(f"{stage}_acc", acc, on_step=False, on_epoch=True, sync_dist=True)
        return F.cross_entropy(logits, y)


class NanModule(ToyModule):
    """Its loss turns NaN at optimizer step 3."""

    def shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        loss = super().shared_step(batch, stage)
        return loss * math.nan if stage == "train" and self.global_step >= 3 else loss


# Epoch at whose start the "toy" module crashes (None: never): simulates a killed run.
CRASH = {"epoch": None}


class CrashingModule(ToyModule):
    def on_train_epoch_start(self) -> None:
        if self.current_epoch == CRASH["epoch"]:
            raise RuntimeError("simulated crash")


def evaluate_toy(module: ToyModule, datamodule: ToyData, run_dir: Path) -> dict[str, Any]:
    x, y = datamodule.val_set.tensors
    with torch.no_grad():
        accuracy = (module(x).argmax(1) == y).float().mean().item()
    (run_dir / "evaluation.txt").write_text(f"{accuracy}\n")
    return {"val_accuracy": accuracy}


def build_toy(cfg: Any) -> TaskParts:
    return TaskParts(ToyModule(cfg), ToyData(cfg.training.batch_size), evaluate=evaluate_toy)


def build_toy_nan(cfg: Any) -> TaskParts:
    return TaskParts(NanModule(cfg), ToyData(cfg.training.batch_size))


def build_toy_crash(cfg: Any) -> TaskParts:
    return TaskParts(CrashingModule(cfg), ToyData(cfg.training.batch_size))


def register_toy() -> None:
    """Register the toy model, the toy tasks and their (generic) config schemas."""
    register_model("toy_mlp")(ToyMLP)
    for name, builder in (("toy", build_toy), ("toy_nan", build_toy_nan), ("toy_crash", build_toy_crash)):
        register_schema(name, GenericConfig)
        register_task(name, builder)


@pytest.fixture(autouse=True, scope="module")
def _toy_registered() -> Iterator[None]:
    """The toy task in every registry for this module's tests, and out of them afterwards."""
    from ecglab.config import schema as schema_module
    from ecglab.models import registry as model_registry
    from ecglab.training import tasks as task_registry

    # Import every registering module first: a snapshot taken before that would, once restored,
    # leave this process with tasks/models whose modules count as imported but are not registered.
    task_registry.list_tasks()
    model_registry.list_models()
    registries = (schema_module._SCHEMAS, model_registry._REGISTRY, task_registry._TASKS)
    saved = [dict(registry) for registry in registries]
    register_toy()
    yield
    for registry, before in zip(registries, saved, strict=True):
        registry.clear()
        registry.update(before)


def toy_config(root: Path, *overrides: str) -> Any:
    """A validated config of the toy task: 3 epochs of 4 batches, runs under ``root/runs``."""
    data = {
        "task": "toy",
        "data": {"dataset": "toy", "num_workers": 0},
        "model": {"name": "toy_mlp", "params": {"hidden": 16}},
        "training": {"epochs": 3, "batch_size": 16, "accelerator": "cpu", "devices": 1,
                     "early_stopping_patience": None, "gradient_clip_val": 1.0, "seed": 0},
        "optimizer": {"name": "adam", "lr": 0.05, "weight_decay": 0.0},
        "scheduler": {"name": "none"},
        "logging": {"run_dir": str(root / "runs"), "log_every_n_steps": 1},
    }  # fmt: skip
    return config_from_dict(data, list(overrides))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


# ----------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------


def test_run_directory_holds_config_checkpoints_history_curves_metrics(tmp_path):
    cfg = toy_config(tmp_path)
    started = []
    run = train(cfg, name="toy-cfg", on_start=started.append)
    assert started == [run]
    assert run.parent == tmp_path / "runs"
    assert re.fullmatch(r"toy-cfg-\d{8}-\d{6}", run.name)
    for name in ("config.yaml", "best.ckpt", "last.ckpt", "history.csv", "curves.png", "metrics.json",
                 "model.safetensors", "evaluation.txt"):  # fmt: skip
        assert (run / name).stat().st_size > 0, name
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert load_config(run / "config.yaml") == cfg

    rows = read_csv(run / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert list(rows[0])[:5] == ["epoch", "step", "lr", "train_loss", "val_loss"]
    assert {"train_acc", "val_acc", "epoch_time_s"} <= set(rows[0])
    assert [int(r["step"]) for r in rows] == [4, 8, 12]
    assert float(rows[-1]["val_acc"]) > 0.8  # it learns

    metrics = json.loads((run / "metrics.json").read_text())
    val_losses = [float(r["val_loss"]) for r in rows]
    assert metrics["best_score"] == pytest.approx(min(val_losses))
    assert metrics["best_epoch"] == val_losses.index(min(val_losses))
    assert metrics["epochs_run"] == 3 and metrics["stop_reason"] == "max_epochs"
    assert metrics["wall_time_s"] > 0 and metrics["resumed"] is False
    assert metrics["evaluation"]["val_accuracy"] > 0.8

    # Our checkpoints load without unpickling arbitrary objects; the config inside is a plain dict.
    ckpt = torch.load(run / "best.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == metrics["best_epoch"]
    assert ckpt["hyper_parameters"]["config"]["model"]["name"] == "toy_mlp"
    assert (run / "logs" / "version_0" / "metrics.csv").is_file()


def test_early_stopping_stops_when_the_monitor_stalls(tmp_path):
    # A learning rate too small to change a prediction: val_acc never improves after epoch 0.
    cfg = toy_config(
        tmp_path,
        *("training.epochs=20", "training.early_stopping_patience=2", "optimizer.lr=1e-12"),
        *("training.monitor=val_acc", "training.monitor_mode=max"),
    )
    run = train(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3
    assert metrics["stop_reason"] == "early_stopping"
    assert metrics["best_epoch"] == 0
    assert len(read_csv(run / "history.csv")) == 3


def test_resume_continues_a_killed_run_and_keeps_its_history(tmp_path):
    cfg = toy_config(tmp_path, "task=toy_crash", "training.epochs=4", "scheduler.name=cosine",
                     "scheduler.warmup_epochs=1", "scheduler.min_lr=1e-4")  # fmt: skip
    straight = train(cfg, run_dir=tmp_path / "straight")

    CRASH["epoch"] = 2
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            train(cfg, run_dir=tmp_path / "killed")
    finally:
        CRASH["epoch"] = None
    killed = tmp_path / "killed"
    before = read_csv(killed / "history.csv")
    assert len(before) == 2 and not (killed / "metrics.json").exists()

    run = train(resume=killed)
    assert run == killed
    after = read_csv(run / "history.csv")
    assert [int(r["epoch"]) for r in after] == [0, 1, 2, 3]
    assert after[:2] == before
    # The schedule and step count continue where they stopped: same as the run never killed.
    reference = read_csv(straight / "history.csv")
    assert [float(r["lr"]) for r in after] == pytest.approx([float(r["lr"]) for r in reference])
    assert [int(r["step"]) for r in after] == [int(r["step"]) for r in reference]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["resumed"] is True and metrics["epochs_run"] == 4
    assert (run / "logs" / "version_1").is_dir()

    # Train longer: only training.epochs may change.
    longer = load_config(run / "config.yaml", ["training.epochs=5"])
    train(longer, resume=run)
    assert len(read_csv(run / "history.csv")) == 5
    assert load_config(run / "config.yaml").training.epochs == 5
    with pytest.raises(ConfigError, match=r"only training\.epochs may change, not optimizer\.lr"):
        train(load_config(run / "config.yaml", ["optimizer.lr=0.1"]), resume=run)
    with pytest.raises(ConfigError, match=r"no last\.ckpt"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "config.yaml").write_text((run / "config.yaml").read_text())
        train(resume=tmp_path / "empty")
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg, run_dir=run)


def test_same_seed_gives_identical_runs(tmp_path):
    cfg = toy_config(tmp_path, "model.params.dropout=0.2")
    first, second = train(cfg), train(cfg)
    assert first != second
    columns = ("train_loss", "val_loss", "train_acc", "val_acc", "lr")
    rows_1, rows_2 = read_csv(first / "history.csv"), read_csv(second / "history.csv")
    assert [[r[c] for c in columns] for r in rows_1] == [[r[c] for c in columns] for r in rows_2]
    a, b = load_model_from_run(first), load_model_from_run(second)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_non_finite_loss_stops_with_a_clear_error(tmp_path):
    cfg = toy_config(tmp_path, "task=toy_nan", "training.epochs=5")
    with pytest.raises(TrainingDiverged, match=r"training loss is nan at epoch 0, step 3 .*optimizer\.lr"):
        train(cfg, run_dir=tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["stop_reason"] == "diverged" and "step 3" in metrics["error"]


class _LrRecorder(lightning.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.parametrize("name", ["none", "plateau", "cosine", "onecycle"])
def test_scheduler_choices_build_and_shape_the_learning_rate(tmp_path, name):
    cfg = toy_config(tmp_path, f"scheduler.name={name}", "training.epochs=4", "optimizer.name=adamw",
                     "optimizer.weight_decay=0.01", "scheduler.warmup_epochs=1", "scheduler.min_lr=1e-3",
                     "scheduler.max_lr=0.2", "scheduler.patience=0", "scheduler.factor=0.5")  # fmt: skip
    module = ToyModule(cfg)
    recorder = _LrRecorder()
    trainer = lightning.Trainer(
        max_epochs=4,
        accelerator="cpu",
        devices=1,
        logger=False,
        callbacks=[recorder],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=ToyData(16))
    lrs = recorder.lrs
    assert len(lrs) == 16
    optimizer = trainer.optimizers[0]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]  # no decay on biases
    if name == "none":
        assert set(lrs) == {0.05}
    elif name == "plateau":
        config = trainer.lr_scheduler_configs[0]
        assert config.monitor == "val_loss" and config.interval == "epoch"
        assert set(lrs[:4]) == {0.05} and min(lrs) >= 0.05 * 0.5**3
    elif name == "cosine":
        assert lrs[:4] == pytest.approx([0.05 * k / 4 for k in (1, 2, 3, 4)])  # warm-up over epoch 0
        assert all(a >= b for a, b in itertools.pairwise(lrs[3:]))  # then annealing
        last = 1e-3 + (0.05 - 1e-3) * 0.5 * (1 + math.cos(math.pi * 11 / 12))  # step 15: 11 of 12 done
        assert lrs[-1] == pytest.approx(last)
    else:
        peak = max(lrs)
        assert peak == pytest.approx(0.2, rel=0.05) and lrs.index(peak) in (4, 5)
        assert lrs[0] < 0.02 and lrs[-1] < 0.01


def test_model_registry_errors_name_the_key_and_the_choices(tmp_path):
    assert "toy_mlp" in list_models()  # the listed module ecglab.models.beat_cnn may not exist yet
    assert isinstance(create_model("toy_mlp", hidden=4), ToyMLP)
    with pytest.raises(ConfigError, match=r"model\.name: unknown model 'toy_mpl' \(did you mean 'toy_mlp'\?"):
        create_model("toy_mpl")
    with pytest.raises(ConfigError, match=r"model\.params\.hiden: .*did you mean 'hidden'\? accepted: "
                                          r"in_features, hidden, num_classes, dropout"):  # fmt: skip
        create_model("toy_mlp", hiden=4)
    with pytest.raises(ConfigError, match=r"model\.params\.hidden: .*expects int .* got 'wide'"):
        create_model("toy_mlp", hidden="wide")
    with pytest.raises(ValueError, match="already registered"):
        register_model("toy_mlp")(nn.Linear)
    # Through train(): the error comes before any run directory is made.
    with pytest.raises(ConfigError, match="unknown model"):
        train(toy_config(tmp_path, "model.name=nope"))
    with pytest.raises(ConfigError, match=r"model\.params\.widht"):
        train(toy_config(tmp_path, "model.params.widht=3"))
    with pytest.raises(ConfigError, match=r"no trainer is registered for task 'generic'.*toy"):
        get_task("generic")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("logger", ["tensorboard", "mlflow"])
def test_missing_logger_package_is_a_config_error(tmp_path, monkeypatch, logger):
    import importlib.util

    real = importlib.util.find_spec
    hidden = ("tensorboard", "tensorboardX", "mlflow")
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a)
    )
    with pytest.raises(
        ConfigError, match=re.escape(f"logging.logger={logger} needs `pip install ecglab[{logger}]`")
    ):
        train(toy_config(tmp_path, f"logging.logger={logger}"))
    assert not (tmp_path / "runs").exists()


def test_monitor_that_is_never_logged_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"training\.monitor: 'val_f1' is never logged .*val_acc, val_loss"):
        train(toy_config(tmp_path, "training.monitor=val_f1"))
    # A training metric is a valid monitor too (it exists only after validation, at the epoch end).
    run = train(toy_config(tmp_path, "training.epochs=2", "training.monitor=train_loss",
                           "training.early_stopping_patience=3"))  # fmt: skip
    assert json.loads((run / "metrics.json").read_text())["monitor"] == "train_loss"


def test_export_weights_and_load_model_from_run_round_trip(tmp_path):
    run = train(toy_config(tmp_path, "training.epochs=2"))
    out = export_weights(run, tmp_path / "export")
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "model.safetensors"]

    cfg = load_config(run / "config.yaml")
    reference = create_model(cfg.model.name, **cfg.model.params)
    state = torch.load(run / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    reference.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    reference.eval()

    x = torch.randn(5, 8)
    for source in (out, out / "model.safetensors", run):
        model = load_model_from_run(source)
        assert not model.training
        with torch.no_grad():
            assert torch.equal(model(x), reference(x))
    (tmp_path / "unexported").mkdir()
    (tmp_path / "unexported" / "config.yaml").write_text((run / "config.yaml").read_text())
    with pytest.raises(ConfigError, match=r"no model\.safetensors"):
        load_model_from_run(tmp_path / "unexported")
    with pytest.raises(ConfigError, match=r"no config\.yaml"):
        load_model_from_run(tmp_path)

    # model.pretrained starts a new run from those weights.
    module = ToyModule(toy_config(tmp_path, f"model.pretrained={out}"))
    with torch.no_grad():
        assert torch.equal(module(x), reference(x))


def test_cli_train_prints_the_run_directory_and_the_metrics(tmp_path):
    import typer
    from typer.testing import CliRunner

    from ecglab.cli.train import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _main() -> None:  # a group, as in ecglab's app: `train` stays a subcommand
        pass

    config = tmp_path / "toycfg.yaml"
    config.write_text(f"task: toy\ndata: {{dataset: toy, num_workers: 0}}\nmodel: {{name: toy_mlp}}\n"
                      f"training: {{epochs: 1, batch_size: 32, accelerator: cpu, devices: 1}}\n"
                      f"logging: {{run_dir: {tmp_path / 'runs'}}}\n")  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--config", str(config), "training.seed=3"])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("toycfg-")
    assert str(run) in result.output
    assert "best_score:" in result.output and "epochs_run: 1" in result.output

    result = runner.invoke(app, ["train", "--resume", str(run), "training.epochs=2"])
    assert result.exit_code == 0, result.output
    assert "epochs_run: 2" in result.output
    result = runner.invoke(app, ["train", "--resume", str(run), "training.batch_size=4"])
    assert isinstance(result.exception, ConfigError)


def test_ddp_with_two_cpu_processes(tmp_path):
    # ddp relaunches the running script for rank 1, so run this file as a script in a subprocess
    # (its own session, so that a hang can be killed with all its children).
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, __file__, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"DDP run hung:\n{output[-3000:]}")
    assert proc.returncode == 0, output[-3000:]
    (run,) = (tmp_path / "runs").iterdir()  # both processes used the one run directory
    rows = read_csv(run / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert [int(r["step"]) for r in rows] == [2, 4]  # 64 points / (16 per batch x 2 processes)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["stop_reason"] == "max_epochs"
    assert load_model_from_run(run) is not None


def _ddp_main(root: Path) -> None:
    cfg = toy_config(root, "training.epochs=2", "training.strategy=ddp", "training.devices=2")
    train(cfg, name="ddp")


if __name__ == "__main__":
    register_toy()
    _ddp_main(Path(sys.argv[1]))
