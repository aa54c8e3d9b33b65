"""Simulated ECGs for demos and tests, from NeuroKit2's ECGSYN-based simulator."""

from __future__ import annotations

import contextlib
import io
import warnings

import neurokit2 as nk
import numpy as np

from ecglab.io.leads import STANDARD_12
from ecglab.io.recording import Recording


def simulate_12lead(
    duration: float = 10.0,
    fs: float = 500.0,
    heart_rate: float = 70.0,
    noise: float = 0.01,
    seed: int = 0,
    record_id: str = "sim12",
) -> Recording:
    """A simulated 12-lead ECG in millivolts (NeuroKit2 ``ecg_simulate(method="multileads")``).

    Parameters
    ----------
    duration
        Seconds.
    fs
        Sampling rate in Hz.
    heart_rate
        Beats per minute.
    noise
        Standard deviation of added Laplace noise, mV.
    seed
        Random seed: the same seed gives the same signal.
    """
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        frame = nk.ecg_simulate(
            duration=duration,
            sampling_rate=int(fs),
            heart_rate=heart_rate,
            noise=noise,
            method="multileads",
            random_state=seed,
        )
    signal = frame[list(STANDARD_12)].to_numpy(dtype=np.float32).T
    meta = {
        "age": None,
        "sex": None,
        "comments": [f"simulated by NeuroKit2 ecg_simulate multileads, hr={heart_rate:g}, seed={seed}"],
        "source": {"reader": "simulate", "path": None},
    }
    return Recording(signal=signal, fs=fs, leads=STANDARD_12, record_id=record_id, meta=meta)
