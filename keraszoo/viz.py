"""Pictures: image grids (samples, reconstructions) and training curves, as PNG and TensorBoard."""

from __future__ import annotations

import csv
import functools
import math
import os

import numpy as np


def image_grid(images: np.ndarray, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tiles a batch (n, H, W, C) of images in [0, 1] into one uint8 image (rows, cols, C)."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, h, w, c = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.ones(((h + pad) * nrows + pad, (w + pad) * ncols + pad, c), np.float32)
    for i, image in enumerate(images):
        row, col = divmod(i, ncols)
        top, left = pad + row * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = image
    return (grid * 255).round().astype(np.uint8)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so 8×8 digits are visible."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


@functools.cache
def _pyplot():
    """matplotlib.pyplot, with the non-interactive Agg backend selected once (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def save_png(path: str, image: np.ndarray) -> str:
    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
    return path


def pairs_grid(inputs: np.ndarray, reconstructions: np.ndarray, ncols: int = 8) -> np.ndarray:
    """Inputs and their reconstructions in alternating rows."""
    rows = []
    for start in range(0, len(inputs), ncols):
        rows += [inputs[start : start + ncols], reconstructions[start : start + ncols]]
    return image_grid(np.concatenate(rows), ncols=ncols)


def _read_history(csv_path: str) -> tuple[list[int], list[dict]]:
    """A Keras CSVLogger file: the 1-based epochs and the rows."""
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    return [int(r["epoch"]) + 1 for r in rows], rows


# The y-axis of a logged metric that is not in nats per example.
UNITS = {
    "perplexity": "exp(entropy) of code usage",
    "codes_used": "fraction of the codebook",
    "dead_codes": "codes",
    "beta": "β",
    "temperature": "τ",
}


def plot_history(csv_path: str, png_path: str, metrics=("neg_elbo", "recon_nll", "kl")) -> str:
    """Training curves (train and validation) from a Keras CSVLogger file."""
    plt = _pyplot()

    epochs, rows = _read_history(csv_path)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2))
    for ax, name in zip(np.atleast_1d(axes), metrics, strict=True):
        for prefix, style in (("", "-"), ("val_", "--")):
            if rows and prefix + name in rows[0]:
                ax.plot(epochs, [float(r[prefix + name]) for r in rows], style, label=prefix + name)
        ax.set(xlabel="epoch", ylabel=UNITS.get(name, "nats per example"), title=name)
        ax.legend()
    return _save_figure(fig, png_path)


def plot_runs(csv_paths: dict[str, str], png_path: str, metric: str = "val_neg_elbo", title: str = "") -> str:
    """One curve of `metric` per run against the epoch: `csv_paths` maps a label to a run's
    CSVLogger file (the `history.csv` of its work directory). Runs may differ in length."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, path in csv_paths.items():
        epochs, rows = _read_history(path)
        if rows and metric not in rows[0]:
            raise ValueError(f"metric={metric!r} is not a column of {path} (columns: {sorted(rows[0])})")
        ax.plot(epochs, [float(r[metric]) for r in rows], label=label)
    ax.set(xlabel="epoch", ylabel="nats per example", title=title or metric)
    ax.legend()
    return _save_figure(fig, png_path)


SMOOTHING_FIGURES = {
    "figure1": ("f1", "f2", "f3"),  # spike-and-exponential, f2 and power-function smoothing
    "figure1b": ("f2_root", "f2_hyperbolic", "f3_root"),
}
_LABELS = {"f1": "f1 (spike-and-exp.)", "f2": "f2", "f3": "f3 (power)", "f2_root": "f2′ (root)",
           "f2_hyperbolic": "f2″ (hyperbolic)", "f3_root": "f3′ (root)"}  # fmt: skip


def plot_smoothing_functions(names, path, betas=(1.0, 4.0, 16.0), ps=(0.2, 0.5, 0.8)) -> str:
    """ζ = f(β, p, ε) against ε: one column per function, one row per p, one curve per β."""
    plt = _pyplot()

    from keraszoo.distributions.smoothing import smooth

    eps = np.linspace(0.0, 1.0, 1001)
    fig, axes = plt.subplots(
        len(ps), len(names), figsize=(3.4 * len(names), 2.8 * len(ps)), sharex=True, sharey=True
    )
    for row, p in enumerate(ps):
        for col, name in enumerate(names):
            ax = axes[row, col]
            for beta in betas:
                ax.plot(eps, smooth(name, beta, np.full_like(eps, p), eps).numpy(), label=f"β = {beta:g}")
            ax.axvline(1 - p, color="grey", lw=0.6, ls=":")
            ax.set_title(f"{_LABELS[name]}, p = {p}", fontsize=9)
            if row == len(ps) - 1:
                ax.set_xlabel("ε")
            if col == 0:
                ax.set_ylabel("ζ")
    axes[0, 0].legend(fontsize=8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return _save_figure(fig, path)


def main(argv=None) -> int:
    """`python -m keraszoo.viz smoothing --out DIR`: f1, f2, f3 and the root / hyperbolic variants."""
    from keraszoo._cli import ArgumentParser

    parser = ArgumentParser(prog="python -m keraszoo.viz")
    parser.add_argument("figure", choices=["smoothing"])
    parser.add_argument("--out", default="figures")
    args = parser.parse_args(argv)
    for name, functions in SMOOTHING_FIGURES.items():
        print(plot_smoothing_functions(functions, os.path.join(args.out, f"smoothing_{name}.png")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
