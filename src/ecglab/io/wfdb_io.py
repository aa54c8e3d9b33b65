"""WFDB records and annotations, read and written through the ``wfdb`` package.

ecglab never decodes the WFDB format itself: wfdb does. What this module adds is the contract
(millivolts, canonical lead names, float32), checks that turn wfdb's raw exceptions into one clear
line (missing or truncated signal file, unknown format code, header/file length mismatch), and
atomic writes.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import wfdb
from wfdb.io import _signal as wfdb_signal
from wfdb.io import header as wfdb_header

from ecglab.errors import RecordError, RecordNotFoundError
from ecglab.io.atomic import atomic_dir_writes
from ecglab.io.leads import normalize_leads
from ecglab.io.recording import Annotations, Recording
from ecglab.io.units import canonical_unit, to_millivolts_factor

_SIGNAL_EXTS = (".hea", ".dat", ".mat", ".atr")
# Formats whose size on disk follows from the sample count (FLAC formats 508/516/524 do not).
_FIXED_SIZE = {k: v for k, v in wfdb_signal.BYTES_PER_SAMPLE.items() if v}
WRITABLE_FORMATS = ("16", "24", "32", "80", "212")


def record_base(path: str | Path) -> Path:
    """Record path without extension: ``data/100.hea`` and ``data/100`` both give ``data/100``."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in _SIGNAL_EXTS else path


