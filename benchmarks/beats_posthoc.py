"""Post-hoc decision rules for the beat classifier, judged out of split on DS1, never on DS2.

Two rules that need no retraining are compared with the plain argmax:

- **S offset**: add ``b`` to the log-probability of class S before the argmax (a lower S
  threshold where ``b > 0``). On DS2, record 232's missed S beats sit at S probabilities of
  0.25-0.5, so a positive offset is the obvious thing to try; the question is whether patients
  the model never saw *in DS1* agree.
- **Per-record prior adaptation** (Saerens, Latinne & Decaestecker 2002, "Adjusting the outputs
  of a classifier to new a priori probabilities"): EM estimates each record's class priors from
  the model's own posteriors and re-weights them, no labels used. The training prior is the mean
  posterior over the run's training beats; ``strength`` adds that many pseudo-beats of it (a
  Dirichlet prior that keeps short records near the training prior). ``N/S only`` moves the S share
  of the N+S mass and leaves V, F and Q alone.

The runs are the 8 split runs of a variant of ``benchmarks/beats_variants.py``; each DS1 record that
some split held out is scored with the runs that never trained on it (17 records for seeds 0-7),
single runs weighted so every record counts once, and their average ("ensemble"). DS2 is printed
for the record (the mean over single runs): choose on the out-of-split columns.

Usage::

    python benchmarks/beats_variants.py --seeds 0 1 2 3 4 5 6 7 --variant "+ local_irregularity" ""
    python benchmarks/beats_posthoc.py [--runs 'runs/beats-variants/local-irregularity-s*']

Writes ``benchmarks/results/beats_posthoc.json``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "beats_posthoc.json"
S = 1  # index of class S in ecglab.datasets.mitdb.AAMI_CLASSES
Rule = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (probs [n, 5], training prior [5]) -> labels


def s_offset(bias: float) -> Rule:
    """Argmax after adding ``bias`` to log p(S)."""

    def rule(p: np.ndarray, _prior: np.ndarray) -> np.ndarray:
        logp = np.log(np.clip(p, 1e-9, 1.0))
        logp[:, S] += bias
        return logp.argmax(1)

    return rule


def prior_adaptation(strength: float, ns_only: bool = False, iters: int = 200) -> Rule:
    """Argmax after EM re-estimation of the record's class priors (see the module notes)."""

    def rule(p: np.ndarray, train: np.ndarray) -> np.ndarray:
        prior = train.copy()
        for _ in range(iters):
            q = p * (prior / train)
            q /= q.sum(1, keepdims=True)
            if ns_only:
                ns = prior[0] + prior[S]
                share = (q[:, S].sum() + strength * train[S] / (train[0] + train[S])) / (
                    q[:, :2].sum() + strength
                )
                new = prior.copy()
                new[S], new[0] = ns * share, ns * (1 - share)
            else:
                new = (q.sum(0) + strength * train) / (len(q) + strength)
            done = np.abs(new - prior).max() < 1e-7
            prior = new
            if done:
                break
        return (p * (prior / train)).argmax(1)

    return rule


RULES: dict[str, Rule] = {
    "argmax": s_offset(0.0),
    **{f"S offset {b:+g}": s_offset(b) for b in (-0.5, 0.25, 0.5, 1.0)},
    **{f"prior EM, strength {s:g}": prior_adaptation(s) for s in (0, 500)},
    **{f"prior EM N/S only, strength {s:g}": prior_adaptation(s, ns_only=True) for s in (0, 500)},
}


