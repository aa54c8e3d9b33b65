"""Store a rendered :class:`~ecglab.synth.page.Page` with its ground truth, and read the truth back.

``write_page`` writes, all atomically (each file appears whole or not at all):

* ``<id>.png`` — the RGB image (or ``<id>.jpg``);
* ``<id>.mask.png`` — uint8 classes 0 background, 1 horizontal grid, 2 vertical grid,
  3 grid crossing, 4 trace;
* ``<id>.leads.png`` — uint8 instances, 0 none, ``k`` = lead index + 1;
* ``<id>.json`` — page geometry and per-panel truth (see :func:`page_truth`);
* ``<id>.hea`` / ``<id>.dat`` — the plotted signal (NaN where nothing was drawn) as a WFDB
  format-16 record at 1000 adu/mV (1 µV resolution), NaN stored as WFDB's missing value;
* ``<id>.csv`` with ``kaggle=True`` — one column per lead at ``fs``, blank where not plotted, like
  the train files of the Kaggle "PhysioNet - Digitization of ECG Images" competition.

PNGs are encoded by OpenCV with fixed options and no timestamps, so the same page gives
byte-identical files.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ecglab.errors import RecordError
from ecglab.io.atomic import atomic_dir_writes
from ecglab.synth.page import MASK_CLASSES, LeadGeometry, Page

IMAGE_FORMATS = ("png", "jpg")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # legal WFDB record name, safe file name
ADC_GAIN = 1000.0  # adu per mV: 1 µV resolution, ±32.767 mV range in format 16
_INT16_MAX = 32767  # -32768 is WFDB's missing-sample value in format 16
# zlib level 1 + PNG "up" filter: ECG paper repeats row to row, so this is ~2x faster than the
# defaults for a file ~20 % larger; masks also use run-length strategy (mostly long zero runs).
_PNG_IMAGE = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
_PNG_MASK = [*_PNG_IMAGE, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
# A damaged page (noise, blur, shadows) has few long matches for zlib to find: run-length strategy
# encodes it 30-50 % faster (measured 91-114 ms vs 135-225 ms at A4 200 DPI) for a size within
# +-10 %. Clean pages keep the default strategy (repeating grid rows compress far better with it).
_PNG_DAMAGED_IMAGE = _PNG_MASK
POINT_DECIMALS = 3  # JSON point coordinates rounded to 1e-3 px (drawn at 1/16 px; warped ones are floats)


def write_page(
    page: Page,
    out_dir: str | Path,
    image_id: str,
    *,
    kaggle: bool = False,
    image_format: str = "png",
    jpeg_quality: int = 92,
) -> dict[str, Path]:
    """Write the image, masks, JSON truth and WFDB signal of ``page`` into ``out_dir``.

    Parameters
    ----------
    page
        A rendered (possibly damaged) page.
    out_dir
        Destination folder (created if needed).
    image_id
        Base name of every file: letters, digits, ``_`` and ``-`` (it is also the WFDB record name).
    kaggle
        Also write ``<id>.csv`` in the Kaggle competition's train layout.
    image_format
        ``png`` (lossless, default) or ``jpg``; the masks are always PNG.
    jpeg_quality
        JPEG quality 1..100 for ``image_format="jpg"``.

    Returns
    -------
    dict
        Kind (``image``, ``mask``, ``leads``, ``json``, ``hea``, ``dat``, ``csv``) → path written.

    Raises
    ------
    RecordError
        If ``image_id`` is not a legal name, ``image_format`` is unknown or the page is malformed.
    """
    if not isinstance(image_id, str) or not _ID_RE.match(image_id):
        raise RecordError(
            f"image id {image_id!r}: use letters, digits, '_' and '-' only (not starting with them)"
        )
    if image_format not in IMAGE_FORMATS:
        raise RecordError(f"image format {image_format!r}: choose one of {', '.join(IMAGE_FORMATS)}")
    _check_page(page, image_id)
    out_dir = Path(out_dir)
    bgr = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
    if image_format == "png":
        image_bytes = _encode(".png", bgr, image_png_params(page), image_id)
    else:
        image_bytes = _encode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)], image_id)
    files = {
        "image": f"{image_id}.{image_format}",
        "mask": f"{image_id}.mask.png",
        "leads": f"{image_id}.leads.png",
        "json": f"{image_id}.json",
    }
    payload = {
        "image": image_bytes,
        "mask": _encode(".png", page.mask, _PNG_MASK, image_id),
        "leads": _encode(".png", page.leads, _PNG_MASK, image_id),
        "json": json.dumps(page_truth(page, image_file=files["image"]), separators=(",", ":")).encode(),
    }
    if kaggle:
        files["csv"] = f"{image_id}.csv"
        payload["csv"] = kaggle_csv(page).encode()
    with atomic_dir_writes(out_dir) as tmp:
        for kind, name in files.items():
            (tmp / name).write_bytes(payload[kind])
        _write_signal(page, image_id, tmp)
    files["hea"], files["dat"] = f"{image_id}.hea", f"{image_id}.dat"
    return {kind: out_dir / name for kind, name in files.items()}


def image_png_params(page: Page) -> list[int]:
    """OpenCV PNG options for the page image: run-length strategy when damage was applied."""
    return _PNG_DAMAGED_IMAGE if page.meta.get("damage") else _PNG_IMAGE


def _check_page(page: Page, image_id: str) -> None:
    h, w = page.mask.shape[:2] if page.mask.ndim == 2 else (-1, -1)
    if page.image.ndim != 3 or page.image.shape[2] != 3 or page.image.dtype != np.uint8:
        raise RecordError(
            f"page {image_id}: image must be [H, W, 3] uint8, got {page.image.shape} {page.image.dtype}"
        )
    if (h, w) != page.image.shape[:2] or page.leads.shape != page.mask.shape:
        raise RecordError(
            f"page {image_id}: image {page.image.shape[:2]}, mask {page.mask.shape} and leads "
            f"{page.leads.shape} differ in size"
        )
    if page.mask.dtype != np.uint8 or page.leads.dtype != np.uint8:
        raise RecordError(f"page {image_id}: mask and leads must be uint8")
    if page.signal.ndim != 2 or page.signal.shape[0] != len(page.lead_names):
        raise RecordError(
            f"page {image_id}: signal shape {page.signal.shape} does not match "
            f"{len(page.lead_names)} lead names"
        )


def _encode(ext: str, array: np.ndarray, params: list[int], image_id: str) -> bytes:
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(array), params)
    if not ok:
        raise RecordError(f"page {image_id}: OpenCV could not encode {ext}")
    return buf.tobytes()


# --------------------------------------------------------------------------------------- truth
def _points_json(points: np.ndarray) -> list[list[float] | None]:
    """Rows ``[x, y]`` rounded to ``POINT_DECIMALS`` (1/16 px values stay exact), None where NaN.

    Rounding keeps a warped page's JSON short (``1826.375`` instead of ``1826.3749872611…``) and
    faster to write; 1e-3 px is far below anything a digitizer resolves.
    """
    rows = np.round(points, POINT_DECIMALS).tolist()
    return [None if (math.isnan(r[0]) or math.isnan(r[1])) else r for r in rows]


def _jsonable(value: Any) -> Any:
    """Numpy scalars/arrays and tuples → plain JSON types (NaN → None)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def page_truth(page: Page, image_file: str | None = None) -> dict[str, Any]:
    """The JSON-able ground truth of ``page``: page geometry and one entry per drawn panel.

    Per panel (``leads`` list): ``name``, ``index`` (row of the signal), ``instance`` (value in the
    leads mask), ``bbox`` (flat page), ``start_sample``/``stop_sample`` (half-open, in the written
    signal) and ``start_s``/``stop_s``, ``source_start_sample``/``source_stop_sample`` (in the
    source recording), ``baseline_y``, ``x0``, ``px_per_mm_x``/``px_per_mm_y``,
    ``gain_mm_per_mv``, ``speed_mm_per_s`` and ``points`` (``[x, y]`` in image coordinates rounded
    to 1e-3 px, or null where the sample was not drawn).
    """
    from ecglab import __version__

    meta = dict(page.meta)
    offset = int(meta.pop("window_start_sample", 0))
    settings = meta.pop("settings", {})
    damage = meta.pop("damage", [])
    leads = []
    for geo in page.geometry:
        start, stop = int(geo.start_sample), int(geo.stop_sample)
        leads.append(
            {
                "name": geo.name,
                "index": int(geo.index),
                "instance": int(geo.index) + 1,
                "bbox": [float(v) for v in geo.bbox],
                "start_sample": start,
                "stop_sample": stop,
                "start_s": start / float(geo.fs),
                "stop_s": stop / float(geo.fs),
                "source_start_sample": start + offset,
                "source_stop_sample": stop + offset,
                "baseline_y": float(geo.baseline_y),
                "x0": float(geo.x0),
                "px_per_mm_x": float(geo.px_per_mm_x),
                "px_per_mm_y": float(geo.px_per_mm_y),
                "gain_mm_per_mv": float(geo.gain_mm_per_mv),
                "speed_mm_per_s": float(geo.speed_mm_per_s),
                "fs": float(geo.fs),
                "points": _points_json(np.asarray(geo.points, np.float64)),
            }
        )
    truth = {
        "ecglab_version": __version__,
        "image": image_file,
        "record_id": page.record_id,
        "width": page.width,
        "height": page.height,
        "dpi": meta.pop("dpi", None),
        "layout": meta.pop("layout", None),
        "fs": page.fs,
        "n_samples": int(page.signal.shape[1]),
        "lead_names": list(page.lead_names),
        "window_start_sample": offset,
        "homography": np.asarray(page.homography, np.float64).tolist(),
        "mask_classes": list(MASK_CLASSES),
        "coordinates": "pixel centres at integer (x, y); (0, 0) is the centre of the top-left pixel",
        "settings": settings,
        "damage": damage,
        **meta,
    }
    truth = _jsonable(truth)
    # The points are already plain floats/None; kept out of _jsonable's per-item walk (20k+ rows).
    truth["leads"] = leads
    return truth


