"""The HTML digitization report and ``ecglab digitize --classify/--model``."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ecglab.digitize.report import MAX_WIDTH_PX, write_report
from ecglab.errors import RecordError
from ecglab.io.leads import STANDARD_12


class _Tags(HTMLParser):
    """Collects the ``img`` sources and every tag name of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: dict[str, str] = {}
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images[attrs["alt"]] = attrs["src"]


def _decode(src: str) -> np.ndarray:
    head, data = src.split(",", 1)
    assert re.fullmatch(r"data:image/(png|jpeg);base64", head), head
    return cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)


def test_write_report_embeds_images_and_the_scores(tmp_path):
    fs = 500.0
    t = np.arange(1000) / fs  # whole periods of 1..12 Hz: every lead has mean 0 and rms 1/sqrt(2)
    truth = np.stack([np.sin(2 * np.pi * (k + 1) * t) for k in range(12)])
    digitized = 0.9 * truth  # error = 0.1 * truth on every lead: SNR 20 dB, RMSE 0.1/sqrt(2) mV
    truth[3, :200] = np.nan  # not plotted: not scored
    page = np.full((300, 2000, 3), 240, np.uint8)
    overlay = tmp_path / "over.png"
    cv2.imwrite(str(overlay), np.zeros((100, 200, 3), np.uint8))

    path = write_report(
        tmp_path / "r" / "report.html", image=page, overlay=overlay, truth=truth, digitized=digitized,
        fs=fs, labels=["NSR", "A<B"], scores={"NSR": 0.91, "A<B": 0.55}, title="t & t",
    )  # fmt: skip

    text = path.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(text)
    assert set(parser.images) == {"per-lead plot", "page image", "overlay"}
    assert all(src.startswith("data:image/") for src in parser.images.values())  # nothing external
    assert "link" not in parser.tags and "script" not in parser.tags
    assert _decode(parser.images["page image"]).shape[1] == MAX_WIDTH_PX  # 2000 px downscaled
    assert _decode(parser.images["overlay"]).shape[:2] == (100, 200)
    assert _decode(parser.images["per-lead plot"]).shape[1] > 600
    # PhysioNet SNR of a 0.9x prediction: 10 log10(1 / 0.01) = 20 dB on each lead, hence overall.
    rows = re.findall(r"<tr(?: class='total')?><td>([^<]+)</td>((?:<td>[^<]*</td>){4})</tr>", text)
    table = {name: re.findall(r"<td>([^<]*)</td>", cells) for name, cells in rows}
    assert list(table) == [*STANDARD_12, "overall"]
    rmse = f"{0.1 / np.sqrt(2):.3f}"
    for name in STANDARD_12:
        assert table[name][1:] == ["20.00", "1.000", rmse], name
    assert table["overall"][1:] == ["20.00", "1.000", rmse]
    assert float(table["overall"][0]) == pytest.approx(20.0, abs=0.05)  # Kaggle: best shift 0, offset 0
    assert "<span>A&lt;B</span>" in text and "<title>t &amp; t</title>" in text
    assert "<td>NSR</td><td>0.910</td>" in text
    assert not list(path.parent.glob(".*.tmp"))  # atomic: no temporary file left behind


def test_write_report_refuses_mismatched_signals(tmp_path):
    with pytest.raises(RecordError, match=r"same \[12, n\] shape"):
        write_report(
            tmp_path / "r.html", image=np.zeros((10, 10, 3), np.uint8), overlay=None,
            truth=np.zeros((12, 100)), digitized=np.zeros((12, 90)), fs=500.0,
        )  # fmt: skip
    assert not (tmp_path / "r.html").exists()


# ------------------------------------------------------------------------------------------- CLI
def _app() -> typer.Typer:
    """The digitize commands alone (no main callback, so reset --debug left on by other tests)."""
    from ecglab.cli.console import set_debug
    from ecglab.cli.digitize import register

    set_debug(False)
    app = typer.Typer()
    register(app)
    app.callback()(lambda: None)
    return app


@pytest.fixture(scope="module")
def page_image(tmp_path_factory) -> Path:
    """A 3x4+1 page rendered from a simulated record, written as ``pg.png``."""
    from ecglab.signal.simulate import simulate_12lead
    from ecglab.synth import render_page, write_page

    rec = simulate_12lead(duration=10.0, fs=500.0, seed=1, record_id="pg")
    page = render_page(rec, {"layout": "3x4+1", "dpi": 100}, rng=np.random.default_rng(1))
    return write_page(page, tmp_path_factory.mktemp("page"), "pg")["image"]


