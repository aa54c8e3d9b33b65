"""A timm-style registry of models: register by name, build from a name and keyword arguments.

Models are ``torch.nn.Module`` classes or factory functions returning one. A model module registers
them when it is imported::

    from ecglab.models.registry import register_model

    @register_model("beat_cnn")
    class BeatCNN(nn.Module):
        def __init__(self, in_channels: int = 1, num_classes: int = 5, width: int = 32): ...

and is listed in :data:`MODEL_MODULES`, which the registry imports on the first lookup. Modules that
do not exist (yet) are skipped, so the list may name models still being written.

Configs build models with ``create_model(cfg.model.name, **cfg.model.params)``; every mistake in
those two keys is a :class:`~ecglab.errors.ConfigError` naming the key, the bad value, and the valid
choices (with a did-you-mean), for example::

    model.name: unknown model 'beat_cn' (did you mean 'beat_cnn'? registered models: beat_cnn, ...)
    model.params.widht: model 'beat_cnn' has no argument 'widht' (did you mean 'width'? accepted: ...)
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import threading
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from ecglab.errors import ConfigError

__all__ = ["MODEL_MODULES", "create_model", "get_model", "list_models", "register_model"]

# Modules that register models when imported; looked up lazily and skipped while they do not exist.
MODEL_MODULES: tuple[str, ...] = (
    "ecglab.models.beat_cnn",
    "ecglab.models.resnet1d",
    "ecglab.models.se_resnet1d",
    "ecglab.models.masked_pretrain",
    "ecglab.models.digitizer",
    "ecglab.models.ensemble",
)

_REGISTRY: dict[str, Callable[..., Any]] = {}
_IMPORTED: set[str] = set()
_LOCK = threading.RLock()

F = TypeVar("F", bound=Callable[..., Any])


def register_model(name: str | F | None = None) -> Any:
    """Register a model class or factory function under ``name`` (a decorator).

    Usable as ``@register_model("name")``, or bare ``@register_model`` to register under the
    object's ``__name__``.

    Parameters
    ----------
    name
        Registry name, as written in ``model.name`` of a config.

    Returns
    -------
    Callable
        The decorator, which returns the decorated object unchanged.

    Raises
    ------
    ValueError
        If ``name`` is already registered to a different object (re-registering the same class,
        e.g. when a module is imported again under ``__main__``-style reloading, is allowed).
    TypeError
        If the decorated object is not callable.
    """
    if callable(name):  # bare @register_model
        obj = name
        _register(obj.__name__, obj)
        return obj

    def decorator(obj: F) -> F:
        _register(name if name is not None else obj.__name__, obj)
        return obj

    return decorator


def create_model(name: str, **kwargs: Any) -> Any:
    """Build the model registered as ``name`` with keyword arguments ``kwargs``.

    The arguments are checked against the constructor's signature before calling it: unknown names,
    missing required arguments and values of the wrong simple type (``int``, ``float``, ``bool``,
    ``str``, and unions of them with ``None``) are reported as config errors.

    Parameters
    ----------
    name
        A registered model name (see :func:`list_models`).
    **kwargs
        Constructor arguments (``cfg.model.params``).

    Returns
    -------
    torch.nn.Module
        The new model.

    Raises
    ------
    ConfigError
        Unknown model name (with the registered names and the closest one), unknown or missing
        argument (with the accepted ones), a value of the wrong type, or a ``TypeError``/``ValueError``
        raised by the constructor itself.
    """
    factory = get_model(name)
    _check_arguments(name, factory, kwargs)
    try:
        return factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model.params: model {name!r} rejected its arguments: {exc}") from exc


def get_model(name: str) -> Callable[..., Any]:
    """The class or factory registered as ``name``.

    Raises
    ------
    ConfigError
        If ``name`` is not registered: lists the registered names and the closest match.
    """
    _import_model_modules()
    factory = _REGISTRY.get(name) if isinstance(name, str) else None
    if factory is None:
        names = sorted(_REGISTRY)
        hint = _did_you_mean(str(name), names)
        listed = ", ".join(names) if names else "none"
        raise ConfigError(f"model.name: unknown model {name!r} ({hint}registered models: {listed})")
    return factory


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    _import_model_modules()
    return sorted(_REGISTRY)


# ----------------------------------------------------------------------------------------------
# Internals
# ----------------------------------------------------------------------------------------------


def _register(name: str, obj: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if not callable(obj):
        raise TypeError(f"model {name!r} must be a class or a function, got {obj!r}")
    with _LOCK:
        registered = _REGISTRY.get(name)
        if registered is not None and registered is not obj and _identity(registered) != _identity(obj):
            raise ValueError(f"model {name!r} is already registered to {_identity(registered)}")
        _REGISTRY[name] = obj


def _identity(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _import_model_modules(modules: Iterable[str] | None = None) -> None:
    """Import each model module once; skip those that do not exist (yet)."""
    with _LOCK:
        for module in MODEL_MODULES if modules is None else modules:
            if module in _IMPORTED:
                continue
            try:
                spec = importlib.util.find_spec(module)
            except ModuleNotFoundError:  # a parent package is missing
                spec = None
            if spec is not None:
                # A module that exists but fails to import is a bug: let its error through.
                importlib.import_module(module)
            _IMPORTED.add(module)


def _check_arguments(name: str, factory: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins and C extensions have none: let the call decide
        return
    params = signature.parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [
        p.name
        for p in params.values()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    shown = ", ".join(accepted) if accepted else "none"
    if not accepts_any:
        for key in kwargs:
            if key not in accepted:
                hint = _did_you_mean(key, accepted)
                raise ConfigError(
                    f"model.params.{key}: model {name!r} has no argument {key!r} ({hint}accepted: {shown})"
                )
    for param in params.values():
        required = param.default is inspect.Parameter.empty and param.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
        if required and param.name not in kwargs:
            raise ConfigError(
                f"model.params.{param.name}: model {name!r} needs argument {param.name!r} "
                f"(set model.params.{param.name}=...; accepted: {shown})"
            )
    hints = _type_hints(factory)
    for key, value in kwargs.items():
        expected = _simple_types(hints.get(key))
        if expected is not None and not _is_instance(value, expected):
            described = " or ".join("null" if t is type(None) else t.__name__ for t in expected)
            raise ConfigError(
                f"model.params.{key}: model {name!r} expects {described} for {key!r}, got {value!r}"
            )


def _type_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: skip type checks rather than fail
        return {}


_SIMPLE = (bool, int, float, str, type(None))


def _simple_types(hint: Any) -> tuple[type, ...] | None:
    """The types of a hint made only of bool/int/float/str/None (unions included), else ``None``."""
    if hint is None:
        return None
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if all(arg in _SIMPLE for arg in args):
        return tuple(args)
    return None


def _is_instance(value: Any, expected: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # bool is an int subclass; only a declared bool accepts it
        return bool in expected
    if isinstance(value, int) and float in expected:
        return True  # YAML `1` for a float argument
    return isinstance(value, expected)


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""
