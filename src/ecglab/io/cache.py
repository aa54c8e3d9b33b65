"""ecglab's derived caches: what they hold, how large they are, clearing them.

Preprocessed MIT-BIH beats and the digitizer's rendered training pages are cached under the
per-user cache directory (:func:`ecglab.io.paths.user_cache_dir`) so that a second run does not
redo the work; they are rebuilt on demand, so clearing them loses nothing. The datasets downloaded
into the same directory (``data/``) are not a cache of anything and are never touched here.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ecglab.errors import ConfigError
from ecglab.io.paths import user_cache_dir

#: Cache name → what it holds (each a sub-folder of the per-user cache directory).
DERIVED_CACHES: dict[str, str] = {
    "beats": "MIT-BIH beat windows and RR features (ecglab.datasets.mitdb)",
    "digitize": "the digitizer's rendered training pages (ecglab.datasets.digitize_pages)",
}


@dataclass(frozen=True)
class CacheUsage:
    """One derived cache on disk.

    Attributes
    ----------
    name, path, description
        Its name, folder and what it holds.
    files, bytes
        How many files it holds and their total size (0 when the folder does not exist).
    """

    name: str
    path: Path
    description: str
    files: int
    bytes: int


def cache_usage(root: Path | None = None) -> list[CacheUsage]:
    """Size of every derived cache under ``root`` (default: the per-user cache directory)."""
    base = root if root is not None else user_cache_dir()
    out = []
    for name, description in DERIVED_CACHES.items():
        folder = base / name
        sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
        out.append(CacheUsage(name, folder, description, len(sizes), sum(sizes)))
    return out


def clear_caches(names: list[str], root: Path | None = None) -> list[CacheUsage]:
    """Delete the named derived caches (``all``: every one); returns what was removed.

    Raises
    ------
    ConfigError
        A name that is not a derived cache (the downloaded datasets cannot be cleared this way).
    """
    wanted = list(DERIVED_CACHES) if "all" in names else names
    for name in wanted:
        if name not in DERIVED_CACHES:
            raise ConfigError(f"unknown cache {name!r} (choose all or one of {', '.join(DERIVED_CACHES)})")
    removed = []
    for usage in cache_usage(root):
        if usage.name in wanted and usage.path.is_dir():
            shutil.rmtree(usage.path)
            removed.append(usage)
    return removed
