"""Beat preprocessing (filters, RR features, windows), the MIT-BIH beat dataset, and BeatCNN.

Records are made here (Gaussian P-QRS-T beats at chosen times, written with ``write_wfdb``), so the
expected windows, RR features and class counts are known exactly. One integration test reads real
MIT-BIH records when the shared data is present.
"""

from __future__ import annotations

import collections
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from ecglab.datasets import mitdb
from ecglab.datasets.mitdb import (
    AAMI_CLASSES,
    AAMI_MAP,
    ALL_RECORDS,
    BEAT_SYMBOLS,
    DS1,
    DS1_CLASS_COUNTS,
    DS2,
    PACED,
    BeatDataset,
    BeatSet,
    LeakySplitWarning,
    RecordSplit,
    class_weights,
    intra_split,
    load_beat_set,
    split_records,
    val_records,
)
from ecglab.errors import DataNotFoundError, LeadError, RecordError
from ecglab.io.recording import Annotations, Recording
from ecglab.io.wfdb_io import write_wfdb
from ecglab.models.beat_cnn import BeatCNN
from ecglab.signal.beats import (
    LOCAL_RR_BEATS,
    RR_FEATURE_NAMES,
    BeatWindowSpec,
    extract_beats,
    rr_features,
)
from ecglab.signal.filters import bandpass, notch, remove_baseline

SPEC = BeatWindowSpec()
COL = {name: i for i, name in enumerate(RR_FEATURE_NAMES)}


# ------------------------------------------------------------------------------------- helpers
def synth_ecg(fs: float, seconds: float, beat_times: np.ndarray, kinds: str, n_leads: int = 1) -> np.ndarray:
    """Sum of Gaussian waves: N/S beats have P, narrow QRS, T; V beats a wide, tall, inverted QRS.

    Returns ``[n_leads, samples]`` in mV (lead i scaled by 1 + 0.3 i).
    """
    t = np.arange(round(fs * seconds)) / fs
    sig = np.zeros_like(t)
    for tb, kind in zip(beat_times, kinds, strict=True):
        if kind == "V":
            waves = [(-1.6, 0.0, 0.035), (0.5, 0.3, 0.06)]
        else:
            waves = [(0.15, -0.16, 0.02), (1.0, 0.0, 0.01), (0.3, 0.25, 0.04)]
        for amp, dt, sd in waves:
            sig += amp * np.exp(-0.5 * ((t - tb - dt) / sd) ** 2)
    return np.stack([(1 + 0.3 * i) * sig for i in range(n_leads)]).astype(np.float32)


def beat_plan(seconds: float = 40.0, seed: int = 0) -> tuple[np.ndarray, str]:
    """Beat times (multiples of 0.1 s) and kinds: N every 0.8 s, S and V premature (0.6 s)."""
    rng = np.random.default_rng(seed)
    times, kinds, t = [], [], 0.6
    while t < seconds - 0.7:
        times.append(round(t, 1))
        kinds.append(str(rng.choice(["N", "N", "N", "N", "S", "V"])) if times[-1] > 1.0 else "N")
        t += 0.8 if kinds[-1] == "N" else 0.6  # then the interval before the next beat
    kinds = [*kinds[1:], "N"]  # shift: a beat is S/V when the interval *before* it is short
    return np.array(times), "".join(kinds)


def record_plan(seed: int) -> dict:
    """Beats of a synthetic MIT-BIH-like record at 360 Hz; beat 5 is unclassifiable ('?')."""
    times, kinds = beat_plan(seed=seed)
    kinds = kinds[:5] + "?" + kinds[6:]  # an unclassifiable beat: used for RR, not labelled
    return {"times": times, "kinds": kinds, "samples": np.round(times * 360.0).astype(np.int64)}


