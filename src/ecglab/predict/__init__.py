"""Inference on records: beats (``BeatClassifier``); 12-lead and digitizer predictors come later."""

from ecglab.predict.beats import BeatClassifier, BeatPrediction

__all__ = ["BeatClassifier", "BeatPrediction"]
