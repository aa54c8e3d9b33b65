"""Bad input: every defect gives one line saying what is wrong and where, never a traceback.

Each case builds its own broken input in ``tmp_path`` (WFDB records written by wfdb itself, challenge
records written by ecglab and then edited, CSV text) and checks that the reader raises an
:class:`~ecglab.errors.EcglabError` of the expected kind whose message is a single line naming the
file and the key fact. ``ecglab info`` must turn the same error into one ``error:`` line on stderr
and a non-zero exit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import sine_recording, write_raw_wfdb
from ecglab.cli.main import run
from ecglab.errors import EcglabError, LeadError, RecordError, RecordNotFoundError, UnitsError
from ecglab.io.challenge import write_challenge
from ecglab.io.reader import read_record
from ecglab.io.recording import Recording
from ecglab.io.wfdb_io import read_wfdb

N = 1000  # samples per signal of the WFDB records below (2 signals, format 16: 4 bytes a frame)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def assert_one_line(exc: BaseException, *facts: str) -> str:
    """``exc`` is an EcglabError whose message is one non-empty line containing every fact."""
    assert isinstance(exc, EcglabError), f"{type(exc).__name__} is not an EcglabError: {exc}"
    message = str(exc)
    assert message.strip(), "empty message"
    assert "\n" not in message and "\r" not in message, f"message spans lines: {message!r}"
    for fact in facts:
        assert fact in message, f"{fact!r} missing from {message!r}"
    return message


# ----------------------------------------------------------------------------------- builders
def wfdb_record(tmp_path: Path, **kwargs: Any) -> Path:
    """A valid 2-lead format-16 WFDB record ``tmp_path/rec`` written by wfdb; returns its header."""
    return write_raw_wfdb(tmp_path, "rec", n=N, **kwargs).with_suffix(".hea")


def edit_header(hea: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    hea.write_text("\n".join(edit(hea.read_text().splitlines())) + "\n")
    return hea


def missing_dat(tmp_path: Path) -> Path:
    hea = wfdb_record(tmp_path)
    hea.with_suffix(".dat").unlink()
    return hea


def truncated_dat(tmp_path: Path) -> Path:
    hea = wfdb_record(tmp_path)
    dat = hea.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: 250 * 4])
    return hea


def dat_too_long(tmp_path: Path) -> Path:
    hea = wfdb_record(tmp_path)
    dat = hea.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes() + bytes(100 * 4))
    return hea


def header_count(count: int) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        return edit_header(wfdb_record(tmp_path), lambda lines: [f"rec 2 250 {count}", *lines[1:]])

    return build


def unknown_format(tmp_path: Path) -> Path:
    return edit_header(
        wfdb_record(tmp_path), lambda lines: [lines[0], lines[1].replace(" 16 ", " 999 ", 1), *lines[2:]]
    )


def garbage_record_line(tmp_path: Path) -> Path:
    return edit_header(wfdb_record(tmp_path), lambda lines: ["rec !!! @@@ zz", *lines[1:]])


def empty_header(tmp_path: Path) -> Path:
    hea = wfdb_record(tmp_path)
    hea.write_text("")
    return hea


def zero_signals(tmp_path: Path) -> Path:
    hea = wfdb_record(tmp_path)
    hea.write_text("rec 0 250 1000\n")
    return hea


def signal_lines_missing(tmp_path: Path) -> Path:
    return edit_header(wfdb_record(tmp_path), lambda lines: lines[:1])


def wfdb_lead_all_invalid(tmp_path: Path) -> Path:
    """Every sample of lead II is -32768, format 16's "invalid sample" value."""
    hea = wfdb_record(tmp_path)
    dat = hea.with_suffix(".dat")
    digital = np.fromfile(dat, dtype="<i2").reshape(N, 2)
    digital[:, 1] = -32768
    digital.tofile(dat)
    return hea