def read_page_truth(json_path: str | Path) -> dict[str, Any]:
    """Load ``<id>.json`` written by :func:`write_page`.

    Returns
    -------
    dict
        The JSON, with ``homography`` as a ``3x3`` float64 array and each lead's ``points`` as an
        ``[n, 2]`` float64 array (NaN rows where null).

    Raises
    ------
    RecordNotFoundError, RecordError
        If the file is missing or is not a page truth file.
    """
    from ecglab.errors import RecordNotFoundError

    path = Path(json_path)
    if not path.is_file():
        raise RecordNotFoundError(f"{path}: page truth file not found")
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(truth, dict) or not {"leads", "homography", "fs", "width", "height"} <= set(truth):
        raise RecordError(
            f"{path}: not an ecglab page truth file (needs leads, homography, fs, width, height)"
        )
    truth["homography"] = np.asarray(truth["homography"], np.float64).reshape(3, 3)
    for lead in truth["leads"]:
        pts = lead.get("points") or []
        arr = np.full((len(pts), 2), np.nan)
        for i, p in enumerate(pts):
            if p is not None:
                arr[i] = p
        lead["points"] = arr
    return truth


def truth_geometry(truth: dict[str, Any]) -> list[LeadGeometry]:
    """:class:`LeadGeometry` objects from a truth dict read by :func:`read_page_truth`."""
    return [
        LeadGeometry(
            name=lead["name"],
            index=int(lead["index"]),
            bbox=tuple(lead["bbox"]),
            start_sample=int(lead["start_sample"]),
            stop_sample=int(lead["stop_sample"]),
            fs=float(lead.get("fs", truth["fs"])),
            x0=float(lead["x0"]),
            baseline_y=float(lead["baseline_y"]),
            px_per_mm_x=float(lead["px_per_mm_x"]),
            px_per_mm_y=float(lead["px_per_mm_y"]),
            gain_mm_per_mv=float(lead["gain_mm_per_mv"]),
            speed_mm_per_s=float(lead["speed_mm_per_s"]),
            points=np.asarray(lead["points"], np.float64),
        )
        for lead in truth["leads"]
    ]


