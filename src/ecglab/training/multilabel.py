"""Task ``multilabel``: 12-lead multi-label classification (PhysioNet/CinC 2020/2021, PTB-XL).

Records come from :func:`ecglab.datasets.pool.build_pool` (CinC records with the challenge's scored
SNOMED CT classes, PTB-XL mapped to them, or PTB-XL alone with its own label sets). The split is
patient-grouped and multilabel-stratified (:func:`ecglab.datasets.splits.patient_stratified_folds`):
fold ``cv.val_fold`` validates (early stopping, per-class thresholds), fold ``multilabel.test_fold``
(default: the next fold) is the test set that neither training nor threshold tuning sees. With
``multilabel.test_sources`` whole databases are held out instead (database-wise split).

After training, the evaluation hook tunes per-class thresholds on the validation fold, stores them in
``thresholds.json`` beside the weights (prediction uses them), scores the test records with the
challenge metric and threshold-free AUROC/AUPRC, and writes the test outputs in the challenge format
(``test_outputs/``) with their labels (``test_labels/``), so the official scripts can rescore them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import torch
from omegaconf import DictConfig

from ecglab.errors import ConfigError, EcglabError
from ecglab.training.module import EcgTaskModule
from ecglab.training.tasks import TaskParts, register_task

THRESHOLDS_FILE = "thresholds.json"


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


def preprocess_spec(cfg: DictConfig) -> Any:
    """The :class:`~ecglab.signal.preprocess.PreprocessSpec` of a multilabel (or pretrain) config."""
    from ecglab.signal.preprocess import LEAD_SETS, PreprocessSpec

    m = cfg.multilabel
    leads = list(cfg.data.leads) if cfg.data.leads else list(LEAD_SETS[int(m.lead_set)])
    band = tuple(float(v) for v in m.bandpass) if m.bandpass is not None else None
    if cfg.data.fs is None:
        raise ConfigError("data.fs: the multilabel task needs a model sampling rate (e.g. 100 or 250)")
    return PreprocessSpec(
        fs=float(cfg.data.fs), leads=leads, bandpass=band, notch=m.notch_hz, normalize=str(m.normalize)
    )


def build_table(cfg: DictConfig) -> Any:
    """The record table (rows, label matrix, classes) of the config's sources."""
    from ecglab.datasets.pool import build_pool
    from ecglab.io.paths import data_dir

    m = cfg.multilabel
    task = "cinc" if "cinc" in m.sources else str(m.ptbxl_task)
    return build_pool(
        data_dir(cfg.data.root),
        sources=tuple(m.sources),
        version=str(m.version),
        task=task,
        sampling_rate=int(m.ptbxl_fs),
    )


def split_indices(cfg: DictConfig, table: Any) -> dict[str, np.ndarray]:
    """Row indices of ``train``, ``val`` and ``test`` (patient-disjoint), from the ``cv`` keys.

    Raises
    ------
    ConfigError
        When a split comes out empty (too few records or patients for ``cv.n_folds``).
    """
    from ecglab.datasets.splits import patient_stratified_folds

    frame, m, cv = table.rows, cfg.multilabel, cfg.cv
    n = len(frame)
    everything = np.arange(n)
    test_mask = np.zeros(n, dtype=bool)
    if m.test_sources:
        test_mask = frame["source"].isin(list(m.test_sources)).to_numpy()
    if cv.split == "predefined":
        if "strat_fold" not in frame or frame["strat_fold"].isna().any():
            raise ConfigError(
                "cv.split=predefined uses PTB-XL's strat_fold, which challenge records lack: "
                "set multilabel.sources=[ptbxl] (or cv.split=patient)"
            )
        folds = frame["strat_fold"].to_numpy()
        val_fold = int(cv.val_fold)
        test_fold = int(m.test_fold) if m.test_fold is not None else 10
        if test_fold == val_fold:
            raise ConfigError(f"multilabel.test_fold: must differ from cv.val_fold ({val_fold})")
    else:
        pool = everything[~test_mask]
        folds = np.full(n, -1)
        folds[pool] = patient_stratified_folds(
            table.y[pool], frame["patient_id"].to_numpy()[pool], n_folds=int(cv.n_folds), seed=int(cv.seed)
        )
        val_fold = int(cv.val_fold)
        test_fold = int(m.test_fold) if m.test_fold is not None else (val_fold + 1) % int(cv.n_folds)
        if test_fold == val_fold:
            raise ConfigError(f"multilabel.test_fold: must differ from cv.val_fold ({val_fold})")
    if not m.test_sources:
        test_mask = folds == test_fold
    val_mask = (folds == val_fold) & ~test_mask
    train_mask = ~test_mask & ~val_mask
    out = {"train": everything[train_mask], "val": everything[val_mask], "test": everything[test_mask]}
    for name, idx in out.items():
        if idx.size == 0:
            what = {"train": "training records", "val": f"fold {val_fold}", "test": "test records"}[name]
            raise ConfigError(
                f"cv: the {name} split is empty ({what}); check cv.n_folds, cv.val_fold, "
                "multilabel.test_fold and multilabel.test_sources"
            )
    return out


