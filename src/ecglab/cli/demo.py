"""``ecglab demo``: every stage that exists so far, on data the package makes itself.

No data folder and no network are needed. Today: simulate a 12-lead ECG, write it as WFDB, CSV
and a challenge record, read each back through the Recording contract, check the round trip,
and plot the record to PNG. Later features add their stages here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from ecglab.cli.console import console
from ecglab.errors import EcglabError
from ecglab.io.recording import Recording

if TYPE_CHECKING:
    from ecglab.synth.page import Page

#: Digitizer of the demo's paper stage: a shipped learned model (the classical pipeline when it is
#: not in this build, or None).
DEMO_DIGITIZER: str | None = "digitizer"


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the app."""
    app.command("demo")(demo)


def demo(
    out: Path = typer.Option(Path("ecglab-demo"), "--out", help="Folder for the demo's outputs."),
    seed: int = typer.Option(0, help="Random seed of the simulation."),
) -> None:
    """Run the pipeline on a simulated 12-lead ECG and write the results to OUT."""
    from ecglab.io import read_record, write_challenge, write_csv, write_wfdb
    from ecglab.signal.simulate import simulate_12lead
    from ecglab.viz import plot_recording

    out.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]ecglab demo")
    rec = simulate_12lead(duration=10.0, fs=500.0, seed=seed, record_id="demo12")
    rec = rec.replace(meta={**rec.meta, "dx": ["426783006"], "age": 50.0, "sex": "F"})  # sinus rhythm
    console.print(f"simulated  {rec}")

    written = {
        "WFDB (format 16)": write_wfdb(rec, out / "wfdb").with_suffix(".hea"),
        "WFDB (format 212)": write_wfdb(rec, out / "wfdb212", fmt="212").with_suffix(".hea"),
        "CSV": write_csv(rec, out / "demo12.csv"),
        "challenge (.mat)": write_challenge(rec, out / "challenge").with_suffix(".hea"),
    }
    table = Table(title="write → read back through the Recording contract")
    for col in ("format", "file", "leads", "fs", "max |error| mV"):
        table.add_column(col)
    for name, path in written.items():
        back = read_record(path)
        err = _round_trip_error(rec, back)
        table.add_row(name, str(path), str(back.n_leads), f"{back.fs:g}", f"{err:.2e}")
    console.print(table)

    png = plot_recording(rec, out / "demo12.png")
    console.print(f"plot       {png}")
    _classify_beats(rec, out)
    page, image = _render_paper(rec, out, seed)
    _classify_12lead(rec, out)
    _digitize_paper(page, image, out)
    console.print(f"[green]done[/]: outputs in {out}/  (try `ecglab info {written['WFDB (format 16)']}`)")


def _classify_beats(rec: Recording, out: Path) -> None:
    """Detect and classify the beats of the simulated record with the shipped beat model."""
    from ecglab.predict import BeatClassifier
    from ecglab.pretrained import available_models
    from ecglab.viz import plot_beats

    if "mitdb-beats" not in available_models():
        console.print("[yellow]beats[/]      skipped: the mitdb-beats model is not shipped in this build")
        return
    result = BeatClassifier.from_pretrained("mitdb-beats").predict(rec)
    table = result.write_csv(out / f"{rec.record_id}.beats.csv")
    result.write_annotations(out)
    lead = result.leads[0]
    png = plot_beats(rec, result.sample, result.labels, out / f"{rec.record_id}.beats.png", lead=lead)
    counts = " ".join(f"{c}:{n}" for c, n in result.counts().items() if n)
    console.print(f"beats      {len(result.sample)} detected on lead {lead} ({counts}) -> {table}, {png}")


def _render_paper(rec: Recording, out: Path, seed: int) -> tuple[Page, Path]:
    """Print the record as a 3x4+1 ECG on paper with its exact masks, and rebuild it from them.

    Returns the rendered :class:`~ecglab.synth.page.Page` and the path of its image.
    """
    import numpy as np

    from ecglab.metrics.snr import kaggle_snr
    from ecglab.synth import render_page, signals_from_truth, write_page
    from ecglab.synth.preview import contact_sheet

    page = render_page(rec, {"layout": "3x4+1"}, rng=np.random.default_rng(seed))
    files = write_page(page, out / "paper", rec.record_id)
    back, names, fs = signals_from_truth(files["leads"], files["json"])
    truth = page.signal[[page.lead_names.index(n) for n in names]]
    snr = kaggle_snr(truth, back, fs)
    sheet = contact_sheet(out / "paper", [rec.record_id], out / "paper" / "preview.png", columns=1)
    console.print(f"paper      3x4+1 printout {files['image']} + mask {files['mask']}; rebuilt from the "
                  f"masks at {snr:.1f} dB (Kaggle SNR) -> {sheet}")  # fmt: skip
    return page, files["image"]


