"""Training pages for the learned digitizers: rendered by ``ecglab.synth``, cropped as at inference.

Every page is rendered from a real 12-lead record with randomised paper settings (layout, DPI, grid
colour, pen width, labels, header), damaged, then **de-rotated by the classical pipeline's own**
:func:`~ecglab.digitize.deskew.rectify` so the model trains on what it will see. The crops follow
:mod:`ecglab.digitize.strips`; their frames come from the renderer's geometry (mapped through the
damage homography and the de-rotation) and are jittered by about the error of the classical row
detector, which places the crops at inference. Targets are the renderer's sub-pixel sample points.

A page becomes, for ``series``: ``strips [R, H, W, 3]`` uint8, ``rows [R, H, W]`` uint8 (1 where the
strip's own trace is), ``y [R, W * upsample]`` float32 crop rows (NaN: no trace); for ``whole``:
``page [H, W, 3]``, ``rows [H, W]`` (row index + 1 of each trace pixel) and ``y [R, W * upsample]``.
Pages are rendered once per split and settings, in worker processes, and cached as ``.npz``.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ecglab.digitize.strips import (
    CropSpec,
    RowFrame,
    column_targets,
    crop_affine,
    crop_page,
    crop_rows,
    page_frame,
    strip_top,
    warp_crop,
)

MODES = ("series", "whole")


@dataclass(frozen=True)
class PageRecipe:
    """How training pages are drawn (one random choice per page).

    Attributes
    ----------
    layouts, dpis, grid_colors
        Choices drawn uniformly per page.
    trace_width_mm
        ``[low, high]`` pen width, drawn uniformly.
    damage_preset
        ``ecglab.synth`` damage preset (``none``, ``light``, ``default``, ``heavy``).
    p_damage
        Probability that a page is damaged at all.
    jitter_mm
        Standard deviation of the crop frame's baseline and start shifts (detector error), mm.
    jitter_scale
        Standard deviation of the relative scale error of the frame.
    p_shift, shift_mm
        With probability ``p_shift`` a row's baseline is moved further, uniformly within
        ``±shift_mm``: the classical row baseline is sometimes several mm from the true 0 mV line
        (a lead that sits off its row's median), and the model must still find the trace.
    label_positions
        Lead-name placements drawn per page (``ecglab.synth`` ``label_position``: ``above``, ``below``,
        ``on``); ``below`` and ``on`` put glyphs under the trace as other generators do.
    p_separators
        Probability of ecg-image-kit-style lead separator bars on a page.
    p_connect
        Probability that a page joins consecutive panels of a row with the level step between
        leads, as ecg-image-kit plots a row (``ecglab.synth`` ``connect_panels``).
    widen_thin_pen
        Widen a pen thinner than 0.32 mm as inference does (:mod:`ecglab.digitize.pen`), so the
        model trains on what it will read.
    """

    layouts: tuple[str, ...] = ("3x4+1", "3x4+1", "3x4", "6x2", "3x4+3")
    dpis: tuple[float, ...] = (100.0, 150.0, 200.0, 300.0)
    grid_colors: tuple[str, ...] = ("red", "pink", "green", "blue", "grey", "bw")
    trace_width_mm: tuple[float, float] = (0.2, 0.6)
    damage_preset: str = "default"
    p_damage: float = 0.7
    jitter_mm: float = 1.0
    jitter_scale: float = 0.01
    p_shift: float = 0.0
    shift_mm: float = 4.0
    label_positions: tuple[str, ...] = ("above",)
    p_separators: float = 0.0
    p_connect: float = 0.0
    widen_thin_pen: bool = False


@dataclass
class PageSet:
    """Cached training pages of one split (lists of per-page arrays, see the module docstring)."""

    mode: str
    spec: CropSpec
    images: list[np.ndarray] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def _row_groups(geometry: Sequence[Any]) -> list[list[Any]]:
    """Panels grouped by row (same flat-page baseline), rows top to bottom, panels left to right."""
    rows: dict[float, list[Any]] = {}
    for g in geometry:
        rows.setdefault(round(g.baseline_y, 1), []).append(g)
    return [sorted(rows[k], key=lambda g: g.x0) for k in sorted(rows)]


def _map(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    homo = np.c_[pts, np.ones(len(pts))] @ matrix.T
    return homo[:, :2] / homo[:, 2:3]


def page_row_frames(page: Any, transform: np.ndarray) -> tuple[list[RowFrame], list[list[np.ndarray]]]:
    """Each row's frame and its panels' points, in the de-rotated image (``transform`` applied).

    Parameters
    ----------
    page
        A rendered (and damaged) :class:`~ecglab.synth.page.Page`.
    transform
        3x3 map from the page image to the de-rotated image.
    """
    to_out = transform @ page.homography  # flat page → de-rotated image
    frames, points = [], []
    for panels in _row_groups(page.geometry):
        first = min(panels, key=lambda g: g.start_sample)
        g = panels[0]
        t0_x = first.x0  # flat-page x of the row's first plotted sample
        mm = 50.0
        origin, right, down = _map(
            [
                [t0_x, g.baseline_y],
                [t0_x + mm * g.px_per_mm_x, g.baseline_y],
                [t0_x, g.baseline_y + mm * g.px_per_mm_y],
            ],
            to_out,
        )
        frames.append(
            RowFrame(
                baseline_y=float(origin[1]),
                x_start=float(origin[0]),
                ppm_x=float(np.hypot(*(right - origin)) / mm),
                ppm_y=float(np.hypot(*(down - origin)) / mm),
            )
        )
        points.append([_map(p.points, transform) for p in panels])
    return frames, points


def jitter_frames(frames: list[RowFrame], rng: np.random.Generator, recipe: PageRecipe) -> list[RowFrame]:
    """Frames moved and scaled by about the classical detector's error (one scale error per page)."""
    scale = 1.0 + rng.normal(0.0, recipe.jitter_scale, 2)
    out = []
    for f in frames:
        dy, dx = rng.normal(0.0, recipe.jitter_mm, 2)
        if rng.random() < recipe.p_shift:
            dy += rng.uniform(-recipe.shift_mm, recipe.shift_mm)
        out.append(
            RowFrame(
                baseline_y=f.baseline_y + dy * f.ppm_y,
                x_start=f.x_start + dx * f.ppm_x,
                ppm_x=f.ppm_x * scale[0],
                ppm_y=f.ppm_y * scale[1],
            )
        )
    return out


def _row_map(page: Any, transform: np.ndarray, frames: list[RowFrame]) -> np.ndarray:
    """``[H, W]`` uint8 row index + 1 of every trace pixel of the de-rotated image (0 elsewhere).

    ``page.leads`` labels pixels by lead, and a lead may be drawn in two rows (the rhythm strip):
    its pixels go to the row with the nearest baseline.
    """
    leads = page.leads
    if not np.allclose(transform, np.eye(3)):
        h, w = leads.shape
        leads = cv2.warpPerspective(leads, transform, (w, h), flags=cv2.INTER_NEAREST)
    rows_of: dict[int, list[int]] = {}
    for r, panels in enumerate(_row_groups(page.geometry)):
        for g in panels:
            rows_of.setdefault(g.index + 1, []).append(r)
    out = np.zeros(leads.shape, np.uint8)
    for instance, rows in rows_of.items():
        ys, xs = np.nonzero(leads == instance)
        if len(set(rows)) == 1:
            out[ys, xs] = rows[0] + 1
            continue
        candidates = np.array(sorted(set(rows)))
        baselines = np.array([frames[r].baseline_y for r in candidates])
        out[ys, xs] = candidates[np.abs(ys[:, None] - baselines[None]).argmin(axis=1)] + 1
    return out


def _crop_mask(mask: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A bool mask cropped like the image (blurred, bilinear) and thresholded: a thin pen sampled at
    the nearest pixel alone would drop whole columns when the crop scale is below the image's."""
    return warp_crop(mask.astype(np.float32), matrix, size, border=0.0) > 0.2


def page_example(
    page: Any, mode: str, spec: CropSpec, rng: np.random.Generator, recipe: PageRecipe
) -> dict[str, np.ndarray]:
    """Crops and targets of one rendered page (see the module docstring)."""
    from ecglab.digitize.deskew import rectify

    rgb, transform = rectify(page.image)
    if recipe.widen_thin_pen:  # the pen measured as inference measures it, on the page as seen
        from ecglab.digitize.image import normalise, trace_mask
        from ecglab.digitize.layout import pen_width
        from ecglab.digitize.pen import pen_growth_px, thicken_pen

        pen = pen_width(trace_mask(normalise(rgb)))
        rgb = thicken_pen(rgb, pen_growth_px(pen, page.meta["px_per_mm"]))
    frames, points = page_row_frames(page, transform)
    row_map = _row_map(page, transform, frames)
    frames = jitter_frames(frames, rng, recipe)
    n_out = spec.width * spec.upsample
    if mode == "series":
        strips = crop_rows(rgb, frames, spec)
        own = []
        ys = []
        for r, (f, pts) in enumerate(zip(frames, points, strict=True)):
            top = strip_top(f, spec)
            own.append(_crop_mask(row_map == r + 1, crop_affine(f, spec, top), (spec.width, spec.height)))
            ys.append(column_targets(pts, f, spec, n_out, top, spec.height))
        return {"image": strips, "rows": np.stack(own).astype(np.uint8), "y": np.stack(ys).astype(np.float32)}
    frame = page_frame(frames)
    image = crop_page(rgb, frame, spec)
    h = image.shape[0]
    rows = np.zeros((h, spec.width), np.uint8)
    for r in range(len(frames)):  # rows do not overlap much; where they do, the lower row wins
        rows[_crop_mask(row_map == r + 1, crop_affine(frame, spec, 0.0), (spec.width, h))] = r + 1
    ys = [column_targets(pts, frame, spec, n_out, 0.0, h) for pts in points]
    return {"image": image, "rows": rows, "y": np.stack(ys).astype(np.float32)}


def _render_task(
    args: tuple[str, int, int, str, CropSpec, PageRecipe],
) -> tuple[dict[str, np.ndarray] | None, str]:
    """Render and crop page ``k`` of ``path`` (worker process); errors come back as text."""
    from ecglab.errors import EcglabError
    from ecglab.io.reader import read_record
    from ecglab.synth.damage import DamageSettings, apply_damage
    from ecglab.synth.render import render_page

    path, seed, k, mode, spec, recipe = args
    rng = np.random.default_rng(np.random.SeedSequence([seed, k]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = read_record(path, allow_unknown_leads=True)
        settings = {
            "layout": str(rng.choice(recipe.layouts)),
            "dpi": float(rng.choice(recipe.dpis)),
            "grid_color": str(rng.choice(recipe.grid_colors)),
            "trace_width_mm": float(rng.uniform(*recipe.trace_width_mm)),
            "lead_labels": bool(rng.random() < 0.8),
            "label_position": str(rng.choice(recipe.label_positions)),
            "label_size_mm": float(rng.uniform(2.0, 3.5)),
            "lead_separators": bool(rng.random() < recipe.p_separators),
            "header": bool(rng.random() < 0.7),
            "calibration_pulse": bool(rng.random() < 0.8),
            # drawn only when asked for, so that recipes without it render the very same pages
            "connect_panels": bool(recipe.p_connect > 0 and rng.random() < recipe.p_connect),
        }
        page = render_page(rec, settings, rng=rng)
        if rng.random() < recipe.p_damage:
            page = apply_damage(page, DamageSettings.preset(recipe.damage_preset), rng)
        example = page_example(page, mode, spec, rng, recipe)
        return example, str(Path(path).name)
    except (EcglabError, ValueError, OSError, cv2.error) as exc:
        return None, f"{path}: page {k}: {exc}"


def cache_key(
    paths: Sequence[str], mode: str, spec: CropSpec, recipe: PageRecipe, seed: int, pages: int
) -> str:
    """Hash of everything a cached page set depends on."""
    payload = json.dumps(
        {"paths": list(paths), "mode": mode, "spec": asdict(spec), "recipe": asdict(recipe), "seed": seed,
         "pages": pages, "version": 3},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def render_pages(
    paths: Sequence[str | Path],
    *,
    mode: str,
    spec: CropSpec,
    recipe: PageRecipe,
    pages: int,
    seed: int = 0,
    workers: int = 2,
    cache_dir: str | Path | None = None,
    desc: str = "pages",
) -> PageSet:
    """Render ``pages`` training pages cycling over ``paths`` (cached under ``cache_dir``).

    Parameters
    ----------
    paths
        Record files (any format :func:`~ecglab.io.reader.read_record` reads).
    mode
        ``series`` or ``whole``.
    spec, recipe
        Crops and page randomisation.
    pages
        Number of pages (page ``k`` renders ``paths[k % len(paths)]``).
    seed
        Page ``k``'s generator is seeded from ``(seed, k)``: the set does not depend on ``workers``.
    workers
        Worker processes (0: render in this process).
    cache_dir
        Folder for ``<key>.npz``; None: no cache.
    desc
        Progress bar label.

    Returns
    -------
    PageSet
        Pages that rendered; ``failures`` lists the others, one line each.
    """
    from tqdm.auto import tqdm

    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    paths = [str(p) for p in paths]
    out = PageSet(mode=mode, spec=spec)
    if not paths or pages <= 0:
        return out
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"{mode}-{cache_key(paths, mode, spec, recipe, seed, pages)}.npz"
        if cache.exists():
            return _load(cache, out)
    tasks = [(paths[k % len(paths)], seed, k, mode, spec, recipe) for k in range(pages)]
    if workers > 0:
        ctx = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            results = list(tqdm(pool.map(_render_task, tasks, chunksize=2), total=len(tasks), desc=desc))
    else:
        results = [_render_task(t) for t in tqdm(tasks, desc=desc)]
    for example, name in results:
        if example is None:
            out.failures.append(name)
            continue
        out.images.append(example["image"])
        out.rows.append(example["rows"])
        out.y.append(example["y"])
        out.record_ids.append(name)
    if cache is not None:
        _save(cache, out)
    return out


def _save(path: Path, pages: PageSet) -> None:
    from ecglab.io.atomic import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"ids": np.array(pages.record_ids), "failures": np.array(pages.failures)}
    for i in range(len(pages)):
        arrays[f"image{i}"] = pages.images[i]
        arrays[f"rows{i}"] = pages.rows[i]
        arrays[f"y{i}"] = pages.y[i]
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def _load(path: Path, out: PageSet) -> PageSet:
    with np.load(path) as data:
        out.record_ids = [str(s) for s in data["ids"]]
        out.failures = [str(s) for s in data["failures"]]
        for i in range(len(out.record_ids)):
            out.images.append(data[f"image{i}"])
            out.rows.append(data[f"rows{i}"])
            out.y.append(data[f"y{i}"])
    return out


def recipe_from_config(section: Mapping[str, Any]) -> PageRecipe:
    """A :class:`PageRecipe` from the config's ``digitize.pages`` (the schema has checked the keys)."""
    from ecglab.errors import ConfigError
    from ecglab.synth.settings import LABEL_POSITIONS

    values = dict(section)
    for key in ("layouts", "dpis", "grid_colors", "trace_width_mm", "label_positions"):
        if key in values:
            values[key] = tuple(values[key])
    bad = [p for p in values.get("label_positions", ()) if p not in LABEL_POSITIONS]
    if bad or not values.get("label_positions", ("above",)):
        hint = '; quote "on" in YAML, unquoted it reads as true' if {"True", "true"} & set(bad) else ""
        choose = ", ".join(LABEL_POSITIONS)
        raise ConfigError(f"digitize.pages.label_positions: {bad or 'empty'} (choose from {choose}){hint}")
    return PageRecipe(**values)
