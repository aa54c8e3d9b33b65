"""``ecglab digitize`` and ``ecglab evaluate-digitization``: the classical image → signal digitizer."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ecglab.cli.console import console, debug_enabled, err_console
from ecglab.errors import ConfigError, EcglabError


def register(app: typer.Typer) -> None:
    """Add ``digitize`` and ``evaluate-digitization`` to the app."""
    app.command("digitize")(digitize)
    app.command("evaluate-digitization")(evaluate_digitization)


def digitize(
    images: list[Path] = typer.Argument(..., help="ECG page images (PNG, JPEG, ...).", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    fs: float = typer.Option(500.0, "--fs", help="Output sampling rate, Hz."),
    layout: str = typer.Option("auto", help="auto, 3x4, 3x4+1, 3x4+3, 6x2 or 12x1."),
    duration: float = typer.Option(10.0, "--duration", help="Seconds shown by a full row."),
    einthoven: bool = typer.Option(False, "--einthoven", help="Correct the limb leads with Einthoven's law."),
    overlay: bool = typer.Option(
        False, "--overlay", help="Also write <stem>.overlay.png (traces over the image)."
    ),
) -> None:
    """Digitize ECG images: <stem>.hea/.dat (WFDB, 12 leads, mV, NaN = not plotted) and <stem>.csv."""
    from ecglab.digitize.pipeline import digitize_image

    if not fs > 0:
        raise ConfigError(f"--fs must be > 0, got {fs:g}")
    out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    for path in images:
        try:
            result = digitize_image(path, fs=fs, layout=layout, duration_s=duration, einthoven=einthoven)
            written = write_result(result, out, overlay_image=path if overlay else None)
        except EcglabError as exc:
            if debug_enabled():
                raise
            failed.append(str(exc))
            continue
        names = ", ".join(p.name for p in written)
        console.print(f"{escape(path.name)}: layout {result.layout.name} → {escape(names)}", highlight=False)
    console.print(f"digitized {len(images) - len(failed)} of {len(images)} image(s) into {escape(str(out))}/")
    if failed:
        err_console.print(f"[red]{len(failed)} image(s) failed:[/]")
        for line in failed:
            err_console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def write_result(result, out: Path, *, overlay_image: Path | None = None) -> list[Path]:
    """Write ``<stem>.hea/.dat``, ``<stem>.csv`` and optionally ``<stem>.overlay.png``; return the paths."""
    import cv2
    import numpy as np

    from ecglab.digitize.image import load_image
    from ecglab.digitize.overlay import draw_overlay
    from ecglab.io.atomic import atomic_write

    stem = result.record_id
    paths = [_write_wfdb(result, out, stem)]
    lines = [",".join(result.lead_names)]
    text = np.char.mod("%.5g", result.signal.T.astype(np.float64))
    text[np.isnan(result.signal.T)] = ""
    lines += [",".join(row) for row in text.tolist()]
    csv_path = out / f"{stem}.csv"
    with atomic_write(csv_path) as fh:
        fh.write("\n".join(lines) + "\n")
    paths.append(csv_path)
    if overlay_image is not None:
        picture = draw_overlay(load_image(overlay_image), result)
        _ok, data = cv2.imencode(".png", picture[..., ::-1])
        png = out / f"{stem}.overlay.png"
        with atomic_write(png, "wb") as fh:
            fh.write(data.tobytes())
        paths.append(png)
    return paths


def _write_wfdb(result, out: Path, stem: str) -> Path:
    """WFDB format 16 at 1 µV with NaN as wfdb's missing value (``write_wfdb`` refuses all-NaN leads)."""
    import shutil
    import tempfile
    import warnings

    import numpy as np
    import wfdb

    from ecglab.errors import RecordError
    from ecglab.io.wfdb_io import safe_record_name

    name = safe_record_name(stem)
    signal = result.signal.astype(np.float64).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        peak = np.nan_to_num(np.nanmax(np.abs(signal), axis=0), nan=0.0)
    gains = [1000.0 if p * 1000 <= 32767 else float(np.floor(32767 / p)) for p in peak]
    digital = np.round(signal * np.asarray(gains)[None, :])
    digital = np.where(np.isnan(digital), -32768, digital).astype(np.int16)
    n = len(result.lead_names)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        try:
            wfdb.wrsamp(
                name, fs=result.fs, units=["mV"] * n, sig_name=list(result.lead_names), d_signal=digital,
                fmt=["16"] * n, adc_gain=gains, baseline=[0] * n, write_dir=tmp,
                comments=[f"digitized by ecglab.digitize (classical), layout {result.layout.name}",
                          "NaN = not plotted"],
            )  # fmt: skip
        except Exception as exc:
            raise RecordError(f"{out / name}: wfdb could not write the record: {exc}") from None
        for ext in (".dat", ".hea"):  # header last: a reader never sees a header without its data
            shutil.move(str(Path(tmp) / f"{name}{ext}"), str(out / f"{name}{ext}"))
    return out / f"{name}.hea"


def evaluate_digitization(
    images: Path = typer.Option(..., "--images", help="Folder of images."),
    truth: Path = typer.Option(..., "--truth", help="Folder of truth WFDB records (may be --images)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder for the JSON, CSV and PNG."),
    layout: str = typer.Option("auto", help="auto or a layout name."),
    einthoven: bool = typer.Option(False, "--einthoven", help="Correct the limb leads with Einthoven's law."),
    limit: int | None = typer.Option(None, help="Score only the first N pairs."),
) -> None:
    """Digitize paired images and score them: Kaggle and PhysioNet-2024 SNR, Pearson r, RMSE."""
    from ecglab.digitize.evaluate import evaluate_digitization as run

    result = run(images, truth, out, layout=layout, einthoven=einthoven, limit=limit)
    s = result["summary"]
    console.print(
        f"{s['images']} image(s), {s['failed']} failed: Kaggle {s['kaggle_score_db']:.2f} dB, "
        f"PhysioNet {s['physionet_db_mean']:.2f} dB, r {s['pearson_r_mean']:.3f}, "
        f"RMSE {s['rmse_mv_mean']:.3f} mV, {s['seconds_per_image']:.2f} s/image",
        highlight=False,
    )
    console.print(f"wrote {escape(str(out))}/digitization_eval.json, .csv, _leads.png")
    if s["unpaired"]:
        err_console.print(
            f"{len(s['unpaired'])} image(s) had no truth record: {', '.join(s['unpaired'][:5])}"
        )