def wfdb_leads(*names: str) -> Callable[[Path], Path]:
    return lambda tmp_path: wfdb_record(tmp_path, sig_names=names)


def wfdb_unknown_units(tmp_path: Path) -> Path:
    return wfdb_record(tmp_path, units="furlong")


def challenge_record(tmp_path: Path, name: str = "E00015") -> Path:
    rec = sine_recording(3, fs=500.0, seconds=2.0)
    rec = rec.replace(meta={"dx": ["426783006", "164889003"], "age": 67.0, "sex": "M"})
    return write_challenge(rec, tmp_path, record_name=name).with_suffix(".hea")


def challenge_mat_record_line(tmp_path: Path) -> Path:
    """The first Georgia release's defect: ``E00015.mat 12 500 5000 ...`` as the record line."""
    return edit_header(
        challenge_record(tmp_path), lambda lines: [f"E00015.mat{lines[0][len('E00015') :]}", *lines[1:]]
    )


def challenge_without_dx(tmp_path: Path) -> Path:
    return edit_header(
        challenge_record(tmp_path), lambda lines: [ln for ln in lines if not ln.startswith("#Dx")]
    )


def csv_file(text: str, name: str = "ecg.csv") -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return build


def csv_bytes(data: bytes) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        path = tmp_path / "ecg.csv"
        path.write_bytes(data)
        return path

    return build


def unknown_extension(tmp_path: Path) -> Path:
    path = tmp_path / "rec.txt"
    path.write_text("I,II\n1,2\n")
    return path


def a_directory(tmp_path: Path) -> Path:
    wfdb_record(tmp_path)
    return tmp_path


def missing_header(tmp_path: Path) -> Path:
    return tmp_path / "nothing.hea"


