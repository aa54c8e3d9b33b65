"""A thin pen photographed at low resolution: faint-ink mask, bridged dashes, rows by their ink's spread."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ecglab.digitize import digitize_image
from ecglab.digitize.errors import LayoutError
from ecglab.digitize.grid import GridInfo
from ecglab.digitize.image import clean_trace, faint_ink_mask, trace_mask
from ecglab.digitize.layout import detect_layout, find_rows
from ecglab.io.leads import STANDARD_12
from ecglab.metrics.snr import kaggle_snr
from ecglab.signal.simulate import simulate_12lead
from ecglab.synth import render_page

PPM = 4.0  # px per mm, a phone photo of an A4 page


def _grey_grid_page(h: int = 120, w: int = 400) -> np.ndarray:
    """White paper with a light grey 1 mm grid (lines 78 % bright), as :func:`normalise` returns it."""
    img = np.full((h, w, 3), 255, np.uint8)
    img[:, :: int(PPM)] = 200
    img[:: int(PPM)] = 200
    return img


def test_faint_ink_mask_keeps_faint_strokes_joined_to_the_trace_and_not_the_grid():
    img = _grey_grid_page()
    img[60, 21:202] = 40  # a dark flat stretch: the core
    img[30:60, 201] = 150  # a steep stroke the camera left faint (darker than any grid line)
    img[30, 201:380] = 150  # ... and faint on, joined to the core only through it
    img[90, 21:380] = 150  # a faint line touching no core
    plain, faint = trace_mask(img), faint_ink_mask(img)
    assert not plain[30:60, 201].any()
    assert faint[30:60, 201].all() and faint[30, 201:380].all()
    assert not faint[90].any()  # no dark core: not ink
    assert not faint[:, 8].any() and not faint[8].any()  # the grid lines stay out


def test_a_fainter_core_seeds_a_pen_with_no_dark_pixel():
    """Uneven light: the pen on this part of the page is nowhere as dark as the plain threshold."""
    img = _grey_grid_page()
    img[60, 21:380] = 170  # a whole stroke only a little darker than the grid lines (200)
    img[60, 200:210] = 140  # its darkest stretch: lighter than the plain threshold (128)
    assert not faint_ink_mask(img)[60].any()
    kept = faint_ink_mask(img, core=0.5)
    assert kept[60, 21:380].all()
    assert not kept[:, 8].any() and not kept[8].any()  # the grid lines stay out


def test_bridged_cleaning_keeps_a_dashed_trace_and_drops_text():
    mask = np.zeros((60, 400), bool)
    for x in range(10, 390, 5):  # 3 px dashes, 2 px gaps: each dash far below 4 mm
        mask[30, x : x + 3] = True
    mask[5:12, 100:104] = True  # a letter: 1.75 x 1 mm
    assert not clean_trace(mask, PPM).any()
    kept = clean_trace(mask, PPM, bridge_px=1)
    np.testing.assert_array_equal(kept[30], mask[30])  # only the original pixels come back
    assert not kept[5:12].any()


def _broken_rows(h: int = 300, w: int = 1100, broken: tuple[int, ...] = (1,)) -> np.ndarray:
    """Three rows of ink, 40 px apart vertically in a 300 px page; rows in ``broken`` are 6 mm
    pieces with 1.5 mm gaps (80 % of the columns inked, no 1 mm-bridged run longer than 6 mm)."""
    mask = np.zeros((h, w), bool)
    for i, y in enumerate((60, 150, 240)):
        if i in broken:
            for x in range(50, 1050, 30):
                mask[y, x : x + 24] = True
        else:
            mask[y, 50:1050] = True
    return mask


def test_rows_broken_into_pieces_count_by_their_spread():
    mask = _broken_rows()
    assert [round(r.baseline_y) for r in find_rows(mask, PPM)] == [60, 240]
    rows = find_rows(mask, PPM, span_coverage=0.75)
    assert [round(r.baseline_y) for r in rows] == [60, 150, 240]
    assert rows[1].x_lo == 50 and rows[1].x_hi == 1049  # first and last inked column in the span


def test_a_row_missed_between_two_rows_refuses_the_layout():
    grid = GridInfo(PPM, PPM, 1.0, "minor", [])
    with pytest.raises(LayoutError, match="between rows"):
        detect_layout(_broken_rows(), grid)
    page = detect_layout(_broken_rows(), grid, span_coverage=0.75, gap_mm=2.5)
    assert page.name == "3x4" and len(page.rows) == 3


def test_rows_spanning_far_less_than_a_row_duration_are_refused():
    mask = np.zeros((300, 1100), bool)
    for y in (60, 150, 240):
        mask[y, 50:400] = True  # 87.5 mm: 3.5 s of a 10 s row at 25 mm/s
    with pytest.raises(LayoutError, match=r"span 3\.4\d s of the 10 s"):
        detect_layout(mask, GridInfo(PPM, PPM, 1.0, "minor", []))


def _photographed(image: np.ndarray) -> np.ndarray:
    """A camera's softening: a slight blur and JPEG at quality 70."""
    soft = cv2.GaussianBlur(image, (0, 0), 0.8)
    _ok, data = cv2.imencode(".jpg", soft[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


@pytest.mark.parametrize("grid_color", ["grey", "red"])
def test_a_thin_pen_at_100_dpi_is_read_through_the_faint_mask(grid_color):
    record = simulate_12lead(seed=1, heart_rate=75)
    settings = {"dpi": 100, "layout": "3x4+1", "trace_width_mm": 0.25, "grid_color": grid_color}
    page = render_page(record, settings)
    result = digitize_image(_photographed(page.image))
    assert result.layout.name == "3x4+1"
    assert any("faint-ink mask" in n for n in result.notes)
    truth = np.stack([record.signal[record.leads.index(name)] for name in STANDARD_12])
    t = np.where(np.isnan(result.signal), np.nan, truth[:, : result.signal.shape[1]])
    assert kaggle_snr(t, result.signal, result.fs) > 5.0


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "layout", "fainter"),
    [
        ("ecg00003.png", "3x4+1", ""),
        ("ecg00029.jpg", "3x4+1", ""),
        ("ecg00037.jpg", "3x4+1", "seeded from fainter ink)"),
        ("ecg00013.jpg", "3x4", "gaps up to 0.75 mm)"),
    ],
)
def test_real_photos_with_a_thin_broken_trace(shared_data: Path, name, layout, fainter):
    # 00003 was read as 3x4 with lead II's row missed; 00029 failed (2 rows found); 00037 failed
    # (no row found: the pen is lighter on the right); 00013 failed (no row found: a grey pen in a
    # 1024 px JPEG). By eye: 3x4+1, and 3x4 for 00013 (its rhythm strip is cut off).
    result = digitize_image(shared_data / "images" / "ecg_image_kit_real" / name)
    assert result.layout.name == layout
    note = next(n for n in result.notes if "faint-ink mask" in n)
    assert note.endswith(fainter or "dashes)")