def write_synth_record(directory: Path, name: str, leads=("MLII", "V1"), seed=0) -> None:
    """A WFDB record with .atr: beats N/S/V plus non-beat ('+', '~') and a non-AAMI beat ('?')."""
    fs = 360.0
    plan = record_plan(seed)
    times, kinds, beat_samples = plan["times"], plan["kinds"], plan["samples"]
    symbols_map = {"N": "N", "S": "A", "V": "V", "?": "?"}
    sig = synth_ecg(fs, 40.0, times, kinds.replace("?", "N"), n_leads=len(leads))
    extra = [(int(fs * 0.05), "+", "(N"), (int(fs * 20.02), "~", "")]
    samples = [*beat_samples.tolist(), *(s for s, _, _ in extra)]
    symbols = [*(symbols_map[k] for k in kinds), *(sym for _, sym, _ in extra)]
    aux = [""] * len(beat_samples) + [a for _, _, a in extra]
    ann = Annotations(sample=np.array(samples), symbol=tuple(symbols), aux=tuple(aux))
    rec = Recording(signal=sig, fs=fs, leads=leads, record_id=name, annotations=ann)
    write_wfdb(rec, directory)


@pytest.fixture
def mitdb_dir(tmp_path: Path) -> Path:
    """``tmp_path/mitdb`` with two synthetic records, ``900`` (MLII, V1) and ``901`` (V5, MLII)."""
    root = tmp_path / "mitdb"
    write_synth_record(root, "900", seed=0)
    write_synth_record(root, "901", leads=("V5", "MLII"), seed=1)
    return root


# ------------------------------------------------------------------------------------- filters
def test_bandpass_keeps_band_removes_drift_and_nan_safe() -> None:
    fs = 250.0
    t = np.arange(int(10 * fs)) / fs
    inband = np.sin(2 * np.pi * 10 * t)
    x = np.stack([inband + 2.0 + 0.5 * t, inband]).astype(np.float32)  # offset + slow drift
    x[1, 1000:1010] = np.nan
    y = bandpass(x, fs)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.isnan(y[1, 1000:1010]).all() and np.isfinite(np.delete(y[1], range(1000, 1010))).all()
    core = slice(500, 2000)  # away from the edges
    np.testing.assert_allclose(y[0, core], inband[core], atol=0.05)
    assert bandpass(x[0], fs).shape == x[0].shape  # 1-D in, 1-D out
    with pytest.raises(RecordError):
        bandpass(x, fs, low=50.0, high=40.0)


def test_notch_and_baseline() -> None:
    fs = 500.0
    t = np.arange(int(8 * fs)) / fs
    mains = np.sin(2 * np.pi * 50 * t)
    assert np.abs(notch(mains, fs, 50.0)[1000:3000]).max() < 0.05
    drift = 0.8 * np.sin(2 * np.pi * 0.2 * t)
    spikes = synth_ecg(fs, 8.0, np.arange(0.5, 7.5, 0.8), "N" * 9)[0]
    for method in ("median", "highpass"):
        y = remove_baseline(spikes + drift, fs, method=method)
        clean = remove_baseline(spikes, fs, method=method)
        # the 0.8 mV drift is gone (the median estimate wobbles a little where the slope is steep)
        diff = np.abs(y - clean)[500:3500]
        assert np.median(diff) < 0.05 and np.percentile(diff, 95) < 0.15, method
        assert y[500:3500].max() > 0.7  # the R waves are kept


# ---------------------------------------------------------------------------------- RR features
def test_rr_features_regular() -> None:
    peaks = np.arange(20) * 200  # 0.8 s at 250 Hz
    f = rr_features(peaks, 250.0)
    assert f.shape == (20, len(RR_FEATURE_NAMES)) and f.dtype == np.float32
    np.testing.assert_allclose(f[:, :4], 0.8, rtol=1e-6)
    np.testing.assert_allclose(f[:, 4:8], 1.0, rtol=1e-6)
    np.testing.assert_allclose(f[:, COL["local_irregularity"]], 0.0, atol=1e-6)


def test_local_irregularity_tells_fibrillation_from_isolated_premature_beats() -> None:
    rng = np.random.default_rng(0)
    # Sinus at 0.8 s with one premature beat (0.5 s, then a 1.1 s pause) every 10 beats.
    sinus = np.tile([0.8] * 8 + [0.5, 1.1], 6)
    # Atrial fibrillation: independent intervals between 0.4 and 1.2 s.
    af = rng.uniform(0.4, 1.2, 60)
    feats = {}
    for name, intervals in (("sinus", sinus), ("af", af)):
        peaks = np.concatenate(([0], np.cumsum(intervals * 250))).astype(int)
        feats[name] = rr_features(peaks, 250.0)[:, COL["local_irregularity"]]
    # Median |ΔRR| of a sinus rhythm with isolated ectopics is 0: only 4 of 16 differences move.
    assert np.median(feats["sinus"]) < 0.05 and feats["sinus"].max() < 0.2
    # Independent uniform intervals: E|ΔRR| ≈ 0.27 s over a local RR ≈ 0.8 s.
    assert np.median(feats["af"]) > 0.2


