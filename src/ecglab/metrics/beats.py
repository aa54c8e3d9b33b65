"""Beat-by-beat scoring of a QRS (R-peak) detector, as ANSI/AAMI EC57 does it.

A detection is a true positive (TP) when it lies within ``tolerance_s`` (EC57: 150 ms) of a
reference beat, each reference beat and each detection being matched at most once. Unmatched
reference beats are false negatives (FN), unmatched detections false positives (FP). From these:

* sensitivity ``Se = TP / (TP + FN)``,
* positive predictivity ``PPV = TP / (TP + FP)``,
* ``F1 = 2 TP / (2 TP + FN + FP)``.

Reference beats are the annotations whose MIT code is a beat (:data:`BEAT_SYMBOLS`). As in EC57,
ventricular flutter/fibrillation episodes (between ``[`` and ``]``) are not scored: neither the
reference beats nor the detections inside them count. Over a database, EC57 reports *gross*
statistics: TP, FN and FP summed over records before the ratios are taken
(:func:`aggregate_scores`), so long records weigh more than short ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ecglab.errors import RecordError
from ecglab.io.recording import Annotations

#: MIT annotation codes that mark a beat (QRS complex). Everything else (rhythm ``+``, noise
#: ``~``, artefact ``|``, non-conducted P ``x``, flutter wave ``!``, comment ``"``, episode
#: brackets ``[`` ``]``) is not a beat.
BEAT_SYMBOLS: frozenset[str] = frozenset(
    ("N", "L", "R", "B", "A", "a", "J", "S", "V", "r", "F", "e", "j", "n", "E", "/", "f", "Q", "?")
)

#: Codes opening and closing a ventricular flutter/fibrillation episode.
_FLUTTER_OPEN, _FLUTTER_CLOSE = "[", "]"


def excluded_intervals(annotations: Annotations, n_samples: int | None = None) -> np.ndarray:
    """Ventricular flutter episodes, which EC57 leaves out of beat-detection scoring.

    Parameters
    ----------
    annotations
        Annotations of a record (MIT codes).
    n_samples
        Record length, used to close an episode left open at the end. Without it an open episode
        runs to the largest int64.

    Returns
    -------
    numpy.ndarray
        int64 array ``[k, 2]`` of inclusive ``(start, stop)`` sample ranges, ascending.
    """
    end = np.iinfo(np.int64).max if n_samples is None else int(n_samples) - 1
    intervals: list[tuple[int, int]] = []
    start: int | None = None
    for s, sym in zip(annotations.sample.tolist(), annotations.symbol, strict=True):
        if sym == _FLUTTER_OPEN:
            if start is None:  # a repeated '[' inside an open episode changes nothing
                start = s
        elif sym == _FLUTTER_CLOSE:
            # A ']' without its '[' closes an episode that began before the record (or the crop).
            intervals.append((0 if start is None else start, s))
            start = None
    if start is not None:
        intervals.append((start, end))
    return np.array(intervals, dtype=np.int64).reshape(-1, 2)


def _inside(samples: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``samples`` fall inside any inclusive interval."""
    mask = np.zeros(samples.shape, dtype=bool)
    for a, b in np.asarray(intervals, dtype=np.int64).reshape(-1, 2):
        mask |= (samples >= a) & (samples <= b)
    return mask


def reference_beats(annotations: Annotations, *, exclude_flutter: bool = True) -> np.ndarray:
    """Sample indices of the reference beats of a record.

    Parameters
    ----------
    annotations
        Annotations of a record (MIT codes).
    exclude_flutter
        Leave out beats inside ventricular flutter episodes (``[`` .. ``]``), as EC57 does.

    Returns
    -------
    numpy.ndarray
        int64 sample indices, ascending.
    """
    is_beat = np.fromiter((s in BEAT_SYMBOLS for s in annotations.symbol), dtype=bool, count=len(annotations))
    beats = annotations.sample[is_beat].astype(np.int64)
    if exclude_flutter:
        beats = beats[~_inside(beats, excluded_intervals(annotations))]
    return np.sort(beats)


