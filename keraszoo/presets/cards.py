"""Model cards and the zoo table, written from the presets' manifests.

    headline(manifest)           the headline metric, e.g. "NLL 89.21 nats (k=5000)"
    zoo_table()                  a Markdown table of the local presets
    update_readme(path)          rewrites that table between the markers of a README
    model_card(name)             a preset's card (Markdown): data, budget, how to reproduce, metrics

The reproduce line of a card is portable: the manifest records the command with the data
file by name (its sha256 on the data line) and WORKDIR / EXPORT_DIR for the folders of the
training machine (`keraszoo.export.manifest.portable_command`).
"""

from __future__ import annotations

import os

from keraszoo.presets.lookup import load_manifest, local_presets, preset_dir


def headline(manifest: dict) -> str:
    """The headline metric of a manifest, e.g. "NLL 89.21 nats (k=5000)": the published figure's
    metric where there is one, else the importance-weighted NLL."""
    test, published = manifest["test"], manifest["published"]
    metric = published["metric"] if published else ("nll" if test.get("num_samples", 1) > 1 else "neg_elbo")
    if metric == "nll":
        return f"NLL {test['nll']:.2f} nats (k={int(test['num_samples'])})"
    return f"-ELBO {test['neg_elbo']:.2f} nats"


def zoo_table() -> str:
    """A Markdown table of the presets, generated from their manifests."""
    rows = ["| preset | model | description | metric | published | size |", "|---|---|---|---|---|---|"]
    for name, manifest, path in local_presets():
        if isinstance(manifest, Exception):
            rows.append(f"| `{name}` | — | invalid: {manifest} | — | — | — |")
            continue
        published = manifest["published"]
        pub = f"{published['value']} ({published['source']})" if published else "—"
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
        rows.append(
            f"| `{name}` | `{manifest['model']}` | {manifest['description']} | {headline(manifest)} | "
            f"{pub} | {size / 1e6:.1f} MB |"
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
    likelihood = manifest["config"].get("likelihood")
    binary = (likelihood.get("name") if isinstance(likelihood, dict) else likelihood) == "bernoulli"
    return (
        f"Intended use: a generative model of {shape} {'binary ' if binary else ''}images like those of "
        f"`{manifest['dataset']['name']}`, for sampling, reconstruction, likelihood estimates and as a "
        "starting point for fine-tuning (`python -m keraszoo.recipes.train RECIPE --init-from-preset "
        f"NAME`). Limits: trained on {data}; likelihoods of other images (other binarizations or "
        "datasets, intensities) are not meaningful; it is not a classifier."
    )


def _placeholders(train: dict, data: dict) -> str:
    """What the portable command's stand-ins mean (see `keraszoo.export.manifest.portable_command`)."""
    words = train["command"].split()
    folders = [w for w in ("WORKDIR", "EXPORT_DIR", "DATA_DIR") if w in words]
    notes = [f"{', '.join(folders)}: folders of your choice"] if folders else []
    if data.get("file"):
        notes.append(f"`{data['file']}`: the data file above, checked by its sha256")
    return f" ({'; '.join(notes)})" if notes else ""


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
        f"- Reproduce: `{train['command']}` at commit `{train['git_commit']}`" + _placeholders(train, data),
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
