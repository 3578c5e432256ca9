"""Quality on statically binarized MNIST: test NLL (IWAE, k = 5000) and −ELBO, next to the paper.

    python benchmarks/quality.py --data-file ../shared/data/binarized_mnist.npz --epochs 200

Trains the `gaussian_vae_mnist` recipe (784-200-200-50 tanh MLP, Bernoulli decoder, batch 100,
Adam 1e-3) and prints the test figures beside Burda et al. (2016), Table 1, VAE k=1: 88.71 nats
after 3280 passes. Results also go to `<workdir>/results.json`.
"""

from __future__ import annotations

import argparse
import json

from keraszoo.recipes import get_config
from keraszoo.training import TrainConfig, train_and_evaluate

PUBLISHED = {"gaussian_vae_mnist": ("Burda et al. 2016, Table 1 (VAE, k=1), 3280 passes", 88.71)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="gaussian_vae_mnist", choices=sorted(PUBLISHED))
    parser.add_argument("--data-file", help="binarized_mnist.npz (default: TFDS binarized_mnist)")
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--k", type=int, default=5000, help="importance samples of the NLL estimate")
    parser.add_argument("--workdir", default="runs/quality")
    args = parser.parse_args()
    config = TrainConfig.from_dict(get_config(args.recipe)).replace(
        epochs=args.epochs, eval_num_samples=args.k, export_dir=None, steps_per_execution=10
    )
    if args.data_file:
        config = config.replace(dataset="npz", data_file=args.data_file)
    if args.data_dir:
        config = config.replace(data_dir=args.data_dir)
    results = train_and_evaluate(config, args.workdir, verbose=2)
    source, nll = PUBLISHED[args.recipe]
    test = results["test"]
    print(json.dumps(test, indent=2))
    print(f"| model | passes | test −ELBO | test NLL (k={args.k}) | published NLL |")
    print(
        f"| {args.recipe} | {args.epochs} | {test['neg_elbo']:.2f} | {test['nll']:.2f} | {nll} ({source}) |"
    )


if __name__ == "__main__":
    main()
