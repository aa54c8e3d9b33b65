"""R-peak (QRS) detection on one to twelve leads.

The detector follows the classic slope-energy scheme of Pan & Tompkins (1985) with the decision
rules Hamilton & Tompkins (1986) tuned on the MIT-BIH Arrhythmia Database, extended to several
leads and to noisy signals. Its stages:

1. **Internal rate.** Every lead is resampled to 250 Hz (polyphase), so the filters, windows and
   thresholds below mean the same at any input rate >= 100 Hz. Missing samples (NaN) are bridged
   by linear interpolation and carry no weight later.
2. **Slope envelope per lead.** Band-pass 5-15 Hz (the QRS band; zero-phase Butterworth), first
   difference, square, 100 ms moving average, square root: the RMS slope of the QRS band over one
   QRS width. It is linear in amplitude and blind to polarity, so an inverted lead (QS or rS
   complexes, reversed electrodes) gives the same envelope as an upright one.
3. **Robust per-lead normalisation.** Each envelope is divided by its local beat level: the
   running median (30 s) of its maxima over 2 s segments. Beats are then about 1 in every lead,
   whatever the lead's amplitude, and slow amplitude changes are followed.
4. **Lead quality.** Per 2 s segment a lead is down-weighted when its normalised envelope stays
   high between beats (its median over the segment, the noise floor: muscle noise, fibrillatory
   or oscillating baselines) or when its maximum stands far above its usual beat level
   (electrode motion, baseline jumps, bursts in a lead that is otherwise off). Weights are squared
   so that a clean lead dominates a noisy one. Flat segments (lead off, zero-filled) weigh
   nothing; flat, all-NaN and noise-dominated leads are dropped altogether.
5. **Top-hat and fusion.** A morphological top-hat (envelope minus its 400 ms opening) keeps peaks
   narrower than 400 ms, that is QRS complexes (also wide ventricular ones), and removes broad bumps
   of noise bursts and baseline wander. The leads' top-hat envelopes are averaged with the quality
   weights into one fused detection function.
6. **Adaptive decision (Hamilton-Tompkins).** Candidate peaks of the fused function at least
   200 ms apart (refractory period) are classified in time order: a candidate above
   ``noise + 0.35 (signal - noise)``, where *signal* and *noise* are the medians of the last eight
   QRS and noise peak heights, is a QRS; within 360 ms of the previous QRS, a candidate under half
   the larger of that QRS's height and the median QRS height is a T wave; when no QRS has been
   found for 1.5 median RR intervals, the largest candidate since the last QRS (but at least
   360 ms after it) above half the threshold is taken (searchback for missed beats).
7. **R-wave location.** Each detection is moved to the extremum of the signal (0.5-40 Hz) in the
   location lead inside the QRS extent (where the fused function stays above 60 % of its peak, at
   most 100 ms each side, plus 20 ms). The polarity is chosen once per lead for the whole record
   from the median R and S deflections (the negative one must be 1.5 times larger to win, as
   upright R waves are the convention); a beat whose deflection of that polarity is under half the
   opposite one (a ventricular beat of inverted shape) takes its dominant extremum instead. The
   location lead is scored by quality times the median size of its R waves and the share of beats
   that show them; of the leads scoring at least half the best, the first in the caller's order
   wins (so the caller states a preference, e.g. MLII before V1). Where it is missing or flat, the
   next lead in that ranking is used.

Everything is vectorised except the decision loop over candidate peaks (a few per second).

References
----------
Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng 1985;32:230-236.
Hamilton PS, Tompkins WJ. Quantitative investigation of QRS detection rules using the MIT/BIH
arrhythmia database. IEEE Trans Biomed Eng 1986;33:1157-1165.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ecglab.errors import RecordError
from ecglab.io.recording import Recording

#: Lowest sampling rate accepted: below it the QRS band (5-15 Hz) and the R-wave shape are lost.
MIN_FS = 100.0

#: Rate at which detection runs internally.
FS_INTERNAL = 250.0


@dataclass(frozen=True)
class RPeakParams:
    """Settings of :func:`detect_rpeaks_array` (the defaults are the tested ones).

    Attributes
    ----------
    band
        QRS pass band in Hz of the slope envelope.
    mwi_s
        Moving-window integration length in seconds (about one QRS width).
    segment_s, scale_segments
        Length of the segments whose maxima give a lead's beat level, and how many segments the
        running median spans.
    floor_lo, floor_hi
        A segment whose median normalised envelope (its noise floor) exceeds ``floor_lo`` loses
        weight linearly, down to none at ``floor_hi``.
    excess_level, excess_gain
        A segment whose maximum is ``m > excess_level`` times the lead's beat level is weighted by
        ``1 / (1 + excess_gain (m - excess_level))``.
    weight_power
        Exponent on the quality weights (sharpens the choice of the cleaner lead).
    drop_quality
        Leads whose mean quality is below this fraction of the best lead's are dropped.
    flat_mv
        A 2 s segment whose peak-to-peak amplitude is at most this (mV) is dead: no weight.
    clip
        Ceiling of a lead's normalised envelope, so that no artefact outweighs the other leads.
    tophat_s
        Width of the morphological opening removed from each envelope; broader bumps vanish.
    refractory_s
        Minimum distance between two detections.
    threshold
        Fraction of the way from the noise level to the QRS level where the threshold sits.
    twave_s, twave_ratio
        A candidate within ``twave_s`` of the previous QRS and under ``twave_ratio`` of the larger
        of that QRS's height and the median QRS height is a T wave.
    searchback_rr, searchback_fraction
        After ``searchback_rr`` median RR intervals without a QRS, the largest candidate since
        the last one that exceeds ``searchback_fraction`` of the threshold is taken.
    extent_fraction, extent_max_s, locate_pad_s
        The R wave is searched where the fused function stays above ``extent_fraction`` of its
        peak (at most ``extent_max_s`` each side), widened by ``locate_pad_s``.
    negative_bias
        The negative deflection must be this many times the positive one to set a lead's
        polarity to negative.
    dominant_fraction
        A beat whose deflection of the lead's polarity is below this fraction of the opposite one
        is located on its dominant extremum.
    location_quality
        The location lead is the first lead (in the caller's order) whose score (quality times
        R-wave suitability) is at least this fraction of the best.
    """

    band: tuple[float, float] = (5.0, 15.0)
    mwi_s: float = 0.10
    segment_s: float = 2.0
    scale_segments: int = 15
    floor_lo: float = 0.05
    floor_hi: float = 0.5
    excess_level: float = 1.5
    excess_gain: float = 1.0
    weight_power: float = 2.0
    drop_quality: float = 0.05
    flat_mv: float = 0.01
    clip: float = 3.0
    tophat_s: float = 0.4
    refractory_s: float = 0.2
    threshold: float = 0.35
    twave_s: float = 0.36
    twave_ratio: float = 0.5
    searchback_rr: float = 1.5
    searchback_fraction: float = 0.5
    extent_fraction: float = 0.6
    extent_max_s: float = 0.10
    locate_pad_s: float = 0.02
    negative_bias: float = 1.5
    dominant_fraction: float = 0.5
    location_quality: float = 0.5


@dataclass
class _Trace:
    """Intermediate results of one detection, kept for diagnostics and tests."""

    fs: float
    fused: np.ndarray = field(default_factory=lambda: np.zeros(0))
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    leads_used: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    location_lead: int = -1
    polarity: float = 1.0
    beats_internal: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    location_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))


def detect_rpeaks(recording: Recording, leads: Sequence[str] | None = None) -> np.ndarray:
    """Detect R peaks in a recording, fusing all its leads (or ``leads``).

    Parameters
    ----------
    recording
        The recording (any sampling rate >= 100 Hz, 1 to 12 or more leads, NaN gaps allowed).
    leads
        Leads to use, in order of preference for placing the R peak (of the leads that show
        clean, tall R waves, the first one given is the location lead). Default: all leads, in
        the recording's order.

    Returns
    -------
    numpy.ndarray
        int64 sample indices at the recording's own rate, sorted and unique.

    Raises
    ------
    RecordError
        If the sampling rate is below 100 Hz; LeadError if a requested lead is absent.
    """
    rec = recording.select(leads) if leads is not None else recording
    return detect_rpeaks_array(rec.signal, rec.fs)


def detect_rpeaks_array(signal: np.ndarray, fs: float, *, params: RPeakParams | None = None) -> np.ndarray:
    """Detect R peaks in a ``[leads, samples]`` array (millivolts, NaN = missing).

    Parameters
    ----------
    signal
        ``[leads, samples]`` (or one lead as 1-D), in millivolts; leads in order of preference
        for placing the R peak.
    fs
        Sampling rate in Hz (>= 100).
    params
        Detector settings; default :class:`RPeakParams`.

    Returns
    -------
    numpy.ndarray
        int64 sample indices of the R peaks, sorted and unique. Empty when no lead is usable
        (flat or all NaN) or nothing was found (a record shorter than about one second may hold
        no complete beat).

    Raises
    ------
    RecordError
        If ``fs`` is not a number >= 100 Hz or ``signal`` is not 1-D/2-D real numbers.
    """
    return _detect(signal, fs, params or RPeakParams())[0]


# ---------------------------------------------------------------------------------------- stages
def _validate(signal: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise RecordError(f"R-peak detection: sampling rate {fs!r} is not a number") from None
    if not np.isfinite(fs) or fs < MIN_FS:
        raise RecordError(f"R-peak detection needs a sampling rate >= {MIN_FS:g} Hz, got {fs:g} Hz")
    x = np.asarray(signal)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise RecordError(f"R-peak detection: signal must be [leads, samples], got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise RecordError(f"R-peak detection: signal must be real numbers, got dtype {x.dtype}")
    return x.astype(np.float64), fs


def _fill_gaps(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Bridge missing samples linearly (a straight line has no QRS-band slope)."""
    out = x.copy()
    t = np.arange(x.shape[1])
    for i in np.flatnonzero(missing.any(axis=1)):
        ok = ~missing[i]
        out[i, ~ok] = np.interp(t[~ok], t[ok], x[i, ok]) if ok.any() else 0.0
    return out


