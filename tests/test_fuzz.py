"""Property-based fuzzing of the readers: bad input gives a valid Recording or an EcglabError, nothing else.

Two kinds of input are fuzzed. WFDB headers (``r.hea``) next to a valid small signal file
(``r.dat``, or a challenge ``r.mat``): arbitrary text and bytes, and a structured strategy that
mutates a valid header line by line (random tokens, numbers, deleted and inserted fields, odd format
codes, negative and huge counts).
CSV text: arbitrary text, and a structured strategy of lead-ish column names with optional units,
rows of numbers, garbage and empty cells, and an optional time column.

Every reader must either return a :class:`Recording` that keeps its contract or raise an
:class:`~ecglab.errors.EcglabError`; any other exception escaping is a bug in the reader.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ecglab.errors import EcglabError
from ecglab.io.challenge import read_challenge, write_challenge
from ecglab.io.csv_io import parse_csv_text
from ecglab.io.reader import read_record
from ecglab.io.recording import Recording
from ecglab.io.wfdb_io import read_wfdb

# ECGLAB_FUZZ_SCALE=20 fuzzes twenty times longer (for a hunt, not for CI).
SCALE = max(1, int(os.environ.get("ECGLAB_FUZZ_SCALE", "1")))
FUZZ = settings(max_examples=150 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------------- the valid records
N_SAMPLES = 50
# Interleaved int16 samples [samples, signals], within +-1000 adu (+-5 mV at 200 adu/mV).
DIGITAL = (np.arange(N_SAMPLES * 2).reshape(N_SAMPLES, 2) * 37 % 2001 - 1000).astype("<i2")
WFDB_HEADER = (
    f"r 2 250 {N_SAMPLES}",
    "r.dat 16 200/mV 16 0 0 0 0 I",
    "r.dat 16 200/mV 16 0 0 0 0 II",
    "#Age: 61",
    "#Sex: Female",
    "#Dx: 426783006",
)
WFDB_FILES = {"r.dat": DIGITAL.tobytes()}
# A challenge record (r.hea + MAT v4 r.mat, format 16+24) as ecglab writes it, kept as text and bytes.
CHALLENGE_SIGNAL = DIGITAL.T.astype(np.float32) / 200
with tempfile.TemporaryDirectory() as _tmp:
    _base = write_challenge(
        Recording(CHALLENGE_SIGNAL, 500.0, ("V1", "aVF"), "r", meta={"dx": ["164889003"], "age": 70}), _tmp
    )
    CHALLENGE_HEADER = tuple(_base.with_suffix(".hea").read_text().splitlines())
    CHALLENGE_FILES = {"r.mat": _base.with_suffix(".mat").read_bytes()}
BASES = {"wfdb": (WFDB_HEADER, WFDB_FILES), "challenge": (CHALLENGE_HEADER, CHALLENGE_FILES)}

READERS: dict[str, Callable[[Path], Recording]] = {
    "read_record": read_record,
    "read_wfdb": read_wfdb,
    "read_challenge": read_challenge,
}


def check_recording(rec: object) -> None:
    """The Recording contract, checked from outside (a reader may not hand back anything less)."""
    assert isinstance(rec, Recording)
    assert rec.signal.dtype == np.float32
    assert rec.signal.ndim == 2
    assert rec.signal.shape[0] == len(rec.leads) >= 1
    assert rec.signal.shape[1] >= 1
    assert np.isfinite(rec.fs) and rec.fs > 0
    assert rec.units == "mV"
    assert not np.isinf(rec.signal).any()
    assert not np.isnan(rec.signal).all(axis=1).any()
    assert len(set(rec.leads)) == len(rec.leads)


def read_or_ecglab_error(reader: Callable[..., Recording], *args: object, **kwargs: object) -> str:
    """Call a reader; it must return a valid Recording or raise an EcglabError.

    Returns "ok" or the error's class name, so that tests can check what happened. Any other
    exception propagates and fails the test, with hypothesis showing the input that caused it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = reader(*args, **kwargs)
    except EcglabError as exc:
        message = str(exc)
        assert message.strip(), f"{type(exc).__name__} with an empty message"
        return type(exc).__name__
    check_recording(rec)
    return "ok"


