"""Shared fixtures: records the tests make themselves, and the real PhysioNet data when present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecglab.io.leads import STANDARD_12
from ecglab.io.recording import Recording

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """``$ECGLAB_DATA``, or ``../shared/data`` beside the checkout (the developer fallback)."""
    env = os.environ.get("ECGLAB_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real PhysioNet data. Missing data skips locally but fails on CI."""
    root = shared_data_root()
    if not (root / "mitdb").is_dir():
        message = f"real data not found at {root} (set ECGLAB_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


def exit_code(argv: list[str]) -> int:
    """Run ``ecglab ARGV`` in-process; return its exit code."""
    from ecglab.cli.main import run

    try:
        run(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def sine_recording(
    n_leads: int = 2, fs: float = 250.0, seconds: float = 4.0, leads: tuple[str, ...] | None = None
) -> Recording:
    """Deterministic multi-lead test signal in mV (sines of different frequency per lead)."""
    t = np.arange(int(fs * seconds)) / fs
    signal = np.stack([(0.5 + 0.1 * i) * np.sin(2 * np.pi * (1 + i) * t) for i in range(n_leads)])
    names = leads or (STANDARD_12[:n_leads] if n_leads <= 12 else tuple(f"ECG{i}" for i in range(n_leads)))
    return Recording(signal=signal.astype(np.float32), fs=fs, leads=names, record_id="sine")


def write_raw_wfdb(
    directory: Path,
    name: str = "rec",
    *,
    fmt: str = "16",
    units: str = "mV",
    sig_names: tuple[str, ...] = ("I", "II"),
    fs: float = 250.0,
    n: int = 1000,
    signal: np.ndarray | None = None,
) -> Path:
    """Write a WFDB record with wfdb itself (independent of ecglab's writer)."""
    rng = np.random.default_rng(0)
    p_signal = signal if signal is not None else rng.normal(0, 0.5, size=(n, len(sig_names)))
    wfdb.wrsamp(
        name,
        fs=fs,
        units=[units] * len(sig_names),
        sig_name=list(sig_names),
        p_signal=p_signal,
        fmt=[fmt] * len(sig_names),
        write_dir=str(directory),
    )
    return directory / name


@pytest.fixture
def raw_wfdb(tmp_path: Path) -> Path:
    """A 2-lead format-16 record written by wfdb: ``tmp_path/rec``."""
    return write_raw_wfdb(tmp_path)
