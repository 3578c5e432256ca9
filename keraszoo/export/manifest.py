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

Exports written by `train_and_evaluate` carry every field; `export_model` called by hand
writes the first group and whatever metadata it is given (then `validate_manifest` names
what is missing).
"""

from __future__ import annotations

import hashlib
import os
import platform
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


def validate_manifest(manifest: dict, source: str = "manifest") -> dict:
    """Returns `manifest` if it follows `SCHEMA`, else raises ValueError naming every problem."""
    problems = []
    for key, kind in SCHEMA.items():
        if key not in manifest:
            problems.append(f"missing {key!r}")
        elif not isinstance(manifest[key], kind):
            problems.append(f"{key!r} is {type(manifest[key]).__name__}")
    for key, fields in NESTED.items():
        if isinstance(manifest.get(key), dict):
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
