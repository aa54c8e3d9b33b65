"""Scan- and photo-like damage for synthetic ECG pages, keeping every pixel of truth exact.

:func:`apply_damage` maps a :class:`~ecglab.synth.page.Page` to a damaged page. Each damage is
applied with its own probability (:class:`DamageSettings`). Geometric damage moves the image, the
``mask``/``leads`` label images and every ``LeadGeometry.points`` array with one and the same
homography (composed into ``Page.homography``); photometric damage changes the image only, so the
labels stay bit-identical.

Order of application (what happens to a real page, first to last):

1. ``strokes``, ``stamps`` -- ink put on the paper (handwriting, a stamp). The trace truth is kept:
   the trace is *under* the ink, which is what a digitizer should learn to see through.
2. ``creases``, ``wrinkles``, ``shadow`` -- the paper is folded and crumpled and lit unevenly. They
   are drawn together as one multiplicative shading map at 1/4 resolution (smooth by nature) and
   multiplied into the image once; only the sharp fold lines are drawn at full resolution. The
   shadow belongs to the camera frame strictly speaking, but a smooth gradient under a warp of a few
   degrees is still a smooth gradient, and one shading pass saves a full-image multiply.
3. ``rotation``, ``perspective`` -- the page is put on a scanner askew or photographed at an angle.
   Both are composed into one homography and applied in one warp (one interpolation, less blur).
4. ``blur``, ``color``, ``noise`` -- optics, exposure and white balance, sensor noise.
5. ``threshold`` -- a black-and-white scanner binarizes what its sensor saw.
6. ``jpeg`` -- the file is saved last.

Random draws: one uniform number per damage decides whether it is applied and one seed per damage
feeds its own generator, both drawn up front in a fixed order. So the same ``rng`` state gives a
byte-identical page, and changing one damage's settings does not change what the others draw.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cv2
import numpy as np
from scipy.special import ndtri

from ecglab.config.schema import bounded
from ecglab.errors import ConfigError
from ecglab.synth.page import Page

__all__ = [
    "DAMAGE_ORDER",
    "PRESETS",
    "DamageSettings",
    "apply_damage",
    "fit_homography",
    "paper_colour",
    "transform_points",
    "warp_page",
]

#: Damages in the order they are applied (see the module docstring for why).
DAMAGE_ORDER: tuple[str, ...] = (
    "strokes",
    "stamps",
    "creases",
    "wrinkles",
    "shadow",
    "rotation",
    "perspective",
    "blur",
    "color",
    "noise",
    "threshold",
    "jpeg",
)

# Smooth shading is computed on a grid this many times coarser than the page, then upscaled.
_SHADE_DOWNSAMPLE = 4
# Gains are stored as uint8 with 128 = 1.0 so that cv2.multiply does the page-sized product.
_GAIN_ONE = 128.0
_PENS_RGB = ((25, 45, 150), (30, 30, 35), (170, 30, 35))
_STAMP_RGB = ((190, 30, 40), (40, 60, 170), (110, 40, 140))
_STAMP_WORDS = ("RECEIVED", "COPY", "REVIEWED", "FILED", "SCANNED", "ARCHIVE", "VERIFIED")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------


def _p(default: float) -> Any:
    return bounded(default, ge=0.0, le=1.0)


def _strength(default: float) -> Any:
    return bounded(default, ge=0.0)


class _Section:
    """Validation shared by the damage sections: types, bounds (``bounded`` metadata), cross rules."""

    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            _check_value(f"damage.{self.name}.{f.name}", getattr(self, f.name), f)
        for key, problem in self.check():
            raise ConfigError(f"damage.{self.name}.{key}: {problem}")

    def check(self) -> Iterator[tuple[str, str]]:
        """Rules involving several fields; yields ``(key, problem)``."""
        return iter(())


@dataclass
class StrokeSettings(_Section):
    """Handwritten-like pen strokes: chains of cubic Bézier curves (image only).

    Attributes
    ----------
    p
        Probability of drawing strokes on a page.
    max_count
        At most this many separate scribbles (at least one).
    max_width
        Largest pen width as a fraction of the page's short side (0.002 is 3 px at 200 DPI A4).
    """

    name: ClassVar[str] = "strokes"
    p: float = _p(0.2)
    max_count: int = bounded(3, ge=1)
    max_width: float = _strength(0.002)


@dataclass
class StampSettings(_Section):
    """A semi-transparent rubber stamp: a circle or rectangle with a word and a date (image only).

    Attributes
    ----------
    p
        Probability of stamping a page.
    max_count
        At most this many stamps.
    opacity
        Largest ink opacity (0..1).
    size
        Largest stamp size as a fraction of the page's short side.
    """

    name: ClassVar[str] = "stamps"
    p: float = _p(0.1)
    max_count: int = bounded(1, ge=1)
    opacity: float = bounded(0.6, ge=0.0, le=1.0)
    size: float = bounded(0.15, ge=0.0, le=1.0)


@dataclass
class CreaseSettings(_Section):
    """Folds of the paper: a shading band along a line and a sharp fold line (image only).

    Attributes
    ----------
    p
        Probability of creasing a page.
    max_count
        At most this many folds.
    strength
        Largest darkening of the band (0.12 = 12 % darker at its centre).
    line_strength
        Largest darkening of the sharp fold line itself.
    width
        Width (Gaussian sigma) of the band as a fraction of the page's short side.
    """

    name: ClassVar[str] = "creases"
    p: float = _p(0.25)
    max_count: int = bounded(2, ge=1)
    strength: float = bounded(0.12, ge=0.0, le=1.0)
    line_strength: float = bounded(0.25, ge=0.0, le=1.0)
    width: float = _strength(0.015)


@dataclass
class WrinkleSettings(_Section):
    """Crumpled paper: low-frequency smooth noise multiplied into the image (image only).

    Attributes
    ----------
    p
        Probability of wrinkling a page.
    strength
        Standard deviation of the multiplicative shading (0.06 = ±6 %).
    scale
        Size of a wrinkle as a fraction of the page's short side.
    """

    name: ClassVar[str] = "wrinkles"
    p: float = _p(0.3)
    strength: float = bounded(0.06, ge=0.0, le=1.0)
    scale: float = bounded(0.08, gt=0.0)


@dataclass
class ShadowSettings(_Section):
    """A soft shadow: a smooth gradient darkening one side of the page (image only).

    Attributes
    ----------
    p
        Probability of a shadow.
    strength
        Largest darkening in the shadow (0.3 = 30 % darker).
    """

    name: ClassVar[str] = "shadow"
    p: float = _p(0.3)
    strength: float = bounded(0.3, ge=0.0, le=1.0)


@dataclass
class RotationSettings(_Section):
    """Page put on the scanner askew: rotation around the page centre (image and truth).

    Attributes
    ----------
    p
        Probability of rotating a page.
    max_deg
        Largest angle, degrees (drawn uniformly in ±max_deg).
    """

    name: ClassVar[str] = "rotation"
    p: float = _p(0.5)
    max_deg: float = _strength(2.0)


@dataclass
class PerspectiveSettings(_Section):
    """Page photographed at an angle: random jitter of the four corners (image and truth).

    Attributes
    ----------
    p
        Probability of a perspective warp.
    max_jitter
        Largest corner displacement as a fraction of the page width (x) and height (y).
    """

    name: ClassVar[str] = "perspective"
    p: float = _p(0.3)
    max_jitter: float = bounded(0.025, ge=0.0, le=0.25)


@dataclass
class BlurSettings(_Section):
    """Out-of-focus optics: Gaussian blur (image only).

    Attributes
    ----------
    p
        Probability of blurring.
    max_sigma
        Largest Gaussian sigma in pixels (drawn in [max_sigma/4, max_sigma]).
    """

    name: ClassVar[str] = "blur"
    p: float = _p(0.3)
    max_sigma: float = _strength(1.0)


@dataclass
class ColorSettings(_Section):
    """Exposure and white balance: brightness, contrast, gamma and per-channel gain (image only).

    Attributes
    ----------
    p
        Probability of colour jitter.
    brightness
        Largest additive shift as a fraction of full scale.
    contrast
        Largest relative change of contrast around mid-grey.
    gamma
        Largest change of log-gamma.
    channel
        Largest relative gain change of each RGB channel (white balance).
    """

    name: ClassVar[str] = "color"
    p: float = _p(0.5)
    brightness: float = _strength(0.08)
    contrast: float = bounded(0.12, ge=0.0, lt=1.0)
    gamma: float = _strength(0.12)
    channel: float = bounded(0.04, ge=0.0, lt=1.0)


@dataclass
class NoiseSettings(_Section):
    """Sensor noise: per-channel Gaussian noise and salt-and-pepper pixels (image only).

    Attributes
    ----------
    p
        Probability of adding noise.
    max_sigma
        Largest Gaussian standard deviation in grey levels (drawn in [max_sigma/4, max_sigma]).
    salt_pepper
        Largest fraction of pixels set to black or white.
    """

    name: ClassVar[str] = "noise"
    p: float = _p(0.4)
    max_sigma: float = _strength(6.0)
    salt_pepper: float = bounded(0.001, ge=0.0, le=1.0)


@dataclass
class ThresholdSettings(_Section):
    """A black-and-white scanner: grayscale then a global (Otsu) or adaptive threshold (image only).

    Attributes
    ----------
    p
        Probability of binarizing a page.
    adaptive
        Probability that the threshold is adaptive (local mean) rather than global Otsu.
    block
        Neighbourhood of the adaptive threshold as a fraction of the page's short side.
    offset
        Grey levels below the local mean a pixel must be to turn black (adaptive threshold).
    """

    name: ClassVar[str] = "threshold"
    p: float = _p(0.05)
    adaptive: float = _p(0.5)
    block: float = bounded(0.02, gt=0.0, le=1.0)
    offset: float = _strength(12.0)


@dataclass
class JpegSettings(_Section):
    """JPEG artefacts: encode and decode at a random quality (image only).

    Attributes
    ----------
    p
        Probability of JPEG compression.
    min_quality, max_quality
        Quality drawn uniformly in this inclusive range (1..100).
    """

    name: ClassVar[str] = "jpeg"
    p: float = _p(0.5)
    min_quality: int = bounded(50, ge=1, le=100)
    max_quality: int = bounded(95, ge=1, le=100)

    def check(self) -> Iterator[tuple[str, str]]:
        if self.min_quality > self.max_quality:
            yield "min_quality", f"must be <= max_quality ({self.max_quality}), got {self.min_quality}"


_SECTIONS: dict[str, type[_Section]] = {
    "strokes": StrokeSettings,
    "stamps": StampSettings,
    "creases": CreaseSettings,
    "wrinkles": WrinkleSettings,
    "shadow": ShadowSettings,
    "rotation": RotationSettings,
    "perspective": PerspectiveSettings,
    "blur": BlurSettings,
    "color": ColorSettings,
    "noise": NoiseSettings,
    "threshold": ThresholdSettings,
    "jpeg": JpegSettings,
}


@dataclass
class DamageSettings:
    """Which damages to apply, with what probability and strength (section ``damage`` of a config).

    The defaults are the ``default`` preset: a moderate scan/photo mix where a typical page gets
    three or four damages. Build one from a plain dict (a YAML section) with :meth:`from_dict`, or
    from a named preset with :meth:`preset`.

    Attributes
    ----------
    enabled
        Master switch: ``False`` returns pages unchanged.
    expand
        Geometric damage keeps the whole page in view: ``True`` grows the canvas to hold it,
        ``False`` keeps the page size and scales the warped page down to fit (never up).
    border_rgb
        Colour of the area uncovered by a warp, ``[r, g, b]``; ``None`` uses the page's paper colour
        (see :func:`paper_colour`).
    strokes, stamps, creases, wrinkles, shadow, rotation, perspective, blur, color, noise, threshold, jpeg
        One section per damage (see each ``*Settings`` class); every section has a probability ``p``.
    """

    enabled: bool = True
    expand: bool = False
    border_rgb: list[int] | None = None
    strokes: StrokeSettings = field(default_factory=StrokeSettings)
    stamps: StampSettings = field(default_factory=StampSettings)
    creases: CreaseSettings = field(default_factory=CreaseSettings)
    wrinkles: WrinkleSettings = field(default_factory=WrinkleSettings)
    shadow: ShadowSettings = field(default_factory=ShadowSettings)
    rotation: RotationSettings = field(default_factory=RotationSettings)
    perspective: PerspectiveSettings = field(default_factory=PerspectiveSettings)
    blur: BlurSettings = field(default_factory=BlurSettings)
    color: ColorSettings = field(default_factory=ColorSettings)
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    threshold: ThresholdSettings = field(default_factory=ThresholdSettings)
    jpeg: JpegSettings = field(default_factory=JpegSettings)

    def __post_init__(self) -> None:
        for key in ("enabled", "expand"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"damage.{key}: expected true or false, got {getattr(self, key)!r}")
        rgb = self.border_rgb
        if rgb is not None:
            ok = isinstance(rgb, list | tuple) and len(rgb) == 3
            if not ok or not all(_is_int(v) and 0 <= v <= 255 for v in rgb):
                raise ConfigError(f"damage.border_rgb: expected null or [r, g, b] in 0..255, got {rgb!r}")
            self.border_rgb = [int(v) for v in rgb]
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(
                    f"damage.{name}: expected a mapping of settings, got {getattr(self, name)!r}"
                )

    @classmethod
    def preset(cls, name: str) -> DamageSettings:
        """Settings of a named preset: ``default``, ``none`` (disabled), ``light`` or ``heavy``.

        Raises
        ------
        ConfigError
            If ``name`` is not a preset (with the closest preset name).
        """
        if name not in PRESETS:
            raise ConfigError(f"damage.preset: unknown preset {name!r}{_did_you_mean(name, PRESETS)}")
        return cls.from_dict(PRESETS[name])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, source: str = "damage") -> DamageSettings:
        """Settings from a plain mapping, e.g. ``OmegaConf.to_container(cfg.damage)``.

        An optional ``preset`` key picks the base settings (``default`` when absent); every other
        key overrides it: top-level ``enabled``/``expand``/``border_rgb`` and one mapping per damage,
        e.g. ``{"preset": "heavy", "rotation": {"p": 0.5}}``.

        Parameters
        ----------
        data
            The mapping; ``None`` or empty gives the ``default`` preset.
        source
            Prefix of error messages (the config file or section name).

        Raises
        ------
        ConfigError
            One line naming the key: unknown key (with a did-you-mean), wrong type, probability outside
            [0, 1], negative strength, ``min_quality > max_quality``, unknown preset.
        """
        try:
            return _settings_from_mapping(cls, dict(data or {}))
        except ConfigError as exc:
            message = str(exc)
            if source != "damage" and message.startswith("damage"):
                message = f"{source}: {message}"
            raise ConfigError(message) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of the settings; :meth:`from_dict` reads it back unchanged."""
        return dataclasses.asdict(self)


