"""Beat windows and RR-interval features: the one preprocessing path of beat classification.

Training (:mod:`ecglab.datasets.mitdb`) and inference on arbitrary records call the same two
functions, so a model never sees data prepared differently from what it was trained on:

- :func:`rr_features` turns R-peak positions into rhythm features normalised per record
  (pre-RR / local RR, pre-RR / record RR, post-RR / pre-RR). Normalisation per record is what makes
  supraventricular ectopic beats (S) separable across patients: a premature beat is short
  *relative to this patient's rhythm*, whatever the patient's heart rate.
- :func:`extract_beats` resamples a record to the model rate, band-passes it and cuts one window
  per beat, centred on the R peak, normalised per record.

Design choices (see :class:`BeatWindowSpec`):

- **180 Hz model rate.** After the 0.5-40 Hz band-pass nothing of interest lies above 40 Hz, so
  180 Hz (Nyquist 90 Hz) loses nothing; it is exactly half of MIT-BIH's 360 Hz (a 1:2 polyphase
  step), keeps a QRS of 80-120 ms at 14-22 samples, and halves the CNN's input and cost compared
  with 360 Hz. Any input rate of at least 100 Hz is accepted (250 → 180 is 18/25, 500 → 180 is 9/25).
- **Window 0.25 s before to 0.45 s after the R peak** (126 samples at 180 Hz): the P wave lies
  120-250 ms before the R peak, the T wave ends 350-450 ms after it at ordinary heart rates.
- **Normalisation:** each window minus its own median (removes the residual baseline offset at
  that beat), divided by one robust amplitude per record and lead: the median peak-to-peak
  amplitude of the record's beat windows. One scale per record (not per window) keeps the
  amplitude differences *between beats of one patient* (a PVC is often twice as tall as a normal
  beat), while removing the gain and electrode-placement differences *between patients*, which
  otherwise let a CNN recognise patients instead of beat types.
- **Edges:** beats whose window runs past the start or end of the record are zero-padded (the
  padding equals the window's median level after centring) by default, so every annotated beat
  gets a label; ``edge="drop"`` drops them instead and ``kept_index`` says which beats remain.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from ecglab.errors import RecordError
from ecglab.io.recording import Recording
from ecglab.signal.filters import bandpass

__all__ = [
    "FEATURE_VERSION",
    "LOCAL_RR_BEATS",
    "RR_FEATURE_NAMES",
    "BeatWindowSpec",
    "check_peaks",
    "extract_beats",
    "normalize_windows",
    "rr_features",
]

#: Version of the preprocessing and feature code. Bump it whenever :func:`extract_beats` or
#: :func:`rr_features` changes its output, so caches of beat windows are rebuilt.
FEATURE_VERSION = 5

#: Names of the columns returned by :func:`rr_features`, in order.
RR_FEATURE_NAMES: tuple[str, ...] = (
    "pre_rr",  # seconds from the previous beat
    "post_rr",  # seconds to the next beat
    "local_rr",  # median RR of the previous LOCAL_RR_BEATS intervals, seconds
    "record_rr",  # median RR of the whole record, seconds
    "pre_local_ratio",  # pre_rr / local_rr: < 1 for a premature beat
    "pre_record_ratio",  # pre_rr / record_rr
    "post_pre_ratio",  # post_rr / pre_rr: > 1 for a premature beat followed by a pause
    "pre_sinus_ratio",  # pre_rr / sinus_rr (median pre-RR of the latest quarter of beats)
    "local_irregularity",  # median |successive RR difference| around the beat / local_rr: high in AF
)

#: Number of preceding RR intervals whose median is the local RR.
LOCAL_RR_BEATS = 10

#: Number of successive-RR differences, centred on the beat, behind ``local_irregularity``.
IRREGULARITY_BEATS = 16

#: RR interval assumed (75 bpm) when a record holds a single beat and no interval can be measured.
DEFAULT_RR_S = 0.8

#: Lowest input sampling rate accepted: below it the 40 Hz band edge would exceed Nyquist.
MIN_FS = 100.0

#: Floor of the per-record amplitude scale (mV), so a flat or disconnected lead is not blown up
#: into pure noise.
MIN_AMPLITUDE_MV = 0.05


@dataclass(frozen=True)
class BeatWindowSpec:
    """Where and how beat windows are cut.

    Attributes
    ----------
    fs
        Model sampling rate in Hz; records are resampled to it (180 Hz, see the module notes).
    before_s, after_s
        Seconds before and after the R peak covered by the window.
    low_hz, high_hz
        Band-pass edges applied at ``fs`` before windows are cut.
    """

    fs: float = 180.0
    before_s: float = 0.25
    after_s: float = 0.45
    low_hz: float = 0.5
    high_hz: float = 40.0
    template: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", bool(self.template))
        for name in ("fs", "before_s", "after_s", "low_hz", "high_hz"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not np.isfinite(value):
                raise RecordError(f"BeatWindowSpec.{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.fs < MIN_FS:
            raise RecordError(f"BeatWindowSpec.fs must be >= {MIN_FS:g} Hz, got {self.fs:g}")
        if self.before_s < 0 or self.after_s <= 0:
            raise RecordError("BeatWindowSpec.before_s must be >= 0 and after_s > 0")
        if not 0 < self.low_hz < self.high_hz < self.fs / 2:
            raise RecordError(
                f"BeatWindowSpec band {self.low_hz:g}-{self.high_hz:g} Hz must satisfy "
                f"0 < low < high < fs/2 = {self.fs / 2:g} Hz"
            )
        if self.n_samples < 8:
            raise RecordError(f"BeatWindowSpec gives a window of {self.n_samples} samples (< 8)")

    @property
    def before(self) -> int:
        """Samples before the R peak; also the index of the R peak in the window."""
        return round(self.before_s * self.fs)

    @property
    def after(self) -> int:
        """Samples from the R peak (inclusive) to the end of the window."""
        return round(self.after_s * self.fs)

    @property
    def n_samples(self) -> int:
        """Window length in samples (``before + after``; 126 for the defaults)."""
        return self.before + self.after

    @property
    def channels_per_lead(self) -> int:
        """Window rows per lead: 2 with ``template`` (the beat, and the beat minus the record's
        median beat), else 1."""
        return 2 if self.template else 1

    @property
    def peak_index(self) -> int:
        """Index of the R peak inside a window (``round(before_s * fs)``)."""
        return self.before

    def to_dict(self) -> dict[str, float]:
        """Plain dict (for cache keys, checkpoints and configs)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BeatWindowSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def check_peaks(peaks: np.ndarray, n_samples: int | None = None, *, where: str = "peaks") -> np.ndarray:
    """Validate R-peak sample indices: 1-D, integral, strictly increasing, inside the record.

    Returns
    -------
    np.ndarray
        The peaks as int64.
    """
    p = np.asarray(peaks)
    if p.ndim != 1:
        raise RecordError(f"{where}: peaks must be a 1-D array of sample indices, got shape {p.shape}")
    integral = np.issubdtype(p.dtype, np.integer) or (
        np.issubdtype(p.dtype, np.floating) and bool(np.all(np.isfinite(p) & (p == np.round(p))))
    )
    if p.size and not integral:
        raise RecordError(f"{where}: peaks must be integer sample indices")
    p = p.astype(np.int64)
    if p.size and np.any(np.diff(p) <= 0):
        raise RecordError(f"{where}: peaks must be strictly increasing (sorted, no duplicates)")
    if p.size and (p[0] < 0 or (n_samples is not None and p[-1] >= n_samples)):
        raise RecordError(
            f"{where}: peaks must lie in 0..{'' if n_samples is None else n_samples - 1}, got {p[0]}..{p[-1]}"
        )
    return p


