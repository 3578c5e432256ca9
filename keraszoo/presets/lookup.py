"""Finding a preset by name: local folders, the download cache, or a download.

`from_preset(name)` looks, in order, in

1. the folders of `$KERASZOO_PRESETS` (a path list, `os.pathsep`-separated);
2. the `exports/` folder of the keraszoo checkout, when keraszoo runs from one;
3. the download cache, `<Keras cache dir>/keraszoo_presets/` (`$KERAS_HOME`, else `~/.keras`),
   for the version the package's index names;
4. `<base>/<archive>`, where `<base>` is the `base_url=` argument or `$KERASZOO_PRESET_URL`
   (`https://...`, `http://...` or `file://...`) and `<archive>` the file the index names
   (`python -m keraszoo.presets pack` writes these archives).

A download goes through `keras.utils.get_file`, which checks the sha256 the index records;
the archive's members are checked (`keraszoo.presets.archive.check_members`) before
`get_file` extracts it, and the extracted folder is checked to be a complete version before
it is marked as cached. Any failure removes what it downloaded or extracted, so the next
call starts afresh.
"""

from __future__ import annotations

import json
import os
import shutil

from keraszoo.export.manifest import validate_manifest
from keraszoo.export.saved_model import MANIFEST, list_versions
from keraszoo.presets.archive import check_members, missing_files
from keraszoo.presets.index import read_index

ROOTS_VARIABLE = "KERASZOO_PRESETS"
URL_VARIABLE = "KERASZOO_PRESET_URL"
CACHE_SUBDIR = "keraszoo_presets"
VERIFIED = ".keraszoo-verified"  # written into a cache folder once its contents were checked


class PresetDownloadError(OSError):
    """A preset archive could not be downloaded (unreachable URL, missing file on the server)."""


def checkout_exports() -> str | None:
    """The `exports/` folder of the keraszoo checkout this package runs from (None when keraszoo
    is installed as a package)."""
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exports = os.path.join(checkout, "exports")
    if os.path.isdir(exports) and os.path.isfile(os.path.join(checkout, "pyproject.toml")):
        return exports
    return None


def preset_roots() -> list[str]:
    """Local folders searched for presets, in order: `$KERASZOO_PRESETS`, then the checkout's
    `exports/`."""
    roots = [p for p in os.environ.get(ROOTS_VARIABLE, "").split(os.pathsep) if p]
    exports = checkout_exports()
    return roots + ([exports] if exports and exports not in roots else [])


def cache_dir() -> str:
    """The Keras cache folder (`keras.utils.get_file`'s default): `$KERAS_HOME`, else `~/.keras`."""
    return os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))


def _local(name: str) -> tuple[str, list[int]] | None:
    """(root, versions) of the first local root that has preset `name`."""
    for root in preset_roots():
        versions = list_versions(root, name)
        if versions:
            return root, versions
    return None


def local_names() -> list[str]:
    names = set()
    for root in preset_roots():
        if os.path.isdir(root):
            names.update(n for n in os.listdir(root) if list_versions(root, n))
    return sorted(names)


def _extraction_dir(entry: dict) -> str:
    """Where `keras.utils.get_file(fname=ARCHIVE, extract=True)` extracts an archive."""
    stem = entry["archive"][: entry["archive"].find(".")]
    return os.path.join(cache_dir(), CACHE_SUBDIR, f"{stem}_extracted")


def cached_dir(name: str, entry: dict) -> str | None:
    """The cached version directory of an index entry, if it was downloaded and checked."""
    folder = _extraction_dir(entry)
    try:
        with open(os.path.join(folder, VERIFIED)) as f:
            if f.read().strip() != entry["sha256"]:
                return None
    except OSError:
        return None
    version_dir = os.path.join(folder, name, str(entry["version"]))
    return version_dir if not missing_files(version_dir) else None


def _unknown(name: str) -> ValueError:
    return ValueError(
        f"Unknown preset. Expected one of {sorted(set(local_names()) | set(read_index()))} "
        f"(searched {preset_roots()} and the package's preset index). Received: preset={name!r}"
    )


def preset_dir(name: str, version: int | None = None, base_url: str | None = None) -> str:
    """The version directory of preset `name` (its newest version by default), downloading and
    caching it if no local folder has it (see the module docstring)."""
    local = _local(name)
    if local is not None:
        root, versions = local
        version = versions[-1] if version is None else version
        if version in versions:
            return os.path.join(root, name, str(version))
    entry = read_index().get(name)
    if local is None and entry is None:
        raise _unknown(name)
    if entry is None or (version is not None and version != entry["version"]):
        versions = sorted(set(local[1] if local else []) | ({entry["version"]} if entry else set()))
        raise ValueError(f"Preset {name!r} has versions {versions}. Received: version={version!r}")
    return cached_dir(name, entry) or _download(name, entry, base_url)


def _remove(*paths: str) -> None:
    for path in paths:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.remove(path)


