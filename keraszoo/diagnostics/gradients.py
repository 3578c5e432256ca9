"""Bias and variance of encoder-gradient estimators on a trained model.

Continuous latents (default rows): the reparameterization gradient (Kingma & Welling 2014),
REINFORCE (Williams 1992) with or without baselines, STL (Roeder et al. 2017), and for the IWAE
bound (Burda et al. 2016) plain reparameterization beside DReG (Tucker et al. 2019). Discrete
latents: straight-through (Bengio et al. 2013), Gumbel-softmax (Jang et al. 2017), REINFORCE
with a leave-one-out baseline, ARM / DisARM (Yin & Zhou 2019; Dong et al. 2020, Bernoulli), REBAR /
RELAX (Tucker et al. 2017; Grathwohl et al. 2018, Bernoulli: with the model's own learned control
variate when it was trained with that estimator, else the initial one) and VIMCO (Mnih & Rezende
2016, the IWAE bound).

For a model and a batch x, each estimator's gradient of its training objective with respect
to the encoder weights φ is drawn `repeats` times with different seeds and compared with a
reference, an unbiased estimate of the same objective's gradient with a much smaller variance:

    ELBO:   the reparameterized gradient (continuous latents) or REINFORCE with the
            leave-one-out baseline (discrete), with `reference_samples` samples per example
    IWAE_K: the mean of reference_samples / K independent K-sample gradients (reparameterized,
            or VIMCO for discrete latents), drawn at once on the batch tiled that many times

Estimators that are biased by design (straight-through, Gumbel-softmax) show their bias here.

    relative bias      ‖ mean_r g_r − g_ref ‖ / ‖ g_ref ‖   (includes the Monte Carlo error of
                       the mean, about sqrt(variance / repeats) / ‖g_ref‖)
    variance           Σ_i Var_r(g_r,i)                     (trace of the covariance)
    relative std       sqrt(variance) / ‖ g_ref ‖
    SNR                the signal-to-noise ratio of Rainforth et al. (2018), |E g_i| / sd(g_i) for
                       each encoder weight i, its median over the weights: E g_i from the
                       estimator's own draws (ḡ_i² − s_i²/R estimates (E g_i)², so the mean's Monte
                       Carlo error does not raise a weak signal), sd from the draws; weights whose
                       gradient is always 0 are left out. The median, not the mean: a weight whose
                       gradient is nearly deterministic (an analytic KL's part where the sampled
                       part vanishes) has an unbounded ratio. Rainforth et al. show it falls as
                       1/√K for the IWAE encoder; DReG is meant to keep it up.

    python -m keraszoo.diagnostics.gradients --model runs/demo/model.keras --dataset digits \
        --out runs/demo/diagnostics
"""

from __future__ import annotations

import csv
import os

import numpy as np

from keraszoo.viz import _pyplot, _save_figure

# (estimator, baseline, K[, objective]) rows; the objective defaults to the estimator's own.
DEFAULT_ESTIMATORS = (
    ("reparameterization", "none", 1),
    ("reinforce", "none", 1),
    ("reinforce", "moving_average", 1),
    ("reinforce", "rloo", 4),
    ("stl", "none", 1),
    ("reparameterization", "none", 5, "iwae"),
    ("dreg", "none", 5),
)
DISCRETE_ESTIMATORS = (
    ("straight_through", "none", 1),
    ("gumbel_softmax", "none", 1),
    ("reinforce", "rloo", 2),
    ("arm", "none", 1),
    ("disarm", "none", 1),
    ("rebar", "none", 1),
    ("relax", "none", 1),
    ("vimco", "none", 5),
)


def default_estimators(model) -> tuple:
    """The default rows for the model's latent kind (those its estimators apply to)."""
    from keraszoo.estimators import estimator_names

    rows = DISCRETE_ESTIMATORS if model.latent_kind in ("bernoulli", "categorical") else DEFAULT_ESTIMATORS
    return tuple(r for r in rows if r[0] in estimator_names(model.latent_kind))


