"""Check ``ecglab.metrics.challenge`` against the official Challenge 2020 and 2021 scoring scripts.

The official scripts are not part of ecglab: download them yourself (BSD-2-Clause) and pass their paths.

- 2020: ``evaluate_12ECG_score.py`` from ``physionetchallenges/evaluation-2020``,
- 2021: ``evaluate_model.py`` from ``physionetchallenges/evaluation-2021`` (``helper_code.py`` beside it).

For each year the script writes N random cases (headers with ``#Dx:`` lines, output CSVs) to a temporary
folder: varying record counts and class mixes, unscored codes, equivalent codes on both sides (``a|b``
columns in 2021), shuffled columns, tied scores, NaN/inf/non-numeric scores, all-zero output files,
empty ``#Dx:`` lines, missing output files and (2020) files with rows of different lengths. The official
script runs in a subprocess (with the shipped ``weights.csv`` in its working folder) and ecglab in this
process; every metric and per-class value is compared.

Missing output files: the official scripts stop with ``IOError``; ecglab scores such a record as
all-negative with zero scores. For the official run a missing file is therefore replaced by a file that
names no scored class, which the official scripts read as exactly that.

Usage::

    python benchmarks/score_vs_official.py --official-2020 /tmp/official_eval/2020/evaluate_12ECG_score.py \\
        --official-2021 /tmp/official_eval/2021/evaluate_model.py [--cases 50] [--seed 0] [--json F]

Prints the largest absolute difference per metric and writes ``benchmarks/results/score_vs_official.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ecglab.metrics.challenge import load_tables, score_directories

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "score_vs_official.json"
TABLES = REPO / "src" / "ecglab" / "metrics" / "challenge_tables"
UNSCORED = ["164951009", "251180001", "55930002", "10000001"]  # codes absent from both weights tables
TOLERANCE = 1e-6

# Runs inside the subprocess: imports the official module from its path, scores every case folder and
# writes the numbers as JSON. Progress messages of the official code go to stderr.
DRIVER = r"""
import contextlib, importlib.util, json, os, sys
import numpy as np
script, version, cases_file, result_file = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
spec = importlib.util.spec_from_file_location("official_eval", script)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
entry = module.evaluate_12ECG_score if version == "2020" else module.evaluate_model
out = []
for labels, outputs in json.load(open(cases_file)):
    with contextlib.redirect_stdout(sys.stderr):
        values = entry(labels, outputs)
    if version == "2020":
        classes, auroc, auprc, auroc_c, auprc_c, acc, f, f_c, fb, gb, cm = values
    else:
        classes, auroc, auprc, auroc_c, auprc_c, acc, f, f_c, cm = values
        fb = gb = None
    names = [x if isinstance(x, str) else "|".join(sorted(x)) for x in classes]
    fl = lambda v: None if v is None else float(v)
    out.append(dict(classes=names, auroc=fl(auroc), auprc=fl(auprc), accuracy=fl(acc), f_measure=fl(f),
                    f_beta=fl(fb), g_beta=fl(gb), challenge_metric=fl(cm),
                    auroc_classes=[float(x) for x in auroc_c], auprc_classes=[float(x) for x in auprc_c],
                    f_measure_classes=[float(x) for x in f_c]))
