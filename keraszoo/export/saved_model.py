"""SavedModel exports for TF Serving: named signatures, versioned, written atomically.

Layout (what TF Serving's `--model_base_path` expects):

    <base_dir>/<model_name>/<version>/saved_model.pb
                                      variables/
                                      keraszoo_manifest.json
                                      model.keras          (the trainable Keras model)

Every signature takes named inputs with a `None` batch dimension (where there is a batch)
and returns a dict, so requests and responses have stable names. Random endpoints
(`sample`, `elbo`) take an integer `seed` and use stateless sampling: the same seed gives
the same result in Keras and in the server. The graph holds only core TensorFlow ops; the
export loads with TensorFlow alone.

The version directory is written under a temporary name next to its final place and then
renamed, so a reader never sees a half-written version, and an existing version is never
overwritten. Every export also carries TF Serving warm-up requests
(`assets.extra/tf_serving_warmup_requests`, see `keraszoo.export.warmup`), written into the
temporary directory like the rest.

Concurrent exports of the same model name (two training runs finishing together) both succeed
with different versions. The claim on a version is the rename itself: `os.rename` of a
directory onto an existing non-empty directory fails (ENOTEMPTY/EEXIST on Linux) and changes
nothing, and a finished export is never empty, so of two writers renaming onto the same
version exactly one wins and the other's temporary directory is left intact. The loser, if
its version was chosen automatically, rewrites its manifest with the next free version and
renames again; nothing else in the directory depends on the version. An explicit `version=`
that is taken raises `ExportExistsError` instead. (A version directory that already exists,
even empty, is never renamed onto; only an empty directory created by some other tool in the
instant between that check and the rename could be replaced.)
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile

import keras

from keraszoo._version import __version__
from keraszoo.export.warmup import write_warmup_requests

MANIFEST = "keraszoo_manifest.json"
KERAS_MODEL = "model.keras"


class ExportExistsError(FileExistsError):
    """The requested export version already exists; versions are never overwritten."""


def list_versions(base_dir: str, model_name: str) -> list[int]:
    """Integer versions already exported under `<base_dir>/<model_name>`."""
    root = os.path.join(base_dir, model_name)
    if not os.path.isdir(root):
        return []
    return sorted(int(d) for d in os.listdir(root) if d.isdigit())


def save_without_optimizer(model, path: str) -> None:
    """Saves `model` as a `.keras` file of config and weights only: a trainable model to compile
    anew, a third of the size of one that carries Adam's two moment estimates per weight."""
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    copy.save(path)


def write_manifest(version_dir: str, manifest: dict) -> None:
    """Writes `keraszoo_manifest.json` into a version directory."""
    with open(os.path.join(version_dir, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2, default=str)


def _next_version(base_dir: str, model_name: str) -> int:
    return max(list_versions(base_dir, model_name), default=0) + 1


def _publish(tmp: str, final: str) -> bool:
    """Renames the finished directory `tmp` to `final`; False if `final` is taken (by another
    writer, possibly at this very moment), in which case nothing changed."""
    if os.path.lexists(final):
        return False
    try:
        os.rename(tmp, final)
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR) and os.path.lexists(final):
            return False
        raise
    return True


def export_model(
    model,
    base_dir: str,
    model_name: str | None = None,
    version: int | None = None,
    metadata: dict | None = None,
) -> str:
    """Exports `model`'s serving endpoints as `<base_dir>/<model_name>/<version>`.

    Args:
        model: a zoo model (anything with `serving_endpoints()` and `get_config()`).
        base_dir: the model base directory (e.g. `exports/`).
        model_name: folder name; defaults to the model's registry name.
        version: integer version; default: one more than the newest existing version, or the
            next free one after that if a concurrent export takes it first.
        metadata: extra JSON-serializable facts for the manifest (metrics, dataset, ...).

    Returns:
        The path of the new version directory.

    Raises:
        ExportExistsError: `version` was given and already exists (or appeared while writing).
        ValueError: `version` is not a positive integer.
    """
    model_name = model_name or model.registry_name
    explicit = version is not None
    if not explicit:
        version = _next_version(base_dir, model_name)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"Expected `version` to be a positive integer. Received: version={version!r}")
    root = os.path.join(base_dir, model_name)
    final = os.path.join(root, str(version))
    if explicit and os.path.lexists(final):
        raise ExportExistsError(
            f"Export version {version} of {model_name!r} already exists at {final!r}; "
            "exports are never overwritten. Pass another `version` (or none for the next one)."
        )
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=root)
    try:
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the version from a server run as another user
        archive = keras.export.ExportArchive()
        archive.track(model)
        endpoints = model.serving_endpoints()
        for name, (fn, signature) in endpoints.items():
            archive.add_endpoint(name=name, fn=fn, input_signature=signature)
        archive.write_out(tmp, verbose=False)
        save_without_optimizer(model, os.path.join(tmp, KERAS_MODEL))
        write_warmup_requests(tmp, {name: signature for name, (_, signature) in endpoints.items()})
        manifest = {
            "keraszoo_version": __version__,
            "model": model.registry_name,
            "model_name": model_name,
            "version": version,
            "config": model.get_config(),
            "signatures": {
                name: [spec.name for spec in signature] for name, (_, signature) in endpoints.items()
            },
            **(metadata or {}),
        }
        while True:
            write_manifest(tmp, {**manifest, "version": version})
            if _publish(tmp, final):
                break
            if explicit:  # lost a race with another writer
                raise ExportExistsError(f"Export version {version} appeared at {final!r} while writing.")
            version = max(_next_version(base_dir, model_name), version + 1)
            final = os.path.join(root, str(version))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
