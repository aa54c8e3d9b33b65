"""Zero-phase filters for ``[leads, samples]`` ECG arrays, safe with missing (NaN) samples.

Every function takes and returns a NumPy array shaped ``[leads, samples]`` (a 1-D array is treated
as one lead and returned 1-D). Filtering is zero-phase (forward-backward, :func:`scipy.signal.sosfiltfilt`)
so R peaks do not move: beat windows cut around annotated or detected peaks stay centred.

NaN marks a missing sample in the :class:`~ecglab.io.recording.Recording` contract. An IIR filter
would smear one NaN over the whole lead, so gaps are filled by linear interpolation for filtering
and marked NaN again in the output.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ecglab.errors import RecordError

__all__ = ["bandpass", "highpass", "notch", "remove_baseline"]


# ------------------------------------------------------------------------------------------ helpers
def _as_2d(signal: np.ndarray) -> tuple[np.ndarray, bool]:
    """View ``signal`` as float64 ``[leads, samples]``; also say whether it was 1-D."""
    x = np.asarray(signal)
    if x.ndim not in (1, 2):
        raise RecordError(f"filters take [leads, samples] or [samples] arrays, got shape {x.shape}")
    if x.shape[-1] == 0:
        raise RecordError("cannot filter an empty signal")
    one_d = x.ndim == 1
    return np.atleast_2d(x).astype(np.float64, copy=False), one_d


def _check_fs(fs: float) -> float:
    fs = float(fs)
    if not np.isfinite(fs) or fs <= 0:
        raise RecordError(f"sampling rate must be > 0, got {fs!r}")
    return fs


def fill_gaps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Fill NaN gaps by linear interpolation along the last axis (edges: nearest valid value).

    Returns
    -------
    filled, mask
        The filled float64 ``[leads, samples]`` copy (or ``x`` itself if nothing was missing) and
        the boolean NaN mask (None if nothing was missing). A lead with no valid sample becomes 0.
    """
    nan = np.isnan(x)
    if not nan.any():
        return x, None
    out = x.copy()
    t = np.arange(x.shape[-1])
    for i in np.flatnonzero(nan.any(axis=1)):  # loop over leads with gaps only (a handful at most)
        ok = ~nan[i]
        out[i, ~ok] = np.interp(t[~ok], t[ok], x[i, ok]) if ok.any() else 0.0
    return out, nan


def _finish(y: np.ndarray, nan: np.ndarray | None, one_d: bool, dtype: np.dtype) -> np.ndarray:
    """Re-mark missing samples, restore the input's shape and floating dtype."""
    if nan is not None:
        y[nan] = np.nan
    y = y.astype(dtype if np.issubdtype(dtype, np.floating) else np.float64, copy=False)
    return y[0] if one_d else y


def _sosfiltfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``sosfiltfilt`` along the last axis, with the padding shortened for very short signals."""
    from scipy.signal import sosfiltfilt  # deferred: scipy.signal costs ~0.7 s to import

    # scipy's default pad length; a signal shorter than it would make sosfiltfilt raise.
    padlen = 3 * (2 * len(sos) + 1)
    return sosfiltfilt(sos, x, axis=-1, padlen=min(padlen, x.shape[-1] - 1))


@lru_cache(maxsize=64)
def _butter_sos(order: int, low: float | None, high: float | None, fs: float) -> np.ndarray:
    """Butterworth second-order sections (cached: the same design is reused for every record)."""
    from scipy.signal import butter

    if low is not None and high is not None:
        return butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    if low is not None:
        return butter(order, low, btype="highpass", fs=fs, output="sos")
    return butter(order, high, btype="lowpass", fs=fs, output="sos")


# ---------------------------------------------------------------------------------------- filters
def bandpass(
    signal: np.ndarray,
    fs: float,
    low: float | None = 0.5,
    high: float | None = 40.0,
    order: int = 2,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass filter.

    The default 0.5–40 Hz band removes baseline wander (respiration, electrode motion below
    0.5 Hz) and mains interference and EMG above 40 Hz, while keeping the QRS energy (5–25 Hz)
    and the P and T waves. ``order`` is the design order of one pass; forward-backward filtering
    squares the magnitude response (-6 dB instead of -3 dB at the edges) and doubles the roll-off.
    The default order 2 gives a gentle roll-off that rings little around sharp QRS complexes.

    Parameters
    ----------
    signal
        ``[leads, samples]`` (or ``[samples]``) array; NaN marks missing samples.
    fs
        Sampling rate in Hz.
    low, high
        Pass-band edges in Hz. ``low=None`` gives a low-pass filter, ``high=None`` a high-pass
        filter. A ``high`` at or above 0.95 × Nyquist cannot be honoured and is dropped (high-pass
        only), because the signal holds nothing above Nyquist to remove.
    order
        Butterworth design order (per pass).

    Returns
    -------
    np.ndarray
        Filtered array of the input's shape and floating dtype, NaN where the input was NaN.
    """
    fs = _check_fs(fs)
    x, one_d = _as_2d(signal)
    nyq = fs / 2
    if high is not None and high >= 0.95 * nyq:
        high = None
    if low is not None and not 0 < low < nyq:
        raise RecordError(f"band-pass low edge {low} Hz must lie in (0, {nyq:g}) Hz at fs={fs:g} Hz")
    if high is not None and high <= 0:
        raise RecordError(f"band-pass high edge must be > 0 Hz, got {high}")
    if low is not None and high is not None and low >= high:
        raise RecordError(f"band-pass low edge {low} Hz must be below the high edge {high} Hz")
    if low is None and high is None:
        return np.array(signal, copy=True)
    filled, nan = fill_gaps(x)
    sos = _butter_sos(int(order), low, high, fs)
    return _finish(_sosfiltfilt(sos, filled), nan, one_d, np.asarray(signal).dtype)


