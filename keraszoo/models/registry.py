"""Model registry: zoo models resolve by name, so recipes and the CLI need no if/elif chain."""

from __future__ import annotations

_MODELS: dict[str, type] = {}


def register_model(name: str):
    """Class decorator: makes a model available as `get_model_class(name)`."""

    def decorator(cls):
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"A model named {name!r} is already registered: {_MODELS[name]}")
        _MODELS[name] = cls
        cls.registry_name = name
        return cls

    return decorator


def available_models() -> list[str]:
    return sorted(_MODELS)


def get_model_class(name: str) -> type:
    if name not in _MODELS:
        raise ValueError(
            f"Unknown model name. Expected one of {available_models()}. Received: model={name!r}"
        )
    return _MODELS[name]


def build_model(name: str, **config):
    """Builds the zoo model `name` from keyword config (its constructor arguments)."""
    return get_model_class(name)(**config)
