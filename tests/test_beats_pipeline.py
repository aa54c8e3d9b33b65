"""Beat prediction on any record, end-to-end scoring, and the predict/export/evaluate plumbing.

A randomly initialised BeatCNN saved the way training saves models stands in for trained weights:
these tests check behaviour (files, columns, sample rates, errors), not accuracy; the accuracy of
the shipped model is measured by benchmarks/beats.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import neurokit2 as nk
import numpy as np
import pandas as pd
import pytest
import torch
import wfdb
from safetensors.torch import save_file

from ecglab.cli.main import run
from ecglab.errors import LeadError, RecordError
from ecglab.evaluate.beats import NONE, score_beat_predictions
from ecglab.io import Annotations, Recording, write_wfdb
from ecglab.models import create_model
from ecglab.predict import BeatClassifier
from ecglab.signal.simulate import simulate_12lead

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """config.yaml + model.safetensors of an untrained beat_cnn, as export_weights writes them."""
    folder = tmp_path_factory.mktemp("beat-model")
    (folder / "config.yaml").write_text((REPO / "configs" / "mitdb-beats.yaml").read_text())
    torch.manual_seed(0)
    from omegaconf import OmegaConf

    params = OmegaConf.load(folder / "config.yaml").model.params
    model = create_model("beat_cnn", **OmegaConf.to_container(params))
    save_file(model.state_dict(), folder / "model.safetensors")
    return folder


def _ecg(fs: float, seconds: float = 20, lead: str = "II") -> Recording:
    """One lead of NeuroKit2's ECGSYN at 70 bpm, or its 12-lead simulation when ``lead`` is empty."""
    if not lead:
        return simulate_12lead(duration=seconds, fs=fs, seed=1, record_id=f"sim{int(fs)}")
    x = nk.ecg_simulate(duration=seconds, sampling_rate=int(fs), heart_rate=70, random_state=1)
    return Recording(signal=np.asarray(x)[None], fs=fs, leads=(lead,), record_id=f"sim{int(fs)}")


@pytest.mark.parametrize("fs", [200.0, 250.0, 360.0, 500.0])
def test_predict_works_at_any_rate_with_samples_in_the_input_rate(model_dir, fs):
    rec = _ecg(fs)
    result = BeatClassifier.from_pretrained(model_dir).predict(rec)
    assert result.leads == ("II",) and "in place of MLII" in result.notes[0]
    assert 18 <= len(result.sample) <= 30  # ~70 bpm for 20 s
    rr = np.diff(result.sample) / fs
    assert 0.6 < np.median(rr) < 1.2  # sample indices are in the record's own rate
    np.testing.assert_allclose(result.probs.sum(1), 1, atol=1e-5)


def test_predict_cli_writes_csv_and_wfdb_annotations(model_dir, tmp_path, capsys):
    src = tmp_path / "in"
    write_wfdb(_ecg(250, lead="").replace(record_id="twelve"), src)
    write_wfdb(_ecg(500).replace(record_id="single"), src)
    out = tmp_path / "out"
    run(["predict", "--model", str(model_dir), str(src), "--out", str(out)])
    for name, fs in (("twelve", 250), ("single", 500)):
        table = pd.read_csv(out / f"{name}.beats.csv")
        assert list(table.columns) == ["sample", "time_s", "label", *(f"prob_{c}" for c in "NSVFQ")]
        assert set(table["label"]) <= set("NSVFQ") and len(table) > 15
        np.testing.assert_allclose(table["time_s"], table["sample"] / fs, atol=1e-3)
        ann = wfdb.rdann(str(out / name), "ecglab")
        assert list(ann.sample) == table["sample"].tolist() and ann.symbol == table["label"].tolist()
    assert "twelve" in capsys.readouterr().out


