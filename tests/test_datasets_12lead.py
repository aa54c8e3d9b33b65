"""12-lead data layer: CinC classes and scanner, PTB-XL labels, the pool, folds, preprocessing, dataset."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import ecglab.datasets.cinc as cinc
from conftest import write_raw_wfdb
from ecglab.datasets.cinc import UnknownCodeWarning, encode_dx, load_cinc_classes, scan_cinc, source_of
from ecglab.datasets.pool import RecordTable, build_pool, link_ptbxl_patients
from ecglab.datasets.ptbxl import mapping_agreement, ptbxl_snomed, scan_ptbxl
from ecglab.datasets.splits import database_split, fold_split, patient_stratified_folds, ptbxl_fold_split
from ecglab.datasets.twelve_lead import TwelveLeadDataset, demographics
from ecglab.errors import ConfigError, LeadError, RecordError
from ecglab.io.challenge import write_challenge
from ecglab.io.leads import STANDARD_12
from ecglab.io.ptbxl import load_database
from ecglab.io.recording import Recording
from ecglab.signal.preprocess import (
    LEAD_SETS,
    PreprocessSpec,
    crop_or_pad,
    preprocess_recording,
    sliding_windows,
)

CRBBB, RBBB = "713427006", "59118001"
CLBBB, LBBB = "733534002", "164909002"
NSR, AF = "426783006", "164889003"


# ------------------------------------------------------------------------------------------ helpers
def twelve_lead(record_id: str, fs: float = 500.0, seconds: float = 2.0, **meta: object) -> Recording:
    """12 sines of different frequency and amplitude (mV), deterministic."""
    t = np.arange(int(fs * seconds)) / fs
    signal = np.stack([(0.2 + 0.05 * i) * np.sin(2 * np.pi * (1 + 0.5 * i) * t) for i in range(12)])
    return Recording(signal=signal, fs=fs, leads=STANDARD_12, record_id=record_id, meta=dict(meta))


def write_record(folder: Path, record_id: str, dx: list[str], **kw: object) -> Path:
    rec = twelve_lead(record_id, dx=dx, age=kw.pop("age", 60), sex=kw.pop("sex", "M"), **kw)
    return write_challenge(rec, folder)


def edit_header(base: Path, old: str, new: str) -> None:
    hea = base.with_suffix(".hea")
    hea.write_text(hea.read_text().replace(old, new))


@pytest.fixture(scope="module")
def classes21() -> cinc.CincClasses:
    return load_cinc_classes("2021")


@pytest.fixture(scope="module")
def challenge_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Challenge records of every source prefix, nested, plus the defects scan_cinc must survive."""
    root = tmp_path_factory.mktemp("cinc")
    write_record(root / "cpsc", "A0001", [RBBB], age=74, sex="M")
    write_record(root / "cpsc" / "extra", "Q0002", [LBBB, NSR], age=float("nan"), sex="F")
    write_record(root / "ptb", "S0003", [NSR])
    write_record(root / "ptbxl", "HR00001", ["251146004", NSR])
    write_record(root / "georgia", "E00005", [AF, "999999999"])  # 999999999: in no table
    write_record(root / "js", "JS10646", [AF])
    write_record(root / "js", "JS10647", [CRBBB, "284470004", "63593006"])
    write_record(root / "incart", "I0001", [NSR])
    spaced = write_record(root / "georgia", "E00006", [NSR])
    edit_header(spaced, "#Dx:", "# Dx:")
    no_dx = write_record(root / "georgia", "E00007", [NSR])
    edit_header(no_dx, f"#Dx: {NSR}\n", "")
    bad = write_record(root / "malformed_headers_georgia_v1", "E00015", [NSR])
    edit_header(bad, "E00015 12", "E00015.mat 12")
    return root


