"""Evaluation metrics of ecglab (beat detection scored as ANSI/AAMI EC57 does)."""

from __future__ import annotations

from ecglab.metrics.beats import (
    BEAT_SYMBOLS,
    aggregate_scores,
    detection_scores,
    excluded_intervals,
    match_beats,
    reference_beats,
)

__all__ = [
    "BEAT_SYMBOLS",
    "aggregate_scores",
    "detection_scores",
    "excluded_intervals",
    "match_beats",
    "reference_beats",
]
