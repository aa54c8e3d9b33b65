"""Turn any :class:`~ecglab.io.recording.Recording` into the fixed array a 12-lead model expects.

The same function prepares training records and records at inference, so a model always sees
what it was trained on. The steps, in order:

1. select the spec's leads in the spec's order (a missing lead raises :class:`LeadError` naming it,
   or becomes a row of zeros with ``missing="zeros"``);
2. mains notch at the record's own rate (at a model rate of 100 Hz, 50 Hz is the Nyquist
   frequency and could not be notched after resampling); skipped for a record whose rate is too
   low to hold the mains frequency;
3. resample to the model rate (:meth:`Recording.resample`, polyphase with anti-aliasing);
4. zero-phase Butterworth band-pass (:func:`ecglab.signal.filters.bandpass`);
5. z-score per lead over the valid samples, with a floor on the standard deviation so a flat lead
   is not blown up into noise;
6. missing (NaN) samples set to 0, the mean of a z-scored lead.

Filters come from :mod:`ecglab.signal.filters`, which fills NaN gaps for filtering and marks
them again afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from ecglab.errors import ConfigError, LeadError
from ecglab.io.leads import LEAD_SUBSETS, normalize_leads
from ecglab.io.recording import Recording
from ecglab.signal.filters import bandpass as bandpass_filter
from ecglab.signal.filters import notch as notch_filter

__all__ = ["LEAD_SETS", "PreprocessSpec", "crop_or_pad", "preprocess_recording", "sliding_windows"]

#: Lead sets of the PhysioNet/CinC Challenge 2021 (12, 6, 4, 3 and 2 leads).
LEAD_SETS: dict[int, tuple[str, ...]] = dict(LEAD_SUBSETS)

Normalize = Literal["zscore", "none"]
Missing = Literal["error", "zeros"]
PadMode = Literal["end", "symmetric"]


def resolve_leads(leads: int | str | Sequence[str]) -> tuple[str, ...]:
    """Lead names of a lead-set size (``12``, ``"6"``, ``"4-lead"``) or of an explicit list."""
    if isinstance(leads, (int, np.integer)) or (isinstance(leads, str) and leads.split("-")[0].isdigit()):
        size = int(str(leads).split("-")[0])
        if size not in LEAD_SETS:
            raise ConfigError(f"lead set {leads!r} unknown (choose from {', '.join(map(str, LEAD_SETS))})")
        return LEAD_SETS[size]
    if isinstance(leads, str):
        leads = [leads]
    names = normalize_leads(list(leads), where="preprocess spec")
    if not names:
        raise ConfigError("preprocess spec names no lead")
    return names


@dataclass(frozen=True)
class PreprocessSpec:
    """How records are prepared for a model.

    Attributes
    ----------
    fs
        Model sampling rate in Hz (100-500 typically).
    leads
        Lead names, or a lead-set size of :data:`LEAD_SETS` (``12``, ``6``, ``4``, ``3``, ``2``);
        stored as the tuple of names.
    bandpass
        ``(low, high)`` pass band in Hz (either may be None for high-/low-pass), or None for no
        band-pass. A high edge at or above 0.95 x Nyquist is dropped by the filter.
    notch
        Mains frequency to notch (50 or 60 Hz), or None.
    normalize
        ``"zscore"`` per lead, or ``"none"`` (millivolts as recorded).
    missing
        ``"error"``: a missing lead raises :class:`LeadError`; ``"zeros"``: it becomes zeros.
    std_floor
        Smallest standard deviation (mV) a lead is divided by in z-scoring.
    """

    fs: float = 100.0
    leads: int | str | Sequence[str] = 12
    bandpass: tuple[float | None, float | None] | None = (0.5, 40.0)
    notch: float | None = None
    normalize: Normalize = "zscore"
    missing: Missing = "error"
    std_floor: float = 0.01

    def __post_init__(self) -> None:
        fs = float(self.fs)
        if not np.isfinite(fs) or fs <= 0:
            raise ConfigError(f"preprocess fs must be > 0 Hz, got {self.fs!r}")
        object.__setattr__(self, "fs", fs)
        object.__setattr__(self, "leads", resolve_leads(self.leads))
        if self.bandpass is not None:
            band = tuple(None if v is None else float(v) for v in self.bandpass)
            if len(band) != 2 or band == (None, None):
                raise ConfigError(
                    f"bandpass must be (low, high) with at least one edge, got {self.bandpass!r}"
                )
            object.__setattr__(self, "bandpass", band)
        if self.notch is not None and float(self.notch) <= 0:
            raise ConfigError(f"notch frequency must be > 0 Hz, got {self.notch!r}")
        if self.normalize not in ("zscore", "none"):
            raise ConfigError(f"normalize {self.normalize!r} unknown (choose 'zscore' or 'none')")
        if self.missing not in ("error", "zeros"):
            raise ConfigError(f"missing {self.missing!r} unknown (choose 'error' or 'zeros')")
        if not self.std_floor > 0:
            raise ConfigError(f"std_floor must be > 0, got {self.std_floor!r}")

    @property
    def n_leads(self) -> int:
        """Number of leads (rows) of a prepared array."""
        return len(self.leads)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for caches, checkpoints and configs)."""
        out = asdict(self)
        out["leads"] = list(self.leads)
        out["bandpass"] = None if self.bandpass is None else list(self.bandpass)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"unknown preprocess key(s) {', '.join(unknown)}")
        data = dict(data)
        if data.get("bandpass") is not None:
            data["bandpass"] = tuple(data["bandpass"])
        return cls(**data)


