"""Continuous-latent estimators on static binarized MNIST, same budget: reparameterization vs
REINFORCE (+ baselines), and the path-derivative estimators STL and DReG beside plain
reparameterization of the ELBO and of the IWAE bound (k = 5, 50).

    python benchmarks/estimators.py --data-file ../shared/data/binarized_mnist.npz --epochs 10
    python benchmarks/estimators.py --data-file ... --epochs 10 --rows stl iwae-K5 dreg-K5 iwae-K50 dreg-K50

Trains the `gaussian_vae_mnist` recipe (784-200-200-50 tanh, Bernoulli likelihood; Burda et al.
2016) once per row, then reports test −ELBO, the importance-weighted NLL, the wall time per pass,
and for the row's own estimator on its trained model and a test batch of 100
(`keraszoo.diagnostics.gradients`): the variance of the encoder gradient and its signal-to-noise
ratio (Rainforth et al. 2018). STL: Roeder, Wu & Duvenaud (2017); DReG: Tucker, Lawson, Gu &
Maddison (2019).
"""

from __future__ import annotations

import argparse
import json
import os

from common import gradient_test_batch, npz_config, own_gradient_statistics

from keraszoo.training import train_and_evaluate

ROWS = {  # label → (estimator, baseline, K, objective)
    "reparameterization": ("reparameterization", "none", 1, "elbo"),
    "reinforce": ("reinforce", "none", 1, "elbo"),
    "reinforce-moving_average": ("reinforce", "moving_average", 1, "elbo"),
    "reinforce-rloo-K4": ("reinforce", "rloo", 4, "elbo"),
    "stl": ("stl", "none", 1, "elbo"),
    "iwae-K5": ("reparameterization", "none", 5, "iwae"),
    "dreg-K5": ("dreg", "none", 5, "iwae"),
    "iwae-K50": ("reparameterization", "none", 50, "iwae"),
    "dreg-K50": ("dreg", "none", 50, "iwae"),
}
FIRST_ROWS = ("reparameterization", "reinforce", "reinforce-moving_average", "reinforce-rloo-K4")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-file", required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=1000, help="importance samples of the NLL")
    parser.add_argument("--eval-examples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=50, help="gradient draws of the variance and SNR")
    parser.add_argument("--workdir", default="runs/estimators")
    parser.add_argument("--rows", nargs="+", default=list(FIRST_ROWS), choices=list(ROWS))
    args = parser.parse_args()
    x = gradient_test_batch(args.data_file)
    rows = []
    for label in args.rows:
        estimator, baseline, k, objective = ROWS[label]
        config = npz_config(
            "gaussian_vae_mnist",
            args.data_file,
            args.epochs,
            args.k,
            estimator=estimator,
            baseline=baseline,
            num_samples=k,
            objective=objective,
        ).replace(eval_max_examples=args.eval_examples)
        workdir = os.path.join(args.workdir, label)
        results = train_and_evaluate(config, workdir, verbose=2)
        own = own_gradient_statistics(workdir, x, (estimator, baseline, k, objective), args.repeats)
        rows.append(
            {
                "row": label,
                **results["test"],
                "seconds_per_pass": results["train_seconds"] / args.epochs,
                "grad_variance": own["variance"],
                "grad_snr": own["snr"],
            }
        )
    nll = f"test NLL (k={args.k}, {args.eval_examples} ex.)"
    print(f"| row | epochs | test −ELBO | {nll} | s per pass | own gradient variance | SNR |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            r["row"],
            args.epochs,
            f"{r['neg_elbo']:.2f}",
            f"{r['nll']:.2f}",
            f"{r['seconds_per_pass']:.1f}",
            f"{r['grad_variance']:.4g}",
            f"{r['grad_snr']:.3f}",
        ]
        print("| " + " | ".join(map(str, cells)) + " |")
    with open(os.path.join(args.workdir, "summary.json"), "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
