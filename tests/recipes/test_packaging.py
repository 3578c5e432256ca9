"""The recipes live in the top-level `recipes/` directory but install as `keraszoo.recipes`."""

import importlib.metadata
from pathlib import Path

import pytest

import keraszoo.recipes

tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parents[2]


def _setuptools_config():
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_recipes_are_imported_from_the_top_level_directory():
    assert Path(keraszoo.recipes.__path__[0]).resolve() == REPO / "recipes"
    assert keraszoo.recipes.__name__ == "keraszoo.recipes"


def test_every_keraszoo_subpackage_is_declared():
    """`packages` is an explicit list (find cannot see the remapped `recipes/`): keep it complete."""
    config = _setuptools_config()
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"]["keraszoo.recipes"] == "recipes"
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "keraszoo").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert set(setuptools["packages"]) == on_disk | {"keraszoo.recipes"}
    assert not any(name == "recipes" or name.startswith("recipes.") for name in setuptools["packages"])
    assert config["project"]["scripts"]["keraszoo-train"] == "keraszoo.recipes.train:main"


def test_installed_distribution_has_no_top_level_recipes():
    top_level = importlib.metadata.distribution("keraszoo").read_text("top_level.txt")
    assert top_level is not None and top_level.split() == ["keraszoo"], (
        f"top_level.txt lists {top_level!r}; reinstall with `pip install -e . --no-deps`"
    )