# -------------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One bad input: how to build it, how to read it, and what the error must say.

    ``facts`` are format strings over ``path`` (what is read), ``dir`` (its folder) and ``name``.
    ``cli`` is false where ``ecglab info`` rightly accepts the input (it keeps unknown channel
    names, and reads annotations only when present).
    """

    id: str
    build: Callable[[Path], Path]
    error: type[EcglabError]
    facts: tuple[str, ...]
    read: Callable[[Path], Any] = read_record
    cli: bool = True
    cli_args: tuple[str, ...] = field(default=())

    def message_facts(self, path: Path) -> list[str]:
        return [fact.format(path=path, dir=path.parent, name=path.name) for fact in self.facts]


def read_csv_at_250(path: Path) -> Recording:
    return read_record(path, fs=250.0)


CSV = {"read": read_csv_at_250, "cli_args": ("--fs", "250")}

CASES = [
    Case("missing .dat", missing_dat, RecordNotFoundError, ("{dir}/rec.dat", "not found", "rec.hea")),
    Case("truncated .dat", truncated_dat, RecordError, ("{dir}/rec.dat", "truncated", "250", "1000")),
    Case(
        ".dat longer than header", dat_too_long, RecordError, ("{dir}/rec.dat", "extra data", "1100", "1000")
    ),
    Case(
        "header count too small",
        header_count(900),
        RecordError,
        ("{dir}/rec.dat", "rec.hea says 900", "1000"),
    ),
    Case(
        "header count too large",
        header_count(1200),
        RecordError,
        ("{dir}/rec.dat", "rec.hea says 1200", "truncated"),
    ),
    Case("unknown format code", unknown_format, RecordError, ("{path}", "format code '999'", "signal 0")),
    Case("garbage record line", garbage_record_line, RecordError, ("{path}", "record line")),
    Case("empty header", empty_header, RecordError, ("{path}", "empty header")),
    Case("zero signals", zero_signals, RecordError, ("{path}", "no signals")),
    Case(
        "signal lines missing",
        signal_lines_missing,
        RecordError,
        ("{path}", "2 signal(s)", "0 signal line(s)"),
    ),
    Case("missing header", missing_header, RecordNotFoundError, ("{path}", "not found")),
    Case(
        "annotation file missing",
        wfdb_record,
        RecordNotFoundError,
        ("{dir}/rec.atr", "annotation file not found"),
        read=lambda path: read_wfdb(path, annotations="atr"),
        cli=False,
    ),
    Case("WFDB lead all invalid", wfdb_lead_all_invalid, RecordError, ("{path}", "II", "no valid sample")),
    Case("WFDB unknown units", wfdb_unknown_units, UnitsError, ("{path}", "signal 0", "'furlong'")),
    Case("WFDB unknown lead", wfdb_leads("I", "V13"), LeadError, ("{path}", "signal 1", "'V13'"), cli=False),
    Case("WFDB duplicate lead", wfdb_leads("II", "ii"), LeadError, ("{path}", "duplicate", "II")),
    Case(
        "challenge .mat record line",
        challenge_mat_record_line,
        RecordError,
        ("{path}:1", "'E00015.mat'", "record name"),
    ),
    Case("challenge without #Dx", challenge_without_dx, RecordError, ("{path}", "#Dx")),
    Case(
        "CSV column all NaN",
        csv_file("I [mV],II [mV]\n0.1,\n0.2,nan\n0.3,\n"),
        RecordError,
        ("{path}", "II", "no numeric value"),
        **CSV,
    ),
    Case("empty CSV", csv_file(""), RecordError, ("{path}", "empty CSV"), **CSV),
    Case("CSV blank lines only", csv_file("\n \n\n"), RecordError, ("{path}", "empty CSV"), **CSV),
    Case("CSV header only", csv_file("I [mV],II [mV]\n"), RecordError, ("{path}", "no data rows"), **CSV),
    Case(
        "CSV non-numeric cell",
        csv_file("I [mV],II [mV]\n0.1,0.2\n0.3,abc\n"),
        RecordError,
        ("{path}", "row 3", "column 'II [mV]'", "'abc'"),
        **CSV,
    ),
    Case(
        "CSV row longer than header",
        csv_file("I [mV],II [mV]\n0.1,0.2\n0.3,0.4,0.5\n"),
        RecordError,
        ("{path}", "line 3"),
        **CSV,
    ),
    Case(
        "CSV without units", csv_file("I,II\n0.1,0.2\n"), UnitsError, ("{path}", "column 'I'", "units"), **CSV
    ),
    Case(
        "CSV unknown unit",
        csv_file("I [furlong],II [mV]\n0.1,0.2\n"),
        UnitsError,
        ("{path}", "'furlong'"),
        **CSV,
    ),
    Case(
        "CSV unknown lead",
        csv_file("I [mV],V13 [mV]\n0.1,0.2\n"),
        LeadError,
        ("{path}", "'V13'"),
        cli=False,
        **CSV,
    ),
    Case(
        "CSV duplicate column",
        csv_file("I [mV],I [mV]\n0.1,0.2\n"),
        LeadError,
        ("{path}", "duplicate", "'I [mV]'"),
        **CSV,
    ),
    Case(
        "CSV duplicate lead",
        csv_file("I [mV],i [uV]\n0.1,0.2\n"),
        LeadError,
        ("{path}", "duplicate", "I"),
        **CSV,
    ),
    Case("CSV not UTF-8", csv_bytes(b"I [mV]\n\xff\xfe\n"), RecordError, ("{path}", "not UTF-8"), **CSV),
    Case("unknown extension", unknown_extension, RecordError, ("{path}", "'.txt'")),
    # `ecglab info DIR` lists the folder's records instead (see the last test)
    Case("directory as record", a_directory, RecordError, ("{path}", "is a directory"), cli=False),
]
CLI_CASES = [case for case in CASES if case.cli]
DEBUG_CASES = ("truncated .dat", "unknown format code", "challenge .mat record line", "CSV non-numeric cell")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_reader_raises_one_line(case: Case, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    with pytest.raises(case.error) as excinfo:
        case.read(path)
    assert type(excinfo.value) is case.error
    assert_one_line(excinfo.value, *case.message_facts(path))


def test_unbroken_inputs_read(tmp_path: Path) -> None:
    """The inputs the cases break are valid before they are broken (so each case tests its defect)."""
    (tmp_path / "w").mkdir()
    (tmp_path / "c").mkdir()
    wfdb_rec = read_record(wfdb_record(tmp_path / "w"))
    assert wfdb_rec.leads == ("I", "II") and wfdb_rec.n_samples == N and not np.isnan(wfdb_rec.signal).any()
    challenge = read_record(challenge_record(tmp_path / "c"))
    assert challenge.record_id == "E00015" and challenge.meta["dx"] == ["426783006", "164889003"]
    assert read_wfdb(wfdb_record(tmp_path / "w"), annotations="auto").annotations is None
    csv = read_csv_at_250(csv_file("I [mV],II [mV]\n0.1,0.2\n0.3,0.4\n")(tmp_path))
    np.testing.assert_allclose(csv.signal, [[0.1, 0.3], [0.2, 0.4]], rtol=1e-6)


# ------------------------------------------------------------------------------ the Recording
@pytest.mark.parametrize(
    ("kwargs", "facts"),
    [
        (
            {"signal": np.array([[0.0, np.inf, 1.0], [0, 0, 0]]), "leads": ("I", "II")},
            ("infinite", "lead(s) I"),
        ),
        ({"signal": np.array([[0.0, 1.0, -np.inf]])}, ("infinite", "I")),
        ({"signal": np.zeros((2, 3, 4)), "leads": ("I", "II")}, ("2-D", "(2, 3, 4)")),
        ({"signal": np.zeros((2, 5))}, ("2 signal rows", "1 lead names")),
        ({"signal": np.zeros((1, 0))}, ("no samples",)),
        ({"signal": np.array([["a", "b"]])}, ("real numbers",)),
        ({"signal": np.array([[np.nan, np.nan]])}, ("I", "no valid sample")),
        ({"fs": 0}, ("sampling rate", "> 0", "0")),
        ({"fs": -250.0}, ("sampling rate", "-250")),
        ({"fs": float("nan")}, ("sampling rate",)),
        ({"fs": float("inf")}, ("sampling rate",)),
        ({"fs": "fast"}, ("sampling rate", "'fast'")),
        ({"leads": ("V13",)}, ()),  # unknown names are allowed in a Recording: readers decide
        ({"leads": ("II", "ii"), "signal": np.zeros((2, 5))}, ("duplicate", "II")),
        ({"units": "uV"}, ("'uV'",)),
    ],
    ids=[
        "inf",
        "-inf",
        "3-D",
        "rows vs leads",
        "no samples",
        "strings",
        "all NaN",
        "fs 0",
        "fs negative",
        "fs NaN",
        "fs inf",
        "fs text",
        "unknown lead kept",
        "duplicate lead",
        "not mV",
    ],
)
def test_recording_refuses_bad_contents(kwargs: dict[str, Any], facts: tuple[str, ...]) -> None:
    args: dict[str, Any] = {"signal": np.zeros((1, 5)), "fs": 250.0, "leads": ("I",), "record_id": "rec42"}
    args.update(kwargs)
    if not facts:
        assert Recording(**args).leads == args["leads"]
        return
    with pytest.raises(RecordError) as excinfo:
        Recording(**args)
    assert_one_line(excinfo.value, "rec42", *facts)


def test_recording_accepts_nan_marked_missing_samples() -> None:
    """The control for the cases above: NaN marks a missing sample and is allowed."""
    rec = Recording(np.array([[0.0, np.nan, 1.0]]), 250.0, ("I",), record_id="rec42")
    assert rec.missing_fraction == {"I": pytest.approx(1 / 3)}


# ----------------------------------------------------------------------------------------- CLI
def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str, str]:
    """Run ``ecglab ARGV``; return the exit code (None where it returned) and stdout, stderr."""
    code: int | str | None = None
    try:
        run(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, _ANSI.sub("", out), _ANSI.sub("", err)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda case: case.id)
def test_cli_prints_one_line_and_exits_nonzero(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = case.build(tmp_path)
    with pytest.raises(case.error) as excinfo:
        case.read(path)
    code, out, err = cli(["info", *case.cli_args, str(path)], capsys)
    assert code not in (0, None)
    assert "Traceback" not in out + err
    assert error_lines(err) == [f"error: {excinfo.value}"]
    assert "record(s) failed" in err


def test_cli_good_record_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The control of the CLI cases: an unbroken record prints its summary and no error."""
    code, out, err = cli(["info", str(wfdb_record(tmp_path))], capsys)
    assert code is None
    assert error_lines(err) == []
    assert "250 Hz" in out and "1000 samples" in out