#: Named presets, as the mappings :meth:`DamageSettings.from_dict` reads.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "none": {"enabled": False},
    "light": {
        "strokes": {"p": 0.05},
        "stamps": {"p": 0.02},
        "creases": {"p": 0.1},
        "wrinkles": {"p": 0.1, "strength": 0.03},
        "shadow": {"p": 0.1, "strength": 0.15},
        "rotation": {"p": 0.3, "max_deg": 1.0},
        "perspective": {"p": 0.1, "max_jitter": 0.01},
        "blur": {"p": 0.1, "max_sigma": 0.7},
        "color": {"p": 0.3},
        "noise": {"p": 0.2, "max_sigma": 3.0, "salt_pepper": 0.0},
        "threshold": {"p": 0.0},
        "jpeg": {"p": 0.3, "min_quality": 75},
    },
    "heavy": {
        "strokes": {"p": 0.5, "max_count": 6},
        "stamps": {"p": 0.3, "max_count": 2},
        "creases": {"p": 0.6, "max_count": 4, "strength": 0.2, "line_strength": 0.4},
        "wrinkles": {"p": 0.6, "strength": 0.12},
        "shadow": {"p": 0.5, "strength": 0.5},
        "rotation": {"p": 0.8, "max_deg": 5.0},
        "perspective": {"p": 0.6, "max_jitter": 0.06},
        "blur": {"p": 0.5, "max_sigma": 1.8},
        "color": {"p": 0.8, "brightness": 0.15, "contrast": 0.25, "gamma": 0.25, "channel": 0.08},
        "noise": {"p": 0.6, "max_sigma": 12.0, "salt_pepper": 0.003},
        "threshold": {"p": 0.15},
        "jpeg": {"p": 0.8, "min_quality": 25},
    },
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _did_you_mean(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    valid = ", ".join(str(c) for c in candidates)
    return f" (did you mean {close[0]!r}? valid: {valid})" if close else f" (valid: {valid})"


def _check_value(key: str, value: Any, f: dataclasses.Field[Any]) -> None:
    """Check one numeric field of a section against its type and ``bounded`` metadata."""
    want_int = f.type in ("int", int)
    if want_int and not _is_int(value):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if not _is_number(value) or not math.isfinite(float(value)):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    bounds = f.metadata.get("bounds", {})
    if f.name in ("p", "adaptive"):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{key}: probability must be in [0, 1], got {value}")
        return
    if "ge" in bounds and value < bounds["ge"]:
        what = "must not be negative" if bounds["ge"] == 0 else f"must be >= {bounds['ge']}"
        raise ConfigError(f"{key}: {what}, got {value}")
    if "gt" in bounds and value <= bounds["gt"]:
        raise ConfigError(f"{key}: must be > {bounds['gt']}, got {value}")
    if "le" in bounds and value > bounds["le"]:
        raise ConfigError(f"{key}: must be <= {bounds['le']}, got {value}")
    if "lt" in bounds and value >= bounds["lt"]:
        raise ConfigError(f"{key}: must be < {bounds['lt']}, got {value}")


def _settings_from_mapping(cls: type[DamageSettings], data: dict[str, Any]) -> DamageSettings:
    preset = data.pop("preset", "default")
    if preset not in PRESETS:
        raise ConfigError(f"damage.preset: unknown preset {preset!r}{_did_you_mean(preset, PRESETS)}")
    base = PRESETS[preset]
    top_keys = [f.name for f in dataclasses.fields(cls)]
    merged: dict[str, Any] = {}
    for key, value in (*base.items(), *data.items()):
        if key not in top_keys:
            raise ConfigError(f"damage: unknown key {key!r}{_did_you_mean(key, ['preset', *top_keys])}")
        section = _SECTIONS.get(key)
        if section is None:
            merged[key] = value
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"damage.{key}: expected a mapping of settings, got {value!r}")
        keys = [f.name for f in dataclasses.fields(section)]
        for sub in value:
            if sub not in keys:
                raise ConfigError(f"damage.{key}: unknown key {sub!r}{_did_you_mean(sub, keys)}")
        merged[key] = {**merged.get(key, {}), **value}
    kwargs = {k: _SECTIONS[k](**v) if k in _SECTIONS else v for k, v in merged.items()}
    return cls(**kwargs)


