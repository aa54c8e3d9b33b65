"""``ecglab synth``: render records on ECG paper with exact masks, traces and damage."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ecglab.cli.console import console, err_console
from ecglab.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add ``synth`` to the app."""
    app.command("synth")(synth)


def synth(
    overrides: list[str] | None = typer.Argument(
        None,
        help="Dot overrides of the config, e.g. render.dpi=300 damage.rotation.p=0.5",
        show_default=False,
    ),
    records: list[Path] = typer.Option(..., "--records", "-r", help="Records or folders of records."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    count: int | None = typer.Option(None, "--count", "-n", help="Images to make (default: one per record)."),
    seed: int = typer.Option(0, help="Seed: same seed and arguments give byte-identical files."),
    layout: str | None = typer.Option(None, help="3x4, 3x4+1, 3x4+3, 6x2, 12x1, 2x1 (overrides the config)."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML with render/damage/output sections."
    ),
    workers: int = typer.Option(1, "--workers", "-j", help="Processes (results do not depend on it)."),
    shard: str | None = typer.Option(None, help="i/n: render only images k with k mod n == i."),
    kaggle: bool = typer.Option(False, "--kaggle", help="Also write <id>.csv (Kaggle digitization layout)."),
    clean: bool = typer.Option(False, "--clean", help="No damage (damage.enabled=false)."),
    allow_missing_leads: bool = typer.Option(
        False, "--allow-missing-leads", help="Leave layout leads the record lacks blank instead of failing."
    ),
    preview: bool = typer.Option(False, "--preview", help="Write preview.png: the first images with masks."),
) -> None:
    """Render ECG paper images: <id>.png, .mask.png, .leads.png, .json, .hea/.dat per image."""
    from tqdm.auto import tqdm

    from ecglab.io.reader import iter_record_paths
    from ecglab.synth.job import SynthJob, load_synth_settings, parse_shard, run_job

    extra = list(overrides or [])
    if layout:
        extra.append(f"render.layout={layout}")
    if allow_missing_leads:
        extra.append("render.allow_missing_leads=true")
    if clean:
        extra.append("damage.enabled=false")
    if kaggle:
        extra.append("output.kaggle=true")
    settings = load_synth_settings(config, extra)
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    paths: list[Path] = []
    for path in records:
        if path.is_dir():
            paths.extend(iter_record_paths(path))
        elif path.exists() or path.with_suffix(".hea").exists():
            paths.append(path)
        else:
            raise ConfigError(f"--records {path}: no such file or folder")
    if not paths:
        raise ConfigError("--records: no readable record found")
    n = len(paths) if count is None else count
    if n < 1:
        raise ConfigError(f"--count must be >= 1, got {n}")
    job = SynthJob(
        records=paths, out_dir=out, count=n, seed=seed, settings=settings, shard=parse_shard(shard)
    )
    out.mkdir(parents=True, exist_ok=True)
    todo = job.indices()
    with tqdm(total=len(todo), desc="synth", unit="img", disable=None) as bar:
        results = run_job(job, workers=workers, progress=lambda _: bar.update(1))
    done = [r for r in results if r.image_id]
    failed = [r for r in results if r.error]
    console.print(f"wrote {len(done)} image(s) to {escape(str(out))}/ (shard {job.shard[0]}/{job.shard[1]})")
    if preview and done:
        from ecglab.synth.preview import contact_sheet

        sheet = contact_sheet(out, [r.image_id for r in done[:6]], out / "preview.png")
        console.print(f"preview: {escape(str(sheet))}")
    if failed:
        bad = sorted({r.error for r in failed})
        err_console.print(f"[red]{len(failed)} of {len(results)} image(s) failed ({len(bad)} record(s)):[/]")
        for line in bad:
            err_console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