def test_cli_keeps_unknown_channel_names_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ecglab info`` reads a V13 channel (the library raises, see above) and says it is no lead name."""
    code, out, err = cli(["info", str(wfdb_leads("I", "V13")(tmp_path))], capsys)
    assert code is None and error_lines(err) == []
    assert "V13" in out and "not ECG lead names" in out


@pytest.mark.parametrize("case", [c for c in CLI_CASES if c.id in DEBUG_CASES], ids=lambda case: case.id)
def test_cli_debug_lets_the_error_propagate(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --debug the EcglabError itself leaves the CLI (so the traceback is shown), not a one-liner."""
    path = case.build(tmp_path)
    with pytest.raises(case.error) as excinfo:
        run(["--debug", "info", *case.cli_args, str(path)])
    assert_one_line(excinfo.value, *case.message_facts(path))
    assert error_lines(capsys.readouterr().err) == []


def test_run_prints_an_error_escaping_a_command_as_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """:func:`run` itself: an EcglabError leaving a command is one line (rich markup such as ``[mV]``
    printed as written), its exit code, no traceback; with --debug the error propagates."""
    message = f"{tmp_path / 'x.csv'}: column 'II [mV]': broken [bold]on purpose[/]"

    def fail(paths: list[Path]) -> list[Path]:
        raise UnitsError(message)

    monkeypatch.setattr("ecglab.cli.info._expand", fail)
    code, out, err = cli(["info", str(tmp_path / "x.csv")], capsys)
    assert code == UnitsError.exit_code != 0
    assert "Traceback" not in out + err
    assert err.strip() == f"error: {message}"
    with pytest.raises(UnitsError, match="broken"):
        run(["--debug", "info", str(tmp_path / "x.csv")])