def _digitize_paper(page: Page, image: Path, out: Path) -> None:
    """Digitize the printed page, classify the result, and write the records and ``report.html``."""
    import numpy as np

    from ecglab.cli.digitize import PAGE_LAYOUTS, recording_for_classifier, write_result
    from ecglab.digitize.pipeline import digitize_image
    from ecglab.digitize.report import write_report
    from ecglab.io.leads import STANDARD_12
    from ecglab.metrics.snr import kaggle_snr
    from ecglab.predict import MultilabelClassifier
    from ecglab.pretrained import available_models

    use_model = DEMO_DIGITIZER is not None and DEMO_DIGITIZER in available_models()
    learned = {"model": DEMO_DIGITIZER} if use_model else {}
    duration = page.signal.shape[1] / page.fs
    result = digitize_image(image, fs=page.fs, duration_s=duration, **learned)
    (out / "digitized").mkdir(parents=True, exist_ok=True)
    written = write_result(result, out / "digitized", overlay_image=image)
    # The truth is what the page plotted (NaN elsewhere), in the digitizer's lead order.
    truth = np.full(result.signal.shape, np.nan)
    n = min(truth.shape[1], page.signal.shape[1])
    for i, lead in enumerate(STANDARD_12):
        if lead in page.lead_names:
            truth[i, :n] = page.signal[page.lead_names.index(lead), :n]
    snr = kaggle_snr(truth, result.signal, page.fs)
    labels = scores = None
    if "cinc-12lead" in available_models():
        classifier = MultilabelClassifier.from_pretrained("cinc-12lead")
        prediction = classifier.predict(
            recording_for_classifier(result), page=result.layout.name in PAGE_LAYOUTS
        )
        prediction.write_challenge(out / "digitized" / f"{result.record_id}.classes.csv")
        labels = prediction.positive()
        names = prediction.names or prediction.classes
        scores = dict(zip(names, prediction.probabilities.tolist(), strict=True))
    digitizer = f"model {DEMO_DIGITIZER}" if use_model else "classical pipeline"
    report = write_report(
        out / "report.html", image=image, overlay=out / "digitized" / f"{result.record_id}.overlay.png",
        truth=truth, digitized=result.signal, fs=page.fs, labels=labels, scores=scores,
        title=f"ecglab demo: digitization of {image.name} ({digitizer}, layout {result.layout.name})",
        notes=[*result.notes, "labels: cinc-12lead on the digitized record, unplotted samples set to 0 mV "
               "(a 3x4 page shows each lead for 2.5 s only), with thresholds tuned on validation records "
               "masked that way (benchmarks/classify_pages.py)"],
    )  # fmt: skip
    said = "not classified (cinc-12lead not shipped)" if labels is None else ", ".join(labels) or "no class"
    console.print(f"digitized  {image.name} ({digitizer}): {snr:.1f} dB Kaggle SNR vs the printed signal; "
                  f"cinc-12lead says: {said} -> {written[0].parent}/, {report}")  # fmt: skip


def _classify_12lead(rec: Recording, out: Path) -> None:
    """Classify the simulated 12-lead record with the shipped 12-lead model (challenge output)."""
    from ecglab.predict import MultilabelClassifier
    from ecglab.pretrained import available_models

    if "cinc-12lead" not in available_models():
        console.print("[yellow]12-lead[/]    skipped: the cinc-12lead model is not shipped in this build")
        return
    result = MultilabelClassifier.from_pretrained("cinc-12lead").predict(rec)
    path = result.write_challenge(out / f"{rec.record_id}.classes.csv")
    console.print(f"12-lead    cinc-12lead says: {', '.join(result.positive()) or 'no class'} -> {path}")


def _round_trip_error(original: Recording, back: Recording) -> float:
    """Largest absolute difference after a write/read cycle; refuses a cycle that changed shape."""
    if back.leads != original.leads or back.signal.shape != original.signal.shape or back.fs != original.fs:
        raise EcglabError(f"round trip changed the record: {original} -> {back}")
    return float(abs(back.signal - original.signal).max())