# -------------------------------------------------------------------------------------- signals
def _write_signal(page: Page, image_id: str, write_dir: Path) -> None:
    """The plotted signal as a WFDB format-16 record, written by wfdb itself.

    ecglab's ``write_wfdb`` takes a :class:`Recording`, which refuses an all-NaN lead (a blank
    panel of ``allow_missing_leads``) and lets wfdb pick the gain; here the gain is fixed at
    1000 adu/mV (1 µV), lowered only for a lead exceeding ±32.767 mV, and wfdb stores NaN as its
    missing value (-32768).
    """
    import wfdb

    signal = page.signal.astype(np.float64).T  # [samples, leads]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN leads
        peak = np.nan_to_num(np.nanmax(np.abs(signal), axis=0), nan=0.0)
    gains = [ADC_GAIN if p * ADC_GAIN <= _INT16_MAX else math.floor(_INT16_MAX / p) for p in peak]
    digital = np.round(signal * np.asarray(gains)[None, :])
    digital = np.where(np.isnan(digital), -32768, digital).astype(np.int16)
    n = len(page.lead_names)
    try:
        wfdb.wrsamp(
            image_id,
            fs=page.fs,
            units=["mV"] * n,
            sig_name=list(page.lead_names),
            d_signal=digital,
            fmt=["16"] * n,
            adc_gain=gains,
            baseline=[0] * n,
            comments=[f"ecglab synth page of record {page.record_id}", "NaN = not plotted"],
            write_dir=str(write_dir),
        )
    except Exception as exc:  # wfdb raises bare ValueError/TypeError on bad fields
        raise RecordError(f"page {image_id}: wfdb could not write the signal: {exc}") from None


def kaggle_csv(page: Page) -> str:
    """CSV text: header of lead names, one row per sample, values in mV, blank where NaN."""
    lines = [",".join(page.lead_names)]
    text = np.char.mod("%.6g", page.signal.T.astype(np.float64))
    text[np.isnan(page.signal.T)] = ""
    lines += [",".join(row) for row in text.tolist()]
    return "\n".join(lines) + "\n"
