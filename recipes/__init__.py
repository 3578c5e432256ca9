"""Recipes: one small module per recipe with `get_config(smoke=False) -> dict`.

Resolve a recipe by name with `get_recipe(name)`; the CLI is `python -m recipes.train`.
"""

from __future__ import annotations

import importlib
import pkgutil

import recipes


def available_recipes() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(recipes.__path__) if m.name != "train")


def get_config(name: str, smoke: bool = False) -> dict:
    """The config dict of recipe `name` (its small "smoke" variant with smoke=True)."""
    if name not in available_recipes():
        raise ValueError(f"Unknown recipe. Expected one of {available_recipes()}. Received: recipe={name!r}")
    return importlib.import_module(f"recipes.{name}").get_config(smoke=smoke)
