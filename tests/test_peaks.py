"""R-peak detection and EC57 beat matching: simulated signals, hand-computed cases, real records."""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import cache

import numpy as np
import pytest

from ecglab.errors import LeadError, RecordError
from ecglab.io.recording import Annotations, Recording
from ecglab.metrics import (
    BEAT_SYMBOLS,
    aggregate_scores,
    detection_scores,
    excluded_intervals,
    match_beats,
    reference_beats,
)
from ecglab.signal.peaks import detect_rpeaks, detect_rpeaks_array

EDGE_S = 0.2  # beats cut by the record's ends are not compared


@cache
def simulated(fs: int) -> np.ndarray:
    """20 s of NeuroKit2's ECGSYN at 70 bpm (deterministic), in mV."""
    import neurokit2 as nk

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return nk.ecg_simulate(duration=20, sampling_rate=fs, heart_rate=70, random_state=0)


def true_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """R peaks of a clean simulated lead: its tall local maxima (upright R waves)."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(x, height=0.5 * np.max(x), distance=int(0.3 * fs))
    return peaks


def interior(beats: np.ndarray, n: int, fs: float) -> np.ndarray:
    margin = EDGE_S * fs
    return beats[(beats > margin) & (beats < n - margin)]


def assert_same_beats(found: np.ndarray, truth: np.ndarray, fs: float, n: int, max_offset_s: float) -> None:
    """Every true beat found once, nothing else, each within ``max_offset_s`` of the true R peak.

    Beats within ``EDGE_S`` of either end of the ``n``-sample record are left out of the comparison.
    """
    found, truth = interior(found, n, fs), interior(truth, n, fs)
    r, t = match_beats(truth, found, fs, tolerance_s=0.15)
    assert r.size == truth.size == found.size, f"{truth.size} true, {found.size} found, {r.size} matched"
    assert np.abs(truth[r] - found[t]).max() <= max_offset_s * fs


# ------------------------------------------------------------------------------------ detector
@pytest.mark.parametrize("fs", [250, 360, 500])
def test_simulated_beats_found_on_the_r_peak(fs):
    x = simulated(fs)
    beats = detect_rpeaks_array(x, fs)
    assert beats.dtype == np.int64 and beats.ndim == 1
    assert np.all(np.diff(beats) > 0) and beats.min() >= 0 and beats.max() < x.size
    assert 22 <= beats.size <= 25  # 70 bpm for 20 s, plus beats cut at the ends
    assert_same_beats(beats, true_peaks(x, fs), fs, x.size, max_offset_s=0.004)  # on the R extremum


@pytest.mark.parametrize("fs", [100, 1000])
def test_rate_range_ends(fs):
    x = simulated(fs)
    assert_same_beats(detect_rpeaks_array(x, fs), true_peaks(x, fs), fs, x.size, max_offset_s=0.01)


def test_inverted_polarity_locates_the_negative_r_wave():
    fs = 360
    x = simulated(fs)
    upright = detect_rpeaks_array(x, fs)
    inverted = detect_rpeaks_array(-x, fs)
    np.testing.assert_array_equal(inverted, upright)


def test_noise_baseline_wander_and_mains_hum():
    fs = 360
    x = simulated(fs)
    t = np.arange(x.size) / fs
    rng = np.random.default_rng(1)
    wander = 0.5 * np.sin(2 * np.pi * 0.3 * t)
    hum = 0.1 * np.sin(2 * np.pi * 50 * t)
    noisy = x + rng.normal(0, 0.15, x.size) + wander + hum
    assert_same_beats(detect_rpeaks_array(noisy, fs), true_peaks(x, fs), fs, x.size, max_offset_s=0.015)


@pytest.mark.parametrize("noise_first", [False, True])
def test_noise_only_lead_is_outweighed(noise_first):
    fs = 250
    x = simulated(fs)
    noise = np.random.default_rng(2).normal(0, 1.0, x.size)  # 1 mV white noise, no ECG at all
    signal = np.stack([noise, x] if noise_first else [x, noise])
    assert_same_beats(detect_rpeaks_array(signal, fs), true_peaks(x, fs), fs, x.size, max_offset_s=0.004)


def test_twelve_leads():
    from ecglab.signal.simulate import simulate_12lead

    rec = simulate_12lead(duration=20, fs=500, seed=0)
    beats = detect_rpeaks(rec)
    lead_i = rec.signal[rec.leads.index("I")]
    assert_same_beats(beats, true_peaks(lead_i, rec.fs), rec.fs, rec.n_samples, max_offset_s=0.03)
    rr = np.diff(beats) / rec.fs
    assert np.all((rr > 0.7) & (rr < 1.0))


def test_recording_api_and_lead_selection():
    fs = 360
    x = simulated(fs)
    rec = Recording(signal=np.stack([x, 0.5 * x]), fs=fs, leads=("MLII", "V1"), record_id="sim")
    np.testing.assert_array_equal(detect_rpeaks(rec, leads=["MLII"]), detect_rpeaks_array(x, fs))
    assert_same_beats(detect_rpeaks(rec), true_peaks(x, fs), fs, x.size, max_offset_s=0.004)
    with pytest.raises(LeadError):
        detect_rpeaks(rec, leads=["V5"])


def test_flat_and_missing_signals_give_no_beats():
    empty = detect_rpeaks_array(np.zeros((2, 3600)), 360)
    assert empty.dtype == np.int64 and empty.size == 0
    assert detect_rpeaks_array(np.full((3, 3600), np.nan), 360).size == 0
    assert detect_rpeaks_array(np.full(3600, 1.25), 360).size == 0  # constant, not zero
    rec = Recording(signal=np.zeros((1, 3600)), fs=360, leads=("II",))
    assert detect_rpeaks(rec).size == 0


def test_flat_or_missing_lead_is_skipped():
    fs = 360
    x = simulated(fs)
    alone = detect_rpeaks_array(x, fs)
    np.testing.assert_array_equal(detect_rpeaks_array(np.stack([np.zeros_like(x), x]), fs), alone)
    np.testing.assert_array_equal(detect_rpeaks_array(np.stack([np.full_like(x, np.nan), x]), fs), alone)


def test_gap_in_one_lead_is_bridged_by_the_other():
    fs = 360
    x = simulated(fs)
    gapped = x.copy()
    gapped[3000:5000] = np.nan
    truth = true_peaks(x, fs)
    both = detect_rpeaks_array(np.stack([gapped, 0.5 * x]), fs)
    assert_same_beats(both, truth, fs, x.size, max_offset_s=0.004)
    # With one lead only, the gap holds no beat and the rest is still found.
    single = detect_rpeaks_array(gapped, fs)
    assert not np.any((single > 3000) & (single < 5000))
    outside = truth[(truth < 3000 - 0.2 * fs) | (truth > 5000 + 0.2 * fs)]
    r, _ = match_beats(outside, single, fs)
    assert r.size == outside.size


def test_short_records_return_what_they_hold():
    fs = 360
    x = simulated(fs)
    assert detect_rpeaks_array(x[:5], fs).size == 0
    assert detect_rpeaks_array(x[:1], fs).size == 0
    first = true_peaks(x, fs)[0]
    piece = detect_rpeaks_array(x[first - 100 : first + 200], fs)  # 0.83 s around one beat
    assert piece.tolist() == [100]


@pytest.mark.parametrize("fs", [99.9, 50, 0, -360, float("nan"), "fast"])
def test_bad_sampling_rate_raises(fs):
    with pytest.raises(RecordError, match="sampling rate"):
        detect_rpeaks_array(np.zeros((1, 1000)), fs)


def test_bad_shape_raises():
    with pytest.raises(RecordError, match="leads, samples"):
        detect_rpeaks_array(np.zeros((2, 3, 100)), 360)


# -------------------------------------------------------------------------------------- metrics
def test_beat_symbols():
    for s in "NLRBAaJSVrFejnE/fQ?":
        assert s in BEAT_SYMBOLS
    for s in ["+", "~", "|", "x", "[", "]", "!", '"', "p", "t", "u", "^", "`", "'", "s", "T", "D", "="]:
        assert s not in BEAT_SYMBOLS


def test_reference_beats_drop_non_beats_and_flutter_episodes():
    ann = Annotations(
        sample=np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]),
        symbol=("+", "N", "~", "V", "[", "!", "N", "]", "/", "Q"),
    )
    np.testing.assert_array_equal(reference_beats(ann), [20, 40, 90, 100])
    np.testing.assert_array_equal(reference_beats(ann, exclude_flutter=False), [20, 40, 70, 90, 100])
    np.testing.assert_array_equal(excluded_intervals(ann), [[50, 80]])


def test_excluded_intervals_open_ends():
    closes_only = Annotations(sample=np.array([5, 30]), symbol=("N", "]"))
    np.testing.assert_array_equal(excluded_intervals(closes_only), [[0, 30]])
    opens_only = Annotations(sample=np.array([5, 30]), symbol=("N", "["))
    np.testing.assert_array_equal(excluded_intervals(opens_only, n_samples=100), [[30, 99]])
    assert excluded_intervals(Annotations(sample=np.array([1]), symbol=("N",))).shape == (0, 2)


def test_match_within_tolerance_inclusive():
    # fs 100 Hz: 150 ms is 15 samples.
    r, t = match_beats(np.array([100, 200, 300]), np.array([105, 260, 400]), fs=100)
    assert r.tolist() == [0] and t.tolist() == [0]
    assert match_beats(np.array([100]), np.array([115]), fs=100)[0].size == 1
    assert match_beats(np.array([100]), np.array([85]), fs=100)[0].size == 1
    assert match_beats(np.array([100]), np.array([116]), fs=100)[0].size == 0
    # 0.15 * 360 = 54 samples exactly, despite float rounding.
    assert match_beats(np.array([1000]), np.array([1054]), fs=360)[0].size == 1
    assert match_beats(np.array([1000]), np.array([1055]), fs=360)[0].size == 0
    assert match_beats(np.array([1000]), np.array([1010]), fs=360, tolerance_s=0.02)[0].size == 0


def test_match_is_one_to_one_closest_first():
    # Two detections near one beat: the closer one matches, the other is a false positive.
    r, t = match_beats(np.array([100]), np.array([95, 103]), fs=100)
    assert r.tolist() == [0] and t.tolist() == [1]
    # One detection between two beats at equal distance: the earlier beat takes it.
    r, t = match_beats(np.array([100, 110]), np.array([105]), fs=100)
    assert r.tolist() == [0] and t.tolist() == [0]
    # Greedy by distance: 125-120 (5) first, then 112 can still go to 100 (12).
    r, t = match_beats(np.array([100, 120]), np.array([112, 125]), fs=100)
    assert r.tolist() == [0, 1] and t.tolist() == [0, 1]
    # Indices refer to the inputs as given, even unsorted.
    r, t = match_beats(np.array([300, 100]), np.array([98, 301, 700]), fs=100)
    assert r.tolist() == [1, 0] and t.tolist() == [0, 1]


def test_match_empty_and_bad_input():
    assert [a.size for a in match_beats(np.array([]), np.array([5]), fs=100)] == [0, 0]
    assert [a.size for a in match_beats(np.array([5]), np.array([], dtype=np.int64), fs=100)] == [0, 0]
    with pytest.raises(RecordError):
        match_beats(np.array([1]), np.array([1]), fs=0)
    with pytest.raises(RecordError):
        match_beats(np.array([[1]]), np.array([1]), fs=100)
    with pytest.raises(RecordError):
        match_beats(np.array([1.0, np.nan]), np.array([1]), fs=100)


def test_detection_scores_by_hand():
    ref = np.arange(10) * 100 + 50  # 10 beats, 1 s apart at 100 Hz
    test = np.concatenate([ref[:9] + 3, [1010, 400 - 40]])  # last beat missed, two extras
    s = detection_scores(ref, test, fs=100)
    assert (s["TP"], s["FN"], s["FP"]) == (9, 1, 2)
    assert s["Se"] == pytest.approx(0.9)
    assert s["PPV"] == pytest.approx(9 / 11)
    assert s["F1"] == pytest.approx(18 / 21)
    # Excluded ranges drop both reference beats and detections.
    s = detection_scores(ref, test, fs=100, exclude=np.array([[355, 365], [940, 1100]]))
    assert (s["TP"], s["FN"], s["FP"]) == (9, 0, 0)


def test_detection_scores_without_beats():
    s = detection_scores(np.array([]), np.array([]), fs=250)
    assert (s["TP"], s["FN"], s["FP"]) == (0, 0, 0) and np.isnan(s["Se"]) and np.isnan(s["PPV"])
    s = detection_scores(np.array([10, 20]), np.array([]), fs=250)
    assert s["Se"] == 0.0 and np.isnan(s["PPV"])


def test_aggregate_is_gross_not_mean():
    a = {"TP": 99, "FN": 1, "FP": 0}
    b = {"TP": 1, "FN": 1, "FP": 2}
    g = aggregate_scores([a, b])
    assert (g["TP"], g["FN"], g["FP"], g["records"]) == (100, 2, 2, 2)
    assert g["Se"] == pytest.approx(100 / 102) and g["PPV"] == pytest.approx(100 / 102)


# ----------------------------------------------------------------------------------- real data
@pytest.mark.integration
@pytest.mark.parametrize("record", ["100", "119", "207"])
def test_mitdb_records(shared_data, record):
    from ecglab.io.wfdb_io import read_wfdb

    rec = read_wfdb(shared_data / "mitdb" / record)
    beats = detect_rpeaks(rec)
    s = detection_scores(
        reference_beats(rec.annotations),
        beats,
        rec.fs,
        exclude=excluded_intervals(rec.annotations, rec.n_samples),
    )
    assert s["Se"] >= 0.995 and s["PPV"] >= 0.995, s
