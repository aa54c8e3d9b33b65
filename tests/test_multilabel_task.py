"""The 12-lead task end to end on a tiny simulated challenge database: train, thresholds, challenge
outputs the scorer reads, prediction, pre-training + fine-tuning, ONNX export, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ecglab.cli.main import app
from ecglab.config import config_from_dict
from ecglab.io.challenge import write_challenge
from ecglab.io.recording import Recording

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
# Sinus rhythm, sinus bradycardia, sinus tachycardia: scored 2021 classes told apart by heart rate.
RATES = {"426783006": 70.0, "426177001": 45.0, "427084000": 120.0}
PREFIXES = ("A", "E", "JS", "Q")


def _ecg(rate: float, fs: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """12 leads of Gaussian 'QRS' pulses at ``rate`` bpm, lead-specific gains, a little noise."""
    t = np.arange(int(seconds * fs)) / fs
    beats = np.arange(rng.uniform(0, 0.5), seconds, 60.0 / rate)
    pulse = sum(np.exp(-0.5 * ((t - b) / 0.02) ** 2) for b in beats)
    gains = np.linspace(-1.0, 1.5, len(LEADS))[:, None]
    return (gains * pulse + 0.02 * rng.standard_normal((len(LEADS), t.size))).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with ``cinc2020/<source>/`` challenge records (60 records, 3 classes)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    codes = list(RATES)
    for i in range(60):
        code = codes[i % 3]
        prefix = PREFIXES[i % len(PREFIXES)]
        rec = Recording(
            signal=_ecg(RATES[code], 500.0, 10.0, rng),
            fs=500.0,
            leads=LEADS,
            record_id=f"{prefix}{i:04d}",
            meta={"dx": [code], "age": float(30 + i), "sex": "M" if i % 2 else "F"},
        )
        write_challenge(rec, root / "cinc2020" / f"src{prefix}")
    return root


def _config(root: Path, tmp: Path, **extra: object) -> dict:
    cfg = {
        "task": "multilabel",
        "data": {"dataset": "cinc", "root": str(root), "fs": 50, "num_workers": 0},
        "model": {
            "name": "resnet1d",
            "params": {"filters": [8, 16, 16], "downsample": [4, 4], "kernel_size": 9},
        },
        "multilabel": {"sources": ["cinc"], "crop_s": 8.0, "bandpass": [0.5, 20.0], "pos_weight": "sqrt"},
        "training": {
            "epochs": 3,
            "batch_size": 16,
            "accelerator": "cpu",
            "devices": 1,
            "monitor": "val_macro_auroc",
            "monitor_mode": "max",
            "early_stopping_patience": None,
            "seed": 0,
        },
        "optimizer": {"lr": 3e-3},
        "cv": {"n_folds": 5, "val_fold": 0, "split": "patient"},
        "logging": {"run_dir": str(tmp / "runs"), "name": "tiny"},
    }
    for key, value in extra.items():
        section, name = key.split(".", 1)
        cfg[section][name] = value
    return cfg


@pytest.fixture(scope="module")
def trained_run(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ecglab.training.trainer import train

    tmp = tmp_path_factory.mktemp("run")
    return train(config_from_dict(_config(tiny_root, tmp)), run_dir=tmp / "run")


def test_run_writes_thresholds_scores_and_challenge_files(trained_run: Path, tiny_root: Path) -> None:
    thresholds = json.loads((trained_run / "thresholds.json").read_text())
    assert len(thresholds["classes"]) == 26  # the 2021 scored classes, merged equivalents
    assert all(0.0 < t < 1.0 for t in thresholds["thresholds"])
    evaluation = json.loads((trained_run / "metrics.json").read_text())["evaluation"]
    n = evaluation["n_records"]
    assert n["train"] + n["val"] + n["test"] == 60 and n["val"] > 0 and n["test"] > 0
    test = evaluation["test"]
    assert set(test["challenge"]) >= {"challenge_metric", "auroc", "auprc", "accuracy", "f_measure"}
    outputs = sorted((trained_run / "test_outputs").glob("*.csv"))
    labels = sorted((trained_run / "test_labels").glob("*.hea"))
    assert len(outputs) == len(labels) == n["test"]
    lines = outputs[0].read_text().splitlines()
    assert lines[0] == f"#{outputs[0].stem}" and len(lines[1].split(",")) == 26
    assert set(lines[2].split(",")) <= {"0", "1"}
    # The scorer reads the run's own challenge directories and agrees with the run's evaluation.
    result = CliRunner().invoke(
        app,
        [
            "score",
            "cinc2021",
            "--labels",
            str(trained_run / "test_labels"),
            "--outputs",
            str(trained_run / "test_outputs"),
            "--json",
            str(trained_run / "score.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    scored = json.loads((trained_run / "score.json").read_text())
    assert scored["challenge_metric"] == pytest.approx(test["challenge"]["challenge_metric"], abs=1e-9)
    assert (trained_run / "test_per_class.png").stat().st_size > 1000


def test_predict_writes_challenge_output_for_any_rate(
    trained_run: Path, tiny_root: Path, tmp_path: Path
) -> None:
    from ecglab.predict import MultilabelClassifier

    clf = MultilabelClassifier.from_pretrained(trained_run)
    rng = np.random.default_rng(5)
    rec = Recording(signal=_ecg(45.0, 257.0, 23.0, rng), fs=257.0, leads=LEADS, record_id="odd-rate")
    result = clf.predict(rec)
    assert result.probabilities.shape == (26,) and np.all(
        (result.probabilities >= 0) & (result.probabilities <= 1)
    )
    assert any("resampled" in note for note in result.notes)
    path = result.write_challenge(tmp_path / "odd-rate.csv")
    from ecglab.errors import RecordError

    with pytest.raises(RecordError, match="too short"):
        clf.predict(rec.crop_seconds(0, 1.0))
    with pytest.raises(RecordError, match="flat"):
        clf.predict(rec.replace(signal=np.zeros_like(rec.signal)))
    assert path.read_text().splitlines()[0] == "#odd-rate"
    # The CLI: a folder of records, one of which lacks leads -> listed, exit 1, others written.
    folder = tmp_path / "in"
    for src in sorted((tiny_root / "cinc2020" / "srcA").glob("*.hea"))[:2]:
        for suffix in (".hea", ".mat"):
            (folder / src.with_suffix(suffix).name).parent.mkdir(exist_ok=True)
            (folder / src.with_suffix(suffix).name).write_bytes(src.with_suffix(suffix).read_bytes())
    two = Recording(
        signal=_ecg(70.0, 500.0, 10.0, rng)[:2],
        fs=500.0,
        leads=("I", "II"),
        record_id="X9",
        meta={"dx": ["426783006"]},
    )
    write_challenge(two, folder)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["predict", "--model", str(trained_run), str(folder), "--out", str(out)])
    assert result.exit_code == 1
    assert "missing III" in result.output and "1 of 3 record(s) failed" in result.output
    assert len(list(out.glob("*.csv"))) == 2


def test_export_onnx_parity_and_onnx_backend(trained_run: Path, tmp_path: Path) -> None:
    onnx_path = tmp_path / "m.onnx"
    result = CliRunner().invoke(app, ["export", "--model", str(trained_run), "--out", str(onnx_path)])
    assert result.exit_code == 0, result.output
    parity = json.loads(onnx_path.with_suffix(".parity.json").read_text())
    assert parity["max_abs_diff"] <= 1e-4
    from ecglab.predict import MultilabelClassifier

    torch_clf = MultilabelClassifier.from_pretrained(trained_run)
    onnx_clf = MultilabelClassifier.from_pretrained(trained_run, backend="onnx", onnx_path=onnx_path)
    rec = Recording(
        signal=_ecg(120.0, 500.0, 14.0, np.random.default_rng(1)), fs=500.0, leads=LEADS, record_id="r"
    )
    np.testing.assert_allclose(
        onnx_clf.predict(rec).probabilities, torch_clf.predict(rec).probabilities, atol=1e-5
    )


def test_pretrain_then_finetune_loads_the_encoder(tiny_root: Path, tmp_path: Path) -> None:
    from ecglab.training.trainer import load_model_from_run, train

    cfg = _config(
        tiny_root,
        tmp_path,
        **{"training.epochs": 1, "training.monitor": "val_loss", "training.monitor_mode": "min"},
    )
    cfg["task"] = "pretrain"
    backbone = cfg["model"]["params"]
    cfg["model"] = {
        "name": "masked_pretrain",
        "params": {"backbone": "resnet1d", "backbone_params": backbone},
    }
    cfg["pretrain"] = {"mask_ratio": 0.3, "span_s": 0.4, "lead_drop": 0.2}
    pre = train(config_from_dict(cfg), run_dir=tmp_path / "pre")
    history = (pre / "history.csv").read_text().splitlines()
    assert len(history) == 2 and "val_loss" in history[0]
    encoder = load_model_from_run(pre).backbone.state_dict()
    fine = train(
        config_from_dict(_config(tiny_root, tmp_path, **{"training.epochs": 1})), run_dir=tmp_path / "fine"
    )
    # Untrained fine-tune run from the pre-trained encoder: compare its starting point directly.
    from ecglab.training.module import build_model

    started = build_model(
        config_from_dict(
            {
                **_config(tiny_root, tmp_path),
                "model": {
                    **_config(tiny_root, tmp_path)["model"],
                    "pretrained": str(pre),
                    "params": {**backbone, "in_leads": 12, "n_classes": 26, "n_demo": 0},
                },
            }
        )
    )
    # Fine-tuning validated on records pre-training saw (another cv.val_fold) is refused.
    from ecglab.errors import ConfigError

    with pytest.raises(ConfigError, match="pre-trained on"):
        leaky = _config(tiny_root, tmp_path, **{"training.epochs": 1})
        leaky["cv"]["val_fold"] = 2
        leaky["model"]["pretrained"] = str(pre)
        train(config_from_dict(leaky), run_dir=tmp_path / "leaky")
    stem = next(k for k in encoder if k.endswith("weight"))
    np.testing.assert_array_equal(started.state_dict()[stem].numpy(), encoder[stem].numpy())
    assert (fine / "thresholds.json").is_file()


def test_too_many_folds_for_the_data_is_one_clear_error(tiny_root: Path, tmp_path: Path) -> None:
    from ecglab.errors import ConfigError
    from ecglab.training.trainer import train

    cfg = _config(tiny_root, tmp_path, **{"multilabel.test_sources": ["nowhere"]})
    cfg["multilabel"]["test_fold"] = None
    with pytest.raises(ConfigError, match="test split is empty"):
        train(config_from_dict(cfg), run_dir=tmp_path / "x")


def test_shipped_cinc_12lead_loads_and_predicts(tmp_path: Path) -> None:
    from ecglab.predict import MultilabelClassifier
    from ecglab.pretrained import PRETRAINED_ROOT, available_models

    assert "cinc-12lead" in available_models()
    folder = PRETRAINED_ROOT / "cinc-12lead"
    assert (folder / "card.md").is_file()
    assert (folder / "model.safetensors").stat().st_size < 20e6
    clf = MultilabelClassifier.from_pretrained("cinc-12lead")
    assert len(clf.classes) == 26 and len(clf.thresholds) == 26
    from ecglab.signal.simulate import simulate_12lead

    result = clf.predict(simulate_12lead(duration=10.0, fs=500.0, seed=0))
    assert result.probabilities.shape == (26,)
    assert "NSR" in result.positive()  # a simulated sinus rhythm at 70 bpm


@pytest.mark.integration
def test_shipped_model_on_shared_challenge_records(shared_data: Path, tmp_path: Path) -> None:
    from ecglab.cli.main import run

    out = tmp_path / "out"
    try:
        run(
            [
                "predict",
                "--model",
                "cinc-12lead",
                str(shared_data / "cinc2020" / "georgia"),
                "--out",
                str(out),
            ]
        )
    except SystemExit as exc:
        assert not exc.code
    files = sorted(out.glob("*.csv"))
    assert len(files) == 10
    lines = files[0].read_text().splitlines()
    assert len(lines) == 4 and lines[0] == f"#{files[0].stem}"
