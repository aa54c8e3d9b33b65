"""Beat classification of any record: detect R peaks, cut windows, classify, write tables.

The preprocessing is the training's own (:func:`ecglab.signal.beats.extract_beats` with the
model's window spec), so a record at 250 or 500 Hz with lead ``II`` is treated exactly like an
MIT-BIH record at 360 Hz with lead ``MLII``. Reference annotations are used only when asked
(``peaks="atr"``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecglab.errors import LeadError, RecordError
from ecglab.io.atomic import atomic_write
from ecglab.io.leads import is_known_lead, normalize_leads, resolve_alternatives
from ecglab.io.recording import Annotations, Recording

CLASSES = ("N", "S", "V", "F", "Q")
#: Lead preference when a record lacks the model's training lead: limb lead II and its Holter twin
#: MLII look most like MIT-BIH's MLII, then the chest and other limb leads.
DEFAULT_LEAD_PREFERENCE = ("MLII", "II", "ECG", "ECG1", "V5", "I", "V6", "aVF", "V4", "III", "V1", "V2", "V3",
                           "MLI", "MLIII", "aVL", "aVR", "ECG2")  # fmt: skip
MIN_FS = 100.0


@dataclass
class BeatPrediction:
    """Beats of one record and their classes.

    Attributes
    ----------
    record_id, fs
        The input record's id and sampling rate (``sample`` is at this rate).
    sample
        int64 R-peak sample indices.
    probs
        float32 ``[n, 5]`` class probabilities (N, S, V, F, Q).
    leads
        Leads the classifier used.
    notes
        Things the user should know (no beats found, lead substituted, ...).
    """

    record_id: str
    fs: float
    sample: np.ndarray
    probs: np.ndarray
    leads: tuple[str, ...]
    peaks_from: str
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """Predicted class per beat."""
        return [CLASSES[i] for i in self.probs.argmax(1)] if len(self.sample) else []

    def counts(self) -> dict[str, int]:
        """Beats per predicted class."""
        labels = self.labels
        return {c: labels.count(c) for c in CLASSES}

    @property
    def output_name(self) -> str:
        """File stem of this record's outputs (a WFDB-legal version of the record id)."""
        from ecglab.io.wfdb_io import safe_record_name

        return safe_record_name(self.record_id)

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """``sample,time_s,label,prob_N,...,prob_Q`` (header only when no beat was found)."""
        path = Path(path)
        with atomic_write(path, "w", newline="") as f:
            f.write("sample,time_s,label," + ",".join(f"prob_{c}" for c in CLASSES) + "\n")
            for s, label, p in zip(self.sample, self.labels, self.probs, strict=True):
                f.write(f"{int(s)},{s / self.fs:.4f},{label}," + ",".join(f"{v:.5f}" for v in p) + "\n")
        return path

    def write_annotations(self, directory: str | os.PathLike[str], extension: str = "ecglab") -> Path | None:
        """WFDB annotation file ``<record>.<extension>`` (AAMI letters are valid MIT codes)."""
        if not len(self.sample):
            return None
        from ecglab.io.wfdb_io import write_annotations

        ann = Annotations(sample=self.sample, symbol=tuple(self.labels))
        return write_annotations(ann, Path(directory) / self.output_name, self.fs, extension)