def _variant(model, estimator: str, baseline: str, num_samples: int, objective: str | None = None):
    config = {
        **model.get_config(),
        "estimator": estimator,
        "baseline": baseline,
        "num_samples": num_samples,
        "objective": objective,
    }
    clone = type(model).from_config(config)
    clone.encoder.set_weights(model.encoder.get_weights())
    clone.decoder.set_weights(model.decoder.get_weights())
    if estimator == model.estimator.name and getattr(clone, "control_variate", None) is not None:
        clone.control_variate.set_weights(model.control_variate.get_weights())  # the trained one
    return clone


def _reference(model, x, objective: str, num_samples: int, reference_samples: int, seed: int):
    """An unbiased low-variance estimate of the encoder gradient of `objective` (module docstring)."""
    import tensorflow as tf

    continuous = model.latent_kind not in ("bernoulli", "categorical")  # reparameterizable
    if objective == "elbo":
        estimator, baseline = ("reparameterization", "none") if continuous else ("reinforce", "rloo")
        return _encoder_gradient(
            _variant(model, estimator, baseline, reference_samples, "elbo"), x, [seed, -1]
        )
    tiles = max(1, reference_samples // num_samples)
    variant = _variant(model, "reparameterization" if continuous else "vimco", "none", num_samples, "iwae")
    return _encoder_gradient(variant, tf.tile(x, [tiles] + [1] * (len(x.shape) - 1)), [seed, -2])


def _gradient_function(model):
    """A compiled (x, seed) → flat encoder gradient of the training objective, at the samples
    training draws (relaxed ones for a relaxing estimator); stateful parts such as a moving-average
    baseline are read, not updated."""
    import tensorflow as tf

    @tf.function(autograph=False)  # as Keras's train step: `forward` is straight-line code
    def gradient(x, seed):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.forward(x, seed, training=model.relaxes_latents)["objective"])
        grads = tape.gradient(loss, model.encoder.trainable_weights)
        return tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)

    return gradient


def _encoder_gradient(model, x, seed) -> np.ndarray:
    import tensorflow as tf

    return _gradient_function(model)(x, tf.constant(seed, tf.int32)).numpy()


def gradient_statistics(
    model, x, estimators=None, repeats: int = 100, reference_samples: int = 1000, seed: int = 0
) -> list[dict]:
    """One row per (estimator, baseline, num_samples[, objective]) (None: `default_estimators`):
    relative bias, variance, relative std against the reference of the row's objective."""
    import keras
    import tensorflow as tf

    x = tf.convert_to_tensor(x, model.compute_dtype)
    estimators = default_estimators(model) if estimators is None else estimators
    references = {}
    rows = []
    progress = keras.utils.Progbar(len(estimators) * repeats, unit_name="gradient")
    for estimator, baseline, k, *objective in estimators:
        variant = _variant(model, estimator, baseline, k, *objective)
        key = (variant.objective, k if variant.objective == "iwae" else None)
        if key not in references:
            references[key] = _reference(model, x, variant.objective, k, reference_samples, seed)
        reference = references[key]
        norm = float(np.linalg.norm(reference))
        if baseline == "moving_average":  # let the baseline settle, as in training
            for i in range(20):
                variant.forward(x, tf.constant([seed + 1, i], tf.int32), training=True)
        gradient = _gradient_function(variant)
        grads = []
        for r in range(repeats):
            grads.append(gradient(x, tf.constant([seed + 2, r], tf.int32)).numpy())
            progress.add(1)
        grads = np.stack(grads)
        variance = float(grads.var(axis=0, ddof=1).sum())
        snr = signal_to_noise(grads)
        rows.append(
            {
                "estimator": estimator,
                "baseline": baseline,
                "num_samples": k,
                "objective": variant.objective,
                "relative_bias": float(np.linalg.norm(grads.mean(0) - reference)) / norm,
                "mc_error_of_bias": float(np.sqrt(variance / repeats)) / norm,
                "variance": variance,
                "relative_std": float(np.sqrt(variance)) / norm,
                "snr": snr,
            }
        )
    return rows


def signal_to_noise(grads: np.ndarray) -> float:
    """Rainforth et al.'s (2018) |E g_i| / sd(g_i), its median over the weights i, from R draws
    `grads` [R, weights] (module docstring)."""
    repeats = grads.shape[0]
    mean, var = grads.mean(axis=0), grads.var(axis=0, ddof=1)
    moving = var > 0
    squared_signal = np.maximum(mean[moving] ** 2 - var[moving] / repeats, 0.0)
    return float(np.median(np.sqrt(squared_signal / var[moving]))) if moving.any() else float("nan")


