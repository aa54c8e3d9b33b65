"""Probability ensembles: the model averages its members, `ecglab ensemble` builds one from runs,
and prediction, ONNX export and older models with fewer RR features all work with it."""

from __future__ import annotations

import json
from pathlib import Path

import neurokit2 as nk
import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from ecglab.cli.main import run
from ecglab.errors import ConfigError
from ecglab.io import Recording
from ecglab.models import create_model
from ecglab.predict import BeatClassifier
from ecglab.signal.beats import RR_FEATURE_NAMES
from ecglab.training.ensemble import build_ensemble
from ecglab.training.trainer import load_model_from_run

REPO = Path(__file__).resolve().parents[1]


def _fake_run(folder: Path, seed: int, **param_changes) -> Path:
    """A finished-run folder (config.yaml, model.safetensors, metrics.json) of an untrained beat_cnn."""
    folder.mkdir(parents=True)
    cfg = yaml.safe_load((REPO / "configs" / "mitdb-beats.yaml").read_text())
    cfg["model"]["params"].update(param_changes)
    cfg["cv"]["seed"] = seed
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    torch.manual_seed(seed)
    save_file(create_model("beat_cnn", **cfg["model"]["params"]).state_dict(), folder / "model.safetensors")
    (folder / "metrics.json").write_text(
        json.dumps({"monitor": "val_macro_f1", "best_score": 0.5 + seed / 10})
    )
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    return [_fake_run(root / f"s{seed}", seed) for seed in range(3)]


def test_ensemble_averages_member_probabilities():
    params = {"in_leads": 2, "window": 126, "n_rr": len(RR_FEATURE_NAMES)}
    torch.manual_seed(0)
    ens = create_model("ensemble", member="beat_cnn", member_params=params, n_members=3).eval()
    x, rr = torch.randn(5, 2, 126), torch.rand(5, len(RR_FEATURE_NAMES)) + 0.5
    with torch.no_grad():
        expect = torch.stack([m(x, rr).softmax(-1) for m in ens.members]).mean(0)
        got = ens(x, rr).softmax(-1)
    torch.testing.assert_close(got, expect, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(expect, ens.members[0](x, rr).softmax(-1))  # members differ
    assert ens.n_rr == len(RR_FEATURE_NAMES) and ens.n_classes == 5
    with pytest.raises(ValueError, match="n_members"):
        create_model("ensemble", member="beat_cnn", member_params=params, n_members=0)


def test_build_ensemble_loads_each_members_weights(runs, tmp_path):
    out = build_ensemble(runs, tmp_path / "ens")
    ens = load_model_from_run(out)
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["model"]["name"] == "ensemble" and cfg["model"]["params"]["n_members"] == 3
    assert cfg["task"] == "beats" and cfg["data"]["leads"] == ["MLII"]
    for member, run_dir in zip(ens.members, runs, strict=True):
        single = load_model_from_run(run_dir)
        for (k, a), (_, b) in zip(member.state_dict().items(), single.state_dict().items(), strict=True):
            assert torch.equal(a, b), k
    info = json.loads((out / "ensemble.json").read_text())
    assert [m["cv_seed"] for m in info["members"]] == [0, 1, 2] and info["members"][2]["best_score"] == 0.7


def test_build_ensemble_refuses_mixed_recipes_and_single_runs(runs, tmp_path):
    other = _fake_run(tmp_path / "wide", 5, width=16)
    with pytest.raises(ConfigError, match="members must share one recipe"):
        build_ensemble([runs[0], other], tmp_path / "bad")
    with pytest.raises(ConfigError, match="at least two runs"):
        build_ensemble(runs[:1], tmp_path / "bad")
    with pytest.raises(ConfigError, match=r"no model\.safetensors"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "config.yaml").write_text((runs[0] / "config.yaml").read_text())
        build_ensemble([runs[0], tmp_path / "empty"], tmp_path / "bad")


def test_ensemble_cli_predicts_and_exports_to_onnx(runs, tmp_path, capsys):
    out = tmp_path / "ens"
    run(["ensemble", *map(str, runs), "--out", str(out)])
    assert "ensemble of 3 runs" in capsys.readouterr().out
    x = nk.ecg_simulate(duration=20, sampling_rate=360, heart_rate=70, random_state=1)
    rec = Recording(signal=np.asarray(x, np.float32)[None], fs=360.0, leads=("MLII",), record_id="sim")
    torch_result = BeatClassifier.from_pretrained(out).predict(rec)
    assert len(torch_result.sample) > 15
    np.testing.assert_allclose(torch_result.probs.sum(1), 1, atol=1e-5)
    onnx_file = tmp_path / "ens.onnx"
    run(["export", "--model", str(out), "--out", str(onnx_file)])
    onnx_result = BeatClassifier.from_pretrained(out, backend="onnx", onnx_path=onnx_file).predict(rec)
    np.testing.assert_allclose(torch_result.probs, onnx_result.probs, atol=1e-4)


def test_models_trained_on_fewer_rr_features_still_predict(tmp_path):
    old = _fake_run(tmp_path / "old", 0, n_rr=len(RR_FEATURE_NAMES) - 1)
    x = nk.ecg_simulate(duration=20, sampling_rate=360, heart_rate=70, random_state=1)
    rec = Recording(signal=np.asarray(x, np.float32)[None], fs=360.0, leads=("MLII",), record_id="sim")
    result = BeatClassifier.from_pretrained(old).predict(rec)
    assert len(result.sample) > 15 and np.isfinite(result.probs).all()
    run(["export", "--model", str(old), "--out", str(tmp_path / "old.onnx")])
    onnx = BeatClassifier.from_pretrained(old, backend="onnx", onnx_path=tmp_path / "old.onnx").predict(rec)
    np.testing.assert_allclose(onnx.probs, result.probs, atol=1e-4)
