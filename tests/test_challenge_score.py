"""The PhysioNet/CinC 2020 and 2021 scorer: hand-computed metrics, file formats, equivalences, CLI.

``benchmarks/score_vs_official.py`` compares the same code with the official scripts on random cases.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecglab.cli.main import run
from ecglab.errors import ConfigError, DataNotFoundError, RecordError
from ecglab.metrics.challenge import (
    NORMAL_CLASS,
    ScoringError,
    accuracy,
    auc_scores,
    beta_measures,
    challenge_metric,
    encode_outputs,
    f_measure,
    load_label_dir,
    load_output_dir,
    load_tables,
    modified_confusion_matrix,
    read_dx_codes,
    read_output_file,
    score,
    score_directories,
    write_output_file,
)

# A 3-class toy problem: classes A, B and the normal class N. Rows of W are labels, columns outputs.
CLASSES = ["A", "B", "N"]
W = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
LABELS = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)  # r1: A, r2: A+B, r3: N


def _header(folder: Path, record: str, dx_line: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{record}.hea").write_text(f"{record} 12 500 5000\n#Age: 61\n#Sex: Male\n{dx_line}\n")


# ------------------------------------------------------------------------------------- challenge metric


def test_challenge_metric_three_records_custom_weights():
    outputs = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=bool)  # r1: B, r2: A, r3: N
    # Observed A: r1 |{A}∪{B}|=2 -> A[A,B]=1/2; r2 |{A,B}∪{A}|=2 -> A[A,A]=1/2, A[B,A]=1/2; r3 -> A[N,N]=1.
    expected_a = np.array([[0.5, 0.5, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(modified_confusion_matrix(LABELS, outputs), expected_a)
    # observed = 1*0.5 + 0.5*0.5 + 0.5*0.5 + 1*1 = 2.0
    # correct (outputs = labels): r1 W[A,A]=1; r2 (1 + .5 + .5 + 1)/2 = 1.5; r3 1 -> 3.5
    # inactive (always N): r1 W[A,N]/2 = 0; r2 (W[A,N] + W[B,N])/3 = 0; r3 W[N,N] = 1 -> 1.0
    # metric = (2.0 - 1.0) / (3.5 - 1.0) = 0.4
    assert challenge_metric(LABELS, outputs, W, CLASSES, "N") == pytest.approx(0.4, abs=1e-12)


def test_normal_class_rule_fixes_the_scale_and_empty_outputs_earn_nothing():
    inactive = np.zeros_like(LABELS)
    inactive[:, 2] = True
    assert challenge_metric(LABELS, LABELS, W, CLASSES, "N") == pytest.approx(1.0)
    assert challenge_metric(LABELS, inactive, W, CLASSES, "N") == pytest.approx(0.0)
    # No positive output at all: observed = 0, so (0 - 1.0) / (3.5 - 1.0) = -0.4 (no normal class added).
    empty = np.zeros_like(LABELS)
    assert challenge_metric(LABELS, empty, W, CLASSES, "N") == pytest.approx(-0.4)
    # Only normal records: correct == inactive, the official scripts then return 0.0.
    only_normal = np.array([[0, 0, 1], [0, 0, 1]], dtype=bool)
    assert challenge_metric(only_normal, only_normal, W, CLASSES, "N") == 0.0
    with pytest.raises(ScoringError, match="normal class"):
        challenge_metric(LABELS, LABELS, W, CLASSES, "X")


def test_normal_label_next_to_another_class_is_kept(tmp_path):
    # The final scripts no longer drop the normal label when another class is positive.
    tables = load_tables("2021")
    _header(tmp_path, "R1", f"#Dx: {NORMAL_CLASS},164889003")
    _, labels = load_label_dir(tmp_path, tables)
    assert labels[0, tables.normal_index] and labels[0, tables.class_index("164889003")]
    assert labels.sum() == 2


# ------------------------------------------------------------------------------------ F, F-beta, G-beta


def test_f_measure_accuracy_and_beta_measures_by_hand():
    labels = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    outputs = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    # Counts: class 0 tp=1 (r1) fn=1 (r2) fp=1 (r3) -> F1 = 2/(2+1+1) = 0.5; class 1 tp=2 -> F1 = 1.
    macro, per_class = f_measure(labels, outputs)
    np.testing.assert_allclose(per_class, [0.5, 1.0])
    assert macro == pytest.approx(0.75)
    assert accuracy(labels, outputs) == pytest.approx(1 / 3)  # only r1 matches exactly
    # Label-normalised counts (r2 has two labels, weight 1/2):
    # class 0: tp=1, fn=0.5, fp=1 -> F2 = 5/(5 + 1 + 4*0.5) = 0.625, G2 = 1/(1 + 1 + 2*0.5) = 1/3
    # class 1: tp=0.5+1=1.5, fp=fn=0 -> F2 = G2 = 1
    f_beta, g_beta = beta_measures(labels, outputs, beta=2)
    assert f_beta == pytest.approx((0.625 + 1) / 2)
    assert g_beta == pytest.approx((1 / 3 + 1) / 2)


def test_f_measure_leaves_classes_without_labels_or_outputs_out():
    labels = np.array([[1, 0], [0, 0]], dtype=bool)
    macro, per_class = f_measure(labels, labels)
    assert per_class[0] == 1.0 and math.isnan(per_class[1])
    assert macro == 1.0


# ------------------------------------------------------------------------------------------ AUROC/AUPRC


def test_auroc_auprc_official_threshold_sweep_by_hand():
    labels = np.array([[1], [0], [1], [0]], dtype=bool)
    scores = np.array([[0.9], [0.8], [0.8], [0.1]])
    # thresholds 1.9, 0.9, 0.8, 0.1 -> (tp, fp) = (0,0), (1,0), (2,1), (2,2); P = N = 2
    # tpr 0, .5, 1, 1; tnr 1, 1, .5, 0; ppv nan, 1, 2/3, 1/2
    # AUROC = .5*.5*(1+1) + .5*.5*(1+.5) + 0 = 0.875; AUPRC = .5*1 + .5*(2/3) + 0 = 5/6
    auroc, auprc, per_roc, per_prc = auc_scores(labels, scores)
    assert auroc == pytest.approx(0.875) and per_roc[0] == pytest.approx(0.875)
    assert auprc == pytest.approx(5 / 6) and per_prc[0] == pytest.approx(5 / 6)


def test_auc_of_a_class_without_negatives_or_positives():
    labels = np.array([[1, 0], [1, 0]], dtype=bool)
    scores = np.array([[0.3, 0.2], [0.7, 0.9]])
    auroc, auprc, per_roc, per_prc = auc_scores(labels, scores)
    # class 0: no negatives -> specificity undefined -> AUROC NaN; AUPRC = .5*1 + .5*1 = 1
    # class 1: no positives -> both NaN; the macro means skip NaN.
    assert math.isnan(per_roc[0]) and per_prc[0] == pytest.approx(1.0)
    assert math.isnan(per_roc[1]) and math.isnan(per_prc[1])
    assert math.isnan(auroc) and auprc == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- tables


def test_tables_classes_equivalences_and_weights():
    t20, t21 = load_tables("2020"), load_tables("cinc2021")
    assert len(t20.classes) == 24 and len(t21.classes) == 26
    assert ("713427006", "59118001") in t20.equivalent_classes
    assert ("733534002", "164909002") in t21.equivalent_classes
    assert t20.class_index("59118001") == t20.class_index("713427006")
    assert t21.class_index("164909002") == t21.classes.index("733534002|164909002")
    assert t20.class_index("164909002") != t20.class_index("733534002")  # not merged in 2020
    assert t21.abbreviations[t21.class_index("164909002")] == "CLBBB|LBBB"
    af, afl = t21.class_index("164889003"), t21.class_index("164890007")
    assert t21.weights[af, afl] == 0.5 and np.all(np.diag(t21.weights) == 1)
    np.testing.assert_array_equal(t20.weights, t20.weights.T)
    with pytest.raises(ConfigError, match="2019"):
        load_tables("2019")


# ----------------------------------------------------------------------------------------- label files


def test_dx_lines_with_and_without_space(tmp_path):
    _header(tmp_path, "R1", "#Dx: 164889003,59118001")
    _header(tmp_path, "R2", "# Dx: 426783006 , 10000001")  # unscored 10000001 is dropped
    assert read_dx_codes(tmp_path / "R2.hea") == ["426783006", "10000001"]
    tables = load_tables("2020")
    ids, labels = load_label_dir(tmp_path, tables)
    assert ids == ["R1", "R2"]
    assert set(np.flatnonzero(labels[0])) == {
        tables.class_index("164889003"),
        tables.class_index("713427006"),
    }
    assert list(np.flatnonzero(labels[1])) == [tables.normal_index]


def test_missing_label_folder_and_empty_folder(tmp_path):
    tables = load_tables("2020")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_label_dir(tmp_path / "nope", tables)
    with pytest.raises(DataNotFoundError, match=r"no \.hea"):
        load_label_dir(tmp_path, tables)


# ---------------------------------------------------------------------------------------- output files


def test_output_file_round_trip(tmp_path):
    path = write_output_file(tmp_path / "R1.csv", "R1", ["164889003", "426783006"], [1, 0], [0.75, 0.125])
    assert path.read_text() == "#R1\n164889003,426783006\n1,0\n0.75,0.125\n"
    parsed = read_output_file(path)
    assert parsed.record_id == "R1" and parsed.classes == ("164889003", "426783006")
    np.testing.assert_array_equal(parsed.binary, [True, False])
    np.testing.assert_array_equal(parsed.scores, [0.75, 0.125])
    with pytest.raises(ScoringError):
        write_output_file(tmp_path / "bad.csv", "R1", ["a", "b"], [1], [0.5, 0.5])


def test_equivalent_output_columns_are_merged_per_year(tmp_path):
    path = tmp_path / "R1.csv"
    path.write_text("#R1\n713427006,59118001,10000001\n0,1,1\n0.2,nan,0.9\n")
    parsed = read_output_file(path)
    for version, expected_score in (("2020", 0.2), ("2021", 0.1)):
        tables = load_tables(version)
        binary, scores = encode_outputs(parsed, tables)
        j = tables.class_index("713427006")
        # positive because 59118001 is; 2020 averages with nanmean -> 0.2, 2021 counts NaN as 0 -> 0.1
        assert binary[j] and binary.sum() == 1
        assert scores[j] == pytest.approx(expected_score) and scores.sum() == pytest.approx(expected_score)
    # 2021 also reads a merged "a|b" column; 2020 does not know that spelling.
    path.write_text("#R1\n733534002|164909002\n1\n0.4\n")
    t21, t20 = load_tables("2021"), load_tables("2020")
    binary, scores = encode_outputs(read_output_file(path), t21)
    assert binary[t21.class_index("164909002")] and scores[t21.class_index("733534002")] == 0.4
    assert not encode_outputs(read_output_file(path), t20)[0].any()


def test_missing_output_counts_as_all_negative_and_is_reported(tmp_path):
    labels_dir, out_dir = tmp_path / "labels", tmp_path / "outputs"
    _header(labels_dir, "R1", "#Dx: 164889003")
    _header(labels_dir, "R2", "#Dx: 426783006")
    out_dir.mkdir()
    write_output_file(out_dir / "R1.csv", "R1", ["164889003"], [1], [0.9])
    tables = load_tables("2021")
    ids, _ = load_label_dir(labels_dir, tables)
    outputs = load_output_dir(out_dir, ids, tables)
    assert outputs.missing == ("R2",) and not outputs.binary[1].any() and not outputs.scores[1].any()
    result = score_directories(labels_dir, out_dir, "cinc2021")
    assert result["n_missing_outputs"] == 1 and result["missing_outputs"] == ["R2"]
    assert result["accuracy"] == 0.5  # R1 right, R2 (normal, nothing predicted) wrong


def test_malformed_output_names_file_and_line(tmp_path):
    labels_dir, out_dir = tmp_path / "labels", tmp_path / "outputs"
    _header(labels_dir, "R1", "#Dx: 164889003")
    out_dir.mkdir()
    bad = out_dir / "R1.csv"
    bad.write_text("#R1\n164889003,426783006\n1,0\n0.5\n")
    with pytest.raises(RecordError, match=r"R1\.csv:4: 1 fields"):
        score_directories(labels_dir, out_dir, "2020")
    bad.write_text("#R1\n164889003\n1.0\n0.5\n")  # the official scripts would silently read 1.0 as 0
    with pytest.raises(RecordError, match=r"R1\.csv:3: binary output '1.0'"):
        read_output_file(bad)
    result = score_directories(labels_dir, out_dir, "2020", strict=False)
    assert result["n_malformed_outputs"] == 0 and result["per_class"]["164889003"]["n_predicted"] == 0
    bad.write_text("#R1\n164889003\n")
    result = score_directories(labels_dir, out_dir, "2020", strict=False)
    assert result["malformed_outputs"] == ["R1"]


def test_score_checks_shapes_and_reports_every_metric():
    tables = load_tables("2020")
    n, c = 4, len(tables.classes)
    labels = np.zeros((n, c), dtype=bool)
    labels[:, tables.normal_index] = True
    result = score(labels, labels, labels.astype(float), tables)
    assert result["accuracy"] == 1.0 and result["f_measure"] == 1.0 and result["f_beta"] == 1.0
    assert result["challenge_metric"] == 0.0  # only normal records: correct == inactive
    assert len(result["per_class"]) == c
    assert "f_beta" not in score(
        np.zeros((1, 26), bool), np.zeros((1, 26), bool), np.zeros((1, 26)), load_tables("2021")
    )
    with pytest.raises(ScoringError, match="columns"):
        score(labels[:, :3], labels[:, :3], labels[:, :3], tables)


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_scores_a_folder_and_writes_json(tmp_path, capsys):
    labels_dir, out_dir = tmp_path / "labels", tmp_path / "outputs"
    tables = load_tables("2020")
    rng = np.random.default_rng(3)
    for i, dx in enumerate(["164889003", "426783006", "59118001,164889003", "426783006", "270492004"]):
        _header(labels_dir, f"R{i}", f"#Dx: {dx}")
        s = rng.random(len(tables.classes))
        write_output_file(out_dir / f"R{i}.csv", f"R{i}", tables.classes, s > 0.7, s)
    json_path = tmp_path / "scores.json"
    try:
        run(
            [
                "score",
                "cinc2020",
                "--labels",
                str(labels_dir),
                "--outputs",
                str(out_dir),
                "--json",
                str(json_path),
            ]
        )
    except SystemExit as exc:
        assert not exc.code
    printed = capsys.readouterr().out
    assert "Challenge metric" in printed and "CRBBB|RBBB" in printed
    saved = json.loads(json_path.read_text())
    expected = score_directories(labels_dir, out_dir, "2020")
    for key in ("auroc", "auprc", "accuracy", "f_measure", "f_beta", "g_beta", "challenge_metric"):
        assert (
            saved[key] == pytest.approx(expected[key]) if math.isfinite(expected[key]) else saved[key] is None
        )
    assert saved["n_records"] == 5 and saved["n_missing_outputs"] == 0


def test_cli_missing_label_folder_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run(["score", "cinc2021", "--labels", str(tmp_path / "nope"), "--outputs", str(tmp_path)])
    assert exc.value.code != 0
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------------------- integration


@pytest.mark.integration
@pytest.mark.parametrize("version", ["2020", "2021"])
def test_score_shared_challenge_headers_with_random_outputs(shared_data, tmp_path, version):
    root = shared_data / "cinc2020"
    labels_dir, out_dir = tmp_path / "labels", tmp_path / "outputs"
    labels_dir.mkdir()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.startswith(("malformed", "evaluation")):
            continue
        for header in folder.glob("*.hea"):
            shutil.copy(header, labels_dir / header.name)
    tables = load_tables(version)
    ids, labels = load_label_dir(labels_dir, tables)
    assert len(ids) == len(list(labels_dir.glob("*.hea"))) > 100 and labels.any(axis=1).mean() > 0.8
    rng = np.random.default_rng(0)
    for i, record in enumerate(ids):
        s = np.clip(0.4 * labels[i] + 0.6 * rng.random(len(tables.classes)), 0, 1)
        write_output_file(out_dir / f"{record}.csv", record, tables.classes, s > 0.5, s)
    result = score_directories(labels_dir, out_dir, version)
    for key in ("auroc", "auprc", "accuracy", "f_measure", "challenge_metric"):
        assert math.isfinite(result[key]), key
    assert 0.5 < result["auroc"] <= 1.0 and result["n_missing_outputs"] == 0
    assert -1.0 < result["challenge_metric"] < 1.0