def rr_features(peaks: np.ndarray, fs: float, n_samples: int | None = None) -> np.ndarray:
    """RR-interval features per beat, normalised per record (columns: :data:`RR_FEATURE_NAMES`).

    Parameters
    ----------
    peaks
        R-peak sample indices of *all* beats of the record, strictly increasing. Pass every beat
        (also those you will not classify) so that the intervals are the physiological ones.
    fs
        Sampling rate of ``peaks`` in Hz.
    n_samples
        Record length in samples; when given, peaks outside the record are refused.

    Returns
    -------
    np.ndarray
        float32 ``[n_beats, 9]``, never NaN:

        - ``pre_rr``, ``post_rr``: intervals to the previous / next beat in seconds. The first
          beat has no previous beat and the last no next one: they get the record RR, a neutral
          value that makes their ratios 1 rather than a guess.
        - ``local_rr``: median of the :data:`LOCAL_RR_BEATS` intervals *before* the beat's own
          pre-RR, so one premature beat does not dilute its own reference; near the start of the
          record the window is clamped to the record's first intervals. The median (not the mean)
          ignores missed or extra detections and compensatory pauses.
        - ``record_rr``: median of all intervals of the record.
        - ratios ``pre_rr / local_rr``, ``pre_rr / record_rr``, ``post_rr / pre_rr``.
        - ``pre_sinus_ratio``: ``pre_rr`` over the record's *sinus* cycle, estimated as the median
          pre-RR of the quarter of beats that came latest relative to their local rhythm (the
          beats least likely premature). Where ectopic beats outnumber sinus beats (MIT-BIH 232:
          atrial premature beats between long sinus cycles), local and record RR describe the
          ectopic rhythm and call it normal; this ratio still says "early".
        - ``local_irregularity``: median absolute difference of successive RR intervals in the
          :data:`IRREGULARITY_BEATS` intervals centred on the beat, over ``local_rr``. An isolated
          premature beat moves two differences only, so the median stays near 0 in sinus rhythm;
          in atrial fibrillation every difference is large. It tells "short because the rhythm is
          irregular" (AF, an N beat) from "short because premature" (an S beat).

        A single-beat record uses :data:`DEFAULT_RR_S` for every interval.

    Examples
    --------
    >>> f = rr_features(np.array([0, 100, 200, 260, 400]), fs=100.0)
    >>> f[3, RR_FEATURE_NAMES.index("pre_local_ratio")].round(2)
    np.float32(0.6)
    """
    fs = float(fs)
    if not np.isfinite(fs) or fs <= 0:
        raise RecordError(f"sampling rate must be > 0, got {fs!r}")
    p = check_peaks(peaks, n_samples)
    n = p.size
    out = np.empty((n, len(RR_FEATURE_NAMES)), dtype=np.float32)
    if n == 0:
        return out
    if n == 1:
        out[:, :4] = DEFAULT_RR_S
        out[:, 4:8] = 1.0
        out[:, 8] = 0.0
        return out
    rr = np.diff(p) / fs  # rr[j] is the interval ending at beat j + 1; all > 0 (peaks increase)
    m = rr.size
    record = float(np.median(rr))
    pre = np.concatenate(([record], rr))
    post = np.concatenate((rr, [record]))
    w = min(LOCAL_RR_BEATS, m)
    # medians[j] = median(rr[j : j + w]); beat i's own pre-RR is rr[i - 1], so the w intervals
    # before it start at j = i - 1 - w (clamped to the first full window).
    medians = np.median(np.lib.stride_tricks.sliding_window_view(rr, w), axis=1)
    local = medians[np.clip(np.arange(n) - 1 - w, 0, m - w)]
    out[:, 0] = pre
    out[:, 1] = post
    out[:, 2] = local
    out[:, 3] = record
    out[:, 4] = pre / local
    out[:, 5] = pre / record
    out[:, 6] = post / pre
    out[:, 7] = pre / float(np.median(pre[latest_quarter(out[:, 4])]))
    out[:, 8] = _local_irregularity(rr, n) / local
    return out


