"""Benchmark synthetic ECG paper: images per second, written in full, and where the time goes.

1. **Throughput**: ``ecglab.synth.job.run_job`` renders ``--count`` images (A4, 200 DPI, 3x4+1,
   ``configs/synth.yaml``) from real 12-lead records (PTB-XL 500 Hz ``records500/00000`` and CinC
   2020 records of several sources) into a temporary folder, writing every output (``png``,
   ``mask.png``, ``leads.png``, ``json``, ``hea``/``dat``), with 1 and 2 worker processes, with the
   default damage and with ``damage.enabled=false``. Target: >= 4 images/s on 2 cores.
2. **Breakdown**: the same steps timed one by one (``time.perf_counter``) in this process: read
   record, render, damage, PNG encode of image / mask / leads, JSON truth, WFDB signal, and the
   file writes.
3. **PNG options**: encode time and size of one clean and one damaged page at zlib levels 0-3, the
   knob that decides most of the writing time.

Usage::

    python benchmarks/synth_speed.py [--count 40] [--data DIR] [--workers 1 2] [--breakdown 16]

Prints the tables and writes ``benchmarks/results/synth_speed.json``. Other processes on the
machine slow it down: the load average before and after each run is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "synth_speed.json"
CONFIG = REPO / "configs" / "synth.yaml"
TARGET_IMAGES_PER_S = 4.0
# Two 12-lead records from each of five CinC 2020 sources (Challenge .mat + .hea; ptb is 1000 Hz).
CINC_SOURCES = ("cpsc2018", "georgia", "chapman_shaoxing", "ningbo", "ptb")
BREAKDOWN_STEPS = (
    "read record",
    "render",
    "damage",
    "png encode (image)",
    "png encode (mask)",
    "png encode (leads)",
    "json truth",
    "wfdb hea/dat",
    "write files",
)


def _data_root(explicit: str | None) -> str:
    return explicit or os.environ.get("ECGLAB_DATA") or str(REPO.parent / "shared" / "data")


def benchmark_records(root: Path, n_ptbxl: int = 20, per_cinc_source: int = 2) -> list[Path]:
    """Header paths: the first ``n_ptbxl`` PTB-XL 500 Hz records and a few of each CinC source."""
    ptbxl = sorted((root / "ptbxl" / "records500" / "00000").glob("*_hr.hea"))[:n_ptbxl]
    cinc = [
        path
        for source in CINC_SOURCES
        for path in sorted((root / "cinc2020" / source).glob("*.hea"))[:per_cinc_source]
    ]
    if not ptbxl:
        raise SystemExit(f"no PTB-XL 500 Hz records under {root / 'ptbxl' / 'records500' / '00000'}")
    # Interleave so that any prefix of the job mixes sources.
    out: list[Path] = []
    for i in range(max(len(ptbxl), len(cinc))):
        out += ptbxl[i : i + 1] + cinc[i : i + 1]
    return out


def _load() -> tuple[float, float, float]:
    return os.getloadavg()


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children (the pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def parallel_control(workers: int = 2, n: int = 3_000_000) -> float:
    """Speed-up of ``workers`` processes over one on a pure-Python loop: ~2 on two free cores.

    Tells whether the machine had the cores free when the throughput was measured.
    """
    import multiprocessing as mp

    t0 = time.perf_counter()
    for _ in range(2 * workers):
        _burn(n)
    serial = time.perf_counter() - t0
    with mp.get_context("fork").Pool(workers) as pool:
        t0 = time.perf_counter()
        pool.map(_burn, [n] * (2 * workers))
        parallel = time.perf_counter() - t0
    return serial / parallel


def time_job(records: list[Path], settings, count: int, workers: int, seed: int = 0) -> dict:
    """Wall time of ``run_job`` writing ``count`` images with ``workers`` processes (cold record cache)."""
    from ecglab.synth import job as synth_job

    synth_job._RECORD_CACHE.clear()  # forked workers inherit it: every run reads its records
    with tempfile.TemporaryDirectory(prefix="synth_speed_") as tmp:
        job = synth_job.SynthJob(
            records=records, out_dir=Path(tmp), count=count, seed=seed, settings=settings
        )
        load_before = _load()
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        results = synth_job.run_job(job, workers=workers)
        seconds = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
        load_after = _load()
        written = sum(f.stat().st_size for f in Path(tmp).iterdir())
        n_files = len(list(Path(tmp).iterdir()))
    errors = [r.error for r in results if r.error]
    n_ok = len(results) - len(errors)
    return {
        "workers": workers,
        "images": n_ok,
        "errors": errors,
        "seconds": seconds,
        "images_per_s": n_ok / seconds,
        # Worker processes are forkserver children, whose CPU time this process cannot see: the CPU
        # figures are measured in one process only.
        "cpu_s_per_image": cpu / max(n_ok, 1) if workers == 1 else None,
        "images_per_s_2_idle_cores": 2 * n_ok / cpu if workers == 1 and cpu > 0 else None,
        "files": n_files,
        "mb_per_image": written / max(n_ok, 1) / 1e6,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    }


def time_steps(records: list[Path], settings, count: int, seed: int = 0) -> dict:
    """Per-step seconds of ``count`` images in this process, as ``render_one`` + ``write_page`` do them.

    The write steps call ``ecglab.synth.writers``' own encoders and options (private helpers) so
    that each output file is timed on its own; ``write files`` is the atomic write of the bytes.
    """
    from ecglab.io.atomic import atomic_dir_writes
    from ecglab.io.reader import read_record
    from ecglab.synth import writers
    from ecglab.synth.damage import apply_damage
    from ecglab.synth.render import render_page

    times: dict[str, list[float]] = {step: [] for step in BREAKDOWN_STEPS}
    sizes: dict[str, list[int]] = {"png": [], "mask": [], "leads": [], "json": []}
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="synth_steps_") as tmp:
        for k in range(count):
            name = f"{k:06d}"
            t = [time.perf_counter()]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rec = read_record(records[k % len(records)], allow_unknown_leads=True)
            t.append(time.perf_counter())
            rng = np.random.default_rng(np.random.SeedSequence([seed, k]))
            page = render_page(rec, settings.render, rng=rng)
            t.append(time.perf_counter())
            page = apply_damage(page, settings.damage, rng)
            t.append(time.perf_counter())
            bgr = cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR)
            png = writers._encode(".png", bgr, writers.image_png_params(page), name)
            t.append(time.perf_counter())
            mask = writers._encode(".png", page.mask, writers._PNG_MASK, name)
            t.append(time.perf_counter())
            leads = writers._encode(".png", page.leads, writers._PNG_MASK, name)
            t.append(time.perf_counter())
            truth = json.dumps(writers.page_truth(page, image_file=f"{name}.png"), separators=(",", ":"))
            truth_bytes = truth.encode()
            t.append(time.perf_counter())
            with atomic_dir_writes(Path(tmp) / "wfdb") as wdir:
                writers._write_signal(page, name, wdir)
            t.append(time.perf_counter())
            with atomic_dir_writes(Path(tmp) / "files") as fdir:
                for suffix, payload in (
                    ("png", png),
                    ("mask.png", mask),
                    ("leads.png", leads),
                    ("json", truth_bytes),
                ):
                    (fdir / f"{name}.{suffix}").write_bytes(payload)
            t.append(time.perf_counter())
            for step, a, b in zip(BREAKDOWN_STEPS, t[:-1], t[1:], strict=True):
                times[step].append(b - a)
            for key, payload in zip(sizes, (png, mask, leads, truth_bytes), strict=True):
                sizes[key].append(len(payload))
    cpu = time.process_time() - cpu0
    mean = {step: float(np.mean(v)) for step, v in times.items()}
    return {
        "images": count,
        "mean_s": mean,
        "total_s": float(sum(mean.values())),
        "cpu_s_per_image": cpu / count,
        "mean_bytes": {k: float(np.mean(v)) for k, v in sizes.items()},
    }


PNG_CANDIDATES = {
    "L1 up default (writers)": (1, cv2.IMWRITE_PNG_FILTER_UP, cv2.IMWRITE_PNG_STRATEGY_DEFAULT),
    "L1 up rle": (1, cv2.IMWRITE_PNG_FILTER_UP, cv2.IMWRITE_PNG_STRATEGY_RLE),
    "L1 up huffman-only": (1, cv2.IMWRITE_PNG_FILTER_UP, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY),
    "L1 paeth rle": (1, cv2.IMWRITE_PNG_FILTER_PAETH, cv2.IMWRITE_PNG_STRATEGY_RLE),
    "L3 up default": (3, cv2.IMWRITE_PNG_FILTER_UP, cv2.IMWRITE_PNG_STRATEGY_DEFAULT),
    "L0 stored": (0, cv2.IMWRITE_PNG_FILTER_NONE, cv2.IMWRITE_PNG_STRATEGY_DEFAULT),
}


def png_options(records: list[Path], variants: dict, count: int, seed: int = 0) -> list[dict]:
    """Mean encode time and size of the page image over ``count`` pages for each PNG candidate."""
    from ecglab.io.reader import read_record
    from ecglab.synth.damage import apply_damage
    from ecglab.synth.render import render_page

    rows = []
    for variant, settings in variants.items():
        pages = []
        for k in range(count):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rec = read_record(records[k % len(records)], allow_unknown_leads=True)
            rng = np.random.default_rng(np.random.SeedSequence([seed, k]))
            page = apply_damage(render_page(rec, settings.render, rng=rng), settings.damage, rng)
            pages.append(cv2.cvtColor(page.image, cv2.COLOR_RGB2BGR))
        for name, (level, png_filter, strategy) in PNG_CANDIDATES.items():
            params = [
                cv2.IMWRITE_PNG_COMPRESSION, level,
                cv2.IMWRITE_PNG_FILTER, png_filter,
                cv2.IMWRITE_PNG_STRATEGY, strategy,
            ]  # fmt: skip
            seconds, sizes = [], []
            for bgr in pages:
                t0 = time.perf_counter()
                _, buf = cv2.imencode(".png", bgr, params)
                seconds.append(time.perf_counter() - t0)
                sizes.append(len(buf))
            rows.append(
                {
                    "damage": variant,
                    "option": name,
                    "images": count,
                    "mean_s": float(np.mean(seconds)),
                    "mean_mb": float(np.mean(sizes)) / 1e6,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="images per throughput run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--breakdown", type=int, default=16, help="images timed step by step")
    parser.add_argument("--data", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=str(DEFAULT_JSON))
    args = parser.parse_args()
    cv2.setNumThreads(1)  # as run_job's workers: one core each

    from ecglab.synth.job import load_synth_settings

    root = Path(_data_root(args.data))
    records = benchmark_records(root)
    variants = {
        "damaged": load_synth_settings(CONFIG),
        "clean": load_synth_settings(CONFIG, ["damage.enabled=false"]),
    }
    # Warm-up: imports and first-call costs stay out of every timing (forked workers inherit them).
    time_job(records[:1], variants["damaged"], 2, workers=1)

    result: dict = {
        "benchmark": "synth_speed",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": "configs/synth.yaml: A4, 200 DPI, 3x4+1, PNG",
        "cpu_count": os.cpu_count(),
        "data": str(root),
        "records": [str(p.relative_to(root)) for p in records],
        "count": args.count,
        "target_images_per_s": TARGET_IMAGES_PER_S,
        "throughput": [],
        "breakdown": {},
    }
    console = Console(width=120)
    result["parallel_control_speedup"] = [parallel_control()]
    for variant, settings in variants.items():
        for workers in args.workers:
            run = time_job(records, settings, args.count, workers, seed=args.seed)
            run["damage"] = variant
            result["throughput"].append(run)
            console.print(
                f"{variant:8s} workers={workers}: {run['images_per_s']:.2f} images/s "
                f"({run['images']} in {run['seconds']:.1f} s, load {run['loadavg_before'][0]:.1f})"
            )
    result["parallel_control_speedup"].append(parallel_control())
    for variant, settings in variants.items():
        result["breakdown"][variant] = time_steps(records, settings, args.breakdown, seed=args.seed)
    result["png_options"] = png_options(records, variants, args.breakdown, seed=args.seed)

    table = Table(title=f"ecglab synth throughput, {args.count} images, all outputs written")
    for col in (
        "damage",
        "workers",
        "images/s",
        "s/image",
        "CPU s/image",
        "2 idle cores*",
        "MB/image",
        "load avg",
        "target",
    ):
        table.add_column(col)
    for run in result["throughput"]:
        table.add_row(
            run["damage"],
            str(run["workers"]),
            f"{run['images_per_s']:.2f}",
            f"{run['seconds'] / max(run['images'], 1):.3f}",
            "-" if run["cpu_s_per_image"] is None else f"{run['cpu_s_per_image']:.3f}",
            "-" if run["images_per_s_2_idle_cores"] is None else f"{run['images_per_s_2_idle_cores']:.2f}",
            f"{run['mb_per_image']:.1f}",
            f"{run['loadavg_before'][0]:.1f} -> {run['loadavg_after'][0]:.1f}",
            f">= {TARGET_IMAGES_PER_S:g} (2 workers)" if run["workers"] == 2 else "",
        )
    console.print(table)
    console.print(
        "* 2 / (CPU seconds per image): the rate two uncontended cores would give; "
        f"load average now {_load()[0]:.1f} on {os.cpu_count()} cores; in 2 processes a pure-Python loop ran "
        + " and ".join(f"{v:.2f}x" for v in result["parallel_control_speedup"])
        + " as fast as in 1 (before and after the runs; 2.00x = two free cores)."
    )

    steps = Table(title=f"time per image, one process, mean of {args.breakdown} images (ms)")
    steps.add_column("step")
    for variant in variants:
        steps.add_column(variant)
        steps.add_column("%")
    for step in BREAKDOWN_STEPS:
        row = [step]
        for variant in variants:
            b = result["breakdown"][variant]
            row += [f"{1000 * b['mean_s'][step]:.1f}", f"{100 * b['mean_s'][step] / b['total_s']:.0f}"]
        steps.add_row(*row)
    steps.add_row(
        "total (wall)",
        *[v for variant in variants for v in (f"{1000 * result['breakdown'][variant]['total_s']:.0f}", "")],
    )
    steps.add_row(
        "CPU time (process_time)",
        *[
            v
            for variant in variants
            for v in (f"{1000 * result['breakdown'][variant]['cpu_s_per_image']:.0f}", "")
        ],
    )
    console.print(steps)

    png = Table(title=f"PNG encode of the 2339x1654 page image, mean of {args.breakdown} pages")
    for col in ("damage", "zlib level, filter, strategy", "ms", "MB"):
        png.add_column(col)
    for row in result["png_options"]:
        png.add_row(row["damage"], row["option"], f"{1000 * row['mean_s']:.0f}", f"{row['mean_mb']:.2f}")
    console.print(png)

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