def _download(name: str, entry: dict, base_url: str | None) -> str:
    import keras

    base = base_url or os.environ.get(URL_VARIABLE)
    if not base:
        raise PresetDownloadError(
            f"Preset {name!r} (version {entry['version']}) is not on this machine: no folder of "
            f"{preset_roots()} has it and it is not in the cache {os.path.join(cache_dir(), CACHE_SUBDIR)}. "
            f"Set {URL_VARIABLE} (or pass base_url=) to the URL of a folder of preset archives "
            f"(`python -m keraszoo.presets pack`), or {ROOTS_VARIABLE} to a folder of exports."
        )
    origin = base.rstrip("/") + "/" + entry["archive"]
    options = dict(fname=entry["archive"], origin=origin, file_hash=entry["sha256"], hash_algorithm="sha256",
                   cache_dir=cache_dir(), cache_subdir=CACHE_SUBDIR, archive_format="tar")  # fmt: skip
    archive = os.path.join(cache_dir(), CACHE_SUBDIR, entry["archive"])
    folder = _extraction_dir(entry)
    _remove(folder)  # a folder left by an interrupted extraction (no VERIFIED mark)
    os.makedirs(cache_dir(), exist_ok=True)  # get_file falls back to /tmp/.keras if it is not writable
    try:
        try:
            keras.utils.get_file(**options)
        except ValueError as err:  # get_file's hash check; it keeps the file, we do not
            raise ValueError(
                f"Preset {name!r}: the archive downloaded from {origin} does not match the sha256 "
                f"{entry['sha256']} of the preset index ({err}). Nothing was cached."
            ) from None
        except Exception as err:  # get_file raises a bare Exception for URL errors
            raise PresetDownloadError(
                f"Preset {name!r}: cannot download {origin} ({err}). Check {URL_VARIABLE} or base_url=."
            ) from None
        check_members(archive, name, entry["version"])  # before anything is extracted
        keras.utils.get_file(**options, extract=True)
        version_dir = os.path.join(folder, name, str(entry["version"]))
        missing = missing_files(version_dir)
        if missing:
            raise ValueError(f"Preset {name!r}: the archive {origin} lacks {missing}. Nothing was cached.")
        read_manifest(name, version_dir)
        with open(os.path.join(folder, VERIFIED), "w") as f:
            f.write(entry["sha256"] + "\n")
    except BaseException:
        _remove(archive, folder)
        raise
    return version_dir


def split_spec(spec: str) -> tuple[str, int | None]:
    """A preset spec: `NAME` → (NAME, None: the newest version); `NAME:VERSION` → (NAME, VERSION)."""
    name, colon, version = spec.partition(":")
    if colon and not version.isdigit():
        raise ValueError(f"Expected a preset as NAME or NAME:VERSION (an integer). Received: preset={spec!r}")
    return name, int(version) if colon else None


def read_manifest(name: str, version_dir: str, export_only: bool = False) -> dict:
    """The validated manifest of the version directory of preset `name` (only the fields every
    export has if `export_only`: see `keraszoo.export.manifest.validate_manifest`)."""
    path = os.path.join(version_dir, MANIFEST)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Preset {name!r} has no manifest: {path} is missing.")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"Preset {name!r}: {path} is not valid JSON ({err}).") from err
    return validate_manifest(manifest, source=path, export_only=export_only)


def load_manifest(name: str, version: int | None = None, base_url: str | None = None) -> dict:
    """The validated manifest of a preset."""
    return read_manifest(name, preset_dir(name, version, base_url))


def local_presets():
    """(name, manifest or the error reading it, version directory) of the newest version of
    every local preset."""
    for name in local_names():
        root, versions = _local(name)
        path = os.path.join(root, name, str(versions[-1]))
        try:
            yield name, read_manifest(name, path), path
        except (OSError, ValueError) as err:
            yield name, err, path


def list_presets() -> dict[str, dict]:
    """name → {"description", "metric", "version", "path", "where"} of every preset, local or
    indexed. "where" is "local" (a folder of `preset_roots()`), "cached" (downloaded before) or
    "remote" (in the package's index; `from_preset` downloads it, "path" is None). A local
    preset whose manifest cannot be read is listed with its "error" instead of its facts."""
    from keraszoo.presets.cards import headline

    listed = {}
    for name, manifest, path in local_presets():
        if isinstance(manifest, Exception):
            listed[name] = {"where": "local", "path": path, "error": str(manifest)}
        else:
            listed[name] = {"description": manifest["description"], "metric": headline(manifest),
                            "version": manifest["version"], "path": path, "where": "local"}  # fmt: skip
    for name, entry in read_index().items():
        if name not in listed:
            path = cached_dir(name, entry)
            listed[name] = {"description": entry["description"], "metric": entry["metric"],
                            "version": entry["version"], "path": path,
                            "where": "cached" if path else "remote"}  # fmt: skip
    return dict(sorted(listed.items()))
