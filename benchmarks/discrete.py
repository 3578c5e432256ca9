"""Jang et al. (2017), Table 1, VAE rows: −ELBO on static binarized MNIST per estimator.

    python benchmarks/discrete.py --data-file ../shared/data/binarized_mnist.npz --epochs 10
    python benchmarks/discrete.py --data-file ... --epochs 100 --k 1000 \
        --estimators "score function" straight-through "ST Gumbel-softmax"   # the authors' budget

Trains the `categorical_vae_mnist` (20×10) and `bernoulli_vae_mnist` (200 binary) recipes with
each estimator for the same budget and prints the test −ELBO (exact discrete samples) and an
importance-weighted NLL beside the published −ELBO. "Score function" is REINFORCE with the
moving-average baseline; "score function, leave-one-out (K = 2)" averages two samples per
example, each with the other's learning signal as its baseline.
"""

from __future__ import annotations

import argparse
import json
import os

from common import npz_config

from keraszoo import viz
from keraszoo.training import train_and_evaluate

ESTIMATORS = {  # row label → the recipe's model changes
    "score function": dict(estimator="reinforce", baseline="moving_average"),
    "score function, leave-one-out (K = 2)": dict(estimator="reinforce", baseline="rloo", num_samples=2),
    "straight-through": dict(estimator="straight_through", baseline="none"),
    "Gumbel-softmax": dict(estimator="gumbel_softmax", baseline="none"),
    "ST Gumbel-softmax": dict(estimator="gumbel_softmax_hard", baseline="none"),
}
PUBLISHED = {
    "categorical_vae_mnist": {"score function": 110.6, "straight-through": 110.9, "Gumbel-softmax": 101.5,
                              "ST Gumbel-softmax": 107.8},
    "bernoulli_vae_mnist": {"score function": 112.2, "straight-through": 116.0, "Gumbel-softmax": 105.0,
                            "ST Gumbel-softmax": 111.5},
}  # fmt: skip
PAPER_ROW = {"score function, leave-one-out (K = 2)": "score function"}  # the paper's row it compares with


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-file", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=100, help="importance samples of the NLL")
    parser.add_argument("--workdir", default="runs/discrete")
    parser.add_argument("--recipes", nargs="+", default=sorted(PUBLISHED))
    parser.add_argument(
        "--estimators",
        nargs="+",
        default=list(ESTIMATORS),
        choices=list(ESTIMATORS),
        help="rows to train (default: all four)",
    )
    args = parser.parse_args()
    rows, histories = [], {recipe: {} for recipe in args.recipes}
    for recipe in args.recipes:
        for label in args.estimators:
            changes = ESTIMATORS[label]
            config = npz_config(recipe, args.data_file, args.epochs, args.k, **changes)
            workdir = os.path.join(args.workdir, f"{recipe}-{changes['estimator']}")
            if changes["baseline"] == "rloo":
                workdir += "-rloo"
            test = train_and_evaluate(config, workdir, verbose=2)["test"]
            rows.append(
                {
                    "recipe": recipe,
                    "estimator": label,
                    **test,
                    "published": PUBLISHED[recipe][PAPER_ROW.get(label, label)],
                }
            )
            histories[recipe][label] = os.path.join(workdir, "history.csv")
    print(f"| model | estimator | epochs | test −ELBO (ours) | test NLL (k={args.k}) | published −ELBO |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            r["recipe"],
            r["estimator"],
            args.epochs,
            f"{r['neg_elbo']:.1f}",
            f"{r['nll']:.1f}",
            r["published"],
        ]
        print("| " + " | ".join(map(str, cells)) + " |")
    with open(os.path.join(args.workdir, "summary.json"), "w") as f:
        json.dump(rows, f, indent=2)
    for recipe, runs in histories.items():
        path = os.path.join(args.workdir, f"curves_{recipe}.png")
        print(viz.plot_runs(runs, path, title=f"{recipe}: validation −ELBO"))


if __name__ == "__main__":
    main()
