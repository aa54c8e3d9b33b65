"""Readers and writers on records the tests make: WFDB, challenge, CSV, PTB-XL, SPH."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import wfdb

from conftest import sine_recording, write_raw_wfdb
from ecglab.errors import RecordError
from ecglab.io import (
    Annotations,
    detect_kind,
    iter_record_paths,
    read_annotations,
    read_challenge,
    read_csv,
    read_ptbxl,
    read_record,
    read_sph,
    read_wfdb,
    write_annotations,
    write_challenge,
    write_csv,
    write_wfdb,
)
from ecglab.io.leads import STANDARD_12


@pytest.mark.parametrize("fmt", ["16", "24", "32", "80", "212"])
def test_wfdb_files_written_by_wfdb_read_like_wfdb(tmp_path, fmt):
    base = write_raw_wfdb(tmp_path, fmt=fmt, sig_names=("v1", "MLII"))
    rec = read_wfdb(base)
    ref = wfdb.rdrecord(str(base))
    assert rec.leads == ("V1", "MLII")
    assert rec.fs == 250 and rec.n_samples == 1000
    np.testing.assert_allclose(rec.signal, ref.p_signal.T, atol=1e-6)
    assert rec.meta["wfdb"]["fmt"] == [fmt, fmt]
    assert rec.annotations is None


@pytest.mark.parametrize(("unit", "scale"), [("uV", 1e-3), ("V", 1e3), ("mV", 1.0)])
def test_wfdb_units_are_converted_to_millivolts(tmp_path, unit, scale):
    x = np.random.default_rng(1).normal(0, 100, size=(500, 2))
    base = write_raw_wfdb(tmp_path, units=unit, signal=x, fmt="32")
    rec = read_wfdb(base)
    np.testing.assert_allclose(rec.signal, (x * scale).T, rtol=1e-4, atol=1e-6 * max(scale, 1))
    assert rec.meta["wfdb"]["units"] == [unit, unit]


@pytest.mark.parametrize("fmt", ["16", "24", "32", "212"])
def test_wfdb_write_read_round_trip_with_annotations(tmp_path, fmt):
    rec = sine_recording(3, fs=360)
    ann = Annotations(sample=[100, 460, 820], symbol=["N", "V", "+"], aux=["", "", "(AFIB"], chan=[0, 1, 0])
    rec = rec.replace(annotations=ann, record_id="my rec/1")
    base = write_wfdb(rec, tmp_path, fmt=fmt)
    assert base.name == "my_rec_1"
    back = read_wfdb(base)
    assert back.leads == rec.leads and back.fs == rec.fs
    tolerance = {"16": 1e-4, "24": 1e-6, "32": 1e-6, "212": 1e-3}[fmt]
    np.testing.assert_allclose(back.signal, rec.signal, atol=tolerance)
    assert back.annotations.equals(ann)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_rec_1.atr", "my_rec_1.dat", "my_rec_1.hea"]


def test_written_wfdb_keeps_missing_samples_missing(tmp_path):
    rec = sine_recording(2)
    x = rec.signal.copy()
    x[0, 10:20] = np.nan
    back = read_wfdb(write_wfdb(rec.replace(signal=x), tmp_path))
    assert np.isnan(back.signal[0, 10:20]).all()
    assert np.isfinite(back.signal[0, 20:]).all() and np.isfinite(back.signal[1]).all()


def test_annotation_files_in_and_out(tmp_path):
    ann = Annotations(sample=[5, 10, 15], symbol=["N", "A", "V"], aux=["(N", "", ""])
    path = write_annotations(ann, tmp_path / "x", fs=360, extension="qrs")
    assert path.name == "x.qrs"
    assert read_annotations(tmp_path / "x", "qrs").equals(ann)
    ref = wfdb.rdann(str(tmp_path / "x"), "qrs")
    assert ref.symbol == ["N", "A", "V"] and list(ref.sample) == [5, 10, 15]


def test_sampfrom_sampto_crop_signal_and_annotations(tmp_path):
    rec = sine_recording(1, fs=100, seconds=10).replace(
        annotations=Annotations(sample=[50, 350, 650], symbol=["N", "V", "N"])
    )
    base = write_wfdb(rec, tmp_path)
    part = read_wfdb(base, sampfrom=300, sampto=600)
    assert part.n_samples == 300
    assert part.annotations.sample.tolist() == [50] and part.annotations.symbol == ("V",)


def test_uncalibrated_gain_is_flagged(tmp_path):
    base = write_raw_wfdb(tmp_path, fmt="16")
    hea = base.with_suffix(".hea")
    lines = hea.read_text().splitlines()
    fields = lines[1].split()
    fields[2] = "0"
    lines[1] = " ".join(fields)
    hea.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="uncalibrated"):
        rec = read_wfdb(base)
    assert rec.meta["uncalibrated_leads"] == ["I"]


def test_challenge_write_matches_official_layout_and_round_trips(tmp_path):
    rec = sine_recording(12, fs=500, seconds=2).replace(
        record_id="A9999", meta={"age": 61.0, "sex": "M", "dx": ["164889003", "59118001"]}
    )
    base = write_challenge(rec, tmp_path)
    text = base.with_suffix(".hea").read_text().splitlines()
    assert text[0] == "A9999 12 500 1000"
    assert text[1].startswith("A9999.mat 16+24 1000/mV 16 0 ")
    assert text[13:] == ["#Age: 61", "#Sex: Male", "#Dx: 164889003,59118001", "#Rx: Unknown",
                         "#Hx: Unknown", "#Sx: Unknown"]  # fmt: skip
    val = scipy.io.loadmat(str(base.with_suffix(".mat")))["val"]
    assert val.shape == (12, 1000) and val.dtype == np.int16
    np.testing.assert_array_equal(val, np.round(rec.signal * 1000).astype(np.int16))
    ref = wfdb.rdrecord(str(base))  # wfdb accepts the header, checksums included
    np.testing.assert_allclose(ref.p_signal.T, rec.signal, atol=6e-4)
    back = read_challenge(base)
    assert back.meta["dx"] == ["164889003", "59118001"]
    assert back.meta["age"] == 61 and back.meta["sex"] == "M"
    assert detect_kind(base.with_suffix(".hea")) == "challenge"


def test_challenge_comments_with_and_without_space(tmp_path):
    rec = sine_recording(12, fs=500, seconds=1).replace(record_id="Q1", meta={"dx": ["426783006"]})
    base = write_challenge(rec, tmp_path)
    hea = base.with_suffix(".hea")
    hea.write_text(
        hea.read_text()
        .replace("#Dx: 426783006", "# Dx: 426783006, 59118001")
        .replace("#Age: NaN", "# Age: 45")
    )
    back = read_challenge(base)
    assert back.meta["dx"] == ["426783006", "59118001"] and back.meta["age"] == 45


def test_challenge_gain_drops_for_large_amplitudes(tmp_path):
    rec = sine_recording(12, fs=500, seconds=1)
    rec = rec.replace(signal=rec.signal * 80, meta={"dx": ["1"]}, record_id="big")  # up to ~±120 mV
    back = read_challenge(write_challenge(rec, tmp_path))
    np.testing.assert_allclose(back.signal, rec.signal, atol=0.01)


@pytest.mark.parametrize(
    ("header", "expected_mv"),
    [("time_s,II [mV],V1 [mV]", 1.0), ("time_s,II (uV),V1 (uV)", 1e-3), ("t,II [V],V1 [V]", 1e3)],
)
def test_csv_units_from_header(tmp_path, header, expected_mv):
    path = tmp_path / "r.csv"
    path.write_text(header + "\n0.000,1.0,2.0\n0.004,1.5,2.5\n0.008,,3.0\n")
    rec = read_csv(path)
    assert rec.fs == 250 and rec.leads == ("II", "V1")
    np.testing.assert_allclose(rec.signal[1], np.array([2, 2.5, 3]) * expected_mv, rtol=1e-6)
    assert np.isnan(rec.signal[0, 2])


def test_csv_units_and_fs_from_arguments(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("I,II\n100,200\n300,400\n")
    rec = read_csv(path, fs=500, units="uV")
    np.testing.assert_allclose(rec.signal, [[0.1, 0.3], [0.2, 0.4]], rtol=1e-6)
    with pytest.raises(RecordError, match="time column says 250 Hz but fs=500"):
        (tmp_path / "t.csv").write_text("time,I\n0,1\n0.004,2\n")
        read_csv(tmp_path / "t.csv", fs=500, units="mV")


def test_csv_round_trip(tmp_path):
    rec = sine_recording(12, fs=500, seconds=1)
    back = read_csv(write_csv(rec, tmp_path / "x.csv"))
    assert back.leads == rec.leads and back.fs == 500
    np.testing.assert_allclose(back.signal, rec.signal, atol=1e-5)


def _fake_ptbxl(root: Path) -> None:
    rec = sine_recording(12, fs=100, seconds=10)
    write_wfdb(rec, root / "records100" / "00000", record_name="00007_lr")
    (root / "ptbxl_database.csv").write_text(
        "ecg_id,patient_id,age,sex,report,scp_codes,strat_fold,filename_lr,filename_hr\n"
        "7,1234.0,300.0,0,sinus,\"{'NORM': 100.0, 'SR': 0.0}\",4,records100/00000/00007_lr,\n"
    )


def test_ptbxl_reader_attaches_database_row(tmp_path):
    _fake_ptbxl(tmp_path)
    rec = read_ptbxl(tmp_path, 7)
    assert rec.meta["scp_codes"] == {"NORM": 100.0, "SR": 0.0}
    assert rec.meta["strat_fold"] == 4 and rec.meta["patient_id"] == 1234
    assert rec.meta["sex"] == "M" and rec.meta["age"] == 90 and rec.meta["age_capped"]
    path = tmp_path / "records100/00000/00007_lr.hea"
    assert detect_kind(path) == "ptbxl"
    assert read_record(path).meta["ecg_id"] == 7
    with pytest.raises(RecordError, match="no 500 Hz record"):
        read_ptbxl(tmp_path, 7, sampling_rate=500)
    with pytest.raises(RecordError, match="no ecg_id 8"):
        read_ptbxl(tmp_path, 8)


def test_sph_reader(tmp_path):
    x = np.random.default_rng(0).normal(0, 0.3, size=(12, 2500)).astype(np.float16)
    with h5py.File(tmp_path / "SPH00042.h5", "w") as handle:
        handle["ecg"] = x
    with pytest.warns(UserWarning, match="no row in metadata.csv; using SPH's documented 500 Hz"):
        assert read_sph(tmp_path / "SPH00042.h5").fs == 500
    (tmp_path / "metadata.csv").write_text(
        'ECG_ID,AHA_Code,Patient_ID,Age,Sex,N,Date,fs,SNOMEDCTCode,SR\nSPH00042.h5,1;22,S9,70,F,2500,2020-01-01,500,"426783006,1"\n'
    )
    rec = read_record(tmp_path / "SPH00042.h5")
    assert rec.leads == STANDARD_12 and rec.fs == 500
    assert (
        rec.meta["dx"] == ["426783006", "1"]
        and rec.meta["sex"] == "F"
        and rec.meta["aha_codes"] == ["1", "22"]
    )
    np.testing.assert_array_equal(rec.signal, x.astype(np.float32))


def test_iter_record_paths_skips_tables(tmp_path):
    _fake_ptbxl(tmp_path)
    (tmp_path / "weights.csv").write_text("a\n")
    (tmp_path / "scp_statements.csv").write_text("a\n")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_record_paths(tmp_path)]
    assert found == ["records100/00000/00007_lr.hea"]


def test_writes_leave_no_temporary_files(tmp_path):
    rec = sine_recording(12, fs=500, seconds=1).replace(meta={"dx": ["1"]})
    write_wfdb(rec, tmp_path)
    write_challenge(rec, tmp_path, record_name="c")
    write_csv(rec, tmp_path / "s.csv")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