def _local_irregularity(rr: np.ndarray, n: int) -> np.ndarray:
    """Median |successive RR difference| in a window centred on each of ``n`` beats (0 if < 2 RRs)."""
    d = np.abs(np.diff(rr))
    if d.size == 0:
        return np.zeros(n)
    w = min(IRREGULARITY_BEATS, d.size)
    medians = np.median(np.lib.stride_tricks.sliding_window_view(d, w), axis=1)
    # Beat i sits between rr[i - 1] and rr[i], i.e. at difference index i - 1: centre the window there.
    return medians[np.clip(np.arange(n) - 1 - w // 2, 0, d.size - w)]


def latest_quarter(pre_local_ratio: np.ndarray) -> np.ndarray:
    """Indices of the quarter of beats (at least one) with the largest ``pre_local_ratio``.

    These came latest relative to their local rhythm, so they are the beats least likely to be
    premature: ecglab's estimate of a record's sinus beats. Ranking (not a quantile threshold) keeps
    the count fixed when many beats tie at the same ratio.
    """
    k = max(1, len(pre_local_ratio) // 4)
    return np.argsort(pre_local_ratio, kind="stable")[-k:]


def normalize_windows(windows: np.ndarray) -> np.ndarray:
    """Centre each window on its median and scale each lead by the record's robust amplitude.

    Parameters
    ----------
    windows
        ``[n_beats, leads, samples]`` of one record, NaN where the signal is missing or padded.

    Returns
    -------
    np.ndarray
        float32 windows of the same shape, NaN replaced by 0 (the centred baseline level). Each
        window has median 0; the median peak-to-peak amplitude of the record's windows is 1 per
        lead (unless it falls below :data:`MIN_AMPLITUDE_MV`, the floor of the scale).
    """
    w = np.asarray(windows, dtype=np.float32)
    if w.shape[0] == 0:
        return np.ascontiguousarray(w)
    nan = np.isnan(w)
    centre = np.median(w, axis=-1, keepdims=True)
    if nan.any():
        # nanmedian is slow; use it only on the windows that hold missing or padded samples.
        rows = np.flatnonzero(nan.any(axis=(1, 2)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window: its centre is NaN
            centre[rows] = np.nanmedian(w[rows], axis=-1, keepdims=True)
        centre = np.nan_to_num(centre, nan=0.0)
    w = w - centre
    w[nan] = 0.0
    p2p = w.max(axis=-1) - w.min(axis=-1)  # [n_beats, leads]
    scale = np.maximum(np.median(p2p, axis=0), MIN_AMPLITUDE_MV)  # [leads]
    w /= scale[None, :, None]
    return np.ascontiguousarray(w, dtype=np.float32)


def extract_beats(
    recording: Recording,
    peaks: np.ndarray,
    spec: BeatWindowSpec | None = None,
    leads: Sequence[str] | str = ("MLII",),
    *,
    edge: Literal["pad", "drop"] = "pad",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut one normalised window per beat, plus the beat's RR features.

    Steps: select ``leads`` → resample to ``spec.fs`` (peaks mapped to the new rate) → zero-phase
    band-pass ``spec.low_hz``-``spec.high_hz`` → windows ``[peak - before, peak + after)`` by fancy
    indexing → :func:`normalize_windows`. Vectorised: a 30-minute MIT-BIH record (~2,000 beats)
    takes a few tens of milliseconds.

    Parameters
    ----------
    recording
        Any record with ``fs >= 100`` Hz holding ``leads``.
    peaks
        R-peak sample indices at ``recording.fs`` of all beats (annotated or detected), strictly
        increasing. RR features are computed from all of them.
    spec
        Window specification; :class:`BeatWindowSpec` defaults when None.
    leads
        Leads to use, in order (canonical names such as ``"MLII"``, ``"V1"``, ``"II"``).
    edge
        ``"pad"`` (default) keeps beats whose window crosses the record's start or end, padding
        with the centred baseline level (0); ``"drop"`` drops them.

    Returns
    -------
    windows
        float32 ``[n_kept, len(leads), spec.n_samples]``; the R peak is at ``spec.peak_index``.
    rr
        float32 ``[n_kept, len(RR_FEATURE_NAMES)]``.
    kept_index
        int64 indices into ``peaks`` of the beats returned.

    Raises
    ------
    LeadError
        If the record lacks a requested lead.
    RecordError
        If the rate is below 100 Hz or the peaks are not sorted sample indices inside the record.
    """
    spec = spec or BeatWindowSpec()
    if edge not in ("pad", "drop"):
        raise RecordError(f"edge must be 'pad' or 'drop', got {edge!r}")
    where = f"record {recording.record_id!r}"
    peaks = check_peaks(peaks, recording.n_samples, where=where)
    rec = recording.select(leads)  # raises LeadError naming the leads present
    if rec.fs < MIN_FS:
        raise RecordError(f"{where}: beat extraction needs fs >= {MIN_FS:g} Hz, got {rec.fs:g} Hz")
    rr = rr_features(peaks, rec.fs)
    n_leads = rec.n_leads
    if peaks.size == 0:
        empty = np.zeros((0, n_leads, spec.n_samples), np.float32)
        return empty, rr, np.zeros(0, np.int64)

    rec = rec.replace(annotations=None).resample(spec.fs)  # annotations are not needed here
    x = bandpass(rec.signal, spec.fs, spec.low_hz, spec.high_hz)
    n = x.shape[1]
    centre = np.clip(np.rint(peaks * (spec.fs / recording.fs)).astype(np.int64), 0, n - 1)
    before, after = spec.before, spec.after
    if edge == "drop":
        kept = np.flatnonzero((centre - before >= 0) & (centre + after <= n))
    else:
        kept = np.arange(peaks.size, dtype=np.int64)
    # Pad with NaN: normalize_windows treats padding like missing samples (ignored by the centring
    # median, then set to the centred baseline 0).
    xp = np.pad(x, ((0, 0), (before, after)), constant_values=np.nan)
    idx = centre[kept, None] + np.arange(spec.n_samples)[None, :]  # already shifted by the pad
    windows = xp[:, idx].transpose(1, 0, 2)  # [leads, n, W] -> [n, leads, W]
    windows = normalize_windows(windows)
    if spec.template:
        windows = add_template_difference(windows, rr[kept])
    return windows, rr[kept], kept


def add_template_difference(windows: np.ndarray, rr: np.ndarray | None = None) -> np.ndarray:
    """Append, per lead, the window minus the record's typical sinus beat (its "template").

    Morphology relative to the patient's own typical beat transfers across patients better than
    absolute morphology: an ectopic beat differs from *its patient's* sinus beat, whatever that
    patient's QRS looks like. The template is the median of the quarter of beats that came latest
    relative to the local rhythm (largest ``pre_local_ratio``): premature beats (S, V) are the
    least likely among them, also in records where ectopic beats outnumber sinus beats (MIT-BIH
    232, where the sinus beats follow pauses). Without ``rr`` all beats form the template.
    ``[n, leads, W]`` → ``[n, 2 * leads, W]`` (beat rows first).
    """
    if windows.shape[0] == 0:
        return np.zeros((0, 2 * windows.shape[1], windows.shape[2]), np.float32)
    pool = windows
    if rr is not None and len(rr) == len(windows):
        pool = windows[latest_quarter(rr[:, RR_FEATURE_NAMES.index("pre_local_ratio")])]
    template = np.median(pool, axis=0, keepdims=True)
    return np.ascontiguousarray(np.concatenate([windows, windows - template], axis=1), dtype=np.float32)
