"""Contact sheet of rendered pages with their masks overlaid, to look at a synth job at a glance."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecglab.errors import RecordError

# Overlay colours (RGB) of the mask classes 1-4: grid lines in blue tones, the trace in red.
_CLASS_RGB = {1: (40, 90, 255), 2: (0, 170, 255), 3: (120, 0, 255), 4: (255, 0, 0)}


def overlay_mask(image: np.ndarray, mask: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """``image`` with every mask class tinted (grid blue, trace red)."""
    out = image.astype(np.float32).copy()
    for cls, rgb in _CLASS_RGB.items():
        hit = mask == cls
        out[hit] = (1 - alpha) * out[hit] + alpha * np.asarray(rgb, np.float32)
    return out.clip(0, 255).astype(np.uint8)


def contact_sheet(
    out_dir: str | os.PathLike[str], image_ids: Sequence[str], path: str | os.PathLike[str], *,
    columns: int = 2, tile_width: int = 900,
) -> Path:  # fmt: skip
    """Write a PNG grid: for each image, the page (left) and the page with its mask overlaid (right).

    Parameters
    ----------
    out_dir
        Folder with ``<id>.png`` and ``<id>.mask.png``.
    image_ids
        Images to show (in order).
    path
        PNG to write (atomically).
    """
    import cv2

    from ecglab.io.atomic import atomic_write

    out_dir = Path(out_dir)
    tiles = []
    for name in image_ids:
        image = cv2.imread(str(_image_file(out_dir, name)), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(out_dir / f"{name}.mask.png"), cv2.IMREAD_UNCHANGED)
        if image is None or mask is None:
            continue
        rgb = image[:, :, ::-1]
        pair = np.concatenate([rgb, overlay_mask(rgb, mask)], axis=1)
        scale = tile_width / pair.shape[1]
        pair = cv2.resize(
            pair, (tile_width, max(1, round(pair.shape[0] * scale))), interpolation=cv2.INTER_AREA
        )
        cv2.putText(pair, name, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 160), 2, cv2.LINE_AA)
        tiles.append(pair)
    if not tiles:
        tiles = [np.full((100, tile_width, 3), 255, np.uint8)]
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles]
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    sheet = np.concatenate(rows, axis=0)
    ok, data = cv2.imencode(".png", sheet[:, :, ::-1])
    if not ok:
        raise RecordError(f"{path}: could not encode the preview sheet")
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        handle.write(data.tobytes())
    return path


def _image_file(out_dir: Path, name: str) -> Path:
    png = out_dir / f"{name}.png"
    return png if png.is_file() else out_dir / f"{name}.jpg"
