"""Score the digitizer against truth records: Kaggle and PhysioNet-2024 SNR, Pearson r, RMSE.

Pairs images with truth records by name: an ``ecglab synth`` page ``<id>.png`` with ``<id>.hea``
(whose NaN samples mark what was not plotted), and a PhysioNet Challenge 2024 image
``NNNNN_hr-0.png`` with ``NNNNN_hr.hea``. A Challenge truth holds all 10 s of every lead; when
the ecg-image-kit JSON (``NNNNN_hr-0.json[.gz]``) lies beside the image, the truth is cut to the
samples it plotted (``start_sample..end_sample`` per lead), as the Challenge's
``--mask_unplotted_samples`` does; the digitizer itself never reads that JSON.

A failed image counts as the metrics define a missing output: an all-zero prediction (Kaggle ratio
0 → the score's floor, PhysioNet 0 dB per lead).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecglab.errors import ConfigError, EcglabError, RecordError
from ecglab.io.atomic import atomic_write
from ecglab.io.leads import STANDARD_12, normalize_leads
from ecglab.metrics.snr import kaggle_score, kaggle_snr_details, pearson_r, physionet_snr, rmse

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_CINC_STEM = re.compile(r"^(?P<record>.+)-(?P<page>\d+)$")
_LABEL_SUFFIXES = (".mask", ".leads")  # ecglab synth label images beside the page


@dataclass(frozen=True)
class ImagePair:
    """An image and its truth record (path without extension), and the ecg-image-kit JSON if any."""

    image: Path
    truth: Path
    generator_json: Path | None = None


def pair_images(images: str | Path, truth: str | Path) -> tuple[list[ImagePair], list[Path]]:
    """Pair the images of ``images`` with the truth records of ``truth``.

    Returns
    -------
    (pairs, unpaired)
        Pairs sorted by image name, and the images without a truth record.
    """
    images, truth = Path(images), Path(truth)
    for folder, what in ((images, "--images"), (truth, "--truth")):
        if not folder.is_dir():
            raise ConfigError(f"{what} {folder}: no such folder")
    pairs, unpaired = [], []
    for path in sorted(images.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.stem.endswith(_LABEL_SUFFIXES):
            continue
        stem = path.stem
        gen = None
        for cand in (path.with_suffix(".json.gz"), path.with_suffix(".json")):
            if cand.is_file() and _is_generator_json(cand):
                gen = cand
                break
        if (truth / f"{stem}.hea").is_file():
            pairs.append(ImagePair(path, truth / stem, gen))
        elif (m := _CINC_STEM.match(stem)) and (truth / f"{m['record']}.hea").is_file():
            pairs.append(ImagePair(path, truth / m["record"], gen))
        else:
            unpaired.append(path)
    return pairs, unpaired


def _is_generator_json(path: Path) -> bool:
    """True for an ecg-image-kit JSON (per-lead ``start_sample``), not an ecglab synth page JSON."""
    try:
        data = _read_json(path)
    except (OSError, ValueError):
        return False
    leads = data.get("leads") if isinstance(data, dict) else None
    return bool(leads) and isinstance(leads, list) and "start_sample" in leads[0] and "lead_name" in leads[0]


def _read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return json.load(fh)


def read_truth(pair: ImagePair) -> tuple[np.ndarray, float]:
    """``[12, n]`` float64 truth in :data:`STANDARD_12` order (NaN: not plotted / lead absent), and fs."""
    import wfdb

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = wfdb.rdrecord(str(pair.truth))
    except Exception as exc:
        raise RecordError(
            f"{pair.truth}: cannot read the truth record ({type(exc).__name__}: {exc})"
        ) from None
    names = normalize_leads(rec.sig_name, allow_unknown=True, where=str(pair.truth))
    units = [str(u).lower() for u in rec.units]
    scale = np.array([1e-3 if u in ("uv", "µv") else 1.0 for u in units])
    signal = rec.p_signal.T * scale[:, None]
    out = np.full((12, signal.shape[1]), np.nan)
    for i, name in enumerate(names):
        if name in STANDARD_12:
            out[STANDARD_12.index(name)] = signal[i]
    if pair.generator_json is not None:
        out = _mask_unplotted(out, _read_json(pair.generator_json))
    return out, float(rec.fs)


def _mask_unplotted(signal: np.ndarray, generator: dict) -> np.ndarray:
    """Keep only the samples each lead's panels plotted (ecg-image-kit ``start_sample``/``end_sample``)."""
    keep = np.zeros(signal.shape, bool)
    for lead in generator.get("leads", []):
        name = normalize_leads([lead["lead_name"]], allow_unknown=True)[0]
        if name in STANDARD_12:
            keep[STANDARD_12.index(name), int(lead["start_sample"]) : int(lead["end_sample"])] = True
    return np.where(keep, signal, np.nan)