json.dump(out, open(result_file, "w"), allow_nan=True)
"""


def _class_codes(version: str) -> list[str]:
    """Every scored code of the year, equivalents included."""
    tables = load_tables(version)
    return [code for members in tables.members for code in members]


def _score_text(rng: np.random.Generator, tie_grid: bool) -> str:
    draw = rng.random()
    if draw < 0.04:
        return "nan"
    if draw < 0.05:
        # No empty field: a one-column file would then have a blank score line, which the 2021 script
        # reads by position and ecglab skips (documented difference).
        return rng.choice(["inf", "-inf", "abc", "1e400"])
    value = rng.random()
    return f"{round(value, 1)}" if tie_grid else repr(value)


def _write_case(
    root: Path, version: str, rng: np.random.Generator, case: int
) -> tuple[Path, Path, Path, dict]:
    """One random case: labels/, outputs/ (for ecglab) and outputs_official/ (missing files filled)."""
    codes = _class_codes(version)
    tables = load_tables(version)
    labels_dir, ours, theirs = root / "labels", root / "outputs", root / "outputs_official"
    for d in (labels_dir, ours, theirs):
        d.mkdir(parents=True)
    n_records = int(rng.integers(1, 80))
    pool = list(rng.choice(codes, size=int(rng.integers(2, len(codes) + 1)), replace=False))
    pool += UNSCORED[: int(rng.integers(0, 3))]
    tie_grid = bool(rng.random() < 0.4)
    p_missing = 0.15 if rng.random() < 0.3 else 0.0
    p_all_zero = 0.15 if rng.random() < 0.3 else 0.0
    p_bad_rows = 0.1 if version == "2020" and rng.random() < 0.3 else 0.0
    info = dict(case=case, n_records=n_records, n_codes=len(pool), tie_grid=tie_grid, missing=0, all_zero=0)
    for i in range(n_records):
        record = f"R{case:03d}_{i:04d}"
        draw = rng.random()
        if draw < 0.05:
            dx: list[str] = []
        elif draw < 0.2:
            dx = [tables.normal_class]
        else:
            dx = list(rng.choice(pool, size=int(rng.integers(1, 5)), replace=True))
        (labels_dir / f"{record}.hea").write_text(
            f"{record} 12 500 5000\n#Age: 60\n#Sex: Female\n#Dx: {','.join(dx)}\n#Rx: Unknown\n"
        )
        if rng.random() < p_missing:
            info["missing"] += 1
            (theirs / f"{record}.csv").write_text(f"#{record}\n{UNSCORED[0]}\n0\n0.0\n")
            continue
        columns = list(rng.permutation(pool))[: int(rng.integers(1, len(pool) + 1))]
        if version == "2021" and rng.random() < 0.3:  # a merged "a|b" column, as weights.csv spells it
            columns.append(tables.classes[int(rng.integers(len(tables.classes)))])
        if rng.random() < p_all_zero:
            info["all_zero"] += 1
            binary = ["0"] * len(columns)
            scores = ["0"] * len(columns)
        else:
            binary = [
                rng.choice(["1", "0", "True", "F", "t"], p=[0.3, 0.5, 0.1, 0.05, 0.05]) for _ in columns
            ]
            scores = [_score_text(rng, tie_grid) for _ in columns]
        text = f"#{record}\n{','.join(columns)}\n{','.join(binary)}\n{','.join(scores)}\n"
        if rng.random() < p_bad_rows:
            text = f"#{record}\n{','.join(columns)}\n{','.join(binary)},1\n{','.join(scores)}\n"
        (ours / f"{record}.csv").write_text(text)
        (theirs / f"{record}.csv").write_text(text)
    return labels_dir, ours, theirs, info


def _run_official(script: Path, version: str, cases: list[tuple[Path, Path]], work: Path) -> list[dict]:
    cwd = work / f"official_{version}"
    cwd.mkdir()
    shutil.copy(TABLES / version / "weights.csv", cwd / "weights.csv")
    cases_file, result_file = cwd / "cases.json", cwd / "results.json"
    cases_file.write_text(json.dumps([[str(a), str(b)] for a, b in cases]))
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            "-c",
            DRIVER,
            str(script),
            version,
            str(cases_file),
            str(result_file),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise SystemExit(f"the official {version} script failed:\n{proc.stderr[-3000:]}")
    return json.loads(result_file.read_text())


def _diff(a: float | None, b: float | None) -> float:
    """|a - b|, 0 when both are NaN/None, inf when only one is."""
    a = math.nan if a is None else a
    b = math.nan if b is None else b
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if math.isnan(a) or math.isnan(b):
        return math.inf
    return abs(a - b)


def _compare(official: dict, ours: dict, version: str) -> dict[str, float]:
    def name(c: str) -> str:  # the official 2021 output sorts the codes of a merged class
        return "|".join(sorted(c.split("|")))

    if [name(c) for c in ours["classes"]] != official["classes"]:
        raise SystemExit(f"class order differs: {ours['classes']} vs {official['classes']}")
    metrics = ["accuracy", "f_measure", "auroc", "auprc", "challenge_metric"]
    if version == "2020":
        metrics += ["f_beta", "g_beta"]
    diffs = {m: _diff(official[m], ours[m]) for m in metrics}
    per = ours["per_class"]
    for ours_key, off_key in (
        ("auroc", "auroc_classes"),
        ("auprc", "auprc_classes"),
        ("f_measure", "f_measure_classes"),
    ):
        values = [per[c][ours_key] for c in ours["classes"]]
        diffs[f"{ours_key} per class"] = max(
            _diff(a, b) for a, b in zip(official[off_key], values, strict=True)
        )
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-2020", type=Path, help="path of evaluate_12ECG_score.py")
    parser.add_argument(
        "--official-2021", type=Path, help="path of evaluate_model.py (helper_code.py beside it)"
    )
    parser.add_argument("--cases", type=int, default=50, help="random cases per year")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    scripts = {"2020": args.official_2020, "2021": args.official_2021}
    if not any(scripts.values()):
        parser.error("give --official-2020 and/or --official-2021")
    console = Console()
    report: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "seed": args.seed, "years": {}}
    ok = True
    with tempfile.TemporaryDirectory(prefix="ecglab-score-") as tmp:
        work = Path(tmp)
        for version, script in scripts.items():
            if script is None:
                continue
            rng = np.random.default_rng([args.seed, int(version)])
            cases, infos = [], []
            for case in range(args.cases):
                labels, ours_dir, theirs_dir, info = _write_case(
                    work / version / f"case{case:03d}", version, rng, case
                )
                cases.append((labels, ours_dir, theirs_dir))
                infos.append(info)
            official = _run_official(script.resolve(), version, [(a, c) for a, _, c in cases], work)
            worst: dict[str, float] = {}
            for (labels, ours_dir, _), off, info in zip(cases, official, infos, strict=True):
                result = score_directories(labels, ours_dir, version, strict=False)
                if result["n_missing_outputs"] != info["missing"]:
                    raise SystemExit(
                        f"case {info['case']}: {result['n_missing_outputs']} missing, {info['missing']} made"
                    )
                for metric, value in _compare(off, result, version).items():
                    worst[metric] = max(worst.get(metric, 0.0), value)
            passed = all(v <= TOLERANCE for v in worst.values())
            ok &= passed
            report["years"][version] = {
                "official_script": str(script),
                "cases": args.cases,
                "records": int(sum(i["n_records"] for i in infos)),
                "missing_outputs": int(sum(i["missing"] for i in infos)),
                "all_zero_outputs": int(sum(i["all_zero"] for i in infos)),
                "cases_with_tied_scores": int(sum(i["tie_grid"] for i in infos)),
                "max_abs_diff": worst,
                "passed": passed,
            }
            table = Table(title=f"ecglab vs official {version}: {args.cases} cases, tolerance {TOLERANCE:g}")
            table.add_column("metric")
            table.add_column("max |diff|", justify="right")
            for metric, value in worst.items():
                table.add_row(metric, f"{value:.3g}")
            console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"{'all metrics agree' if ok else 'DIFFERENCES FOUND'}; wrote {args.json}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
