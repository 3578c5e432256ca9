"""Trained models by name, following keras-hub's preset convention.

    keraszoo.list_presets()                 {name: {"description", "metric", "version", "path"}}
    keraszoo.from_preset("gaussian_vae_mnist")        a trainable Keras model with the weights
    GaussianVAE.from_preset("gaussian_vae_mnist")     the same, checked to be a GaussianVAE
    keraszoo.load_serving("gaussian_vae_mnist")       the SavedModel, for TensorFlow-only use
    python -m keraszoo.presets                        the zoo table

A preset is a version directory written by `keraszoo.export.export_model`:
`<root>/<name>/<version>/` with the SavedModel, `model.keras` and `keraszoo_manifest.json`.
The roots are `$KERASZOO_PRESETS` (a path list) or, by default, the `exports/` folder of the
keraszoo checkout. The newest version is used unless `version=` says otherwise.
"""

from __future__ import annotations

import json
import os
import sys

from keraszoo.export.manifest import validate_manifest
from keraszoo.export.saved_model import KERAS_MODEL, MANIFEST, list_versions


def preset_roots() -> list[str]:
    """Folders searched for presets, in order."""
    env = os.environ.get("KERASZOO_PRESETS")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "exports")]


def _find(name: str) -> str | None:
    for root in preset_roots():
        if list_versions(root, name):
            return root
    return None


def _names() -> list[str]:
    names = set()
    for root in preset_roots():
        if os.path.isdir(root):
            names.update(n for n in os.listdir(root) if list_versions(root, n))
    return sorted(names)


def preset_dir(name: str, version: int | None = None) -> str:
    """The version directory of preset `name` (newest by default)."""
    root = _find(name)
    if root is None:
        raise ValueError(
            f"Unknown preset. Expected one of {_names()} (searched {preset_roots()}). "
            f"Received: preset={name!r}"
        )
    versions = list_versions(root, name)
    version = versions[-1] if version is None else version
    if version not in versions:
        raise ValueError(f"Preset {name!r} has versions {versions}. Received: version={version!r}")
    return os.path.join(root, name, str(version))


def split_spec(spec: str) -> tuple[str, int | None]:
    """A preset spec: `NAME` → (NAME, None: the newest version); `NAME:VERSION` → (NAME, VERSION)."""
    name, colon, version = spec.partition(":")
    if colon and not version.isdigit():
        raise ValueError(f"Expected a preset as NAME or NAME:VERSION (an integer). Received: preset={spec!r}")
    return name, int(version) if colon else None


def load_manifest(name: str, version: int | None = None) -> dict:
    """The validated manifest of a preset."""
    return _read_manifest(name, preset_dir(name, version))


def _read_manifest(name: str, version_dir: str) -> dict:
    path = os.path.join(version_dir, MANIFEST)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Preset {name!r} has no manifest: {path} is missing.")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"Preset {name!r}: {path} is not valid JSON ({err}).") from err
    return validate_manifest(manifest, source=path)


def headline(manifest: dict) -> str:
    """The headline metric of a manifest, e.g. "NLL 89.21 nats (k=5000)": the published figure's
    metric where there is one, else the importance-weighted NLL."""
    test, published = manifest["test"], manifest["published"]
    metric = published["metric"] if published else ("nll" if test.get("num_samples", 1) > 1 else "neg_elbo")
    if metric == "nll":
        return f"NLL {test['nll']:.2f} nats (k={int(test['num_samples'])})"
    return f"-ELBO {test['neg_elbo']:.2f} nats"


def list_presets() -> dict[str, dict]:
    """name → {"description", "metric", "version", "path"} of every preset found."""
    return {name: _summary(name, manifest, path) for name, manifest, path in _presets()}


def _presets():
    """(name, manifest, version directory) of the newest version of every preset."""
    for name in _names():
        path = preset_dir(name)
        yield name, _read_manifest(name, path), path


def _summary(name: str, manifest: dict, path: str) -> dict:
    return {
        "description": manifest["description"],
        "metric": headline(manifest),
        "version": manifest["version"],
        "path": path,
    }


def from_preset(name: str, version: int | None = None, expected_class: type | None = None):
    """The preset's Keras model (trainable, compile-ready) with its trained weights."""
    import keras

    import keraszoo.models  # noqa: F401  (registers the classes `load_model` needs)
    import keraszoo.optimizers  # noqa: F401
    import keraszoo.schedules  # noqa: F401

    manifest = load_manifest(name, version)
    path = os.path.join(preset_dir(name, version), KERAS_MODEL)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Preset {name!r} has no Keras model: {path} is missing.")
    try:
        model = keras.models.load_model(path)
    except Exception as err:  # a truncated or corrupted archive: name the file
        raise ValueError(f"Preset {name!r}: cannot load {path} ({type(err).__name__}: {err}).") from err
    if expected_class is not None and not isinstance(model, expected_class):
        raise ValueError(
            f"Preset {name!r} is a {manifest['model']!r} model, not a {expected_class.__name__}. "
            f"Use keraszoo.from_preset({name!r}) or the matching class."
        )
    return model


def load_serving(name: str, version: int | None = None):
    """The preset's SavedModel (`tf.saved_model.load`), with its named signatures."""
    import tensorflow as tf

    load_manifest(name, version)
    return tf.saved_model.load(preset_dir(name, version))


def zoo_table() -> str:
    """A Markdown table of the presets, generated from their manifests."""
    rows = ["| preset | model | description | metric | published | size |", "|---|---|---|---|---|---|"]
    for name, manifest, path in _presets():
        info = _summary(name, manifest, path)
        published = manifest["published"]
        pub = f"{published['value']} ({published['source']})" if published else "—"
        size = sum(
            os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(info["path"]) for f in files
        )
        rows.append(
            f"| `{name}` | `{manifest['model']}` | {info['description']} | {info['metric']} | {pub} | "
            f"{size / 1e6:.1f} MB |"
        )
    return "\n".join(rows)