def score_prediction(truth: np.ndarray, pred: np.ndarray, fs: float) -> dict[str, Any]:
    """Every metric of one image: Kaggle record dB and ratio, PhysioNet dB, r, RMSE; overall and per lead."""
    kaggle = kaggle_snr_details(truth, pred, fs, lead_names=STANDARD_12)
    physio = physionet_snr(truth, pred, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = pearson_r(truth, pred)
        err = rmse(truth, pred)
    kaggle_lead = {lead.name: lead.snr_db for lead in kaggle.leads}
    finite_physio = physio[np.isfinite(physio)]
    return {
        "kaggle_db": kaggle.snr_db,
        "kaggle_ratio": kaggle.ratio,
        "physionet_db": float(np.mean(finite_physio)) if finite_physio.size else math.nan,
        "pearson_r": float(np.nanmean(r)) if np.isfinite(r).any() else math.nan,
        "rmse_mv": float(np.nanmean(err)) if np.isfinite(err).any() else math.nan,
        "leads": {
            name: {
                "kaggle_db": kaggle_lead.get(name, math.nan),
                "physionet_db": float(physio[i]),
                "pearson_r": float(r[i]),
                "rmse_mv": float(err[i]),
            }
            for i, name in enumerate(STANDARD_12)
        },
        "_kaggle": kaggle,
    }


def evaluate_digitization(
    images: str | Path,
    truth: str | Path,
    out: str | Path | None = None,
    *,
    layout: str = "auto",
    einthoven: bool = False,
    limit: int | None = None,
    model: Any = None,
    backend: str = "torch",
    tta: bool = False,
    hold_bars: bool = True,
    thicken_thin_pen: bool = True,
) -> dict[str, Any]:
    """Digitize every paired image and score it against its truth.

    Parameters
    ----------
    images, truth
        Folders of images and of WFDB truth records (may be the same folder).
    out
        Folder for ``digitization_eval.json``, ``digitization_eval.csv`` (one row per image) and
        ``digitization_eval_leads.png`` (per-lead bars); nothing is written when None.
    layout, einthoven
        Passed to :func:`ecglab.digitize.digitize_image`.
    limit
        Score only the first ``limit`` pairs.
    model, backend, tta
        A learned digitizer (name, run folder or loaded model) and how to run it; None: classical.
    hold_bars, thicken_thin_pen
        Passed to :func:`ecglab.digitize.digitize_image` (learned digitizers only).

    Returns
    -------
    dict
        ``summary`` (Kaggle score over images, mean PhysioNet dB over (image, lead) pairs, mean r,
        mean RMSE, failures, seconds per image), ``per_lead`` means and ``images`` (one dict each).
    """
    from ecglab.digitize.pipeline import digitize_image

    if model is not None and not hasattr(model, "follow_rows"):
        from ecglab.digitize.learned import load_digitizer

        model = load_digitizer(str(model), backend, tta)  # once, not per image
    pairs, unpaired = pair_images(images, truth)
    if limit is not None:
        pairs = pairs[:limit]
    if not pairs:
        raise ConfigError(f"no image in {images} has a truth record in {truth}")
    rows: list[dict[str, Any]] = []
    records = []
    physio_all: list[float] = []
    for pair in pairs:
        t, fs = read_truth(pair)
        duration = t.shape[1] / fs
        row: dict[str, Any] = {"image": pair.image.name, "truth": pair.truth.name}
        start = time.perf_counter()
        try:
            res = digitize_image(
                pair.image, fs=fs, layout=layout, duration_s=duration, einthoven=einthoven, model=model,
                hold_bars=hold_bars, thicken_thin_pen=thicken_thin_pen,
            )  # fmt: skip
            pred = res.signal.astype(np.float64)
            row.update(status="ok", layout=res.layout.name, px_per_mm=round(res.grid.px_per_mm, 4))
        except EcglabError as exc:
            pred = np.zeros_like(t)
            row.update(status="failed", layout="", px_per_mm=math.nan, error=str(exc))
        row["seconds"] = time.perf_counter() - start
        scores = score_prediction(t, pred, fs)
        records.append(scores.pop("_kaggle"))
        physio_all += [v["physionet_db"] for v in scores["leads"].values() if np.isfinite(v["physionet_db"])]
        row.update(scores)
        rows.append(row)
    summary = _summary(rows, records, physio_all, unpaired)
    result = {"summary": summary, "per_lead": _per_lead(rows), "images": rows}
    if out is not None:
        write_report(result, Path(out))
    return result


def _summary(
    rows: list[dict], records: list, physio_all: list[float], unpaired: list[Path]
) -> dict[str, Any]:
    ok = [r for r in rows if r["status"] == "ok"]
    return {
        "images": len(rows),
        "failed": len(rows) - len(ok),
        "unpaired": [p.name for p in unpaired],
        "kaggle_score_db": kaggle_score(records),
        "kaggle_db_mean": float(np.mean([r["kaggle_db"] for r in rows])),
        "physionet_db_mean": float(np.mean(physio_all)) if physio_all else math.nan,
        "pearson_r_mean": float(np.nanmean([r["pearson_r"] for r in rows])),
        "rmse_mv_mean": float(np.nanmean([r["rmse_mv"] for r in rows])),
        "seconds_per_image": float(np.mean([r["seconds"] for r in rows])),
    }


def _per_lead(rows: list[dict]) -> dict[str, dict[str, float]]:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for lead in STANDARD_12:
            out[lead] = {
                key: float(np.nanmean([r["leads"][lead][key] for r in rows]))
                for key in ("kaggle_db", "physionet_db", "pearson_r", "rmse_mv")
            }
    return out


_CSV_FIELDS = (
    "image", "truth", "status", "layout", "px_per_mm", "kaggle_db", "physionet_db", "pearson_r", "rmse_mv",
    "seconds", "error",
)  # fmt: skip


def write_report(result: dict[str, Any], out: Path) -> list[Path]:
    """Write the JSON, the per-image CSV and the per-lead bar chart into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / "digitization_eval.json",
        out / "digitization_eval.csv",
        out / "digitization_eval_leads.png",
    ]
    with atomic_write(paths[0]) as fh:
        json.dump(_jsonable(result), fh, indent=1)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(_CSV_FIELDS) + [f"kaggle_db_{lead}" for lead in STANDARD_12])
    writer.writeheader()
    for row in result["images"]:
        line = {k: _fmt(row.get(k, "")) for k in _CSV_FIELDS}
        line.update({f"kaggle_db_{lead}": _fmt(row["leads"][lead]["kaggle_db"]) for lead in STANDARD_12})
        writer.writerow(line)
    with atomic_write(paths[1]) as fh:
        fh.write(buf.getvalue())
    _bar_chart(result, paths[2])
    return paths


def _fmt(value: Any) -> Any:
    return f"{value:.4g}" if isinstance(value, float) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _bar_chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = result["per_lead"]
    x = np.arange(len(STANDARD_12))
    fig, ax = plt.subplots(figsize=(9, 3.5), dpi=100)
    ax.bar(x - 0.2, [per[lead]["kaggle_db"] for lead in STANDARD_12], 0.4, label="Kaggle SNR (lead, aligned)")
    ax.bar(x + 0.2, [per[lead]["physionet_db"] for lead in STANDARD_12], 0.4, label="PhysioNet 2024 SNR")
    ax.set_xticks(x, STANDARD_12)
    ax.set_ylabel("dB (mean over images)")
    s = result["summary"]
    ax.set_title(
        f"{s['images']} images, {s['failed']} failed: Kaggle {s['kaggle_score_db']:.2f} dB, "
        f"PhysioNet {s['physionet_db_mean']:.2f} dB"
    )
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
