"""Download PhysioNet databases over HTTPS, verified file by file against their SHA256 sums.

Every PhysioNet project version lives at ``https://physionet.org/files/<slug>/<version>/`` and
publishes ``SHA256SUMS.txt`` at its root, one ``<sha256hex>  <relative/path>`` line per file. That
list is the download plan and the integrity check in one:

1. fetch ``SHA256SUMS.txt`` and keep the files matching the optional ``include`` patterns;
2. skip files already present whose hash is right (a hash check, not an existence check);
3. stream every other file to ``<file>.part``, resuming with an HTTP ``Range`` request when a
   ``.part`` is left over from an interrupted run;
4. verify the SHA256 of the ``.part`` and move it into place with :func:`os.replace`, so a file under
   the dataset folder is either absent or complete and verified.

One bad file (HTTP error, checksum mismatch) does not stop the others; at the end one
:class:`IncompleteDownloadError` sums up what failed. A failure that dooms every remaining file
(the server cannot be reached, the disk is full) stops the run at once. Rerunning the same command
resumes: verified files are skipped and ``.part`` files continue where they stopped.

The base URL can point elsewhere (a mirror, or a local test server): the ``base_url`` argument
wins, then the ``ECGLAB_PHYSIONET_URL`` environment variable, then ``https://physionet.org/files``.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import http
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from tqdm import tqdm

from ecglab import __version__
from ecglab.errors import DownloadError
from ecglab.io.atomic import atomic_write
from ecglab.io.paths import data_dir

__all__ = [
    "BASE_URL_ENV_VAR",
    "CATALOG",
    "CHECKSUM_FILE",
    "DEFAULT_BASE_URL",
    "ChecksumEntry",
    "Dataset",
    "DownloadSummary",
    "IncompleteDownloadError",
    "download_dataset",
    "fetch_file",
    "get_dataset",
    "parse_checksums",
    "resolve_base_url",
    "select_files",
    "sha256_file",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://physionet.org/files"
BASE_URL_ENV_VAR = "ECGLAB_PHYSIONET_URL"
CHECKSUM_FILE = "SHA256SUMS.txt"
PART_SUFFIX = ".part"

_CHUNK = 1 << 16
# Connect timeout short (an unreachable host should fail fast), read timeout generous (PhysioNet
# can pause for a while mid-transfer).
_DEFAULT_TIMEOUT = 30.0
_CONNECT_TIMEOUT = 10.0
# Transient connection problems on one file are retried this many times, resuming from the .part.
_RETRIES = 2
_RETRY_PAUSE_S = 0.5
# How many failures the final one-line message spells out before saying "and N more".
_FAILURES_SHOWN = 3
# Disk errors after which no other file can be written either.
_FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}

_CHECKSUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-\d+/(?:\d+|\*)$")
_DRIVE = re.compile(r"^[A-Za-z]:")


# --------------------------------------------------------------------------------------------
# Catalog
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """One PhysioNet database ecglab knows how to fetch.

    Attributes
    ----------
    name
        ecglab's name for it (``ecglab data download NAME``).
    slug
        PhysioNet project slug (the ``<slug>`` in ``physionet.org/files/<slug>/<version>/``).
    version
        Pinned project version, so a download is reproducible.
    description
        One line for ``ecglab data list``.
    size
        Approximate size on disk of the whole dataset, for humans.
    folder
        Sub-folder of the data root it is stored in.
    """

    name: str
    slug: str
    version: str
    description: str
    size: str
    folder: str

    @property
    def project(self) -> str:
        """``<slug>/<version>``, as PhysioNet shows it."""
        return f"{self.slug}/{self.version}"

    def url(self, base_url: str | None = None) -> str:
        """Root URL of this project version, ending with ``/``."""
        return f"{resolve_base_url(base_url)}/{self.slug}/{self.version}/"


CATALOG: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "mitdb",
            "mitdb",
            "1.0.0",
            "MIT-BIH Arrhythmia Database: 48 two-lead 30-min records, beat annotations",
            "~100 MB",
            "mitdb",
        ),
        Dataset(
            "nstdb",
            "nstdb",
            "1.0.0",
            "MIT-BIH Noise Stress Test Database: noisy mitdb records and noise recordings",
            "~30 MB",
            "nstdb",
        ),
        Dataset(
            "ptb-xl",
            "ptb-xl",
            "1.0.3",
            "PTB-XL: 21,799 12-lead 10-s ECGs (100 and 500 Hz) with SCP-ECG statements",
            "~3 GB",
            "ptbxl",
        ),
        Dataset(
            "cinc2020",
            "challenge-2020",
            "1.0.2",
            "PhysioNet/CinC Challenge 2020: 12-lead ECGs from 6 sources, SNOMED-CT labels",
            "~8 GB",
            "cinc2020",
        ),
        Dataset(
            "cinc2021",
            "challenge-2021",
            "1.0.3",
            "PhysioNet/CinC Challenge 2021: 12-lead ECGs from 7 sources, SNOMED-CT labels",
            "~13 GB",
            "cinc2021",
        ),
    )
}


def get_dataset(name: str) -> Dataset:
    """Look up a dataset of :data:`CATALOG` by its ecglab name, or by its folder name (``ptbxl``).

    The folder name is accepted too because :func:`ecglab.io.paths.dataset_dir` tells users to run
    ``ecglab data download <folder>`` when a dataset folder is missing.

    Raises
    ------
    DownloadError
        If ``name`` is unknown; the message lists the valid names.
    """
    if name in CATALOG:
        return CATALOG[name]
    for info in CATALOG.values():
        if info.folder == name:
            return info
    raise DownloadError(f"unknown dataset '{name}'; choose one of: {', '.join(CATALOG)}")


def resolve_base_url(base_url: str | None = None) -> str:
    """PhysioNet files URL to use: ``base_url`` > ``$ECGLAB_PHYSIONET_URL`` > physionet.org.

    Returns
    -------
    str
        The URL without a trailing slash, e.g. ``https://physionet.org/files``.

    Raises
    ------
    DownloadError
        If the chosen URL is not an ``http(s)://host...`` URL.
    """
    source = "--base-url" if base_url else BASE_URL_ENV_VAR if os.environ.get(BASE_URL_ENV_VAR) else "default"
    url = (base_url or os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DownloadError(
            f"invalid PhysioNet base URL {url!r} (from {source}): expected http(s)://host/path"
        )
    return url


# --------------------------------------------------------------------------------------------
# SHA256SUMS.txt
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecksumEntry:
    """One line of ``SHA256SUMS.txt``: a relative POSIX path and its lower-case SHA256 hex digest."""

    path: str
    sha256: str


def parse_checksums(text: str, source: str = CHECKSUM_FILE) -> list[ChecksumEntry]:
    """Parse a ``sha256sum``-style list (``<hex>  <path>`` or ``<hex> *<path>`` per line).

    Parameters
    ----------
    text
        Content of ``SHA256SUMS.txt``.
    source
        Where it came from (URL or file), for error messages.

    Raises
    ------
    DownloadError
        On a malformed line, an empty list, or a path that would escape the dataset folder
        (absolute, ``..``, drive letter). A list with such a path is not trusted at all, so
        nothing is downloaded.
    """
    entries = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _CHECKSUM_LINE.match(line)
        if match is None:
            raise DownloadError(
                f"{source} line {lineno} is not '<sha256>  <path>': {line[:80]!r} (is the base URL right?)"
            )
        path = _safe_relative_path(match.group(2), f"{source} line {lineno}")
        entries.append(ChecksumEntry(path, match.group(1).lower()))
    if not entries:
        raise DownloadError(f"{source} lists no files")
    return entries


def _safe_relative_path(path: str, where: str) -> str:
    """Return ``path`` normalised, or refuse it if it could land outside the destination folder."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or "\\" in path or _DRIVE.match(path) or ".." in pure.parts or not pure.parts:
        raise DownloadError(
            f"unsafe path {path!r} in {where}: it escapes the dataset folder; refusing to download"
        )
    return str(pure)


