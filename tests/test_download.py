"""Downloading PhysioNet datasets, against a local PhysioNet-shaped HTTP server (never the internet)."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import exit_code
from ecglab.errors import DownloadError
from ecglab.io.download import (
    CATALOG,
    CHECKSUM_FILE,
    ChecksumEntry,
    IncompleteDownloadError,
    download_dataset,
    get_dataset,
    parse_checksums,
    select_files,
)

PROJECT = "files/mitdb/1.0.0"
_rng = random.Random(20240501)


def header(record: str, leads: tuple[str, str]) -> bytes:
    """A WFDB header: 2 signals, 360 Hz, 212 format (the bytes need not be a real record here)."""
    lines = [f"{record} 2 360 650000"] + [f"{record}.dat 212 200 11 1024 0 0 0 {lead}" for lead in leads]
    return ("\n".join(lines) + "\n").encode()


FILES: dict[str, bytes] = {
    "RECORDS": b"100\n101\n",
    "ANNOTATORS": b"atr\treference beat, rhythm, and signal quality annotations\n",
    "100.hea": header("100", ("MLII", "V5")),
    "100.dat": _rng.randbytes(300_000),
    "100.atr": _rng.randbytes(5_000),
    "101.hea": header("101", ("MLII", "V1")),
    "101.dat": _rng.randbytes(200_000),
    "101.atr": _rng.randbytes(4_000),
    "mitdbdir/intro.htm": b"<html>MIT-BIH Arrhythmia Database Directory</html>\n",
    "x_mitdb/x_108.hea": b"x_108 2 360 21600\n",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum_text(files: dict[str, bytes]) -> str:
    return "".join(f"{sha256(data)}  {path}\n" for path, data in files.items())


# --------------------------------------------------------------------------------------------
# A PhysioNet-shaped server with Range support and knobs to misbehave
# --------------------------------------------------------------------------------------------


@dataclass
class ServerState:
    root: Path
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    ignore_range: set[str] = field(default_factory=set)  # paths answered 200 whatever the Range
    wrong_bytes: dict[str, bytes] = field(default_factory=dict)  # paths served with other content
    drop_once: dict[str, int] = field(default_factory=dict)  # paths cut off after N bytes, once
    lock: threading.Lock = field(default_factory=threading.Lock)


class PhysioNetHandler(BaseHTTPRequestHandler):
    """GET with ``Range: bytes=N-`` -> 206, like physionet.org (SimpleHTTPRequestHandler has no Range)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real server
    server: _Server

    def do_GET(self) -> None:
        state = self.server.state
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        range_header = self.headers.get("Range")
        with state.lock:
            state.requests.append((rel, range_header))
        file = state.root / rel
        if rel in state.wrong_bytes:
            body = state.wrong_bytes[rel]
        elif file.is_file():
            body = file.read_bytes()
        else:
            self._send(404, b"not found\n")
            return
        start = 0
        if range_header and rel not in state.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-", range_header)
            assert match, range_header
            start = int(match.group(1))
            if start >= len(body):
                self._send(416, b"", {"Content-Range": f"bytes */{len(body)}"})
                return
        headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"} if start else {}
        self._send(206 if start else 200, body[start:], headers, cut=self._cut(state, rel))

    @staticmethod
    def _cut(state: ServerState, rel: str) -> int | None:
        with state.lock:
            return state.drop_once.pop(rel, None)

    def _send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, cut: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if cut is not None:
            # Promise the whole body, send part of it, hang up: a dropped connection.
            self.wfile.write(body[:cut])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState


@dataclass
class FakePhysioNet:
    state: ServerState
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/files"

    @property
    def project_dir(self) -> Path:
        return self.state.root / PROJECT

    def file_requests(self, path: str) -> list[str | None]:
        """Range headers of the requests made for ``path`` of the mitdb project."""
        return [rng for rel, rng in self.state.requests if rel == f"{PROJECT}/{path}"]

    def write_checksums(self, text: str) -> None:
        (self.project_dir / CHECKSUM_FILE).write_text(text)


