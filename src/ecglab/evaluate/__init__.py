"""Evaluation of trained models on held-out data (beats: MIT-BIH DS2)."""

from ecglab.evaluate.beats import evaluate_beat_model, score_beat_predictions

__all__ = ["evaluate_beat_model", "score_beat_predictions"]