def crop_loader(
    cfg: DictConfig, dataset: Any, *, shuffle: bool, drop_last: bool | None = None
) -> torch.utils.data.DataLoader:
    """Loader of a :class:`~ecglab.datasets.twelve_lead.TwelveLeadDataset` (multilabel and pretrain).

    Workers are not persistent: they must see each epoch's ``set_epoch`` (new random crops). By
    default a shuffled loader drops the last incomplete batch when there is more than one batch.
    """
    workers = int(cfg.data.num_workers)
    batch = int(cfg.training.batch_size)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch,
        shuffle=shuffle,
        num_workers=workers,
        persistent_workers=False,
        drop_last=(shuffle and len(dataset) > batch) if drop_last is None else drop_last,
    )


def eval_step_samples(cfg: DictConfig) -> int:
    """Step between the evaluation windows of a long record (default: the window, no overlap)."""
    step = cfg.multilabel.eval_step_s
    return round(float(step if step else cfg.multilabel.crop_s) * float(cfg.data.fs))


class MultilabelData(lightning.LightningDataModule):
    """Training crops, validation centre crops and evaluation windows of the pool's splits."""

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.table: Any = None
        self.splits: dict[str, np.ndarray] = {}
        self.datasets: dict[str, Any] = {}

    @property
    def crop_samples(self) -> int:
        return round(float(self.cfg.multilabel.crop_s) * float(self.cfg.data.fs))

    def setup(self, stage: str | None = None) -> None:
        """Scan the sources, split them, and make the datasets (signals load on first use)."""
        from ecglab.datasets.twelve_lead import TwelveLeadDataset

        if self.table is not None:
            return
        cfg = self.cfg
        self.table = build_table(cfg)
        self.splits = split_indices(cfg, self.table)
        spec = preprocess_spec(cfg)
        cache = cfg.multilabel.cache_dir
        self.unreadable: list[str] = []
        for name, idx in self.splits.items():
            if name != "train":
                idx = self._readable(idx, spec, cache)
                self.splits[name] = idx
            self.datasets[name] = TwelveLeadDataset(
                self.table.subset(idx),
                spec,
                crop_samples=self.crop_samples,
                train=name == "train",
                seed=int(cfg.training.seed),
                cache_dir=cache,
                window_step=eval_step_samples(cfg),
            )

    def _readable(self, idx: np.ndarray, spec: Any, cache: Any) -> np.ndarray:
        """Rows of ``idx`` whose record can be read; the others are listed in ``unreadable``.

        Validation and test records are read before training, so a bad file is reported at once and
        cannot break the evaluation after training (training crops skip bad records by themselves).
        """
        from ecglab.datasets.twelve_lead import TwelveLeadDataset

        probe = TwelveLeadDataset(self.table.subset(idx), spec, crop_samples=self.crop_samples, train=False,
                                  cache_dir=cache)  # fmt: skip
        bad = set()
        for i in range(len(probe)):
            try:
                probe.signal(i)
            except EcglabError as exc:
                bad.add(i)
                self.unreadable.append(str(exc).splitlines()[0])
        return np.array([row for i, row in enumerate(idx) if i not in bad], dtype=int)

    @property
    def classes(self) -> list[str]:
        return list(self.table.classes)

    def _loader(self, name: str, shuffle: bool) -> torch.utils.data.DataLoader:
        return crop_loader(self.cfg, self.datasets[name], shuffle=shuffle)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader("val", shuffle=False)