@pytest.fixture
def physionet(tmp_path: Path) -> Iterator[FakePhysioNet]:
    root = tmp_path / "server"
    for rel, data in FILES.items():
        path = root / PROJECT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / PROJECT / CHECKSUM_FILE).write_text(checksum_text(FILES))
    server = _Server(("127.0.0.1", 0), PhysioNetHandler)
    server.state = ServerState(root)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield FakePhysioNet(server.state, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The Makefile exports ECGLAB_DATA; no test may write to the developer's data or cache.
    monkeypatch.delenv("ECGLAB_DATA", raising=False)
    monkeypatch.delenv("ECGLAB_PHYSIONET_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def download(physionet: FakePhysioNet, dest: Path, **kwargs):
    return download_dataset("mitdb", dest, base_url=physionet.base_url, progress=False, **kwargs)


def assert_in_place(mitdb: Path, paths) -> None:
    for path in paths:
        assert (mitdb / path).read_bytes() == FILES[path], path
    assert not list(mitdb.rglob("*.part"))


# --------------------------------------------------------------------------------------------
# Library
# --------------------------------------------------------------------------------------------


def test_catalog_has_the_pinned_projects():
    expected = {
        "mitdb": ("mitdb", "1.0.0", "mitdb"),
        "nstdb": ("nstdb", "1.0.0", "nstdb"),
        "ptb-xl": ("ptb-xl", "1.0.3", "ptbxl"),
        "cinc2020": ("challenge-2020", "1.0.2", "cinc2020"),
        "cinc2021": ("challenge-2021", "1.0.3", "cinc2021"),
    }
    for name, (slug, version, folder) in expected.items():
        info = CATALOG[name]
        assert (info.slug, info.version, info.folder) == (slug, version, folder)
        assert info.description and info.size
    assert CATALOG["ptb-xl"].url() == "https://physionet.org/files/ptb-xl/1.0.3/"


def test_full_download_verifies_every_file(physionet: FakePhysioNet, tmp_path: Path):
    summary = download(physionet, tmp_path / "data")

    mitdb = tmp_path / "data" / "mitdb"
    assert summary.dest == mitdb
    assert summary.downloaded == sorted(FILES)
    assert summary.skipped == [] and summary.failed == {} and summary.ok
    assert summary.bytes_downloaded == sum(len(d) for d in FILES.values())
    assert_in_place(mitdb, FILES)
    # The checksum list is kept, so the copy can be checked offline later.
    assert (mitdb / CHECKSUM_FILE).read_text() == checksum_text(FILES)


def test_second_run_skips_files_with_the_right_hash(physionet: FakePhysioNet, tmp_path: Path):
    download(physionet, tmp_path)
    physionet.state.requests.clear()

    summary = download(physionet, tmp_path)

    assert summary.skipped == sorted(FILES) and summary.downloaded == []
    assert summary.bytes_downloaded == 0
    assert [rel for rel, _ in physionet.state.requests] == [f"{PROJECT}/{CHECKSUM_FILE}"]


def test_present_file_with_wrong_hash_is_downloaded_again(physionet: FakePhysioNet, tmp_path: Path):
    download(physionet, tmp_path)
    damaged = bytearray(FILES["100.dat"])
    damaged[1000] ^= 0xFF  # same size, one byte off: only a hash check notices
    (tmp_path / "mitdb" / "100.dat").write_bytes(bytes(damaged))

    summary = download(physionet, tmp_path)

    assert summary.downloaded == ["100.dat"]
    assert_in_place(tmp_path / "mitdb", ["100.dat"])


def test_partial_file_is_resumed_with_a_range_request(physionet: FakePhysioNet, tmp_path: Path):
    mitdb = tmp_path / "mitdb"
    mitdb.mkdir()
    half = len(FILES["100.dat"]) // 2
    (mitdb / "100.dat.part").write_bytes(FILES["100.dat"][:half])

    summary = download(physionet, tmp_path, include=["100.dat"])

    assert physionet.file_requests("100.dat") == [f"bytes={half}-"]
    assert summary.downloaded == ["100.dat"]
    assert summary.bytes_downloaded == len(FILES["100.dat"]) - half
    assert_in_place(mitdb, ["100.dat"])


def test_server_ignoring_range_still_gives_a_correct_file(physionet: FakePhysioNet, tmp_path: Path):
    mitdb = tmp_path / "mitdb"
    mitdb.mkdir()
    half = len(FILES["100.dat"]) // 2
    (mitdb / "100.dat.part").write_bytes(FILES["100.dat"][:half])
    physionet.state.ignore_range.add(f"{PROJECT}/100.dat")

    summary = download(physionet, tmp_path, include=["100.dat"])

    assert physionet.file_requests("100.dat") == [f"bytes={half}-"]  # asked, got 200: restarted cleanly
    assert summary.bytes_downloaded == len(FILES["100.dat"])
    assert_in_place(mitdb, ["100.dat"])


def test_stale_partial_file_with_junk_is_restarted(physionet: FakePhysioNet, tmp_path: Path):
    mitdb = tmp_path / "mitdb"
    mitdb.mkdir()
    (mitdb / "100.dat.part").write_bytes(b"junk" * 100)

    summary = download(physionet, tmp_path, include=["100.dat"])

    assert physionet.file_requests("100.dat") == ["bytes=400-", None]
    assert summary.downloaded == ["100.dat"]
    assert_in_place(mitdb, ["100.dat"])


def test_complete_partial_file_answered_416_is_verified_and_kept(physionet: FakePhysioNet, tmp_path: Path):
    mitdb = tmp_path / "mitdb"
    mitdb.mkdir()
    (mitdb / "100.atr.part").write_bytes(FILES["100.atr"])

    summary = download(physionet, tmp_path, include=["100.atr"])

    assert physionet.file_requests("100.atr") == [f"bytes={len(FILES['100.atr'])}-"]
    assert summary.downloaded == ["100.atr"] and summary.bytes_downloaded == 0
    assert_in_place(mitdb, ["100.atr"])


def test_dropped_connection_is_resumed(physionet: FakePhysioNet, tmp_path: Path, monkeypatch):
    monkeypatch.setattr("ecglab.io.download._RETRY_PAUSE_S", 0.0)
    physionet.state.drop_once[f"{PROJECT}/100.dat"] = 100_000

    summary = download(physionet, tmp_path, include=["100.dat"])

    first, second = physionet.file_requests("100.dat")
    # Resumed from what reached the disk (a whole number of chunks, at most the bytes sent).
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", second).group(1))
    assert first is None and 0 < resumed_at <= 100_000
    assert_in_place(tmp_path / "mitdb", ["100.dat"])
    assert summary.bytes_downloaded == len(FILES["100.dat"])


def test_checksum_mismatch_names_the_file_and_keeps_the_others(physionet: FakePhysioNet, tmp_path: Path):
    physionet.state.wrong_bytes[f"{PROJECT}/100.atr"] = b"tampered"

    with pytest.raises(IncompleteDownloadError) as caught:
        download(physionet, tmp_path)

    message = str(caught.value)
    assert "\n" not in message
    assert "1 of 10 files failed" in message
    assert "100.atr" in message and "checksum mismatch" in message
    assert sha256(FILES["100.atr"]) in message and sha256(b"tampered") in message
    mitdb = tmp_path / "mitdb"
    assert not (mitdb / "100.atr").exists() and not (mitdb / "100.atr.part").exists()
    others = [p for p in FILES if p != "100.atr"]
    assert_in_place(mitdb, others)
    summary = caught.value.summary
    assert list(summary.failed) == ["100.atr"] and summary.downloaded == sorted(others)


def test_missing_file_gives_the_url_and_status(physionet: FakePhysioNet, tmp_path: Path):
    (physionet.project_dir / "101.atr").unlink()

    with pytest.raises(DownloadError) as caught:
        download(physionet, tmp_path)

    assert f"HTTP 404 Not Found for {physionet.base_url}/mitdb/1.0.0/101.atr" in str(caught.value)
    assert_in_place(tmp_path / "mitdb", [p for p in FILES if p != "101.atr"])


def test_missing_project_version_gives_the_checksum_url(physionet: FakePhysioNet, tmp_path: Path):
    with pytest.raises(
        DownloadError, match=r"HTTP 404 .* for http://127\.0\.0\.1:\d+/files/nstdb/1\.0\.0/SHA256SUMS"
    ):
        download_dataset("nstdb", tmp_path, base_url=physionet.base_url, progress=False)


def test_offline_is_one_line_naming_the_url(tmp_path: Path):
    base = f"http://127.0.0.1:{closed_port()}/files"

    with pytest.raises(DownloadError) as caught:
        download_dataset("mitdb", tmp_path, base_url=base, progress=False)

    message = str(caught.value)
    assert message.startswith(f"cannot reach {base}/mitdb/1.0.0/SHA256SUMS.txt: ")
    assert "(offline?)" in message
    assert "\n" not in message and "HTTPConnectionPool" not in message and len(message) < 200


def test_server_gone_mid_run_stops_and_names_what_was_not_fetched(
    physionet: FakePhysioNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import ecglab.io.download as download_module

    monkeypatch.setattr(download_module, "_RETRY_PAUSE_S", 0.0)
    # The checksum list arrives, then the server refuses connections for every file.
    session_get = download_module.requests.Session.get
    dead = f"http://127.0.0.1:{closed_port()}"

    def get(self, url, **kwargs):
        if not url.endswith(CHECKSUM_FILE):
            url = url.replace(f"http://127.0.0.1:{physionet.port}", dead)
        return session_get(self, url, **kwargs)

    monkeypatch.setattr(download_module.requests.Session, "get", get)

    with pytest.raises(IncompleteDownloadError) as caught:
        download(physionet, tmp_path, workers=1)

    summary = caught.value.summary
    assert len(summary.failed) == 1 and len(summary.not_attempted) == len(FILES) - 1
    assert "cannot reach" in str(caught.value) and "not attempted" in str(caught.value)


def test_unknown_dataset_lists_the_valid_names(tmp_path: Path):
    with pytest.raises(DownloadError, match=r"unknown dataset 'mitbd'; choose one of: mitdb, nstdb, ptb-xl"):
        download_dataset("mitbd", tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        (["*.hea"], ["100.hea", "101.hea", "x_mitdb/x_108.hea"]),
        (["100.*"], ["100.atr", "100.dat", "100.hea"]),
        (["100.hea", "RECORDS"], ["100.hea", "RECORDS"]),
        (["mitdbdir"], ["mitdbdir/intro.htm"]),
        (["x_mitdb/*"], ["x_mitdb/x_108.hea"]),
    ],
)
def test_include_selects_files(physionet: FakePhysioNet, tmp_path: Path, include, expected):
    summary = download(physionet, tmp_path, include=include)

    assert summary.downloaded == expected
    on_disk = sorted(
        p.relative_to(tmp_path / "mitdb").as_posix() for p in (tmp_path / "mitdb").rglob("*") if p.is_file()
    )
    assert on_disk == sorted([*expected, CHECKSUM_FILE])


def test_include_matching_nothing_is_an_error(physionet: FakePhysioNet, tmp_path: Path):
    with pytest.raises(DownloadError, match=r"no file listed in .*SHA256SUMS\.txt matches --include \*\.mat"):
        download(physionet, tmp_path, include=["*.mat"])


@pytest.mark.parametrize("bad", ["../evil.txt", "/tmp/evil.txt", "sub/../../evil.txt", "..", "C:/evil.txt"])
def test_paths_escaping_the_destination_are_rejected(physionet: FakePhysioNet, tmp_path: Path, bad: str):
    (physionet.project_dir / "evil.txt").write_bytes(b"evil")
    physionet.write_checksums(checksum_text(FILES) + f"{sha256(b'evil')}  {bad}\n")
    dest = tmp_path / "data"

    with pytest.raises(DownloadError, match=r"unsafe path .* escapes the dataset folder"):
        download(physionet, dest)

    assert not (tmp_path / "evil.txt").exists()
    assert not dest.exists() or not any(dest.rglob("*.*"))
    assert physionet.file_requests("100.dat") == []


def test_parse_checksums_accepts_sha256sum_formats():
    digest = "A" * 64
    text = f"{digest}  100.hea\n\n{digest} *sub/100.dat\r\n{digest}  name with spaces.txt\n"

    entries = parse_checksums(text)

    assert entries == [
        ChecksumEntry("100.hea", "a" * 64),
        ChecksumEntry("sub/100.dat", "a" * 64),
        ChecksumEntry("name with spaces.txt", "a" * 64),
    ]
    assert select_files(entries, None) == entries


def test_parse_checksums_rejects_a_malformed_line():
    with pytest.raises(DownloadError, match=r"SHA256SUMS\.txt line 2 is not '<sha256>  <path>'"):
        parse_checksums(f"{'0' * 64}  a\n<html>\n")
    with pytest.raises(DownloadError, match="lists no files"):
        parse_checksums("\n")


def test_base_url_comes_from_the_environment(physionet: FakePhysioNet, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ECGLAB_PHYSIONET_URL", physionet.base_url + "/")

    summary = download_dataset("mitdb", tmp_path, include=["RECORDS"], progress=False)

    assert summary.url == f"{physionet.base_url}/mitdb/1.0.0/"
    assert summary.downloaded == ["RECORDS"]


def test_invalid_base_url_is_refused(tmp_path: Path):
    with pytest.raises(DownloadError, match=r"invalid PhysioNet base URL 'ftp://x' \(from --base-url\)"):
        download_dataset("mitdb", tmp_path, base_url="ftp://x", progress=False)


def test_dest_root_defaults_to_ecglab_data(physionet: FakePhysioNet, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ECGLAB_DATA", str(tmp_path / "env-data"))

    summary = download_dataset("mitdb", include=["RECORDS"], base_url=physionet.base_url, progress=False)

    assert summary.dest == tmp_path / "env-data" / "mitdb"
    assert (summary.dest / "RECORDS").is_file()


def test_get_dataset_accepts_the_folder_name_too():
    # paths.dataset_dir's hint says `ecglab data download <folder>`, so "ptbxl" must work as well.
    assert get_dataset("ptb-xl") is get_dataset("ptbxl") is CATALOG["ptb-xl"]


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def test_cli_download_end_to_end(physionet: FakePhysioNet, tmp_path: Path, capsys):
    dest = tmp_path / "data"

    code = exit_code(["data", "download", "mitdb", "--data", str(dest), "--base-url", physionet.base_url])

    out = capsys.readouterr().out
    assert code == 0
    assert_in_place(dest / "mitdb", FILES)
    assert "mitdb: 10 downloaded" in out and "0 already present" in out

    code = exit_code(
        ["data", "download", "mitdb", "--data", str(dest), "--base-url", physionet.base_url, "--no-progress"]
    )

    assert code == 0
    assert "0 downloaded (0 B), 10 already present" in capsys.readouterr().out


def test_cli_download_include(physionet: FakePhysioNet, tmp_path: Path, capsys):
    args = ["data", "download", "mitdb", "--data", str(tmp_path), "--base-url", physionet.base_url]

    code = exit_code([*args, "--include", "*.hea", "-i", "RECORDS", "--no-progress"])

    assert code == 0
    assert sorted(p.name for p in (tmp_path / "mitdb").rglob("*") if p.is_file()) == [
        "100.hea",
        "101.hea",
        "RECORDS",
        CHECKSUM_FILE,
        "x_108.hea",
    ]


def test_cli_download_failure_is_one_error_line(physionet: FakePhysioNet, tmp_path: Path, capsys):
    physionet.state.wrong_bytes[f"{PROJECT}/100.dat"] = b"tampered"
    args = ["data", "download", "mitdb", "--data", str(tmp_path), "--base-url", physionet.base_url]

    code = exit_code([*args, "--no-progress"])

    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code != 0
    assert len(err_lines) == 1
    assert err_lines[0].startswith("error: mitdb: 1 of 10 files failed") and "100.dat" in err_lines[0]


def test_cli_download_offline_and_unknown_name(tmp_path: Path, capsys):
    base = f"http://127.0.0.1:{closed_port()}/files"

    code = exit_code(
        ["data", "download", "mitdb", "--data", str(tmp_path), "--base-url", base, "--no-progress"]
    )

    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code != 0 and len(err_lines) == 1
    assert err_lines[0].startswith(f"error: cannot reach {base}/mitdb/1.0.0/SHA256SUMS.txt")

    assert exit_code(["data", "download", "nope", "--data", str(tmp_path)]) != 0
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_cli_where_precedence(tmp_path: Path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    assert exit_code(["data", "where"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(cache / "ecglab" / "data")
    assert "per-user cache" in captured.err

    monkeypatch.setenv("ECGLAB_DATA", str(tmp_path / "env"))
    assert exit_code(["data", "where", "ptb-xl"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(tmp_path / "env" / "ptbxl")
    assert "ECGLAB_DATA" in captured.err and "not downloaded yet" in captured.err

    assert exit_code(["data", "where", "mitdb", "--data", str(tmp_path / "flag")]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(tmp_path / "flag" / "mitdb")
    assert "--data" in captured.err

    assert exit_code(["data", "where", "nope"]) != 0
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_cli_list_shows_catalog_and_local_presence(physionet: FakePhysioNet, tmp_path: Path, capsys):
    download(physionet, tmp_path, include=["RECORDS"])

    assert exit_code(["data", "list", "--data", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    for name in CATALOG:
        assert name in rows
    assert "yes" in rows["mitdb"] and "no" in rows["ptb-xl"]
    assert "challenge-2021/1.0.3" in rows["cinc2021"]