TABLE_START, TABLE_END = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"


def readme_table(readme: str) -> str:
    """The zoo table between the markers of a README's text."""
    start, end = readme.index(TABLE_START) + len(TABLE_START), readme.index(TABLE_END)
    return readme[start:end].strip()


def update_readme(path: str) -> None:
    """Rewrites the zoo table between the markers of the README at `path` from the manifests."""
    with open(path) as f:
        text = f.read()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    with open(path, "w") as f:
        f.write(text[:start] + "\n" + zoo_table() + "\n" + text[end:])


def _limits(manifest: dict) -> str:
    shape = "×".join(str(d) for d in manifest["config"]["data_shape"])
    binarize = manifest["training"]["config"]["binarize"]
    data = (
        "one fixed (static) binarization, which it partly overfits (the exported weights are the "
        "best validation epoch's)"
        if binarize in ("none", "static")
        else "binarizations drawn afresh each epoch (dynamic)"
    )
    return (
        f"Intended use: a generative model of {shape} binary images like those of "
        f"`{manifest['dataset']['name']}`, for sampling, reconstruction, likelihood estimates and as a "
        "starting point for fine-tuning (`python -m keraszoo.recipes.train RECIPE --init-from-preset "
        f"NAME`). Limits: trained on {data}; likelihoods of other images (other binarizations or "
        "datasets, intensities) are not meaningful; it is not a classifier."
    )


def _init_line(train: dict) -> list[str]:
    """The card's line on the preset a fine-tuned model started from (none for a fresh run)."""
    init = train.get("init_from") or (
        {"preset": train["config"]["init_from_preset"]}
        if train.get("config", {}).get("init_from_preset")
        else None
    )
    if not init:
        return []
    where = (
        f" version {init['version']} (trained at `{init['git_commit']}`)"
        if "version" in init
        else " (its latest version at the commit above)"
    )
    return [f"- Started from the weights of preset `{init['preset']}`{where}"]


def model_card(name: str) -> str:
    """A model card (Markdown) for preset `name`, from its manifest."""
    m = load_manifest(name)
    cfg, train, test, data = m["config"], m["training"], m["test"], m["dataset"]
    published = m["published"]
    pub = f"{published['value']} ({published['metric']}, {published['source']})" if published else "—"
    arch = {k: cfg[k] for k in ("encoder", "decoder", "latent_dim", "num_variables", "num_classes",
                                "estimator", "objective", "num_codes", "code_dim") if k in cfg}  # fmt: skip
    lines = [
        f"# `{name}` (version {m['version']})",
        "",
        m["description"] + ".",
        "",
        f"- Model: `{m['model']}` — `keraszoo.from_preset({name!r})`; architecture {arch}",
        f"- Data: `{data['name']}`"
        + (f", file `{data['file']}` (sha256 `{data['sha256']}`)" if data["file"] else ""),
        f"- Budget: {train['epochs']} epochs, {train['steps']} steps at batch {train['batch_size']}, "
        f"learning rate {train['learning_rate']}, "
        + (
            f"Polyak averaging of the weights (momentum {train['ema_momentum']}: the model is the average), "
            if train.get("ema_momentum")
            else ""
        )
        + (
            f"best validation epoch {train['best_epoch']}"
            + (f" on `{train['selected_on']}`, " if train.get("selected_on") else ", ")
            if train.get("best_epoch") is not None
            else "the last epoch (no best-epoch selection), "
        )  # fmt: skip
        + f"{train['wall_seconds'] / 60:.0f} min on {train['machine']}",
        f"- Reproduce: `{train['command']}` at commit `{train['git_commit']}`",
        *_init_line(train),
        "",
        "| test metric (nats) | ours | published |",
        "|---|---|---|",
        f"| −ELBO (1 exact sample per example, {int(test['num_examples'])} examples) | "
        f"{test['neg_elbo']:.2f} | "
        + (pub if published and published["metric"] == "neg_elbo" else "—")
        + " |",
        f"| NLL, importance-weighted k = {int(test['num_samples'])} | {test['nll']:.2f} | "
        + (pub if published and published["metric"] == "nll" else "—")
        + " |",
        "",
    ]
    if test.get("metrics"):  # exports before the family's own metrics were recorded lack them
        own = ", ".join(f"{k} {v:.4g}" for k, v in test["metrics"].items())
        lines += [f"The model's own metrics on the same examples (`model.evaluate`): {own}.", ""]
    for picture in ("samples", "reconstructions", "curves"):
        if os.path.exists(os.path.join(os.path.dirname(preset_dir(name)), f"{picture}.png")):
            lines += [f"![{picture}]({picture}.png)", ""]
    return "\n".join(lines + [_limits(m), ""])


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m keraszoo.presets", description="The zoo's trained presets."
    )
    parser.add_argument("--update-readme", metavar="README", help="rewrite the zoo table of this README")
    parser.add_argument("--model-card", metavar="NAME", help="write exports/NAME/README.md from its manifest")
    args = parser.parse_args(argv)
    if not _names():
        print(f"No presets found in {preset_roots()}.", file=sys.stderr)
        return 1
    if args.model_card:
        path = os.path.join(os.path.dirname(preset_dir(args.model_card)), "README.md")
        with open(path, "w") as f:
            f.write(model_card(args.model_card))
        print(path)
    if args.update_readme:
        update_readme(args.update_readme)
    print(zoo_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