def select_files(
    entries: Sequence[ChecksumEntry], include: Sequence[str] | None = None
) -> list[ChecksumEntry]:
    """Keep the entries matching any of the glob patterns in ``include`` (all when it is empty).

    A pattern matches a file when it matches its relative path (``records100/*``; ``*`` also
    crosses ``/``), its file name (``100.*``, ``*.hea``), or names one of its folders
    (``records100`` or ``records100/``).
    """
    if not include:
        return list(entries)
    return [e for e in entries if any(_matches(e.path, pattern) for pattern in include)]


def _matches(path: str, pattern: str) -> bool:
    folder = pattern.rstrip("/")
    return (
        fnmatch.fnmatchcase(path, pattern)
        or fnmatch.fnmatchcase(PurePosixPath(path).name, pattern)
        or (bool(folder) and path.startswith(folder + "/"))
    )


# --------------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Lower-case SHA256 hex digest of a file, read in chunks (datasets hold multi-GB files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _FatalError(DownloadError):
    """A failure that dooms every remaining file too (server unreachable, disk full)."""


class _Unreachable(_FatalError):
    """The server cannot be reached at all (refused, DNS failure, connect timeout)."""


class _ConnectionLost(Exception):
    """The transfer broke off; the ``.part`` keeps what arrived so far and a retry resumes."""

    def __init__(self, reason: str, received: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.received = received


class _Cancelled(Exception):
    """The whole download is being stopped (another file hit a fatal error, or Ctrl-C)."""


def fetch_file(
    session: requests.Session,
    url: str,
    target: str | os.PathLike[str],
    sha256: str,
    *,
    timeout: float = _DEFAULT_TIMEOUT,
    on_bytes: Callable[[int], object] | None = None,
    should_stop: Callable[[], bool] | None = None,
    retries: int = _RETRIES,
) -> int:
    """Download ``url`` to ``target`` through ``target.part``, resuming, and verify it.

    Parameters
    ----------
    session
        HTTP session (keeps connections alive across files).
    url
        File URL.
    target
        Final path; it only ever appears complete and verified.
    sha256
        Expected lower-case SHA256 hex digest.
    timeout
        Read timeout in seconds (the connect timeout is at most 10 s).
    on_bytes
        Called with the size of every chunk received (progress).
    should_stop
        Polled between chunks; when it returns true the transfer stops, keeping the ``.part``.
    retries
        How many times a dropped connection is retried, resuming from the ``.part``.

    Returns
    -------
    int
        Bytes received over the network.

    Raises
    ------
    DownloadError
        HTTP error, checksum mismatch (the bad ``.part`` is deleted), or a write error.
    """
    target = Path(target)
    part = target.with_name(target.name + PART_SUFFIX)
    resumed = part.is_file() and part.stat().st_size > 0
    received = _download_to_part(session, url, part, timeout, on_bytes, should_stop, retries)
    actual = sha256_file(part)
    if actual != sha256 and resumed:
        # A leftover .part can hold junk (another version, a disk error); start it over once.
        log.info("%s: resumed download has a wrong hash, downloading it again from the start", target)
        part.unlink()
        received += _download_to_part(session, url, part, timeout, on_bytes, should_stop, retries)
        actual = sha256_file(part)
    if actual != sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {target} from {url}: expected sha256 {sha256}, got {actual}; "
            "deleted the bad download"
        )
    os.replace(part, target)
    return received


