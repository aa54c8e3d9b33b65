"""Find the ECG paper grid's scale: pixels per millimetre along x and y, with a confidence.

The grid-strength image (see :func:`ecglab.digitize.image.grid_strength`) is summed along columns
(vertical lines) and rows (horizontal lines). The autocorrelation of each profile finds the line
period: the first strong peak is the 1 mm minor period when minor lines are printed, and the 5 mm
major period otherwise. Which one it is shows when the profile is folded at five periods: with
minor lines one of the five folded lines (the major one) is clearly stronger than the others.
The period is refined to a small fraction of a pixel by maximising the summed power of the
profile's Fourier harmonics at non-integer frequencies (a line grid is a comb, whose harmonics
pin the period much more finely than one autocorrelation lag).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.ndimage
import scipy.signal

from ecglab.digitize.errors import GridError
from ecglab.digitize.image import grid_strength, normalise, trace_mask

#: Below this confidence the grid scale is not trusted (the caller falls back on the trace).
MIN_CONFIDENCE = 0.15
_MIN_PERIOD_PX = 2.5  # a 1 mm grid at 64 DPI


@dataclass
class GridInfo:
    """The grid's scale.

    Attributes
    ----------
    px_per_mm_x, px_per_mm_y
        Pixels per millimetre along x and y; NaN when no grid was found.
    confidence
        0..1: the normalised autocorrelation of the profiles at the 5 mm period (mean of x and y).
    source
        ``minor`` (1 mm lines measured), ``major`` (only 5 mm lines resolved) or ``none``.
    notes
        Anything worth reporting (e.g. x and y scales disagreeing, the calibration pulse check).
    """

    px_per_mm_x: float
    px_per_mm_y: float
    confidence: float
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """True when the grid scale is usable."""
        return self.source != "none" and self.confidence >= MIN_CONFIDENCE

    @property
    def px_per_mm(self) -> float:
        """Mean of the x and y scales."""
        return (self.px_per_mm_x + self.px_per_mm_y) / 2


@dataclass(frozen=True)
class AxisPeriod:
    """Grid period along one axis: ``mm_px`` pixels per mm, ``source`` and ``confidence``."""

    mm_px: float
    source: str
    confidence: float


def detect_grid(image: np.ndarray, *, strength: np.ndarray | None = None) -> GridInfo:
    """Measure the grid of a (de-rotated) ECG image.

    Parameters
    ----------
    image
        ``[H, W, 3]`` uint8 RGB, grid lines parallel to the axes (see :func:`rectify`).
    strength
        Precomputed grid strength (``[H, W]`` float); computed from ``image`` when None.

    Returns
    -------
    GridInfo
        ``source='none'`` and NaN scales when neither axis shows a periodic grid.
    """
    if strength is None:
        norm = normalise(image)
        strength = grid_strength(norm, trace_mask(norm))
    x = axis_period(strength.sum(axis=0, dtype=np.float64))  # vertical lines: column profile
    y = axis_period(strength.sum(axis=1, dtype=np.float64))
    notes: list[str] = []
    if x is None and y is None:
        return GridInfo(float("nan"), float("nan"), 0.0, "none", ["no periodic grid found"])
    if x is None or y is None:
        only = x or y
        assert only is not None
        notes.append("grid period found along one axis only; used for both")
        x = y = only
    source = "minor" if x.source == y.source == "minor" else "major"
    confidence = float(np.clip((x.confidence + y.confidence) / 2, 0.0, 1.0))
    if abs(x.mm_px / y.mm_px - 1) > 0.08:
        # ECG paper has square cells: scales this far apart are not one grid (or a strong skew).
        notes.append(f"grid scales differ: x {x.mm_px:.3f} vs y {y.mm_px:.3f} px/mm")
        confidence *= 0.5
    return GridInfo(x.mm_px, y.mm_px, confidence, source, notes)


def require_grid(grid: GridInfo, where: str = "image") -> GridInfo:
    """Return ``grid`` if usable, else raise :class:`GridError`."""
    if not grid.found:
        raise GridError(f"{where}: no ECG paper grid found (confidence {grid.confidence:.2f})")
    return grid


def _autocorrelation(profile: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation (lag 0 = 1) of a detrended profile, via FFT."""
    p = profile - scipy.ndimage.uniform_filter1d(profile, size=max(9, profile.size // 20), mode="nearest")
    p = p - p.mean()
    n = p.size
    spec = np.fft.rfft(p, 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:n]
    # Unbiased: divide by the number of overlapping samples, so long lags are not damped.
    ac = ac / np.maximum(n - np.arange(n), 1)
    return ac / ac[0] if ac[0] > 0 else ac * 0


def axis_period(profile: np.ndarray) -> AxisPeriod | None:
    """Pixels per mm along one axis from a grid-line profile, or None if it is not periodic.

    Parameters
    ----------
    profile
        Summed grid strength along the other axis.
    """
    profile = np.asarray(profile, np.float64)
    n = profile.size
    if n < 64 or not np.any(profile > 0):
        return None
    ac = _autocorrelation(profile)
    max_lag = n // 4
    peaks, _ = scipy.signal.find_peaks(ac[:max_lag], height=0.2)
    peaks = peaks[peaks >= _MIN_PERIOD_PX]
    if peaks.size == 0:
        return None
    first = int(peaks[0])
    period = refine_period(profile, _parabolic(ac, first), rel_range=0.12)
    # Minor lines printed: folding the profile at five periods shows one line (the 5 mm major one)
    # clearly stronger than the other four. With major lines only, all five look alike.
    five = refine_period(profile, 5 * period, rel_range=0.01)
    strength = _fold_peaks(profile, five, period)
    minor = (
        5 * period < max_lag
        and strength is not None
        and strength[0] > _MAJOR_CONTRAST * np.median(strength[1:])
    )
    if not minor and period < 5 * _MIN_PERIOD_PX and 5 * period < max_lag:
        # A 5 mm period this short would be below 64 DPI: the lines are minor ones whose major
        # lines do not stand out (ecg-image-kit's random colours: dark blue minor lines, lighter
        # green major ones, which the strongest-line test above misses).
        minor = True
    major_period = five if minor else period
    if major_period < 5 * _MIN_PERIOD_PX:
        return None
    refined = refine_period(profile, major_period, rel_range=0.01)
    k = round(refined)
    confidence = float(ac[max(k - 1, 0) : k + 2].max()) if k + 2 < n else float(ac[first])
    return AxisPeriod(refined / 5.0, "minor" if minor else "major", confidence)


def line_period(profile: np.ndarray, min_height: float = 0.3) -> float | None:
    """The repeat, in pixels, of a line profile: its first autocorrelation peak of at least
    ``min_height`` (sub-pixel), or None when nothing repeats that strongly."""
    profile = np.asarray(profile, np.float64)
    if profile.size < 64 or not np.any(profile > 0):
        return None
    ac = _autocorrelation(profile)
    peaks, _ = scipy.signal.find_peaks(ac[: profile.size // 4], height=min_height)
    peaks = peaks[peaks >= _MIN_PERIOD_PX]
    if peaks.size == 0:
        return None
    return _parabolic(ac, int(peaks[0]))


_MAJOR_CONTRAST = 2.0  # the major line's folded strength over the minor lines' median


def _fold_peaks(profile: np.ndarray, big: float, small: float) -> np.ndarray | None:
    """Folded line strengths: the profile averaged at phase ``x mod big``, sampled at the strongest
    phase and the four phases ``small`` apart (strongest first)."""
    p = profile - scipy.ndimage.uniform_filter1d(profile, size=max(9, profile.size // 20), mode="nearest")
    bins = max(round(big), 5)
    phase = np.floor((np.arange(p.size) % big) / big * bins).astype(np.int64)
    total = np.bincount(phase, weights=p, minlength=bins)
    count = np.bincount(phase, minlength=bins)
    if (count == 0).any():
        return None
    folded = total / count
    top = int(np.argmax(folded))
    step = small / big * bins
    picks = [top]
    for j in range(1, 5):
        c = round(top + j * step) % bins
        picks.append(max((c - 1) % bins, c, (c + 1) % bins, key=lambda i: folded[i]))
    return folded[picks]


def _parabolic(y: np.ndarray, i: int) -> float:
    """Sub-sample position of the peak at ``i`` from a parabola through it and its neighbours."""
    if i <= 0 or i >= y.size - 1:
        return float(i)
    a, b, c = y[i - 1], y[i], y[i + 1]
    denom = a - 2 * b + c
    return float(i + 0.5 * (a - c) / denom) if denom < 0 else float(i)


def refine_period(profile: np.ndarray, period: float, rel_range: float = 0.03) -> float:
    """The period near ``period`` maximising the summed power of the profile's harmonics.

    Written by hand: the power is evaluated at non-integer frequencies ``h / P`` (a DFT on a fine
    period grid), which ``numpy.fft`` on the integer bins cannot resolve.
    """
    p = np.asarray(profile, np.float64)
    p = p - scipy.ndimage.uniform_filter1d(p, size=max(9, p.size // 20), mode="nearest")
    p = p * np.hanning(p.size)
    x = np.arange(p.size, dtype=np.float64)
    n_harm = int(max(1, min(12, period / 3)))
    harmonics = np.arange(1, n_harm + 1, dtype=np.float64)
    best = period
    for half, steps in ((rel_range, 41), (rel_range / 15, 21)):
        cands = best * (1 + np.linspace(-half, half, steps))
        freqs = (harmonics[None, :] / cands[:, None]).ravel()
        # Power at every (candidate, harmonic) frequency, summed over harmonics.
        phase = np.exp(-2j * np.pi * np.outer(freqs, x))
        power = np.abs(phase @ p).reshape(cands.size, n_harm) ** 2
        score = power.sum(axis=1)
        i = int(np.argmax(score))
        best = float(cands[i])
        if 0 < i < cands.size - 1:
            step = cands[1] - cands[0]
            a, b, c = score[i - 1], score[i], score[i + 1]
            denom = a - 2 * b + c
            if denom < 0:
                best += float(0.5 * (a - c) / denom * step)
    return best
