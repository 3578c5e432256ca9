"""No upward imports: a module imports only from its own layer or the layers below it.

The layers, lowest first (a package and everything under it share its layer):

    foundations     _checks, _version, _cli, random: argument checks, the version, command-line
                    plumbing, random-number helpers
    primitives      schedules, losses, optimizers, data: step functions, bound arithmetic, Adam,
                    input pipelines
    distributions   posteriors, likelihoods, KLs, smoothing densities
    estimators      gradient estimators and their surrogate losses
    layers          Keras layers (samplers, quantizers, backbones); viz (pictures of densities)
    models          the zoo's Keras models
    export          SavedModel export and manifests (of a model)
    presets         lookup of exported models
    training        fit, evaluate, export a run (uses export, and presets to fine-tune)
    applications    recipes (and their CLI), diagnostics
    facade          the top-level `keraszoo` package, which re-exports the public names

Peers in one layer may import each other. Every import counts, including those inside
functions (a lazy upward import is still a dependency cycle in waiting).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYERS = [
    ("keraszoo._checks", "keraszoo._version", "keraszoo._cli", "keraszoo.random"),
    ("keraszoo.schedules", "keraszoo.losses", "keraszoo.optimizers", "keraszoo.data"),
    ("keraszoo.distributions",),
    ("keraszoo.estimators",),
    ("keraszoo.layers", "keraszoo.viz"),
    ("keraszoo.models",),
    ("keraszoo.export",),
    ("keraszoo.presets",),
    ("keraszoo.training",),
    ("keraszoo.recipes", "keraszoo.diagnostics"),
    ("keraszoo",),
]


# (importer, imported) pairs that cross upwards today, each with its reason; keep this empty.
KNOWN_UPWARD = {
    # `GaussianVAE.from_preset(name)` (KerasHub's constructor style) calls the presets lookup,
    # which loads with `keras.models.load_model`. Owned by the presets split (lookup / model
    # cards / CLI): the lookup can move below the models once it no longer loads models itself.
    ("keraszoo.models.base", "keraszoo.presets"),
}


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest prefix naming `module` or a package above it."""
    best, length = None, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > length:
                best, length = index, len(name)
    if best is None:
        raise AssertionError(f"{module} is in no layer of LAYERS: add it there")
    return best


def our_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / "keraszoo").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in sorted((ROOT / "recipes").glob("*.py")):  # installed as keraszoo.recipes
        name = path.stem
        modules["keraszoo.recipes" + ("" if name == "__init__" else "." + name)] = path
    return modules


def imported_modules(module: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every keraszoo import in the file, at any depth. `from P import N`
    imports the submodule P.N when it is one of ours, else P itself."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.append((node.lineno, target if target in known else base))
    return [(line, name) for line, name in found if name == "keraszoo" or name.startswith("keraszoo.")]


def upward_imports(modules: dict[str, Path], known: set[str] | None = None) -> list[str]:
    """One line per import of a higher layer; `known`: the module names (default: `modules`)."""
    known = set(modules) if known is None else known
    problems = []
    for module, path in modules.items():
        for line, target in imported_modules(module, path, known):
            if layer_of(target) > layer_of(module) and (module, target) not in KNOWN_UPWARD:
                problems.append(f"{path}:{line}: {module} imports {target} (a higher layer)")
    return problems


def test_no_module_imports_from_a_higher_layer():
    assert upward_imports(our_modules()) == []


def test_every_module_has_a_layer():
    for module in our_modules():
        layer_of(module)


def test_the_check_catches_an_upward_import(tmp_path):
    """The test's own defining property, on a hand-made tree: a layer importing the top-level
    package, a lazy import inside a function, and `from P import submodule` are all seen."""
    (tmp_path / "keraszoo" / "export").mkdir(parents=True)
    (tmp_path / "keraszoo" / "layers").mkdir()
    files = {
        "keraszoo/export/saved_model.py": "import keraszoo\n",
        "keraszoo/layers/a.py": "def f():\n    from keraszoo.models import build_model\n",
        "keraszoo/layers/b.py": "from keraszoo import viz, training\nfrom keraszoo.random import as_seed\n",
    }
    modules = {}
    for relative, text in files.items():
        path = tmp_path / relative
        path.write_text(text)
        modules[".".join(Path(relative).with_suffix("").parts)] = path
    known = {*modules, "keraszoo.viz", "keraszoo.training"}
    assert imported_modules("keraszoo.layers.b", modules["keraszoo.layers.b"], known) == [
        (1, "keraszoo.viz"),
        (1, "keraszoo.training"),
        (2, "keraszoo.random"),
    ]
    problems = upward_imports(modules, known)
    assert len(problems) == 3, problems
    assert "keraszoo.export.saved_model imports keraszoo (a higher layer)" in problems[0]
    assert "keraszoo.layers.a imports keraszoo.models" in problems[1]
    assert "keraszoo.layers.b imports keraszoo.training" in problems[2]


@pytest.mark.parametrize("module, layer", [("keraszoo.layers.gumbel", 4), ("keraszoo", 10)])
def test_layer_of_takes_the_longest_prefix(module, layer):
    assert layer_of(module) == layer
