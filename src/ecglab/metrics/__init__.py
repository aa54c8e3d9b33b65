"""Evaluation metrics of ecglab.

Beat detection scored as ANSI/AAMI EC57 does (:mod:`ecglab.metrics.beats`), classification reports
(:mod:`ecglab.metrics.classification`), the PhysioNet/CinC 2020-2021 challenge scorer
(:mod:`ecglab.metrics.challenge`) and the digitization SNR metrics (:mod:`ecglab.metrics.snr`).
"""

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