def test_cli_directory_with_good_and_bad_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    write_raw_wfdb(folder, "good", n=N)
    bad = write_raw_wfdb(folder, "bad", n=N)
    bad.with_suffix(".dat").write_bytes(bad.with_suffix(".dat").read_bytes()[:400])
    (folder / "notes.txt").write_text("not a record, not listed\n")

    code, out, err = cli(["info", str(folder)], capsys)
    assert code == 1
    assert "Traceback" not in out + err
    # the good record's summary on stdout, the bad one only as an error
    assert re.search(r"good\s*│\s*wfdb\s*│\s*250", out), out
    assert "bad" not in out
    [line] = error_lines(err)
    assert f"{folder / 'bad.dat'}: holds 100 samples per signal but bad.hea says 1000" in line
    assert "1 of 2 record(s) failed" in err
    # the failure list names the bad header (rich may fold a long path over lines)
    assert str(folder / "bad.hea") in re.sub(r"\s+", "", err.split("failed:")[1])
    assert "good.hea" not in err

    # the control: the same folder without the bad record exits 0 and lists no failure
    for suffix in (".hea", ".dat"):
        bad.with_suffix(suffix).unlink()
    code, out, err = cli(["info", str(folder)], capsys)
    assert code is None and error_lines(err) == [] and "failed" not in err
    assert "good" in out
