"""Knowledge distillation in the beats task: the loss, the teacher's probabilities, the data wiring."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from ecglab.config import load_config
from ecglab.errors import ConfigError
from ecglab.models import create_model
from ecglab.signal.beats import RR_FEATURE_NAMES
from ecglab.training.beats import BeatsModule, WithSoftTargets, predict_proba, teacher_probabilities
from ecglab.training.trainer import load_model_from_run

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "mitdb-beats.yaml"


def _teacher(folder: Path, **beats_changes) -> Path:
    """A finished-run folder holding an untrained beat_cnn, cut as ``beats_changes`` say."""
    folder.mkdir(parents=True)
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["beats"].update(beats_changes)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    torch.manual_seed(1)
    save_file(create_model("beat_cnn", **cfg["model"]["params"]).state_dict(), folder / "model.safetensors")
    return folder


def _beats(n: int = 64) -> SimpleNamespace:
    rng = np.random.default_rng(0)
    return SimpleNamespace(
        windows=rng.normal(size=(n, 2, 126)).astype(np.float32),
        rr=(1 + 0.2 * rng.normal(size=(n, len(RR_FEATURE_NAMES)))).astype(np.float32),
        labels=rng.integers(0, 5, n),
    )


def _module(**overrides) -> BeatsModule:
    cfg = load_config(CONFIG, [f"beats.{k}={v}" for k, v in overrides.items()])
    return BeatsModule(cfg, class_weight=torch.tensor([1.0, 4.0, 2.0, 6.0, 1.0]))


def test_distillation_loss_mixes_hard_and_teacher_terms():
    torch.manual_seed(0)
    logits, y = torch.randn(32, 5), torch.randint(0, 5, (32,))
    teacher = torch.softmax(torch.randn(32, 5), 1)
    hard = _module().loss(logits, y)
    assert torch.allclose(_module(distill_weight=0.0).loss(logits, y, teacher), hard)
    # A student that already says what the teacher says pays nothing for the teacher term ...
    own = torch.softmax(logits, 1)
    assert _module(distill_weight=1.0, distill_temperature=3.0).loss(logits, y, own).abs() < 1e-5
    # ... and a gradient step moves a student towards its teacher.
    student = logits.clone().requires_grad_(True)
    module = _module(distill_weight=1.0)
    before = module.loss(student, y, teacher)
    before.backward()
    after = module.loss(student.detach() - 0.5 * student.grad, y, teacher)
    assert before > 0 and after < before
    mixed = _module(distill_weight=0.25).loss(logits, y, teacher)
    assert torch.allclose(mixed, 0.75 * hard + 0.25 * module.loss(logits, y, teacher))


def test_teacher_probabilities_are_the_teachers_own_predictions(tmp_path):
    folder = _teacher(tmp_path / "teacher")
    cfg = load_config(CONFIG, [f"beats.teacher={folder}"])
    beats = _beats()
    got = teacher_probabilities(cfg, beats)
    expect = predict_proba(load_model_from_run(folder), beats.windows, beats.rr)
    np.testing.assert_allclose(got, expect, rtol=1e-6)
    assert got.shape == (64, 5) and np.allclose(got.sum(1), 1, atol=1e-5)


def test_teacher_cut_differently_is_refused(tmp_path):
    folder = _teacher(tmp_path / "teacher", before_s=0.3)
    cfg = load_config(CONFIG, [f"beats.teacher={folder}"])
    with pytest.raises(ConfigError, match=r"beats\.teacher .* differ"):
        teacher_probabilities(cfg, _beats())
    cfg = load_config(CONFIG, [f"beats.teacher={tmp_path / 'nowhere'}"])
    with pytest.raises(ConfigError, match="nowhere"):
        teacher_probabilities(cfg, _beats())


def test_soft_targets_ride_along_with_each_beat():
    base = torch.utils.data.TensorDataset(torch.arange(4.0), torch.arange(4.0) * 2)
    soft = np.eye(5, dtype=np.float32)[:4]
    data = WithSoftTargets(base, soft)
    item = data[2]
    assert len(data) == 4 and len(item) == 3 and item[0] == 2 and torch.equal(item[2], torch.eye(5)[2])
    with pytest.raises(ValueError, match="3 teacher rows for 4 beats"):
        WithSoftTargets(base, soft[:3])
