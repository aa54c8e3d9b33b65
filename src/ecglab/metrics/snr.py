"""Signal-to-noise metrics of ECG digitization: the Kaggle 2025 and the PhysioNet Challenge 2024 SNR.

Both compare a reference signal ``truth`` with a digitized ``pred``, each ``[leads, samples]`` in mV
at the same rate (a 1-D array is one lead). They differ in alignment and aggregation:

Kaggle "PhysioNet - Digitization of ECG Images" (2025), :func:`kaggle_snr`
    Source: the competition's metric notebook
    https://www.kaggle.com/code/metric/physionet-ecg-signal-extraction-metric (functions
    ``align_signals``, ``compute_power``, ``compute_snr``, ``score``; read in a public copy of it).
    Per lead: both signals are centred on their means, the lag that maximises their
    cross-correlation within ``±int(0.2 * fs)`` samples is found (ties: the smallest ``|lag|``), the
    prediction is shifted by it (samples shifted in from outside are missing), then the vertical
    offset minimising the squared error is removed (the notebook minimises it with Brent's method;
    its minimiser is the mean of ``pred - truth`` over overlapping samples, used here in closed
    form). Missing prediction samples count as 0. Signal power ``sum(truth**2)`` and noise power
    ``sum((truth - aligned)**2)`` are **summed over the leads of a record** before the ratio. The
    record's ratio is capped at 384 (``noise == 0`` gives 384, ``signal == 0`` gives 0); the score
    of a set of records is ``10 * log10(mean of the linear ratios)``, at least -384
    (:func:`kaggle_score`). So a perfect record scores ``10 * log10(384) = 25.84`` dB.

PhysioNet Challenge 2024, :func:`physionet_snr`
    Source: ``compute_snr`` in ``helper_code.py`` and ``evaluate_model`` in ``evaluate_model.py`` of
    https://github.com/physionetchallenges/evaluation-2024 (also shipped with python-example-2024).
    No alignment, no offset removal. Per record and lead: samples where the truth is not finite are
    dropped, NaN predictions count as 0, ``SNR = 10 * log10(sum(truth**2) / sum((pred - truth)**2))``;
    ``+inf`` when the noise is 0 (and the signal is not), NaN when the signal is 0. A missing lead or
    record of the prediction is all zeros (0 dB). The Challenge score is the ``nanmean`` of the dB
    values over every (record, lead) pair, so one perfect lead makes it ``+inf``.

ecglab conventions shared by both: NaN in ``truth`` marks samples that were not plotted and is
excluded; NaN in ``pred`` (nothing digitized there) counts as 0 mV, as both definitions do.
For the Kaggle metric a lead is cut to the span from its first to its last finite truth sample
(e.g. the 2.5 s of a 3x4 layout panel), which is what the competition's per-lead ground truth holds;
NaN truth samples inside that span are left out of the means and powers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.signal

from ecglab.errors import RecordError

__all__ = [
    "KAGGLE_MAX_SHIFT_S",
    "KAGGLE_PERFECT_RATIO",
    "KaggleLead",
    "KaggleRecord",
    "align_lead",
    "kaggle_score",
    "kaggle_snr",
    "kaggle_snr_details",
    "pearson_r",
    "physionet_record_snr",
    "physionet_snr",
    "rmse",
]

#: Largest time shift the Kaggle metric searches, seconds.
KAGGLE_MAX_SHIFT_S = 0.2
#: The Kaggle metric's cap of a record's linear signal-to-noise ratio (``PERFECT_SCORE``).
KAGGLE_PERFECT_RATIO = 384.0


@dataclass(frozen=True)
class KaggleLead:
    """One lead's contribution to the Kaggle SNR.

    Attributes
    ----------
    name
        Lead name (or its row index as a string).
    shift
        Samples the prediction was delayed by to align it (negative: advanced).
    offset
        Vertical offset removed from the prediction, mV.
    signal_power, noise_power
        ``sum(truth**2)`` and ``sum((truth - aligned)**2)`` over the lead's finite truth samples.
    n_samples
        Number of finite truth samples scored.
    """

    name: str
    shift: int
    offset: float
    signal_power: float
    noise_power: float
    n_samples: int

    @property
    def snr_db(self) -> float:
        """This lead's own SNR (not part of the metric, which sums powers over leads first)."""
        return _db(self.signal_power, self.noise_power)


@dataclass(frozen=True)
class KaggleRecord:
    """The Kaggle SNR of one record (one image).

    Attributes
    ----------
    leads
        Per-lead details, in row order, for the leads with finite truth.
    signal_power, noise_power
        Sums over the leads.
    ratio
        The capped linear ratio the competition averages over records (0..384).
    """

    leads: tuple[KaggleLead, ...]
    signal_power: float
    noise_power: float
    ratio: float

    @property
    def snr_db(self) -> float:
        """``10 * log10(ratio)``: at most 25.84 dB, ``-inf`` when the truth is all zeros."""
        return 10.0 * math.log10(self.ratio) if self.ratio > 0 else -math.inf


