"""``ecglab digitize`` and ``ecglab evaluate-digitization``: ECG image → signals (classical or learned)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ecglab.cli.console import console, debug_enabled, err_console
from ecglab.errors import ConfigError, EcglabError
from ecglab.io.recording import Recording

#: ``--model`` default: the shipped learned digitizer. It scores above the classical pipeline on
#: every benchmark set in PhysioNet SNR and on all but one in Kaggle SNR
#: (src/ecglab/pretrained/digitizer/card.md); the classical pipeline stays as ``--model classical``.
DEFAULT_DIGITIZER = "digitizer"
CLASSICAL = "classical"


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
    model: str = typer.Option(
        DEFAULT_DIGITIZER,
        "--model",
        help="Learned digitizer: a shipped name or a run folder; 'classical' for the classical pipeline "
        "(column tracking, no model).",
    ),
    backend: str = typer.Option("torch", "--backend", help="Runtime of --model: torch or onnx."),
    tta: bool = typer.Option(False, "--tta", help="Flip test-time augmentation for --model."),
    bar_hold: bool = typer.Option(
        True, "--bar-hold/--no-bar-hold", help="With --model: hold the trace beside thick lead separators."
    ),
    widen_pen: bool = typer.Option(
        True, "--widen-pen/--no-widen-pen", help="With --model: widen a pen thinner than 0.32 mm first."
    ),
    classify: str | None = typer.Option(
        None,
        "--classify",
        help="Also classify each digitized record with this multilabel model (e.g. cinc-12lead, or a "
        "run folder): writes <stem>.classes.csv (challenge format).",
        show_default=False,
    ),
) -> None:
    """Digitize ECG images: <stem>.hea/.dat (WFDB, 12 leads, mV, NaN = not plotted) and <stem>.csv."""
    from ecglab.digitize.pipeline import digitize_image

    if not fs > 0:
        raise ConfigError(f"--fs must be > 0, got {fs:g}")
    learned = _learned_kwargs(model, backend, tta, bar_hold, widen_pen)
    classifier = _load_classifier(classify) if classify is not None else None
    out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    done = 0
    for path in images:
        try:
            result = digitize_image(
                path, fs=fs, layout=layout, duration_s=duration, einthoven=einthoven, **learned
            )
            written = write_result(result, out, overlay_image=path if overlay else None)
        except EcglabError as exc:
            if debug_enabled():
                raise
            failed.append(str(exc))
            continue
        done += 1
        names = ", ".join(p.name for p in written)
        console.print(f"{escape(path.name)}: layout {result.layout.name} → {escape(names)}", highlight=False)
        if classifier is not None:
            try:
                prediction = classifier.predict(
                    recording_for_classifier(result), page=result.layout.name in PAGE_LAYOUTS
                )
                csv_path = prediction.write_challenge(out / f"{result.record_id}.classes.csv")
            except EcglabError as exc:
                if debug_enabled():
                    raise
                failed.append(f"{path}: classification failed: {exc}")
                continue
            labels = ", ".join(prediction.positive()) or "no class"
            console.print(
                f"  {escape(classify)}: {escape(labels)} → {escape(csv_path.name)}", highlight=False
            )
    console.print(f"digitized {done} of {len(images)} image(s) into {escape(str(out))}/")
    if failed:
        err_console.print(f"[red]{len(failed)} image(s) failed:[/]")
        for line in failed:
            err_console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _learned_kwargs(
    model: str | None, backend: str, tta: bool, bar_hold: bool = True, widen_pen: bool = True
) -> dict[str, Any]:
    """``model=`` (``hold_bars=``, ``thicken_thin_pen=``) for :func:`digitize_image`, the model loaded once.

    Exits with code 2 (one line) on a bad backend or a model that cannot be loaded.
    """
    if backend not in ("torch", "onnx"):
        _usage_error(f"--backend {backend!r}: choose torch or onnx")
    if model is None or model == CLASSICAL:
        return {}
    from ecglab.digitize.learned import load_digitizer

    try:
        return {
            "model": load_digitizer(model, backend, tta),
            "hold_bars": bar_hold,
            "thicken_thin_pen": widen_pen,
        }
    except EcglabError as exc:
        _usage_error(f"--model {model}: {exc}")
    return {}  # not reached: _usage_error exits


def _load_classifier(name: str):
    """The multilabel classifier ``name`` (shipped name or run folder); exit 2 with one line if unusable."""
    from ecglab.predict import MultilabelClassifier

    try:
        return MultilabelClassifier.from_pretrained(name)
    except EcglabError as exc:
        if debug_enabled():
            raise
        _usage_error(f"--classify {name}: {exc}")


def _usage_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


#: Layouts that plot each lead for a quarter of the page: classified with the page thresholds.
PAGE_LAYOUTS: tuple[str, ...] = ("3x4", "3x4+1", "3x4+3")


def recording_for_classifier(result) -> Recording:
    """The digitized record as a 12-lead classifier should see it: NaN (not plotted) set to 0 mV.

    A 3x4 page shows each lead for 2.5 s only, at a different time for each column, so no window
    has all 12 leads and the classifier must see a partly empty record. ``MultilabelClassifier``
    would accept the NaN (its preprocessing z-scores each lead over the plotted samples and sets
    NaN to 0 = that lead's mean), but a flat 0 mV baseline is closer to what it was trained on:
    on 60 records of /work/shared/data/cinc2020 masked to a 3x4+1 page, the labels predicted from
    the 0 mV-filled record matched those of the full 10-s record with F1 0.78, against 0.62 with the
    NaN left in and 0.57-0.59 with each lead's 2.5 s moved to a common window (plain or tiled).
    Labels from a printed page are therefore an approximation of the full-record labels. The
    classifier's thresholds for full records over-call on such input; the page thresholds
    (``predict(page=True)`` for :data:`PAGE_LAYOUTS`, ``benchmarks/classify_pages.py``) were
    tuned on validation records masked as a 3x4+1 page.
    """
    import numpy as np

    rec = result.recording
    return rec.replace(signal=np.nan_to_num(rec.signal, nan=0.0))


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
                comments=[f"digitized by ecglab.digitize ({result.method}), layout {result.layout.name}",
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
    model: str = typer.Option(
        DEFAULT_DIGITIZER,
        "--model",
        help="Learned digitizer (shipped name or run folder), or 'classical'.",
    ),
    backend: str = typer.Option("torch", "--backend", help="Runtime of --model: torch or onnx."),
    tta: bool = typer.Option(False, "--tta", help="Flip test-time augmentation for --model."),
    bar_hold: bool = typer.Option(
        True, "--bar-hold/--no-bar-hold", help="With --model: hold the trace beside thick lead separators."
    ),
    widen_pen: bool = typer.Option(
        True, "--widen-pen/--no-widen-pen", help="With --model: widen a pen thinner than 0.32 mm first."
    ),
) -> None:
    """Digitize paired images and score them: Kaggle and PhysioNet-2024 SNR, Pearson r, RMSE."""
    from ecglab.digitize.evaluate import evaluate_digitization as run

    learned = _learned_kwargs(model, backend, tta, bar_hold, widen_pen)
    result = run(images, truth, out, layout=layout, einthoven=einthoven, limit=limit, **learned)
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
