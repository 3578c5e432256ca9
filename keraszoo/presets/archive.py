"""Preset archives: one `.tar` per preset version, written reproducibly and read defensively.

An archive `NAME-VERSION.tar` holds the version directory as `NAME/VERSION/...` (the
SavedModel, its `variables/` and `keraszoo_manifest.json`), so that the folder it is
extracted into is itself a preset root. `pack` writes the same bytes for the same files
(sorted members, owner, group and times zeroed, fixed permissions), so the sha256 recorded in
the package's index (`keraszoo.presets.index`) is that of any archive packed from the same
export. The archive is not compressed: float weights barely compress, and a gzip stream's
bytes depend on the zlib that wrote it, which would tie the index's sha256 to one build of it.

An archive from elsewhere is not trusted: `check_members` refuses, before anything is
extracted, any member with an absolute path, a `..` component, a place outside
`NAME/VERSION/`, a link whose target leaves that folder, or a type other than a regular
file, a directory or such a link (the "tar slip" of CVE-2007-4559: `tarfile` writes where a
member's name says unless told otherwise).
"""

from __future__ import annotations

import os
import posixpath
import tarfile

from keraszoo.export.saved_model import MANIFEST

#: What a version directory must hold to load in Keras and in TF Serving.
REQUIRED_FILES = ("saved_model.pb", "variables/variables.index", MANIFEST)


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the preset's folder (or is not a plain file,
    directory or link inside it)."""


def archive_name(name: str, version: int) -> str:
    """The file name of a preset version's archive, e.g. `gaussian_vae_mnist-3.tar`."""
    return f"{name}-{int(version)}.tar"


def missing_files(version_dir: str) -> list[str]:
    """The files a complete version directory has and `version_dir` lacks (the SavedModel, its
    variables index and data shards, the manifest)."""
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(version_dir, f))]
    variables = os.path.join(version_dir, "variables")
    shards = os.listdir(variables) if os.path.isdir(variables) else []
    if not any(s.startswith("variables.data-") for s in shards):
        missing.append("variables/variables.data-*")
    return missing


def _files(version_dir: str) -> list[str]:
    """Relative POSIX paths of the files under `version_dir`, sorted."""
    found = []
    for folder, dirs, files in os.walk(version_dir):
        dirs.sort()
        for f in sorted(files):
            found.append(os.path.relpath(os.path.join(folder, f), version_dir).replace(os.sep, "/"))
    return sorted(found)


def pack(version_dir: str, name: str, version: int, out_dir: str) -> str:
    """Writes `out_dir/NAME-VERSION.tar` from the version directory; returns its path.

    The bytes depend only on the files' paths and contents (see the module docstring)."""
    missing = missing_files(version_dir)
    if missing:
        raise FileNotFoundError(
            f"Cannot pack preset {name!r} version {version}: {version_dir} lacks {missing}."
        )
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, archive_name(name, version))
    tmp = path + ".tmp"
    prefix = f"{name}/{int(version)}"

    def info(member: str, is_dir: bool, size: int = 0) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(member)
        entry.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
        entry.mode, entry.size, entry.mtime = (0o755 if is_dir else 0o644), size, 0
        entry.uid = entry.gid = 0
        entry.uname = entry.gname = ""
        return entry

    files = _files(version_dir)
    dirs = set()
    for f in files:  # every folder above a file, down from NAME/
        parts = posixpath.join(prefix, f).split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    try:
        with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for d in sorted(dirs):
                tar.addfile(info(d, True))
            for f in files:
                source = os.path.join(version_dir, *f.split("/"))
                with open(source, "rb") as content:
                    tar.addfile(info(posixpath.join(prefix, f), False, os.path.getsize(source)), content)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def check_members(archive: str, name: str, version: int) -> list[str]:
    """The member names of `archive` if every one stays inside `NAME/VERSION/`; else raises
    `UnsafeArchiveError` naming the first that does not. Nothing is extracted."""
    folder = f"{name}/{int(version)}"
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ValueError(f"{archive} is not a readable tar archive ({type(err).__name__}: {err}).") from err

    def refuse(member: tarfile.TarInfo, why: str):
        raise UnsafeArchiveError(
            f"Refused archive {archive}: member {member.name!r} {why}. Nothing was extracted."
        )

    for member in members:
        raw = member.name
        if raw.startswith(("/", "\\")) or posixpath.isabs(raw) or (len(raw) > 1 and raw[1] == ":"):
            refuse(member, "has an absolute path")
        if ".." in raw.replace("\\", "/").split("/"):
            refuse(member, "has a '..' component")
        path = posixpath.normpath(raw)
        if not (_inside(path, folder) or path in (name, ".")):
            refuse(member, f"lies outside {folder}/")
        if member.issym() or member.islnk():
            target = member.linkname
            if target.startswith(("/", "\\")) or posixpath.isabs(target):
                refuse(member, f"is a link to the absolute path {target!r}")
            # A symbolic link is relative to its own folder, a hard link to the archive's root.
            base = posixpath.dirname(path) if member.issym() else ""
            resolved = posixpath.normpath(posixpath.join(base, target))
            if not _inside(resolved, folder):
                refuse(member, f"is a link pointing outside {folder}/ ({target!r})")
        elif not (member.isfile() or member.isdir()):
            refuse(member, "is not a regular file, a directory or a link")
    return [m.name for m in members]
