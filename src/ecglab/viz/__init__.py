"""Plots to PNG: records, beats, confusion matrices, training curves, image overlays."""

from ecglab.viz.records import plot_recording

__all__ = ["plot_recording"]
