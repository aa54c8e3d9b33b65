"""The one in-memory contract for an ECG recording.

A :class:`Recording` holds a float32 ``[leads, samples]`` signal in millivolts, its sampling rate,
canonical lead names, an id, metadata and optional beat/rhythm annotations. It validates itself on
construction, so every stage downstream may rely on the contract instead of re-checking it. NaN is
the explicit marker of a missing sample; infinities are refused, and so is a lead with no valid
sample at all.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ecglab.errors import RecordError
from ecglab.io.leads import lead_indices, normalize_leads


@dataclass(frozen=True)
class Annotations:
    """Point annotations of a recording (beats, rhythm changes, noise marks).

    Attributes
    ----------
    sample
        int64 sample indices, in the recording's own sampling rate, sorted ascending.
    symbol
        One annotation code per sample (MIT symbols such as ``N``, ``V``, ``+``).
    aux
        Free text per annotation (rhythm labels such as ``(AFIB``), ``""`` where none.
    chan
        Signal index each annotation refers to (WFDB ``chan``), 0 by default.
    """

    sample: np.ndarray
    symbol: tuple[str, ...]
    aux: tuple[str, ...] = ()
    chan: np.ndarray | None = None

    def __post_init__(self) -> None:
        sample = np.asarray(self.sample, dtype=np.int64).reshape(-1)
        n = sample.size
        symbol = tuple(str(s) for s in self.symbol)
        aux = tuple(str(a) for a in self.aux) if len(self.aux) else ("",) * n
        chan = np.zeros(n, dtype=np.int64) if self.chan is None else np.asarray(self.chan, dtype=np.int64)
        if len(symbol) != n or len(aux) != n or chan.size != n:
            raise RecordError(
                f"annotation fields disagree in length: {n} samples, {len(symbol)} symbols, "
                f"{len(aux)} aux, {chan.size} chan"
            )
        if n and np.any(np.diff(sample) < 0):
            order = np.argsort(sample, kind="stable")
            sample, chan = sample[order], chan[order]
            symbol = tuple(symbol[i] for i in order)
            aux = tuple(aux[i] for i in order)
        object.__setattr__(self, "sample", sample)
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "aux", aux)
        object.__setattr__(self, "chan", chan)

    def __len__(self) -> int:
        return int(self.sample.size)

    def counts(self) -> dict[str, int]:
        """Number of annotations per symbol, most frequent first."""
        return dict(Counter(self.symbol).most_common())

    def take(self, mask: np.ndarray) -> Annotations:
        """Subset by a boolean mask or index array."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask, dtype=np.int64)
        return Annotations(
            sample=self.sample[idx],
            symbol=tuple(self.symbol[i] for i in idx),
            aux=tuple(self.aux[i] for i in idx),
            chan=self.chan[idx],
        )

    def shifted(self, offset: int) -> Annotations:
        """Copy with every sample index moved by ``offset``."""
        return dataclasses.replace(self, sample=self.sample + int(offset))

    def equals(self, other: Annotations) -> bool:
        """True if both hold the same annotations."""
        return (
            np.array_equal(self.sample, other.sample)
            and self.symbol == other.symbol
            and self.aux == other.aux
            and np.array_equal(self.chan, other.chan)
        )


@dataclass(frozen=True)
class Recording:
    """An ECG recording in the ecglab contract.

    Attributes
    ----------
    signal
        float32 array ``[leads, samples]`` in millivolts; NaN marks a missing sample.
    fs
        Sampling rate in Hz (> 0).
    leads
        Canonical lead names (see :mod:`ecglab.io.leads`), one per row of ``signal``.
    record_id
        Identifier of the record (the WFDB record name, the challenge id, ...).
    meta
        Metadata: ``age`` (float or None), ``sex`` ("M", "F" or None), ``dx`` (SNOMED CT codes as
        strings), ``comments`` (free text), ``source`` (reader and path) and reader-specific keys
        (``wfdb``: per-channel format, gain, baseline, units as found in the header).
    annotations
        Optional :class:`Annotations` with sample indices at ``fs``.
    units
        Always ``"mV"``: readers convert from the file's units, never guess them.
    """

    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]
    record_id: str = "record"
    meta: dict[str, Any] = field(default_factory=dict)
    annotations: Annotations | None = None
    units: str = "mV"

    def __post_init__(self) -> None:
        where = f"record {self.record_id!r}"
        signal = np.asarray(self.signal)
        if signal.ndim == 1:
            signal = signal[None, :]
        if signal.ndim != 2:
            raise RecordError(f"{where}: signal must be 2-D [leads, samples], got shape {signal.shape}")
        if not np.issubdtype(signal.dtype, np.number) or np.iscomplexobj(signal):
            raise RecordError(f"{where}: signal must be real numbers, got dtype {signal.dtype}")
        signal = np.ascontiguousarray(signal, dtype=np.float32)
        leads = normalize_leads(self.leads, allow_unknown=True, where=where)
        if len(leads) != signal.shape[0]:
            raise RecordError(
                f"{where}: {signal.shape[0]} signal rows but {len(leads)} lead names ({', '.join(leads)})"
            )
        if signal.shape[1] == 0:
            raise RecordError(f"{where}: signal has no samples")
        try:
            fs = float(self.fs)
        except (TypeError, ValueError):
            raise RecordError(f"{where}: sampling rate {self.fs!r} is not a number") from None
        if not np.isfinite(fs) or fs <= 0:
            raise RecordError(f"{where}: sampling rate must be > 0, got {self.fs!r}")
        if self.units != "mV":
            raise RecordError(f"{where}: Recording holds millivolts; convert {self.units!r} with a reader")
        if np.isinf(signal).any():
            bad = [leads[i] for i in np.flatnonzero(np.isinf(signal).any(axis=1))]
            raise RecordError(f"{where}: infinite values in lead(s) {', '.join(bad)}")
        empty = np.isnan(signal).all(axis=1)
        if empty.any():
            bad = [leads[i] for i in np.flatnonzero(empty)]
            raise RecordError(f"{where}: lead(s) {', '.join(bad)} hold no valid sample (all NaN)")
        if self.annotations is not None and not isinstance(self.annotations, Annotations):
            raise RecordError(f"{where}: annotations must be an Annotations object")
        object.__setattr__(self, "signal", signal)
        object.__setattr__(self, "fs", fs)
        object.__setattr__(self, "leads", leads)
        object.__setattr__(self, "record_id", str(self.record_id))
        object.__setattr__(self, "meta", dict(self.meta))

    # ----------------------------------------------------------------------------------- views
    @property
    def n_leads(self) -> int:
        """Number of leads."""
        return int(self.signal.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of samples per lead."""
        return int(self.signal.shape[1])

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.n_samples / self.fs

    @property
    def missing_fraction(self) -> dict[str, float]:
        """Fraction of NaN (missing) samples per lead."""
        frac = np.isnan(self.signal).mean(axis=1)
        return {lead: float(f) for lead, f in zip(self.leads, frac, strict=True)}

    def __repr__(self) -> str:
        n_ann = len(self.annotations) if self.annotations is not None else 0
        return (
            f"Recording(id={self.record_id!r}, leads={list(self.leads)}, fs={self.fs:g} Hz, "
            f"samples={self.n_samples}, duration={self.duration:.2f} s, annotations={n_ann})"
        )

    def replace(self, **changes: Any) -> Recording:
        """Copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------------------ transforms
    def select(self, leads: Sequence[str] | str) -> Recording:
        """Keep only ``leads``, in the order given.

        Raises
        ------
        LeadError
            If a requested lead is absent (the message lists those present).
        """
        wanted = [leads] if isinstance(leads, str) else list(leads)
        idx = lead_indices(self.leads, wanted, where=f"record {self.record_id!r}")
        ann = self.annotations
        if ann is not None:
            # Annotations on a dropped channel are kept but re-pointed at the first selected lead:
            # beat labels of MIT-BIH refer to the record, not to one channel.
            remap = {old: new for new, old in enumerate(idx)}
            ann = dataclasses.replace(ann, chan=np.array([remap.get(int(c), 0) for c in ann.chan], np.int64))
        return self.replace(signal=self.signal[idx], leads=tuple(self.leads[i] for i in idx), annotations=ann)

    def crop(self, start: int | None = None, stop: int | None = None) -> Recording:
        """Keep samples ``start:stop`` (sample indices, Python slice rules with bounds checked).

        Annotations inside the window are kept and shifted so they still point at the same beats.
        """
        n = self.n_samples
        lo = 0 if start is None else int(start)
        hi = n if stop is None else int(stop)
        lo, hi = (lo + n if lo < 0 else lo), (hi + n if hi < 0 else hi)
        if not 0 <= lo < hi <= n:
            raise RecordError(
                f"record {self.record_id!r}: crop [{start}, {stop}) is empty or outside 0..{n} samples"
            )
        ann = self.annotations
        if ann is not None:
            ann = ann.take((ann.sample >= lo) & (ann.sample < hi)).shifted(-lo)
        return self.replace(signal=self.signal[:, lo:hi], annotations=ann)

    def crop_seconds(self, start: float | None = None, stop: float | None = None) -> Recording:
        """Like :meth:`crop` with times in seconds."""
        lo = None if start is None else round(start * self.fs)
        hi = None if stop is None else round(stop * self.fs)
        return self.crop(lo, hi)

    def resample(self, fs: float) -> Recording:
        """Resample to ``fs`` Hz with a polyphase anti-aliasing filter.

        Annotation samples are mapped to the nearest sample at the new rate. Missing (NaN) samples
        stay missing: the gaps are filled for filtering and re-marked afterwards.
        """
        from scipy.signal import resample_poly  # deferred: scipy.signal costs ~0.7 s to import

        fs = float(fs)
        if not np.isfinite(fs) or fs <= 0:
            raise RecordError(f"record {self.record_id!r}: target sampling rate must be > 0, got {fs!r}")
        if fs == self.fs:
            return self
        ratio = Fraction(fs / self.fs).limit_denominator(1000)
        up, down = ratio.numerator, ratio.denominator
        if abs(up / down - fs / self.fs) > 1e-9 * fs / self.fs:
            raise RecordError(
                f"record {self.record_id!r}: cannot resample {self.fs:g} Hz to {fs:g} Hz exactly"
            )
        x = self.signal.astype(np.float64)
        nan = np.isnan(x)
        if nan.any():
            x = _fill_gaps(x, nan)
        y = resample_poly(x, up, down, axis=1, padtype="line")
        if nan.any():
            # A new sample is missing if its nearest old sample was missing.
            t_old = np.minimum(np.round(np.arange(y.shape[1]) * down / up).astype(np.int64), x.shape[1] - 1)
            y[nan[:, t_old]] = np.nan
        ann = self.annotations
        if ann is not None:
            new = np.round(ann.sample * (up / down)).astype(np.int64)
            ann = dataclasses.replace(ann, sample=np.clip(new, 0, y.shape[1] - 1))
        meta = {**self.meta, "resampled_from_fs": self.meta.get("resampled_from_fs", self.fs)}
        return self.replace(signal=y.astype(np.float32), fs=fs, annotations=ann, meta=meta)


def _fill_gaps(x: np.ndarray, nan: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN gaps, row by row (rows are never all NaN by contract)."""
    out = x.copy()
    t = np.arange(x.shape[1])
    for i in np.flatnonzero(nan.any(axis=1)):
        ok = ~nan[i]
        out[i, ~ok] = np.interp(t[~ok], t[ok], x[i, ok])
    return out


def stack_leads(recordings: Iterable[Recording]) -> np.ndarray:
    """Stack equally shaped recordings into ``[n, leads, samples]`` (checks fs and leads agree)."""
    recs = list(recordings)
    if not recs:
        raise RecordError("no recordings to stack")
    first = recs[0]
    for r in recs[1:]:
        if r.fs != first.fs or r.leads != first.leads or r.n_samples != first.n_samples:
            raise RecordError(
                f"record {r.record_id!r} differs from {first.record_id!r} in fs, leads or length"
            )
    return np.stack([r.signal for r in recs])
