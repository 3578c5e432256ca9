"""Reparameterization vs REINFORCE (+ baselines) on static binarized MNIST, same budget.

    python benchmarks/estimators.py --data-file ../shared/data/binarized_mnist.npz --epochs 10

Trains the `gaussian_vae_mnist` recipe (784-200-200-50 tanh, Bernoulli) once per estimator,
then reports test −ELBO, the importance-weighted NLL and the encoder-gradient variance measured
by `keraszoo.diagnostics.gradients` on a test batch of the trained model.
"""

from __future__ import annotations

import argparse
import json
import os

import keras
from common import npz_config

from keraszoo.data import load_split, make_pipeline
from keraszoo.diagnostics.gradients import gradient_statistics
from keraszoo.training import train_and_evaluate

ESTIMATORS = [
    ("reparameterization", "none", 1),
    ("reinforce", "none", 1),
    ("reinforce", "moving_average", 1),
    ("reinforce", "rloo", 4),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-file", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=1000, help="importance samples of the NLL")
    parser.add_argument("--eval-examples", type=int, default=2000)
    parser.add_argument("--workdir", default="runs/estimators")
    args = parser.parse_args()
    rows = []
    for estimator, baseline, k in ESTIMATORS:
        name = f"{estimator}-{baseline}-K{k}"
        config = npz_config(
            "gaussian_vae_mnist",
            args.data_file,
            args.epochs,
            args.k,
            estimator=estimator,
            baseline=baseline,
            num_samples=k,
        ).replace(eval_max_examples=args.eval_examples)
        workdir = os.path.join(args.workdir, name)
        results = train_and_evaluate(config, workdir, verbose=2)
        model = keras.models.load_model(os.path.join(workdir, "model.keras"))
        x = next(iter(make_pipeline(load_split("npz", "test", path=args.data_file), 100)))
        stats = {(r["estimator"], r["baseline"]): r for r in gradient_statistics(model, x, repeats=50)}
        rows.append(
            {
                "estimator": name,
                **results["test"],
                "grad_variance": {str(k): v["variance"] for k, v in stats.items()},
            }
        )
        rows[-1]["own_grad_variance"] = stats[(estimator, baseline)]["variance"]
    nll = f"test NLL (k={args.k}, {args.eval_examples} ex.)"
    print(f"| estimator | epochs | test −ELBO | {nll} | own gradient variance |")
    print("|---|---|---|---|---|")
    for r in rows:
        cells = [
            r["estimator"],
            args.epochs,
            f"{r['neg_elbo']:.2f}",
            f"{r['nll']:.2f}",
            f"{r['own_grad_variance']:.4g}",
        ]
        print("| " + " | ".join(map(str, cells)) + " |")
    with open(os.path.join(args.workdir, "summary.json"), "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