def _as_samples(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise RecordError(f"{name} must be a 1-D array of sample indices, got shape {arr.shape}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise RecordError(f"{name} holds NaN or infinite sample indices")
    return arr.astype(np.float64)


def match_beats(
    ref: np.ndarray, test: np.ndarray, fs: float, tolerance_s: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """Match detections to reference beats one-to-one, closest pairs first.

    Every (reference, detection) pair at most ``tolerance_s`` apart (inclusive) is a candidate;
    candidates are accepted in order of increasing distance, skipping any whose reference beat or
    detection is already matched. Greedy-by-distance gives the same result as EC57's sequential
    matching whenever beats are further apart than twice the tolerance, and a sensible one-to-one
    answer when they are not (two detections near one beat: the closer one matches, the other is
    a false positive).

    Parameters
    ----------
    ref, test
        Sample indices of reference beats and of detections (any order).
    fs
        Sampling rate in Hz of both.
    tolerance_s
        Largest distance in seconds for a match (EC57: 0.15 s).

    Returns
    -------
    tuple of numpy.ndarray
        ``(ref_idx, test_idx)``: int64 positions into ``ref`` and ``test`` of the matched pairs,
        ordered by reference sample.

    Raises
    ------
    RecordError
        If ``fs`` or ``tolerance_s`` is not positive or an input is not 1-D finite numbers.
    """
    if not (np.isfinite(fs) and fs > 0):
        raise RecordError(f"sampling rate must be > 0, got {fs!r}")
    if not (np.isfinite(tolerance_s) and tolerance_s >= 0):
        raise RecordError(f"matching tolerance must be >= 0 s, got {tolerance_s!r}")
    r = _as_samples(ref, "ref")
    t = _as_samples(test, "test")
    empty = np.zeros(0, dtype=np.int64)
    if r.size == 0 or t.size == 0:
        return empty, empty.copy()
    # Tiny slack so that a distance of exactly tolerance_s * fs counts despite float rounding.
    tol = tolerance_s * fs * (1 + 1e-12) + 1e-9
    r_order = np.argsort(r, kind="stable")
    t_order = np.argsort(t, kind="stable")
    rs, ts = r[r_order], t[t_order]
    lo = np.searchsorted(ts, rs - tol, side="left")
    hi = np.searchsorted(ts, rs + tol, side="right")
    n_cand = hi - lo
    if not n_cand.any():
        return empty, empty.copy()
    # All candidate pairs, vectorised: reference i paired with tests lo[i]..hi[i]-1.
    pair_r = np.repeat(np.arange(rs.size), n_cand)
    first = np.repeat(lo - np.concatenate(([0], np.cumsum(n_cand)[:-1])), n_cand)
    pair_t = first + np.arange(pair_r.size)
    dist = np.abs(rs[pair_r] - ts[pair_t])
    order = np.lexsort((pair_t, pair_r, dist))  # by distance, ties by earlier reference then test
    used_r = np.zeros(rs.size, dtype=bool)
    used_t = np.zeros(ts.size, dtype=bool)
    out_r: list[int] = []
    out_t: list[int] = []
    # A loop over candidate pairs only (about one per beat), not over samples.
    for i, j in zip(pair_r[order].tolist(), pair_t[order].tolist(), strict=True):
        if not used_r[i] and not used_t[j]:
            used_r[i] = used_t[j] = True
            out_r.append(i)
            out_t.append(j)
    mr = np.asarray(out_r, dtype=np.int64)
    mt = np.asarray(out_t, dtype=np.int64)
    by_ref = np.argsort(mr, kind="stable")
    return r_order[mr[by_ref]].astype(np.int64), t_order[mt[by_ref]].astype(np.int64)


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def _scores(tp: int, fn: int, fp: int) -> dict[str, Any]:
    return {
        "TP": int(tp),
        "FN": int(fn),
        "FP": int(fp),
        "Se": _ratio(tp, tp + fn),
        "PPV": _ratio(tp, tp + fp),
        "F1": _ratio(2 * tp, 2 * tp + fn + fp),
    }


def detection_scores(
    ref: np.ndarray,
    test: np.ndarray,
    fs: float,
    tolerance_s: float = 0.15,
    exclude: np.ndarray | None = None,
) -> dict[str, Any]:
    """Score detections against reference beats (EC57 beat-by-beat statistics).

    Parameters
    ----------
    ref, test
        Sample indices of reference beats and of detections.
    fs
        Sampling rate in Hz of both.
    tolerance_s
        Matching window in seconds (EC57: 0.15 s).
    exclude
        Optional ``[k, 2]`` inclusive sample ranges left out of scoring (both reference beats and
        detections inside them are dropped), e.g. :func:`excluded_intervals`.

    Returns
    -------
    dict
        ``TP``, ``FN``, ``FP`` (ints) and ``Se``, ``PPV``, ``F1`` as fractions in [0, 1]; a ratio
        whose denominator is 0 is NaN (for example ``Se`` of a record without reference beats).
    """
    r = _as_samples(ref, "ref")
    t = _as_samples(test, "test")
    if exclude is not None and np.asarray(exclude).size:
        r = r[~_inside(r, exclude)]
        t = t[~_inside(t, exclude)]
    mr, _ = match_beats(r, t, fs, tolerance_s)
    tp = int(mr.size)
    return _scores(tp, int(r.size) - tp, int(t.size) - tp)


def aggregate_scores(scores: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Gross statistics over records: sum TP, FN and FP, then take the ratios (as EC57 reports).

    Parameters
    ----------
    scores
        Per-record dicts from :func:`detection_scores` (only ``TP``, ``FN``, ``FP`` are read).

    Returns
    -------
    dict
        Same keys as :func:`detection_scores`, plus ``records`` (how many were summed).
    """
    tp = fn = fp = n = 0
    for s in scores:
        tp += int(s["TP"])
        fn += int(s["FN"])
        fp += int(s["FP"])
        n += 1
    return {**_scores(tp, fn, fp), "records": n}