# ----------------------------------------------------------------------------------------------
# Model step
# ----------------------------------------------------------------------------------------------


def augment_batch(x: torch.Tensor, scale: float = 0.1, noise_std: float = 0.05) -> torch.Tensor:
    """Label-preserving augmentation of z-scored 12-lead crops: per-record gain ``1 ± scale`` and
    Gaussian noise (torch's global generator, which the trainer seeds)."""
    gain = 1.0 + scale * (2.0 * torch.rand(x.shape[0], 1, 1, device=x.device) - 1.0)
    return x * gain + noise_std * torch.randn_like(x)


def macro_auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Mean one-vs-rest AUROC over classes that have both positives and negatives (NaN if none)."""
    from sklearn.metrics import roc_auc_score

    values = [roc_auc_score(y[:, c], p[:, c]) for c in range(y.shape[1]) if 0 < y[:, c].sum() < len(y)]
    return float(np.mean(values)) if values else float("nan")


class MultilabelModule(EcgTaskModule):
    """Binary cross-entropy (optionally class-weighted or focal) over the pool's classes.

    Logs ``val_macro_auroc`` (threshold-free; the default monitor) and ``val_macro_f1`` at 0.5.
    """

    def __init__(self, cfg: DictConfig, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__(cfg)
        n = int(cfg.model.params.n_classes)
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else torch.ones(n))
        self._val_true: list[torch.Tensor] = []
        self._val_prob: list[torch.Tensor] = []

    def forward_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of a batch (with age/sex when the model takes them)."""
        if self.cfg.multilabel.use_demographics:
            return self.model(batch["x"], batch["demo"])
        return self.model(batch["x"])

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy (focal when ``multilabel.loss=focal``)."""
        m = self.cfg.multilabel
        weight = self.pos_weight if m.pos_weight != "none" else None
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            logits.float(), y, pos_weight=weight, reduction="none"
        )
        if m.loss == "focal":
            p = torch.sigmoid(logits.float())
            p_true = torch.where(y > 0.5, p, 1 - p)
            bce = (1 - p_true) ** float(m.focal_gamma) * bce
        return bce.mean()

    def shared_step(self, batch: Any, stage: str) -> torch.Tensor:
        if stage == "train" and self.cfg.multilabel.augment:
            batch = {**batch, "x": augment_batch(batch["x"])}
        logits = self.forward_batch(batch)
        if stage == "val":
            self._val_true.append(batch["y"].detach().cpu())
            self._val_prob.append(torch.sigmoid(logits.detach().float()).cpu())
        return self.loss(logits, batch["y"])

    def on_validation_epoch_end(self) -> None:
        if not self._val_true:
            return
        from sklearn.metrics import f1_score

        y = torch.cat(self._val_true).numpy()
        p = torch.cat(self._val_prob).numpy()
        self._val_true.clear()
        self._val_prob.clear()
        present = y.sum(0) > 0
        f1 = f1_score(y[:, present], p[:, present] >= 0.5, average="macro", zero_division=0)
        self.log("val_macro_auroc", macro_auroc(y, p), prog_bar=True, sync_dist=True)
        self.log("val_macro_f1", float(f1), sync_dist=True)


# ----------------------------------------------------------------------------------------------
# Inference, thresholds, evaluation
# ----------------------------------------------------------------------------------------------


def predict_windows(
    model: torch.nn.Module, windows: np.ndarray, demo: np.ndarray | None = None, batch: int = 64
) -> np.ndarray:
    """Probabilities of one record: the mean over its windows ``[n_windows, leads, samples]``."""
    probs = []
    windows = np.asarray(windows, dtype=np.float32)
    model = model.eval()
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            x = torch.from_numpy(np.ascontiguousarray(windows[i : i + batch]))
            if demo is None:
                logits = model(x)
            else:
                d = torch.from_numpy(np.repeat(demo[None].astype(np.float32), len(x), 0))
                logits = model(x, d)
            probs.append(torch.sigmoid(logits.float()).numpy())
    return np.concatenate(probs).mean(0)


def predict_dataset(module: MultilabelModule, dataset: Any) -> np.ndarray:
    """``[records, classes]`` probabilities of every record of a dataset, window-averaged."""
    from tqdm.auto import tqdm

    model = module.model.eval()
    use_demo = bool(module.cfg.multilabel.use_demographics)
    out = []
    for i in tqdm(range(len(dataset)), desc="predict", leave=False, disable=None):
        windows = dataset.eval_windows(i).numpy()
        demo = dataset[i]["demo"].numpy() if use_demo else None
        out.append(predict_windows(model, windows, demo))
    return np.stack(out) if out else np.zeros((0, int(module.cfg.model.params.n_classes)), np.float32)


def tune_thresholds(
    y: np.ndarray, probs: np.ndarray, objective: str = "f1", metric: Any = None, passes: int = 2
) -> np.ndarray:
    """Per-class decision thresholds chosen on validation data.

    Parameters
    ----------
    y, probs
        ``[records, classes]`` labels (0/1) and probabilities.
    objective
        ``f1``: each class's threshold maximises its own F1 (independent per class); ``challenge``:
        coordinate ascent on ``metric(y, binary)`` (the challenge metric couples the classes), starting
        from the F1 thresholds; ``fixed``: 0.5 everywhere.
    metric
        ``metric(y_bool, binary_bool) -> float`` for ``challenge``.
    passes
        Coordinate-ascent sweeps over the classes.

    Returns
    -------
    np.ndarray
        ``[classes]`` thresholds; classes without a validation positive keep 0.5.
    """
    n_classes = y.shape[1]
    thresholds = np.full(n_classes, 0.5)
    if objective == "fixed" or len(y) == 0:
        return thresholds
    grid = np.linspace(0.05, 0.95, 19)
    yb = y.astype(bool)
    for c in range(n_classes):
        if not yb[:, c].any():
            continue
        pred = probs[:, c][None, :] >= grid[:, None]
        tp = (pred & yb[:, c]).sum(1)
        f1 = 2 * tp / np.maximum(pred.sum(1) + yb[:, c].sum(), 1)
        thresholds[c] = grid[int(np.argmax(f1))]  # first of equals: the lowest threshold
    if objective != "challenge" or metric is None:
        return thresholds
    best = metric(yb, probs >= thresholds)
    for _ in range(passes):
        for c in range(n_classes):
            for t in grid:
                trial = thresholds.copy()
                trial[c] = t
                value = metric(yb, probs >= trial)
                if value > best + 1e-12:
                    best, thresholds = value, trial
    return thresholds


def write_thresholds(path: Path, classes: list[str], thresholds: np.ndarray, info: dict[str, Any]) -> None:
    """``thresholds.json``: the class codes, names and decision thresholds prediction uses."""
    from ecglab.io.atomic import atomic_write

    data = {"classes": list(classes), "thresholds": [float(t) for t in thresholds], **info}
    with atomic_write(path, encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)


def read_thresholds(folder: Path) -> dict[str, Any]:
    """The ``thresholds.json`` of a model folder.

    Raises
    ------
    ConfigError
        If the folder has none (a multilabel run that did not finish its evaluation).
    """
    path = Path(folder) / THRESHOLDS_FILE
    if not path.is_file():
        raise ConfigError(f"{folder}: no {THRESHOLDS_FILE} (the class list and thresholds of the model)")
    return json.loads(path.read_text(encoding="utf-8"))


def score_predictions(
    cfg: DictConfig,
    classes: list[str],
    y: np.ndarray,
    probs: np.ndarray,
    thresholds: np.ndarray,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """Challenge metric (CinC classes) or macro F1, plus AUROC/AUPRC, of thresholded predictions."""
    from ecglab.metrics.classification import multilabel_report

    binary = probs >= thresholds
    report = multilabel_report(y.astype(bool), binary, probs, classes, names)
    if "cinc" in cfg.multilabel.sources:
        from ecglab.metrics.challenge import load_tables, score

        tables = load_tables(str(cfg.multilabel.version))
        official = score(*_align_to_tables(y, binary, probs, classes, tables), tables)
        report["challenge"] = official
    return report


def _align_to_tables(
    y: np.ndarray, binary: np.ndarray, probs: np.ndarray, classes: list[str], tables: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrange our columns in the scorer's class order (absent classes: all zero)."""
    order = {c: i for i, c in enumerate(classes)}
    n = len(y)
    out = [np.zeros((n, len(tables.classes)), dtype=a.dtype) for a in (y, binary, probs)]
    for j, members in enumerate(tables.members):  # "733534002|164909002": equivalent codes, one class
        ours = [order[m] for m in members if m in order]
        if ours:
            for dst, src in zip(out, (y, binary, probs), strict=True):
                dst[:, j] = src[:, ours[0]]
    return out[0].astype(bool), out[1].astype(bool), out[2].astype(np.float64)


