"""Units of the 12-lead task: thresholds, the multilabel report, masks, config checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecglab.config import config_from_dict
from ecglab.errors import ConfigError
from ecglab.metrics.classification import multilabel_report
from ecglab.models.masked_pretrain import random_time_mask
from ecglab.training.multilabel import pos_weights, tune_thresholds


def test_f1_thresholds_separate_each_class():
    # Class 0 positives score 0.3-0.4 and negatives 0.1-0.2: any threshold in (0.2, 0.3] is perfect;
    # the lowest grid value reaching F1 = 1 is 0.25. Class 1 has no positive: it keeps 0.5.
    y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    p = np.array([[0.3, 0.9], [0.4, 0.1], [0.1, 0.2], [0.2, 0.3]])
    t = tune_thresholds(y, p, "f1")
    assert t[0] == pytest.approx(0.25)
    assert t[1] == 0.5
    assert ((p >= t)[:, 0] == y[:, 0].astype(bool)).all()


def test_challenge_thresholds_never_lower_the_metric():
    rng = np.random.default_rng(0)
    y = rng.random((60, 4)) < 0.3
    p = np.clip(y * 0.4 + rng.random((60, 4)) * 0.6, 0, 1)

    def metric(yy, bb):  # micro F1 stands in for a metric that couples the classes
        tp = (yy & bb).sum()
        return 2 * tp / max(yy.sum() + bb.sum(), 1)

    start = tune_thresholds(y, p, "f1")
    tuned = tune_thresholds(y, p, "challenge", metric)
    assert metric(y, p >= tuned) >= metric(y, p >= start)
    assert tune_thresholds(y, p, "fixed").tolist() == [0.5] * 4


def test_multilabel_report_by_hand():
    y = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    pred = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    scores = np.array([[0.9, 0.1], [0.4, 0.8], [0.6, 0.2], [0.1, 0.7]])
    r = multilabel_report(y, pred, scores, ["a", "b"])
    a, b = r["per_class"]
    assert (a["tp"], a["fp"], a["fn"]) == (1, 1, 1)
    assert a["f1"] == pytest.approx(0.5)
    assert b["f1"] == pytest.approx(1.0)
    # AUROC of a: positives 0.9, 0.4; negatives 0.6, 0.1 -> pairs won: (0.9>0.6, 0.9>0.1, 0.4>0.1) = 3/4
    assert a["auroc"] == pytest.approx(0.75)
    assert b["auroc"] == pytest.approx(1.0)
    assert r["exact_match"] == pytest.approx(2 / 4)
    assert r["macro_f1"] == pytest.approx(0.75)


def test_pos_weights():
    y = np.array([[1, 0], [0, 0], [0, 0], [0, 1]], dtype=float)
    assert pos_weights(y, "inverse").tolist() == [3.0, 3.0]
    assert pos_weights(y, "sqrt").numpy() == pytest.approx([3**0.5, 3**0.5])
    assert pos_weights(y, "none").tolist() == [1.0, 1.0]


def test_time_mask_covers_the_ratio_and_keeps_a_lead():
    g = torch.Generator().manual_seed(0)
    mask = random_time_mask((16, 12, 1000), span=40, ratio=0.3, lead_drop=0.0, generator=g)
    assert mask.shape == (16, 12, 1000)
    frac = mask.mean().item()
    assert 0.15 < frac < 0.35  # spans overlap now and then
    assert (mask[:, 0] == mask[:, 5]).all()  # the same time spans in every lead
    full = random_time_mask((64, 3, 200), span=10, ratio=0.1, lead_drop=1.0, generator=g)
    assert (full.amin(2) < 1).any(1).all()  # never every lead dropped


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("multilabel.lead_set", 5, "lead_set"),
        ("multilabel.bandpass", [40.0, 1.0], "bandpass"),
        ("multilabel.sources", ["mitdb"], "unknown source"),
        ("multilabel.ptbxl_fs", 250, "ptbxl_fs"),
    ],
)
def test_multilabel_config_errors(key, value, words):
    section, name = key.split(".")
    data = {"task": "multilabel", "data": {"dataset": "cinc"}, "model": {"name": "resnet1d"}}
    data[section] = {name: value}
    with pytest.raises(ConfigError, match=words):
        config_from_dict(data)
