"""Recipes: one small module per recipe with `get_config(smoke=False) -> dict`.

The files live in the repository's top-level `recipes/` directory and are installed as the
`keraszoo.recipes` package (see `[tool.setuptools] package-dir` in pyproject.toml).
Resolve a recipe by name with `get_config(name)`, which returns a plain dict that
`keraszoo.training.TrainConfig.from_dict` validates; the CLI is `python -m keraszoo.recipes.train`
(or the `keraszoo-train` console script).
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["available_recipes", "get_config"]


def available_recipes() -> list[str]:
    """The recipe names: every module of this package except the `train` CLI."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "train")


def get_config(name: str, smoke: bool = False) -> dict:
    """The config dict of recipe `name` (its small "smoke" variant with smoke=True)."""
    if name not in available_recipes():
        raise ValueError(f"Unknown recipe. Expected one of {available_recipes()}. Received: recipe={name!r}")
    return importlib.import_module(f"{__name__}.{name}").get_config(smoke=smoke)