def _needs_cinc() -> None:
    from ecglab.pretrained import available_models

    if "cinc-12lead" not in available_models():
        pytest.skip("the cinc-12lead model is not shipped in this build")


def test_digitize_classify_writes_challenge_file_and_lists_a_bad_image(page_image, tmp_path):
    _needs_cinc()
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        _app(), ["digitize", str(page_image), str(bad), "--out", str(out), "--classify", "cinc-12lead"]
    )
    assert result.exit_code == 1, result.output
    flat = result.output.replace("\n", "")  # rich wraps long temporary paths
    assert "1 image(s) failed" in flat and "bad.png" in flat
    assert "digitized 1 of 2" in flat
    assert (out / "pg.hea").is_file() and (out / "pg.csv").is_file()
    lines = (out / "pg.classes.csv").read_text().splitlines()
    assert lines[0] == "#pg" and len(lines) == 4
    codes, flags = lines[1].split(","), [int(v) for v in lines[2].split(",")]
    probs = np.array(lines[3].split(","), float)
    assert len(codes) == len(flags) == len(probs) and ((probs >= 0) & (probs <= 1)).all()
    from ecglab.predict import MultilabelClassifier

    clf = MultilabelClassifier.from_pretrained("cinc-12lead")
    assert clf.classes == codes
    names = [clf.names[i] for i, f in enumerate(flags) if f] or ["no class"]
    assert f"cinc-12lead: {', '.join(names)}" in " ".join(result.output.split())
    assert not (out / "bad.classes.csv").exists()


def test_unknown_classifier_exits_2_with_one_line_before_any_image(page_image, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        _app(), ["digitize", str(page_image), "--out", str(out), "--classify", "no-such-model"]
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--classify no-such-model" in lines[0], result.output
    assert not out.exists()


def test_classification_failure_is_listed_and_the_batch_goes_on(page_image, tmp_path, monkeypatch):
    _needs_cinc()
    from ecglab.predict import MultilabelClassifier

    real = MultilabelClassifier.predict

    def predict(self, rec, **kwargs):
        if rec.record_id == "first":
            raise RecordError(f"record {rec.record_id!r}: simulated failure")
        return real(self, rec, **kwargs)

    monkeypatch.setattr(MultilabelClassifier, "predict", predict)
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    first.write_bytes(page_image.read_bytes())
    second.write_bytes(page_image.read_bytes())
    out = tmp_path / "out"
    result = CliRunner().invoke(
        _app(), ["digitize", str(first), str(second), "--out", str(out), "--classify", "cinc-12lead"]
    )
    assert result.exit_code == 1
    flat = result.output.replace("\n", "")
    assert "classification failed" in flat and "simulated failure" in flat
    assert (out / "first.hea").is_file() and not (out / "first.classes.csv").exists()
    assert (out / "second.classes.csv").is_file()


def test_bad_model_or_backend_exit_2_before_any_image(tmp_path):
    img = tmp_path / "x.png"
    runner = CliRunner()
    bad = runner.invoke(_app(), ["digitize", str(img), "--out", str(tmp_path), "--backend", "tf"])
    assert bad.exit_code == 2 and "choose torch or onnx" in bad.output
    argv = ["digitize", str(img), "--out", str(tmp_path), "--model", "no-such-model"]
    unknown = runner.invoke(_app(), argv)
    assert unknown.exit_code == 2 and "--model no-such-model" in unknown.output
    assert len([line for line in unknown.output.splitlines() if line.strip()]) == 1, unknown.output


def test_recording_for_classifier_sets_unplotted_samples_to_zero():
    from types import SimpleNamespace

    from ecglab.cli.digitize import recording_for_classifier
    from ecglab.io.recording import Recording

    signal = np.ones((12, 10), np.float32)
    signal[2, 3:] = np.nan
    rec = Recording(signal=signal, fs=500.0, leads=STANDARD_12, record_id="r")
    out = recording_for_classifier(SimpleNamespace(recording=rec))
    assert np.isfinite(out.signal).all() and out.signal[2, 3:].sum() == 0 and out.signal[2, :3].sum() == 3
    assert out.signal.sum() == 12 * 10 - 7 and out.record_id == "r"
