"""12-lead multi-label prediction on any record, written in the PhysioNet/CinC challenge format.

A model trained by the ``multilabel`` task carries its preprocessing in ``config.yaml`` and its
class codes and per-class thresholds (tuned on validation data) in ``thresholds.json``. A record is
preprocessed exactly as in training (leads in the model's order, resampling, filters, per-lead
normalisation), cut into model-length windows (zero-padded when shorter), and the window
probabilities are averaged. A digitized 3x4 page plots each lead for 2.5 s only; where the model
ships ``thresholds_page.json`` (tuned on records masked that way), ``predict(page=True)`` uses it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecglab.errors import LeadError, RecordError
from ecglab.io.recording import Recording

#: Thresholds tuned on records masked as a digitized 3x4 page (``benchmarks/classify_pages.py``).
PAGE_THRESHOLDS_FILE = "thresholds_page.json"


@dataclass
class MultilabelPrediction:
    """Class probabilities and decisions for one record.

    Attributes
    ----------
    record_id
        Id of the record.
    classes
        Class codes (SNOMED CT for CinC models, PTB-XL labels otherwise).
    probabilities
        ``[classes]`` float probabilities.
    labels
        ``[classes]`` bool decisions (probability ≥ the class's threshold).
    names
        Display names of the classes.
    notes
        What was adapted (resampling, missing age), for the log.
    """

    record_id: str
    classes: list[str]
    probabilities: np.ndarray
    labels: np.ndarray
    names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def positive(self) -> list[str]:
        """Names of the predicted classes."""
        names = self.names or self.classes
        return [names[i] for i in np.flatnonzero(self.labels)]

    def write_challenge(self, path: str | os.PathLike[str]) -> Path:
        """Write the challenge output file (``#id``, classes, 0/1 labels, probabilities)."""
        from ecglab.metrics.challenge import write_output_file

        path = Path(path)
        write_output_file(path, self.record_id, self.classes, self.labels, self.probabilities)
        return path


class MultilabelClassifier:
    """A trained 12-lead classifier with its preprocessing and thresholds.

    Parameters
    ----------
    model
        The torch model (eval mode).
    cfg
        Its training config.
    thresholds
        Content of ``thresholds.json``.
    onnx_path
        Run with onnxruntime from this file instead of torch.
    page_thresholds
        Content of ``thresholds_page.json`` where the model has one: thresholds tuned on records
        masked as a digitized 3x4 page leaves them (each lead's 2.5 s), for ``predict(page=True)``.
    """

    def __init__(
        self,
        model: Any,
        cfg: Any,
        thresholds: dict[str, Any],
        onnx_path: Path | None = None,
        page_thresholds: dict[str, Any] | None = None,
    ) -> None:
        from ecglab.training.multilabel import eval_step_samples, preprocess_spec

        self.model = model
        self.cfg = cfg
        self.spec = preprocess_spec(cfg)
        self.classes = [str(c) for c in thresholds["classes"]]
        self.names = [str(n) for n in thresholds.get("names", self.classes)]
        self.thresholds = np.asarray(thresholds["thresholds"], dtype=np.float64)
        self.page_thresholds = None
        if page_thresholds is not None:
            if [str(c) for c in page_thresholds["classes"]] != self.classes:
                raise RecordError("thresholds_page.json: its classes differ from thresholds.json's")
            self.page_thresholds = np.asarray(page_thresholds["thresholds"], dtype=np.float64)
        self.window = round(float(cfg.multilabel.crop_s) * float(cfg.data.fs))
        self.step = eval_step_samples(cfg)
        self.use_demo = bool(cfg.multilabel.use_demographics)
        self._onnx = None
        if onnx_path is not None:
            from ecglab.export import OnnxModel

            self._onnx = OnnxModel(onnx_path)

    @classmethod
    def from_pretrained(
        cls, model: str | os.PathLike[str], *, backend: str = "torch", onnx_path: Path | None = None
    ) -> MultilabelClassifier:
        """Load a shipped model by name or a run/weights folder holding ``thresholds.json``."""
        from ecglab.pretrained import load_task_model
        from ecglab.training.multilabel import read_thresholds

        net, cfg, folder, onnx_path = load_task_model(
            model, "multilabel", backend=backend, onnx_path=onnx_path, error=RecordError
        )
        page_file = Path(folder) / PAGE_THRESHOLDS_FILE
        page = json.loads(page_file.read_text(encoding="utf-8")) if page_file.is_file() else None
        return cls(net, cfg, read_thresholds(folder), onnx_path=onnx_path, page_thresholds=page)

    @property
    def leads(self) -> list[str]:
        return list(self.spec.leads)

    def prepare(self, recording: Recording) -> tuple[np.ndarray, list[str]]:
        """Model-ready windows ``[n, leads, window]`` of a record, and notes on what was adapted.

        Raises
        ------
        LeadError
            If the record lacks leads the model needs (naming them).
        """
        from ecglab.signal.preprocess import preprocess_recording, sliding_windows

        missing = [lead for lead in self.leads if lead not in recording.leads]
        if missing:
            raise LeadError(
                f"record {recording.record_id!r}: model needs leads {', '.join(self.leads)}; "
                f"missing {', '.join(missing)}"
            )
        shortest = 0.5 * self.window / self.spec.fs
        if recording.duration < shortest:
            raise RecordError(
                f"record {recording.record_id!r}: {recording.duration:.2f} s is too short for this model "
                f"(at least {shortest:g} s; it reads {self.window / self.spec.fs:g}-s windows)"
            )
        picked = recording.select(self.leads).signal
        if not np.any(np.nanmax(picked, axis=1) - np.nanmin(picked, axis=1) > 1e-3):
            raise RecordError(f"record {recording.record_id!r}: every lead is flat (no signal to classify)")
        notes = []
        if recording.fs != self.spec.fs:
            notes.append(f"resampled {recording.fs:g} -> {self.spec.fs:g} Hz")
        x = preprocess_recording(recording, self.spec)
        if x.shape[1] < self.window:
            notes.append(f"padded {x.shape[1] / self.spec.fs:.1f} s to {self.window / self.spec.fs:.1f} s")
        # The same windows as the evaluation after training (eval_step_s, zeros at the end).
        return sliding_windows(x, self.window, self.step), notes

    def demographics(self, recording: Recording) -> np.ndarray:
        """``[age/100 (0 if unknown), is_male, age_missing]`` as in training."""
        age, sex = recording.meta.get("age"), recording.meta.get("sex")
        return np.array(
            [
                0.0 if age is None else float(age) / 100.0,
                1.0 if sex == "M" else 0.0,
                1.0 if age is None else 0.0,
            ],
            dtype=np.float32,
        )

    def proba(self, windows: np.ndarray, demo: np.ndarray | None) -> np.ndarray:
        """Window-averaged class probabilities."""
        if self._onnx is not None:
            inputs = {"x": windows.astype(np.float32)}
            if demo is not None:
                inputs["demo"] = np.repeat(demo[None], len(windows), 0)
            logits = self._onnx(**inputs)[0]
            return (1.0 / (1.0 + np.exp(-logits))).mean(0)
        from ecglab.training.multilabel import predict_windows

        return predict_windows(self.model, windows, demo)

    def predict(self, recording: Recording, *, page: bool = False) -> MultilabelPrediction:
        """Probabilities and thresholded labels of one record.

        ``page=True``: the record comes from a digitized 3x4 page (each lead plotted for 2.5 s,
        0 mV elsewhere); the page thresholds decide where the model has them, and a note says so.
        """
        windows, notes = self.prepare(recording)
        demo = self.demographics(recording) if self.use_demo else None
        probs = self.proba(windows, demo)
        thresholds = self.thresholds
        if page and self.page_thresholds is not None:
            thresholds = self.page_thresholds
            notes = [*notes, "thresholds tuned on records masked as a 3x4 page"]
        elif page:
            notes = [*notes, "no page thresholds: those of full records used (over-calls on a page)"]
        return MultilabelPrediction(
            record_id=recording.record_id,
            classes=self.classes,
            probabilities=probs,
            labels=probs >= thresholds,
            names=self.names,
            notes=notes,
        )
