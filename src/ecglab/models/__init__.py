"""Neural network models, built by name from the model registry.

>>> from ecglab.models import create_model, list_models
>>> model = create_model("beat_cnn", in_channels=1, num_classes=5)  # doctest: +SKIP

A model module registers its classes or factory functions with :func:`register_model`; the registry
imports the modules listed in :data:`ecglab.models.registry.MODEL_MODULES` the first time a name is
looked up, so importing :mod:`ecglab.models` stays cheap (no torch import).
"""

from ecglab.models.registry import create_model, get_model, list_models, register_model

__all__ = ["create_model", "get_model", "list_models", "register_model"]
