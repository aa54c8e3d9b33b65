"""``ecglab synth``: deterministic whatever the workers, shards that add up, bad input handled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecglab.cli.main import run
from ecglab.io.recording import Recording
from ecglab.io.wfdb_io import write_wfdb

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
FAST = ["render.dpi=60"]  # small pages: the tests check behaviour, not looks


def _record(
    record_id: str, leads: tuple[str, ...] = LEADS, seconds: float = 12.0, seed: int = 0
) -> Recording:
    rng = np.random.default_rng(seed)
    fs = 250.0
    t = np.arange(int(seconds * fs)) / fs
    pulse = sum(np.exp(-0.5 * ((t - b) / 0.02) ** 2) for b in np.arange(0.3, seconds, 0.8))
    gains = np.linspace(-1.0, 1.5, len(leads))[:, None]
    signal = (gains * pulse + 0.05 * rng.standard_normal((len(leads), t.size))).astype(np.float32)
    return Recording(signal=signal, fs=fs, leads=leads, record_id=record_id)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("records")
    for i in range(3):
        write_wfdb(_record(f"rec{i}", seed=i), folder)
    return folder


def _synth(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run ``ecglab synth`` as the console script does (errors -> one line + exit code)."""
    code = 0
    try:
        run(["synth", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_same_seed_same_bytes_whatever_the_workers_and_shards(
    capsys: pytest.CaptureFixture[str], records: Path, tmp_path: Path
) -> None:
    base = ["--records", str(records), "--count", "4", "--seed", "7", *FAST]
    code, output = _synth(capsys, *base, "--out", str(tmp_path / "one"), "--workers", "1")
    assert code == 0, output
    code, output = _synth(capsys, *base, "--out", str(tmp_path / "two"), "--workers", "2")
    assert code == 0, output
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert len(one) == 4 * 6  # png, mask, leads, json, hea, dat per image
    assert one == two
    for i in range(2):
        code, output = _synth(capsys, *base, "--out", str(tmp_path / "shards"), "--shard", f"{i}/2")
        assert code == 0, output
    assert _files(tmp_path / "shards") == one
    code, _ = _synth(capsys, *base[:-1], "render.dpi=60", "--out", str(tmp_path / "other"), "--seed", "8")
    assert _files(tmp_path / "other") != one  # another seed: other windows and damage


def test_layout_kaggle_preview_and_clean(
    capsys: pytest.CaptureFixture[str], records: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, output = _synth(capsys, "--records", str(records), "--out", str(out), "--layout", "6x2", "--kaggle",
                          "--clean", "--preview", *FAST)  # fmt: skip
    assert code == 0, output
    assert (out / "preview.png").stat().st_size > 1000
    csvs = sorted(out.glob("*.csv"))
    assert len(csvs) == 3 and csvs[0].read_text().splitlines()[0].split(",") == list(LEADS)
    import json

    truth = json.loads(next(out.glob("*.json")).read_text())
    assert truth["layout"] == "6x2" if "layout" in truth else True
    assert not [d for d in truth.get("damage", []) if d]  # --clean: no damage recorded


def test_bad_records_are_listed_and_the_rest_is_written(
    capsys: pytest.CaptureFixture[str], records: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in records.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.hea").write_text(
        "broken 2 250 100\nbroken.dat 16 200 16 0 0 0 0 I\n"
    )  # no .dat, 1 of 2 lines
    write_wfdb(_record("twolead", leads=("I", "II")), folder)
    out = tmp_path / "out"
    code, output = _synth(capsys, "--records", str(folder), "--out", str(out), *FAST, "--clean")
    assert code == 1
    assert "broken" in output and "twolead" in output and "2 record(s)" in output
    assert len(list(out.glob("*.png"))) == 3 * 3  # the three good records: image, mask, leads
    code, output = _synth(capsys, "--records", str(folder / "twolead.hea"), "--out", str(tmp_path / "allow"),
                          "--allow-missing-leads", *FAST, "--clean")  # fmt: skip
    assert code == 0, output


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("render.dpi=-5", "dpi"),
        ("render.layout=5x5", "layout"),
        ("render.grid_color=purple", "grid_color"),
        ("damage.rotation.p=1.5", "rotation"),
        ("damage.rotaton.p=0.5", "did you mean"),
        ("renderer.dpi=100", "unknown section"),
    ],
)
def test_absurd_settings_give_one_clear_line(
    capsys: pytest.CaptureFixture[str], records: Path, tmp_path: Path, override: str, words: str
) -> None:
    code, output = _synth(capsys, "--records", str(records), "--out", str(tmp_path / "x"), override)
    assert code == 2
    assert words in output
    assert "Traceback" not in output
