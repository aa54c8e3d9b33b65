"""The 12-lead classifier on a digitized 3x4 page: thresholds tuned for records masked that way."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecglab.errors import RecordError
from ecglab.predict import MultilabelClassifier
from ecglab.pretrained import resolve_model_dir
from ecglab.signal.simulate import simulate_12lead
from ecglab.synth.layouts import layout_spec


@pytest.fixture(scope="module")
def classifier() -> MultilabelClassifier:
    return MultilabelClassifier.from_pretrained("cinc-12lead")


def _as_3x4_page(rec):
    """Each lead kept over its quarter of a 3x4+1 page (lead II in full), 0 mV elsewhere."""
    keep = np.zeros(rec.signal.shape, bool)
    for p in layout_spec("3x4+1", rec.n_samples / rec.fs).panels:
        keep[rec.leads.index(p.lead), round(p.start_s * rec.fs) : round(p.stop_s * rec.fs)] = True
    return rec.replace(signal=np.where(keep, rec.signal, 0.0).astype(np.float32))


def test_shipped_model_has_page_thresholds_and_uses_them_on_request(classifier):
    assert classifier.page_thresholds is not None
    assert classifier.page_thresholds.shape == classifier.thresholds.shape
    assert not np.array_equal(classifier.page_thresholds, classifier.thresholds)
    page = _as_3x4_page(simulate_12lead(duration=10.0, fs=500.0, seed=0))
    plain, paged = classifier.predict(page), classifier.predict(page, page=True)
    np.testing.assert_array_equal(plain.probabilities, paged.probabilities)
    np.testing.assert_array_equal(paged.labels, paged.probabilities >= classifier.page_thresholds)
    np.testing.assert_array_equal(plain.labels, plain.probabilities >= classifier.thresholds)
    assert any("masked as a 3x4 page" in n for n in paged.notes)
    # On this page the full-record thresholds call twice as many classes as the record has in full.
    full = classifier.predict(simulate_12lead(duration=10.0, fs=500.0, seed=0))
    assert paged.labels.sum() <= full.labels.sum() + 1 < plain.labels.sum()


def test_page_thresholds_must_list_the_same_classes(classifier, tmp_path):
    folder = resolve_model_dir("cinc-12lead")
    shipped = json.loads((folder / "thresholds.json").read_text())
    page = json.loads((folder / "thresholds_page.json").read_text())
    page["classes"] = page["classes"][::-1]
    with pytest.raises(RecordError, match="classes differ"):
        MultilabelClassifier(classifier.model, classifier.cfg, shipped, page_thresholds=page)
