"""The manifest of an export: one schema for every model, validated on write and on load.

`keraszoo_manifest.json` says what a version directory holds and how it was made:

    model, model_name, version, config, signatures, keraszoo_version   (always, from the export)
    dataset     {"name", "file", "sha256"}          what it was trained on (file/sha256: None
                                                    for TFDS and the embedded dataset)
    training    {"epochs", "steps", "batch_size", "learning_rate", "wall_seconds", "machine",
                 "command", "git_commit"}           the budget and how to reproduce it; also
                                                    "best_epoch", "selected_on" (the validation
                                                    metric it minimised), "init_from" (the
                                                    preset version a fine-tune started from);
                                                    wall_seconds sums a resumed run's sessions
    test        {"neg_elbo", "nll", "num_samples", "num_examples", "metrics"}  estimator
                                                    settings with the metrics; "metrics": the
                                                    family's own from `model.evaluate` (recon_nll,
                                                    kl, τ or β, perplexity, codes used, ...);
                                                    Gumbel-softmax models add "neg_elbo_relaxed"
                                                    (relaxed samples, not a bound)
    published   {"value", "metric", "source"} or None   the figure it is compared with
    description one line for `keraszoo.list_presets()`

Provenance is portable (`portable_provenance`, applied by `export_model`): the command and the
training config name the data file by its base name (its sha256 is in "dataset") and write
WORKDIR, EXPORT_DIR and DATA_DIR for the folders the training machine used, so a manifest
(and the model card made from it) holds no path of the machine that trained it.

Exports written by `train_and_evaluate` carry every field; `export_model` called by hand
writes the first group and whatever metadata it is given (then `validate_manifest` names
what is missing).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import subprocess

SCHEMA = {
    "model": str,
    "model_name": str,
    "version": int,
    "config": dict,
    "signatures": dict,
    "keraszoo_version": str,
    "dataset": dict,
    "training": dict,
    "test": dict,
    "published": (dict, type(None)),
    "description": str,
}
NESTED = {
    "dataset": ("name", "file", "sha256"),
    "training": (
        "epochs",
        "steps",
        "batch_size",
        "learning_rate",
        "wall_seconds",
        "machine",
        "command",
        "git_commit",
    ),
    "test": ("neg_elbo", "nll", "num_samples", "num_examples"),
}


#: The fields `export_model` always writes (what rebuilding the Keras model needs).
EXPORT_FIELDS = ("model", "model_name", "version", "config", "signatures", "keraszoo_version")


def validate_manifest(manifest: dict, source: str = "manifest", export_only: bool = False) -> dict:
    """Returns `manifest` if it follows `SCHEMA` (only its `EXPORT_FIELDS` if `export_only`),
    else raises ValueError naming every problem."""
    if not isinstance(manifest, dict):
        raise ValueError(f"Invalid keraszoo manifest {source}: a {type(manifest).__name__}, not an object.")
    problems = []
    for key, kind in SCHEMA.items():
        if export_only and key not in EXPORT_FIELDS:
            continue
        if key not in manifest:
            problems.append(f"missing {key!r}")
        elif not isinstance(manifest[key], kind) or (kind is int and isinstance(manifest[key], bool)):
            problems.append(f"{key!r} is {type(manifest[key]).__name__}")
    for key, fields in NESTED.items():
        if isinstance(manifest.get(key), dict) and not export_only:
            problems += [f"missing {key}.{f}" for f in fields if f not in manifest[key]]
    if problems:
        raise ValueError(f"Invalid keraszoo manifest {source}: {'; '.join(problems)}.")
    return manifest


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def machine_description() -> str:
    return f"{platform.machine()} {platform.processor() or platform.system()}, {os.cpu_count()} CPUs"


def git_commit(path: str | None = None) -> str | None:
    """The commit of the checkout at `path` (+ "-dirty" with uncommitted changes), or None."""
    path = path or os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


#: Command-line flags and config fields whose value is a folder of the training machine, and
#: the placeholder each is recorded as; a data file is recorded by its base name.
FOLDER_PLACEHOLDERS = {"workdir": "WORKDIR", "export_dir": "EXPORT_DIR", "data_dir": "DATA_DIR"}
FILE_FIELDS = ("data_file",)


def _portable_value(field: str, value: str) -> str:
    if field in FOLDER_PLACEHOLDERS:
        return FOLDER_PLACEHOLDERS[field]
    return os.path.basename(value.rstrip("/")) if field in FILE_FIELDS else value


def portable_command(command: str) -> str:
    """`command` with the training machine's folders replaced by placeholders and the data file
    by its base name: `--workdir /tmp/x` → `--workdir WORKDIR`, `--data-file /a/b.npz` →
    `--data-file b.npz`, `--set export_dir=/y` → `--set export_dir=EXPORT_DIR` (also the
    `--flag=value` form). Other words are kept; a command shlex cannot split is returned as is."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    out, changed, i = [], False, 0
    while i < len(words):
        word = words[i]
        flag, eq, value = word.partition("=")
        field = flag[2:].replace("-", "_") if flag.startswith("--") else None
        if field in FOLDER_PLACEHOLDERS or field in FILE_FIELDS:
            if eq:
                out.append(f"{flag}={_portable_value(field, value)}")
            elif i + 1 < len(words):
                out += [word, _portable_value(field, words[i + 1])]
                i += 1
            else:
                out.append(word)
        elif word == "--set" and i + 1 < len(words):
            key, eq, value = words[i + 1].partition("=")
            portable = _portable_value(key, value) if eq and value not in ("null", "None", "") else value
            out += [word, f"{key}{eq}{portable}"]
            i += 1
        else:
            out.append(word)
        changed |= out[-1] != words[i]
        i += 1
    return shlex.join(out) if changed else command


def portable_provenance(metadata: dict) -> dict:
    """A copy of export metadata whose "training" command and config hold no machine paths
    (see `portable_command`); metadata without them is returned unchanged."""
    training = metadata.get("training")
    if not isinstance(training, dict):
        return metadata
    training = dict(training)
    if isinstance(training.get("command"), str):
        training["command"] = portable_command(training["command"])
    if isinstance(training.get("config"), dict):
        training["config"] = {
            k: _portable_value(k, v) if isinstance(v, str) else v for k, v in training["config"].items()
        }
    return {**metadata, "training": training}
