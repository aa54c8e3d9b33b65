"""Plots of recordings, saved as PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # the OO API: no pyplot state, no display backend needed

from ecglab.io.atomic import atomic_write
from ecglab.io.recording import Recording


def plot_recording(
    recording: Recording,
    path: str | Path,
    *,
    seconds: float | None = 10.0,
    columns: int | None = None,
    dpi: int = 110,
) -> Path:
    """Plot every lead of a recording on an ECG-paper-like grid and save it as PNG.

    Parameters
    ----------
    seconds
        Plot the first ``seconds`` of the record (None: all of it).
    columns
        Panel columns; by default 2 for 12 leads and 1 otherwise.
    """
    rec = recording
    if seconds is not None and rec.duration > seconds:
        rec = rec.crop(0, round(seconds * rec.fs))
    cols = columns or (2 if rec.n_leads > 6 else 1)
    rows = math.ceil(rec.n_leads / cols)
    t = np.arange(rec.n_samples) / rec.fs
    fig = Figure(figsize=(7 * cols, 1.4 * rows + 0.6))
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    order = [(i % rows, i // rows) for i in range(rec.n_leads)]
    for (r, c), lead, y in zip(order, rec.leads, rec.signal, strict=True):
        ax = axes[r][c]
        ax.plot(t, y, color="black", linewidth=0.7)
        _paper_grid(ax, t[-1])
        ax.set_ylabel(f"{lead}\nmV", rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
    for idx in range(rec.n_leads, rows * cols):
        axes[idx % rows][idx // rows].set_visible(False)
    for c in range(cols):
        axes[rows - 1][c].set_xlabel("time (s)", fontsize=8)
    fig.suptitle(f"{rec.record_id}  {rec.fs:g} Hz  {rec.n_leads} leads", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi)
    return path


def _paper_grid(ax: Axes, t_end: float) -> None:
    """Major (0.2 s, 0.5 mV) and minor (0.04 s, 0.1 mV) grid lines in ECG-paper pink."""
    ax.set_xticks(np.arange(0, t_end + 1e-9, 1.0))
    ax.set_xticks(np.arange(0, t_end + 1e-9, 0.2), minor=True)
    lo, hi = ax.get_ylim()
    ax.set_yticks(np.arange(math.floor(lo * 2) / 2, hi + 1e-9, 0.5), minor=True)
    ax.grid(which="minor", color="#f4b6b6", linewidth=0.4)
    ax.grid(which="major", color="#e06666", linewidth=0.6)
    ax.set_xlim(0, t_end)


_CLASS_COLOURS = {"N": "#2b8a3e", "S": "#1c7ed6", "V": "#e03131", "F": "#f08c00", "Q": "#7048e8"}


def plot_beats(
    recording: Recording,
    samples: np.ndarray,
    labels: list[str],
    path: str | Path,
    *,
    lead: str | None = None,
    seconds: float | None = 20.0,
    dpi: int = 110,
) -> Path:
    """One lead with each classified beat marked by its class letter and colour, saved as PNG.

    Parameters
    ----------
    samples, labels
        Beat positions (samples at ``recording.fs``) and their classes (N, S, V, F, Q).
    lead
        Lead to draw (default: the first).
    seconds
        Draw the first ``seconds`` only (None: all).
    """
    lead = lead or recording.leads[0]
    y = recording.select([lead]).signal[0]
    n = y.size if seconds is None else min(y.size, round(seconds * recording.fs))
    t = np.arange(n) / recording.fs
    fig = Figure(figsize=(max(8.0, 0.6 * t[-1] if n else 8.0), 2.6))
    ax = fig.subplots()
    ax.plot(t, y[:n], color="black", linewidth=0.7)
    _paper_grid(ax, t[-1] if n else 1.0)
    samples = np.asarray(samples)
    shown = samples < n
    top = float(np.nanmax(y[:n])) if n else 1.0
    for s, label in zip(samples[shown], np.asarray(labels, dtype=object)[shown], strict=True):
        colour = _CLASS_COLOURS.get(str(label), "grey")
        ax.axvline(s / recording.fs, color=colour, alpha=0.25, linewidth=1.0)
        ax.text(s / recording.fs, top * 1.05, str(label), color=colour, ha="center", va="bottom", fontsize=8)
    counts = {c: int(np.sum(np.asarray(labels) == c)) for c in _CLASS_COLOURS}
    summary = "  ".join(f"{c}:{k}" for c, k in counts.items() if k)
    ax.set_title(f"{recording.record_id}  lead {lead}  {summary}", fontsize=9)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("mV", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi)
    return path
