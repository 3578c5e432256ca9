"""VQ-VAE quality and speed: reconstruction NLL, perplexity, codes used, training examples/s.

    python benchmarks/vqvae.py --data-file ../shared/data/binarized_mnist.npz --epochs 5

Trains `vqvae_digits` (embedded) and `vqvae_mnist` (binarized MNIST from the .npz) and reports
test reconstruction NLL (nats and bits/dim), code perplexity and the fraction of codes used
over the whole test set, with training throughput. References for the CIFAR-10 recipe (not
measurable on a 2-core CPU in useful time): the paper's 4.67 bits/dim, and the Sonnet
example's perplexity ≈ 326 after 10k steps with K=512, D=64.
"""

from __future__ import annotations

import argparse
import json
import os

import keras
import numpy as np

from keraszoo.data import evaluation_binarize, load_split, make_pipeline
from keraszoo.layers.vector_quantizer import usage_perplexity
from keraszoo.losses import nats_to_bits_per_dim
from keraszoo.recipes import get_config
from keraszoo.training import TrainConfig, train_and_evaluate


def test_statistics(model, split, binarize):
    counts = np.zeros(model.num_codes)
    recon = []
    for x in make_pipeline(split, 500, binarize=binarize):
        terms = model.forward(model.prepare_inputs(x), seed=0)
        recon.append(terms["recon_nll"].numpy())
        counts += np.bincount(terms["indices"].numpy().ravel(), minlength=model.num_codes)
    nll = float(np.concatenate(recon).mean())
    return {
        "recon_nll": nll,
        "bits_per_dim": nats_to_bits_per_dim(nll, model.data_shape),
        "perplexity": float(usage_perplexity(counts / counts.sum())),
        "codes_used": float((counts > 0).mean()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-file", required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workdir", default="runs/vqvae")
    parser.add_argument("--recipes", nargs="+", default=["vqvae_digits", "vqvae_mnist"])
    args = parser.parse_args()
    rows = []
    for recipe in args.recipes:
        config = TrainConfig.from_dict(get_config(recipe)).replace(
            epochs=args.epochs, prior_epochs=0, export_dir=None, pictures=False
        )
        if recipe == "vqvae_mnist":
            config = config.replace(dataset="npz", data_file=args.data_file)
        workdir = os.path.join(args.workdir, recipe)
        results = train_and_evaluate(config, workdir, verbose=2)
        model = keras.models.load_model(os.path.join(workdir, "model.keras"))
        split = load_split(config.dataset, "train", path=config.data_file)
        test = load_split(config.dataset, "test", path=config.data_file)
        rate = (
            split.num_examples
            // config.batch_size
            * config.batch_size
            * args.epochs
            / results["train_seconds_this_run"]
        )
        binarize = evaluation_binarize(config.binarize)
        rows.append({"recipe": recipe, "examples_per_s": rate, **test_statistics(model, test, binarize)})
    print("| recipe | epochs | recon NLL (nats) | bits/dim | perplexity | codes used | train examples/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['recipe']} | {args.epochs} | {r['recon_nll']:.2f} | {r['bits_per_dim']:.4f} | "
            f"{r['perplexity']:.1f} | {r['codes_used']:.2f} | {r['examples_per_s']:.0f} |"
        )
    with open(os.path.join(args.workdir, "summary.json"), "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
