"""The ecglab command line: version, demo, info, exit codes and error lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import exit_code, sine_recording
from ecglab import __version__
from ecglab.cli.main import run
from ecglab.errors import RecordNotFoundError
from ecglab.io import Annotations, write_csv, write_wfdb


def test_version(capsys):
    assert exit_code(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ecglab {__version__}"


def test_console_script_is_installed_and_help_lists_commands():
    exe = Path(sys.executable).with_name("ecglab")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("info", "data", "config", "demo"):
        assert command in out


def test_demo_writes_every_format_and_a_plot(tmp_path, capsys):
    assert exit_code(["demo", "--out", str(tmp_path)]) == 0
    for rel in ("wfdb/demo12.hea", "wfdb/demo12.dat", "wfdb212/demo12.dat", "demo12.csv",
                "challenge/demo12.mat", "challenge/demo12.hea", "demo12.png"):  # fmt: skip
        assert (tmp_path / rel).stat().st_size > 0, rel
    assert (tmp_path / "demo12.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "done" in out and "challenge" in out


def test_info_on_one_record_prints_the_summary(tmp_path, capsys):
    rec = sine_recording(2, fs=360, seconds=10).replace(
        annotations=Annotations(sample=[10, 400, 800, 1200], symbol=["N", "N", "V", "N"]), record_id="r1"
    )
    base = write_wfdb(rec, tmp_path, fmt="212")
    assert exit_code(["info", str(base.with_suffix(".hea"))]) == 0
    out = capsys.readouterr().out
    for expected in ("r1 (wfdb)", "360 Hz", "10 s (3600 samples)", "N:3 V:1", "212", "/mV"):
        assert expected in out, expected


def test_info_json_on_a_folder(tmp_path, capsys):
    write_wfdb(sine_recording(2).replace(record_id="a"), tmp_path)
    write_csv(sine_recording(3).replace(record_id="b"), tmp_path / "b.csv")
    assert exit_code(["info", "--json", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["record"] for d in data] == ["a", "b"]
    assert [d["kind"] for d in data] == ["wfdb", "csv"]
    assert data[1]["leads"] == ["I", "II", "III"] and data[1]["fs"] == 250


def test_errors_are_one_line_and_debug_shows_the_exception(tmp_path, capsys):
    missing = tmp_path / "nothing.hea"
    assert exit_code(["info", str(missing)]) == 1
    err = capsys.readouterr().err
    assert "header file not found" in err and "Traceback" not in err
    with pytest.raises(RecordNotFoundError):
        run(["--debug", "info", str(missing)])


def test_usage_errors_exit_2(capsys):
    assert exit_code(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err