def _download_to_part(
    session: requests.Session,
    url: str,
    part: Path,
    timeout: float,
    on_bytes: Callable[[int], object] | None,
    should_stop: Callable[[], bool] | None,
    retries: int,
) -> int:
    """Stream ``url`` into ``part`` (resuming), retrying dropped connections; return bytes received."""
    received = 0
    for attempt in range(retries + 1):
        try:
            return received + _stream_to_part(session, url, part, timeout, on_bytes, should_stop)
        except _Unreachable:
            # A dropped keep-alive connection or a blip: worth a retry; still down after that is fatal.
            if attempt == retries:
                raise
        except _ConnectionLost as exc:
            received += exc.received
            if attempt == retries:
                raise _FatalError(
                    f"connection to {url} lost: {exc.reason} (offline?); rerun to resume"
                ) from None
        log.info("%s: connection problem, retrying (attempt %d of %d)", url, attempt + 2, retries + 1)
        time.sleep(_RETRY_PAUSE_S * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _stream_to_part(
    session: requests.Session,
    url: str,
    part: Path,
    timeout: float,
    on_bytes: Callable[[int], object] | None,
    should_stop: Callable[[], bool] | None,
) -> int:
    """One HTTP request: append to ``part`` from its current size, or rewrite it whole."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with _get(session, url, timeout, headers=headers, stream=True) as response:
        if response.status_code == http.HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE and offset:
            # The .part already holds the whole file (or more than it): the hash check decides.
            return 0
        _check_status(response, url)
        mode = _write_mode(response, offset, url)
        received = 0
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            with open(part, mode) as handle:
                for chunk in response.iter_content(_CHUNK):
                    if should_stop is not None and should_stop():
                        raise _Cancelled
                    handle.write(chunk)
                    received += len(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise _ConnectionLost(_short_reason(exc), received) from exc
        except OSError as exc:
            raise _write_error(part, exc) from exc
        return received


def _write_mode(response: requests.Response, offset: int, url: str) -> str:
    """``"ab"`` when the server continues at ``offset``, ``"wb"`` when it sends the file from byte 0."""
    if response.status_code != http.HTTPStatus.PARTIAL_CONTENT:
        # 200: the server ignored Range (or none was sent) and sends the whole file; start over.
        return "wb"
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
    start = int(match.group(1)) if match else -1
    if start == offset:
        return "ab" if offset else "wb"
    if start == 0:
        return "wb"
    raise DownloadError(
        f"{url} answered Range bytes={offset}- with Content-Range "
        f"{response.headers.get('Content-Range')!r}; delete the .part file and rerun"
    )


def _write_error(path: Path, exc: OSError) -> DownloadError:
    message = f"cannot write {path}: {exc.strerror or exc}"
    return _FatalError(message) if exc.errno in _FATAL_ERRNOS else DownloadError(message)


# --------------------------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------------------------


def _new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = f"ecglab/{__version__} (+python-requests)"
    return session


def _get(session: requests.Session, url: str, timeout: float, **kwargs: Any) -> requests.Response:
    """``session.get`` with connection failures turned into one clear line."""
    try:
        return session.get(url, timeout=(min(_CONNECT_TIMEOUT, timeout), timeout), **kwargs)
    except requests.Timeout:
        raise _Unreachable(f"cannot reach {url}: timed out after {timeout:g} s (offline?)") from None
    except requests.ConnectionError as exc:
        raise _Unreachable(f"cannot reach {url}: {_short_reason(exc)} (offline?)") from None
    except requests.RequestException as exc:
        raise DownloadError(f"cannot request {url}: {_short_reason(exc)}") from None


def _check_status(response: requests.Response, url: str) -> None:
    """Raise a one-line :class:`DownloadError` unless the response is 200 or 206."""
    status = response.status_code
    if status in (http.HTTPStatus.OK, http.HTTPStatus.PARTIAL_CONTENT):
        return
    reason = response.reason or _status_phrase(status)
    hint = ""
    if status in (http.HTTPStatus.UNAUTHORIZED, http.HTTPStatus.FORBIDDEN):
        hint = " (credentialed project? ecglab downloads open-access ones only)"
    elif status == http.HTTPStatus.TOO_MANY_REQUESTS or status >= 500:
        hint = " (server busy; try again later)"
    raise DownloadError(f"HTTP {status} {reason} for {url}{hint}")


def _status_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _short_reason(exc: BaseException) -> str:
    """The root cause of a requests/urllib3 error in a few words (``Connection refused``).

    requests wraps the socket error three levels deep in a message that repeats the URL and
    object reprs; the user needs the last bit only.
    """
    queue: deque[BaseException] = deque([exc])
    seen: set[int] = set()
    while queue:
        error = queue.popleft()
        if id(error) in seen:
            continue
        seen.add(id(error))
        # Builtin OSErrors (ConnectionRefusedError, socket.gaierror, TimeoutError) carry the reason;
        # requests' and urllib3's exceptions are wrappers (some subclass OSError themselves).
        if isinstance(error, OSError) and type(error).__module__ in ("builtins", "socket"):
            return str(error.strerror or error)
        reason = getattr(error, "reason", None)
        links = (reason, error.__cause__, *error.args, error.__context__)
        queue.extend(link for link in links if isinstance(link, BaseException))
    text = str(exc)
    errnos = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errnos:
        return errnos[-1].strip()
    return (text.splitlines() or [type(exc).__name__])[0][:200]


def _fetch_checksums(session: requests.Session, url: str, timeout: float) -> bytes:
    response = _get(session, url, timeout)
    with response:
        _check_status(response, url)
        return response.content


def _file_url(root_url: str, path: str) -> str:
    # Paths come from SHA256SUMS.txt as plain text; spaces or '#' must be escaped in a URL.
    return root_url + quote(path, safe="/")


# --------------------------------------------------------------------------------------------
# A whole dataset
# --------------------------------------------------------------------------------------------


@dataclass
class DownloadSummary:
    """What :func:`download_dataset` did.

    Attributes
    ----------
    dataset
        ecglab dataset name.
    dest
        Dataset folder the files were written to.
    url
        Root URL of the PhysioNet project version.
    selected
        Number of files selected by ``include`` (all files of ``SHA256SUMS.txt`` without it).
    downloaded
        Relative paths downloaded and verified in this run.
    skipped
        Relative paths already present with the right hash.
    failed
        Relative path -> one-line reason, for files that failed.
    not_attempted
        Relative paths left alone because the run stopped early (fatal error).
    bytes_downloaded
        Bytes received over the network.
    """

    dataset: str
    dest: Path
    url: str
    selected: int = 0
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_attempted: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0

    @property
    def ok(self) -> bool:
        """True when every selected file is in place and verified."""
        return not self.failed and not self.not_attempted

    def failure_message(self) -> str:
        """One line naming how many files failed, the first few reasons, and what to do."""
        reasons = list(self.failed.values())
        shown = "; ".join(reasons[:_FAILURES_SHOWN])
        more = f"; and {len(reasons) - _FAILURES_SHOWN} more" if len(reasons) > _FAILURES_SHOWN else ""
        done = len(self.downloaded) + len(self.skipped)
        stopped = f", {len(self.not_attempted)} not attempted" if self.not_attempted else ""
        return (
            f"{self.dataset}: {len(self.failed)} of {self.selected} files failed{stopped} "
            f"({done} verified in {self.dest}): {shown}{more}; rerun to retry"
        )


class IncompleteDownloadError(DownloadError):
    """Some files of a dataset failed; :attr:`summary` says which and why."""

    def __init__(self, summary: DownloadSummary) -> None:
        super().__init__(summary.failure_message())
        self.summary = summary


def download_dataset(
    name: str,
    dest_root: str | os.PathLike[str] | None = None,
    include: Sequence[str] | None = None,
    base_url: str | None = None,
    progress: bool = True,
    *,
    workers: int = 4,
    timeout: float = _DEFAULT_TIMEOUT,
    session: requests.Session | None = None,
) -> DownloadSummary:
    """Download (or complete) a PhysioNet dataset of :data:`CATALOG`, verifying every file.

    Parameters
    ----------
    name
        ecglab dataset name (``mitdb``, ``nstdb``, ``ptb-xl``, ``cinc2020``, ``cinc2021``).
    dest_root
        Data root; the dataset goes to ``<root>/<folder>``. ``None``: ``$ECGLAB_DATA``, then the
        per-user cache (see :func:`ecglab.io.paths.data_dir`).
    include
        Glob patterns selecting files (see :func:`select_files`), e.g. ``["*.hea", "100.*"]``;
        ``None`` fetches everything, which is gigabytes for PTB-XL and the challenge sets.
    base_url
        PhysioNet files URL; ``None``: ``$ECGLAB_PHYSIONET_URL``, then ``https://physionet.org/files``.
    progress
        Show a progress bar (bytes received, files done) on stderr.
    workers
        Files downloaded in parallel (PTB-XL is ~87,000 small files: latency, not bandwidth, bounds it).
    timeout
        Seconds without data before a request is given up.
    session
        HTTP session to use (a new one, closed at the end, when ``None``).

    Returns
    -------
    DownloadSummary
        Files downloaded, skipped (already verified) and bytes received.

    Raises
    ------
    DownloadError
        Unknown dataset, unreachable server, HTTP error on ``SHA256SUMS.txt``, an unsafe path in it,
        or no file matching ``include``.
    IncompleteDownloadError
        Some files failed (the others are in place); its ``summary`` lists them.

    Examples
    --------
    >>> download_dataset("mitdb", include=["100.*"])  # doctest: +SKIP
    DownloadSummary(dataset='mitdb', ..., downloaded=['100.atr', '100.dat', '100.hea'], ...)
    """
    info = get_dataset(name)
    root_url = info.url(base_url)
    dest = data_dir(dest_root) / info.folder
    own_session = session is None
    http_session = _new_session() if session is None else session
    try:
        entries = _plan(http_session, root_url, dest, include, timeout)
        summary = DownloadSummary(dataset=info.name, dest=dest, url=root_url, selected=len(entries))
        with _progress_bar(info.name, len(entries), progress) as bar:
            _download_all(http_session, root_url, dest, entries, summary, bar, timeout, workers)
    finally:
        if own_session:
            http_session.close()
    for paths in (summary.downloaded, summary.skipped, summary.not_attempted):
        paths.sort()
    summary.failed = dict(sorted(summary.failed.items()))
    if not summary.ok:
        raise IncompleteDownloadError(summary)
    return summary


def _plan(
    session: requests.Session, root_url: str, dest: Path, include: Sequence[str] | None, timeout: float
) -> list[ChecksumEntry]:
    """Fetch and check ``SHA256SUMS.txt``, keep a copy in ``dest``, and select the files to fetch."""
    url = root_url + CHECKSUM_FILE
    raw = _fetch_checksums(session, url, timeout)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DownloadError(f"{url} is not a UTF-8 checksum list (is the base URL right?)") from None
    entries = select_files(parse_checksums(text, url), include)
    if not entries:
        raise DownloadError(f"no file listed in {url} matches --include {' '.join(include or [])}")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        # The local copy lets a later run (or a user with sha256sum -c) check files offline.
        with atomic_write(dest / CHECKSUM_FILE, "wb") as handle:
            handle.write(raw)
    except OSError as exc:
        raise DownloadError(f"cannot write to {dest}: {exc.strerror or exc}") from None
    return entries


class _Progress:
    """Thread-safe wrapper of a tqdm byte bar that also counts files."""

    def __init__(self, bar: tqdm, total_files: int) -> None:
        self._bar = bar
        self._lock = threading.Lock()
        self._files = 0
        self._total_files = total_files

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self._bar.update(n)

    def file_done(self) -> None:
        with self._lock:
            self._files += 1
            self._bar.set_postfix_str(f"{self._files}/{self._total_files} files", refresh=False)
            # update(0) redraws at most every mininterval (a per-file refresh floods the terminal).
            self._bar.update(0)


@contextlib.contextmanager
def _progress_bar(name: str, total_files: int, enabled: bool) -> Iterator[_Progress]:
    # SHA256SUMS.txt has no sizes, so the byte total is unknown: the bar shows bytes and rate,
    # the postfix counts files.
    with tqdm(
        desc=name, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled, dynamic_ncols=True
    ) as bar:
        yield _Progress(bar, total_files)


def _download_all(
    session: requests.Session,
    root_url: str,
    dest: Path,
    entries: Sequence[ChecksumEntry],
    summary: DownloadSummary,
    bar: _Progress,
    timeout: float,
    workers: int,
) -> None:
    """Sync every entry, in parallel; record outcomes in ``summary``; stop early on a fatal error."""
    stop = threading.Event()

    def sync(entry: ChecksumEntry) -> tuple[str, int]:
        if stop.is_set():
            raise _Cancelled
        try:
            return _sync_entry(session, root_url, dest, entry, timeout, bar.add_bytes, stop.is_set)
        except _FatalError:
            stop.set()  # at once, so that queued files do not each wait for their own failure
            raise

    workers = max(1, workers)
    # A bounded window of submitted files: PTB-XL lists ~87,000, one Future each would be wasteful.
    window = 4 * workers
    pending: deque[tuple[ChecksumEntry, Future[tuple[str, int]]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ecglab-download") as pool:
        try:
            for entry in entries:
                if stop.is_set():
                    summary.not_attempted.append(entry.path)
                    continue
                pending.append((entry, pool.submit(sync, entry)))
                if len(pending) >= window:
                    _record(*pending.popleft(), summary, stop)
                    bar.file_done()
            while pending:
                _record(*pending.popleft(), summary, stop)
                bar.file_done()
        except BaseException:
            # Ctrl-C: stop the workers between chunks; their .part files stay for the next run.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _record(
    entry: ChecksumEntry, future: Future[tuple[str, int]], summary: DownloadSummary, stop: threading.Event
) -> None:
    """Wait for one file and put its outcome in ``summary``."""
    try:
        outcome, received = future.result()
    except _Cancelled:
        summary.not_attempted.append(entry.path)
        return
    except _FatalError as exc:
        stop.set()
        summary.failed[entry.path] = str(exc)
        return
    except DownloadError as exc:
        summary.failed[entry.path] = str(exc)
        log.info("%s", exc)
        return
    summary.bytes_downloaded += received
    (summary.downloaded if outcome == "downloaded" else summary.skipped).append(entry.path)


def _sync_entry(
    session: requests.Session,
    root_url: str,
    dest: Path,
    entry: ChecksumEntry,
    timeout: float,
    on_bytes: Callable[[int], object],
    should_stop: Callable[[], bool],
) -> tuple[str, int]:
    """Make one file present and verified: ``("skipped", 0)`` or ``("downloaded", bytes)``."""
    target = dest / entry.path
    try:
        if target.is_file() and sha256_file(target) == entry.sha256:
            return "skipped", 0
    except OSError as exc:
        raise DownloadError(f"cannot read {target}: {exc.strerror or exc}") from None
    url = _file_url(root_url, entry.path)
    try:
        received = fetch_file(
            session, url, target, entry.sha256, timeout=timeout, on_bytes=on_bytes, should_stop=should_stop
        )
    except OSError as exc:  # replacing the target, or a .part that vanished under us
        raise _write_error(target, exc) from None
    return "downloaded", received
