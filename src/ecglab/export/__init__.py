"""Export trained models: ONNX files with a verified torch ↔ onnxruntime parity report."""

from ecglab.export.onnx import OnnxModel, ParityReport, check_parity, export_onnx

__all__ = ["OnnxModel", "ParityReport", "check_parity", "export_onnx"]
