"""Load a YAML config onto its typed schema, apply command-line overrides, validate, save.

Every problem becomes one :class:`~ecglab.errors.ConfigError` line that says where it comes from
(``file:line``, or the override) and which key is wrong, for example::

    configs/x.yaml:12: unknown key 'training.bach_size' (did you mean 'batch_size'? valid keys in ...)
    configs/x.yaml: override 'training.batch_size=abc': training.batch_size: expected int, got 'abc'
    configs/x.yaml:9: training.precision: 'fp17' is not one of 32, 16-mixed, bf16-mixed, ...
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    GrammarParseError,
    InterpolationResolutionError,
    OmegaConfBaseException,
    ValidationError,
)

from ecglab.config.schema import DEFAULT_TASK, GenericConfig, available_tasks, schema_for
from ecglab.errors import ConfigError

__all__ = ["config_from_dict", "config_to_yaml", "load_config", "save_config"]

_MAX_VALUE_CHARS = 60
_BOUND_SYMBOLS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> DictConfig:
    """Load a YAML config, apply overrides, validate it and return the typed config.

    The top-level ``task:`` key (or a ``task=...`` override) picks the schema registered with
    :func:`~ecglab.config.register_schema` (``generic`` when absent). The YAML is merged onto the
    schema's defaults, then each override ``KEY=VALUE`` (dot notation, VALUE parsed as YAML) is
    applied in order, and interpolations (``${optimizer.lr}``, ``${oc.env:VAR}``) are resolved.

    Parameters
    ----------
    path
        The YAML file.
    overrides
        Dot-notation overrides such as ``training.batch_size=8`` or ``optimizer.lr=5e-4``.

    Returns
    -------
    DictConfig
        A structured config in struct mode: every key is typed and unknown keys are rejected,
        except under ``model.params``, which is free-form.

    Raises
    ------
    ConfigError
        One line naming the file (and line) or the override, the key, and what is wrong: missing
        file, YAML syntax error, unknown key (with the closest valid key), wrong type, value not
        among the choices, value out of range, missing required value, override without ``=``.

    Examples
    --------
    >>> cfg = load_config("configs/base.yaml", ["training.batch_size=8"])  # doctest: +SKIP
    >>> cfg.training.batch_size  # doctest: +SKIP
    8
    """
    label = str(path)
    text = _read_text(Path(path), label)
    data, lines = _parse_yaml(text, label)
    return _Builder(_Origins(label, lines)).build(data, overrides)


def config_from_dict(
    data: Mapping[str, Any] | DictConfig, overrides: Sequence[str] = (), *, source: str = "<config>"
) -> DictConfig:
    """Like :func:`load_config` for a config already in memory (a dict, or a saved run's config).

    Parameters
    ----------
    data
        Nested mapping with the content a YAML config file would have.
    overrides
        Dot-notation overrides, as in :func:`load_config`.
    source
        Name of the config in error messages.

    Returns
    -------
    DictConfig
        The validated, typed config.
    """
    if isinstance(data, DictConfig):
        data = typing.cast(dict[str, Any], OmegaConf.to_container(data, resolve=False))
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(data).__name__}")
    return _Builder(_Origins(source)).build(dict(data), overrides)


def config_to_yaml(cfg: DictConfig) -> str:
    """The YAML text of ``cfg`` with interpolations resolved (what :func:`save_config` writes).

    Raises
    ------
    ConfigError
        If an interpolation cannot be resolved.
    """
    try:
        return OmegaConf.to_yaml(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{exc.full_key or 'config'}: {_first_line(exc)}") from None


def save_config(cfg: DictConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``cfg`` as YAML to ``path`` atomically; :func:`load_config` reads it back unchanged.

    Returns
    -------
    Path
        The written file.
    """
    from ecglab.io.atomic import atomic_write  # lazily: importing ecglab.io loads the record readers

    text = config_to_yaml(cfg)
    path = Path(path)
    with atomic_write(path, encoding="utf-8") as handle:
        handle.write(text)
    return path


# ----------------------------------------------------------------------------------------------
# Reading the file
# ----------------------------------------------------------------------------------------------


def _read_text(path: Path, label: str) -> str:
    if not path.exists():
        raise ConfigError(f"{label}: config file not found")
    if path.is_dir():
        raise ConfigError(f"{label}: is a directory, not a config file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror or exc}") from None


def _parse_yaml(text: str, label: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse ``text`` as OmegaConf does; also return the line of each key (``"a.b"`` -> 12)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None and not isinstance(root, yaml.MappingNode):
            kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
            raise ConfigError(f"{label}: expected a mapping of sections (task, data, model, ...), got {kind}")
        lines = _key_lines(root)
        loaded = OmegaConf.create(text) if root is not None else OmegaConf.create({})
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_error_message(exc, label)) from None
    except OmegaConfBaseException as exc:  # typically an interpolation that does not parse
        what = "invalid interpolation: " if isinstance(exc, GrammarParseError) else ""
        problem = _KeyProblem(exc.full_key or "", f"{exc.full_key or 'config'}: {what}{_first_line(exc)}")
        raise _Origins(label, lines).error(problem) from None
    data = typing.cast(dict[str, Any], OmegaConf.to_container(loaded, resolve=False))
    return data, lines


def _yaml_error_message(exc: yaml.YAMLError, label: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or _first_line(exc)
    where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark is not None else label
    return f"{where}: invalid YAML: {problem}"


def _key_lines(root: yaml.Node | None) -> dict[str, int]:
    """Map each dotted key of a composed YAML mapping to the (1-based) line where it is written."""
    lines: dict[str, int] = {}

    def visit(node: yaml.Node, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = f"{prefix}{key_node.value}"
                lines.setdefault(key, key_node.start_mark.line + 1)
                visit(value_node, f"{key}.")

    if root is not None:
        visit(root, "")
    return lines


# ----------------------------------------------------------------------------------------------
# Where each key was set
# ----------------------------------------------------------------------------------------------


class _KeyProblem(Exception):
    """What is wrong at one key; :class:`_Origins` adds where the key was set."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class _Origins:
    """Where each key of a config was set: a line of the YAML file, or a command-line override."""

    def __init__(self, label: str, lines: Mapping[str, int] | None = None) -> None:
        self.label = label
        self.lines = dict(lines or {})
        self.overrides: dict[str, str] = {}
        self.current_override: str | None = None

    def where(self, path: str) -> str:
        """``file:line``, ``file: override 'k=v'``, or ``file`` for the key ``path``."""
        override = self.current_override or _lookup_with_ancestors(self.overrides, path)
        if override is not None:
            return f"{self.label}: override {override!r}"
        line = _lookup_with_ancestors(self.lines, path)
        return f"{self.label}:{line}" if line else self.label

    def error(self, problem: _KeyProblem) -> ConfigError:
        """The one-line :class:`ConfigError` of ``problem``."""
        return ConfigError(f"{self.where(problem.path)}: {problem.message}")


def _lookup_with_ancestors(table: Mapping[str, Any], path: str) -> Any:
    """``table[path]``, else the entry of its closest ancestor (``a.b`` for ``a.b.c``), else None."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in table:
            return table[key]
    return None


# ----------------------------------------------------------------------------------------------
# Building and validating the config
# ----------------------------------------------------------------------------------------------


class _Builder:
    """Merge data and overrides onto the task's schema; report problems through ``origins``."""

    def __init__(self, origins: _Origins) -> None:
        self.origins = origins
        self.root: type = GenericConfig  # the task's schema, chosen in build()

    def build(self, data: dict[str, Any], overrides: Sequence[str]) -> DictConfig:
        parsed = _parse_overrides(overrides, self.origins.label)
        try:
            task = self._choose_task(data, parsed)
            self.root = schema_for(task)
            cfg = OmegaConf.structured(self.root)
            self._merge_section(cfg, self.root, data, prefix="")
            for key, value, text in parsed:
                self.origins.current_override = text
                self._apply_override(cfg, key, value)
                self.origins.overrides[key] = text
            self.origins.current_override = None
            OmegaConf.update(cfg, "task", task)
            _resolve(cfg)
            _validate_section(cfg, self.root, prefix="")
        except _KeyProblem as problem:
            raise self.origins.error(problem) from None
        return cfg

    def _choose_task(self, data: Mapping[str, Any], overrides: Sequence[tuple[str, Any, str]]) -> str:
        task: Any = data.get("task", DEFAULT_TASK)
        for key, value, text in overrides:
            if key == "task":
                task, self.origins.current_override = value, text
        if not isinstance(task, str):
            raise _KeyProblem("task", f"task: expected str, got {_show(task)}")
        tasks = available_tasks()
        if task not in tasks:
            hint = _did_you_mean(task, tasks)
            raise _KeyProblem("task", f"unknown task {task!r} ({hint}registered tasks: {', '.join(tasks)})")
        self.origins.current_override = None
        return task

    def _merge_section(self, node: DictConfig, schema: type, data: Mapping[Any, Any], prefix: str) -> None:
        """Set each key of ``data`` on the structured ``node``, recursing into sub-sections."""
        for raw_key, value in data.items():
            key = str(raw_key)
            path = f"{prefix}{key}"
            self._require_known_key(schema, key, path)
            sub_schema = _section_schema(schema, key)
            if sub_schema is not None and value is None and node[key] is not None:
                continue  # an empty section (`training:` with every key commented out)
            if sub_schema is not None and isinstance(value, Mapping) and node[key] is not None:
                self._merge_section(node[key], sub_schema, value, prefix=f"{path}.")
            else:
                _set_value(node, schema, key, value, path)

    def _apply_override(self, cfg: DictConfig, key: str, value: Any) -> None:
        """Check each part of ``key`` while the schema knows it, then set ``value``."""
        node: Any = cfg
        schema: type = self.root
        parts = key.split(".")
        for depth, part in enumerate(parts):
            path = ".".join(parts[: depth + 1])
            self._require_known_key(schema, part, path)
            sub_schema = _section_schema(schema, part)
            is_last = depth == len(parts) - 1
            if is_last or sub_schema is None or node[part] is None:
                # The key itself, a free-form mapping (model.params) or a scalar: OmegaConf decides.
                _set_value(node, schema, part, _nest(parts[depth + 1 :], value), path)
                return
            node, schema = node[part], sub_schema

    def _require_known_key(self, schema: type, key: str, path: str) -> None:
        valid = [f.name for f in dataclasses.fields(schema)]
        if key in valid:
            return
        section = path.rpartition(".")[0]
        hint = _did_you_mean(key, valid) or self._elsewhere(key, section)
        where = f"in '{section}'" if section else "at the top level"
        raise _KeyProblem(path, f"unknown key '{path}' ({hint}valid keys {where}: {', '.join(valid)})")

    def _elsewhere(self, key: str, section: str) -> str:
        """``did you mean 'optimizer.lr'? `` when ``key`` is a key of another section."""
        for path in _schema_paths(self.root):
            parent, _, name = path.rpartition(".")
            if name == key and parent != section:
                return f"did you mean '{path}'? "
        return ""


def _parse_overrides(overrides: Sequence[str] | None, label: str) -> list[tuple[str, Any, str]]:
    """Split each ``KEY=VALUE`` and parse VALUE as YAML (``8`` -> 8, ``5e-4`` -> 0.0005, ``[I, II]``)."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        raise TypeError("overrides must be a sequence of 'KEY=VALUE' strings, not one string")
    parsed = []
    for text in overrides:
        key, sep, raw_value = text.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(
                f"{label}: override {text!r} has no '=' (write KEY=VALUE, e.g. training.batch_size=8)"
            )
        if not key or not all(key.split(".")):
            raise ConfigError(
                f"{label}: override {text!r} has no valid key (write KEY=VALUE, e.g. optimizer.lr=5e-4)"
            )
        parsed.append((key, _parse_override_value(raw_value, text, label), text))
    return parsed


def _parse_override_value(raw_value: str, text: str, label: str) -> Any:
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist([f"value={raw_value}"]))["value"]
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or _first_line(exc)
        raise ConfigError(f"{label}: override {text!r}: invalid YAML value: {problem}") from None
    except GrammarParseError as exc:
        raise ConfigError(f"{label}: override {text!r}: invalid interpolation: {_first_line(exc)}") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{label}: override {text!r}: {_first_line(exc)}") from None


def _nest(parts: Sequence[str], value: Any) -> Any:
    """``{"a": {"b": value}}`` for ``parts == ["a", "b"]``; ``value`` itself for no parts."""
    for part in reversed(parts):
        value = {part: value}
    return value


def _set_value(node: DictConfig, schema: type, key: str, value: Any, path: str) -> None:
    if _section_schema(schema, key) is not None and value is not None and not isinstance(value, Mapping):
        raise _KeyProblem(path, _type_problem(schema, key, value, path))
    try:
        OmegaConf.update(node, key, value, merge=True)
    except GrammarParseError as exc:
        raise _KeyProblem(path, f"{path}: invalid interpolation {_show(value)}: {_first_line(exc)}") from None
    except ValidationError as exc:
        if exc.full_key and exc.full_key != path:  # inside a free-form mapping
            raise _KeyProblem(exc.full_key, f"{exc.full_key}: {_first_line(exc)}") from None
        raise _KeyProblem(path, _type_problem(schema, key, value, path)) from None
    except OmegaConfBaseException as exc:
        raise _KeyProblem(path, f"{exc.full_key or path}: {_first_line(exc)}") from None


def _type_problem(schema: type, key: str, value: Any, path: str) -> str:
    sub_schema = _section_schema(schema, key)
    if sub_schema is not None:
        keys = ", ".join(f.name for f in dataclasses.fields(sub_schema))
        return f"{path}: is a section, expected a mapping of its keys ({keys}), got {_show(value)}"
    hint = _field_types(schema).get(key, Any)
    return f"{path}: expected {_describe_type(hint)}, got {_show(value)}"


def _resolve(cfg: DictConfig) -> None:
    try:
        OmegaConf.resolve(cfg)
    except InterpolationResolutionError as exc:
        key = exc.full_key or "config"
        raise _KeyProblem(key, f"{key}: cannot resolve interpolation: {_first_line(exc)}") from None
    except OmegaConfBaseException as exc:
        key = exc.full_key or "config"
        raise _KeyProblem(key, f"{key}: {_first_line(exc)}") from None


def _validate_section(node: DictConfig, schema: type, prefix: str) -> None:
    """Check required values, choices and bounds field by field, then the section's own rules."""
    for f in dataclasses.fields(schema):
        path = f"{prefix}{f.name}"
        if OmegaConf.is_missing(node, f.name):
            raise _KeyProblem(path, f"{path}: required value is missing (set it, or override {path}=...)")
        sub_schema = _section_schema(schema, f.name)
        if sub_schema is not None:
            if node[f.name] is not None:
                _validate_section(node[f.name], sub_schema, prefix=f"{path}.")
        else:
            _check_field(f, node[f.name], path)
    check_section = getattr(schema, "check_section", None)
    if check_section is not None:
        for key, problem in check_section(node):
            raise _KeyProblem(f"{prefix}{key}", f"{prefix}{key}: {problem}")


def _check_field(f: dataclasses.Field[Any], value: Any, path: str) -> None:
    """Check ``value`` against the ``choices`` and ``bounds`` metadata of field ``f``."""
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        hint = _did_you_mean(str(value), choices).strip()
        suffix = f" ({hint})" if hint else ""
        raise _KeyProblem(path, f"{path}: {_show(value)} is not one of {', '.join(choices)}{suffix}")
    if value is None:
        return
    for name, limit in f.metadata.get("bounds", {}).items():
        if not _within(value, name, limit):
            raise _KeyProblem(path, f"{path}: must be {_BOUND_SYMBOLS[name]} {limit}, got {_show(value)}")


def _within(value: float, name: str, limit: float) -> bool:
    if name == "ge":
        return value >= limit
    if name == "gt":
        return value > limit
    if name == "le":
        return value <= limit
    return value < limit


# ----------------------------------------------------------------------------------------------
# Schema introspection and message helpers
# ----------------------------------------------------------------------------------------------


@functools.cache
def _field_types(schema: type) -> dict[str, Any]:
    return typing.get_type_hints(schema)


def _section_schema(schema: type, key: str) -> type | None:
    """The dataclass type of field ``key`` of ``schema`` (``Optional`` unwrapped), else ``None``."""
    hint = _field_types(schema).get(key)
    candidates = (
        [arg for arg in typing.get_args(hint) if arg is not type(None)] if _is_union(hint) else [hint]
    )
    if len(candidates) == 1 and isinstance(candidates[0], type) and dataclasses.is_dataclass(candidates[0]):
        return candidates[0]
    return None


def _schema_paths(schema: type, prefix: str = "") -> Iterator[str]:
    """Every dotted key of ``schema``, sections first then their keys, in declaration order."""
    for f in dataclasses.fields(schema):
        yield f"{prefix}{f.name}"
        sub_schema = _section_schema(schema, f.name)
        if sub_schema is not None:
            yield from _schema_paths(sub_schema, f"{prefix}{f.name}.")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _describe_type(hint: Any) -> str:
    """``int``, ``float or null``, ``list of str``, ``mapping``... for an error message."""
    if hint is Any:
        return "any value"
    if _is_union(hint):
        args = typing.get_args(hint)
        described = [_describe_type(arg) for arg in args if arg is not type(None)]
        return " or ".join(described + (["null"] if type(None) in args else []))
    origin = typing.get_origin(hint) or hint
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return f"list of {_describe_type(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if hint is bool:
        return "bool (true or false)"
    return getattr(hint, "__name__", str(hint))


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """``did you mean 'x'? `` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _show(value: Any) -> str:
    """A short one-line rendering of a value: YAML spelling of null and booleans, strings quoted."""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=False)
    if value is None or isinstance(value, bool):
        text = {None: "null", True: "true", False: "false"}[value]
    elif isinstance(value, str | dict | list | tuple):
        text = " ".join(repr(value).split())
    else:
        text = str(value)
    return text if len(text) <= _MAX_VALUE_CHARS else f"{text[: _MAX_VALUE_CHARS - 3]}..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
