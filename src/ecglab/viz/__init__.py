"""Plots to PNG: records, beats, confusion matrices, training curves, image overlays."""

from ecglab.viz.metrics import plot_confusion
from ecglab.viz.records import plot_beats, plot_recording

__all__ = ["plot_beats", "plot_confusion", "plot_recording"]