def test_pre_sinus_ratio_calls_ectopic_runs_early() -> None:
    # MIT-BIH 232-like: runs of 3 ectopic beats 1.0 s apart, each run after a 2.5 s sinus pause.
    intervals = [2.5, 1.0, 1.0, 1.0] * 10
    peaks = np.concatenate(([0], np.cumsum(np.array(intervals) * 100))).astype(int)
    f = rr_features(peaks, 100.0)
    sinus = np.flatnonzero(np.isclose(f[:, COL["pre_rr"]], 2.5))
    ectopic = np.flatnonzero(np.isclose(f[:, COL["pre_rr"]], 1.0))
    # local and record RR follow the ectopic rhythm and call it normal ...
    np.testing.assert_allclose(f[ectopic[5:], COL["pre_record_ratio"]], 1.0)
    # ... the sinus ratio says early (1.0 / 2.5), and sinus beats are at 1.
    np.testing.assert_allclose(f[ectopic, COL["pre_sinus_ratio"]], 0.4, rtol=1e-6)
    np.testing.assert_allclose(f[sinus, COL["pre_sinus_ratio"]], 1.0, rtol=1e-6)


def test_rr_features_irregular_by_hand() -> None:
    # intervals (s): 12 x 1.0, a premature beat (0.6) and its pause (1.4), 3 x 1.0, then 12 x 0.5
    intervals = [1.0] * 12 + [0.6, 1.4] + [1.0] * 3 + [0.5] * 12
    peaks = np.concatenate(([0], np.cumsum(np.round(np.array(intervals) * 100)))).astype(int)
    f = rr_features(peaks, 100.0)
    assert f.shape == (30, len(RR_FEATURE_NAMES)) and np.isfinite(f).all()
    np.testing.assert_allclose(f[:, COL["record_rr"]], 1.0)  # median of 29 intervals
    # the premature beat (#13): local RR = median of the 10 intervals before its own = 1.0
    premature = f[13]
    np.testing.assert_allclose(premature[COL["pre_rr"]], 0.6, rtol=1e-6)
    np.testing.assert_allclose(premature[COL["post_rr"]], 1.4, rtol=1e-6)
    np.testing.assert_allclose(premature[COL["local_rr"]], 1.0, rtol=1e-6)
    np.testing.assert_allclose(premature[COL["pre_local_ratio"]], 0.6, rtol=1e-6)
    np.testing.assert_allclose(premature[COL["pre_record_ratio"]], 0.6, rtol=1e-6)
    np.testing.assert_allclose(premature[COL["post_pre_ratio"]], 1.4 / 0.6, rtol=1e-6)
    # the beat after the pause: its local window holds the 0.6 and the 1.4, the median ignores them
    np.testing.assert_allclose(f[15, COL["local_rr"]], 1.0)
    # beat 25: previous 10 intervals are 3 x 1.0 and 7 x 0.5 -> the local RR follows the new rate
    np.testing.assert_allclose(f[25, COL["local_rr"]], 0.5)
    np.testing.assert_allclose(f[25, COL["pre_local_ratio"]], 1.0)
    np.testing.assert_allclose(f[25, COL["pre_record_ratio"]], 0.5)
    # first beat: no previous beat -> pre-RR = record RR; the last: no next beat -> post-RR = record RR
    np.testing.assert_allclose(f[0, [COL["pre_rr"], COL["post_rr"], COL["local_rr"]]], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(f[-1, [COL["pre_rr"], COL["post_rr"], COL["post_pre_ratio"]]], [0.5, 1.0, 2.0])
    # an independent, loop-based reference for local RR over all beats
    rr = np.diff(peaks) / 100.0
    for i in range(len(peaks)):
        lo = min(max(i - 1 - LOCAL_RR_BEATS, 0), len(rr) - LOCAL_RR_BEATS)
        np.testing.assert_allclose(f[i, COL["local_rr"]], np.median(rr[lo : lo + LOCAL_RR_BEATS]), rtol=1e-6)


def test_rr_features_degenerate_and_invalid() -> None:
    assert rr_features(np.array([], dtype=int), 360.0).shape == (0, len(RR_FEATURE_NAMES))
    one = rr_features(np.array([100]), 360.0)
    assert np.isfinite(one).all() and np.allclose(one[0, 4:8], 1.0) and one[0, 8] == 0.0
    two = rr_features(np.array([0, 360]), 360.0)
    np.testing.assert_allclose(two[:, :4], 1.0)
    with pytest.raises(RecordError, match="strictly increasing"):
        rr_features(np.array([10, 10, 20]), 360.0)
    with pytest.raises(RecordError, match="lie in"):
        rr_features(np.array([10, 500]), 360.0, n_samples=400)
    with pytest.raises(RecordError, match="integer"):
        rr_features(np.array([1.5, 3.0]), 360.0)


# -------------------------------------------------------------------------------------- windows
@pytest.mark.parametrize("fs", [250.0, 360.0, 500.0])
def test_windows_same_shape_and_centred_at_any_fs(fs: float) -> None:
    times, kinds = beat_plan(seconds=20.0)
    rec = Recording(signal=synth_ecg(fs, 20.0, times, kinds), fs=fs, leads=("MLII",))
    peaks = np.round(times * fs).astype(int)
    windows, rr, kept = extract_beats(rec, peaks, SPEC, ["MLII"])
    assert windows.shape == (len(peaks), 1, SPEC.n_samples) == (len(peaks), 1, 126)
    assert windows.dtype == np.float32 and rr.shape == (len(peaks), len(RR_FEATURE_NAMES))
    np.testing.assert_array_equal(kept, np.arange(len(peaks)))
    assert SPEC.peak_index == round(SPEC.before_s * SPEC.fs) == 45
    normal = np.array([k != "V" for k in kinds])
    # the R peak is the maximum of normal beats (V beats are inverted: their minimum)
    np.testing.assert_array_equal(windows[normal, 0].argmax(axis=1), SPEC.peak_index)
    np.testing.assert_array_equal(windows[~normal, 0].argmin(axis=1), SPEC.peak_index)
    # per-window median 0; the record's median peak-to-peak amplitude is 1
    np.testing.assert_allclose(np.median(windows, axis=-1), 0.0, atol=1e-6)
    p2p = windows.max(axis=-1) - windows.min(axis=-1)
    np.testing.assert_allclose(np.median(p2p), 1.0, rtol=1e-5)


def test_windows_agree_across_input_rates() -> None:
    times, kinds = beat_plan(seconds=20.0)
    out = []
    for fs in (250.0, 360.0, 500.0):
        rec = Recording(signal=synth_ecg(fs, 20.0, times, kinds), fs=fs, leads=("MLII",))
        out.append(extract_beats(rec, np.round(times * fs).astype(int), SPEC, ["MLII"])[0])
    np.testing.assert_allclose(out[0], out[1], atol=0.05)
    np.testing.assert_allclose(out[2], out[1], atol=0.05)


def test_edge_beats_padded_or_dropped() -> None:
    fs = 360.0
    times = np.array([0.1, 1.0, 1.8, 2.6, 3.4, 4.2, 4.9])  # first and last windows cross the edges
    rec = Recording(signal=synth_ecg(fs, 5.0, times, "N" * 7), fs=fs, leads=("MLII",))
    peaks = np.round(times * fs).astype(int)
    padded, rr_pad, kept_pad = extract_beats(rec, peaks, SPEC, ["MLII"], edge="pad")
    np.testing.assert_array_equal(kept_pad, np.arange(7))
    assert np.isfinite(padded).all()
    n_pad_start = SPEC.before - round(0.1 * SPEC.fs)  # window starts 0.15 s before the record
    np.testing.assert_array_equal(padded[0, 0, :n_pad_start], 0.0)
    assert padded[0, 0].argmax() == SPEC.peak_index
    dropped, rr_drop, kept_drop = extract_beats(rec, peaks, SPEC, ["MLII"], edge="drop")
    np.testing.assert_array_equal(kept_drop, np.arange(1, 6))
    assert dropped.shape == (5, 1, SPEC.n_samples)
    np.testing.assert_array_equal(rr_drop, rr_pad[1:6])  # RR features still use every beat


def test_extract_beats_leads_nan_and_errors() -> None:
    fs = 360.0
    times, kinds = beat_plan(seconds=20.0)
    single = synth_ecg(fs, 20.0, times, kinds)
    peaks = np.round(times * fs).astype(int)
    # MLII second, as in record 114: selection by name picks the right row
    two = Recording(signal=np.concatenate([-single, single]), fs=fs, leads=("V5", "MLII"))
    one = Recording(signal=single, fs=fs, leads=("MLII",))
    np.testing.assert_allclose(
        extract_beats(two, peaks, SPEC, ["MLII"])[0], extract_beats(one, peaks, SPEC)[0]
    )
    both = extract_beats(two, peaks, SPEC, ["MLII", "V5"])[0]
    assert both.shape == (len(peaks), 2, SPEC.n_samples)
    with pytest.raises(LeadError):
        extract_beats(one, peaks, SPEC, ["V1"])
    gap = single.copy()
    gap[0, 3000:3400] = np.nan
    windows = extract_beats(Recording(signal=gap, fs=fs, leads=("MLII",)), peaks, SPEC)[0]
    assert np.isfinite(windows).all()
    low = Recording(signal=single[:, ::4], fs=90.0, leads=("MLII",))
    with pytest.raises(RecordError, match="100 Hz"):
        extract_beats(low, peaks // 4, SPEC)
    with pytest.raises(RecordError):
        extract_beats(one, np.array([5, 1, 9]), SPEC)
    empty = extract_beats(one, np.array([], dtype=int), SPEC)
    assert empty[0].shape == (0, 1, SPEC.n_samples) and empty[1].shape == (0, len(RR_FEATURE_NAMES))


def test_spec_validation() -> None:
    assert BeatWindowSpec(fs=360.0).n_samples == 252
    assert BeatWindowSpec.from_dict(SPEC.to_dict()) == SPEC
    with pytest.raises(RecordError):
        BeatWindowSpec(fs=60.0)
    with pytest.raises(RecordError):
        BeatWindowSpec(low_hz=45.0)


# ------------------------------------------------------------------------------- AAMI and splits
def test_aami_mapping() -> None:
    assert AAMI_CLASSES == ("N", "S", "V", "F", "Q")
    expected = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}
    assert {s: c for c, symbols in expected.items() for s in symbols} == AAMI_MAP
    assert set(AAMI_MAP) <= BEAT_SYMBOLS
    assert not {"+", "~", "!", "x", "|", '"'} & BEAT_SYMBOLS  # non-beat annotations


def test_split_lists() -> None:
    assert len(DS1) == len(DS2) == 22 and not set(DS1) & set(DS2)
    assert set(DS1) | set(DS2) == set(ALL_RECORDS) and len(ALL_RECORDS) == 44
    assert not set(PACED) & set(ALL_RECORDS) and set(PACED) == {"102", "104", "107", "217"}
    assert list(split_records("ds1")) == sorted(DS1) and list(split_records("ds2")) == sorted(DS2)
    train, val = split_records("train"), split_records("val")
    assert isinstance(val, RecordSplit) and not val.leaky and not train.leaky
    assert set(val) < set(DS1) and not set(val) & set(train) and set(val) | set(train) == set(DS1)
    assert tuple(val) == ("114", "116", "118", "223")  # documented in val_records
    counts = np.sum([DS1_CLASS_COUNTS[r] for r in val], axis=0)
    assert counts[1] >= 100 and counts[2] >= 100  # validation holds S and V beats
    assert val_records(seed=3) == val_records(seed=3) != val_records(seed=0)
    assert len(val_records(val_fraction=0.1)) == 2
    with pytest.warns(LeakySplitWarning):
        intra = split_records("intra")
    assert intra.leaky and tuple(intra) == ALL_RECORDS
    with pytest.raises(RecordError):
        split_records("test")
    with pytest.raises(RecordError):
        val_records(val_fraction=0.9)


# ------------------------------------------------------------------------------------- beat sets
def test_load_beat_set_counts_rr_and_cache(mitdb_dir: Path, tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    plan = {"900": record_plan(0), "901": record_plan(1)}
    beats = load_beat_set(["900", 901], data_root=mitdb_dir.parent, cache_dir=cache, progress=False)
    assert isinstance(beats, BeatSet) and not beats.leaky
    assert beats.windows.shape == (len(beats), 1, SPEC.n_samples) and beats.rr.shape == (
        len(beats),
        len(RR_FEATURE_NAMES),
    )
    for name, p in plan.items():
        sub = beats.subset(beats.records == name)
        kinds = [k for k in p["kinds"] if k != "?"]
        want = collections.Counter(AAMI_MAP[{"N": "N", "S": "A", "V": "V"}[k]] for k in kinds)
        assert sub.class_counts() == {c: want.get(c, 0) for c in AAMI_CLASSES}
        np.testing.assert_array_equal(sub.samples, p["samples"][np.array(list(p["kinds"])) != "?"])
        # the beat after '?' measures its pre-RR from the '?' beat (RR uses every beat annotation)
        after_q = p["kinds"].index("?")  # index among labelled beats of the beat following '?'
        np.testing.assert_allclose(sub.rr[after_q, 0], np.diff(p["times"])[after_q], atol=1e-5)
    assert len(list(cache.glob("*.npz"))) == 2

    # second load: served from the cache, the WFDB reader is never called
    def no_read(*args, **kwargs):
        raise AssertionError("read_wfdb called on a cache hit")

    monkeypatch.setattr(mitdb, "read_wfdb", no_read)
    again = load_beat_set(["900", "901"], data_root=mitdb_dir, cache_dir=cache, progress=False)
    for name in ("windows", "rr", "labels", "records", "samples"):
        np.testing.assert_array_equal(getattr(again, name), getattr(beats, name))
    # a different spec, or a changed record file, misses the cache
    with pytest.raises(AssertionError, match="cache hit"):
        spec = BeatWindowSpec(after_s=0.5)
        load_beat_set(["900"], data_root=mitdb_dir, cache_dir=cache, spec=spec, progress=False)
    st = (mitdb_dir / "900.atr").stat()
    os.utime(mitdb_dir / "900.atr", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="cache hit"):
        load_beat_set(["900"], data_root=mitdb_dir, cache_dir=cache, progress=False)


def test_load_beat_set_missing_data(tmp_path: Path, mitdb_dir: Path) -> None:
    with pytest.raises(DataNotFoundError, match="ecglab data download mitdb"):
        load_beat_set(["100"], data_root=tmp_path / "nowhere", cache_dir=tmp_path / "c", progress=False)
    with pytest.raises(DataNotFoundError, match="record 100"):
        load_beat_set(["100"], data_root=mitdb_dir, cache_dir=tmp_path / "c", progress=False)
    with pytest.raises(LeadError):
        load_beat_set(["900"], data_root=mitdb_dir, leads=("V2",), cache_dir=tmp_path / "c", progress=False)


def test_intra_split_is_flagged(mitdb_dir: Path, tmp_path: Path) -> None:
    beats = load_beat_set(["900", "901"], data_root=mitdb_dir, cache_dir=tmp_path / "c", progress=False)
    with pytest.warns(LeakySplitWarning):
        train, test = intra_split(beats, test_fraction=0.25, seed=1)
    assert train.leaky and test.leaky and "LEAKY" in repr(test)
    assert len(train) + len(test) == len(beats) and len(test) == round(0.25 * len(beats))
    keys = {(r, s) for r, s in zip(train.records, train.samples, strict=True)}
    assert not keys & {(r, s) for r, s in zip(test.records, test.samples, strict=True)}


def test_beat_dataset_and_class_weights(mitdb_dir: Path, tmp_path: Path) -> None:
    beats = load_beat_set(["900"], data_root=mitdb_dir, cache_dir=tmp_path / "c", progress=False)
    plain = BeatDataset(beats)
    window, rr, label = plain[3]
    assert window.shape == (1, SPEC.n_samples) and window.dtype == torch.float32
    assert rr.shape == (len(RR_FEATURE_NAMES),) and isinstance(label, int) and label == beats.labels[3]
    torch.testing.assert_close(window, torch.from_numpy(beats.windows[3]))
    torch.manual_seed(0)
    augmented = BeatDataset(beats, augment=True)
    w_aug = augmented[3][0]
    assert w_aug.shape == window.shape and not torch.equal(w_aug, window)
    assert (w_aug - window).abs().mean() < 0.2  # light: the beat is still the same beat
    batch = next(iter(torch.utils.data.DataLoader(augmented, batch_size=8)))
    assert batch[0].shape == (8, 1, SPEC.n_samples) and batch[2].dtype == torch.int64

    labels = np.array([0] * 100 + [1] * 4 + [2] * 25)
    w = class_weights(labels)
    assert w.dtype == torch.float32 and w.shape == (5,) and w[3] == 0 and w[4] == 0
    np.testing.assert_allclose(w[1] / w[0], np.sqrt(100 / 4), rtol=1e-5)
    np.testing.assert_allclose((w.numpy()[labels]).mean(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(class_weights(labels, "inverse")[2] / class_weights(labels, "inverse")[0], 4.0)
    assert torch.equal(class_weights(labels, None), torch.ones(5))
    assert torch.equal(class_weights(labels, "none"), torch.ones(5))


# ------------------------------------------------------------------------------------------ model
def test_beat_cnn_shapes_params_and_registry() -> None:
    model = BeatCNN().eval()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < 200_000
    windows, rr = torch.randn(16, 1, SPEC.n_samples), torch.rand(16, len(RR_FEATURE_NAMES)) + 0.5
    with torch.inference_mode():
        assert model(windows, rr).shape == (16, 5)
    two_leads = BeatCNN(in_leads=2, use_rr=False, width=16).eval()
    with torch.inference_mode():
        assert two_leads(torch.randn(4, 2, SPEC.n_samples)).shape == (4, 5)
    with pytest.raises(ValueError, match="RR"):
        model(windows)
    # one training step moves the weights (gradients reach both branches)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(windows, rr), torch.randint(0, 5, (16,)))
    loss.backward()
    assert model.features[0][0].weight.grad.abs().sum() > 0 and model.rr_mlp[1].weight.grad.abs().sum() > 0

    from ecglab.models.registry import create_model

    built = create_model("beat_cnn", in_leads=1, window=126, width=16)
    assert isinstance(built, BeatCNN)


# ------------------------------------------------------------------------------------ integration
@pytest.mark.integration
def test_real_mitdb_beat_counts(shared_data: Path, tmp_path: Path) -> None:
    import wfdb

    records = ["100", "114", "208"]  # 114: V5 first, MLII second
    beats = load_beat_set(records, data_root=shared_data, cache_dir=tmp_path, progress=False)
    by_record = beats.counts_by_record()
    for rec in records:
        ann = wfdb.rdann(str(shared_data / "mitdb" / rec), "atr")
        want = collections.Counter(AAMI_MAP[s] for s in ann.symbol if s in AAMI_MAP)
        assert by_record[rec] == {c: want.get(c, 0) for c in AAMI_CLASSES}, rec
    assert by_record["208"]["V"] == 992 and by_record["208"]["F"] == 373
    assert np.isfinite(beats.windows).all() and np.isfinite(beats.rr).all()
    # V beats of 208 come early: their pre-RR / local RR is below that of N beats
    sub = beats.subset(beats.records == "208")
    ratio = sub.rr[:, COL["pre_local_ratio"]]
    assert np.median(ratio[sub.labels == 2]) < np.median(ratio[sub.labels == 0]) - 0.1
    # the per-record class table used to choose validation records matches the files
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rec in DS1:
            symbols = wfdb.rdann(str(shared_data / "mitdb" / rec), "atr").symbol
            c = collections.Counter(AAMI_MAP[s] for s in symbols if s in AAMI_MAP)
            assert tuple(c.get(k, 0) for k in AAMI_CLASSES) == DS1_CLASS_COUNTS[rec], rec
