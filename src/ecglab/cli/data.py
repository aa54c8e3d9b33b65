"""`ecglab data`: list, locate and download the PhysioNet datasets ecglab knows.

``ecglab data list`` shows the catalog and what is present under the data root,
``ecglab data where [NAME]`` prints the data root (or a dataset folder) and the setting that chose
it, ``ecglab data download NAME`` fetches a dataset, verified file by file (see
:mod:`ecglab.io.download`), and ``ecglab data cache [--clear NAME]`` shows or deletes the derived
caches (:mod:`ecglab.io.cache`). The data root is ``--data DIR`` > ``$ECGLAB_DATA`` > the per-user cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ecglab.cli.console import console, err_console
from ecglab.io.cache import DERIVED_CACHES, cache_usage, clear_caches
from ecglab.io.download import BASE_URL_ENV_VAR, CATALOG, Dataset, download_dataset, get_dataset
from ecglab.io.paths import ENV_VAR, data_dir, data_source

data_app = typer.Typer(
    name="data",
    help="List, locate and download PhysioNet datasets (MIT-BIH, PTB-XL, CinC 2020/2021).",
    no_args_is_help=True,
)

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help=f"Data root (default: ${ENV_VAR}, then the per-user cache).",
        file_okay=False,
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to ``app``."""
    app.add_typer(data_app, name="data")


@data_app.command("list")
def list_datasets(data: DataOption = None) -> None:
    """Show the datasets ecglab can download and whether each is present locally."""
    root = data_dir(data)
    table = Table(title=f"data root: {root} (from {data_source(data)})", title_justify="left")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("PhysioNet project", no_wrap=True)
    table.add_column("size", no_wrap=True, justify="right")
    table.add_column("local", no_wrap=True)
    table.add_column("description", overflow="fold")
    for info in CATALOG.values():
        local = "yes" if _is_present(root / info.folder) else "no"
        table.add_row(info.name, info.project, info.size, local, info.description)
    console.print(table)


@data_app.command("where")
def where(
    name: Annotated[str | None, typer.Argument(help="Dataset name; omit for the data root.")] = None,
    data: DataOption = None,
) -> None:
    """Print the data root (or one dataset's folder) and which setting chose it."""
    root = data_dir(data)
    path = root / get_dataset(name).folder if name else root
    # The path alone on stdout, so that `cd "$(ecglab data where mitdb)"` works; the note on stderr.
    typer.echo(str(path))
    note = f"data root from {data_source(data)}"
    if name and not _is_present(path):
        note += f"; '{name}' is not downloaded yet (ecglab data download {name})"
    err_console.print(note, highlight=False, soft_wrap=True)


@data_app.command("download")
def download(
    name: Annotated[str, typer.Argument(help=f"Dataset: {', '.join(CATALOG)}.", show_default=False)],
    data: DataOption = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            "-i",
            help="Only files matching this glob (path, file name or folder; repeatable), e.g. '*.hea'.",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help=f"PhysioNet files URL (default: ${BASE_URL_ENV_VAR}, then https://physionet.org/files).",
            show_default=False,
        ),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    workers: Annotated[int, typer.Option("--workers", min=1, max=32, help="Parallel downloads.")] = 4,
) -> None:
    """Download a dataset (or the files matching --include), verifying every file's SHA256.

    Rerunning resumes: verified files are skipped and partial files continue where they stopped.
    """
    info: Dataset = get_dataset(name)
    summary = download_dataset(
        info.name, dest_root=data, include=include, base_url=base_url, progress=progress, workers=workers
    )
    console.print(
        f"{info.name}: {len(summary.downloaded)} downloaded ({_human_bytes(summary.bytes_downloaded)}), "
        f"{len(summary.skipped)} already present, all verified, in {summary.dest}",
        highlight=False,
        soft_wrap=True,
    )


@data_app.command("cache")
def cache(
    clear: Annotated[
        list[str] | None,
        typer.Option(
            "--clear",
            help=f"Delete a cache: all, {', '.join(DERIVED_CACHES)} (repeatable). Downloaded data is kept.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show the derived caches (preprocessed beats, rendered training pages) and their size, or clear them.

    They are rebuilt on demand, so clearing loses nothing but time.
    """
    if clear:
        removed = clear_caches(clear)
        freed = sum(u.bytes for u in removed)
        names = ", ".join(u.name for u in removed) or "nothing (already empty)"
        console.print(f"cleared {names}: {_human_bytes(freed)} freed", highlight=False)
        return
    table = Table(title="derived caches (rebuilt on demand)", title_justify="left")
    for col in ("name", "files", "size", "folder", "holds"):
        table.add_column(col, overflow="fold")
    for u in cache_usage():
        table.add_row(u.name, str(u.files), _human_bytes(u.bytes), str(u.path), u.description)
    console.print(table)


def _is_present(folder: Path) -> bool:
    """A dataset counts as present when its folder holds anything at all."""
    try:
        return folder.is_dir() and any(folder.iterdir())
    except OSError:
        return False


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
