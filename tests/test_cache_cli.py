"""``ecglab data cache``: sizes of the derived caches, and clearing them without touching data."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import exit_code
from ecglab.errors import ConfigError
from ecglab.io.cache import cache_usage, clear_caches


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "ecglab"
    (root / "beats" / "v1").mkdir(parents=True)
    (root / "beats" / "v1" / "ds1.npz").write_bytes(b"x" * 3000)
    (root / "digitize").mkdir()
    (root / "digitize" / "train-abc.npz").write_bytes(b"y" * 5000)
    (root / "data" / "mitdb").mkdir(parents=True)
    (root / "data" / "mitdb" / "100.dat").write_bytes(b"z" * 100)  # a downloaded dataset
    return root


def test_usage_counts_files_and_bytes(cache_root: Path):
    usage = {u.name: u for u in cache_usage()}
    assert (usage["beats"].files, usage["beats"].bytes) == (1, 3000)
    assert (usage["digitize"].files, usage["digitize"].bytes) == (1, 5000)
    assert "data" not in usage


def test_cli_lists_then_clears_one_then_all_and_keeps_the_data(cache_root: Path, capsys):
    assert exit_code(["data", "cache"]) == 0
    out = capsys.readouterr().out
    assert "beats" in out and "2.9 KiB" in out and "4.9 KiB" in out

    assert exit_code(["data", "cache", "--clear", "beats"]) == 0
    assert "cleared beats: 2.9 KiB freed" in capsys.readouterr().out
    assert not (cache_root / "beats").exists() and (cache_root / "digitize").exists()

    assert exit_code(["data", "cache", "--clear", "all"]) == 0
    assert "cleared digitize" in capsys.readouterr().out
    assert not (cache_root / "digitize").exists()
    assert (cache_root / "data" / "mitdb" / "100.dat").read_bytes() == b"z" * 100

    assert exit_code(["data", "cache", "--clear", "all"]) == 0
    assert "nothing (already empty)" in capsys.readouterr().out


def test_unknown_cache_name_is_one_error_line_and_nothing_is_deleted(cache_root: Path, capsys):
    with pytest.raises(ConfigError, match="unknown cache 'data'"):
        clear_caches(["beats", "data"])
    assert (cache_root / "beats").exists()
    assert exit_code(["data", "cache", "--clear", "data"]) != 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == ["error: unknown cache 'data' (choose all or one of beats, digitize)"]
    assert (cache_root / "data" / "mitdb" / "100.dat").exists()