@pytest.fixture(scope="module")
def scanned(
    challenge_tree: Path, classes21: cinc.CincClasses
) -> tuple[RecordTable, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = scan_cinc(challenge_tree, classes=classes21)
    return table, [w for w in caught if issubclass(w.category, UnknownCodeWarning)]


def row_of(table: RecordTable, record_id: str) -> int:
    return int(np.flatnonzero(table.rows["record_id"] == record_id)[0])


# -------------------------------------------------------------------------------------- CinC classes
def test_class_sets_merge_equivalent_codes_as_the_official_scoring() -> None:
    c20, c21 = load_cinc_classes("2020"), load_cinc_classes("2021")
    assert (len(c20), len(c21)) == (24, 26)
    # 2021: canonical = first code of the header's "a|b".
    assert c21.canonical(LBBB) == CLBBB and c21.index(LBBB) == c21.index(CLBBB) == c21.codes.index(CLBBB)
    assert c21.abbreviations[c21.codes.index(CLBBB)] == "CLBBB"
    # 2020: both codes of a pair are separate weights rows; the official pair's first code is kept.
    assert RBBB not in c20.codes and c20.index(RBBB) == c20.codes.index(CRBBB)
    assert c20.index("63593006") == c20.codes.index("284470004")
    assert c20.index(LBBB) is not None and c20.index(CLBBB) is None  # no CLBBB merge before 2021
    for c in (c20, c21):
        assert c.weights.shape == (len(c), len(c))
        np.testing.assert_allclose(np.diag(c.weights), 1.0)
        np.testing.assert_allclose(c.weights, c.weights.T)
    with pytest.raises(ConfigError, match="2019"):
        load_cinc_classes("2019")


def test_encode_dx_sets_one_class_for_either_code_of_a_pair(classes21: cinc.CincClasses) -> None:
    y = encode_dx([RBBB, "17338001", "123"], classes21)
    assert y.dtype == np.float32 and y.shape == (26,)
    assert set(np.flatnonzero(y)) == {classes21.codes.index(CRBBB), classes21.codes.index("427172004")}
    assert encode_dx([CRBBB, RBBB], classes21).sum() == 1


@pytest.mark.parametrize(
    ("record_id", "source"),
    [
        ("A0001", "cpsc2018"),
        ("Q0002", "cpsc2018_extra"),
        ("S0549", "ptb"),
        ("HR21837", "ptbxl"),
        ("E10344", "georgia"),
        ("JS10646", "chapman_shaoxing"),
        ("JS10647", "ningbo"),
        ("I0075", "incart"),
        ("rec1", "unknown"),
    ],
)
def test_source_from_prefix(record_id: str, source: str) -> None:
    assert source_of(record_id) == source


# ---------------------------------------------------------------------------------------- scan_cinc
def test_scan_lists_good_records_and_reports_bad_ones(scanned: tuple[RecordTable, list]) -> None:
    table, _ = scanned
    ids = set(table.rows["record_id"])
    assert ids == {"A0001", "Q0002", "S0003", "HR00001", "E00005", "E00006", "JS10646", "JS10647", "I0001"}
    assert len(table.failures) == 1 and "E00007" in table.failures[0] and "#Dx" in table.failures[0]
    assert "\n" not in table.failures[0]
    assert "E00015" not in ids  # excluded folder: skipped, not a failure
    row = table.rows.iloc[row_of(table, "A0001")]
    assert (row["fs"], row["n_samples"], row["n_leads"], row["age"], row["sex"]) == (
        500.0,
        1000,
        12,
        74.0,
        "M",
    )
    assert row["patient_id"] == "cinc:A0001" and row["kind"] == "challenge" and row["dataset"] == "cinc2021"
    q = table.rows.iloc[row_of(table, "Q0002")]
    assert np.isnan(q["age"]) and q["sex"] == "F"
    assert dict(zip(table.rows["record_id"], table.rows["source"], strict=True))["JS10647"] == "ningbo"
    assert table.rows.iloc[row_of(table, "HR00001")]["ptbxl_ecg_id"] == 1


def test_scan_labels_merge_equivalents_and_read_spaced_dx(
    scanned: tuple[RecordTable, list], classes21: cinc.CincClasses
) -> None:
    table, _ = scanned
    y = dict(zip(table.rows["record_id"], table.y, strict=True))
    assert y["A0001"][classes21.codes.index(CRBBB)] == 1 and y["A0001"].sum() == 1
    assert y["Q0002"][classes21.codes.index(CLBBB)] == 1 and y["Q0002"].sum() == 2
    assert y["JS10647"].sum() == 2  # CRBBB + PAC (284470004 and 63593006 are one class)
    assert y["E00006"][classes21.codes.index(NSR)] == 1  # "# Dx:" read like "#Dx:"


def test_scan_keeps_unknown_codes_and_warns_once(scanned: tuple[RecordTable, list]) -> None:
    table, unknown = scanned
    e5 = table.rows.iloc[row_of(table, "E00005")]
    assert "999999999" in e5["dx"] and e5["unscored"] == ["999999999"]
    assert len(unknown) == 1 and "999999999 (1)" in str(unknown[0].message)


def test_scan_reports_malformed_header_when_not_excluded(challenge_tree: Path) -> None:
    table = scan_cinc(challenge_tree / "malformed_headers_georgia_v1", exclude=())
    assert len(table) == 0 and len(table.failures) == 1 and "malformed header" in table.failures[0]


def test_scan_reports_missing_signal_file_and_short_header(
    tmp_path: Path, classes21: cinc.CincClasses
) -> None:
    write_record(tmp_path, "A0001", [NSR])
    Path(write_record(tmp_path, "A0002", [NSR])).with_suffix(".mat").unlink()
    short = write_record(tmp_path, "A0003", [NSR])
    edit_header(short, "A0003 12 ", "A0003 13 ")
    table = scan_cinc(tmp_path, classes=classes21)
    assert list(table.rows["record_id"]) == ["A0001"]
    assert len(table.failures) == 2
    assert "A0002.mat" in table.failures[0] and "not found" in table.failures[0]
    assert "13 signal(s) but 12" in table.failures[1]


def test_scan_of_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no such directory"):
        scan_cinc(tmp_path / "nope")


# -------------------------------------------------------------------------------------------- PTB-XL
STATEMENTS = """,description,diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass
NORM,normal ECG,1.0,,,NORM,NORM
IMI,inferior MI,1.0,,,MI,IMI
CRBBB,complete RBBB,1.0,,,CD,CRBBB
LVH,left ventricular hypertrophy,1.0,,,HYP,LVH
NDT,non-diagnostic T,1.0,1.0,,STTC,STTC
PVC,ventricular premature complex,,1.0,,,
SR,sinus rhythm,,,1.0,,
AFIB,atrial fibrillation,,,1.0,,
"""


@pytest.fixture(scope="module")
def ptbxl_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five PTB-XL-like records at 100 Hz (ecg_id 1-5; patient 7 has two records; no file for 5)."""
    root = tmp_path_factory.mktemp("ptbxl")
    (root / "scp_statements.csv").write_text(STATEMENTS)
    rows = [
        (1, 7, 56, 1, "{'NORM': 100.0, 'SR': 0.0}", None, 3),
        (2, 7, 300, 0, "{'IMI': 50.0, 'CRBBB': 100.0, 'SR': 0.0}", "LAD", 9),
        (3, 8, np.nan, 0, "{'NDT': 100.0, 'PVC': 0.0, 'AFIB': 0.0}", None, 10),
        (4, 9, 40, 1, "{'PVC': 0.0, 'SR': 0.0}", "RAD", 1),
        (5, 9, 41, 1, "{'NORM': 100.0}", None, 2),
    ]
    table = pd.DataFrame(
        rows, columns=["ecg_id", "patient_id", "age", "sex", "scp_codes", "heart_axis", "strat_fold"]
    )
    table["filename_lr"] = [f"records100/00000/{i:05d}_lr" for i in table["ecg_id"]]
    table["filename_hr"] = ""
    table.to_csv(root / "ptbxl_database.csv", index=False)
    rng = np.random.default_rng(1)
    for ecg_id in (1, 2, 3, 4):
        folder = root / "records100" / "00000"
        folder.mkdir(parents=True, exist_ok=True)
        write_raw_wfdb(
            folder,
            f"{ecg_id:05d}_lr",
            sig_names=STANDARD_12,
            fs=100,
            n=1000,
            signal=rng.normal(0, 0.3, (1000, 12)),
        )
    return root


def test_ptbxl_superdiagnostic_labels_and_metadata(ptbxl_root: Path) -> None:
    table = scan_ptbxl(ptbxl_root, task="superdiagnostic")
    assert table.classes == ("CD", "HYP", "MI", "NORM", "STTC")
    # ecg_id 4 has no diagnostic statement (dropped), ecg_id 5 has no file.
    assert list(table.rows["ecg_id"]) == [1, 2, 3]
    assert len(table.failures) == 2 and any("ecg_id 5" in f or "00005" in f for f in table.failures)
    np.testing.assert_array_equal(table.y, [[0, 0, 0, 1, 0], [1, 0, 1, 0, 0], [0, 0, 0, 0, 1]])
    rows = table.rows
    assert list(rows["patient_id"]) == ["ptbxl:7", "ptbxl:7", "ptbxl:8"]
    assert rows["age"].iloc[1] == 90.0 and np.isnan(rows["age"].iloc[2])  # 300 = over 89
    assert list(rows["sex"]) == ["F", "M", "M"] and list(rows["strat_fold"]) == [3, 9, 10]
    assert (rows["fs"] == 100).all() and (rows["n_samples"] == 1000).all()


def test_ptbxl_diagnostic_and_rhythm_tasks(ptbxl_root: Path) -> None:
    diag = scan_ptbxl(ptbxl_root, task="diagnostic")
    assert diag.classes == ("CRBBB", "IMI", "LVH", "NDT", "NORM")  # sorted, absent ones included
    assert diag.class_counts() == {"CRBBB": 1, "IMI": 1, "LVH": 0, "NDT": 1, "NORM": 1}
    rhythm = scan_ptbxl(ptbxl_root, task="rhythm")
    assert rhythm.classes == ("AFIB", "SR") and list(rhythm.rows["ecg_id"]) == [1, 2, 3, 4]
    strict = scan_ptbxl(ptbxl_root, task="diagnostic", min_likelihood=60)
    assert strict.class_counts() == {"CRBBB": 1, "IMI": 0, "LVH": 0, "NDT": 1, "NORM": 1}
    with pytest.raises(ConfigError, match="form"):
        scan_ptbxl(ptbxl_root, task="form")


def test_ptbxl_cinc_task_maps_statements_to_snomed(ptbxl_root: Path, classes21: cinc.CincClasses) -> None:
    table = scan_ptbxl(ptbxl_root, task="cinc")
    assert table.classes == classes21.codes
    y = {int(e): v for e, v in zip(table.rows["ecg_id"], table.y, strict=True)}
    idx = {a: i for i, a in enumerate(classes21.abbreviations)}
    assert np.flatnonzero(y[1]).tolist() == [idx["NSR"]]
    assert set(np.flatnonzero(y[2])) == {idx["CRBBB"], idx["NSR"], idx["LAD"]}  # LAD from heart_axis
    # PVC statements become "ventricular ectopics" (unscored), as the challenge's own PTB-XL labels.
    assert set(np.flatnonzero(y[3])) == {idx["TAb"], idx["AF"]}
    assert set(np.flatnonzero(y[4])) == {idx["NSR"], idx["RAD"]}
    assert "164884008" in table.rows["unscored"].iloc[3]
    assert table.rows["unscored"].iloc[1] == ["164865005"]  # IMI → myocardial infarction, unscored
    assert ptbxl_snomed({"NORM": 100.0, "DIG": 0.0}) == (["426783006"], ["DIG"])


# ---------------------------------------------------------------------------------------------- pool
def test_concat_keeps_one_copy_of_a_ptbxl_ecg(scanned: tuple[RecordTable, list], ptbxl_root: Path) -> None:
    challenge, _ = scanned
    ptbxl = scan_ptbxl(ptbxl_root, task="cinc")
    linked = link_ptbxl_patients(challenge, load_database(ptbxl_root))
    assert linked.rows.iloc[row_of(linked, "HR00001")]["patient_id"] == "ptbxl:7"
    pool = RecordTable.concat([ptbxl, linked])  # challenge copy wins whatever the order
    assert len(pool) == len(challenge) + len(ptbxl) - 1
    assert pool.rows["ptbxl_ecg_id"].dropna().tolist().count(1) == 1
    kept = pool.rows[pool.rows["ptbxl_ecg_id"] == 1].iloc[0]
    assert kept["record_id"] == "HR00001" and kept["dataset"] == "cinc2021"
    # Patient 7: HR00001 (ecg 1) and ecg 2 share a patient id across collections.
    assert (pool.rows["patient_id"] == "ptbxl:7").sum() == 2
    sub = pool.subset([2, 0])
    assert list(sub.rows["record_id"]) == [pool.rows["record_id"][2], pool.rows["record_id"][0]]
    np.testing.assert_array_equal(sub.y, pool.y[[2, 0]])
    with pytest.raises(RecordError, match="different classes"):
        RecordTable.concat([pool, scan_ptbxl(ptbxl_root, task="rhythm")])


def test_build_pool_rejects_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="choose from"):
        build_pool(tmp_path, sources=("mitdb",))
    with pytest.raises(ConfigError, match="PTB-XL task"):
        build_pool(tmp_path, sources=("cinc", "ptbxl"), task="superdiagnostic")


# -------------------------------------------------------------------------------------------- splits
def make_multilabel(n_patients: int = 60, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """1-3 records per patient; 4 classes, class 3 rare (10 patients)."""
    rng = np.random.default_rng(seed)
    y_rows, groups = [], []
    for p in range(n_patients):
        base = np.array([p % 2, (p // 2) % 2, p % 3 == 0, p < 10], dtype=np.float32)
        for _ in range(rng.integers(1, 4)):
            y_rows.append(base * (rng.random(4) < 0.8))
            groups.append(f"p{p}")
    return np.stack(y_rows), np.array(groups, dtype=object)


def test_folds_are_patient_disjoint_stratified_and_deterministic() -> None:
    y, groups = make_multilabel()
    folds = patient_stratified_folds(y, groups, n_folds=5, seed=0)
    assert folds.shape == (len(y),) and set(folds) == set(range(5))
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1  # a patient lives in one fold
    for k in range(5):
        assert (y[folds == k].sum(axis=0) > 0).all()  # every class in every fold
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 0.5 * sizes.mean()
    np.testing.assert_array_equal(folds, patient_stratified_folds(y, groups, n_folds=5, seed=0))
    assert not np.array_equal(folds, patient_stratified_folds(y, groups, n_folds=5, seed=1))


def test_folds_need_enough_patients() -> None:
    y = np.eye(3, dtype=np.float32)
    with pytest.raises(ConfigError, match="3 patient"):
        patient_stratified_folds(y, ["a", "b", "c"], n_folds=5)
    with pytest.raises(RecordError, match="patient ids"):
        patient_stratified_folds(y, ["a", "b"], n_folds=2)


def test_fold_database_and_ptbxl_splits() -> None:
    train, val = fold_split(np.array([0, 1, 2, 1, 0]), 1)
    assert train.tolist() == [0, 2, 4] and val.tolist() == [1, 3]
    with pytest.raises(ConfigError, match="fold 7"):
        fold_split(np.array([0, 1]), 7)
    train, test = database_split(np.array(["ptbxl", "georgia", "ningbo", "georgia"]), ["georgia"])
    assert train.tolist() == [0, 2] and test.tolist() == [1, 3]
    with pytest.raises(ConfigError, match="incart"):
        database_split(["ptbxl"], ["incart"])
    folds = np.repeat(np.arange(1, 11), 10)
    train, val, test = ptbxl_fold_split(folds)
    assert (len(train), len(val), len(test)) == (80, 10, 10) and set(folds[test]) == {10}
    with pytest.warns(UserWarning, match="test fold 10 holds only 0"):
        ptbxl_fold_split(np.repeat(np.arange(1, 10), 10))


# ------------------------------------------------------------------------------------- preprocessing
def test_resample_length_and_lead_sets() -> None:
    rec = twelve_lead("r", fs=500, seconds=10)
    x = preprocess_recording(rec, PreprocessSpec(fs=100, leads=12))
    assert x.shape == (12, 1000) and x.dtype == np.float32
    six = preprocess_recording(rec, PreprocessSpec(fs=100, leads=6))
    assert PreprocessSpec(leads="6").leads == LEAD_SETS[6] == ("I", "II", "III", "aVR", "aVL", "aVF")
    np.testing.assert_allclose(six, x[:6], atol=1e-6)
    two = preprocess_recording(rec, PreprocessSpec(fs=100, leads=["V2", "I"]))
    np.testing.assert_allclose(two, x[[7, 0]], atol=1e-6)  # the spec's order, not the record's


def test_notch_removes_mains_and_bandpass_removes_dc() -> None:
    fs, t = 500.0, np.arange(5000) / 500.0
    ecg_like = 0.5 * np.sin(2 * np.pi * 5 * t)
    mains = 0.3 * np.sin(2 * np.pi * 50 * t)
    rec = Recording(signal=np.stack([ecg_like + mains + 2.0, ecg_like]), fs=fs, leads=("I", "II"))
    raw = PreprocessSpec(fs=500, leads=["I"], bandpass=None, normalize="none")
    notched = preprocess_recording(
        rec, PreprocessSpec(fs=500, leads=["I"], bandpass=None, notch=50, normalize="none")
    )

    def amp(x: np.ndarray, f: float) -> float:
        return 2 * abs(np.fft.rfft(x[0, 500:-500])[round(f * 4000 / fs)]) / 4000

    assert amp(preprocess_recording(rec, raw), 50) == pytest.approx(0.3, rel=0.05)
    assert amp(notched, 50) < 0.003  # > 40 dB down
    assert amp(notched, 5) == pytest.approx(0.5, rel=0.02)  # the ECG band is kept
    band = preprocess_recording(
        rec, PreprocessSpec(fs=500, leads=["I"], bandpass=(0.5, None), normalize="none")
    )
    assert abs(band[0, 500:-500].mean()) < 0.01 and abs(preprocess_recording(rec, raw)[0].mean() - 2.0) < 0.01


def test_zscore_nan_and_missing_leads() -> None:
    rec = twelve_lead("z", fs=100, seconds=10)
    signal = rec.signal.copy()
    signal[3, 100:200] = np.nan
    x = preprocess_recording(rec.replace(signal=signal), PreprocessSpec(fs=100, bandpass=None))
    valid = np.ones(1000, bool)
    valid[100:200] = False
    np.testing.assert_allclose(x[3, valid].mean(), 0, atol=1e-5)
    np.testing.assert_allclose(x[3, valid].std(), 1, atol=1e-4)
    assert (x[3, ~valid] == 0).all() and not np.isnan(x).any()
    np.testing.assert_allclose(x[0].std(), 1, atol=1e-4)
    flat = rec.replace(signal=np.vstack([rec.signal[:1], np.zeros((11, 1000), np.float32)]))
    assert np.abs(preprocess_recording(flat, PreprocessSpec(fs=100, bandpass=None))[1:]).max() == 0
    limb = rec.select(LEAD_SETS[6])
    with pytest.raises(LeadError, match="V1"):
        preprocess_recording(limb, PreprocessSpec(fs=100))
    padded = preprocess_recording(limb, PreprocessSpec(fs=100, missing="zeros"))
    assert padded.shape == (12, 1000) and (padded[6:] == 0).all() and padded[:6].std() > 0.5
    with pytest.raises(ConfigError):
        PreprocessSpec(leads=5)


def test_spec_round_trips_through_dict() -> None:
    spec = PreprocessSpec(fs=250, leads=3, bandpass=(1, 45), notch=60)
    again = PreprocessSpec.from_dict(spec.to_dict())
    assert again == spec and again.leads == ("I", "II", "V2")
    with pytest.raises(ConfigError, match="colour"):
        PreprocessSpec.from_dict({"colour": 1})


def test_crop_or_pad_and_sliding_windows() -> None:
    x = np.arange(20, dtype=np.float32).reshape(2, 10)
    np.testing.assert_array_equal(crop_or_pad(x, 4), x[:, 3:7])  # centre: (10 - 4) // 2 = 3
    starts = {int(crop_or_pad(x, 4, np.random.default_rng(s))[0, 0]) for s in range(50)}
    assert starts == set(range(7))  # every start 0..6 is drawn, none beyond
    np.testing.assert_array_equal(
        crop_or_pad(x, 4, np.random.default_rng(5)), crop_or_pad(x, 4, np.random.default_rng(5))
    )
    end = crop_or_pad(x, 13)
    np.testing.assert_array_equal(end[:, :10], x)
    assert (end[:, 10:] == 0).all()
    sym = crop_or_pad(x, 13, pad="symmetric")
    np.testing.assert_array_equal(sym[:, 1:11], x)
    assert (sym[:, [0, 11, 12]] == 0).all()
    w = sliding_windows(x, 4, 3)
    assert w.shape == (3, 2, 4)  # starts 0, 3, 6; 6 + 4 reaches the end, no extra window
    np.testing.assert_array_equal(w[:, 1, :], [x[1, 0:4], x[1, 3:7], x[1, 6:10]])
    w = sliding_windows(x, 4, 4)
    np.testing.assert_array_equal(w[:, 0, 0], [0, 4, 6])  # last window aligned with the end
    assert sliding_windows(x, 16, 4).shape == (1, 2, 16)


# ------------------------------------------------------------------------------------------- dataset
@pytest.fixture
def small_pool(tmp_path: Path, classes21: cinc.CincClasses) -> RecordTable:
    write_record(tmp_path, "A0001", [AF], age=70, sex="M")
    write_record(tmp_path, "A0002", [NSR], age=float("nan"), sex="F")
    rec = twelve_lead("A0003", fs=500, seconds=1.0, dx=[NSR], age=30, sex="F")  # shorter than a crop
    write_challenge(rec, tmp_path)
    return scan_cinc(tmp_path, classes=classes21)


def test_dataset_items_are_reproducible_crops(small_pool: RecordTable) -> None:
    spec = PreprocessSpec(fs=100)
    ds = TwelveLeadDataset(small_pool, spec, crop_samples=150, train=True, seed=4)
    item = ds[0]
    assert item["x"].shape == (12, 150) and item["x"].dtype == torch.float32
    assert item["y"].shape == (26,) and item["y"].sum() == 1 and item["index"] == 0
    np.testing.assert_allclose(item["demo"].numpy(), [0.7, 1.0, 0.0])
    np.testing.assert_allclose(ds[1]["demo"].numpy(), [0.0, 0.0, 1.0])
    twin = TwelveLeadDataset(small_pool, spec, crop_samples=150, train=True, seed=4)
    assert torch.equal(twin[0]["x"], item["x"])
    crops = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        crops.add(ds[0]["x"][0, :5].numpy().tobytes())
    assert len(crops) > 1  # epochs see different crops
    short = ds[2]["x"]
    assert (short[:, 100:] == 0).all() and short[:, :100].abs().sum() > 0  # 1 s at 100 Hz, padded at the end
    evaluation = TwelveLeadDataset(small_pool, spec, crop_samples=150, train=False)
    full = evaluation.signal(0)
    assert torch.equal(evaluation[0]["x"], torch.from_numpy(full[:, 25:175]))
    windows = evaluation.eval_windows(0)
    assert windows.shape == (2, 12, 150) and torch.equal(windows[-1], torch.from_numpy(full[:, 50:]))


def test_dataset_skips_unreadable_records_and_caches_on_disk(
    small_pool: RecordTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path(small_pool.rows["path"][0] + ".mat").unlink()
    cache = tmp_path / "cache"
    ds = TwelveLeadDataset(small_pool, PreprocessSpec(fs=100), crop_samples=100, train=False, cache_dir=cache)
    assert ds[0]["index"] == 1  # served by the next readable record
    assert ds.preload() == ds.failures and len(ds.failures) == 1 and "A0001" in ds.failures[0]
    assert len(list(cache.glob("*.npz"))) == 2
    import ecglab.datasets.twelve_lead as twelve_lead_module

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("read a record despite the disk cache")

    monkeypatch.setattr(twelve_lead_module, "read_record", no_reading)
    again = TwelveLeadDataset(
        small_pool, PreprocessSpec(fs=100), crop_samples=100, train=False, cache_dir=cache
    )
    np.testing.assert_array_equal(again.signal(1), ds.signal(1))


def test_demographics() -> None:
    np.testing.assert_allclose(demographics(None, None), [0, 0, 1])
    np.testing.assert_allclose(demographics(45.0, "M"), [0.45, 1, 0])
    np.testing.assert_allclose(demographics(pd.NA, "F"), [0, 0, 1])


# ----------------------------------------------------------------------------- real data (integration)
@pytest.mark.integration
def test_scan_cinc_on_shared_data(shared_data: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownCodeWarning)  # every 2021 code is in a 2021 table
        table = scan_cinc(shared_data / "cinc2020", version="2021")
    assert len(table) == 113 and table.failures == []
    assert not table.rows["record_id"].isin(["E00015", "E00018", "E00793"]).any()
    assert table.rows["source"].value_counts().to_dict() == {
        "ningbo": 30,
        "cpsc2018_extra": 29,
        "ptbxl": 22,
        "cpsc2018": 10,
        "chapman_shaoxing": 10,
        "georgia": 10,
        "ptb": 2,
    }
    assert (table.rows["n_leads"] == 12).all()
    everything = scan_cinc(shared_data / "cinc2020", version="2021", exclude=())
    assert len(everything) == 113 and len(everything.failures) == 3
    assert all("malformed header" in f for f in everything.failures)
    with pytest.warns(UnknownCodeWarning, match="5 SNOMED CT code"):
        scan_cinc(shared_data / "cinc2020", version="2020")


@pytest.mark.integration
def test_ptbxl_mapping_agrees_with_challenge_hr_records(shared_data: Path) -> None:
    table = scan_cinc(shared_data / "cinc2020", version="2021")
    report = mapping_agreement(table, shared_data / "ptbxl")
    # 10 of the 22 HR records (ecg_id 1-10) are in the shared PTB-XL table.
    assert report["n_records"] == 10 and len(report["not_in_table"]) == 12
    assert report["scored_exact"] == 8
    assert {k: v for k, v in report["per_class"].items() if v["fp"] or v["fn"]} == {
        "IAVB": {"tp": 0, "fp": 0, "fn": 1},  # HR00003: 1AVB not among ecg_id 3's statements
        "SA": {"tp": 0, "fp": 0, "fn": 1},  # HR00010: SARRH not among ecg_id 10's statements
    }
    assert report["per_class"]["NSR"] == {"tp": 10, "fp": 0, "fn": 0}
    assert report["per_class"]["LAD"] == {"tp": 2, "fp": 0, "fn": 0}


@pytest.mark.integration
def test_shared_pool_has_each_ptbxl_ecg_once(shared_data: Path) -> None:
    pool = build_pool(shared_data, version="2021", sampling_rate=100)
    assert len(pool) == 113 + 435 - 10 and pool.failures == []
    ecg = pool.rows["ptbxl_ecg_id"].dropna()
    assert ecg.is_unique
    folds = patient_stratified_folds(pool.y, pool.groups, n_folds=5, seed=0)
    for pid, fold in pd.Series(folds).groupby(pool.rows["patient_id"].to_numpy()):
        assert fold.nunique() == 1, pid