def read_header_all_ways(header: str | bytes, base: str = "wfdb") -> dict[str, str]:
    """Write ``header`` as ``r.hea`` beside the valid signal file of ``base`` and read it every way."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hea = folder / "r.hea"
        if isinstance(header, bytes):
            hea.write_bytes(header)
        else:
            hea.write_text(header, encoding="utf-8")
        for name, data in BASES[base][1].items():
            (folder / name).write_bytes(data)
        return {name: read_or_ecglab_error(reader, hea) for name, reader in READERS.items()}


def fuzz_header(header: str | bytes, base: str = "wfdb") -> None:
    """Inside a hypothesis test: read ``header`` every way and record the outcomes as events.

    ``pytest --hypothesis-show-statistics`` then shows how often the fuzz got past the header
    checks to a valid Recording, which is what keeps it from testing only the first check.
    """
    for name, outcome in read_header_all_ways(header, base).items():
        event(f"{base} {name}: {outcome}")


# ------------------------------------------------------------------------- header mutation strategy
ODD_FORMATS = [
    "0", "8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "508", "516", "524",
    "999", "-16", "16.5", "1e3", "16+24", "16+-24", "16+999999999", "16x2", "16x0", "16x-1",
    "16x99999999", "16:3", "16:0", "212x3+7", "",
]  # fmt: skip
ODD_TOKENS = [
    "r", "r.dat", "r.mat", "other.dat", "r.hea", "-", "~", "#", "/", ":", "(", ")", "+", "x",
    "200/mV", "0/mV", "-200/mV", "200(0)/mV", "200(-5)/uV", "200(99999999999)/mV", "200/furlong",
    "200/", "/mV", "nan/mV", "inf", "-inf", "nan", "NaN", "1e308", "1e-320", "0", "-0", "-1",
    "99999999999999999999", "250/360", "360/0", "0/0", "12:00:00", "01/01/2000", "32:99:99",
    "I", "II", "V13", "aVR", "ii", "MLII", "noise", "\t", "é", "\x00",
]  # fmt: skip
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "1", "-1", "2", "3", "50", "49", "51", "100", "1000000", str(2**31), str(2**63)]),
)
TOKEN = st.one_of(
    st.sampled_from(ODD_TOKENS),
    st.sampled_from(ODD_FORMATS),
    NUMBERS,
    st.text(alphabet=st.characters(exclude_categories=("Cs", "Zl", "Zp", "Cc")), min_size=1, max_size=6),
)


@st.composite
def mutated_line(draw: st.DrawFn, line: str) -> str:
    """One header line with a few fields replaced, deleted, inserted or truncated."""
    tokens = line.split(" ")
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["replace", "delete", "insert", "truncate", "format", "count"]))
        i = draw(st.integers(0, max(len(tokens) - 1, 0)))
        if op == "replace" and tokens:
            tokens[i] = draw(TOKEN)
        elif op == "delete" and tokens:
            del tokens[i]
        elif op == "insert":
            tokens.insert(i, draw(TOKEN))
        elif op == "truncate":
            tokens = tokens[:i]
        elif op == "format" and len(tokens) > 1 and tokens[0].endswith((".dat", ".mat")):
            tokens[1] = draw(st.sampled_from(ODD_FORMATS))
        elif op == "count" and len(tokens) > 3 and not tokens[0].endswith((".dat", ".mat")):
            # record line: number of signals, fs or sample count
            tokens[draw(st.integers(1, 3))] = draw(NUMBERS)
    return " ".join(tokens)


@st.composite
def mutated_header(draw: st.DrawFn, valid: tuple[str, ...]) -> str:
    """The valid header with some lines mutated, deleted, duplicated, swapped or added."""
    lines = [draw(st.one_of(st.just(line), mutated_line(line))) for line in valid]
    for _ in range(draw(st.integers(0, 2))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "blank"]))
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if op == "delete" and lines:
            del lines[i]
        elif op == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif op == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            lines.insert(i, " ".join(draw(st.lists(TOKEN, min_size=1, max_size=10))))
        elif op == "blank":
            lines.insert(i, draw(st.sampled_from(["", " ", "\t", "#", "# Dx:", "#Dx: 1,2,3"])))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(lines) + draw(st.sampled_from([ending, ""]))


# ------------------------------------------------------------------------------------ WFDB tests
@pytest.mark.parametrize("base", BASES)
def test_valid_header_reads(base: str) -> None:
    """The bases of the mutations are valid for every reader (else the fuzz tests nothing)."""
    header = "\n".join(BASES[base][0]) + "\n"
    assert read_header_all_ways(header, base) == dict.fromkeys(READERS, "ok")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "r.hea").write_text(header)
        for name, data in BASES[base][1].items():
            (Path(tmp) / name).write_bytes(data)
        rec = read_record(Path(tmp) / "r.hea")
    if base == "wfdb":
        assert rec.leads == ("I", "II") and rec.fs == 250
        np.testing.assert_array_equal(rec.signal, DIGITAL.T.astype(np.float32) / 200)
    else:
        assert rec.leads == ("V1", "aVF") and rec.fs == 500 and rec.meta["dx"] == ["164889003"]
        np.testing.assert_allclose(rec.signal, CHALLENGE_SIGNAL, atol=5e-4)


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("", "RecordError"),
        ("r 2 250 50\nr.dat 999 200/mV 16 0 0 0 0 I\nr.dat 16 200/mV 16 0 0 0 0 II\n", "RecordError"),
        ("r 2 250 60\nr.dat 16 200/mV 16 0 0 0 0 I\nr.dat 16 200/mV 16 0 0 0 0 II\n", "RecordError"),
    ],
)
def test_broken_header_is_an_ecglab_error(header: str, error: str) -> None:
    """The harness sees errors: a broken header is reported as an EcglabError by every reader."""
    assert read_header_all_ways(header) == dict.fromkeys(READERS, error)


@FUZZ
@given(st.text(max_size=300))
@example("r 2 250 50\n")
@example("r 0 250 50\n")
@example("r 2 250 -50\nr.dat 16 200/mV 16 0 0 0 0 I\nr.dat 16 200/mV 16 0 0 0 0 II\n")
@example("r 2 0 50\nr.dat 16 200/mV 16 0 0 0 0 I\nr.dat 16 200/mV 16 0 0 0 0 II\n")
@example("r 2 250 50\nr.dat\nr.dat\n")
def test_arbitrary_header_text(header: str) -> None:
    fuzz_header(header)


@FUZZ
@given(st.binary(max_size=300))
@example(b"r 2 250 50\n\xff\xfe\x00\x00\n")
def test_arbitrary_header_bytes(header: bytes) -> None:
    fuzz_header(header)


@settings(FUZZ, max_examples=300 * SCALE)
@given(mutated_header(WFDB_HEADER))
@example("r 2 250 99999999999999999999\nr.dat 16 200/mV 16 0 0 0 0 I\nr.dat 16 200/mV 16 0 0 0 0 II\n")
@example("r 2 250 50\nr.dat 16x0 200/mV 16 0 0 0 0 I\nr.dat 16 200/mV 16 0 0 0 0 II\n")
@example("r 2 250 50\nr.dat 508 200/mV 16 0 0 0 0 I\nr.dat 508 200/mV 16 0 0 0 0 II\n")
@example("r 2 250 50\nr.dat 16 -200/mV 16 0 0 0 0 I\nr.dat 16 0/mV 16 0 0 0 0 II\n")
@example("r 2 250 50\nr.dat 16 200/mV 16 0 0 0 0 I\nr.dat 16 200/mV 16 0 0 0 0 I\n")
@example("r 2 250 50\nr.dat 16 200/mV 16 0 0 0 0 I\nr.dat 16 200/mV 16 0 0 0 0 V13\n")
@example("r 2 250 50\nr.dat 16 200/mV 16 0 0 0 0 I\n\u00e9 r.dat 16 200/mV 16 0 0 0 0 II\n")
@example("r 2 250 50\nr.dat 16 200/mV 16 0 0 0 0 I\n  # a comment\nr.dat 16 1e/mV 16 0 0 0 0 II\n")
def test_mutated_wfdb_header(header: str) -> None:
    fuzz_header(header, "wfdb")


@settings(FUZZ, max_examples=300 * SCALE)
@given(mutated_header(CHALLENGE_HEADER))
@example("r.mat 2 500 50\nr.mat 16+24 1000/mV 16 0 0 0 0 V1\nr.mat 16+24 1000/mV 16 0 0 0 0 aVF\n#Dx: 1\n")
@example("r 2 500 50\nr.mat 16+99999 1000/mV 16 0 0 0 0 V1\nr.mat 16+24 1000/mV 16 0 0 0 0 aVF\n#Dx: 1\n")
@example("r 2 500 50\nr.mat 16+24 1000/mV 16 0 0 0 0 V1\nr.mat 16+24 1000/mV 16 0 0 0 0 aVF\n")
# Non-ASCII junk that wfdb drops while reading: the gains must still be read the way wfdb reads them.
@example(
    "r 2 500 50\nr.mat 16+24 1000/mV 16 0 -5000 -16860 0 V1\n"
    "\u00a1 r.mat 16+24 1000/mV 16 0 -4815 -17615 0 aVF\n#Age: 70\n#Sex: Unknown\n#Dx: 164889003\n"
)
def test_mutated_challenge_header(header: str) -> None:
    fuzz_header(header, "challenge")


# ------------------------------------------------------------------------------------- CSV tests
FS = st.one_of(st.none(), st.just(250.0), st.just(500.0), st.floats(allow_nan=True, allow_infinity=True))
UNITS = st.one_of(
    st.none(), st.just("mV"), st.sampled_from(["uV", "µV", "V", "nV", "MV", "", "furlong", "mv "])
)
GOOD_LEADS = ["I", "ii", "III", "aVR", "avl", "AVF", "V1", "v2", "V6", "ML2", "ECG", "Lead_III"]
BAD_LEADS = ["V13", "noise1", "I.1", "", " ", "Unnamed: 0", '"I"', '"II,"', "x y", "time_s [mV]"]
GOOD_UNITS = ["", " [mV]", "[mV]", " (uV)", " [µV]", " [V]", " [nV]", " (millivolts)"]
BAD_UNITS = [" [MV]", " [furlong]", " []", " [mV", " ()", " [mV] [uV]"]
TIME_NAMES = ["time", "time_s", "t", "seconds", "time [s]", "time (s)", "TIME"]
GOOD_CELL = st.one_of(
    st.floats(min_value=-10, max_value=10).map(lambda v: f"{v:.4g}"),
    st.integers(min_value=-5000, max_value=5000).map(str),
    st.sampled_from(["", "nan", "NA", " 0.5", "1e-3"]),
)
BAD_CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.sampled_from(["x", "-", "1e400", "-1e400", "1e39", '"1,5"', '"1"', "0x10", "1_000", "--1", '"', "'"]),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=4),
)


@dataclass(frozen=True)
class CsvCase:
    """A generated CSV and, when it is clean enough to know, what reading it must give."""

    text: str
    leads: tuple[str, ...] | None = None  # canonical lead names, None where the CSV is dirty
    columns: tuple[tuple[str, ...], ...] = ()  # the cells of each lead column, as written
    suffixes: tuple[str, ...] = ()  # unit suffix of each lead column's name
    longest_row: int = 0
    n_columns: int = 0
    has_time: bool = False
    step: float | None = None  # time column step in seconds, None where there is none or it is garbled


CANONICAL = {
    "I": "I", "ii": "II", "III": "III", "aVR": "aVR", "avl": "aVL", "AVF": "aVF", "V1": "V1",
    "v2": "V2", "V6": "V6", "ML2": "MLII", "ECG": "ECG",
}  # fmt: skip
SUFFIX_TO_MV = {
    " [mV]": 1.0,
    "[mV]": 1.0,
    " (uV)": 1e-3,
    " [µV]": 1e-3,
    " [V]": 1e3,
    " [nV]": 1e-6,
    " (millivolts)": 1.0,
}
UNITS_TO_MV = {"mV": 1.0, "uV": 1e-3, "µV": 1e-3, "V": 1e3, "nV": 1e-6, "mv ": 1.0}
MISSING = {"", "nan", "na", "n/a", "null"}


@st.composite
def structured_csv(draw: st.DrawFn) -> CsvCase:
    """A CSV of lead-ish columns (optional units), rows of numbers/garbage/empty cells, maybe a time column.

    Each draw picks how dirty it is (names, units, cells, time column, ragged rows), so that some
    CSVs are valid and read, and the rest break one or a few things at a time.
    """
    bad_names, bad_units, bad_cells, bad_time, ragged = (draw(st.integers(0, 5)) == 0 for _ in range(5))
    if bad_names:  # unknown names, duplicates (I, Lead I, ii, II ...)
        leads = draw(st.lists(st.sampled_from(BAD_LEADS + GOOD_LEADS + ["I", "II"]), min_size=1, max_size=4))
    else:  # distinct leads, in any known spelling
        leads = draw(st.lists(st.sampled_from(GOOD_LEADS[:-1]), min_size=1, max_size=4, unique=True))
    suffixes = [draw(st.sampled_from(BAD_UNITS if bad_units else GOOD_UNITS)) for _ in leads]
    names = [lead + suffix for lead, suffix in zip(leads, suffixes, strict=True)]
    time_name = draw(st.one_of(st.none(), st.sampled_from(TIME_NAMES)))
    if time_name is not None:
        names.insert(draw(st.integers(0, len(names))), time_name)
    n_rows = draw(st.integers(0 if bad_cells else 1, 8))
    step = (
        draw(st.sampled_from([-0.004, 0.0, 1e-320, 1e300]))
        if bad_time
        else draw(st.sampled_from([0.004, 0.002]))
    )
    # one row with a cell too many or too few; often the first, which pandas treats specially
    ragged_row = draw(st.one_of(st.just(0), st.integers(0, n_rows - 1))) if ragged and n_rows else -1
    rows: list[list[str]] = []
    for r in range(n_rows):
        cells = [draw(BAD_CELL if bad_cells and draw(st.booleans()) else GOOD_CELL) for _ in names]
        if time_name is not None:
            cells[names.index(time_name)] = draw(BAD_CELL) if bad_time and r == 0 else repr(r * step)
        if r == ragged_row:
            cells = [*cells, draw(GOOD_CELL)] if draw(st.booleans()) else cells[:-1]
        rows.append(cells)
    text = "\n".join([",".join(names)] + [",".join(cells) for cells in rows])
    text += draw(st.sampled_from(["\n", "", "\n\n", "\r\n"]))
    if bad_names or bad_units or bad_cells:
        return CsvCase(text)
    positions = [i for i, name in enumerate(names) if name != time_name]
    rows = [row for row in rows if ",".join(row)]  # an empty line is no row (pandas skips blank lines)
    return CsvCase(
        text,
        leads=tuple(CANONICAL[lead] for lead in leads),
        columns=tuple(tuple(row[i] if i < len(row) else "" for row in rows) for i in positions),
        suffixes=tuple(suffixes),
        longest_row=max((len(row) for row in rows), default=0),
        n_columns=len(names),
        has_time=time_name is not None,
        step=None if time_name is None or bad_time else step,
    )


def check_csv_case(case: CsvCase, rec: Recording, fs: float | None, units: str | None) -> None:
    """A clean CSV that was read must give exactly its cells, in mV, under canonical lead names."""
    assert case.leads is not None
    assert case.longest_row <= case.n_columns, "a row with more cells than the header was accepted"
    assert rec.leads == case.leads
    factors = [SUFFIX_TO_MV.get(suffix) or UNITS_TO_MV.get(units or "") for suffix in case.suffixes]
    assert None not in factors, f"read with unknown units: suffixes {case.suffixes}, units={units!r}"
    expected = np.array(
        [
            [np.nan if cell.strip().lower() in MISSING else float(cell) * factor for cell in column]
            for column, factor in zip(case.columns, factors, strict=True)
        ]
    )
    np.testing.assert_allclose(rec.signal, expected.astype(np.float32), rtol=1e-6, atol=0, equal_nan=True)
    if fs is not None:
        assert rec.fs == fs
    else:
        assert case.has_time, "read without fs or a time column"
        if case.step is not None:
            assert rec.fs == pytest.approx(1 / case.step, rel=1e-6)


def test_valid_csv_reads() -> None:
    text = "time_s,I [mV],II [uV]\n0,0.1,100\n0.004,0.2,200\n0.008,0.3,300\n"
    assert read_or_ecglab_error(parse_csv_text, text) == "ok"
    rec = parse_csv_text(text)
    assert rec.fs == 250.0 and rec.leads == ("I", "II")
    np.testing.assert_allclose(rec.signal, [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], rtol=1e-6)


@FUZZ
@given(st.text(max_size=300), FS, UNITS)
@example("I [mV]\n1\n", float("nan"), None)
@example("I [mV]\n1e308\n", 250.0, "V")
@example("t,I [V]\n0,1e308\n1e-320,1\n", None, None)
def test_arbitrary_csv_text(text: str, fs: float | None, units: str | None) -> None:
    event(read_or_ecglab_error(parse_csv_text, text, fs=fs, units=units))


@settings(FUZZ, max_examples=400 * SCALE)
@given(structured_csv(), FS, UNITS)
@example(CsvCase("I [mV],I [mV]\n1,2\n"), 250.0, None)
@example(CsvCase("time,time,I [mV]\n0,0,1\n1,1,2\n"), None, None)
@example(
    CsvCase("I [mV],II [mV]\n1,2,3\n", ("I", "II"), (("1",), ("2",)), (" [mV]", " [mV]"), 3, 2), 250.0, None
)
def test_structured_csv(case: CsvCase, fs: float | None, units: str | None) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = parse_csv_text(case.text, fs=fs, units=units)
    except EcglabError as exc:
        event(type(exc).__name__)
        assert str(exc).strip()
        return
    event("ok" if case.leads is None else "ok, values checked")
    check_recording(rec)
    if case.leads is not None:
        check_csv_case(case, rec, fs, units)