class BeatClassifier:
    """A trained beat model with its window spec, applied to whole records.

    Parameters
    ----------
    model
        The torch model, or None with ``onnx_path``.
    cfg
        The model's training config (window spec, leads).
    backend
        ``torch`` or ``onnx`` (onnxruntime; needs ``onnx_path``).
    lead_preference
        Leads to try, in order, when a record lacks the training lead(s).
    """

    def __init__(
        self,
        model: Any,
        cfg: Any,
        *,
        backend: str = "torch",
        onnx_path: str | os.PathLike[str] | None = None,
        lead_preference: Sequence[str] = DEFAULT_LEAD_PREFERENCE,
    ) -> None:
        from ecglab.training.beats import window_spec

        if backend not in ("torch", "onnx"):
            raise RecordError(f"unknown backend {backend!r} (torch or onnx)")
        self.model = model
        self.cfg = cfg
        self.spec = window_spec(cfg)
        self.train_leads = tuple(cfg.data.leads)
        self.lead_preference = tuple(lead_preference)
        self.backend = backend
        self._onnx = None
        if backend == "onnx":
            from ecglab.export import OnnxModel

            if onnx_path is None:
                raise RecordError("backend onnx needs an ONNX file (ecglab export --model ... --out F.onnx)")
            self._onnx = OnnxModel(onnx_path)
            # RR features the file takes: its own input width (older models take fewer).
            rr_input = next(i for i in self._onnx.session.get_inputs() if i.name == "rr")
            self._onnx_n_rr = int(rr_input.shape[1])

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike[str], **kwargs: Any) -> BeatClassifier:
        """Load a shipped model by name, or a run/weights folder (see :mod:`ecglab.pretrained`)."""
        from ecglab.pretrained import load_task_model

        net, cfg, _folder, onnx_path = load_task_model(
            model, "beats", backend=kwargs.get("backend", "torch"), onnx_path=kwargs.get("onnx_path"),
            error=RecordError,
        )  # fmt: skip
        if onnx_path is not None:
            kwargs["onnx_path"] = onnx_path
        return cls(net, cfg, **kwargs)

    def choose_leads(self, recording: Recording) -> tuple[str, ...]:
        """The training leads if present (``"V1|V2"``: the first alternative present), else the
        first ones of the preference list that are."""
        have = set(recording.leads)
        wanted = resolve_alternatives(self.train_leads, recording.leads)
        if all(lead in have for lead in wanted):
            return wanted
        pick = [lead for lead in self.lead_preference if lead in have][: len(self.train_leads)]
        if len(pick) < len(self.train_leads):
            ecg = [lead for lead in recording.leads if is_known_lead(lead) and lead not in pick]
            pick += ecg[: len(self.train_leads) - len(pick)]
        if len(pick) < len(self.train_leads):
            raise LeadError(
                f"record {recording.record_id!r}: no usable ECG lead among {', '.join(recording.leads)} "
                f"(model needs {len(self.train_leads)})"
            )
        return tuple(pick)

    def proba(self, windows: np.ndarray, rr: np.ndarray) -> np.ndarray:
        """Class probabilities of prepared beats."""
        if not len(windows):
            return np.zeros((0, len(CLASSES)), np.float32)
        if self._onnx is not None:
            rr = rr[:, : self._onnx_n_rr]  # features are only appended: older models use the first ones
            out = []
            for i in range(0, len(windows), 8192):
                logits = self._onnx(window=windows[i : i + 8192], rr=rr[i : i + 8192])[0]
                e = np.exp(logits - logits.max(1, keepdims=True))
                out.append(e / e.sum(1, keepdims=True))
            return np.concatenate(out).astype(np.float32)
        from ecglab.training.beats import predict_proba

        return predict_proba(self.model, windows, rr)

    def predict(
        self,
        recording: Recording,
        *,
        peaks: np.ndarray | str | None = None,
        leads: Sequence[str] | None = None,
    ) -> BeatPrediction:
        """Classify the beats of ``recording``.

        Parameters
        ----------
        peaks
            None: ecglab's own detector on the chosen leads; ``"atr"``: the record's reference beat
            annotations; or an array of R-peak samples.
        leads
            Force these leads instead of choosing.
        """
        from ecglab.signal.beats import extract_beats
        from ecglab.signal.peaks import detect_rpeaks

        where = f"record {recording.record_id!r}"
        if recording.fs < MIN_FS:
            raise RecordError(
                f"{where}: sampling rate {recording.fs:g} Hz is below {MIN_FS:g} Hz (QRS not resolved)"
            )
        if leads:
            chosen = normalize_leads(leads, allow_unknown=True, where=where)
            if len(chosen) != len(self.train_leads):
                raise LeadError(
                    f"{where}: {len(chosen)} lead(s) given ({', '.join(chosen)}) but the model takes "
                    f"{len(self.train_leads)} ({', '.join(self.train_leads)})"
                )
        else:
            chosen = self.choose_leads(recording)
        notes: list[str] = []
        if chosen != resolve_alternatives(self.train_leads, chosen):
            notes.append(f"lead(s) {', '.join(chosen)} used in place of {', '.join(self.train_leads)}")
        if isinstance(peaks, str):
            if peaks != "atr":
                raise RecordError(f"peaks must be 'atr', None or an array, got {peaks!r}")
            from ecglab.metrics.beats import reference_beats

            if recording.annotations is None:
                raise RecordError(f"{where}: --peaks-from atr but the record has no .atr annotations")
            samples, source = reference_beats(recording.annotations, exclude_flutter=False), "atr"
        elif peaks is None:
            # Detect on every ECG lead (the detector fuses them), classify on the chosen ones.
            ecg = [lead for lead in recording.leads if is_known_lead(lead)] or list(chosen)
            samples, source = detect_rpeaks(recording, leads=ecg), "ecglab"
        else:
            from ecglab.signal.beats import check_peaks

            samples, source = check_peaks(np.asarray(peaks), recording.n_samples, where=where), "given"
        if not len(samples):
            notes.append("no beats found")
            return BeatPrediction(recording.record_id, recording.fs, np.zeros(0, np.int64),
                                  np.zeros((0, len(CLASSES)), np.float32), chosen, source, notes)  # fmt: skip
        windows, rr, kept = extract_beats(recording, samples, self.spec, chosen)
        probs = self.proba(windows, rr)
        return BeatPrediction(recording.record_id, recording.fs, samples[kept], probs, chosen, source, notes)