def preprocess_recording(rec: Recording, spec: PreprocessSpec) -> np.ndarray:
    """Prepare ``rec`` for a model: float32 ``[len(spec.leads), n]`` at ``spec.fs`` (steps: module doc).

    Raises
    ------
    LeadError
        If a lead of the spec is absent and ``spec.missing == "error"`` (the message names it).
    """
    present = [lead for lead in spec.leads if lead in rec.leads]
    if spec.missing == "error" or len(present) == len(spec.leads):
        rec = rec.select(spec.leads)  # raises LeadError naming the missing leads
    elif present:
        rec = rec.select(present)
    else:
        raise LeadError(
            f"record {rec.record_id!r}: none of the leads {', '.join(spec.leads)} is present "
            f"(has: {', '.join(rec.leads)})"
        )
    x = rec.signal
    if spec.notch is not None and spec.notch < rec.fs / 2:
        x = notch_filter(x, rec.fs, freq=float(spec.notch))
        rec = rec.replace(signal=x)
    rec = rec.resample(spec.fs)
    x = rec.signal.astype(np.float64)
    if spec.bandpass is not None:
        x = bandpass_filter(x, spec.fs, low=spec.bandpass[0], high=spec.bandpass[1])
    nan = np.isnan(x)
    if spec.normalize == "zscore":
        # nanmean/nanstd: missing samples do not bias a lead's statistics.
        mean = np.nanmean(x, axis=1, keepdims=True)
        std = np.nanstd(x, axis=1, keepdims=True)
        x = (x - mean) / np.maximum(std, spec.std_floor)
    x[nan] = 0.0
    if len(present) == len(spec.leads):
        return x.astype(np.float32)
    out = np.zeros((len(spec.leads), x.shape[1]), dtype=np.float32)
    rows = [spec.leads.index(lead) for lead in rec.leads]
    out[rows] = x
    return out


def crop_or_pad(
    x: np.ndarray, length: int, rng: np.random.Generator | None = None, *, pad: PadMode = "end"
) -> np.ndarray:
    """Cut or zero-pad ``x [leads, n]`` to ``[leads, length]``.

    Parameters
    ----------
    rng
        Random crop start when given (training); centre crop otherwise (evaluation).
    pad
        Where the zeros of a short record go: ``"end"`` (the record starts at sample 0, as the
        challenge's reference models pad) or ``"symmetric"`` (record centred, extra zero at the end).

    Returns
    -------
    np.ndarray
        A new float32 array.
    """
    if length <= 0:
        raise ConfigError(f"crop length must be > 0 samples, got {length}")
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[-1]
    if n >= length:
        start = int(rng.integers(0, n - length + 1)) if rng is not None else (n - length) // 2
        return x[..., start : start + length].copy()
    if pad not in ("end", "symmetric"):
        raise ConfigError(f"pad {pad!r} unknown (choose 'end' or 'symmetric')")
    out = np.zeros((*x.shape[:-1], length), dtype=np.float32)
    before = (length - n) // 2 if pad == "symmetric" else 0
    out[..., before : before + n] = x
    return out


def sliding_windows(x: np.ndarray, length: int, step: int, *, pad: PadMode = "end") -> np.ndarray:
    """Windows ``[n_windows, leads, length]`` covering all of ``x [leads, n]``, for inference.

    Windows start every ``step`` samples; when they do not reach the end, one more window is
    aligned with the end, so no sample is left out. A record shorter than ``length`` gives one
    zero-padded window (see :func:`crop_or_pad`).
    """
    if step <= 0:
        raise ConfigError(f"window step must be > 0 samples, got {step}")
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[-1]
    if n <= length:
        return crop_or_pad(x, length, pad=pad)[None]
    starts = list(range(0, n - length + 1, step))
    if starts[-1] + length < n:
        starts.append(n - length)
    views = np.lib.stride_tricks.sliding_window_view(x, length, axis=-1)  # [leads, n-length+1, length]
    return np.ascontiguousarray(np.moveaxis(views[:, starts], 1, 0))
