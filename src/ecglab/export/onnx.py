"""ONNX export through ``torch.onnx`` (the torch.export-based exporter) and onnxruntime inference.

Every input's first axis is exported as a dynamic batch axis, so one file serves a single beat and a
batch of thousands. :func:`check_parity` runs the same inputs through torch and onnxruntime and
reports the largest absolute difference; the CLI refuses to call an export done when it exceeds the
tolerance.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecglab.errors import EcglabError
from ecglab.io.atomic import usual_permissions


class ExportError(EcglabError):
    """Export failed, or the exported model disagrees with the torch model."""


@dataclass(frozen=True)
class ParityReport:
    """Result of a torch vs onnxruntime comparison."""

    max_abs_diff: float
    atol: float
    n_inputs: int

    @property
    def ok(self) -> bool:
        """True when every output agrees within ``atol``."""
        return self.max_abs_diff <= self.atol

    def as_dict(self) -> dict[str, float | int | bool]:
        """Plain values for JSON."""
        return {
            "max_abs_diff": self.max_abs_diff,
            "atol": self.atol,
            "n_inputs": self.n_inputs,
            "ok": self.ok,
        }


def export_onnx(
    model: torch.nn.Module,
    example_inputs: Mapping[str, torch.Tensor],
    out_path: str | os.PathLike[str],
    *,
    output_names: Sequence[str] = ("logits",),
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    dim_min: Mapping[str, int] | None = None,
) -> Path:
    """Export ``model(**example_inputs)`` (positional, in mapping order) to an ONNX file, atomically.

    Parameters
    ----------
    example_inputs
        Input name → example tensor; names become the ONNX input names and axis 0 is dynamic.
    output_names
        Names of the model's outputs in the ONNX graph.
    dynamic_axes
        More dynamic axes per input, e.g. ``{"x": {2: "time"}}`` for signals of any length (a
        dimension name shared by several inputs must be equal in all of them).
    dim_min
        Smallest size of a named dynamic dimension (default 16), e.g. ``{"rows": 1}``.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    names = list(example_inputs)
    args = tuple(example_inputs[n] for n in names)
    batch = torch.export.Dim("batch", min=1)
    dims: dict[str, Any] = {}
    dynamic = []
    for name in names:
        axes: dict[int, Any] = {0: batch}
        for axis, dim_name in (dynamic_axes or {}).get(name, {}).items():
            low = int((dim_min or {}).get(dim_name, 16))
            axes[int(axis)] = dims.setdefault(dim_name, torch.export.Dim(dim_name, min=low, max=1_000_000))
        dynamic.append(axes)
    dynamic = tuple(dynamic)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    usual_permissions(tmp)
    # The exporter logs one warning per torchvision operator it cannot register (ecglab has no
    # torchvision): noise for every export.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                args,
                input_names=names,
                output_names=list(output_names),
                dynamic_shapes=dynamic,
                dynamo=True,
                verbose=False,
            )
            program.save(tmp)
        import onnx

        onnx.checker.check_model(tmp)
        os.replace(tmp, out_path)
    except EcglabError:
        raise
    except Exception as exc:
        raise ExportError(f"{out_path}: ONNX export failed: {type(exc).__name__}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return out_path


class OnnxModel:
    """An onnxruntime session with numpy in, numpy out, and the input names of the file.

    Parameters
    ----------
    path
        ONNX file.
    threads
        Intra-op threads (None: onnxruntime's default, all cores).
    """

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ExportError(f"{path}: ONNX file not found")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        providers = [
            p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()
        ]
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:
            raise ExportError(f"{path}: onnxruntime cannot load it: {exc}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.path = path

    def __call__(self, **inputs: np.ndarray) -> list[np.ndarray]:
        """Run the model; keyword names must match the file's input names."""
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise ExportError(f"{self.path}: missing ONNX input(s) {', '.join(sorted(missing))}")
        feed = {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in self.input_names}
        return self.session.run(None, feed)


def check_parity(
    model: torch.nn.Module,
    onnx_path: str | os.PathLike[str],
    inputs: Mapping[str, torch.Tensor],
    *,
    atol: float = 1e-4,
) -> ParityReport:
    """Largest absolute difference between torch and onnxruntime outputs on ``inputs``."""
    model = model.eval()
    with torch.inference_mode():
        expected = model(*inputs.values())
    expected_list = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    got = OnnxModel(onnx_path)(**{k: v.detach().cpu().numpy() for k, v in inputs.items()})
    if len(got) != len(expected_list):
        raise ExportError(
            f"{onnx_path}: {len(got)} ONNX outputs but the torch model gives {len(expected_list)}"
        )
    diff = max(float(np.max(np.abs(g - e.cpu().numpy()))) for g, e in zip(got, expected_list, strict=True))
    n = int(next(iter(inputs.values())).shape[0])
    return ParityReport(max_abs_diff=diff, atol=atol, n_inputs=n)