def _segments(v: np.ndarray, seg: int, reduce: str) -> np.ndarray:
    """``reduce`` ("max" or "mean") of ``v`` over consecutive segments of ``seg`` samples."""
    nseg = -(-v.size // seg)
    pad = nseg * seg - v.size
    fill = -np.inf if reduce == "max" else np.nan
    blocks = np.concatenate([v, np.full(pad, fill)]).reshape(nseg, seg) if pad else v.reshape(nseg, seg)
    return blocks.max(axis=1) if reduce == "max" else np.nanmean(blocks, axis=1)


def _per_sample(values: np.ndarray, seg: int, n: int) -> np.ndarray:
    """Spread per-segment values to samples, interpolating between segment centres."""
    centres = (np.arange(values.size) + 0.5) * seg
    return np.interp(np.arange(n), centres, values)


def _slope_envelope(x: np.ndarray, fs: float, p: RPeakParams) -> np.ndarray:
    """RMS slope of the QRS band over a QRS width, per lead (polarity-blind, linear in mV)."""
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, p.band, btype="bandpass", fs=fs, output="sos")
    band = sosfiltfilt(sos, x, axis=1, padlen=min(3 * (2 * len(sos) + 1), x.shape[1] - 1))
    slope = np.gradient(band, axis=1) * fs
    energy = uniform_filter1d(slope * slope, max(1, round(p.mwi_s * fs)), axis=1, mode="nearest")
    return np.sqrt(np.maximum(energy, 0.0))


