"""Draw a digitization over its image: extracted traces, row baselines and panel starts."""

from __future__ import annotations

import cv2
import numpy as np

from ecglab.digitize.pipeline import DigitizeResult

# Distinct colours (RGB) cycled over the panels, chosen to stand out on red/pink/green grids.
_COLOURS = ((0, 90, 255), (0, 170, 60), (200, 0, 200), (0, 150, 200), (230, 120, 0), (90, 40, 160))


def draw_overlay(image: np.ndarray, result: DigitizeResult, *, thickness: int = 2) -> np.ndarray:
    """The input image with the extracted traces drawn over it.

    Parameters
    ----------
    image
        ``[H, W, 3]`` uint8 RGB, the image that was digitized (before de-rotation).
    result
        What :func:`ecglab.digitize.digitize_image` returned for it.
    thickness
        Line width in pixels.

    Returns
    -------
    numpy.ndarray
        ``[H, W, 3]`` uint8 RGB copy: each panel's trace in its own colour with its lead name,
        row baselines dotted in grey, panel starts as short ticks.
    """
    out = np.ascontiguousarray(image.copy())
    back = np.linalg.inv(result.transform)  # de-rotated image → input image

    def to_image(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        pts = np.stack([xs, ys, np.ones_like(xs)])
        mapped = back @ pts
        return (mapped[:2] / mapped[2]).T

    width = out.shape[1]
    for row in result.layout.rows:
        xs = np.arange(0, width, 12, dtype=np.float64)
        for x, y in to_image(xs, np.full_like(xs, row.baseline_y)):
            cv2.circle(out, (round(x), round(y)), 1, (120, 120, 120), -1)
    for i, tr in enumerate(result.traces):
        colour = _COLOURS[i % len(_COLOURS)]
        pts = to_image(tr.xs, tr.ys)
        ok = np.isfinite(pts).all(axis=1)
        # One polyline per run of found samples (gaps stay gaps).
        edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if b - a >= 2:
                poly = np.round(pts[a:b] * 16).astype(np.int32)
                cv2.polylines(out, [poly], False, colour, thickness, cv2.LINE_AA, 4)
        x0, y0 = to_image(np.array([tr.panel.x0]), np.array([tr.panel.baseline_y]))[0]
        size = max(result.layout.px_per_mv / 10.0, 1.0)
        cv2.line(out, (int(x0), int(y0 - 2 * size)), (int(x0), int(y0 + 2 * size)), colour, thickness)
        cv2.putText(
            out, tr.panel.lead, (int(x0 + size), int(y0 + 5 * size)), cv2.FONT_HERSHEY_SIMPLEX,
            max(size / 8.0, 0.4), colour, max(thickness - 1, 1), cv2.LINE_AA,
        )  # fmt: skip
    return out
