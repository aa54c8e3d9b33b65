"""Integration: every real record in the shared PhysioNet data, checked against wfdb or the raw files.

The data root is ``$ECGLAB_DATA`` (``../shared/data`` for developers); on CI a missing root fails.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import wfdb

from ecglab.cli.main import run
from ecglab.errors import RecordError
from ecglab.io import detect_kind, iter_record_paths, read_record, read_wfdb

pytestmark = pytest.mark.integration

MITDB_RECORDS = [
    "100",
    "101",
    "102",
    "103",
    "104",
    "105",
    "106",
    "107",
    "108",
    "109",
    "111",
    "112",
    "113",
    "114",
    "115",
    "116",
    "117",
    "118",
    "119",
    "121",
    "122",
    "123",
    "124",
    "200",
    "201",
    "202",
    "203",
    "205",
    "207",
    "208",
    "209",
    "210",
    "212",
    "213",
    "214",
    "215",
    "217",
    "219",
    "220",
    "221",
    "222",
    "223",
    "228",
    "230",
    "231",
    "232",
    "233",
    "234",
]
# AAMI EC57 symbol classes; the totals over all 48 records are stated in shared/data/SOURCES.md.
AAMI = {**dict.fromkeys("NLRej", "N"), **dict.fromkeys("aSAJ", "S"), **dict.fromkeys("VE", "V"), "F": "F",
        **dict.fromkeys("/fQ", "Q")}  # fmt: skip
AAMI_TOTALS = {"N": 90631, "S": 2781, "V": 7236, "F": 803, "Q": 8043}


def test_all_48_mitdb_records_match_wfdb_and_the_published_beat_totals(shared_data):
    assert len(MITDB_RECORDS) == 48
    totals: Counter[str] = Counter()
    for name in MITDB_RECORDS:
        base = shared_data / "mitdb" / name
        rec = read_wfdb(base)
        ref = wfdb.rdrecord(str(base))
        assert rec.fs == 360 and rec.n_samples == 650000 and rec.n_leads == 2
        assert list(rec.leads) == ref.sig_name
        assert rec.meta["wfdb"]["adc_gain"] == ref.adc_gain and rec.meta["wfdb"]["fmt"] == ["212", "212"]
        np.testing.assert_allclose(rec.signal[:, :5000], ref.p_signal[:5000].T, atol=1e-6)
        ann = wfdb.rdann(str(base), "atr")
        assert rec.annotations.symbol == tuple(ann.symbol)
        np.testing.assert_array_equal(rec.annotations.sample, ann.sample)
        totals.update(AAMI[s] for s in rec.annotations.symbol if s in AAMI)
    assert dict(totals) == AAMI_TOTALS


def _challenge_headers(root: Path) -> list[Path]:
    return sorted(p for p in (root / "cinc2020").glob("*/*.hea") if "malformed" not in p.parent.name)


def test_every_challenge_record_reads_with_labels_and_matches_the_mat_file(shared_data):
    headers = _challenge_headers(shared_data)
    assert len(headers) == 113  # SOURCES.md says 116; the folders hold 113 (10+29+2+22+10+10+30)
    codes: set[str] = set()
    for hea in headers:
        assert detect_kind(hea) == "challenge"
        rec = read_record(hea)
        assert rec.n_leads == 12 and rec.meta["dx"], hea
        codes.update(rec.meta["dx"])
        # Independent check: the MAT v4 'val' matrix divided by the header gain.
        val = scipy.io.loadmat(str(hea.with_suffix(".mat")))["val"].astype(np.float64)
        gains = np.array(rec.meta["wfdb"]["adc_gain"])[:, None]
        baselines = np.array(rec.meta["wfdb"]["baseline"])[:, None]
        np.testing.assert_allclose(rec.signal, (val - baselines) / gains, atol=1e-5)
    assert len(codes) == 50  # SOURCES.md: 50 distinct SNOMED CT codes


def test_both_dx_spellings_occur_and_parse(shared_data):
    texts = [h.read_text() for h in _challenge_headers(shared_data)]
    assert any("\n#Dx:" in t for t in texts) and any("\n# Dx:" in t for t in texts)


@pytest.mark.parametrize("name", ["E00015", "E00018", "E00793"])
def test_malformed_georgia_headers_give_one_clear_line(shared_data, name):
    hea = shared_data / "cinc2020" / "malformed_headers_georgia_v1" / f"{name}.hea"
    with pytest.raises(RecordError) as info:
        read_record(hea)
    message = str(info.value)
    assert "\n" not in message and f"{name}.hea:1" in message and f"'{name}.mat'" in message


def test_every_ptbxl_record_reads_with_its_table_row(shared_data):
    root = shared_data / "ptbxl"
    table = pd.read_csv(root / "ptbxl_database.csv", index_col="ecg_id")
    headers = sorted(root.glob("records*/*/*.hea"))
    assert len(headers) == 485
    for hea in headers:
        rec = read_record(hea)
        ecg_id = int(hea.stem.split("_")[0])
        assert rec.meta["ecg_id"] == ecg_id and rec.meta["strat_fold"] == table.loc[ecg_id, "strat_fold"]
        assert rec.leads[:3] == ("I", "II", "III") and rec.n_leads == 12
        assert rec.fs == (100 if hea.stem.endswith("_lr") else 500) and rec.duration == 10
    ref = wfdb.rdrecord(str(root / "records500/00000/00001_hr"))
    np.testing.assert_allclose(
        read_record(root / "records500/00000/00001_hr.hea").signal, ref.p_signal.T, atol=1e-6
    )


def test_sph_nstdb_and_challenge2024_records(shared_data):
    for h5 in sorted((shared_data / "sph").glob("*.h5")):
        if h5.name == "SPH00005.h5":  # the sample's metadata.csv has no row for it
            with pytest.warns(UserWarning, match="no row"):
                rec = read_record(h5)
            assert "dx" not in rec.meta
        else:
            rec = read_record(h5)
            assert rec.meta["dx"]
        assert rec.fs == 500 and rec.n_leads == 12
    with pytest.warns(UserWarning, match="uncalibrated"):
        bw = read_record(shared_data / "nstdb" / "bw", allow_unknown_leads=True)
    assert bw.leads == ("noise1", "noise2")
    em = read_record(shared_data / "nstdb" / "118e00")
    assert len(em.annotations) == len(wfdb.rdann(str(shared_data / "nstdb" / "118e00"), "atr").sample)
    for hea in sorted((shared_data / "images" / "cinc2024_ptbxl").glob("*.hea")):
        rec = read_record(hea)
        assert rec.fs == 500 and rec.n_samples == 5000 and rec.n_leads == 12


def test_info_cli_over_every_shared_folder(shared_data, capsys):
    paths = list(iter_record_paths(shared_data))
    assert len(paths) > 650
    with pytest.raises(SystemExit) as exit_info:
        run(["info", "--json", str(shared_data)])
    assert exit_info.value.code == 1  # exactly the three malformed Georgia headers fail
    captured = capsys.readouterr()
    summaries = json.loads(captured.out)
    assert len(summaries) == len(paths) - 3
    assert "3 of" in captured.err and captured.err.count("malformed header") == 3
    assert "Traceback" not in captured.err
    by_record = {s["record"]: s for s in summaries}
    assert by_record["100"]["annotations"]["N"] == 2239 and by_record["100"]["per_lead"][0]["gain"] == 200
    assert by_record["A0001"]["dx"] == ["59118001"] and by_record["A0001"]["per_lead"][0]["units"] == "mV"


def test_info_cli_on_mitdb_exits_zero(shared_data, capsys):
    run(["info", str(shared_data / "mitdb" / "208")])  # returns normally: exit status 0
    out = capsys.readouterr().out
    assert "360 Hz" in out and "MLII" in out and "V:992" in out and "F:373" in out


def test_shipped_beat_model_on_two_ds2_records_end_to_end(shared_data, tmp_path):
    """The shipped weights load without pickle and classify unseen patients sensibly (full DS2
    figures: benchmarks/beats.py and the model card)."""
    from ecglab.evaluate import evaluate_beat_model
    from ecglab.predict import BeatClassifier

    result = evaluate_beat_model(BeatClassifier.from_pretrained("mitdb-beats"), ["100", "233"], tmp_path,
                                 data_root=str(shared_data), progress=False)  # fmt: skip
    e2e = result["end_to_end"]
    assert e2e["accuracy"] > 0.97 and e2e["per_class"]["V"]["f1"] > 0.9
    assert (tmp_path / "confusion_end_to_end.png").is_file() and (tmp_path / "per_record.csv").is_file()


def test_evaluate_cli_on_named_records(shared_data, tmp_path, capsys):
    run(["evaluate", "--records", "100", "--data", str(shared_data), "--out", str(tmp_path)])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["records"] == ["100"] and metrics["split"] == "records"
    assert metrics["reference_beats"]["n"] == 2273 and "(1 records)" in capsys.readouterr().out
