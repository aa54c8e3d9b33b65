"""One self-contained HTML page about one digitized ECG image: pictures, per-lead plot, scores, labels.

Every picture is embedded as a base64 data URI, so the file can be mailed or opened offline. Large
pictures are downscaled (at most :data:`MAX_WIDTH_PX` wide) and the page photos are JPEG-encoded
to keep the file at a few hundred kB; the per-lead plot is a small PNG (sharp lines).
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ecglab.errors import RecordError
from ecglab.io.atomic import atomic_write
from ecglab.io.leads import STANDARD_12

__all__ = ["write_report"]

#: Widest embedded picture, pixels.
MAX_WIDTH_PX = 1400
#: JPEG quality of the embedded page image and overlay.
JPEG_QUALITY = 75

_STYLE = """
body{font-family:system-ui,-apple-system,sans-serif;margin:1.5em auto;max-width:1450px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}img{max-width:100%;border:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}tr.total{font-weight:bold;background:#f4f4f4}
.labels span{display:inline-block;background:#e8f0fe;border-radius:4px;padding:.1em .5em;margin:.1em}
.muted{color:#777}
"""


def write_report(
    path: str | os.PathLike[str],
    *,
    image: str | os.PathLike[str] | np.ndarray,
    overlay: str | os.PathLike[str] | np.ndarray | None,
    truth: np.ndarray,
    digitized: np.ndarray,
    fs: float,
    labels: Sequence[str] | None = None,
    scores: Mapping[str, float] | None = None,
    title: str = "ECG digitization report",
    notes: Sequence[str] = (),
) -> Path:
    """Write one self-contained HTML report of a digitization, atomically.

    Parameters
    ----------
    path
        Destination ``.html`` file.
    image
        The page that was digitized: an image file or ``[H, W, 3]`` uint8 RGB.
    overlay
        The page with the extracted traces drawn over it (file or RGB array), or None.
    truth, digitized
        ``[12, n]`` mV in :data:`~ecglab.io.leads.STANDARD_12` order, same shape; NaN in ``truth``
        = not plotted (not scored), NaN in ``digitized`` = not found (scored as 0 mV).
    fs
        Sampling rate of both signals, Hz.
    labels
        Classes a classifier predicted for the digitized record (None: not classified).
    scores
        Class name → probability, shown as a table (highest first); optional.
    title
        Page title.
    notes
        Free lines shown under the title (digitizer notes, classifier notes).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    RecordError
        If the signals are not ``[12, n]`` of the same shape or ``fs`` is not positive.
    """
    from ecglab.digitize.evaluate import score_prediction

    path = Path(path)
    truth = np.asarray(truth, dtype=np.float64)
    digitized = np.asarray(digitized, dtype=np.float64)
    if truth.shape != digitized.shape or truth.ndim != 2 or truth.shape[0] != len(STANDARD_12):
        raise RecordError(
            f"{path}: report needs truth and digitized signals of the same [12, n] shape, "
            f"got {truth.shape} and {digitized.shape}"
        )
    if not fs > 0:
        raise RecordError(f"{path}: report needs fs > 0, got {fs}")
    metrics = score_prediction(truth, digitized, fs)
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        _summary_html(metrics, truth.shape[1] / fs, fs),
        "".join(f"<p class='muted'>{html.escape(str(n))}</p>" for n in notes),
        "<h2>Predicted labels</h2>",
        _labels_html(labels, scores),
        "<h2>Per-lead scores</h2>",
        _scores_table(metrics),
        "<h2>Digitized (red) vs true (black) signal</h2>",
        _img_tag(_encode(_lead_plot(truth, digitized, fs), ".png"), "per-lead plot", "png"),
        "<h2>Page image</h2>",
        _img_tag(_encode(_picture(image), ".jpg"), "page image", "jpeg"),
    ]
    if overlay is not None:
        parts += ["<h2>Extracted traces over the page</h2>"]
        parts += [_img_tag(_encode(_picture(overlay), ".jpg"), "overlay", "jpeg")]
    parts.append("</body></html>\n")
    with atomic_write(path, encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    return path


def _fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}f}"


def _summary_html(metrics: dict, seconds: float, fs: float) -> str:
    return (
        f"<p>{seconds:g} s at {fs:g} Hz. Overall: <b>Kaggle SNR {_fmt(metrics['kaggle_db'])} dB</b>, "
        f"PhysioNet 2024 SNR {_fmt(metrics['physionet_db'])} dB (mean over leads), "
        f"Pearson r {_fmt(metrics['pearson_r'], 3)}, RMSE {_fmt(metrics['rmse_mv'], 3)} mV.</p>"
    )


def _labels_html(labels: Sequence[str] | None, scores: Mapping[str, float] | None) -> str:
    if labels is None:
        text = "<p class='muted'>not classified</p>"
    elif not labels:
        text = "<p>no class above its threshold</p>"
    else:
        text = "<p class='labels'>" + "".join(f"<span>{html.escape(str(x))}</span>" for x in labels) + "</p>"
    if scores:
        top = sorted(scores.items(), key=lambda kv: -kv[1])[:10]
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{v:.3f}</td></tr>" for k, v in top)
        text += f"<table><tr><th>class</th><th>probability</th></tr>{rows}</table>"
    return text


def _scores_table(metrics: dict) -> str:
    head = (
        "<table><tr><th>lead</th><th>Kaggle SNR dB</th><th>PhysioNet SNR dB</th>"
        "<th>Pearson r</th><th>RMSE mV</th></tr>"
    )
    rows = [
        f"<tr><td>{lead}</td><td>{_fmt(m['kaggle_db'])}</td><td>{_fmt(m['physionet_db'])}</td>"
        f"<td>{_fmt(m['pearson_r'], 3)}</td><td>{_fmt(m['rmse_mv'], 3)}</td></tr>"
        for lead, m in metrics["leads"].items()
    ]
    # The overall Kaggle figure sums powers over leads (the competition's definition), not a mean of dB.
    rows.append(
        f"<tr class='total'><td>overall</td><td>{_fmt(metrics['kaggle_db'])}</td>"
        f"<td>{_fmt(metrics['physionet_db'])}</td><td>{_fmt(metrics['pearson_r'], 3)}</td>"
        f"<td>{_fmt(metrics['rmse_mv'], 3)}</td></tr>"
    )
    caption = (
        "<p class='muted'>A lead's Kaggle SNR is its own ratio after the metric's shift and offset "
        "alignment; the overall one sums the powers over the leads, as the competition does. PhysioNet "
        "2024 SNR has no alignment (a baseline offset counts as error).</p>"
    )
    return head + "".join(rows) + "</table>" + caption


def _lead_plot(truth: np.ndarray, digitized: np.ndarray, fs: float) -> np.ndarray:
    """12 panels (6 rows x 2 columns), truth black and digitized red, as an RGB array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # the OO API: no pyplot state, no display backend needed

    t = np.arange(truth.shape[1]) / fs
    fig = Figure(figsize=(13, 9), dpi=72, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(6, 2, sharex=True).T.ravel()  # column-major: limb leads left, chest leads right
    for ax, name, tr, dg in zip(axes, STANDARD_12, truth, digitized, strict=True):
        ax.plot(t, tr, color="black", lw=0.9, label="true")
        ax.plot(t, dg, color="tab:red", lw=0.7, alpha=0.85, label="digitized")
        ax.set_ylabel(f"{name}\nmV", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper right")
    for ax in (axes[5], axes[11]):
        ax.set_xlabel("s", fontsize=8)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _picture(source: str | os.PathLike[str] | np.ndarray) -> np.ndarray:
    """RGB array of an image file or array, at most :data:`MAX_WIDTH_PX` wide."""
    import cv2

    from ecglab.digitize.image import as_rgb

    if isinstance(source, (str, os.PathLike)):
        # Not load_image: its size limits are the digitizer's, a report shows any picture.
        bgr = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if bgr is None:
            raise RecordError(f"{source}: not a readable image")
        rgb = np.ascontiguousarray(bgr[..., ::-1])
    else:
        rgb = as_rgb(source, where="image")
    if rgb.shape[1] > MAX_WIDTH_PX:
        height = round(rgb.shape[0] * MAX_WIDTH_PX / rgb.shape[1])
        rgb = cv2.resize(rgb, (MAX_WIDTH_PX, height), interpolation=cv2.INTER_AREA)
    return rgb


def _encode(rgb: np.ndarray, ext: str) -> bytes:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if ext == ".jpg" else []
    ok, data = cv2.imencode(ext, np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise RecordError(f"could not encode a {rgb.shape} picture as {ext}")
    return data.tobytes()


def _img_tag(data: bytes, alt: str, kind: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f"<p><img alt='{alt}' src='data:image/{kind};base64,{encoded}'></p>"
