"""Bring exports/ to its current layout: current versions only, each weight stored once,
portable provenance, and the package's index, cards and README table regenerated.

    python tools/slim_presets.py

For every preset under exports/:

1. Superseded versions (all but the newest) leave the tree (`git rm`); exports/README.md lists
   each with the commit that holds it, its headline metric and the command that restores it
   (`git checkout COMMIT -- exports/NAME/VERSION`; a restored version keeps its number).
2. A `model.keras` beside the SavedModel (the layout before each weight was stored once) is
   removed after checking that the model rebuilt from the manifest and the SavedModel's
   variables (`keraszoo.presets.load_keras_model`) has exactly its weights.
3. The manifest's command and training config lose the training machine's paths
   (`keraszoo.export.manifest.portable_provenance`).

Then the model cards, the README's zoo table and keraszoo/presets/index.json are rewritten.
Record the presets' reference outputs first (`tools/record_preset_outputs.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's keraszoo, not an installed one
EXPORTS = os.path.join(ROOT, "exports")
LEGACY_KERAS_MODEL = "model.keras"
SUPERSEDED_START, SUPERSEDED_END = "<!-- superseded:start -->", "<!-- superseded:end -->"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def _tracked(path: str) -> bool:
    relative = os.path.relpath(os.path.abspath(path), ROOT)
    return not relative.startswith("..") and bool(_git("ls-files", "--", relative))


def _remove(path: str) -> None:
    if _tracked(path):
        _git("rm", "-r", "-q", "--", os.path.relpath(path, ROOT))
    if os.path.isdir(path):
        import shutil

        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def drop_keras_copy(version_dir: str) -> bool:
    """Removes a version's `model.keras` once the rebuilt model has exactly its weights."""
    path = os.path.join(version_dir, LEGACY_KERAS_MODEL)
    if not os.path.exists(path):
        return False
    import keras
    import numpy as np

    import keraszoo  # noqa: F401  (registers the classes)
    from keraszoo.presets import load_keras_model

    old = keras.models.load_model(path, safe_mode=True, compile=False)
    new = load_keras_model(version_dir)
    pairs = list(zip(old.weights, new.weights, strict=True))
    for a, b in pairs:
        # Positions, not paths: Keras numbers layer names per process (embedding, embedding_2, ...).
        if a.shape != b.shape or not np.array_equal(a.numpy(), b.numpy()):
            raise ValueError(f"{version_dir}: the SavedModel's {b.path} differs from model.keras's {a.path}.")
    _remove(path)
    return True


def make_portable(version_dir: str) -> bool:
    """Rewrites a version's manifest with portable provenance; True if it changed."""
    from keraszoo.export import MANIFEST
    from keraszoo.export.manifest import portable_provenance

    path = os.path.join(version_dir, MANIFEST)
    with open(path) as f:
        manifest = json.load(f)
    portable = portable_provenance(manifest)
    if portable == manifest:
        return False
    with open(path, "w") as f:
        json.dump(portable, f, indent=2)
    return True


def retire_superseded(name: str, exports: str = EXPORTS, readme: str | None = None) -> list[int]:
    """Removes every version of `name` but the newest from the tree and lists it in exports/README.md
    (each must be committed: the commit that last touched it is the one that holds it)."""
    from keraszoo.export import list_versions
    from keraszoo.presets.cards import headline
    from keraszoo.presets.lookup import read_manifest

    readme = readme or os.path.join(exports, "README.md")
    retired = []
    for version in list_versions(exports, name)[:-1]:
        version_dir = os.path.join(exports, name, str(version))
        relative = os.path.relpath(version_dir, ROOT)
        if _git("status", "--porcelain", "--", relative):
            raise ValueError(f"{relative} has uncommitted changes: commit it before retiring it.")
        commit = _git("log", "-1", "--format=%H", "--", relative)
        manifest = read_manifest(name, version_dir)
        row = (
            f"| `{name}` | {version} | `{commit[:12]}` | {headline(manifest)} | "
            f"`git checkout {commit[:12]} -- {relative}` |"
        )
        with open(readme) as f:
            text = f.read()
        end = text.index(SUPERSEDED_END)
        with open(readme, "w") as f:
            f.write(text[:end].rstrip("\n") + "\n" + row + "\n" + text[end:])
        _remove(version_dir)
        retired.append(version)
    return retired


def regenerate(names: list[str]) -> None:
    """Model cards of `names`, the README's zoo table and the package's index, from the manifests."""
    from keraszoo.presets.__main__ import main as presets_cli

    os.environ["KERASZOO_PRESETS"] = EXPORTS
    for name in names:
        presets_cli(["--model-card", name])
    presets_cli(["--update-readme", os.path.join(ROOT, "README.md")])
    presets_cli(["index", "--exports", EXPORTS])


def main() -> int:
    from keraszoo.export import list_versions

    names = sorted(n for n in os.listdir(EXPORTS) if list_versions(EXPORTS, n))
    for name in names:
        retired = retire_superseded(name)
        version_dir = os.path.join(EXPORTS, name, str(list_versions(EXPORTS, name)[-1]))
        dropped, portable = drop_keras_copy(version_dir), make_portable(version_dir)
        print(f"{name}: retired {retired}; {version_dir}: model.keras removed {dropped}, portable {portable}")
    regenerate(names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
