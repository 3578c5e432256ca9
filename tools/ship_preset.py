"""Ship a trained export as a preset: copy it into exports/ as the next version, retire the
version it supersedes, and regenerate its model card, the README's zoo table and the
package's preset index.

    python tools/ship_preset.py RUN_WORKDIR EXPORT_VERSION_DIR [--description TEXT]

RUN_WORKDIR is the training run's work directory (its pictures/ are copied next to the preset's
versions), EXPORT_VERSION_DIR the version directory `train_and_evaluate` exported (manifest
included). The preset takes the next free version number under exports/<name>/ (numbers keep
counting up after older versions leave the tree); an existing version is never touched.
Nothing is retrained and no metric is edited: the manifest is copied as the run wrote it,
except for its version number and, for exports written before these were the rule, portable
provenance and the removal of a `model.keras` copy of the weights (after checking that the
model rebuilt from the SavedModel has exactly its weights). The previous version, which must
be committed, leaves the tree and is listed in exports/README.md with the commit that holds
it (`tools/slim_presets.py`). `--description` corrects the one-line description a run was
started with (it trains nothing; a recipe's text can lag the stage it ran): the run's text is
kept in the manifest as `description_at_training`. Commit the result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's keraszoo, not an installed one

from keraszoo.export import MANIFEST, WARMUP_DIR, WARMUP_FILE, list_versions, write_warmup_requests  # noqa: E402
from keraszoo.export.manifest import validate_manifest  # noqa: E402
from tools.slim_presets import drop_keras_copy, make_portable, regenerate, retire_superseded  # noqa: E402


def add_warmup(version_dir: str) -> None:
    """Adds TF Serving warm-up requests to an export written before exports carried them."""
    if os.path.exists(os.path.join(version_dir, WARMUP_DIR, WARMUP_FILE)):
        return
    from keraszoo.presets import load_keras_model

    model = load_keras_model(version_dir)
    write_warmup_requests(version_dir, {n: specs for n, (_, specs) in model.serving_endpoints().items()})


def ship(workdir: str, export: str, exports: str, description: str | None = None) -> str:
    """Copies the export `export` into `exports` as the next version of its preset; returns its path."""
    with open(os.path.join(export, MANIFEST)) as f:
        manifest = validate_manifest(json.load(f), source=export)
    name = manifest["model_name"]
    version = max(list_versions(exports, name), default=0) + 1
    target = os.path.join(exports, name, str(version))
    shutil.copytree(export, target)
    if version != manifest["version"]:  # the manifest records the version it is served as
        manifest["shipped_from_version"] = manifest["version"]
        manifest["version"] = version
    if description is not None and description != manifest["description"]:
        manifest["description_at_training"] = manifest["description"]
        manifest["description"] = manifest["training"]["config"]["description"] = description
    with open(os.path.join(target, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)
    make_portable(target)
    drop_keras_copy(target)
    add_warmup(target)
    for picture in ("samples.png", "reconstructions.png", "curves.png"):
        source = os.path.join(workdir, "pictures", picture)
        if os.path.exists(source):
            shutil.copy(source, os.path.join(exports, name, picture))
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir")
    parser.add_argument("export")
    parser.add_argument("--description", help="the preset's one-line description if the run's is stale")
    args = parser.parse_args(argv)
    exports = os.path.join(ROOT, "exports")
    target = ship(args.workdir, args.export, exports, args.description)
    name = os.path.basename(os.path.dirname(target))
    retire_superseded(name, exports)
    regenerate([name])
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