def _normalise_and_weigh(
    env: np.ndarray, x: np.ndarray, fs: float, p: RPeakParams
) -> tuple[np.ndarray, np.ndarray]:
    """Per lead: envelope in units of its local beat level, top-hat filtered, and quality weight."""
    from scipy.ndimage import maximum_filter1d, median_filter, minimum_filter1d

    n = env.shape[1]
    seg = max(1, round(p.segment_s * fs))
    out = np.empty_like(env)
    weights = np.empty_like(env)
    top = max(3, round(p.tophat_s * fs))
    for k, e in enumerate(env):
        # Dead segments (flat: lead off, zero-filled gaps) carry no evidence, however quiet.
        alive = _segments(x[k], seg, "max") + _segments(-x[k], seg, "max") > p.flat_mv
        if not alive.any():
            out[k], weights[k] = 0.0, 0.0
            continue
        # Beat level: running median of 2 s maxima. A segment holds at least one beat down to
        # 30 bpm, so the median is a QRS height even with noise spikes or a few pauses around.
        size = min(p.scale_segments, alive.size)
        raw_max = np.where(alive, _segments(e, seg, "max"), 0.0)
        at = np.arange(raw_max.size)
        seg_max = np.interp(at, at[alive], raw_max[alive])  # dead segments take their neighbours' level
        level = median_filter(seg_max, size=size, mode="nearest")
        level = np.maximum(level, 0.1 * np.median(seg_max) + 1e-12)  # never divide by a lull
        en = e / _per_sample(level, seg, n)
        # Excess is judged against the level with dead segments counted as zero: a lead that is
        # mostly dead has no beat level, and a burst in it is an artefact, not a QRS.
        raw_level = median_filter(raw_max, size=size, mode="mirror")
        excess = raw_max / np.maximum(raw_level, 1e-12)
        # Quality: between QRS complexes a clean lead's envelope falls near zero, so its median
        # over a segment is low; noise keeps it high (median) or throws it far above the
        # usual beats (excess). The median is taken on every 5th sample: the envelope is smooth.
        nseg = -(-n // seg)
        blocks = np.pad(en, (0, nseg * seg - n), mode="edge").reshape(nseg, seg)
        floor = np.median(blocks[:, ::5], axis=1)
        q = np.clip((p.floor_hi - floor) / (p.floor_hi - p.floor_lo), 0.0, 1.0)
        q = q / (1.0 + p.excess_gain * np.maximum(0.0, excess - p.excess_level))
        # A noisy segment spoils its neighbours' edges too: take the worst of three.
        q = minimum_filter1d(np.maximum(q, 0.01), size=min(3, q.size), mode="nearest") ** p.weight_power
        weights[k] = _per_sample(q, seg, n) * np.repeat(alive, seg)[:n]
        # Top-hat: keep peaks narrower than tophat_s (QRS), drop broad bumps (noise bursts).
        opened = maximum_filter1d(minimum_filter1d(en, top, mode="nearest"), top, mode="nearest")
        out[k] = np.minimum(en - opened, p.clip)
    return out, weights


def _median(values: deque[float]) -> float:
    """Median of a short deque (pure Python: numpy's call overhead dominates for 8 values)."""
    s = sorted(values)
    m = len(s) // 2
    return s[m] if len(s) % 2 else 0.5 * (s[m - 1] + s[m])


def _decide(fused: np.ndarray, fs: float, p: RPeakParams) -> np.ndarray:
    """Hamilton-Tompkins decision rules over the candidate peaks of the fused function."""
    from scipy.signal import find_peaks

    refractory = max(1, round(p.refractory_s * fs))
    # Candidates: local maxima; of two within the refractory period only the larger survives.
    cand, _ = find_peaks(fused, distance=refractory)
    if cand.size == 0:
        return np.zeros(0, dtype=np.int64)
    t_all = cand.tolist()
    h_all = fused[cand].tolist()
    twave = p.twave_s * fs
    # Learning period: the QRS level starts at the median of the 1 s maxima of the first 8 s.
    head = fused[: int(min(fused.size, 8 * fs))]
    start_level = float(np.median(_segments(head, max(1, int(fs)), "max")))
    qrs = deque([start_level] * 8, maxlen=8)
    noise = deque([0.0] * 8, maxlen=8)
    rr = deque([0.8 * fs] * 8, maxlen=8)
    is_qrs = [False] * len(t_all)
    last_t, last_h = None, 0.0

    def threshold() -> float:
        s, nz = _median(qrs), _median(noise)
        return nz + p.threshold * (s - nz)

    def accept(i: int) -> None:
        nonlocal last_t, last_h
        if last_t is not None:
            rr.append(t_all[i] - last_t)
        is_qrs[i] = True
        qrs.append(h_all[i])
        last_t, last_h = t_all[i], h_all[i]

    def searchback(now: float, upto: int) -> None:
        # Missed beat? After 1.5 RR intervals without a QRS, take the largest noise candidate
        # since the last QRS (not a T wave: at least 360 ms after it) above half the threshold.
        while last_t is not None and now - last_t > p.searchback_rr * _median(rr):
            lo = bisect.bisect_left(t_all, last_t + twave, 0, upto)
            floor = p.searchback_fraction * threshold()
            best, best_h = -1, floor
            for j in range(lo, upto):
                if not is_qrs[j] and h_all[j] > best_h:
                    best, best_h = j, h_all[j]
            if best < 0:
                return
            accept(best)

    for i, (t, h) in enumerate(zip(t_all, h_all, strict=True)):
        searchback(t, i)
        if last_t is not None and t - last_t < twave and h < p.twave_ratio * max(last_h, _median(qrs)):
            noise.append(h)  # T wave
        elif h > threshold():
            accept(i)
        else:
            noise.append(h)
    searchback(fused.size - 1, len(t_all))
    return cand[np.asarray(is_qrs, dtype=bool)].astype(np.int64)


def _extent(fused: np.ndarray, beats: np.ndarray, fs: float, p: RPeakParams) -> tuple[np.ndarray, np.ndarray]:
    """Samples left and right of each beat where the fused function stays above a fraction of its peak."""
    w = max(1, round(p.extent_max_s * fs))
    idx = np.clip(beats[:, None] + np.arange(-w, w + 1)[None, :], 0, fused.size - 1)
    seg = fused[idx]
    above = seg >= p.extent_fraction * seg[:, w : w + 1]
    right = np.cumprod(above[:, w:], axis=1).sum(axis=1) - 1
    left = np.cumprod(above[:, w::-1], axis=1).sum(axis=1) - 1
    return left, right


def _locate(
    x: np.ndarray, fs: float, beats: np.ndarray, left: np.ndarray, right: np.ndarray, p: RPeakParams
) -> tuple[np.ndarray, float, float]:
    """Move beats to the R-wave extremum of one lead (polarity fixed for the record).

    Returns the located samples, the lead's polarity and its suitability for locating: the median
    R-wave deflection (mV) times the fraction of beats whose deflection of that polarity is not
    dwarfed by the opposite one (a lead of consistent, tall R waves locates best).
    """
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, [0.5, min(40.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    y = sosfiltfilt(sos, x, padlen=min(3 * (2 * len(sos) + 1), x.size - 1))
    pad = round(p.locate_pad_s * fs)
    left, right = left + pad, right + pad
    w = int(max(left.max(), right.max()))
    offsets = np.arange(-w, w + 1)
    idx = np.clip(beats[:, None] + offsets[None, :], 0, x.size - 1)
    seg = y[idx]
    inside = (offsets[None, :] >= -left[:, None]) & (offsets[None, :] <= right[:, None])
    pos = np.where(inside, seg, -np.inf).max(axis=1)
    neg = -np.where(inside, seg, np.inf).min(axis=1)
    polarity = -1.0 if np.median(neg) > p.negative_bias * np.median(pos) else 1.0
    same, opposite = (pos, neg) if polarity > 0 else (neg, pos)
    k = np.argmax(np.where(inside, polarity * seg, -np.inf), axis=1)
    k_dominant = np.argmax(np.where(inside, -polarity * seg, -np.inf), axis=1)
    flip = same < p.dominant_fraction * opposite
    k = np.where(flip, k_dominant, k)
    suitability = float(np.median(same)) * float(1.0 - flip.mean())
    return idx[np.arange(beats.size), k], polarity, suitability


def _detect(signal: np.ndarray, fs: float, p: RPeakParams) -> tuple[np.ndarray, _Trace]:
    """The whole detector; returns the beats and a trace of its intermediate results."""
    from scipy.signal import resample_poly

    x, fs = _validate(signal, fs)
    trace = _Trace(fs=FS_INTERNAL)
    empty = np.zeros(0, dtype=np.int64)
    n = x.shape[1]
    if n < 2:
        return empty, trace
    missing = ~np.isfinite(x)
    has_data = ~missing.all(axis=1)
    if missing.any():
        x = _fill_gaps(x, missing)
    usable = has_data & (np.ptp(x, axis=1) > 1e-4)  # a flat lead carries no QRS
    ratio = Fraction(FS_INTERNAL / fs).limit_denominator(1000)
    up, down = ratio.numerator, ratio.denominator
    n_int = -(-n * up // down)
    if not usable.any() or n_int < 16:  # too short to filter: nothing can be found
        return empty, trace
    leads = np.flatnonzero(usable)
    xi = resample_poly(x[leads], up, down, axis=1, padtype="line") if up != down else x[leads]
    fsi = fs * up / down
    trace.fs = fsi
    env = _slope_envelope(xi, fsi, p)
    env, weights = _normalise_and_weigh(env, xi, fsi, p)
    if missing.any():
        # Internal samples whose nearest input sample is missing carry no evidence.
        nearest = np.minimum(np.round(np.arange(env.shape[1]) * down / up).astype(np.int64), n - 1)
        gap = missing[leads][:, nearest]
        env[gap] = 0.0
        weights[gap] = 0.0
    quality = weights.mean(axis=1)
    keep = quality >= p.drop_quality * quality.max() if quality.max() > 0 else np.ones(leads.size, bool)
    leads, env, weights, quality = leads[keep], env[keep], weights[keep], quality[keep]
    fused = (weights * env).sum(axis=0) / np.maximum(weights.sum(axis=0), 1e-12)
    trace.fused, trace.weights, trace.leads_used = fused, weights, leads
    beats_i = _decide(fused, fsi, p)
    trace.beats_internal = beats_i
    if beats_i.size == 0:
        return empty, trace
    left_i, right_i = _extent(fused, beats_i, fsi, p)
    scale = down / up
    beats = np.clip(np.round(beats_i * scale).astype(np.int64), 0, n - 1)
    left = np.round(left_i * scale).astype(np.int64)
    right = np.round(right_i * scale).astype(np.int64)
    # Location lead: of the leads nearly as good as the best one (quality times suitability),
    # the first in the caller's order of preference; where it is missing or dead, the next.
    found = [_locate(x[lead], fs, beats, left, right, p) for lead in leads]
    score = quality * np.array([max(f[2], 0.0) for f in found])
    good = score >= p.location_quality * score.max()
    order = [*np.flatnonzero(good), *np.flatnonzero(~good)[np.argsort(-score[~good], kind="stable")]]
    trace.location_lead, trace.polarity = int(leads[order[0]]), found[order[0]][1]
    trace.location_scores = score
    located = beats.copy()
    pending = np.ones(beats.size, dtype=bool)
    for j in order:
        pos = found[j][0]
        # A lead located on must be recorded there: not missing, not dead (zero weight).
        ok = pending & ~missing[leads[j]][pos] & (weights[j][beats_i] > 0)
        located[ok] = pos[ok]
        pending &= ~ok
    return np.unique(located), trace