def challenge_metric_fn(cfg: DictConfig, classes: list[str]) -> Any:
    """``metric(y, binary)`` computing the official challenge metric, for threshold tuning."""
    if "cinc" not in cfg.multilabel.sources:
        return None
    from ecglab.metrics.challenge import challenge_metric, load_tables

    tables = load_tables(str(cfg.multilabel.version))

    def metric(y: np.ndarray, binary: np.ndarray) -> float:
        ya, ba, _ = _align_to_tables(y, binary, binary.astype(float), classes, tables)
        return float(challenge_metric(ya, ba, tables.weights, tables.classes, tables.normal_class))

    return metric


def evaluate_multilabel(
    module: MultilabelModule, datamodule: MultilabelData, run_dir: Path
) -> dict[str, Any]:
    """Tune thresholds on validation, score the test split, write thresholds and challenge outputs."""
    cfg = module.cfg
    classes = datamodule.classes
    names = list(datamodule.table.class_names)
    results: dict[str, Any] = {"classes": classes}
    val, test = datamodule.datasets["val"], datamodule.datasets["test"]
    p_val = predict_dataset(module, val)
    objective = str(cfg.multilabel.threshold_objective)
    thresholds = tune_thresholds(val.table.y, p_val, objective, challenge_metric_fn(cfg, classes))
    write_thresholds(
        run_dir / THRESHOLDS_FILE,
        classes,
        thresholds,
        {
            "objective": objective,
            "tuned_on": f"val fold {cfg.cv.val_fold}",
            "names": list(datamodule.table.class_names),
        },
    )
    results["val"] = score_predictions(cfg, classes, val.table.y, p_val, thresholds, names)
    p_test = predict_dataset(module, test)
    results["test"] = score_predictions(cfg, classes, test.table.y, p_test, thresholds, names)
    results["n_records"] = {name: len(ds) for name, ds in datamodule.datasets.items()}
    failures = [f for ds in datamodule.datasets.values() for f in getattr(ds, "failures", [])]
    failures += list(getattr(datamodule.table, "failures", [])) + list(getattr(datamodule, "unreadable", []))
    results["failures"] = [str(f) for f in failures]
    if "cinc" in cfg.multilabel.sources:
        _write_challenge_dirs(run_dir, test, p_test, p_test >= thresholds, classes)
    _plot_per_class(results["test"], run_dir / "test_per_class.png")
    return results


