"""Ship a trained export as a preset: copy it into exports/, add its pictures and model card,
and regenerate the README's zoo table.

    python benchmarks/ship_preset.py RUN_WORKDIR EXPORT_VERSION_DIR

RUN_WORKDIR is the training run's work directory (its pictures/ are copied next to the preset's
versions), EXPORT_VERSION_DIR the version directory `train_and_evaluate` exported (manifest
included). The preset takes the next free version number under exports/<name>/; an existing
version is never touched. Nothing is retrained and no metric is edited: the manifest is copied
as written by the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

from keraszoo.export import (
    KERAS_MODEL,
    MANIFEST,
    WARMUP_DIR,
    WARMUP_FILE,
    list_versions,
    write_warmup_requests,
)
from keraszoo.export.manifest import validate_manifest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_warmup(version_dir: str) -> None:
    """Adds TF Serving warm-up requests to an export written before exports carried them."""
    if os.path.exists(os.path.join(version_dir, WARMUP_DIR, WARMUP_FILE)):
        return
    import keras

    import keraszoo  # noqa: F401  (registers the classes)

    model = keras.models.load_model(os.path.join(version_dir, KERAS_MODEL))
    write_warmup_requests(version_dir, {n: specs for n, (_, specs) in model.serving_endpoints().items()})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir")
    parser.add_argument("export")
    args = parser.parse_args(argv)
    with open(os.path.join(args.export, MANIFEST)) as f:
        manifest = validate_manifest(json.load(f), source=args.export)
    name = manifest["model_name"]
    exports = os.path.join(ROOT, "exports")
    version = max(list_versions(exports, name), default=0) + 1
    target = os.path.join(exports, name, str(version))
    shutil.copytree(args.export, target)
    if version != manifest["version"]:  # the manifest records the version it is served as
        manifest["shipped_from_version"] = manifest["version"]
        manifest["version"] = version
        with open(os.path.join(target, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)
    add_warmup(target)
    for picture in ("samples.png", "reconstructions.png", "curves.png"):
        source = os.path.join(args.workdir, "pictures", picture)
        if os.path.exists(source):
            shutil.copy(source, os.path.join(exports, name, picture))
    os.environ["KERASZOO_PRESETS"] = exports
    from keraszoo import presets

    with open(os.path.join(exports, name, "README.md"), "w") as f:
        f.write(presets.model_card(name))
    presets.update_readme(os.path.join(ROOT, "README.md"))
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
