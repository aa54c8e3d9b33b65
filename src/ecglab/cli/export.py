"""``ecglab export --model M --out model.onnx``: ONNX with a verified parity report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ecglab.cli.console import console
from ecglab.errors import EcglabError
from ecglab.io.atomic import atomic_write


def register(app: typer.Typer) -> None:
    """Add ``export`` to the app."""
    app.command("export")(export)


def export(
    model: str = typer.Option("mitdb-beats", "--model", "-m", help="Shipped model name or a run folder."),
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write."),
    atol: float = typer.Option(1e-4, help="Largest torch/onnxruntime difference accepted."),
    data: Path | None = typer.Option(None, "--data", help="Data root for parity on real beats."),
) -> None:
    """Export to ONNX and check it against torch (beats, 12-lead windows or page crops)."""
    import torch

    from ecglab.pretrained import load_model

    net, cfg, _ = load_model(model)
    if cfg.task == "multilabel":
        _export_multilabel(model, out, atol, data)
        return
    if cfg.task == "digitize":
        _export_digitizer(net, cfg, out, atol)
        return
    if cfg.task != "beats":
        raise EcglabError(f"export of task {cfg.task!r} models is not supported yet")
    windows, rr, source = _parity_beats(cfg, data)
    inputs = {"window": torch.from_numpy(windows), "rr": torch.from_numpy(rr)}
    _export_checked(net, inputs, out, atol, source)


def _export_checked(
    net: Any, inputs: dict[str, Any], out: Path, atol: float, source: str, **options: Any
) -> None:
    """Export ``net`` (example: the first two inputs), check parity on all ``inputs``, write the
    ``.parity.json`` report; a failed parity removes the file and raises."""
    from ecglab.export import check_parity, export_onnx

    path = export_onnx(net, {k: v[:2] for k, v in inputs.items()}, out, **options)
    report = check_parity(net, path, inputs, atol=atol)
    with atomic_write(path.with_suffix(".parity.json"), "w") as f:
        json.dump({**report.as_dict(), "inputs": source}, f, indent=2)
    if not report.ok:
        path.unlink()
        raise EcglabError(f"{path}: parity failed, max |torch - onnx| = {report.max_abs_diff:.2e} > {atol:g}")
    console.print(
        f"wrote {path}  (parity on {report.n_inputs} {source}: max |diff| = {report.max_abs_diff:.2e})"
    )


def _parity_beats(cfg: Any, data: Path | None) -> tuple[Any, Any, str]:
    """Real MIT-BIH beats when the data is there, else seeded random windows (said in the report)."""
    import numpy as np

    from ecglab.training.beats import window_spec

    try:
        from ecglab.datasets.mitdb import load_beat_set

        beats = load_beat_set(["100", "208"], data_root=str(data) if data else None, spec=window_spec(cfg),
                              leads=tuple(cfg.data.leads), progress=False)  # fmt: skip
        pick = np.random.default_rng(0).choice(len(beats), size=min(2048, len(beats)), replace=False)
        return beats.windows[pick], beats.rr[pick], "real beats of MIT-BIH 100 and 208"
    except EcglabError:
        rng = np.random.default_rng(0)
        spec = window_spec(cfg)
        from ecglab.signal.beats import RR_FEATURE_NAMES

        n_rows = len(cfg.data.leads) * spec.channels_per_lead
        windows = rng.normal(size=(512, n_rows, spec.n_samples)).astype(np.float32)
        rr = rng.uniform(0.3, 1.5, size=(512, len(RR_FEATURE_NAMES))).astype(np.float32)
        return windows, rr, "random beats (no MIT-BIH data found)"


def _export_multilabel(model: str, out: Path, atol: float, data: Path | None) -> None:
    """Export a 12-lead classifier (inputs ``x`` [batch, leads, time] and, if used, ``demo``) with a
    dynamic time axis; parity on preprocessed shared records (random signals when none are found)."""
    import numpy as np
    import torch

    from ecglab.predict import MultilabelClassifier

    clf = MultilabelClassifier.from_pretrained(model)
    x, source = _parity_records(clf, data)
    inputs = {"x": torch.from_numpy(x)}
    if clf.use_demo:
        demo = np.tile(np.array([[0.5, 1.0, 0.0]], np.float32), (len(x), 1))
        inputs["demo"] = torch.from_numpy(demo)
    _export_checked(clf.model, inputs, out, atol, source, dynamic_axes={"x": {2: "time"}})


def _parity_records(clf: Any, data: Path | None) -> tuple[Any, str]:
    """Model-ready windows of up to 16 shared CinC records, else seeded random signals."""
    import warnings

    import numpy as np

    from ecglab.io.paths import dataset_dir
    from ecglab.io.reader import iter_record_paths, read_record

    windows = []
    try:
        root = dataset_dir("cinc2020", str(data) if data else None)
        for path in sorted(iter_record_paths(root))[:40]:
            if "malformed" in str(path):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                windows.append(clf.prepare(read_record(path))[0][0])
            if len(windows) == 16:
                break
    except EcglabError:
        windows = []
    if windows:
        return np.stack(windows).astype(np.float32), f"windows of {len(windows)} shared CinC records"
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, len(clf.leads), clf.window)).astype(
        np.float32
    ), "random signals (no data found)"


def _export_digitizer(net: Any, cfg: Any, out: Path, atol: float) -> None:
    """Export a learned digitizer with dynamic crop sizes; parity on crops of a rendered page.

    ``series`` takes ``x [1, rows, 3, H, W]`` (any number of rows, any width), ``whole`` takes
    ``x [1, 3, H, W]`` (any page height and width); both output y logits and mask logits.
    """
    import numpy as np
    import torch

    from ecglab.datasets.digitize_pages import PageRecipe, page_example
    from ecglab.signal.simulate import simulate_12lead
    from ecglab.synth import render_page
    from ecglab.training.digitize import MODEL_MODES, crop_spec

    mode = MODEL_MODES[str(cfg.model.name)]
    spec = crop_spec(cfg)
    rec = simulate_12lead(duration=10.0, fs=500.0, seed=0, record_id="parity")
    page = render_page(rec, {"layout": "3x4+1", "dpi": 150}, rng=np.random.default_rng(0))
    example = page_example(
        page, mode, spec, np.random.default_rng(0), PageRecipe(jitter_mm=0.0, jitter_scale=0.0)
    )
    x = torch.from_numpy(np.moveaxis(example["image"], -1, -3)[None].astype(np.float32) / 255.0)
    axes = (
        {"x": {1: "rows", 3: "height", 4: "width"}} if mode == "series" else {"x": {2: "height", 3: "width"}}
    )
    source = f"canonical crops of a rendered 3x4+1 page ({tuple(x.shape)})"
    _export_checked(net, {"x": x}, out, atol, source, output_names=("y_logits", "mask_logits"),
                    dynamic_axes=axes, dim_min={"rows": 1})  # fmt: skip
