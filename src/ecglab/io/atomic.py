"""Atomic file writes: a reader never sees a half-written output, and a crash loses nothing.

Everything ecglab writes goes to a temporary file in the destination folder first and is moved
into place with :func:`os.replace` (atomic on POSIX and Windows within one file system).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it vanishes.

    Examples
    --------
    >>> with atomic_write("out.csv") as f:  # doctest: +SKIP
    ...     f.write("a,b\\n")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    usual_permissions(tmp)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def usual_permissions(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the permissions any new file gets (``mkstemp`` creates 0600 files)."""
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    """The process umask (read by setting it, then restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir_writes(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder inside ``dest``; on success move each file in it to ``dest``.

    For writers that produce several files at once through a library that writes by itself
    (wfdb writes ``.hea`` and ``.dat`` in one call): every file appears in ``dest`` whole.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ecglab-", dir=dest))
    try:
        yield tmp
        for item in sorted(tmp.iterdir()):
            os.replace(item, dest / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
