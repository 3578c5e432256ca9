"""A shipped preset's bounds on each split: how far it overfits, and where a continuation starts.

    python benchmarks/preset_splits.py --data-file ../shared/data/binarized_mnist.npz --k 50 \
        gaussian_vae_mnist:1 gaussian_vae_mnist:2 iwae_mnist:2

For each preset and split (train, validation, test): the −ELBO (one sample per example) and
−L_k, the importance-weighted bound of Burda et al. (2016) with k samples, in nats per example,
on a fixed random subset of --max-examples images of the split (all of validation and test
by default). The train − validation difference is the overfitting of a fixed binarization;
validation −L_50 is what `iwae_mnist` selects its best epoch on, so it is the figure a VAE →
IWAE continuation starts from.
"""

from __future__ import annotations

import argparse
import json

from common import npz_evaluation_data, shipped

from keraszoo.presets import split_spec
from keraszoo.training.evaluation import evaluate_bounds

SPLITS = ("train", "validation", "test")


def evaluate(name: str, version: int | None, data_file: str, k: int, max_examples: int) -> dict:
    manifest, config, model = shipped(name, version, eval_max_examples=max_examples)
    row = {"preset": f"{name}:{manifest['version']}", "k": k}
    for split in SPLITS:
        data = npz_evaluation_data(config, data_file, split)
        bounds = evaluate_bounds(model, data, num_samples=k, seed=config.seed, verbose=0)
        row[split] = {key: bounds[key] for key in ("neg_elbo", "nll", "num_examples")}
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("presets", nargs="+", help="NAME or NAME:VERSION")
    parser.add_argument("--data-file", required=True)
    parser.add_argument("--k", type=int, default=50, help="samples of the importance-weighted bound")
    parser.add_argument("--max-examples", type=int, default=10_000, help="per split (a fixed random subset)")
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = [evaluate(*split_spec(spec), args.data_file, args.k, args.max_examples) for spec in args.presets]
    head = " | ".join(f"{s} −ELBO | {s} −L_{args.k}" for s in SPLITS)
    print(f"| preset | {head} |")
    print("|---" * (1 + 2 * len(SPLITS)) + "|")
    for r in rows:
        cells = " | ".join(f"{r[s]['neg_elbo']:.2f} | {r[s]['nll']:.2f}" for s in SPLITS)
        print(f"| {r['preset']} | {cells} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
