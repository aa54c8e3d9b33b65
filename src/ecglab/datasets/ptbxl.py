"""PTB-XL labels: the benchmark tasks of Strodthoff et al. (2021) and CinC (SNOMED CT) classes.

Tasks (``ptbxl_labels``), following the benchmark code of Strodthoff et al., "Deep learning for
ECG analysis: benchmarks and insights from PTB-XL", IEEE JBHI 25(5), 2021:

``diagnostic``       statements with ``diagnostic == 1`` in ``scp_statements.csv`` (44 classes)
``superdiagnostic``  those statements aggregated to ``diagnostic_class``: CD, HYP, MI, NORM, STTC
``rhythm``           statements with ``rhythm == 1`` (12 classes)
``cinc``             the CinC scored classes, through :data:`SCP_TO_SNOMED`

As in that code, every statement of ``scp_codes`` counts whatever its likelihood (rhythm and form
statements are written with likelihood 0), classes are in sorted order (scikit-learn's
``MultiLabelBinarizer``), and records without any label of the task are dropped (except for
``cinc``, where a record without a scored class is a negative for all of them, as in the
challenge). ``min_likelihood`` keeps only statements at or above a likelihood instead.

Splits: ``strat_fold`` 1-10 is PTB-XL's patient-disjoint stratified split; folds 9 and 10 have
human-validated labels and are the conventional validation and test folds
(:func:`ecglab.datasets.splits.ptbxl_fold_split`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecglab.datasets.cinc import CincClasses, encode_dx, load_cinc_classes
from ecglab.datasets.pool import ROW_COLUMNS, RecordTable
from ecglab.errors import ConfigError, DataNotFoundError, RecordError
from ecglab.io.ptbxl import load_database, parse_scp_codes

__all__ = [
    "HEART_AXIS_TO_SNOMED",
    "PTBXL_TASKS",
    "SCP_TO_SNOMED",
    "SUPERCLASSES",
    "load_scp_statements",
    "mapping_agreement",
    "ptbxl_labels",
    "ptbxl_snomed",
    "scan_ptbxl",
    "task_classes",
]

PTBXL_TASKS = ("superdiagnostic", "diagnostic", "rhythm", "cinc")
SUPERCLASSES = ("CD", "HYP", "MI", "NORM", "STTC")
STATEMENTS_CSV = "scp_statements.csv"
# PTB-XL records are 10 s long at both rates (Wagner et al. 2020).
_SECONDS = 10

#: SCP-ECG statement → SNOMED CT code in the CinC challenges' vocabulary (hand table).
#:
#: Sources and evidence. Each entry is the SNOMED CT concept of the statement's meaning as named in
#: the challenge's ``dx_mapping_*.csv``. For every scored class, the challenge's ``PTB_XL`` count
#: equals the PTB-XL count of the statement listed (statement counts of Wagner et al. 2020, as
#: recalled, not re-computed here: the shared data holds 435 of 21,799 records): AF 1514 = AFIB,
#: AFL 73 = AFLT, IAVB 797 = 1AVB, IRBBB 1118, CRBBB 542, LBBB 536 = CLBBB, LAnFB 1626 = LAFB,
#: NSIVCB 789 = IVCD, LQRSV 182 = LVOLT, LPR 340, LQT 118 = LNGQT, QAb 548 = QWAVE, TInv 294 = INVT,
#: PAC 398, SVPB 157 = SVARR, PR 296 = PACE, SA 772 = SARRH, SB 637 = SBRAD, STach 826 = STACH; and
#: for unscored ones AnMI 354 = AMI, CHB 16 = 3AVB, IIAVB 14 = 2AVB, ILBBB 77, LPFB 177, LAE 427 =
#: LAO/LAE, RAH 99 = RAO/RAE, RVH 126, VH 30 = SEHYP, WPW 80, STC 770 = NST_, STD 1009 = STD_,
#: STE 28 = STE_, SVT 27 = SVTAC, PSVT 24, VBig 82 = BIGU, VTrig 20 = TRIGU, AnMIs 44 = ISCAN,
#: IIs 219 = ISCIN, LIs 142 = ISCLA. The 22 shared challenge ``HR`` records (PTB-XL ECGs) check the
#: table record by record (:func:`mapping_agreement`).
#:
#: Limits and choices:
#:
#: - ``NORM`` → sinus rhythm 426783006 as well as ``SR``: the challenge counts 18,092 NSR records in
#:   PTB-XL, more than the 16,782 ``SR`` statements, and HR00002 (``NORM``, ``SBRAD``, no ``SR``)
#:   carries 426783006.
#: - ``PVC`` → 164884008 "ventricular ectopics" (unscored), as the challenge labelled PTB-XL's PVC
#:   statements (1,154 such records vs 1,146 PVC statements; 0 scored PVC in PTB-XL). Matching the
#:   challenge keeps PTB-XL records and their challenge copies (``HR``) labelled alike, so a model is
#:   not taught a scored PVC that the challenge's own PTB-XL labels would count as a false positive.
#: - T-wave abnormal 164934002 (2,345 in PTB-XL) is more than ``NDT`` (1,829): ``NT_`` and ``TAB_``
#:   are added; ``LOWT`` (low T) may also have been counted by the challenge but is left unmapped.
#: - Myocardial infarction 164865005 (5,261) is the union of the infarction statements other than
#:   ``AMI``; myocardial ischemia 164861001 (2,175) is more than ``ISC_`` (1,275) alone: the other
#:   ischemia statements (``ISCAL``, ``ISCAS``, ``ISCIL``) and ``INJ*`` are left unmapped.
#: - Axis deviations come from the ``heart_axis`` column (:data:`HEART_AXIS_TO_SNOMED`), not from
#:   ``scp_codes``; HR00007 and HR00008 (``LAD``) carry 39732003. ``ALAD``/``ARAD`` are mapped too.
#: - Unmapped: ``DIG``, ``EL``, ``ANEUR``, ``VCLVH``, ``HVOLT``, ``LOWT``, ``PRC(S)``, ``INJ*``,
#:   ``ISCAL``, ``ISCAS``, ``ISCIL`` (no SNOMED CT concept of the challenge tables matches them
#:   verifiably); scan_ptbxl lists them per record in ``unmapped_scp``.
SCP_TO_SNOMED: dict[str, str] = {
    # rhythm statements
    "SR": "426783006",
    "NORM": "426783006",
    "AFIB": "164889003",
    "AFLT": "164890007",
    "STACH": "427084000",
    "SBRAD": "426177001",
    "SARRH": "427393009",
    "PACE": "10370003",
    "SVARR": "63593006",  # supraventricular premature beats, merged with PAC 284470004
    "SVTAC": "426761007",
    "PSVT": "67198005",
    "BIGU": "11157007",
    "TRIGU": "251180001",
    # conduction
    "1AVB": "270492004",
    "2AVB": "195042002",
    "3AVB": "27885002",
    "CRBBB": "713427006",  # merged with RBBB 59118001
    "CLBBB": "164909002",  # LBBB; 2021 merges it with CLBBB 733534002
    "IRBBB": "713426002",
    "ILBBB": "251120003",
    "LAFB": "445118002",
    "LPFB": "445211001",
    "IVCD": "698252002",
    "WPW": "74390002",
    "LPR": "164947007",
    "LNGQT": "111975006",
    # ectopy
    "PAC": "284470004",
    "PVC": "164884008",
    # voltage, QRS, Q wave
    "LVOLT": "251146004",
    "QWAVE": "164917005",
    "ABQRS": "164951009",
    # ST-T
    "NDT": "164934002",
    "NT_": "164934002",
    "TAB_": "164934002",
    "INVT": "59931005",
    "NST_": "55930002",
    "STD_": "429622005",
    "STE_": "164931005",
    # hypertrophy / enlargement
    "LVH": "164873001",
    "RVH": "89792004",
    "SEHYP": "266249003",
    "LAO/LAE": "67741000119109",
    "RAO/RAE": "446358003",
    # infarction and ischemia
    "AMI": "54329005",
    "IMI": "164865005",
    "ASMI": "164865005",
    "ALMI": "164865005",
    "ILMI": "164865005",
    "LMI": "164865005",
    "IPLMI": "164865005",
    "IPMI": "164865005",
    "PMI": "164865005",
    "ISC_": "164861001",
    "ISCAN": "426434006",
    "ISCIN": "425419005",
    "ISCLA": "425623009",
}

#: ``heart_axis`` column value → SNOMED CT (left / right axis deviation).
HEART_AXIS_TO_SNOMED: dict[str, str] = {
    "LAD": "39732003",
    "ALAD": "39732003",
    "RAD": "47665007",
    "ARAD": "47665007",
}


def load_scp_statements(root: str | os.PathLike[str]) -> pd.DataFrame:
    """``scp_statements.csv`` indexed by statement code."""
    csv = Path(root) / STATEMENTS_CSV
    if not csv.is_file():
        raise DataNotFoundError(f"{csv}: PTB-XL statement table not found")
    try:
        table = pd.read_csv(csv, index_col=0)
    except Exception as exc:
        raise RecordError(f"{csv}: unreadable statement table: {exc}") from None
    for column in ("diagnostic", "rhythm", "diagnostic_class"):
        if column not in table.columns:
            raise RecordError(f"{csv}: column {column!r} missing")
    return table


def _check_task(task: str) -> None:
    if task not in PTBXL_TASKS:
        raise ConfigError(f"PTB-XL task {task!r} unknown (choose from {', '.join(PTBXL_TASKS)})")


def task_classes(statements: pd.DataFrame, task: str) -> tuple[str, ...]:
    """Sorted class list of a PTB-XL task (all statements of the table, present in the data or not)."""
    _check_task(task)
    if task == "superdiagnostic":
        return tuple(sorted(statements["diagnostic_class"].dropna().astype(str).unique()))
    if task == "cinc":
        raise ConfigError("the 'cinc' task's classes come from load_cinc_classes(version)")
    column = "diagnostic" if task == "diagnostic" else "rhythm"
    return tuple(sorted(str(c) for c in statements.index[statements[column] == 1]))


def _kept(scp_codes: Mapping[str, float], min_likelihood: float | None) -> list[str]:
    return [c for c, v in scp_codes.items() if min_likelihood is None or v >= min_likelihood]


def ptbxl_labels(
    scp_codes: Mapping[str, float],
    statements: pd.DataFrame,
    task: str,
    *,
    min_likelihood: float | None = None,
) -> list[str]:
    """Labels of one record for a PTB-XL task (sorted, without duplicates)."""
    _check_task(task)
    codes = [c for c in _kept(scp_codes, min_likelihood) if c in statements.index]
    if task == "superdiagnostic":
        sub = statements.loc[codes]
        return sorted(set(sub.loc[sub["diagnostic"] == 1, "diagnostic_class"].dropna().astype(str)))
    if task == "cinc":
        raise ConfigError("use ptbxl_snomed for the 'cinc' task")
    column = "diagnostic" if task == "diagnostic" else "rhythm"
    return sorted({c for c in codes if statements.at[c, column] == 1})


def ptbxl_snomed(
    scp_codes: Mapping[str, float], heart_axis: Any = None, *, min_likelihood: float | None = None
) -> tuple[list[str], list[str]]:
    """SNOMED CT codes of a PTB-XL record (:data:`SCP_TO_SNOMED`, :data:`HEART_AXIS_TO_SNOMED`).

    Returns
    -------
    codes, unmapped
        The SNOMED CT codes (order of first appearance, no duplicates) and the statements that have
        no entry in the table.
    """
    codes: list[str] = []
    unmapped: list[str] = []
    for scp in _kept(scp_codes, min_likelihood):
        code = SCP_TO_SNOMED.get(scp)
        if code is None:
            unmapped.append(scp)
        elif code not in codes:
            codes.append(code)
    axis = HEART_AXIS_TO_SNOMED.get(str(heart_axis).strip()) if isinstance(heart_axis, str) else None
    if axis and axis not in codes:
        codes.append(axis)
    return codes, unmapped


def scan_ptbxl(
    root: str | os.PathLike[str],
    *,
    task: str = "superdiagnostic",
    sampling_rate: int = 100,
    version: str = "2021",
    min_likelihood: float | None = None,
    classes: CincClasses | None = None,
) -> RecordTable:
    """List PTB-XL records from ``ptbxl_database.csv`` with labels of ``task``.

    Parameters
    ----------
    root
        PTB-XL folder (``ptbxl_database.csv``, ``scp_statements.csv``, ``records100/``, ``records500/``).
    task
        One of :data:`PTBXL_TASKS`; ``"cinc"`` labels with the CinC ``version`` classes.
    sampling_rate
        100 or 500: which signal files the rows point at.
    version
        CinC class set for ``task="cinc"``.
    min_likelihood
        Keep only statements with at least this likelihood (default: all, as Strodthoff et al.).
    classes
        CinC classes for ``task="cinc"`` (default: :func:`~ecglab.datasets.cinc.load_cinc_classes`).

    Returns
    -------
    RecordTable
        Rows in ``ecg_id`` order with extra columns ``ecg_id``, ``strat_fold``, ``scp_codes`` and
        ``unmapped_scp``. ``dx`` holds the mapped SNOMED CT codes; ``unscored`` the codes (SNOMED CT
        for ``cinc``, SCP otherwise) that give no class. Records whose signal file is absent, and
        for PTB-XL tasks records without a label of the task, are in ``failures``.
    """
    _check_task(task)
    if sampling_rate not in (100, 500):
        raise ConfigError(f"PTB-XL ships 100 and 500 Hz records, not {sampling_rate} Hz")
    root = Path(root)
    database = load_database(root)
    if task == "cinc":
        cinc = classes or load_cinc_classes(version)
        class_ids, names = cinc.codes, cinc.abbreviations
    else:
        statements = load_scp_statements(root)
        class_ids = names = task_classes(statements, task)
    column = "filename_lr" if sampling_rate == 100 else "filename_hr"
    position = {c: i for i, c in enumerate(class_ids)}
    rows: list[dict[str, Any]] = []
    labels: list[np.ndarray] = []
    failures: list[str] = []
    for ecg_id, row in database.iterrows():
        rel = row[column]
        if not isinstance(rel, str) or not rel.strip():
            failures.append(f"{root / 'ptbxl_database.csv'}: ecg_id {ecg_id} has no {sampling_rate} Hz file")
            continue
        base = root / rel
        if not base.with_suffix(".hea").is_file():
            failures.append(f"{base}.hea: PTB-XL record listed in the table but not found")
            continue
        scp = parse_scp_codes(row["scp_codes"])
        dx, unmapped = ptbxl_snomed(scp, row.get("heart_axis"), min_likelihood=min_likelihood)
        if task == "cinc":
            y = encode_dx(dx, cinc)
            unscored = [c for c in dx if cinc.index(c) is None]
        else:
            task_labels = ptbxl_labels(scp, statements, task, min_likelihood=min_likelihood)
            if not task_labels:
                failures.append(
                    f"{base}: no {task} statement in {sorted(scp)} (dropped, as Strodthoff et al.)"
                )
                continue
            y = np.zeros(len(class_ids), dtype=np.float32)
            y[[position[c] for c in task_labels]] = 1.0
            unscored = [c for c in scp if c not in task_labels and c not in position]
        rows.append(_row(base, int(ecg_id), row, sampling_rate, dx, unscored, scp, unmapped))
        labels.append(y)
    frame = pd.DataFrame(rows, columns=[*ROW_COLUMNS, "ecg_id", "strat_fold", "scp_codes", "unmapped_scp"])
    frame["ptbxl_ecg_id"] = frame["ptbxl_ecg_id"].astype("Int64")
    y_all = np.stack(labels) if labels else np.zeros((0, len(class_ids)), dtype=np.float32)
    return RecordTable(frame, y_all, class_ids, names, failures)


def _row(
    base: Path,
    ecg_id: int,
    row: pd.Series,
    fs: int,
    dx: list[str],
    unscored: list[str],
    scp: dict[str, float],
    unmapped: list[str],
) -> dict[str, Any]:
    age = row.get("age")
    age = float("nan") if pd.isna(age) else min(float(age), 90.0)  # 300 = "over 89" in PTB-XL
    sex = row.get("sex")
    return {
        "record_id": base.name,
        "path": str(base),
        "kind": "wfdb",
        "dataset": "ptbxl",
        "source": "ptbxl",
        "patient_id": f"ptbxl:{int(row['patient_id'])}"
        if pd.notna(row["patient_id"])
        else f"ptbxl-ecg:{ecg_id}",
        "fs": float(fs),
        "n_samples": _SECONDS * fs,
        "n_leads": 12,
        "age": age,
        "sex": {0: "M", 1: "F"}.get(int(sex)) if pd.notna(sex) else None,  # PTB-XL: 0 male, 1 female
        "dx": dx,
        "unscored": unscored,
        "ptbxl_ecg_id": ecg_id,
        "ecg_id": ecg_id,
        "strat_fold": int(row["strat_fold"]),
        "scp_codes": scp,
        "unmapped_scp": unmapped,
    }


def mapping_agreement(
    cinc: RecordTable, ptbxl_root: str | os.PathLike[str], *, classes: CincClasses | None = None
) -> dict[str, Any]:
    """Compare :data:`SCP_TO_SNOMED` on PTB-XL statements with the challenge's own ``HR`` labels.

    Parameters
    ----------
    cinc
        A :func:`~ecglab.datasets.cinc.scan_cinc` table; its ``HR`` rows whose ``ecg_id`` is in the
        PTB-XL table are compared.
    ptbxl_root
        PTB-XL folder.
    classes
        CinC classes to compare on (default: those of the 2021 challenge).

    Returns
    -------
    dict
        ``n_records``; ``scored_exact`` (records whose scored-class vectors agree exactly);
        ``per_class`` {abbreviation: {tp, fp, fn}} over scored classes with any disagreement or
        positive (fp: mapped but not in the challenge header); ``code_jaccard`` (mean Jaccard index
        of all codes, scored or not, after merging equivalent codes); ``records`` (per record:
        ``record_id``, ``ecg_id``, ``challenge``, ``mapped``, ``missing``, ``extra``);
        ``not_in_table`` (HR records whose ecg_id the PTB-XL table lacks).
    """
    classes = classes or load_cinc_classes("2021")
    database = load_database(ptbxl_root)
    hr = cinc.rows[cinc.rows["ptbxl_ecg_id"].notna()]
    records, not_in_table = [], []
    tp = np.zeros(len(classes), dtype=np.int64)
    fp, fn = tp.copy(), tp.copy()
    exact, jaccard = 0, []
    for _, r in hr.iterrows():
        ecg_id = int(r["ptbxl_ecg_id"])
        if ecg_id not in database.index:
            not_in_table.append(r["record_id"])
            continue
        row = database.loc[ecg_id]
        mapped, _ = ptbxl_snomed(parse_scp_codes(row["scp_codes"]), row.get("heart_axis"))
        truth = {classes.canonical(c) for c in r["dx"]}
        ours = {classes.canonical(c) for c in mapped}
        y_true, y_ours = encode_dx(truth, classes), encode_dx(ours, classes)
        tp += (y_true * y_ours).astype(np.int64)
        fp += ((1 - y_true) * y_ours).astype(np.int64)
        fn += (y_true * (1 - y_ours)).astype(np.int64)
        exact += bool(np.array_equal(y_true, y_ours))
        jaccard.append(len(truth & ours) / len(truth | ours) if truth | ours else 1.0)
        records.append(
            {
                "record_id": r["record_id"],
                "ecg_id": ecg_id,
                "challenge": sorted(truth),
                "mapped": sorted(ours),
                "missing": sorted(truth - ours),
                "extra": sorted(ours - truth),
            }
        )
    per_class = {
        classes.abbreviations[i]: {"tp": int(tp[i]), "fp": int(fp[i]), "fn": int(fn[i])}
        for i in range(len(classes))
        if tp[i] + fp[i] + fn[i]
    }
    return {
        "n_records": len(records),
        "scored_exact": exact,
        "per_class": per_class,
        "code_jaccard": float(np.mean(jaccard)) if jaccard else float("nan"),
        "records": records,
        "not_in_table": not_in_table,
    }