def _write_challenge_dirs(
    run_dir: Path, dataset: Any, probs: np.ndarray, binary: np.ndarray, classes: list[str]
) -> None:
    """Test outputs in the challenge format and their label headers, for the official scripts.

    Challenge records keep their own header (``# Dx:`` respelled ``#Dx:``); PTB-XL records get a
    minimal header whose ``#Dx`` holds the SNOMED CT codes their SCP statements map to (see
    :mod:`ecglab.datasets.ptbxl`).
    """
    from ecglab.io.atomic import atomic_write
    from ecglab.metrics.challenge import write_output_file

    out_dir, label_dir = run_dir / "test_outputs", run_dir / "test_labels"
    out_dir.mkdir(exist_ok=True)
    label_dir.mkdir(exist_ok=True)
    rows = dataset.table.rows
    for i in range(len(rows)):
        row = rows.iloc[i]
        rid = str(row["record_id"])
        write_output_file(out_dir / f"{rid}.csv", rid, classes, binary[i], probs[i])
        header = Path(str(row["path"])).with_suffix(".hea")
        if row["kind"] == "challenge" and header.is_file():
            # Some 2021 headers write "# Dx:", which the official scripts do not read (no labels):
            # the copy spells it "#Dx:" so that they score the same labels as ecglab.
            text = header.read_text(encoding="utf-8", errors="replace")
            lines = [
                "#Dx:" + line[len("# Dx:") :] if line.startswith("# Dx:") else line
                for line in text.splitlines()
            ]
            with atomic_write(label_dir / f"{rid}.hea", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
        else:
            with atomic_write(label_dir / f"{rid}.hea", encoding="utf-8") as handle:
                handle.write(f"{rid} 12 {float(row['fs']):g} {int(row['n_samples'])}\n")
                handle.write(f"#Dx: {','.join(str(c) for c in row['dx'])}\n")


def _plot_per_class(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.get("per_class", []) if r.get("support", 0) > 0]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rows) + 1.5))
    names = [r["name"] for r in rows]
    ax.barh(names, [r.get("auroc") or 0 for r in rows], color="#4c72b0", label="AUROC")
    ax.barh(names, [r["f1"] for r in rows], color="#dd8452", alpha=0.8, label="F1")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    ax.set_title("test split, per class")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# Builder