def test_predict_from_reference_annotations(model_dir):
    rec = _ecg(360, lead="").select(["II", "V1"])
    beats = np.arange(200, rec.n_samples - 200, 300)
    rec = rec.replace(annotations=Annotations(sample=beats, symbol=["N"] * beats.size), leads=("MLII", "V1"))
    result = BeatClassifier.from_pretrained(model_dir).predict(rec, peaks="atr")
    assert result.peaks_from == "atr" and result.leads == ("MLII",) and not result.notes
    np.testing.assert_array_equal(result.sample, beats)


def test_bad_records_are_clear_and_batch_goes_on(model_dir, tmp_path, capsys):
    src = tmp_path / "in"
    flat = Recording(signal=np.zeros((1, 5000)), fs=250, leads=("II",), record_id="flat")
    write_wfdb(flat, src)
    write_wfdb(_ecg(250).crop(0, 75).replace(record_id="short"), src)  # 0.3 s: shorter than a window
    slow = Recording(
        signal=np.random.default_rng(0).normal(size=(1, 900)), fs=90, leads=("II",), record_id="slow"
    )
    write_wfdb(slow, src)
    noise = Recording(signal=np.random.default_rng(1).normal(size=(1, 900)), fs=250, leads=("noise1",),
                      record_id="noise")  # fmt: skip
    write_wfdb(noise, src)
    write_wfdb(_ecg(250).replace(record_id="good"), src)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        run(["predict", "--model", str(model_dir), str(src), "--out", str(out)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "90 Hz is below 100 Hz" in err and "no usable ECG lead among noise1" in err
    assert "2 of 5 record(s) failed" in err and "Traceback" not in err
    assert pd.read_csv(out / "flat.beats.csv").empty  # nothing found, and the file says so
    assert len(pd.read_csv(out / "good.beats.csv")) > 15
    assert (out / "short.beats.csv").is_file()


def test_classifier_errors(model_dir):
    with pytest.raises(RecordError, match="unknown backend"):
        BeatClassifier(None, None, backend="tpu")  # type: ignore[arg-type]
    classifier = BeatClassifier.from_pretrained(model_dir)
    noise = Recording(signal=np.ones((2, 500)), fs=250, leads=("noise1", "RESP"))
    with pytest.raises(LeadError, match="no usable ECG lead"):
        classifier.choose_leads(noise)
    with pytest.raises(RecordError, match=r"has no \.atr annotations"):
        classifier.predict(_ecg(250), peaks="atr")
    assert classifier.choose_leads(_ecg(250, lead="V5")) == ("V5",)


def test_end_to_end_scoring_counts_misses_and_extras():
    ann = Annotations(
        sample=[100, 400, 700, 1000, 1300, 1600],
        symbol=["N", "A", "V", "+", "N", "?"],
    )
    # Detections: 405 matches A (labelled S), 690 matches V (labelled N: wrong), 1000 is the '+'
    # rhythm mark (not a beat: an extra), 1600 matches '?' (not scored), 100 and 1300 are missed.
    y_true, y_pred = score_beat_predictions(
        ann, 360.0, np.array([405, 690, 1000, 1600]), ["S", "N", "V", "N"]
    )
    pairs = sorted(zip(y_true.tolist(), y_pred.tolist(), strict=True))
    assert pairs == sorted([(1, 1), (2, 0), (0, NONE), (0, NONE), (NONE, 2)])


def test_template_is_the_typical_sinus_beat_even_when_ectopics_dominate():
    from ecglab.signal.beats import RR_FEATURE_NAMES, add_template_difference

    n, w = 40, 16
    sinus = np.zeros(w, np.float32)
    sinus[8] = 1.0
    ectopic = np.zeros(w, np.float32)
    ectopic[4:8] = 0.5  # different morphology
    # 30 ectopic beats at the usual rate, 10 sinus beats after pauses (as in MIT-BIH 232).
    windows = np.stack([ectopic] * 30 + [sinus] * 10)[:, None, :]
    rr = np.ones((n, len(RR_FEATURE_NAMES)), np.float32)
    rr[30:, RR_FEATURE_NAMES.index("pre_local_ratio")] = 2.5
    out = add_template_difference(windows, rr)
    assert out.shape == (n, 2, w)
    np.testing.assert_array_equal(out[:, 0], windows[:, 0])
    np.testing.assert_allclose(out[30:, 1], 0.0)  # sinus beats equal the template
    np.testing.assert_allclose(out[:30, 1], np.broadcast_to(ectopic - sinus, (30, w)))
    # Without RR features the median of all beats is the template: here the ectopic one.
    np.testing.assert_allclose(add_template_difference(windows)[:30, 1], 0.0)


def test_export_cli_and_onnx_backend_agree_with_torch(model_dir, tmp_path, capsys):
    onnx_file = tmp_path / "beats.onnx"
    run(["export", "--model", str(model_dir), "--out", str(onnx_file)])
    assert onnx_file.is_file() and "max |diff|" in capsys.readouterr().out
    report = json.loads(onnx_file.with_suffix(".parity.json").read_text())
    assert report["ok"] and report["max_abs_diff"] <= 1e-4
    rec = _ecg(360)
    torch_result = BeatClassifier.from_pretrained(model_dir).predict(rec)
    onnx_result = BeatClassifier.from_pretrained(model_dir, backend="onnx", onnx_path=onnx_file).predict(rec)
    np.testing.assert_array_equal(torch_result.sample, onnx_result.sample)
    np.testing.assert_allclose(torch_result.probs, onnx_result.probs, atol=1e-4)


def test_forced_leads_are_normalised_counted_and_peaks_checked(model_dir):
    classifier = BeatClassifier.from_pretrained(model_dir)
    rec = _ecg(360, lead="").select(["II", "V5"]).replace(leads=("MLII", "V5"))
    assert classifier.predict(rec, leads=["ml2"]).leads == ("MLII",)
    with pytest.raises(LeadError, match=r"2 lead\(s\) given \(MLII, V5\) but the model takes 1"):
        classifier.predict(rec, leads=["MLII", "V5"])
    with pytest.raises(RecordError):
        classifier.predict(rec, peaks=np.array([100.7, 500.2]))


def test_predict_refuses_to_overwrite_outputs_of_another_record(model_dir, tmp_path, capsys):
    for folder in ("a", "b"):
        write_wfdb(_ecg(250).replace(record_id="same"), tmp_path / folder)
    with pytest.raises(SystemExit) as exit_info:
        run(["predict", "--model", str(model_dir), str(tmp_path / "a"), str(tmp_path / "b"),
             "--out", str(tmp_path / "out")])  # fmt: skip
    assert exit_info.value.code == 1
    assert "would overwrite those of" in capsys.readouterr().err


def test_a_two_lead_model_takes_the_record_s_own_chest_lead(tmp_path):
    """``data.leads: [MLII, "V1|V2|V4|V5"]``: MIT-BIH's second channel is V1, V2, V4 or V5."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(REPO / "configs" / "mitdb-beats.yaml")
    cfg.data.leads = ["MLII", "V1|V2|V4|V5"]
    cfg.model.params.in_leads = 4
    OmegaConf.save(cfg, tmp_path / "config.yaml")
    torch.manual_seed(0)
    save_file(create_model("beat_cnn", **OmegaConf.to_container(cfg.model.params)).state_dict(),
              tmp_path / "model.safetensors")  # fmt: skip
    classifier = BeatClassifier.from_pretrained(tmp_path)
    one = _ecg(360, lead="MLII")
    for chest in ("V1", "V2", "V5"):
        rec = Recording(signal=np.concatenate([one.signal, -one.signal]), fs=360, leads=("MLII", chest))
        result = classifier.predict(rec)
        assert result.leads == ("MLII", chest) and not result.notes
        assert result.probs.shape[1] == 5 and len(result.sample) > 15
    rec = Recording(signal=np.concatenate([one.signal, one.signal]), fs=360, leads=("II", "V6"))
    assert classifier.choose_leads(rec) == ("II", "V6")  # no alternative present: the preference list
