"""The Recording contract: validation, select, crop, resample, units and lead names."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import sine_recording
from ecglab.errors import LeadError, RecordError, UnitsError
from ecglab.io import Annotations, Recording
from ecglab.io.leads import is_known_lead, normalize_lead, normalize_leads
from ecglab.io.units import canonical_unit, to_millivolts_factor


def test_signal_is_float32_contiguous_and_leads_normalised():
    rec = Recording(signal=np.ones((2, 10), dtype=np.int16), fs=100, leads=("ml2", "v1"), record_id=7)
    assert rec.signal.dtype == np.float32 and rec.signal.flags.c_contiguous
    assert rec.leads == ("MLII", "V1")
    assert rec.record_id == "7" and rec.units == "mV"
    assert rec.n_leads == 2 and rec.n_samples == 10 and rec.duration == pytest.approx(0.1)


def test_one_dimensional_signal_becomes_one_lead():
    rec = Recording(signal=np.zeros(5), fs=1, leads=("II",))
    assert rec.signal.shape == (1, 5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"signal": np.zeros((2, 3, 4))}, "2-D"),
        ({"leads": ("I",)}, "2 signal rows but 1 lead"),
        ({"fs": 0}, "must be > 0"),
        ({"fs": -250}, "must be > 0"),
        ({"fs": "fast"}, "not a number"),
        ({"signal": np.zeros((2, 0))}, "no samples"),
        ({"units": "uV"}, "holds millivolts"),
        ({"leads": ("I", "I")}, "duplicate"),
    ],
)
def test_invalid_recordings_are_refused(kwargs, match):
    base = {"signal": np.zeros((2, 10)), "fs": 100.0, "leads": ("I", "II")}
    with pytest.raises(RecordError, match=match):
        Recording(**{**base, **kwargs})


def test_infinite_values_are_refused_and_named():
    x = np.zeros((2, 10))
    x[1, 3] = np.inf
    with pytest.raises(RecordError, match=r"infinite values in lead\(s\) II"):
        Recording(signal=x, fs=100, leads=("I", "II"))


def test_nan_marks_missing_but_an_all_nan_lead_is_refused():
    x = np.zeros((2, 10))
    x[0, :3] = np.nan
    rec = Recording(signal=x, fs=100, leads=("I", "II"))
    assert rec.missing_fraction == {"I": pytest.approx(0.3), "II": 0.0}
    x[1] = np.nan
    with pytest.raises(RecordError, match="II hold no valid sample"):
        Recording(signal=x, fs=100, leads=("I", "II"))


def test_select_reorders_and_reports_missing_leads():
    rec = sine_recording(3)
    sub = rec.select(["iii", "I"])
    assert sub.leads == ("III", "I")
    np.testing.assert_array_equal(sub.signal[0], rec.signal[2])
    with pytest.raises(LeadError, match=r"V6 not in recording \(has: I, II, III\)"):
        rec.select(["V6"])


def test_crop_keeps_annotations_on_their_beats():
    rec = sine_recording(1, fs=100, seconds=10)
    ann = Annotations(sample=np.array([50, 250, 450, 950]), symbol=("N", "V", "N", "A"))
    rec = rec.replace(annotations=ann)
    cropped = rec.crop(200, 500)
    assert cropped.n_samples == 300
    assert cropped.annotations.sample.tolist() == [50, 250]
    assert cropped.annotations.symbol == ("V", "N")
    np.testing.assert_array_equal(cropped.signal, rec.signal[:, 200:500])
    assert rec.crop_seconds(2.0, 5.0).n_samples == 300
    with pytest.raises(RecordError, match="outside"):
        rec.crop(500, 200)
    with pytest.raises(RecordError, match="outside"):
        rec.crop(0, 5000)


@pytest.mark.parametrize(("fs_in", "fs_out"), [(360, 250), (500, 100), (100, 500), (257, 128)])
def test_resample_preserves_a_sine_and_maps_annotations(fs_in, fs_out):
    seconds = 8
    t = np.arange(seconds * fs_in) / fs_in
    x = np.sin(2 * np.pi * 3 * t)
    ann = Annotations(sample=np.array([fs_in, 3 * fs_in]), symbol=("N", "N"))
    rec = Recording(signal=x, fs=fs_in, leads=("II",), annotations=ann)
    out = rec.resample(fs_out)
    assert out.fs == fs_out
    assert out.n_samples == seconds * fs_out
    t_out = np.arange(out.n_samples) / fs_out
    inner = slice(fs_out, -fs_out)  # ignore filter edge effects
    np.testing.assert_allclose(out.signal[0, inner], np.sin(2 * np.pi * 3 * t_out)[inner], atol=0.02)
    assert out.annotations.sample.tolist() == [fs_out, 3 * fs_out]
    assert out.meta["resampled_from_fs"] == fs_in


def test_resample_keeps_missing_samples_missing():
    x = np.sin(np.linspace(0, 20, 1000))
    x[400:500] = np.nan
    out = Recording(signal=x, fs=100, leads=("I",)).resample(50)
    nan = np.flatnonzero(np.isnan(out.signal[0]))
    assert nan.min() == 200 and nan.max() == 249
    assert np.isfinite(out.signal[0, :199]).all()


def test_resample_to_same_rate_is_identity():
    rec = sine_recording()
    assert rec.resample(rec.fs) is rec


def test_annotations_are_sorted_and_counted():
    ann = Annotations(sample=[30, 10, 20], symbol=["V", "N", "N"], aux=["", "(AFIB", ""])
    assert ann.sample.tolist() == [10, 20, 30]
    assert ann.aux == ("(AFIB", "", "")
    assert ann.counts() == {"N": 2, "V": 1}
    with pytest.raises(RecordError, match="disagree in length"):
        Annotations(sample=[1, 2], symbol=["N"])


@pytest.mark.parametrize(
    ("raw", "canon"),
    [("avr", "aVR"), ("AVL", "aVL"), (" v1 ", "V1"), ("ML2", "MLII"), ("mlii", "MLII"), ("Lead II", "II")],
)
def test_lead_spellings(raw, canon):
    assert normalize_lead(raw) == canon
    assert is_known_lead(raw)


def test_unknown_lead_names_are_refused_unless_allowed():
    with pytest.raises(LeadError, match="unknown lead name 'V13'"):
        normalize_lead("V13")
    assert normalize_lead("noise1", allow_unknown=True) == "noise1"
    with pytest.raises(LeadError, match=r"f\.hea: signal 1"):
        normalize_leads(["I", "bogus"], where="f.hea")


@pytest.mark.parametrize(
    ("unit", "factor"), [("mV", 1), ("uV", 1e-3), ("μV", 1e-3), ("V", 1e3), ("nV", 1e-6)]
)
def test_units_convert_to_millivolts(unit, factor):
    assert to_millivolts_factor(unit) == factor


def test_units_are_never_guessed():
    for bad in ("", "MV", "mmHg", "adu", "furlong"):
        with pytest.raises(UnitsError, match="unknown amplitude unit"):
            canonical_unit(bad)


def test_lead_alternatives_resolve_to_the_first_present():
    from ecglab.io.leads import resolve_alternatives

    assert resolve_alternatives(("MLII", "V1|V2|V5"), ("MLII", "V2")) == ("MLII", "V2")
    assert resolve_alternatives(("MLII", "V1|V2|V5"), ("V5", "MLII", "V1")) == ("MLII", "V1")
    assert resolve_alternatives(("V1|V2",), ("II",)) == ("V1",)  # none: the first, for the error