# ----------------------------------------------------------------------------------------------
# Geometry helpers
# ----------------------------------------------------------------------------------------------


def transform_points(points: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Map ``[n, 2]`` ``(x, y)`` points through a 3x3 homography; NaN rows stay NaN.

    Parameters
    ----------
    points
        ``[n, 2]`` coordinates in the pixel-centre convention of OpenCV (pixel ``(i, j)`` covers
        ``x`` in ``[j - 0.5, j + 0.5]``), which is also the convention of the warps.
    homography
        ``3x3`` matrix mapping source coordinates to destination coordinates.

    Returns
    -------
    numpy.ndarray
        ``[n, 2]`` float64 transformed points.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h = np.asarray(homography, dtype=np.float64)
    mapped = pts @ h[:, :2].T + h[:, 2]
    return mapped[:, :2] / mapped[:, 2:3]


def paper_colour(image: np.ndarray) -> tuple[int, int, int]:
    """Paper colour of a page: the per-channel median of a sparse sample of its pixels.

    Paper is most of an ECG page (grid lines and traces are thin), so the median is the paper;
    every 7th row and column keeps it cheap (about 3 ms at A4 200 DPI).
    """
    sample = image[::7, ::7].reshape(-1, image.shape[-1])
    return tuple(int(v) for v in np.median(sample, axis=0))  # type: ignore[return-value]


def fit_homography(
    homography: np.ndarray, size: tuple[int, int], *, expand: bool
) -> tuple[np.ndarray, tuple[int, int]]:
    """Compose a translation (and a down-scale) so the whole warped page stays in view.

    Parameters
    ----------
    homography
        ``3x3`` map of the page's pixel coordinates.
    size
        ``(width, height)`` of the page.
    expand
        ``True``: the output canvas is the bounding box of the warped page. ``False``: the canvas
        keeps ``size`` and the warped page is scaled down (never up) and centred to fit it.

    Returns
    -------
    tuple
        The composed ``3x3`` homography and the output ``(width, height)``.
    """
    w, h = size
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    warped = transform_points(corners, homography)
    lo, hi = warped.min(axis=0), warped.max(axis=0)
    span = hi - lo
    if expand:
        out = (math.ceil(span[0] - 1e-6), math.ceil(span[1] - 1e-6))
        scale = 1.0
    else:
        out = (w, h)
        scale = min(1.0, w / span[0], h / span[1])
    centre_in = (lo + hi) / 2.0
    centre_out = np.array([out[0], out[1]]) / 2.0 - 0.5
    fit = np.array(
        [
            [scale, 0.0, centre_out[0] - scale * centre_in[0]],
            [0.0, scale, centre_out[1] - scale * centre_in[1]],
            [0.0, 0.0, 1.0],
        ]
    )
    return fit @ homography, out


def warp_page(
    page: Page,
    homography: np.ndarray,
    out_size: tuple[int, int],
    *,
    border_rgb: tuple[int, int, int] | None = None,
) -> Page:
    """Warp a page's image, labels and points with one homography.

    The image is resampled bilinearly; ``mask`` and ``leads`` with nearest neighbour (labels must
    stay labels) and 0 outside the page; every ``points`` array is mapped exactly; the page's
    ``homography`` becomes ``homography @ page.homography``.

    Parameters
    ----------
    page
        The page (not modified).
    homography
        ``3x3`` map from the page's current pixel coordinates to the output's.
    out_size
        ``(width, height)`` of the output.
    border_rgb
        Colour of the uncovered area; ``None`` uses :func:`paper_colour`.

    Returns
    -------
    Page
        The warped page.
    """
    h = np.asarray(homography, dtype=np.float64)
    fill = paper_colour(page.image) if border_rgb is None else tuple(int(v) for v in border_rgb)
    image = cv2.warpPerspective(
        page.image, h, out_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill
    )
    # Label images one at a time: OpenCV's 1-channel nearest warp is SIMD, its 2-channel one is ~6x slower.
    mask, leads = (
        cv2.warpPerspective(
            label, h, out_size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        for label in (page.mask, page.leads)
    )
    geometry = [dataclasses.replace(g, points=transform_points(g.points, h)) for g in page.geometry]
    return page.replace(
        image=image,
        mask=mask,
        leads=leads,
        geometry=geometry,
        homography=h @ np.asarray(page.homography, dtype=np.float64),
    )


# ----------------------------------------------------------------------------------------------
# The damages
# ----------------------------------------------------------------------------------------------


def _bezier_chain(rng: np.random.Generator, centre: np.ndarray, extent: float, segments: int) -> np.ndarray:
    """Points of a C1-continuous chain of cubic Bézier segments wandering around ``centre``."""
    t = np.linspace(0.0, 1.0, 24)[:, None]
    basis = np.hstack([(1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3])  # [24, 4]
    start = centre + rng.uniform(-0.5, 0.5, 2) * extent
    tangent = rng.normal(0.0, 0.25, 2) * extent
    chunks = []
    for _ in range(segments):
        end = centre + rng.uniform(-0.5, 0.5, 2) * extent
        out_tangent = rng.normal(0.0, 0.25, 2) * extent
        control = np.stack([start, start + tangent, end - out_tangent, end])
        chunks.append(basis @ control)
        start, tangent = end, out_tangent
    return np.concatenate(chunks)


def _draw_strokes(image: np.ndarray, s: StrokeSettings, rng: np.random.Generator) -> dict[str, Any]:
    h, w = image.shape[:2]
    short = min(h, w)
    count = int(rng.integers(1, s.max_count + 1))
    drawn = []
    for _ in range(count):
        extent = float(rng.uniform(0.05, 0.25)) * short
        centre = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        segments = int(rng.integers(2, 6))
        pts = _bezier_chain(rng, centre, extent, segments)
        pen = np.array(_PENS_RGB[int(rng.integers(len(_PENS_RGB)))]) + rng.integers(-15, 16, 3)
        colour = tuple(int(v) for v in np.clip(pen, 0, 255))
        width = max(1, round(float(rng.uniform(0.4, 1.0)) * s.max_width * short))
        fixed = np.round(pts * 16).astype(np.int32)  # 4 fractional bits: sub-pixel smooth curves
        cv2.polylines(image, [fixed], False, colour, width, cv2.LINE_AA, shift=4)
        drawn.append(
            {"centre": centre.round(1).tolist(), "segments": segments, "width": width, "rgb": colour}
        )
    return {"name": "strokes", "strokes": drawn}


def _stamp_coverage(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str, str]:
    """Ink coverage [size, size] float32 in 0..1 of a circular or rectangular stamp with text."""
    canvas = np.zeros((size, size), np.uint8)
    shape = "circle" if rng.random() < 0.5 else "rectangle"
    word = _STAMP_WORDS[int(rng.integers(len(_STAMP_WORDS)))]
    date = f"{int(rng.integers(1, 29)):02d} {_MONTHS[int(rng.integers(12))]} {int(rng.integers(1990, 2025))}"
    line = max(1, size // 40)
    c = size // 2
    if shape == "circle":
        cv2.circle(canvas, (c, c), c - line, 255, line, cv2.LINE_AA)
        cv2.circle(canvas, (c, c), int(c * 0.82), 255, max(1, line // 2), cv2.LINE_AA)
        box_w, rows = int(size * 0.62), (word, date)
    else:
        h_box = int(size * 0.55)
        y0 = (size - h_box) // 2
        cv2.rectangle(canvas, (line, y0), (size - line - 1, y0 + h_box), 255, line, cv2.LINE_AA)
        box_w, rows = int(size * 0.85), (word, date)
    font = cv2.FONT_HERSHEY_DUPLEX
    for k, text in enumerate(rows):
        (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
        scale = box_w / tw * (1.0 if k == 0 else 0.8)
        thick = max(1, round(scale * 1.5))
        (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
        y = c - 4 if k == 0 else c + th + 8
        cv2.putText(canvas, text, (c - tw // 2, y), font, scale, 255, thick, cv2.LINE_AA)
    angle = float(rng.uniform(-25, 25))
    rot = cv2.getRotationMatrix2D((c, c), angle, 1.0)
    canvas = cv2.warpAffine(canvas, rot, (size, size), flags=cv2.INTER_LINEAR)
    return canvas.astype(np.float32) / 255.0, shape, word


def _draw_stamps(image: np.ndarray, s: StampSettings, rng: np.random.Generator) -> dict[str, Any]:
    h, w = image.shape[:2]
    short = min(h, w)
    count = int(rng.integers(1, s.max_count + 1))
    drawn = []
    for _ in range(count):
        size = round(float(rng.uniform(0.6, 1.0)) * s.size * short)
        if size < 16 or size >= min(h, w):
            continue
        coverage, shape, word = _stamp_coverage(rng, size)
        x0, y0 = int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1))
        opacity = float(rng.uniform(0.5, 1.0)) * s.opacity
        colour = np.array(_STAMP_RGB[int(rng.integers(len(_STAMP_RGB)))], np.float32)
        alpha = (coverage * opacity)[..., None]
        roi = image[y0 : y0 + size, x0 : x0 + size].astype(np.float32)
        image[y0 : y0 + size, x0 : x0 + size] = np.round(roi * (1 - alpha) + colour * alpha).astype(np.uint8)
        drawn.append(
            {"shape": shape, "text": word, "xy": [x0, y0], "size": size, "opacity": round(opacity, 4)}
        )
    return {"name": "stamps", "stamps": drawn}


class _Shading:
    """The multiplicative shading map at 1/4 resolution, plus fold lines kept for full resolution."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        lh, lw = -(-height // _SHADE_DOWNSAMPLE), -(-width // _SHADE_DOWNSAMPLE)
        self.gain = np.ones((lh, lw), np.float32)
        # Full-resolution coordinates of the low-resolution cell centres.
        self.y = ((np.arange(lh, dtype=np.float32) + 0.5) * _SHADE_DOWNSAMPLE - 0.5)[:, None]
        self.x = ((np.arange(lw, dtype=np.float32) + 0.5) * _SHADE_DOWNSAMPLE - 0.5)[None, :]
        self.lines: list[tuple[tuple[float, float], tuple[float, float], float, float]] = []

    def apply(self, image: np.ndarray) -> np.ndarray:
        # Quantise at low resolution, then upscale the uint8 map: two cheap passes instead of float ones.
        low = cv2.convertScaleAbs(self.gain, alpha=_GAIN_ONE)
        gain = cv2.resize(low, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        for (x0, y0), (x1, y1), dark, thickness in self.lines:
            p0 = (round(x0 * 16), round(y0 * 16))
            p1 = (round(x1 * 16), round(y1 * 16))
            # A fold line: dark crest with a light edge beside it (light catching the other face).
            light = min(255, round(_GAIN_ONE * (1 + dark / 2)))
            offset = (round(thickness * 16), 0) if abs(x1 - x0) < abs(y1 - y0) else (0, round(thickness * 16))
            q0, q1 = (p0[0] + offset[0], p0[1] + offset[1]), (p1[0] + offset[0], p1[1] + offset[1])
            cv2.line(gain, q0, q1, light, max(1, round(thickness)), cv2.LINE_AA, shift=4)
            cv2.line(
                gain, p0, p1, round(_GAIN_ONE * (1 - dark)), max(1, round(thickness)), cv2.LINE_AA, shift=4
            )
        return cv2.multiply(image, cv2.merge([gain, gain, gain]), scale=1.0 / _GAIN_ONE)


def _add_creases(shade: _Shading, s: CreaseSettings, rng: np.random.Generator) -> dict[str, Any]:
    h, w = shade.height, shade.width
    short = min(h, w)
    count = int(rng.integers(1, s.max_count + 1))
    folds = []
    for _ in range(count):
        vertical = bool(rng.random() < 0.5)
        tilt = math.radians(float(rng.uniform(-4, 4)))
        # Folds sit near the halves and thirds of the page, where paper is folded for filing.
        where = float(rng.choice([1 / 3, 1 / 2, 2 / 3]) + rng.uniform(-0.05, 0.05))
        if vertical:
            cx, cy = where * w, h / 2
            direction = (math.sin(tilt), math.cos(tilt))
        else:
            cx, cy = w / 2, where * h
            direction = (math.cos(tilt), math.sin(tilt))
        nx, ny = -direction[1], direction[0]
        strength = float(rng.uniform(0.3, 1.0)) * s.strength
        line_dark = float(rng.uniform(0.3, 1.0)) * s.line_strength
        width = max(1.0, float(rng.uniform(0.5, 1.0)) * s.width * short)
        d = (shade.x - cx) * nx + (shade.y - cy) * ny
        band = (
            1
            - strength * np.exp(-((d / width) ** 2))
            + 0.5 * strength * np.exp(-(((d - 1.5 * width) / width) ** 2))
        )
        shade.gain *= band.astype(np.float32)
        reach = h + w
        p0 = (cx - direction[0] * reach, cy - direction[1] * reach)
        p1 = (cx + direction[0] * reach, cy + direction[1] * reach)
        thickness = max(1.0, short / 800)
        shade.lines.append((p0, p1, line_dark, thickness))
        folds.append(
            {
                "vertical": vertical,
                "centre": [round(cx, 2), round(cy, 2)],
                "tilt_deg": round(math.degrees(tilt), 4),
                "strength": round(strength, 4),
                "line_strength": round(line_dark, 4),
                "width_px": round(width, 2),
            }
        )
    return {"name": "creases", "folds": folds}


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Unit-variance smooth noise on ``shape``: a coarse random grid upscaled with bicubic."""
    gh = max(2, math.ceil(shape[0] / cell) + 1)
    gw = max(2, math.ceil(shape[1] / cell) + 1)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    smooth = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return smooth / max(float(smooth.std()), 1e-6)


def _add_wrinkles(shade: _Shading, s: WrinkleSettings, rng: np.random.Generator) -> dict[str, Any]:
    short_low = min(shade.gain.shape)
    cell = max(2.0, s.scale * short_low)
    strength = float(rng.uniform(0.4, 1.0)) * s.strength
    # Two octaves: wrinkles of the given size and finer ones at half their amplitude.
    field_ = _smooth_noise(rng, shade.gain.shape, cell) + 0.5 * _smooth_noise(rng, shade.gain.shape, cell / 2)
    shade.gain *= np.clip(1 + strength * field_ / math.sqrt(1.25), 0.2, 1.8)  # sum of octaves: unit std
    return {"name": "wrinkles", "strength": round(strength, 4), "cell_px": round(cell * _SHADE_DOWNSAMPLE, 2)}


def _add_shadow(shade: _Shading, s: ShadowSettings, rng: np.random.Generator) -> dict[str, Any]:
    h, w = shade.height, shade.width
    angle = float(rng.uniform(0, 2 * math.pi))
    ux, uy = math.cos(angle), math.sin(angle)
    # Coordinate along the direction, normalised to 0..1 over the page.
    extent = abs(ux) * w + abs(uy) * h
    d = ((shade.x - w / 2) * ux + (shade.y - h / 2) * uy) / extent + 0.5
    edge = float(rng.uniform(0.2, 0.8))
    softness = float(rng.uniform(0.05, 0.25))
    strength = float(rng.uniform(0.4, 1.0)) * s.strength
    shade.gain *= (1 - strength / (1 + np.exp(-(d - edge) / softness))).astype(np.float32)
    return {
        "name": "shadow",
        "angle_deg": round(math.degrees(angle), 4),
        "edge": round(edge, 4),
        "softness": round(softness, 4),
        "strength": round(strength, 4),
    }


def _rotation_matrix(size: tuple[int, int], angle_deg: float) -> np.ndarray:
    w, h = size
    rot = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle_deg, 1.0)
    return np.vstack([rot, [0.0, 0.0, 1.0]])


def _perspective_matrix(size: tuple[int, int], jitter: np.ndarray) -> np.ndarray:
    w, h = size
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    dst = (src + jitter * np.array([w, h])).astype(np.float32)
    return cv2.getPerspectiveTransform(src, dst)


def _blur(image: np.ndarray, s: BlurSettings, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    sigma = float(rng.uniform(0.25, 1.0)) * s.max_sigma
    if sigma < 0.05:
        return image, {"name": "blur", "sigma": round(sigma, 4)}
    return cv2.GaussianBlur(image, (0, 0), sigma), {"name": "blur", "sigma": round(sigma, 4)}


def _color(
    image: np.ndarray, s: ColorSettings, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    gamma = math.exp(float(rng.uniform(-s.gamma, s.gamma)))
    contrast = 1 + float(rng.uniform(-s.contrast, s.contrast))
    brightness = float(rng.uniform(-s.brightness, s.brightness))
    gains = 1 + rng.uniform(-s.channel, s.channel, 3)
    x = np.linspace(0.0, 1.0, 256)
    tone = ((x**gamma - 0.5) * contrast + 0.5 + brightness)[:, None] * gains[None, :]
    lut = np.clip(np.round(tone * 255), 0, 255).astype(np.uint8).reshape(256, 1, 3)
    params = {
        "name": "color",
        "gamma": round(gamma, 4),
        "contrast": round(contrast, 4),
        "brightness": round(brightness, 4),
        "channel_gain": [round(float(g), 4) for g in gains],
    }
    # One 1-channel LUT per plane: OpenCV's 3-channel-table LUT has no fast path (2x slower).
    planes = [cv2.LUT(plane, np.ascontiguousarray(lut[:, :, k])) for k, plane in enumerate(cv2.split(image))]
    return cv2.merge(planes), params


def _noise(
    image: np.ndarray, s: NoiseSettings, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    sigma = float(rng.uniform(0.25, 1.0)) * s.max_sigma
    fraction = float(rng.uniform(0.0, 1.0)) * s.salt_pepper
    # Gaussian noise through a 256-entry inverse-CDF table indexed by random bytes: the same
    # distribution quantised to 256 levels, without 11 M float normals (5x slower). The positive and
    # negative parts go through two uint8 tables and saturating add/subtract, OpenCV's fastest path
    # (each pixel has only one of them non-zero, so clipping is the same as on the sum).
    table = np.round(sigma * ndtri((np.arange(256) + 0.5) / 256))
    positive = np.clip(table, 0, 255).astype(np.uint8)
    negative = np.clip(-table, 0, 255).astype(np.uint8)
    # Raw 64-bit generator words viewed as bytes: uniform bytes at a quarter of rng.integers' cost.
    words = rng.bit_generator.random_raw(-(-image.size // 8))
    uniform = words.view(np.uint8)[: image.size].reshape(image.shape)
    out = cv2.subtract(cv2.add(image, cv2.LUT(uniform, positive)), cv2.LUT(uniform, negative))
    flat = out.reshape(-1, 3)
    count = int(rng.binomial(flat.shape[0], fraction)) if fraction > 0 else 0
    if count:
        where = rng.integers(0, flat.shape[0], count)
        flat[where] = np.where(rng.random(count) < 0.5, 0, 255).astype(np.uint8)[:, None]
    return out, {
        "name": "noise",
        "sigma": round(sigma, 4),
        "salt_pepper": round(fraction, 6),
        "pixels": count,
    }


def _threshold(
    image: np.ndarray, s: ThresholdSettings, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if rng.random() < s.adaptive:
        block = max(3, round(s.block * min(gray.shape)) | 1)
        offset = float(rng.uniform(0.5, 1.0)) * s.offset
        binary = cv2.adaptiveThreshold(
            gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, offset
        )
        params = {"name": "threshold", "method": "adaptive", "block": block, "offset": round(offset, 3)}
    else:
        level, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        params = {"name": "threshold", "method": "otsu", "level": float(level)}
    return cv2.cvtColor(binary, cv2.COLOR_GRAY2RGB), params


def _jpeg(image: np.ndarray, s: JpegSettings, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    quality = int(rng.integers(s.min_quality, s.max_quality + 1))
    # OpenCV's codec expects BGR; encoding RGB as is would subsample the wrong chroma.
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 3-channel image
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), {
        "name": "jpeg",
        "quality": quality,
        "bytes": int(encoded.size),
    }


# ----------------------------------------------------------------------------------------------
# The pipeline
# ----------------------------------------------------------------------------------------------


def _check_page(page: Page) -> None:
    from ecglab.errors import RecordError

    image = page.image
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise RecordError(
            f"page {page.record_id}: image must be [H, W, 3] uint8, got {image.dtype} {image.shape}"
        )
    for name in ("mask", "leads"):
        label = getattr(page, name)
        if label.shape != image.shape[:2] or label.dtype != np.uint8:
            raise RecordError(
                f"page {page.record_id}: {name} must be [H, W] uint8 like the image {image.shape[:2]}, "
                f"got {label.dtype} {label.shape}"
            )


def apply_damage(page: Page, settings: DamageSettings, rng: np.random.Generator) -> Page:
    """Damage a page like a scan or a photo of a printed ECG, keeping the truth exact.

    Each damage in :data:`DAMAGE_ORDER` is applied with its probability ``p`` (see the module
    docstring for the order and why). Geometric damage (``rotation``, ``perspective``) warps the
    image bilinearly, ``mask``/``leads`` with nearest neighbour and every ``points`` array with the
    same homography, composed into ``page.homography``; the other damages touch the image only. Ink
    (``strokes``, ``stamps``) is drawn over the trace but the trace truth is kept: the trace is
    under the ink.

    Parameters
    ----------
    page
        The undamaged (or already damaged) page; not modified.
    settings
        Probabilities and strengths; ``settings.enabled = False`` returns the page unchanged.
    rng
        Source of randomness; the same state gives a byte-identical result.

    Returns
    -------
    Page
        The damaged page. ``meta["damage"]`` lists what was applied, in order, each entry a
        JSON-serialisable dict with ``name`` and the drawn parameters (appended to any list already
        there).

    Raises
    ------
    RecordError
        If the page's image is not ``[H, W, 3]`` uint8 or its label images do not match it.
    """
    _check_page(page)
    applied: list[dict[str, Any]] = list(page.meta.get("damage", []))
    if not settings.enabled:
        return page.replace(meta={**page.meta, "damage": applied})
    draws = rng.random(len(DAMAGE_ORDER))
    seeds = rng.integers(0, 2**63 - 1, size=len(DAMAGE_ORDER))
    chosen = {
        name: np.random.default_rng(int(seed))
        for name, u, seed in zip(DAMAGE_ORDER, draws, seeds, strict=True)
        if u < getattr(settings, name).p
    }
    if not chosen:
        return page.replace(meta={**page.meta, "damage": applied})

    image = page.image
    if "strokes" in chosen or "stamps" in chosen:
        image = image.copy()
        if "strokes" in chosen:
            applied.append(_draw_strokes(image, settings.strokes, chosen["strokes"]))
        if "stamps" in chosen:
            applied.append(_draw_stamps(image, settings.stamps, chosen["stamps"]))

    if {"creases", "wrinkles", "shadow"} & chosen.keys():
        shade = _Shading(page.height, page.width)
        if "creases" in chosen:
            applied.append(_add_creases(shade, settings.creases, chosen["creases"]))
        if "wrinkles" in chosen:
            applied.append(_add_wrinkles(shade, settings.wrinkles, chosen["wrinkles"]))
        if "shadow" in chosen:
            applied.append(_add_shadow(shade, settings.shadow, chosen["shadow"]))
        image = shade.apply(image)

    out = page.replace(image=image)
    if "rotation" in chosen or "perspective" in chosen:
        out, entries = _apply_geometry(out, settings, chosen)
        applied.extend(entries)

    image = out.image
    for name, step in (
        ("blur", _blur),
        ("color", _color),
        ("noise", _noise),
        ("threshold", _threshold),
        ("jpeg", _jpeg),
    ):
        if name in chosen:
            image, params = step(image, getattr(settings, name), chosen[name])
            applied.append(params)
    return out.replace(image=image, meta={**page.meta, "damage": applied})


def _apply_geometry(
    page: Page, settings: DamageSettings, chosen: dict[str, np.random.Generator]
) -> tuple[Page, list[dict[str, Any]]]:
    size = (page.width, page.height)
    matrix = np.eye(3)
    entries: list[dict[str, Any]] = []
    if "rotation" in chosen:
        angle = float(chosen["rotation"].uniform(-1, 1)) * settings.rotation.max_deg
        matrix = _rotation_matrix(size, angle) @ matrix
        entries.append({"name": "rotation", "angle_deg": round(angle, 6)})
    if "perspective" in chosen:
        jitter = chosen["perspective"].uniform(-1, 1, (4, 2)) * settings.perspective.max_jitter
        matrix = _perspective_matrix(size, jitter) @ matrix
        entries.append({"name": "perspective", "corner_jitter": jitter.round(6).tolist()})
    matrix, out_size = fit_homography(matrix, size, expand=settings.expand)
    border = tuple(settings.border_rgb) if settings.border_rgb is not None else None
    warped = warp_page(page, matrix, out_size, border_rgb=border)  # type: ignore[arg-type]
    entries.append({"name": "warp", "homography": matrix.round(9).ravel().tolist(), "size": list(out_size)})
    return warped, entries