def collect(runs: list[Path]) -> tuple[dict, list, np.ndarray]:
    """Out-of-split (labels, probs, training prior) per record, and every run's DS2 probs."""
    from omegaconf import OmegaConf

    from ecglab.datasets.mitdb import DS2, load_beat_set, split_records, val_records
    from ecglab.training.beats import predict_proba, window_spec
    from ecglab.training.trainer import load_model_from_run

    oos: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    ds2: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (probs, training prior, record ids)
    labels2 = np.zeros(0)
    for run in runs:
        cfg = OmegaConf.load(run / "config.yaml")
        model = load_model_from_run(run)
        seed, frac = int(cfg.cv.seed), float(cfg.beats.val_fraction)

        def load(records, cfg=cfg):
            spec, leads = window_spec(cfg), tuple(cfg.data.leads)
            return load_beat_set(list(records), spec=spec, leads=leads, progress=False)

        train = load(split_records("train", val_fraction=frac, seed=seed))
        prior = predict_proba(model, train.windows, train.rr).mean(0)
        for rec in val_records(val_fraction=frac, seed=seed):
            beats = load([rec])
            probs = predict_proba(model, beats.windows, beats.rr)
            oos.setdefault(rec, []).append((beats.labels, probs, prior))
        beats = load(DS2)
        labels2 = beats.labels  # the same for every run
        probs = predict_proba(model, beats.windows, beats.rr)
        ds2.append((probs, prior, beats.records))
    return oos, ds2, labels2


def figures(y: np.ndarray, pred: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    """Macro-F1 over N, S, V, F, F1 S, F1 V, accuracy."""
    from sklearn.metrics import accuracy_score, f1_score

    f1 = f1_score(y, pred, labels=[0, 1, 2, 3], average=None, sample_weight=w, zero_division=0)
    return {"accuracy": float(accuracy_score(y, pred, sample_weight=w)), "macro_f1": float(f1.mean()),
            "f1_S": float(f1[1]), "f1_V": float(f1[2])}  # fmt: skip


def score(rule: Rule, oos: dict, ds2: list, labels2: np.ndarray) -> dict[str, dict[str, float]]:
    """The rule applied per record: out of split (single, ensemble) and on DS2 (mean of runs)."""
    ys, preds, ws, ye, pe = [], [], [], [], []
    for items in oos.values():
        for y, p, prior in items:
            ys.append(y)
            preds.append(rule(p, prior))
            ws.append(np.full(len(y), 1.0 / len(items)))
        ye.append(items[0][0])
        pe.append(rule(np.mean([p for _, p, _ in items], 0), np.mean([pr for _, _, pr in items], 0)))
    per_run = []
    for probs, prior, records in ds2:
        pred = np.empty(len(labels2), np.int64)
        for rec in np.unique(records):  # record by record, as prediction sees them
            m = records == rec
            pred[m] = rule(probs[m], prior)
        per_run.append(figures(labels2, pred))
    return {
        "oos_single": figures(np.concatenate(ys), np.concatenate(preds), np.concatenate(ws)),
        "oos_ensemble": figures(np.concatenate(ye), np.concatenate(pe)),
        "ds2_mean_of_runs": {k: float(np.mean([r[k] for r in per_run])) for k in per_run[0]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(REPO / "runs" / "beats-variants" / "local-irregularity-s*"),
                    help="glob of the split runs of one variant")  # fmt: skip
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = ap.parse_args(argv)
    os.environ.setdefault("ECGLAB_DATA", str(REPO.parent / "shared" / "data"))
    runs = sorted(Path(p) for p in glob.glob(args.runs))
    if not runs:
        raise SystemExit(f"no runs match {args.runs}: train them with benchmarks/beats_variants.py first")
    oos, ds2, labels2 = collect(runs)
    results = {name: score(rule, oos, ds2, labels2) for name, rule in RULES.items()}
    table = Table(title=f"post-hoc rules, {len(runs)} runs, {len(oos)} out-of-split DS1 records")
    table.add_column("rule")
    for col in ("OOS single macro-F1", "F1 S", "OOS ensemble macro-F1", "F1 S ", "DS2 macro-F1", "DS2 F1 S"):
        table.add_column(col, justify="right")
    for name, r in results.items():
        a, b, c = r["oos_single"], r["oos_ensemble"], r["ds2_mean_of_runs"]
        table.add_row(name, *(f"{v:.3f}" for v in (a["macro_f1"], a["f1_S"], b["macro_f1"], b["f1_S"],
                                                  c["macro_f1"], c["f1_S"])))  # fmt: skip
    Console(width=150).print(table)
    print("Choose on the OOS columns; DS2 (mean over the runs) is shown for the record only.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {"runs": [str(r.relative_to(REPO)) if r.is_relative_to(REPO) else str(r) for r in runs],
               "oos_records": sorted(oos), "results": results}  # fmt: skip
    tmp = args.json.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    tmp.replace(args.json)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
