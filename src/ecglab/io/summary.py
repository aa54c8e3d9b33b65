"""A summary of a recording: what ``ecglab info`` prints and ``--json`` emits."""

from __future__ import annotations

from typing import Any

import numpy as np

from ecglab.io.recording import Recording


def summarize(recording: Recording, kind: str = "") -> dict[str, Any]:
    """Facts about a recording as plain JSON-able values.

    Returns
    -------
    dict
        ``record``, ``kind``, ``fs``, ``samples``, ``duration_s``, ``leads`` and per lead ``units``
        in the file, ADC ``gain`` (adu per file unit), storage ``format``, ``min_mv``/``max_mv``,
        ``missing`` fraction; ``annotations`` counts by symbol; ``age``, ``sex``, ``dx`` when known.
    """
    meta = recording.meta
    wfdb_meta = meta.get("wfdb", {})
    n = recording.n_leads
    finite = np.where(np.isnan(recording.signal), np.nan, recording.signal)
    with np.errstate(all="ignore"):
        lo = np.nanmin(finite, axis=1)
        hi = np.nanmax(finite, axis=1)
    per_lead = []
    for i, lead in enumerate(recording.leads):
        per_lead.append(
            {
                "lead": lead,
                "units": (wfdb_meta.get("units") or ["mV"] * n)[i],
                "gain": _item(wfdb_meta.get("adc_gain_in_header"), i),
                "format": _item(wfdb_meta.get("fmt"), i),
                "min_mv": round(float(lo[i]), 4),
                "max_mv": round(float(hi[i]), 4),
                "missing": round(float(np.isnan(recording.signal[i]).mean()), 6),
            }
        )
    out: dict[str, Any] = {
        "record": recording.record_id,
        "kind": kind,
        "path": meta.get("source", {}).get("path"),
        "fs": recording.fs,
        "samples": recording.n_samples,
        "duration_s": round(recording.duration, 3),
        "leads": list(recording.leads),
        "per_lead": per_lead,
        "annotations": recording.annotations.counts() if recording.annotations is not None else {},
    }
    for key in ("age", "sex", "dx", "scp_codes", "strat_fold", "patient_id", "uncalibrated_leads"):
        if meta.get(key) not in (None, [], {}):
            out[key] = meta[key]
    return out


def _item(values: list[Any] | None, i: int) -> Any:
    return values[i] if values and i < len(values) else None