def read_header(path: str | Path) -> wfdb.Record:
    """Read and check a WFDB header (``.hea``) with wfdb.

    Raises
    ------
    RecordNotFoundError
        If the header file does not exist.
    RecordError
        If wfdb cannot parse it or it names a format wfdb cannot read.
    """
    base = record_base(path)
    hea = base.with_suffix(".hea")
    if not hea.is_file():
        raise RecordNotFoundError(f"{hea}: header file not found")
    try:
        text = hea.read_bytes().decode("ascii", errors="ignore")  # as wfdb reads it
    except OSError as exc:
        raise RecordError(f"{hea}: unreadable header: {exc.strerror}") from None
    if not wfdb_header.parse_header_content(text)[0]:
        raise RecordError(f"{hea}: empty header (no record line, only blank or comment lines)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = wfdb.rdheader(str(base))
    except Exception as exc:  # wfdb raises bare ValueError/HeaderSyntaxError/IndexError on bad headers
        raise RecordError(f"{hea}: invalid WFDB header: {_first_line(exc)}") from None
    if getattr(header, "n_seg", None):
        raise RecordError(f"{hea}: multi-segment records are not supported yet")
    if not header.n_sig:
        raise RecordError(f"{hea}: header declares no signals")
    n_lines = len(header.file_name or [])
    if n_lines != header.n_sig:
        raise RecordError(
            f"{hea}: record line declares {header.n_sig} signal(s) but {n_lines} signal line(s) follow"
        )
    if header.fs is None or not header.fs > 0:
        raise RecordError(f"{hea}: sampling frequency must be > 0, got {header.fs}")
    for i, fmt in enumerate(header.fmt or []):
        if fmt not in wfdb_signal.DAT_FMTS:
            raise RecordError(
                f"{hea}: signal {i} uses unknown format code {fmt!r} "
                f"(wfdb reads {', '.join(wfdb_signal.DAT_FMTS)})"
            )
    if header.sig_len is None:
        raise RecordError(f"{hea}: header gives no signal length (sample count)")
    return header


def check_signal_files(header: wfdb.Record, base: Path) -> None:
    """Check every signal file the header names exists and holds exactly ``sig_len`` samples."""
    hea = base.with_suffix(".hea")
    per_file: dict[str, list[int]] = {}
    for i, name in enumerate(header.file_name):
        per_file.setdefault(name, []).append(i)
    for name, chans in per_file.items():
        data = base.parent / name
        if not data.is_file():
            raise RecordNotFoundError(f"{data}: signal file named by {hea.name} not found")
        fmts = {header.fmt[i] for i in chans}
        if not fmts <= set(_FIXED_SIZE):
            continue
        spf = header.samps_per_frame or [1] * header.n_sig
        frame_bytes = sum(_FIXED_SIZE[header.fmt[i]] * (spf[i] or 1) for i in chans)
        offset = int((header.byte_offset or [0] * header.n_sig)[chans[0]] or 0)
        size = data.stat().st_size
        frames_in_file = (size - offset) / frame_bytes
        if frames_in_file < header.sig_len - 1e-9 or math.floor(frames_in_file) > header.sig_len + 1:
            problem = "truncated file" if frames_in_file < header.sig_len else "extra data"
            raise RecordError(
                f"{data}: holds {math.floor(max(frames_in_file, 0))} samples per signal but {hea.name} "
                f"says {header.sig_len} ({problem})"
            )


def read_annotations(path: str | Path, extension: str = "atr") -> Annotations:
    """Read a WFDB annotation file (``<record>.<extension>``) with wfdb.

    Returns
    -------
    Annotations
        Sample indices, symbols, aux strings (trailing NUL bytes removed) and channels.
    """
    base = record_base(path)
    ann_path = base.parent / f"{base.name}.{extension}"
    if not ann_path.is_file():
        raise RecordNotFoundError(f"{ann_path}: annotation file not found")
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception as exc:
        raise RecordError(f"{ann_path}: unreadable annotation file: {_first_line(exc)}") from None
    n = len(ann.sample)
    aux = [(a or "").rstrip("\x00") for a in (ann.aux_note or [""] * n)]
    chan = ann.chan if ann.chan is not None and len(ann.chan) == n else np.zeros(n, np.int64)
    return Annotations(sample=np.asarray(ann.sample), symbol=tuple(ann.symbol), aux=tuple(aux), chan=chan)


def read_wfdb(
    path: str | Path,
    *,
    annotations: str | None = "auto",
    allow_unknown_leads: bool = False,
    sampfrom: int = 0,
    sampto: int | None = None,
) -> Recording:
    """Read a WFDB record (``.hea`` + signal files, any format wfdb reads) as a :class:`Recording`.

    Parameters
    ----------
    path
        Record path with or without extension (``mitdb/100``, ``mitdb/100.hea``).
    annotations
        ``"auto"`` reads ``<record>.atr`` when it exists, an extension such as ``"atr"`` or
        ``"qrs"`` requires that file, None reads none.
    allow_unknown_leads
        Keep channel names that are not ECG leads (``noise1``) instead of raising.
    sampfrom, sampto
        Read only samples ``sampfrom:sampto``.

    Raises
    ------
    RecordNotFoundError, RecordError, UnitsError, LeadError
        With one line naming the file and what is wrong.
    """
    base = record_base(path)
    hea = base.with_suffix(".hea")
    header = read_header(base)
    check_signal_files(header, base)
    leads = normalize_leads(header.sig_name or [], allow_unknown=allow_unknown_leads, where=str(hea))
    units = [u or "mV" for u in (header.units or ["mV"] * header.n_sig)]  # WFDB's documented default
    factors = np.array([to_millivolts_factor(u, where=f"{hea}: signal {i}") for i, u in enumerate(units)])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = wfdb.rdrecord(str(base), sampfrom=sampfrom, sampto=sampto, physical=True, return_res=64)
    except Exception as exc:
        raise RecordError(f"{hea}: wfdb could not read the signal: {_first_line(exc)}") from None
    signal = (rec.p_signal * factors[None, :]).T.astype(np.float32)
    meta = _wfdb_meta(rec, header, units, base)
    uncalibrated = [leads[i] for i, g in enumerate(meta["wfdb"]["adc_gain_in_header"]) if not g]
    if uncalibrated:
        meta["uncalibrated_leads"] = uncalibrated
        warnings.warn(
            f"{hea}: lead(s) {', '.join(uncalibrated)} are uncalibrated (ADC gain 0); amplitudes use "
            "WFDB's default of 200 adu/mV",
            stacklevel=2,
        )
    ann = None
    ann_ext = "atr" if annotations == "auto" else annotations
    if ann_ext and (annotations != "auto" or (base.parent / f"{base.name}.atr").is_file()):
        ann = read_annotations(base, ann_ext)
        if sampfrom or sampto is not None:
            stop = sampto if sampto is not None else header.sig_len
            ann = ann.take((ann.sample >= sampfrom) & (ann.sample < stop)).shifted(-sampfrom)
        meta["annotation_extension"] = ann_ext
    if np.isnan(signal).all(axis=1).any():
        empty = [leads[i] for i in np.flatnonzero(np.isnan(signal).all(axis=1))]
        raise RecordError(f"{hea}: lead(s) {', '.join(empty)} hold no valid sample (all NaN)")
    return Recording(
        signal=signal, fs=float(rec.fs), leads=leads, record_id=base.name, meta=meta, annotations=ann
    )


def _wfdb_meta(rec: wfdb.Record, header: wfdb.Record, units: list[str], base: Path) -> dict[str, Any]:
    """Header facts worth keeping: formats, gains, baselines, original units, date, comments."""
    raw_gains = _header_gains(base.with_suffix(".hea"), header.n_sig)
    return {
        "source": {"reader": "wfdb", "path": str(base)},
        "comments": list(rec.comments or []),
        "base_date": str(rec.base_date) if rec.base_date else None,
        "base_time": str(rec.base_time) if rec.base_time else None,
        "wfdb": {
            "fmt": list(header.fmt),
            "adc_gain": [float(g) for g in header.adc_gain],
            "adc_gain_in_header": raw_gains,
            "baseline": [int(b) for b in header.baseline],
            "units": units,
            "adc_res": [int(r) if r is not None else None for r in (header.adc_res or [None] * header.n_sig)],
            "file_name": list(header.file_name),
            "sig_len": int(header.sig_len),
        },
    }


def _header_gains(hea: Path, n_sig: int) -> list[float]:
    """ADC gains as written in the header (wfdb replaces 0, "uncalibrated", with 200).

    The header is split into lines and fields exactly as wfdb does (ASCII only, wfdb's signal-line
    pattern), so that the gains line up with the signals wfdb read.
    """
    text = hea.read_bytes().decode("ascii", errors="ignore")
    lines, _ = wfdb_header.parse_header_content(text)
    gains: list[float] = []
    for line in lines[1 : 1 + n_sig]:
        match = wfdb_header.rx_signal.match(line)
        try:
            gains.append(float(match.group("adc_gain")) if match and match.group("adc_gain") else 0.0)
        except ValueError:
            gains.append(0.0)
    return gains


def write_annotations(annotations: Annotations, path: str | Path, fs: float, extension: str = "atr") -> Path:
    """Write annotations as a WFDB annotation file ``<path>.<extension>`` (atomically)."""
    base = record_base(path)
    with atomic_dir_writes(base.parent) as tmp:
        _wrann(annotations, base.name, fs, extension, tmp)
    return base.parent / f"{base.name}.{extension}"


def _wrann(ann: Annotations, name: str, fs: float, extension: str, write_dir: Path) -> None:
    if not len(ann):
        raise RecordError(f"{name}.{extension}: no annotations to write")
    aux = [a if a else "" for a in ann.aux]
    wfdb.wrann(
        name,
        extension,
        ann.sample.astype(np.int64),
        symbol=list(ann.symbol),
        aux_note=aux if any(aux) else None,
        chan=ann.chan.astype(np.int64),
        fs=fs,
        write_dir=str(write_dir),
    )


_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")


def safe_record_name(record_id: str) -> str:
    """A WFDB-legal record name (letters, digits, ``_``, ``-``) made from ``record_id``."""
    name = _NAME_RE.sub("_", record_id).strip("_") or "record"
    return name


def write_wfdb(
    recording: Recording,
    directory: str | Path,
    *,
    record_name: str | None = None,
    fmt: str = "16",
    annotation_extension: str = "atr",
) -> Path:
    """Write a recording as a WFDB record (``.hea`` + ``.dat``, plus annotations if any).

    Gains and baselines are chosen by wfdb to use the format's full range; values are stored in
    millivolts. All files appear at once (written to a temporary folder, then moved).

    Parameters
    ----------
    fmt
        WFDB storage format: one of ``16`` (default), ``24``, ``32``, ``80``, ``212``.

    Returns
    -------
    Path
        The record path without extension.
    """
    if fmt not in WRITABLE_FORMATS:
        raise RecordError(f"cannot write WFDB format {fmt!r} (choose one of {', '.join(WRITABLE_FORMATS)})")
    name = safe_record_name(record_name or recording.record_id)
    directory = Path(directory)
    n = recording.n_leads
    comments = [str(c) for c in recording.meta.get("comments", [])]
    with atomic_dir_writes(directory) as tmp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wfdb.wrsamp(
                    name,
                    fs=recording.fs,
                    units=[canonical_unit("mV")] * n,
                    sig_name=list(recording.leads),
                    p_signal=recording.signal.T.astype(np.float64),
                    fmt=[fmt] * n,
                    comments=comments,
                    write_dir=str(tmp),
                )
        except Exception as exc:
            raise RecordError(
                f"{directory / name}: wfdb could not write the record: {_first_line(exc)}"
            ) from None
        if recording.annotations is not None and len(recording.annotations):
            _wrann(recording.annotations, name, recording.fs, annotation_extension, tmp)
    return directory / name


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
