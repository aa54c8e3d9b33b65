"""ONNX export and torch ↔ onnxruntime parity on a small model."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from ecglab.export import OnnxModel, check_parity, export_onnx
from ecglab.export.onnx import ExportError


class _TwoInputNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 8, 5, padding=2)
        self.norm = torch.nn.BatchNorm1d(8)
        self.head = torch.nn.Linear(8 + 3, 5)

    def forward(self, window: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.conv(window)).relu().amax(-1)
        return self.head(torch.cat([h, rr], 1))


def test_export_has_a_dynamic_batch_and_matches_torch(tmp_path):
    torch.manual_seed(0)
    model = _TwoInputNet().eval()
    example = {"window": torch.randn(2, 2, 64), "rr": torch.randn(2, 3)}
    umask = os.umask(0o022)
    try:
        path = export_onnx(model, example, tmp_path / "m.onnx")
    finally:
        os.umask(umask)
    assert path.is_file() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert path.stat().st_mode & 0o777 == 0o644  # as any new file, not mkstemp's 0600
    session = OnnxModel(path)
    assert session.input_names == ["window", "rr"]
    for batch in (1, 37):
        inputs = {"window": torch.randn(batch, 2, 64), "rr": torch.randn(batch, 3)}
        report = check_parity(model, path, inputs, atol=1e-4)
        assert report.ok and report.n_inputs == batch and report.max_abs_diff < 1e-4
    out = session(window=np.zeros((3, 2, 64), np.float32), rr=np.zeros((3, 3), np.float32))[0]
    assert out.shape == (3, 5)


def test_parity_detects_a_different_model(tmp_path):
    torch.manual_seed(0)
    model = _TwoInputNet().eval()
    example = {"window": torch.randn(2, 2, 64), "rr": torch.randn(2, 3)}
    path = export_onnx(model, example, tmp_path / "m.onnx")
    with torch.no_grad():
        model.head.bias += 1.0
    assert not check_parity(model, path, example).ok


def test_missing_file_and_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ExportError, match="ONNX file not found"):
        OnnxModel(tmp_path / "nope.onnx")
