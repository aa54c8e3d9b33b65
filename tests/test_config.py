"""Typed configs: loading, overrides, one-line errors, the task registry, saving, and `ecglab config`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from ecglab.config import (
    GenericConfig,
    available_tasks,
    bounded,
    choice,
    config_from_dict,
    config_to_yaml,
    load_config,
    register_schema,
    save_config,
)
from ecglab.config import schema as schema_module
from ecglab.config.schema import PRECISIONS
from ecglab.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "configs" / "base.yaml"
MINIMAL = "data:\n  dataset: mitdb\nmodel:\n  name: resnet1d\n"


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write YAML text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "x.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def config_error(path: Path, overrides: tuple[str, ...] | list[str] = ()) -> str:
    """The message of the ConfigError that loading raises; it must be one line."""
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ----------------------------------------------------------------------------------------------
# Loading and overrides
# ----------------------------------------------------------------------------------------------


def test_base_yaml_loads_with_every_section() -> None:
    cfg = load_config(BASE)
    assert isinstance(cfg, DictConfig)
    assert cfg.task == "generic"
    assert set(cfg) == {"task", "data", "model", "training", "optimizer", "scheduler", "cv", "logging"}
    assert cfg.data.dataset == "mitdb"
    assert cfg.data.root is None
    assert cfg.training.precision == "32"
    assert cfg.logging.run_dir == "runs"
    with pytest.raises(AttributeError):  # typed: no new keys outside model.params
        cfg.training.bach_size = 8


def test_overrides_of_nested_keys_convert_types() -> None:
    cfg = load_config(
        BASE,
        [
            "training.batch_size=8",
            "optimizer.lr=5e-4",
            "training.precision=bf16-mixed",
            "training.devices=2",
            "data.leads=[I, II, V1]",
            "logging.name=null",
            "data.fs=500",
        ],
    )
    assert cfg.training.batch_size == 8 and type(cfg.training.batch_size) is int
    assert cfg.optimizer.lr == pytest.approx(5e-4) and type(cfg.optimizer.lr) is float
    assert cfg.training.precision == "bf16-mixed"
    assert cfg.training.devices == 2
    assert list(cfg.data.leads) == ["I", "II", "V1"]
    assert cfg.logging.name is None
    assert cfg.data.fs == 500.0 and type(cfg.data.fs) is float


def test_precision_written_as_a_number_becomes_a_string(write_yaml) -> None:
    cfg = load_config(write_yaml(MINIMAL + "training:\n  precision: 16\n"))
    assert cfg.training.precision == "16"


def test_later_override_wins_and_interpolations_resolve(write_yaml, monkeypatch) -> None:
    monkeypatch.setenv("ECGLAB_TEST_ROOT", "/data/ecg")
    path = write_yaml(MINIMAL.replace("dataset: mitdb", "dataset: mitdb\n  root: ${oc.env:ECGLAB_TEST_ROOT}"))
    cfg = load_config(path, ["training.epochs=3", "training.epochs=4", "scheduler.max_lr=${optimizer.lr}"])
    assert cfg.training.epochs == 4
    assert cfg.data.root == "/data/ecg"
    assert cfg.scheduler.max_lr == cfg.optimizer.lr


def test_empty_section_keeps_defaults(write_yaml) -> None:
    cfg = load_config(write_yaml(MINIMAL + "training:\n  # epochs: 3\n"), None)
    assert cfg.training.epochs == 50


def test_model_params_accepts_arbitrary_kwargs(write_yaml) -> None:
    path = write_yaml(MINIMAL + "  params:\n    hidden: 64\n    blocks: [2, 2]\n    head: {dropout: 0.1}\n")
    cfg = load_config(path, ["model.params.kernel_size=7", "model.params.head.act=gelu"])
    assert OmegaConf.to_container(cfg.model.params) == {
        "hidden": 64,
        "blocks": [2, 2],
        "head": {"dropout": 0.1, "act": "gelu"},
        "kernel_size": 7,
    }


# ----------------------------------------------------------------------------------------------
# One-line errors
# ----------------------------------------------------------------------------------------------


def test_unknown_key_in_yaml_names_file_line_key_and_close_match(write_yaml) -> None:
    path = write_yaml(MINIMAL + "training:\n  epochs: 3\n  bach_size: 8\n")
    message = config_error(path)
    assert message.startswith(f"{path}:7: unknown key 'training.bach_size'")
    assert "did you mean 'batch_size'?" in message
    assert "valid keys in 'training': epochs, batch_size," in message


def test_unknown_key_in_override_names_override_and_close_match() -> None:
    message = config_error(BASE, ["training.bach_size=8"])
    assert message.startswith(f"{BASE}: override 'training.bach_size=8': unknown key 'training.bach_size'")
    assert "did you mean 'batch_size'?" in message


def test_unknown_section_suggests_the_section() -> None:
    message = config_error(BASE, ["trainng.epochs=3"])
    assert (
        "unknown key 'trainng' (did you mean 'training'? valid keys at the top level: task, data," in message
    )


def test_key_in_the_wrong_section_suggests_the_right_one(write_yaml) -> None:
    message = config_error(write_yaml(MINIMAL + "training:\n  lr: 0.01\n"))
    assert "unknown key 'training.lr' (did you mean 'optimizer.lr'?" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.batch_size=abc", "training.batch_size: expected int, got 'abc'"),
        ("training.batch_size=8.5", "training.batch_size: expected int, got 8.5"),
        ("optimizer.lr=fast", "optimizer.lr: expected float, got 'fast'"),
        (
            "training.deterministic=maybe",
            "training.deterministic: expected bool (true or false), got 'maybe'",
        ),
        ("data.leads=II", "data.leads: expected list of str, got 'II'"),
        ("data.fs=high", "data.fs: expected float or null, got 'high'"),
        ("model.params=5", "model.params: expected mapping, got 5"),
    ],
)
def test_wrong_type_in_override(override: str, expected: str) -> None:
    assert config_error(BASE, [override]) == f"{BASE}: override '{override}': {expected}"


def test_wrong_type_in_yaml_names_line(write_yaml) -> None:
    path = write_yaml(MINIMAL + "training:\n  batch_size: abc\n")
    assert config_error(path) == f"{path}:6: training.batch_size: expected int, got 'abc'"


def test_invalid_choice_lists_the_choices() -> None:
    message = config_error(BASE, ["training.precision=fp17"])
    assert f"training.precision: 'fp17' is not one of {', '.join(PRECISIONS)}" in message
    assert "bf16-mixed" in message and "16-mixed" in message


def test_near_miss_choice_is_suggested(write_yaml) -> None:
    message = config_error(write_yaml(MINIMAL + "optimizer:\n  name: adamm\n"))
    assert message.endswith("optimizer.name: 'adamm' is not one of adam, adamw, sgd (did you mean 'adam'?)")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.batch_size=0", "training.batch_size: must be >= 1, got 0"),
        ("optimizer.lr=0", "optimizer.lr: must be > 0, got 0.0"),
        ("cv.val_fold=5", "cv.val_fold: must be < cv.n_folds (5), got 5"),
        (
            "training.devices=0",
            "training.devices: expected a positive int, -1 (all devices) or 'auto', got 0",
        ),
        (
            "training.devices=many",
            "training.devices: expected a positive int, -1 (all devices) or 'auto', got 'many'",
        ),
    ],
)
def test_values_out_of_range(override: str, expected: str) -> None:
    assert config_error(BASE, [override]).endswith(expected)


def test_value_errors_point_at_the_yaml_line_unless_overridden(write_yaml) -> None:
    path = write_yaml(MINIMAL + "training:\n  epochs: 3\n  batch_size: 0\n")
    assert config_error(path, ["training.epochs=4"]) == f"{path}:7: training.batch_size: must be >= 1, got 0"
    assert load_config(path, ["training.batch_size=2"]).training.batch_size == 2


def test_missing_required_value(write_yaml) -> None:
    path = write_yaml("model:\n  name: resnet1d\n")
    assert (
        config_error(path)
        == f"{path}: data.dataset: required value is missing (set it, or override data.dataset=...)"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert config_error(path) == f"{path}: config file not found"


def test_yaml_syntax_error_has_line_number(write_yaml) -> None:
    path = write_yaml("data:\n  dataset: mitdb\n   fs: 360\n")
    message = config_error(path)
    assert message.startswith(f"{path}:3:")
    assert "invalid YAML" in message


def test_duplicate_yaml_key_is_an_error(write_yaml) -> None:
    path = write_yaml(MINIMAL + "data:\n  fs: 250\n")
    assert config_error(path).startswith(f"{path}:5:1: invalid YAML: found duplicate key data")


def test_top_level_must_be_a_mapping(write_yaml) -> None:
    assert "expected a mapping of sections" in config_error(write_yaml("- data\n- model\n"))


@pytest.mark.parametrize("override", ["training.batch_size", "=8"])
def test_override_without_key_or_equals(override: str) -> None:
    message = config_error(BASE, [override])
    assert message.startswith(f"{BASE}: override '{override}' has no")
    assert "KEY=VALUE" in message


def test_overriding_a_section_with_a_scalar() -> None:
    message = config_error(BASE, ["training=5"])
    assert message.startswith(
        f"{BASE}: override 'training=5': training: is a section, expected a mapping of its keys"
    )
    assert message.endswith("got 5")


def test_section_written_as_a_list_in_yaml(write_yaml) -> None:
    path = write_yaml(MINIMAL + "training: [1, 2]\n")
    assert config_error(path).startswith(f"{path}:5: training: is a section")


def test_unresolvable_interpolation_names_key(write_yaml) -> None:
    path = write_yaml(MINIMAL + "logging:\n  name: ${nope.name}\n")
    message = config_error(path)
    assert message.startswith(f"{path}:6: logging.name: cannot resolve interpolation")


# ----------------------------------------------------------------------------------------------
# Task registry
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _ToySection:
    window_s: float = bounded(1.0, gt=0)
    classes: str = choice("aami", ("aami", "mitdb"))


@dataclasses.dataclass
class _ToyConfig(GenericConfig):
    toy: _ToySection = dataclasses.field(default_factory=_ToySection)


@pytest.fixture
def toy_task(monkeypatch) -> Iterator[str]:
    """Register a 'toy' task schema for one test (the registry is restored afterwards)."""
    monkeypatch.setattr(schema_module, "_SCHEMAS", dict(schema_module._SCHEMAS))
    register_schema("toy", _ToyConfig)
    yield "toy"


def test_generic_is_the_default_task() -> None:
    assert "generic" in available_tasks()
    assert config_from_dict({"data": {"dataset": "x"}, "model": {"name": "m"}}).task == "generic"


def test_unknown_task_lists_registered_tasks(write_yaml, toy_task: str) -> None:
    path = write_yaml("task: to\n" + MINIMAL)
    assert (
        config_error(path)
        == f"{path}:1: unknown task 'to' (did you mean 'toy'? registered tasks: beats, digitize, generic, "
        "multilabel, "
        "pretrain, toy)"
    )


def test_task_picks_its_schema(write_yaml, toy_task: str) -> None:
    path = write_yaml("task: toy\n" + MINIMAL + "toy:\n  window_s: 0.5\n")
    cfg = load_config(path, ["toy.classes=mitdb"])
    assert cfg.task == "toy"
    assert cfg.toy.window_s == 0.5 and cfg.toy.classes == "mitdb"
    assert cfg.training.batch_size == 64
    message = config_error(path, ["toy.classes=aam"])
    assert "toy.classes: 'aam' is not one of aami, mitdb" in message


def test_task_can_be_chosen_by_override(write_yaml, toy_task: str) -> None:
    cfg = load_config(write_yaml(MINIMAL), ["task=toy", "toy.window_s=2"])
    assert cfg.task == "toy" and cfg.toy.window_s == 2.0
    assert "unknown key 'toy'" in config_error(write_yaml(MINIMAL), ["toy.window_s=2"])


def test_register_schema_rejects_bad_registrations(toy_task: str) -> None:
    with pytest.raises(TypeError):
        register_schema("plain", dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already registered"):
        register_schema("toy", GenericConfig)
    assert register_schema("toy", _ToyConfig) is _ToyConfig  # idempotent


# ----------------------------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------------------------


def test_saved_yaml_round_trips(tmp_path: Path) -> None:
    cfg = load_config(BASE, ["training.batch_size=8", "model.params.extra={a: [1, 2]}", "training.devices=2"])
    saved = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert saved.read_text(encoding="utf-8") == config_to_yaml(cfg)
    assert load_config(saved) == cfg
    assert [p.name for p in saved.parent.iterdir()] == ["config.yaml"]  # no temporary file left


def test_config_from_dict_accepts_a_config(tmp_path: Path) -> None:
    cfg = load_config(BASE)
    assert config_from_dict(cfg, ["optimizer.name=sgd"]).optimizer.name == "sgd"
    with pytest.raises(ConfigError, match=r"^run\.yaml: override 'optimizer\.nam=sgd': unknown key"):
        config_from_dict(cfg, ["optimizer.nam=sgd"], source="run.yaml")


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run `ecglab ARGS` in-process; return (exit code, stdout, stderr)."""
    from ecglab.cli.main import run

    try:
        run(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_show_prints_resolved_yaml_with_overrides(capsys) -> None:
    code, out, err = run_cli(
        ["config", "show", str(BASE), "training.batch_size=8", "optimizer.lr=5e-4"], capsys
    )
    assert code == 0, err
    shown = OmegaConf.create(out)
    assert shown.training.batch_size == 8
    assert shown.optimizer.lr == pytest.approx(5e-4)
    assert "\x1b[" not in out  # plain text when not on a terminal


def test_cli_validate_prints_ok(capsys) -> None:
    code, out, _ = run_cli(["config", "validate", str(BASE), "training.precision=16-mixed"], capsys)
    assert (code, out) == (0, "ok\n")


def test_cli_bad_key_prints_one_error_line(capsys) -> None:
    code, out, err = run_cli(["config", "validate", str(BASE), "training.bach_size=8"], capsys)
    assert code == ConfigError.exit_code != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "training.bach_size" in lines[0] and "batch_size" in lines[0]