def _db(signal: float, noise: float) -> float:
    if noise == 0:
        return math.inf if signal > 0 else math.nan
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf


def _as_leads(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 ``[leads, samples]`` of the same shape, or a one-line RecordError."""
    t = np.asarray(truth, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    if t.ndim == 1:
        t = t[None, :]
    if p.ndim == 1:
        p = p[None, :]
    if t.ndim != 2 or p.ndim != 2:
        raise RecordError(
            f"SNR: signals must be [samples] or [leads, samples], got {t.ndim}-D and {p.ndim}-D"
        )
    if t.shape != p.shape:
        raise RecordError(f"SNR: truth {t.shape} and prediction {p.shape} differ in shape")
    if np.isinf(t).any() or np.isinf(p).any():
        raise RecordError("SNR: signals contain infinite values")
    return t, p


def _lead_names(names: Sequence[str] | None, n: int) -> list[str]:
    if names is None:
        return [str(k) for k in range(n)]
    if len(names) != n:
        raise RecordError(f"SNR: {len(names)} lead names for {n} leads")
    return list(names)


def align_lead(truth: np.ndarray, pred: np.ndarray, max_shift: int) -> tuple[np.ndarray, int, float]:
    """Align one lead's prediction to its truth as the Kaggle metric does.

    Parameters
    ----------
    truth
        ``[n]`` reference; NaN samples are ignored (treated as 0 after centring in the
        cross-correlation, left out of the offset).
    pred
        ``[n]`` prediction; NaN counts as 0.
    max_shift
        Largest lag searched, samples.

    Returns
    -------
    tuple
        ``(aligned, shift, offset)``: the shifted prediction minus the offset (NaN where it was
        shifted in from outside), the lag (``aligned[i] = pred[i - shift] - offset``) and the
        offset.
    """
    t = np.asarray(truth, dtype=np.float64)
    p = np.nan_to_num(np.asarray(pred, dtype=np.float64), nan=0.0)
    n = t.size
    finite = np.isfinite(t)
    t_centred = np.where(finite, t - (np.mean(t[finite]) if finite.any() else 0.0), 0.0)
    correlation = scipy.signal.correlate(t_centred, p - np.mean(p), mode="full")
    lags = scipy.signal.correlation_lags(n, n, mode="full")
    window = np.abs(lags) <= max_shift
    best = np.max(correlation[window])
    # Ties go to the smallest |lag|, as in the competition's align_signals.
    candidates = np.flatnonzero(window & (correlation == best))
    shift = int(lags[candidates[np.argmin(np.abs(lags[candidates]))]])
    aligned = np.full(n, np.nan)
    if shift >= 0:
        aligned[shift:] = p[: n - shift]
    else:
        aligned[:shift] = p[-shift:]
    overlap = finite & np.isfinite(aligned)
    offset = float(np.mean(aligned[overlap] - t[overlap])) if overlap.any() else 0.0
    return aligned - offset, shift, offset


def kaggle_snr_details(
    truth: np.ndarray,
    pred: np.ndarray,
    fs: float,
    *,
    max_shift_s: float = KAGGLE_MAX_SHIFT_S,
    lead_names: Sequence[str] | None = None,
) -> KaggleRecord:
    """The Kaggle 2025 SNR of one record with per-lead shifts, offsets and powers.

    Parameters
    ----------
    truth, pred
        ``[leads, samples]`` (or ``[samples]``) in mV, same shape. NaN in ``truth``: not scored
        (each lead is cut to its first..last finite sample); NaN in ``pred``: 0 mV.
    fs
        Sampling rate, Hz; the lag search spans ``int(max_shift_s * fs)`` samples each way.
    max_shift_s
        Largest time shift searched, seconds (0.2 in the competition).
    lead_names
        Names for the per-lead details (default: row indices).

    Returns
    -------
    KaggleRecord
        Summed powers, the capped linear ratio and per-lead details; leads without finite truth are
        left out.

    Raises
    ------
    RecordError
        Shapes differ, infinite values, ``fs`` or ``max_shift_s`` not positive, or no finite truth.
    """
    t, p = _as_leads(truth, pred)
    if not fs > 0 or not max_shift_s >= 0:
        raise RecordError(f"Kaggle SNR: fs must be > 0 and max_shift_s >= 0, got {fs} and {max_shift_s}")
    names = _lead_names(lead_names, t.shape[0])
    max_shift = int(fs * max_shift_s)
    leads = []
    for name, t_lead, p_lead in zip(names, t, p, strict=True):
        finite = np.flatnonzero(np.isfinite(t_lead))
        if finite.size == 0:
            continue
        span = slice(finite[0], finite[-1] + 1)
        t_span = t_lead[span]
        aligned, shift, offset = align_lead(t_span, p_lead[span], max_shift)
        scored = np.isfinite(t_span)
        error = t_span[scored] - np.nan_to_num(aligned[scored], nan=0.0)
        leads.append(
            KaggleLead(
                name=name,
                shift=shift,
                offset=offset,
                signal_power=float(np.sum(t_span[scored] ** 2)),
                noise_power=float(np.sum(error**2)),
                n_samples=int(scored.sum()),
            )
        )
    if not leads:
        raise RecordError("Kaggle SNR: the truth has no finite sample")
    signal = sum(lead.signal_power for lead in leads)
    noise = sum(lead.noise_power for lead in leads)
    if noise == 0:
        ratio = KAGGLE_PERFECT_RATIO
    elif signal == 0:
        ratio = 0.0
    else:
        ratio = min(signal / noise, KAGGLE_PERFECT_RATIO)
    return KaggleRecord(leads=tuple(leads), signal_power=signal, noise_power=noise, ratio=ratio)


def kaggle_snr(
    truth: np.ndarray, pred: np.ndarray, fs: float, *, max_shift_s: float = KAGGLE_MAX_SHIFT_S
) -> float:
    """The Kaggle 2025 SNR of one record in dB (see :func:`kaggle_snr_details`).

    Returns
    -------
    float
        ``10 * log10(min(signal / noise, 384))`` with powers summed over the leads: at most
        25.84 dB (a perfect prediction), ``-inf`` for an all-zero truth.
    """
    return kaggle_snr_details(truth, pred, fs, max_shift_s=max_shift_s).snr_db


def kaggle_score(records: Iterable[KaggleRecord]) -> float:
    """The competition score of several records: ``10 * log10(mean linear ratio)``, at least -384 dB.

    Raises
    ------
    RecordError
        If ``records`` is empty.
    """
    ratios = [record.ratio for record in records]
    if not ratios:
        raise RecordError("Kaggle score: no records to average")
    mean = float(np.mean(ratios))
    return max(10.0 * math.log10(mean), -KAGGLE_PERFECT_RATIO) if mean > 0 else -KAGGLE_PERFECT_RATIO


def physionet_snr(truth: np.ndarray, pred: np.ndarray, fs: float | None = None) -> np.ndarray:
    """Per-lead SNR in dB as the PhysioNet Challenge 2024 computes it (no alignment).

    Parameters
    ----------
    truth, pred
        ``[leads, samples]`` (or ``[samples]``) in mV, same shape. Non-finite truth samples are
        dropped; NaN predictions count as 0 (a lead the digitizer did not output is all NaN or 0).
    fs
        Sampling rate; unused by the metric, accepted for symmetry with :func:`kaggle_snr`.

    Returns
    -------
    numpy.ndarray
        ``[leads]`` float64 dB; ``+inf`` for a perfect lead, NaN where the truth has no power.
    """
    t, p = _as_leads(truth, pred)
    finite = np.isfinite(t)
    t0 = np.where(finite, t, 0.0)
    error = np.where(finite, np.nan_to_num(p, nan=0.0) - t0, 0.0)
    signal = np.sum(t0**2, axis=1)
    noise = np.sum(error**2, axis=1)
    out = np.full(t.shape[0], np.nan)
    ok = (signal > 0) & (noise > 0)
    out[ok] = 10.0 * np.log10(signal[ok] / noise[ok])
    out[(signal > 0) & (noise == 0)] = np.inf
    return out


def physionet_record_snr(truth: np.ndarray, pred: np.ndarray, fs: float | None = None) -> float:
    """Mean of :func:`physionet_snr` over the leads, NaN leads skipped (``+inf`` if any lead is perfect).

    The Challenge averages over every (record, lead) pair at once; averaging per-record means
    gives the same number when records have the same number of scored leads.
    """
    values = physionet_snr(truth, pred, fs)
    return float(np.nanmean(values)) if not np.isnan(values).all() else math.nan


def pearson_r(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-lead Pearson correlation over samples where both signals are finite.

    Returns
    -------
    numpy.ndarray
        ``[leads]``; NaN for a lead with fewer than 2 common samples or a constant signal.
    """
    t, p = _as_leads(truth, pred)
    both = np.isfinite(t) & np.isfinite(p)
    count = both.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = np.where(both, t, 0.0).sum(axis=1) / count
        p_mean = np.where(both, p, 0.0).sum(axis=1) / count
        dt = np.where(both, t - t_mean[:, None], 0.0)
        dp = np.where(both, p - p_mean[:, None], 0.0)
        r = (dt * dp).sum(axis=1) / np.sqrt((dt**2).sum(axis=1) * (dp**2).sum(axis=1))
    r[(count < 2) | ~np.isfinite(r)] = np.nan
    return r


def rmse(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-lead root-mean-square error (mV) over samples where both signals are finite.

    Returns
    -------
    numpy.ndarray
        ``[leads]``; NaN for a lead with no common finite sample.
    """
    t, p = _as_leads(truth, pred)
    both = np.isfinite(t) & np.isfinite(p)
    count = both.sum(axis=1)
    squared = np.where(both, (p - t) ** 2, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.sqrt(squared / count), np.nan)