def highpass(signal: np.ndarray, fs: float, cutoff: float = 0.5, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth high-pass filter (baseline-wander removal); NaN-safe like :func:`bandpass`."""
    return bandpass(signal, fs, low=cutoff, high=None, order=order)


def notch(signal: np.ndarray, fs: float, freq: float = 50.0, quality: float = 30.0) -> np.ndarray:
    """Zero-phase IIR notch at the mains frequency (50 Hz in Europe, 60 Hz in the Americas).

    Not part of the beat pipeline (its 40 Hz low-pass edge already removes mains), but useful for
    display and for wide-band analyses.

    Parameters
    ----------
    freq
        Centre frequency in Hz; must be below Nyquist.
    quality
        Quality factor: the -3 dB width of the notch is ``freq / quality`` Hz.
    """
    from scipy.signal import iirnotch, tf2sos

    fs = _check_fs(fs)
    if not 0 < freq < fs / 2:
        raise RecordError(f"notch frequency {freq} Hz must lie in (0, {fs / 2:g}) Hz at fs={fs:g} Hz")
    x, one_d = _as_2d(signal)
    filled, nan = fill_gaps(x)
    b, a = iirnotch(freq, quality, fs=fs)
    return _finish(_sosfiltfilt(tf2sos(b, a), filled), nan, one_d, np.asarray(signal).dtype)


def remove_baseline(
    signal: np.ndarray,
    fs: float,
    method: str = "median",
    windows_s: tuple[float, float] = (0.2, 0.6),
    cutoff: float = 0.5,
) -> np.ndarray:
    """Remove baseline wander.

    Parameters
    ----------
    method
        ``"median"``: subtract a baseline estimated by two cascaded median filters of
        ``windows_s`` seconds (200 ms removes the QRS and P wave, 600 ms the T wave; de Chazal et
        al. 2004). It leaves the ST level untouched, unlike a high-pass filter, but is slower.
        ``"highpass"``: zero-phase Butterworth high-pass at ``cutoff`` Hz (fast).
    windows_s
        Median filter lengths in seconds (rounded to an odd number of samples).
    cutoff
        High-pass cut-off in Hz for ``method="highpass"``.

    Returns
    -------
    np.ndarray
        The signal minus its baseline, the input's shape and floating dtype, NaN where it was NaN.
    """
    fs = _check_fs(fs)
    if method == "highpass":
        return highpass(signal, fs, cutoff=cutoff)
    if method != "median":
        raise RecordError(f"unknown baseline method {method!r} (choose 'median' or 'highpass')")
    from scipy.ndimage import median_filter

    x, one_d = _as_2d(signal)
    filled, nan = fill_gaps(x)
    baseline = filled
    for w in windows_s:
        k = max(1, round(w * fs) // 2 * 2 + 1)  # odd length keeps the filter centred
        baseline = median_filter(baseline, size=(1, k), mode="nearest")
    return _finish(filled - baseline, nan, one_d, np.asarray(signal).dtype)
