"""Batch rendering: many images from many records, deterministic, parallel and shardable.

Image ``k`` of a job renders record ``k mod len(records)`` with its own generator seeded from
``(seed, k)`` (NumPy ``SeedSequence``), so an image's bytes depend only on the job's arguments and
``k``: never on the worker count, the shard, or which images ran before. ``--shard i/n`` keeps the
images with ``k mod n == i``; the union of all shards is the unsharded job.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecglab.errors import ConfigError, EcglabError

SYNTH_SECTIONS = ("render", "damage", "output")
OUTPUT_KEYS = ("kaggle", "image_format")


@dataclass(frozen=True)
class SynthSettings:
    """Render, damage and output settings of a job (``configs/synth.yaml``)."""

    render: Any
    damage: Any
    kaggle: bool = False
    image_format: str = "png"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SynthSettings:
        """Settings from a plain mapping with sections ``render``, ``damage`` and ``output``.

        Raises
        ------
        ConfigError
            An unknown section or key, a bad value (one line, with a did-you-mean).
        """
        import difflib

        from ecglab.synth.damage import DamageSettings
        from ecglab.synth.settings import RenderSettings

        data = dict(data or {})
        for key in data:
            if key not in SYNTH_SECTIONS:
                close = difflib.get_close_matches(str(key), SYNTH_SECTIONS, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ConfigError(f"synth config: unknown section '{key}' ({hint}sections: "
                                  f"{', '.join(SYNTH_SECTIONS)})")  # fmt: skip
        output = dict(data.get("output") or {})
        for key in output:
            if key not in OUTPUT_KEYS:
                raise ConfigError(f"output: unknown key '{key}' (valid keys: {', '.join(OUTPUT_KEYS)})")
        image_format = str(output.get("image_format", "png"))
        if image_format not in ("png", "jpg"):
            raise ConfigError(f"output.image_format: expected png or jpg, got {image_format!r}")
        return cls(
            render=RenderSettings.from_dict(data.get("render")),
            damage=DamageSettings.from_dict(data.get("damage")),
            kaggle=bool(output.get("kaggle", False)),
            image_format=image_format,
        )


def load_synth_settings(
    config: str | os.PathLike[str] | None = None, overrides: Sequence[str] = ()
) -> SynthSettings:
    """Read ``configs/synth.yaml``-style YAML (or the defaults) and apply dot overrides.

    Raises
    ------
    ConfigError
        Unreadable YAML, a malformed override, or invalid settings.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        base = OmegaConf.load(config) if config is not None else OmegaConf.create({})
    except FileNotFoundError:
        raise ConfigError(f"{config}: config file not found") from None
    except (OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"{config}: not valid YAML: {str(exc).splitlines()[0]}") from None
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. render.dpi=300")
    try:
        merged = OmegaConf.merge(base, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"overrides: {str(exc).splitlines()[0]}") from None
    return SynthSettings.from_dict(OmegaConf.to_container(merged, resolve=True))  # type: ignore[arg-type]


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` → ``(i, n)`` with ``0 <= i < n``; None → ``(0, 1)``."""
    if not text:
        return 0, 1
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


@dataclass
class SynthJob:
    """A rendering job: ``count`` images cycling over ``records``."""

    records: list[Path]
    out_dir: Path
    count: int
    seed: int
    settings: SynthSettings
    shard: tuple[int, int] = (0, 1)
    read_options: dict[str, Any] = field(default_factory=dict)

    def indices(self) -> list[int]:
        """The image numbers this shard renders."""
        i, n = self.shard
        return [k for k in range(self.count) if k % n == i]

    def record_of(self, k: int) -> Path:
        return self.records[k % len(self.records)]


@dataclass
class ImageResult:
    """What happened to one image: its id, or the one-line error of its record."""

    index: int
    record: str
    image_id: str | None = None
    error: str | None = None
    damage: list[str] = field(default_factory=list)


def image_id(k: int, record_id: str) -> str:
    """File stem of image ``k``: ``000042_<record id>``."""
    from ecglab.io.wfdb_io import safe_record_name

    return f"{k:06d}_{safe_record_name(record_id)}"


_RECORD_CACHE: dict[str, Any] = {}


def _read(path: Path, options: Mapping[str, Any]) -> Any:
    """Read a record once per process (records repeat when count > len(records))."""
    key = str(path)
    if key not in _RECORD_CACHE:
        from ecglab.io.reader import read_record

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if len(_RECORD_CACHE) > 64:
                _RECORD_CACHE.clear()
            try:
                _RECORD_CACHE[key] = read_record(path, allow_unknown_leads=True, **options)
            except EcglabError as exc:
                _RECORD_CACHE[key] = exc
    value = _RECORD_CACHE[key]
    if isinstance(value, EcglabError):
        raise value
    return value


def render_one(job: SynthJob, k: int) -> ImageResult:
    """Render, damage and write image ``k`` of ``job``; errors come back in the result."""
    from ecglab.synth.damage import apply_damage
    from ecglab.synth.render import render_page
    from ecglab.synth.writers import write_page

    path = job.record_of(k)
    try:
        rec = _read(path, job.read_options)
        rng = np.random.default_rng(np.random.SeedSequence([int(job.seed), int(k)]))
        page = render_page(rec, job.settings.render, rng=rng)
        page = apply_damage(page, job.settings.damage, rng)
        name = image_id(k, rec.record_id)
        write_page(
            page, job.out_dir, name, kaggle=job.settings.kaggle, image_format=job.settings.image_format
        )
        applied = [
            str(d.get("name", d)) if isinstance(d, dict) else str(d) for d in page.meta.get("damage", [])
        ]
        return ImageResult(k, str(path), image_id=name, damage=applied)
    except EcglabError as exc:
        return ImageResult(k, str(path), error=f"{path}: {exc}" if str(path) not in str(exc) else str(exc))
    except (OSError, ValueError, RuntimeError) as exc:  # a full disk or a library failure: this image only
        return ImageResult(k, str(path), error=f"{path}: image {k}: {type(exc).__name__}: {exc}")


def _worker(args: tuple[SynthJob, int]) -> ImageResult:
    return render_one(*args)


def run_job(
    job: SynthJob, workers: int = 1, progress: Callable[[ImageResult], None] | None = None
) -> list[ImageResult]:
    """Render every image of ``job`` (in ``workers`` processes), in image order.

    Parameters
    ----------
    progress
        Called once per finished image (in order), e.g. to advance a progress bar.
    """
    indices = job.indices()
    results: list[ImageResult] = []
    for result in _iterate(job, indices, workers):
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _iterate(job: SynthJob, indices: list[int], workers: int) -> Iterator[ImageResult]:
    if workers <= 1 or len(indices) <= 1:
        for k in indices:
            yield render_one(job, k)
        return
    import multiprocessing as mp

    # Never plain fork: a parent that already ran OpenCV/torch thread pools can hand a child a lock
    # held by a thread that does not exist there (a silent hang). forkserver forks from a clean
    # process that has imported only the renderer. Each worker is single-threaded inside.
    if os.name == "nt":
        context = mp.get_context("spawn")
    else:
        context = mp.get_context("forkserver")
        context.set_forkserver_preload(["ecglab.synth.render", "ecglab.synth.damage", "ecglab.synth.writers"])
    with context.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(_worker, [(job, k) for k in indices], chunksize=1)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)
