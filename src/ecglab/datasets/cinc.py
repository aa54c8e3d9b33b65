"""PhysioNet/CinC Challenge 2020/2021 12-lead records: scored classes and a header-only scanner.

Classes come from the official scoring tables (``weights.csv``, ``dx_mapping_scored.csv``,
``dx_mapping_unscored.csv`` of ``physionetchallenges/evaluation-2020|2021``), shipped with ecglab
under ``ecglab/metrics/challenge_tables/<version>/``. Equivalent diagnoses are merged exactly as the
official scoring code does: a record labelled with either code of a pair gets the one class, whose
canonical code is the one the 2021 ``weights.csv`` header lists first (``733534002|164909002``); the
2020 ``weights.csv`` lists both codes of a pair as separate rows, and its scoring code makes the
first of its hard-coded pair canonical (``ecglab.metrics.challenge.EQUIVALENT_CLASSES_2020``),
which gives 24 classes for 2020 and 26 for 2021. The class order, equivalences and weights are
those of :func:`ecglab.metrics.challenge.load_tables`, so label columns match the scorer's.

:func:`scan_cinc` lists a folder tree of challenge records from their headers alone (no signal is
read): source database from the record-name prefix, demographics, all ``#Dx`` codes, those that no
class scores, and the label vector.

Patients: the challenge publishes no patient ids, so every record is its own patient
(``patient_id = "cinc:<record_id>"``). This holds for PTB (``S``) records too: their challenge
headers carry only ``#Age/#Sex/#Dx/#Rx/#Hx/#Sx`` (the PTB patient folders were not kept), so PTB
records of one patient may land in different folds. PTB-XL (``HR``) records are PTB-XL ECGs
(``HR000NN`` = ``ecg_id`` NN) and can be linked to their PTB-XL patient by
:func:`ecglab.datasets.pool.link_ptbxl_patients`.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from wfdb.io import header as wfdb_header

from ecglab.datasets.pool import ROW_COLUMNS, RecordTable
from ecglab.errors import DataNotFoundError, EcglabError, RecordError
from ecglab.io.challenge import check_record_line, parse_age, parse_dx, parse_header_comments, parse_sex
from ecglab.metrics.challenge import load_tables, normalize_version

__all__ = [
    "CincClasses",
    "UnknownCodeWarning",
    "encode_dx",
    "load_cinc_classes",
    "parse_mapping",
    "scan_cinc",
    "source_of",
]

_TABLES_PACKAGE = "ecglab.metrics"
_TABLES_FOLDER = "challenge_tables"
_RECORD_RE = re.compile(r"^(HR|JS|A|Q|S|E|I)(\d+)$")
_PREFIX_SOURCES = {
    "A": "cpsc2018",
    "Q": "cpsc2018_extra",
    "S": "ptb",
    "HR": "ptbxl",
    "E": "georgia",
    "I": "incart",
}
# Chapman-Shaoxing and Ningbo share the JS prefix; Chapman-Shaoxing is JS00001-JS10646.
_LAST_CHAPMAN = 10646


class UnknownCodeWarning(UserWarning):
    """Records carry SNOMED CT codes found in neither mapping table of the challenge version."""


@dataclass(frozen=True)
class CincClasses:
    """The scored classes of one challenge version.

    Attributes
    ----------
    version
        ``"2020"`` or ``"2021"``.
    codes
        Canonical SNOMED CT code per class, in ``weights.csv`` order.
    abbreviations, names
        Abbreviation and diagnosis name of each canonical code (``dx_mapping_scored.csv``).
    equivalences
        Alias code → canonical code for the merged pairs (``59118001`` → ``713427006`` ...).
    weights
        float64 ``[C, C]`` reward matrix of the challenge metric, in class order.
    scored
        Every code of ``dx_mapping_scored.csv`` (aliases too) → (abbreviation, name).
    unscored
        Every code of ``dx_mapping_unscored.csv`` → (abbreviation, name); empty if that table is
        not shipped (``has_unscored_table`` False), and then every unscored code counts as unknown.
    """

    version: str
    codes: tuple[str, ...]
    abbreviations: tuple[str, ...]
    names: tuple[str, ...]
    equivalences: dict[str, str]
    weights: np.ndarray = field(repr=False)
    scored: dict[str, tuple[str, str]] = field(repr=False)
    unscored: dict[str, tuple[str, str]] = field(repr=False)
    has_unscored_table: bool = True

    def __len__(self) -> int:
        return len(self.codes)

    def canonical(self, code: str) -> str:
        """The canonical code of ``code`` (itself unless it is the second code of a merged pair)."""
        code = str(code).strip()
        return self.equivalences.get(code, code)

    def index(self, code: str) -> int | None:
        """Class index of ``code`` (either code of a merged pair), None if it is not scored."""
        return self._positions.get(self.canonical(code))

    def is_known(self, code: str) -> bool:
        """True if ``code`` is in the scored or the unscored mapping table."""
        code = str(code).strip()
        return code in self.scored or code in self.unscored or code in self._positions

    @functools.cached_property
    def _positions(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.codes)}


def parse_mapping(text: str, where: str) -> dict[str, tuple[str, str]]:
    """``code -> (abbreviation, name)`` from the text of a ``dx_mapping_*.csv``.

    The two years name the code column differently (``SNOMED CT Code`` / ``SNOMEDCTCode``): the
    columns are taken by position (diagnosis, code, abbreviation), as both files order them.
    """
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or len(rows[0]) < 3:
        raise RecordError(f"{where}: expected columns 'Dx, SNOMED CT code, Abbreviation'")
    return {r[1].strip(): (r[2].strip(), r[0].strip()) for r in rows[1:] if len(r) >= 3 and r[1].strip()}


def _mapping_table(version: str, name: str) -> dict[str, tuple[str, str]] | None:
    """The shipped ``challenge_tables/<version>/<name>`` parsed, None if it is not shipped."""
    resource = resources.files(_TABLES_PACKAGE).joinpath(_TABLES_FOLDER, version, name)
    if not resource.is_file():
        return None
    return parse_mapping(resource.read_text(encoding="utf-8-sig"), f"{_TABLES_FOLDER}/{version}/{name}")


@functools.lru_cache(maxsize=4)
def _load_classes(version: str) -> CincClasses:
    # Scored classes, their order, equivalences and weights: the scorer's own reading of weights.csv,
    # so that labels built here line up with ecglab.metrics.challenge column for column.
    tables = load_tables(version)
    scored = _mapping_table(version, "dx_mapping_scored.csv")
    if scored is None:
        raise DataNotFoundError(f"{_TABLES_FOLDER}/{version}/dx_mapping_scored.csv missing from the package")
    unscored = _mapping_table(version, "dx_mapping_unscored.csv")
    # A pair's canonical code is its first member: the first code of the 2021 header's "a|b", the
    # representative of the official 2020 pair list.
    codes = tuple(members[0] for members in tables.members)
    missing = [c for c in codes if c not in scored]
    if missing:
        raise RecordError(f"CinC {version}: class(es) {', '.join(missing)} absent from dx_mapping_scored.csv")
    return CincClasses(
        version=version,
        codes=codes,
        abbreviations=tuple(scored[c][0] for c in codes),
        names=tuple(scored[c][1] for c in codes),
        equivalences={alias: m[0] for m in tables.members for alias in m[1:]},
        weights=np.array(tables.weights),
        scored=scored,
        unscored=unscored or {},
        has_unscored_table=unscored is not None,
    )


def load_cinc_classes(version: str = "2021") -> CincClasses:
    """Scored classes of the CinC challenge ``version`` (cached).

    Read from the official tables shipped in ``ecglab/metrics/challenge_tables/<version>/`` through
    :func:`ecglab.metrics.challenge.load_tables` (class order, equivalences, weights) and
    ``dx_mapping_scored.csv`` / ``dx_mapping_unscored.csv`` (abbreviations, names, unscored codes).

    Parameters
    ----------
    version
        ``"2020"`` (24 classes after merging) or ``"2021"`` (26 classes); ``"cinc2021"`` works too.

    Raises
    ------
    ConfigError
        If ``version`` is not a challenge year ecglab knows.
    DataNotFoundError
        If a table is missing from the package.
    """
    return _load_classes(normalize_version(version))


def encode_dx(codes: Iterable[str], classes: CincClasses) -> np.ndarray:
    """Multi-hot float32 ``[C]`` vector of ``codes``; either code of a merged pair sets its class."""
    y = np.zeros(len(classes), dtype=np.float32)
    for code in codes:
        i = classes.index(code)
        if i is not None:
            y[i] = 1.0
    return y


def source_of(record_id: str) -> str:
    """Source database of a challenge record from its name prefix (``"unknown"`` if none fits).

    ``A`` cpsc2018, ``Q`` cpsc2018_extra, ``S`` ptb, ``HR`` ptbxl, ``E`` georgia, ``I`` incart,
    ``JS`` chapman_shaoxing up to JS10646 and ningbo above.
    """
    match = _RECORD_RE.match(record_id)
    if not match:
        return "unknown"
    prefix, number = match.group(1), int(match.group(2))
    if prefix == "JS":
        return "chapman_shaoxing" if number <= _LAST_CHAPMAN else "ningbo"
    return _PREFIX_SOURCES[prefix]


def _header_fields(hea: Path) -> tuple[int, float, int, list[str], list[str]]:
    """``(n_sig, fs, sig_len, signal file names, comments)`` of a WFDB header.

    Written here rather than calling ``wfdb.rdheader`` for speed: rdheader parses every field of
    every signal line through pandas (3 ms a header, over 4 minutes for the 88,000 headers of
    CinC 2021), and a scan needs only the record line, the file names and the comments. The lines
    are split and the record line parsed with wfdb's own header grammar.
    """
    try:
        text = hea.read_bytes().decode("ascii", errors="ignore")  # as wfdb reads headers
    except OSError as exc:
        raise RecordError(f"{hea}: unreadable header: {exc.strerror}") from None
    lines, comments = wfdb_header.parse_header_content(text)
    match = wfdb_header.rx_record.match(lines[0]) if lines else None
    if not match or not match.group("sig_len"):
        raise RecordError(f"{hea}: record line needs a name, signal count, rate and length")
    if match.group("n_seg"):
        raise RecordError(f"{hea}: multi-segment record, not a challenge record")
    n_sig = int(match.group("n_sig"))
    if len(lines) - 1 < n_sig or n_sig == 0:
        raise RecordError(
            f"{hea}: record line declares {n_sig} signal(s) but {len(lines) - 1} signal line(s) follow"
        )
    fs = float(match.group("fs") or 250.0)  # 250 Hz: WFDB's default when the field is absent
    if not fs > 0:
        raise RecordError(f"{hea}: sampling frequency must be > 0, got {fs:g}")
    files = [line.split()[0] for line in lines[1 : 1 + n_sig]]
    return n_sig, fs, int(match.group("sig_len")), files, comments


def _header_row(hea: Path, classes: CincClasses, dataset: str) -> dict[str, Any]:
    """One table row from a challenge header (raises RecordError with a one-line reason)."""
    check_record_line(hea)  # names the malformed first-Georgia-release headers precisely
    n_sig, fs, sig_len, files, comments = _header_fields(hea)
    fields = parse_header_comments(comments)
    if "Dx" not in fields:
        raise RecordError(f"{hea}: no '#Dx:' line (a challenge header lists its SNOMED CT codes there)")
    dx = parse_dx(fields["Dx"])
    if not dx:
        raise RecordError(f"{hea}: '#Dx:' line lists no SNOMED CT code")
    for name in dict.fromkeys(files):
        if not (hea.parent / name).is_file():
            raise RecordError(f"{hea.parent / name}: signal file named by {hea.name} not found")
    record_id = hea.stem
    source = source_of(record_id)
    age = parse_age(fields.get("Age"))
    return {
        "record_id": record_id,
        "path": str(hea.with_suffix("")),
        "kind": "challenge",
        "dataset": dataset,
        "source": source,
        "patient_id": f"cinc:{record_id}",
        "fs": fs,
        "n_samples": sig_len,
        "n_leads": n_sig,
        "age": np.nan if age is None else age,
        "sex": parse_sex(fields.get("Sex")),
        "dx": dx,
        "unscored": [c for c in dx if classes.index(c) is None],
        "ptbxl_ecg_id": int(record_id[2:]) if source == "ptbxl" else None,
    }


def _is_excluded(hea: Path, root: Path, exclude: Sequence[str]) -> bool:
    parts = hea.relative_to(root).parts[:-1]
    return any(part in exclude for part in parts) or hea.name.startswith(".")


def scan_cinc(
    root: str | os.PathLike[str],
    *,
    version: str = "2021",
    exclude: Sequence[str] = ("malformed_headers_georgia_v1",),
    classes: CincClasses | None = None,
) -> RecordTable:
    """List the challenge records under ``root`` (any nesting, any source prefix) from their headers.

    Parameters
    ----------
    root
        Folder tree of ``<id>.hea`` + ``<id>.mat`` records.
    version
        Class set to label with (``"2020"`` or ``"2021"``); ignored when ``classes`` is given.
    exclude
        Folder names whose records are skipped silently (by default the malformed headers of the
        first Georgia release, kept in the shared data as robustness cases only).
    classes
        The classes to use (default: :func:`load_cinc_classes` of ``version``).

    Returns
    -------
    RecordTable
        One row per record (sorted by path). Headers that cannot be listed (no ``#Dx``, malformed
        record line, missing ``.mat``, duplicate record id) are in ``failures`` with a one-line
        reason. Codes in neither mapping table are kept in ``dx``/``unscored`` and reported in one
        :class:`UnknownCodeWarning`.

    Raises
    ------
    DataNotFoundError
        If ``root`` is not a directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"{root}: no such directory of challenge records")
    classes = classes or load_cinc_classes(version)
    dataset = f"cinc{classes.version}"
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    seen: dict[str, str] = {}
    for hea in sorted(root.rglob("*.hea")):
        if _is_excluded(hea, root, exclude):
            continue
        try:
            row = _header_row(hea, classes, dataset)
        except EcglabError as exc:
            failures.append(str(exc).splitlines()[0])
            continue
        if row["record_id"] in seen:
            failures.append(
                f"{hea}: duplicate record id {row['record_id']} (first at {seen[row['record_id']]})"
            )
            continue
        seen[row["record_id"]] = row["path"]
        rows.append(row)
    _warn_unknown_codes(rows, classes)
    y = np.stack([encode_dx(r["dx"], classes) for r in rows]) if rows else np.zeros((0, len(classes)))
    frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    frame["ptbxl_ecg_id"] = frame["ptbxl_ecg_id"].astype("Int64")
    return RecordTable(frame, y, classes.codes, classes.abbreviations, failures)


def _warn_unknown_codes(rows: list[dict[str, Any]], classes: CincClasses) -> None:
    counts = Counter(c for r in rows for c in r["dx"] if not classes.is_known(c))
    if not counts:
        return
    n_records = sum(any(not classes.is_known(c) for c in r["dx"]) for r in rows)
    listed = ", ".join(f"{c} ({n})" for c, n in counts.most_common())
    note = "" if classes.has_unscored_table else " (dx_mapping_unscored.csv is not shipped)"
    warnings.warn(
        f"{n_records} record(s) carry {len(counts)} SNOMED CT code(s) in neither CinC {classes.version} "
        f"mapping table{note}, kept as unscored: {listed}",
        UnknownCodeWarning,
        stacklevel=3,
    )
