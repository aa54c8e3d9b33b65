"""PhysioNet/CinC Challenge 2020/2021 records: WFDB header + MATLAB v4 ``.mat`` signal file.

The header is a WFDB header whose signal lines name ``<id>.mat`` in format ``16+24`` (format 16
after the 24-byte MAT v4 preamble), so wfdb reads the signal. What is specific to the challenge
are the comment lines carrying the labels and demographics, written ``#Dx: ...`` in some releases
and ``# Dx: ...`` in others; both are read. Files are written the way the official tools write
them: a ``val`` int16 matrix ``[leads, samples]`` in a MAT v4 file and ``#Age/#Sex/#Dx/#Rx/#Hx/#Sx``
comments.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from ecglab.errors import RecordError, RecordNotFoundError
from ecglab.io.atomic import atomic_dir_writes
from ecglab.io.recording import Recording
from ecglab.io.wfdb_io import read_wfdb, record_base, safe_record_name

_COMMENT_RE = re.compile(r"^\s*([A-Za-z][A-Za-z _-]*?)\s*:\s*(.*)$")
_MISSING = {"", "nan", "unknown", "none", "n/a", "na"}
# Keys of the challenge header comments, in the order the official files write them.
CHALLENGE_KEYS = ("Age", "Sex", "Dx", "Rx", "Hx", "Sx")


def parse_header_comments(comments: list[str]) -> dict[str, str]:
    """``key: value`` pairs of WFDB header comments (``#Dx: 1,2`` and ``# Dx: 1,2`` alike)."""
    fields: dict[str, str] = {}
    for line in comments:
        match = _COMMENT_RE.match(line.lstrip("#"))
        if match:
            fields.setdefault(match.group(1).strip(), match.group(2).strip())
    return fields


def parse_age(text: str | None) -> float | None:
    """Age in years, None when missing (``NaN``, ``Unknown``, empty) or not a number."""
    if text is None or text.strip().lower() in _MISSING:
        return None
    try:
        age = float(text)
    except ValueError:
        return None
    return age if np.isfinite(age) and age >= 0 else None


def parse_sex(text: str | None) -> str | None:
    """``"M"``, ``"F"`` or None from ``Male``/``Female``/``M``/``F``/``0``/``1``-style text."""
    key = (text or "").strip().lower()
    if key in ("m", "male", "man"):
        return "M"
    if key in ("f", "female", "woman"):
        return "F"
    return None


def parse_dx(text: str | None) -> list[str]:
    """SNOMED CT codes of a ``Dx`` field as strings, in file order, without duplicates."""
    codes: list[str] = []
    for part in (text or "").replace(";", ",").split(","):
        code = part.strip()
        if code and code.lower() not in _MISSING and code not in codes:
            codes.append(code)
    return codes


def check_record_line(hea: Path) -> None:
    """Catch the record-line defects seen in real challenge releases before wfdb does.

    The first Georgia release wrote ``E00015.mat 12 500 5000`` (a file name where the record name
    belongs); wfdb only says "invalid syntax", so name the actual problem.
    """
    if not hea.is_file():
        raise RecordNotFoundError(f"{hea}: header file not found")
    for number, line in enumerate(hea.read_text(errors="replace").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        first = line.split()[0]
        if "." in first and first.split(".")[-1].lower() in ("mat", "dat", "hea"):
            raise RecordError(
                f"{hea}:{number}: record line starts with file name {first!r} where the record name "
                f"{hea.stem!r} belongs (malformed header, as in the first Georgia 12-lead release)"
            )
        if first.split("/")[0] != hea.stem:
            raise RecordError(f"{hea}:{number}: record line names {first!r} but the file is {hea.name}")
        return
    raise RecordError(f"{hea}: no record line (file is empty or holds only comments)")


def read_challenge(path: str | Path, *, allow_unknown_leads: bool = False) -> Recording:
    """Read a PhysioNet/CinC 2020/2021 record (``.hea`` + ``.mat``) with its labels.

    Returns
    -------
    Recording
        ``meta`` holds ``age`` (years or None), ``sex`` (``"M"``/``"F"``/None), ``dx`` (SNOMED CT
        codes as strings, all of them: scored or not) and ``header_fields`` (every ``key: value``
        comment as written: ``Rx``, ``Hx``, ``Sx`` ...).
    """
    base = record_base(path)
    hea = base.with_suffix(".hea")
    check_record_line(hea)
    rec = read_wfdb(base, annotations=None, allow_unknown_leads=allow_unknown_leads)
    fields = parse_header_comments(rec.meta.get("comments", []))
    if "Dx" not in fields:
        raise RecordError(f"{hea}: no '#Dx:' line (a challenge header lists its SNOMED CT codes there)")
    meta = {
        **rec.meta,
        "age": parse_age(fields.get("Age")),
        "sex": parse_sex(fields.get("Sex")),
        "dx": parse_dx(fields.get("Dx")),
        "header_fields": fields,
    }
    meta["source"] = {"reader": "challenge", "path": str(base)}
    return rec.replace(meta=meta)


def _choose_gain(signal: np.ndarray) -> float:
    """ADC gain (adu/mV) for int16 storage: the official 1000/mV when the signal fits."""
    peak = float(np.nanmax(np.abs(signal))) if np.isfinite(signal).any() else 0.0
    gain = 1000.0
    while peak * gain > 32766 and gain > 1:
        gain /= 2
    return gain


def challenge_comments(meta: dict[str, Any]) -> list[str]:
    """Header comment lines in the challenge's form, from a recording's metadata."""
    fields = dict(meta.get("header_fields", {}))
    age = meta.get("age")
    sex = meta.get("sex")
    fields["Age"] = "NaN" if age is None else f"{age:g}"
    fields["Sex"] = {"M": "Male", "F": "Female"}.get(sex or "", "Unknown")
    fields["Dx"] = ",".join(str(c) for c in meta.get("dx", [])) or fields.get("Dx", "")
    for key in ("Rx", "Hx", "Sx"):
        fields.setdefault(key, "Unknown")
    ordered = [k for k in CHALLENGE_KEYS if k in fields] + [k for k in fields if k not in CHALLENGE_KEYS]
    return [f"{k}: {fields[k]}" for k in ordered]


def write_challenge(recording: Recording, directory: str | Path, *, record_name: str | None = None) -> Path:
    """Write a recording as a challenge record: ``<id>.mat`` (MAT v4, int16 ``val``) + ``<id>.hea``.

    NaN samples are stored as -32768, WFDB's "invalid sample" value for format 16.

    Returns
    -------
    Path
        The record path without extension.
    """
    if not recording.meta.get("dx"):
        raise RecordError(f"record {recording.record_id!r}: no SNOMED CT codes in meta['dx'] to write as #Dx")
    name = safe_record_name(record_name or recording.record_id)
    gain = _choose_gain(recording.signal)
    scaled = np.round(recording.signal.astype(np.float64) * gain)
    digital = np.where(np.isnan(scaled), -32768, np.clip(scaled, -32767, 32767)).astype(np.int16)
    init = digital[:, 0]
    checksum = _wfdb_checksum(digital)
    gain_text = f"{gain:g}"
    # The official challenge template, written as text: wfdb's own writer would emit
    # "1000.0(0)/mV" and "# Dx:" where the official files have "1000/mV" and "#Dx:".
    lines = [f"{name} {recording.n_leads} {recording.fs:g} {recording.n_samples}"]
    lines += [
        f"{name}.mat 16+24 {gain_text}/mV 16 0 {int(init[i])} {int(checksum[i])} 0 {lead}"
        for i, lead in enumerate(recording.leads)
    ]
    lines += [f"#{line}" for line in challenge_comments(recording.meta)]
    directory = Path(directory)
    with atomic_dir_writes(directory) as tmp:
        # MAT v4 stores column-major, so `val` [leads, samples] lands on disk sample by sample, lead
        # by lead: exactly WFDB format 16 after the 24-byte preamble of a variable named "val".
        scipy.io.savemat(tmp / f"{name}.mat", {"val": digital}, format="4")
        (tmp / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return directory / name


def _wfdb_checksum(digital: np.ndarray) -> np.ndarray:
    """WFDB header checksum: the 16-bit two's-complement sum of each signal's samples."""
    total = digital.astype(np.int64).sum(axis=1)
    return ((total + 32768) % 65536) - 32768
