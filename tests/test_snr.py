"""Digitization metrics: Kaggle 2025 SNR (aligned, powers summed over leads) and PhysioNet 2024 SNR."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecglab.errors import RecordError
from ecglab.metrics.snr import (
    KAGGLE_PERFECT_RATIO,
    align_lead,
    kaggle_score,
    kaggle_snr,
    kaggle_snr_details,
    pearson_r,
    physionet_record_snr,
    physionet_snr,
    rmse,
)

FS = 500.0
PERFECT_DB = 10 * math.log10(384)


def ecg_like(n_leads: int = 3, seconds: float = 4.0, fs: float = FS) -> np.ndarray:
    """Spiky periodic signals (not sinusoids, so the best lag is unique within ±0.2 s)."""
    t = np.arange(int(seconds * fs)) / fs
    rows = []
    for k in range(n_leads):
        phase = (t * (1.1 + 0.1 * k)) % 1.0
        rows.append(
            (1 + 0.2 * k) * np.exp(-(((phase - 0.3) / 0.02) ** 2)) + 0.2 * np.sin(2 * np.pi * 0.7 * t)
        )
    return np.array(rows)


# ------------------------------------------------------------------------------------------------
# Kaggle
# ------------------------------------------------------------------------------------------------


def test_identical_signals_score_the_documented_cap() -> None:
    truth = ecg_like()
    assert kaggle_snr(truth, truth, FS) == pytest.approx(PERFECT_DB)
    record = kaggle_snr_details(truth, truth, FS)
    assert record.ratio == KAGGLE_PERFECT_RATIO and record.noise_power == 0.0
    assert all(lead.shift == 0 and lead.offset == 0.0 for lead in record.leads)
    assert round(PERFECT_DB, 4) == 25.8433


def test_known_noise_gives_known_snr() -> None:
    # Truth of power 1 per sample (a ±1 square wave), an error of ±0.1 that has zero mean and no
    # correlation with the truth: the best lag stays 0, the offset 0, so SNR = 10*log10(1/0.01) = 20 dB.
    n = 2000
    truth = np.where((np.arange(n) // 50) % 2 == 0, 1.0, -1.0)
    error = 0.1 * np.where((np.arange(n) // 7) % 2 == 0, 1.0, -1.0)
    error -= error.mean()
    pred = truth + error
    record = kaggle_snr_details(truth, pred, FS)
    assert record.leads[0].shift == 0
    expected = 10 * math.log10(np.sum(truth**2) / np.sum(error**2))
    assert record.snr_db == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(20.0, abs=0.01)


def test_shift_within_window_is_found_and_beyond_it_is_not() -> None:
    truth = ecg_like(1, seconds=6.0)[0]
    for delay in (-90, -13, 0, 37, 100):  # samples; 100 = 0.2 s exactly, the window's edge
        pred = np.roll(truth, -delay)  # pred[i] = truth[i + delay]: pred is early by `delay`
        aligned, shift, _ = align_lead(truth, pred, int(0.2 * FS))
        assert shift == delay
        sl = slice(max(delay, 0), len(truth) + min(delay, 0))
        np.testing.assert_allclose(aligned[sl], truth[sl], atol=1e-9)
        assert (
            np.isnan(aligned[: max(delay, 0)]).all() and np.isnan(aligned[len(truth) + min(delay, 0) :]).all()
        )
    # A shift of 0.3 s is outside the window: the lag found stays within ±100 samples.
    _, shift, _ = align_lead(truth, np.roll(truth, -150), 100)
    assert abs(shift) <= 100
    assert kaggle_snr(truth, np.roll(truth, -150), FS) < 10


def test_shifted_in_samples_count_as_zero_prediction() -> None:
    truth = ecg_like(1)[0]
    delay = 40
    pred = np.concatenate([truth[delay:], np.zeros(delay)])
    record = kaggle_snr_details(truth, pred, FS)
    lead = record.leads[0]
    assert lead.shift == delay
    # aligned[i] = pred[i - delay] = truth[i] for i >= delay; the first `delay` samples have no
    # prediction after the shift and count as 0 mV, so the noise is exactly their truth power.
    assert lead.offset == pytest.approx(0.0, abs=1e-12)
    assert lead.noise_power == pytest.approx(np.sum(truth[:delay] ** 2), rel=1e-9)
    assert lead.noise_power > 0


def test_vertical_offset_is_removed() -> None:
    truth = ecg_like(2)
    record = kaggle_snr_details(truth, truth + np.array([[0.7], [-1.3]]), FS)
    assert record.snr_db == pytest.approx(PERFECT_DB)
    assert [lead.offset for lead in record.leads] == pytest.approx([0.7, -1.3])
    # The same offset without removal (PhysioNet variant) is a large error.
    assert physionet_snr(truth, truth + 0.7)[0] < 10


def test_powers_are_summed_over_leads_not_averaged() -> None:
    big = 2.0 * np.where((np.arange(1000) // 25) % 2 == 0, 1.0, -1.0)
    small = 0.5 * np.where((np.arange(1000) // 40) % 2 == 0, 1.0, -1.0)
    noise = 0.1 * np.where((np.arange(1000) // 3) % 2 == 0, 1.0, -1.0)
    noise -= noise.mean()  # zero mean: the offset removal leaves it whole
    truth = np.stack([big, small])
    pred = truth + noise  # same noise power on both leads
    record = kaggle_snr_details(truth, pred, FS, lead_names=["I", "II"])
    summed = 10 * math.log10((np.sum(big**2) + np.sum(small**2)) / (2 * np.sum(noise**2)))
    averaged = np.mean([lead.snr_db for lead in record.leads])
    assert record.snr_db == pytest.approx(summed, abs=1e-9)
    assert abs(summed - averaged) > 1.0  # the two aggregations really differ here
    assert [lead.name for lead in record.leads] == ["I", "II"]


def test_kaggle_score_averages_linear_ratios() -> None:
    truth = ecg_like(1)[0]
    noise = 0.05 * np.sin(2 * np.pi * 37 * np.arange(truth.size) / FS)
    a = kaggle_snr_details(truth, truth, FS)  # ratio 384
    b = kaggle_snr_details(truth, truth + noise, FS)
    expected = 10 * math.log10((a.ratio + b.ratio) / 2)
    assert kaggle_score([a, b]) == pytest.approx(expected)
    assert kaggle_score([a, b]) != pytest.approx((a.snr_db + b.snr_db) / 2)
    # All-zero truth: signal 0 gives ratio 0 ... unless the noise is 0 too (a constant prediction,
    # whose offset is removed): the notebook checks noise == 0 first and gives 384.
    assert kaggle_snr_details(np.zeros(100), np.ones(100), FS).ratio == KAGGLE_PERFECT_RATIO
    zero = kaggle_snr_details(np.zeros(100), np.sin(np.arange(100.0)), FS)
    assert zero.ratio == 0.0 and zero.snr_db == -math.inf
    assert kaggle_score([zero]) == -384.0
    with pytest.raises(RecordError, match="no records"):
        kaggle_score([])


def test_matches_the_competition_notebook_examples() -> None:
    """The doctest values of the official metric: fs = 1 Hz, 11 leads of 3 samples and a 12-sample II."""
    short = [
        [0.1, 0.3, 0.4],
        [0.6, 0.6, 0.4],
        [0.2, 0.3, 0.4],
        [0.5, 0.2, 0.7],
        [0.2, 0.3, 0.4],
        [0.8, 0.6, 0.7],
        [0.2, 0.3, -0.1],
        [0.5, 0.6, 0.7],
        [0.2, 0.9, 0.4],
        [0.5, 0.6, 0.7],
        [0.1, 0.3, 0.4],
    ]  # I, III, aVR, aVL, aVF, V1..V6
    lead_ii = [0.6, 0.6, 0.4, 0.2, 0.3, 0.4, 0.5, 0.2, 0.7, 0.2, 0.3, 0.4]
    truth = np.full((12, 12), np.nan)
    for k, values in enumerate(short):
        truth[k, :3] = values
    truth[11] = lead_ii
    pred = np.nan_to_num(truth)
    assert round(kaggle_score([kaggle_snr_details(truth, pred, 1.0)]), 4) == 25.8433
    pred[0, 0] = 0.9
    assert round(kaggle_score([kaggle_snr_details(truth, pred, 1.0)]), 4) == 13.6291
    pred[1, 1] = 0.3
    assert round(kaggle_score([kaggle_snr_details(truth, pred, 1.0)]), 4) == 13.0576


def test_align_lead_matches_the_notebook_alignment_examples() -> None:
    aligned, _, _ = align_lead(np.array([0, 1, 2, 1, 0.0]), np.array([10, 11, 12, 11, 10.0]), 10**6)
    np.testing.assert_allclose(aligned, [0, 1, 2, 1, 0])
    aligned, shift, _ = align_lead(
        np.array([0, 0, 1, 2, 1, 0, 0.0]), np.array([1, 2, 1, 0, 0, 0, 0.0]), 10**6
    )
    np.testing.assert_allclose(aligned, [np.nan, np.nan, 1, 2, 1, 0, 0])
    assert shift == 2
    aligned, _, _ = align_lead(np.array([0, 0, 0, 0, 1, 2, 1.0]), np.array([1, 2, 1, 0, 0, 0, 0.0]), 10)
    np.testing.assert_allclose(aligned, [np.nan] * 4 + [1, 2, 1])


def test_nan_truth_is_excluded_and_nan_prediction_is_zero() -> None:
    truth = ecg_like(2)
    truth[0, :500] = np.nan  # not plotted: panel starts at 1 s
    truth[1, 1200:] = np.nan  # panel ends at 2.4 s
    pred = truth.copy()
    pred[np.isnan(pred)] = 5.0  # garbage where nothing is scored must not matter
    record = kaggle_snr_details(truth, pred, FS)
    assert record.ratio == KAGGLE_PERFECT_RATIO
    assert [lead.n_samples for lead in record.leads] == [1500, 1200]
    # A prediction with a NaN hole: those samples count as 0 mV.
    holed = truth.copy()
    holed[0, 800:900] = np.nan
    lead = kaggle_snr_details(truth[:1], holed[:1], FS).leads[0]
    assert lead.shift == 0
    zeroed = np.nan_to_num(holed[0, 500:])
    offset = np.mean(zeroed - truth[0, 500:])
    assert lead.offset == pytest.approx(offset)
    assert lead.noise_power == pytest.approx(np.sum((truth[0, 500:] - (zeroed - offset)) ** 2))
    # A lead with no finite truth is left out; no finite truth at all is an error.
    truth[1] = np.nan
    assert len(kaggle_snr_details(truth, pred, FS).leads) == 1
    with pytest.raises(RecordError, match="no finite"):
        kaggle_snr(np.full(10, np.nan), np.zeros(10), FS)


def test_bad_inputs_raise_record_error() -> None:
    with pytest.raises(RecordError, match=r"truth \(2, 10\) and prediction \(2, 9\)"):
        kaggle_snr(np.zeros((2, 10)), np.zeros((2, 9)), FS)
    with pytest.raises(RecordError, match="infinite"):
        physionet_snr(np.zeros(10), np.full(10, np.inf))
    with pytest.raises(RecordError, match="fs must be > 0"):
        kaggle_snr(np.ones(10), np.ones(10), 0.0)
    with pytest.raises(RecordError, match="lead names"):
        kaggle_snr_details(np.ones((2, 10)), np.ones((2, 10)), FS, lead_names=["I"])


# ------------------------------------------------------------------------------------------------
# PhysioNet 2024
# ------------------------------------------------------------------------------------------------


def test_physionet_snr_without_alignment() -> None:
    truth = np.array([[1.0, -1.0, 1.0, -1.0], [2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    pred = np.array([[1.1, -0.9, 0.9, -1.1], [2.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    snr = physionet_snr(truth, pred, FS)
    # Lead 0: signal 4, noise 4 * 0.01 -> 20 dB; lead 1 perfect -> inf; lead 2 no signal -> NaN.
    assert snr[0] == pytest.approx(20.0)
    assert snr[1] == math.inf
    assert math.isnan(snr[2])
    # Record mean skips NaN leads; a perfect lead makes it infinite, as in the Challenge's nanmean.
    assert physionet_record_snr(truth, pred) == math.inf
    assert physionet_record_snr(truth[:1], pred[:1]) == pytest.approx(20.0)
    # A shift is not corrected: a delayed copy scores far below the aligned Kaggle metric.
    sig = ecg_like(1)[0]
    delayed = np.roll(sig, 10)
    assert physionet_snr(sig, delayed)[0] < 5 < kaggle_snr(sig, delayed, FS)


def test_physionet_nan_handling() -> None:
    truth = np.array([1.0, np.nan, -1.0, 2.0])
    pred = np.array([1.0, 7.0, np.nan, 2.0])
    # NaN truth sample dropped (the 7 is ignored); NaN prediction is 0 -> noise 1, signal 6.
    assert physionet_snr(truth, pred)[0] == pytest.approx(10 * math.log10(6.0))
    # A missing lead (all NaN) scores 0 dB: the prediction is all zeros.
    assert physionet_snr(truth, np.full(4, np.nan))[0] == pytest.approx(0.0)
    assert math.isnan(physionet_record_snr(np.zeros((2, 3)), np.zeros((2, 3))))


# ------------------------------------------------------------------------------------------------
# Pearson r and RMSE
# ------------------------------------------------------------------------------------------------


def test_pearson_and_rmse_per_lead_nan_aware() -> None:
    truth = np.array([[1.0, 2.0, 3.0, np.nan], [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]])
    pred = np.array([[2.0, 4.0, 6.0, 100.0], [4.0, 3.0, np.nan, 1.0], [1.0, 2.0, 3.0, 4.0]])
    r = pearson_r(truth, pred)
    assert r[0] == pytest.approx(1.0)
    # Lead 1 over samples 0, 1, 3: truth (1, 2, 4), pred (4, 3, 1) -> hand-computed r.
    t, p = np.array([1.0, 2.0, 4.0]), np.array([4.0, 3.0, 1.0])
    expected = np.sum((t - t.mean()) * (p - p.mean())) / np.sqrt(
        np.sum((t - t.mean()) ** 2) * np.sum((p - p.mean()) ** 2)
    )
    assert r[1] == pytest.approx(expected)
    assert math.isnan(r[2])  # constant truth
    e = rmse(truth, pred)
    assert e[0] == pytest.approx(math.sqrt((1 + 4 + 9) / 3))
    assert e[1] == pytest.approx(math.sqrt((9 + 1 + 9) / 3))
    assert e[2] == pytest.approx(math.sqrt((0 + 1 + 4 + 9) / 4))
    assert math.isnan(rmse(np.array([np.nan, 1.0]), np.array([1.0, np.nan]))[0])
    assert math.isnan(pearson_r(np.array([1.0, 2.0]), np.array([np.nan, 3.0]))[0])