def format_table(rows: list[dict]) -> str:
    lines = [
        "| estimator | baseline | K | objective | relative bias (± MC error) | variance | relative std "
        "| SNR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['estimator']} | {r['baseline']} | {r['num_samples']} | {r['objective']} | "
            f"{r['relative_bias']:.3f} (± {r['mc_error_of_bias']:.3f}) | {r['variance']:.4g} | "
            f"{r['relative_std']:.3f} | {r['snr']:.3f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> str:
    plt = _pyplot()

    labels = [f"{r['estimator']}\n{r['baseline']}, K={r['num_samples']}, {r['objective']}" for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].bar(labels, [r["variance"] for r in rows], color="tab:blue")
    axes[0].set(yscale="log", title="variance of the encoder gradient (trace)")
    axes[1].bar(
        labels,
        [r["relative_bias"] for r in rows],
        yerr=[r["mc_error_of_bias"] for r in rows],
        color="tab:orange",
    )
    axes[1].set_title("relative bias vs. reference (± MC error)")
    for ax in axes:
        ax.tick_params(axis="x", labelsize=7)
    return _save_figure(fig, path)


def main(argv=None) -> int:
    from keraszoo._cli import ArgumentParser

    parser = ArgumentParser(
        prog="python -m keraszoo.diagnostics.gradients", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--model", required=True, help="a saved .keras zoo model (e.g. runs/demo/model.keras)"
    )
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-file", help="local .npz with arrays train, valid, test (sets --dataset npz)")
    parser.add_argument("--data-dir", help="TFDS data directory with the prepared dataset")
    parser.add_argument("--no-download", action="store_true", help="never try to download a TFDS dataset")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=100, help="gradient draws per estimator")
    parser.add_argument("--reference-samples", type=int, default=1000)
    parser.add_argument("--out", default="diagnostics")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's C++ start-up lines")
    args = parser.parse_args(argv)

    from keraszoo._checks import check_positive
    from keraszoo._cli import error, import_tensorflow

    try:  # before TensorFlow loads (seconds): a mistyped path is answered at once
        _check_model_path(args.model)
        for name in ("batch_size", "repeats", "reference_samples"):
            check_positive(name, getattr(args, name), integer=True)
    except ValueError as err:
        return error(err)
    import_tensorflow(verbose=args.verbose)
    import keraszoo.models  # noqa: F401  (registers the model classes for loading)
    from keraszoo.data import DatasetUnavailableError, load_split, make_pipeline

    try:
        model = _load_zoo_model(args.model)
        split = load_split(
            "npz" if args.data_file else args.dataset,
            "test",
            data_dir=args.data_dir,
            download=not args.no_download,
            path=args.data_file,
        )
    except (ValueError, DatasetUnavailableError) as err:
        return error(err)
    binarize = "static" if model.likelihood.binary_data else "none"
    x = next(iter(make_pipeline(split, args.batch_size, binarize=binarize)))
    rows = gradient_statistics(model, x, repeats=args.repeats, reference_samples=args.reference_samples)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gradient_statistics.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = format_table(rows)
    with open(os.path.join(args.out, "gradient_statistics.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    print("plot:", plot(rows, os.path.join(args.out, "gradient_statistics.png")))
    return 0


def _check_model_path(path: str) -> None:
    if not path.endswith(".keras"):
        raise ValueError(f"Expected a .keras file saved by a zoo model. Received: --model {path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"No such file. Received: --model {path!r}")


def _load_zoo_model(path: str):
    """The zoo model saved at `path`; ValueError naming `--model` for anything else."""
    import keras

    from keraszoo.models import VAE

    _check_model_path(path)
    try:
        model = keras.models.load_model(path)
    except Exception as err:  # noqa: BLE001 - a damaged archive raises anything from zipfile to Keras
        first = str(err).splitlines()[0][:300] if str(err) else ""
        raise ValueError(f"Cannot load --model {path!r} ({type(err).__name__}: {first})") from None
    if not isinstance(model, VAE):
        raise ValueError(
            f"Expected a VAE zoo model (the estimators compared act on its encoder). Received: "
            f"--model {path!r}, a {type(model).__name__}"
        )
    return model


if __name__ == "__main__":
    raise SystemExit(main())