# ----------------------------------------------------------------------------------------------


def fill_model_shape(cfg: DictConfig, n_leads: int, n_classes: int) -> None:
    """Set ``model.params`` in_leads / n_classes / n_demo from the data, or check given values."""
    expected = {
        "in_leads": n_leads,
        "n_classes": n_classes,
        "n_demo": 3 if cfg.multilabel.use_demographics else 0,
    }
    params = cfg.model.params
    for key, value in expected.items():
        if key in params and params[key] is not None and int(params[key]) != value:
            raise ConfigError(
                f"model.params.{key} is {params[key]} but the data give {value}; "
                f"set it to {value} or leave it out"
            )
        with _writable(cfg):
            params[key] = value


def _writable(cfg: DictConfig) -> Any:
    from omegaconf import open_dict

    return open_dict(cfg)


def pos_weights(y: np.ndarray, scheme: str) -> torch.Tensor:
    """Positive-class weights ``negatives/positives`` (``inverse``), its square root, or ones."""
    pos = y.sum(0)
    ratio = (len(y) - pos) / np.maximum(pos, 1)
    weight = {"none": np.ones_like(ratio), "sqrt": np.sqrt(ratio), "inverse": ratio}[scheme]
    return torch.as_tensor(np.clip(weight, 1.0, 100.0), dtype=torch.float32)


def check_pretraining_unseen(cfg: DictConfig, data: MultilabelData) -> None:
    """Refuse a ``model.pretrained`` run that saw this run's validation or test records.

    Pre-training reads no labels, but a test score is only clean when the test records were never
    used at all; pre-train with the same ``cv`` and ``multilabel`` keys as the fine-tuning run.
    """
    pretrained = cfg.model.get("pretrained")
    if not pretrained:
        return
    from pathlib import Path as _Path

    folder = _Path(str(pretrained))
    folder = folder.parent if folder.suffix == ".safetensors" else folder
    listing = folder / "pretrain_records.json"
    if not listing.is_file():
        return
    seen = set(json.loads(listing.read_text(encoding="utf-8"))["record_ids"])
    for name in ("val", "test"):
        ids = set(data.table.rows["record_id"].iloc[data.splits[name]].astype(str))
        overlap = ids & seen
        if overlap:
            raise ConfigError(
                f"model.pretrained: {folder} was pre-trained on {len(overlap)} of this run's {name} records "
                f"(e.g. {sorted(overlap)[0]}); pre-train with the same cv.* and multilabel.* keys"
            )


def build_multilabel(cfg: DictConfig) -> TaskParts:
    """Task builder registered as ``multilabel``."""
    data = MultilabelData(cfg)
    data.setup()
    check_pretraining_unseen(cfg, data)
    fill_model_shape(cfg, len(preprocess_spec(cfg).leads), len(data.classes))
    weight = pos_weights(data.datasets["train"].table.y, str(cfg.multilabel.pos_weight))
    return TaskParts(module=MultilabelModule(cfg, weight), datamodule=data, evaluate=evaluate_multilabel)


register_task("multilabel", build_multilabel, description="12-lead multi-label classification (CinC, PTB-XL)")

__all__ = [
    "THRESHOLDS_FILE",
    "MultilabelData",
    "MultilabelModule",
    "build_multilabel",
    "evaluate_multilabel",
    "predict_windows",
    "read_thresholds",
    "split_indices",
    "tune_thresholds",
]
