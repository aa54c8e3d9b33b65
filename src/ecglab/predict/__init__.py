"""Inference on records: beats (``BeatClassifier``), 12-lead classes (``MultilabelClassifier``)."""

from ecglab.predict.beats import BeatClassifier, BeatPrediction
from ecglab.predict.multilabel import MultilabelClassifier, MultilabelPrediction

__all__ = ["BeatClassifier", "BeatPrediction", "MultilabelClassifier", "MultilabelPrediction"]
