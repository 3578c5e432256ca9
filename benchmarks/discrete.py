"""Jang et al. (2017), Table 1, VAE rows: −ELBO on static binarized MNIST per estimator.

    python benchmarks/discrete.py --data-file ../shared/data/binarized_mnist.npz --epochs 10
    python benchmarks/discrete.py --data-file ... --epochs 100 --k 1000 \
        --estimators "score function" straight-through "ST Gumbel-softmax"   # the authors' budget

Trains the `categorical_vae_mnist` (20×10) and `bernoulli_vae_mnist` (200 binary) recipes with
each estimator for the same budget and prints the test −ELBO (exact discrete samples), an
importance-weighted NLL beside the published −ELBO, the wall time per pass, and the variance and
signal-to-noise ratio of the row's own encoder-gradient estimator on its trained model and a test
batch of 100 (`keraszoo.diagnostics.gradients`). "Score function" is REINFORCE with the
moving-average baseline; "score function, leave-one-out (K = 2)" averages two samples per
example, each with the other's learning signal as its baseline. The unbiased estimators of the
later literature: VIMCO (Mnih & Rezende 2016; trains the K-sample bound), ARM / DisARM (Yin & Zhou
2019; Dong, Mnih & Tucker 2020; Bernoulli latents only), REBAR (Tucker et al. 2017) and RELAX
(Grathwohl et al. 2018). A row whose estimator does not apply to a model's latents is skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os

from common import gradient_test_batch, npz_config, own_gradient_statistics

from keraszoo import viz
from keraszoo.estimators import estimator_names
from keraszoo.training import train_and_evaluate

ESTIMATORS = {  # row label → the recipe's model changes
    "score function": dict(estimator="reinforce", baseline="moving_average"),
    "score function, leave-one-out (K = 2)": dict(estimator="reinforce", baseline="rloo", num_samples=2),
    "straight-through": dict(estimator="straight_through", baseline="none"),
    "Gumbel-softmax": dict(estimator="gumbel_softmax", baseline="none"),
    "ST Gumbel-softmax": dict(estimator="gumbel_softmax_hard", baseline="none"),
    "VIMCO (K = 5)": dict(estimator="vimco", baseline="none", num_samples=5, objective="iwae"),
    "ARM": dict(estimator="arm", baseline="none"),
    "DisARM": dict(estimator="disarm", baseline="none"),
    "REBAR": dict(estimator="rebar", baseline="none"),
    "RELAX": dict(estimator="relax", baseline="none"),
}
LATENTS = {"categorical_vae_mnist": "categorical", "bernoulli_vae_mnist": "bernoulli"}
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
        help="rows to train (default: all)",
    )
    parser.add_argument("--repeats", type=int, default=50, help="gradient draws of the variance and SNR")
    args = parser.parse_args()
    x = gradient_test_batch(args.data_file)
    rows, histories = [], {recipe: {} for recipe in args.recipes}
    for recipe in args.recipes:
        for label in args.estimators:
            changes = ESTIMATORS[label]
            if changes["estimator"] not in estimator_names(LATENTS[recipe]):
                print(f"{recipe}: {label} does not apply to {LATENTS[recipe]} latents; skipped")
                continue
            config = npz_config(recipe, args.data_file, args.epochs, args.k, **changes)
            workdir = os.path.join(args.workdir, f"{recipe}-{changes['estimator']}")
            if changes["baseline"] == "rloo":
                workdir += "-rloo"
            results = train_and_evaluate(config, workdir, verbose=2)
            history = os.path.join(workdir, "history.csv")
            with open(history) as f:
                passes = sum(1 for _ in csv.DictReader(f))  # early stopping may end it before --epochs
            own = (changes["estimator"], changes["baseline"], changes.get("num_samples", 1))
            stats = own_gradient_statistics(workdir, x, own, args.repeats)
            rows.append(
                {
                    "recipe": recipe,
                    "estimator": label,
                    **results["test"],
                    "passes": passes,
                    "seconds_per_pass": results["train_seconds"] / passes,
                    "grad_variance": stats["variance"],
                    "grad_snr": stats["snr"],
                    "published": PUBLISHED[recipe].get(PAPER_ROW.get(label, label), "—"),
                }
            )
            histories[recipe][label] = history
    print(
        f"| model | estimator | passes | test −ELBO (ours) | test NLL (k={args.k}) | published −ELBO "
        "| s per pass | own gradient variance | SNR |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            r["recipe"],
            r["estimator"],
            r["passes"],
            f"{r['neg_elbo']:.1f}",
            f"{r['nll']:.1f}",
            r["published"],
            f"{r['seconds_per_pass']:.1f}",
            f"{r['grad_variance']:.4g}",
            f"{r['grad_snr']:.3f}",
        ]
        print("| " + " | ".join(map(str, cells)) + " |")
    with open(os.path.join(args.workdir, "summary.json"), "w") as f:
        json.dump(rows, f, indent=2)
    for recipe, runs in histories.items():
        path = os.path.join(args.workdir, f"curves_{recipe}.png")
        print(viz.plot_runs(runs, path, title=f"{recipe}: validation −ELBO"))


if __name__ == "__main__":
    main()
