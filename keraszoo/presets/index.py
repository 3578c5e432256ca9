"""The preset index shipped inside the package (`keraszoo/presets/index.json`).

An installed keraszoo has no `exports/` folder; it knows its presets from this index: for
each preset, the version it serves, what it is (model, description, headline metrics) and
the archive that holds it (file name, sha256, size in bytes), so that `from_preset(name)`
can download `<base URL>/<archive>` and check it before use. The index is generated from the
manifests of the checkout's `exports/` by `python -m keraszoo.presets index` (which packs
every newest version to hash it); a test regenerates it and compares.
"""

from __future__ import annotations

import json
import os
import tempfile

from keraszoo.export.manifest import sha256_of
from keraszoo.presets.archive import archive_name, pack

INDEX_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "index.json")
INDEX_FORMAT = 1


def read_index(path: str | None = None) -> dict[str, dict]:
    """name → index entry of every indexed preset (empty if the index is absent)."""
    path = path or INDEX_PATH
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        index = json.load(f)
    if index.get("format") != INDEX_FORMAT:
        raise ValueError(f"Unsupported preset index format in {path}: {index.get('format')!r}.")
    return index["presets"]


def index_entry(manifest: dict, archive: str) -> dict:
    """The index entry of a preset version from its manifest and its packed archive."""
    from keraszoo.presets.cards import headline

    test = manifest["test"]
    return {
        "version": manifest["version"],
        "model": manifest["model"],
        "description": manifest["description"],
        "metric": headline(manifest),
        "test": {k: test[k] for k in ("neg_elbo", "nll", "num_samples", "num_examples")},
        "published": manifest["published"],
        "archive": archive_name(manifest["model_name"], manifest["version"]),
        "sha256": sha256_of(archive),
        "size": os.path.getsize(archive),
    }


def build_index(presets, out_dir: str | None = None) -> dict:
    """The index of `presets` — (name, manifest, version directory) triples — packing each into
    `out_dir` (a temporary folder, removed afterwards, if None)."""
    if out_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return build_index(presets, tmp)
    entries = {}
    for name, manifest, version_dir in presets:
        if manifest["model_name"] != name:
            raise ValueError(
                f"{version_dir}: the manifest's model_name {manifest['model_name']!r} is not {name!r}."
            )
        entries[name] = index_entry(manifest, pack(version_dir, name, manifest["version"], out_dir))
    return {"format": INDEX_FORMAT, "presets": dict(sorted(entries.items()))}


def write_index(index: dict, path: str | None = None) -> str:
    path = path or INDEX_PATH
    with open(path, "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    return path
