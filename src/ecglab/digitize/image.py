"""Load an ECG image and separate its ink: paper normalisation, trace mask, grid strength.

The paper grid is coloured or light (pink, red, green, blue, grey) while the trace is dark and
unsaturated. Both masks are computed on the image divided by a smooth estimate of the paper colour,
so uneven lighting (a shadow, a photo's vignetting) does not move the thresholds.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ecglab.digitize.errors import ImageError

#: Smallest accepted side, pixels: below this no grid or trace can be resolved.
MIN_SIDE_PX = 200
#: Largest accepted image, pixels (decompression-bomb guard; an A4 page at 600 DPI is 35 MP).
MAX_PIXELS = 100_000_000
#: A trace pixel is darker than this fraction of the local paper brightness (its brightest channel).
#: 0.5 matches the synthetic renderer's truth (pen coverage >= 0.5) on white paper.
TRACE_DARKNESS = 0.5
#: Ink components smaller than this (mm) in both directions are text or specks, not trace.
SMALL_COMPONENT_MM = 4.0
#: :func:`faint_ink_mask`: faint ink must be this much (0..255) darker than the page's 95th
#: percentile of darkness (grid lines, whatever their colour), and at least 25 % dark.
FAINT_MARGIN = 25
FAINT_FLOOR = 64
#: Dark *tinted* pixels (channels more than :data:`DARK_GRID_TINT` apart) covering more than this
#: share of the page are a dark grid (ecg-image-kit's dark blue or brown lines), not ink: a pen
#: covers a few % of a page, a grid of 1 px lines every 8 px a quarter of it.
DARK_GRID_FRACTION = 0.08
#: A black pen's pixels have channels within a few levels of each other, even anti-aliased on white;
#: ecg-image-kit's darkest grid colours (slate blue 66,64,107) differ by 40 or more.
DARK_GRID_TINT = 25


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``[H, W, 3]`` uint8 RGB.

    Parameters
    ----------
    path
        PNG, JPEG, BMP, TIFF, ... (anything OpenCV reads; grey and RGBA images are converted).

    Returns
    -------
    numpy.ndarray
        ``[H, W, 3]`` uint8 RGB.

    Raises
    ------
    ImageError
        The file does not exist, is not an image, or is smaller than 200 px or larger than
        100 MP (read from the header before decoding, so a decompression bomb is not decoded).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    size = _header_size(path)
    if size is not None:
        check_size(size[0], size[1], where=str(path))
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageError(f"{path}: not a readable image (OpenCV cannot decode it)")
    return as_rgb(image, where=str(path), bgr=True)


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header via Pillow, without decoding pixels; None if unknown."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError:
        return (MAX_PIXELS, 2)  # Pillow's own guard fired: certainly too large
    except Exception:  # not an image Pillow knows; OpenCV gets the last word
        return None


def check_size(width: int, height: int, *, where: str = "image") -> None:
    """Raise :class:`ImageError` for an image too small or too large to digitize."""
    if min(width, height) < MIN_SIDE_PX:
        raise ImageError(
            f"{where}: image is {width}x{height} px, too small (need >= {MIN_SIDE_PX} px a side)"
        )
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{where}: image is {width}x{height} px ({width * height / 1e6:.0f} MP), "
            f"larger than the {MAX_PIXELS / 1e6:.0f} MP limit"
        )


def as_rgb(image: np.ndarray, *, where: str = "image", bgr: bool = False) -> np.ndarray:
    """Any 2-D grey, RGB or RGBA array (uint8 or uint16) as contiguous ``[H, W, 3]`` uint8 RGB.

    Parameters
    ----------
    image
        The pixels.
    where
        Name used in error messages.
    bgr
        The channels are in OpenCV's BGR(A) order.
    """
    a = np.asarray(image)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ImageError(f"{where}: expected a grey, RGB or RGBA image, got an array of shape {a.shape}")
    check_size(a.shape[1], a.shape[0], where=where)
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.number):
            raise ImageError(f"{where}: pixels must be numbers, got dtype {a.dtype}")
        a = np.asarray(a, np.float64)
        scale = 255.0 if np.nanmax(a) <= 1.0 else 1.0
        a = np.clip(np.nan_to_num(a) * scale, 0, 255).astype(np.uint8)
    if a.ndim == 2 or a.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(a.reshape(a.shape[0], a.shape[1], 1), 3, axis=2))
    if a.shape[2] == 4:  # composite on white paper
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    if bgr:
        a = a[..., ::-1]
    return np.ascontiguousarray(a[..., :3])


def paper_background(image: np.ndarray) -> np.ndarray:
    """Smooth per-channel estimate of the paper colour, ``[H, W, 3]`` uint8.

    Block means at 1/4 resolution (many 4x4 blocks miss every grid line), a max filter of about
    1/40 of the image (a few grid cells) to reach blank paper, then a blur; upsampled back.
    """
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(w // 4, 1), max(h // 4, 1)), interpolation=cv2.INTER_AREA)
    k = max(3, (max(small.shape[:2]) // 40) | 1)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    paper = cv2.blur(paper, (2 * k + 1, 2 * k + 1))
    paper = np.maximum(paper, 16)
    return cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)


def normalise(image: np.ndarray) -> np.ndarray:
    """The image divided by its paper colour, ``[H, W, 3]`` uint8 (255 = blank paper)."""
    return cv2.divide(image, paper_background(image), scale=255)


def trace_mask(norm: np.ndarray, darkness: float = TRACE_DARKNESS) -> np.ndarray:
    """Trace (ink) pixels of a normalised image: the brightest channel below ``darkness`` of the paper's.

    A red, pink, green or blue grid keeps one bright channel and a light grey grid stays above the
    threshold; black, dark-grey and dark-blue pens fall below it. A grid as dark as the pen is
    told apart by its tint, extent and period (:func:`_dark_grid`) and left out.
    """
    r, g, b = cv2.split(norm)
    hi = cv2.max(cv2.max(r, g), b)
    dark = hi < round(255 * darkness)
    grid = _dark_grid(hi, cv2.min(cv2.min(r, g), b), dark)
    return dark if grid is None else dark & ~grid


def _dark_grid(hi: np.ndarray, lo: np.ndarray, dark: np.ndarray) -> np.ndarray | None:
    """The tinted pixels among ``dark`` when they are too many to be ink, else None.

    A grid printed as dark as the pen (dark blue lines under a black trace) passes the darkness
    test; its tint and its extent give it away (:data:`DARK_GRID_FRACTION`), or, where only its major
    lines are that dark, its tint and its period. A dark-blue pen on a light grid covers far less
    of the page, repeats with no grid's period, and is kept.
    """
    grid = dark & (cv2.subtract(hi, lo) > DARK_GRID_TINT)
    count = np.count_nonzero(grid)
    if count > DARK_GRID_FRACTION * grid.size:
        return grid
    if count > 0.005 * grid.size and _square_lattice(grid):
        return grid  # only the major lines are this dark: fewer pixels, but a grid by its period
    return None


def _square_lattice(mask: np.ndarray) -> bool:
    """True when ``mask``'s column and row profiles repeat with one short period (a line grid).

    A pen trace repeats along x with the heart beats and along y with the rows, never with the
    same period, and never with one as short as a 5 mm grid cell (under 64 px up to 300 DPI).
    """
    from ecglab.digitize.grid import line_period  # grid builds on this module

    # A low bar: anti-aliased lines lighter than the darkness threshold leave the profile gappy.
    x = line_period(mask.sum(axis=0, dtype=np.float64), min_height=0.15)
    y = line_period(mask.sum(axis=1, dtype=np.float64), min_height=0.15)
    if x is None or y is None:
        return False
    return max(x, y) <= _LATTICE_MAX_PX and abs(x / y - 1) < 0.05


_LATTICE_MAX_PX = 64.0


def ink_mask(norm: np.ndarray, darkness: float = TRACE_DARKNESS) -> np.ndarray:
    """Trace pixels with hysteresis: :func:`trace_mask` pixels plus fainter ones connected to them.

    A thin trace blurred by a scanner or a camera keeps only a dark core; its faint flanks are
    kept when they touch that core and are darker than any grid line (the coloured grid's own
    darkness, the 99th percentile over its pixels, plus a margin). A grey grid (whose lines could
    pass for faint ink) gets the plain threshold.
    """
    from skimage.filters import apply_hysteresis_threshold

    r, g, b = cv2.split(norm)
    hi, lo = cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b)
    dark = 255 - hi  # 0 on paper, 255 on black ink
    strong = round(255 * (1 - darkness))
    coloured = cv2.subtract(hi, lo) > 50  # grid lines of a coloured grid (the trace is grey/black)
    dark_grid = _dark_grid(hi, lo, dark > strong)
    if dark_grid is not None:
        # A grid as dark as the pen: its colour is all that tells it apart, so no faint flanks.
        return (dark > strong) & ~dark_grid
    if np.count_nonzero(coloured) < 0.005 * coloured.size:
        return dark > strong  # grey or no grid: its lines could pass for faint ink
    grid_dark = float(np.percentile(dark[coloured], 99))
    weak = min(max(0.25 * 255, grid_dark + 25), strong)
    if weak >= strong:
        return dark > strong
    return apply_hysteresis_threshold(dark, weak, strong)


def faint_ink_mask(norm: np.ndarray, darkness: float = TRACE_DARKNESS, *, core: float = 1.0) -> np.ndarray:
    """Trace pixels of a photographed thin pen: hysteresis against the page's own grid darkness.

    On a low-resolution photo (about 4 px/mm) a 1 px trace keeps a dark core only on its flat
    stretches; its steep strokes come out barely darker than a grey grid, which :func:`ink_mask`
    cannot tell from faint ink by colour. Here the grid's darkness is taken from the page itself:
    grid lines cover far more of it than the trace (a few %), so the 95th percentile of darkness
    is a grid line's, and pixels darker than that by :data:`FAINT_MARGIN` are kept where they
    touch the :func:`trace_mask` core. ``core`` < 1 moves the core's threshold that fraction of the
    way from the faint one to the plain one: for a page whose pen is lighter in places (uneven
    light, focus) and has no dark core there.
    """
    from skimage.filters import apply_hysteresis_threshold

    r, g, b = cv2.split(norm)
    hi = cv2.max(cv2.max(r, g), b)
    dark = 255 - hi
    strong = round(255 * (1 - darkness))
    dark_grid = _dark_grid(hi, cv2.min(cv2.min(r, g), b), dark > strong)
    if dark_grid is not None:
        # A grid as dark as the pen: the 95th percentile is a grid line no ink is darker than.
        return (dark > strong) & ~dark_grid
    weak = min(max(float(np.percentile(dark, 95)) + FAINT_MARGIN, FAINT_FLOOR), strong)
    return apply_hysteresis_threshold(dark, weak, weak + core * (strong - weak))


def grid_strength(norm: np.ndarray, trace: np.ndarray | None = None) -> np.ndarray:
    """How much each pixel of a normalised image looks like a grid line, uint8 ``[H, W]`` (0..255).

    The darkest channel's drop below the paper (a red line has no green, a grey line is darker in
    all channels), zero on trace pixels so that the ECG itself does not pose as grid.
    """
    r, g, b = cv2.split(norm)
    strength = 255 - cv2.min(cv2.min(r, g), b)
    if trace is not None:
        strength[trace] = 0
    return strength


def fragmented(trace: np.ndarray, px_per_mm: float) -> bool:
    """True when the ink holds too few long strokes to be three rows of 10 s ECG trace.

    Components at least 20 mm wide are trace (text and specks are shorter); three rows of 250 mm
    drawn with a pen of at least one pixel need ``750 * px_per_mm`` such pixels. Less means the
    trace was broken into dashes (blur, fading), and the faint flanks are needed.
    """
    _, _, stats, _ = cv2.connectedComponentsWithStats(trace.astype(np.uint8), connectivity=8)
    long_ink = stats[1:, cv2.CC_STAT_AREA][stats[1:, cv2.CC_STAT_WIDTH] >= 20 * px_per_mm].sum()
    return bool(long_ink < 3 * 250 * px_per_mm)


def clean_trace(
    trace: np.ndarray, px_per_mm: float, pen_px: float | None = None, *, bridge_px: int = 0
) -> np.ndarray:
    """The trace mask without text, specks, frame lines and (on binarized pages) thin grid lines.

    Connected components smaller than 4 mm in both directions go (lead labels, header letters,
    noise); when more than 5 % of the page is ink (a binarized scan whose grid turned black) and
    the pen is at least 3 px wide, a 3x3 opening first removes the 1-2 px grid lines.

    ``bridge_px`` > 0 judges the components' size on the mask dilated by that many pixels, so a
    trace broken into dashes (a thin pen photographed at low resolution) counts as one stroke;
    only the undilated pixels are returned.
    """
    mask = trace.astype(np.uint8)
    # Frame and ruler lines: an image row (column) inked over 90 % of its length is no ECG trace.
    mask[mask.sum(axis=1) > 0.9 * mask.shape[1]] = 0
    mask[:, mask.sum(axis=0) > 0.9 * mask.shape[0]] = 0
    if mask.mean() > 0.05 and pen_px is not None and pen_px >= 3:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    judged = mask
    if bridge_px > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * bridge_px + 1, 2 * bridge_px + 1))
        judged = cv2.dilate(mask, disc)
    _n, labels, stats, _ = cv2.connectedComponentsWithStats(judged, connectivity=8)
    limit = SMALL_COMPONENT_MM * px_per_mm + 2 * bridge_px
    keep = (stats[:, cv2.CC_STAT_WIDTH] >= limit) | (stats[:, cv2.CC_STAT_HEIGHT] >= limit)
    keep[0] = False
    return keep[labels] & mask.astype(bool)
