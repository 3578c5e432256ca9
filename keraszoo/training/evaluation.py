"""Test-set evaluation: −ELBO and the importance-weighted NLL estimate, in nats per example."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keraszoo.random import as_seed


def evaluate_bounds(
    model, dataset: tf.data.Dataset, num_samples: int, seed: int = 0, verbose: int = 1
) -> dict:
    """Mean −ELBO (one sample per example) and NLL ≈ −L_k over a batched dataset.

    Args:
        model: a zoo model (`keraszoo.models.ZooModel`).
        dataset: batched examples (no labels).
        num_samples: k of the importance-weighted bound L_k (Burda et al. 2016).
        seed: integer or shape-[2] base seed; batch b evaluates the ELBO with fold_in(seed, 2b)
            and the importance-weighted bound with fold_in(seed, 2b + 1).
        verbose: 1 shows a progress bar.

    Returns:
        {"neg_elbo", "nll", "num_examples", "num_samples"}, and for a model trained on relaxed
        latents (Gumbel-softmax) "neg_elbo_relaxed": −ELBO at the relaxed samples and trained τ,
        the figure Jang et al. (2017) report (`ZooModel.elbo(relaxed=True)`; not a bound),
        evaluated with the same seeds as "neg_elbo".
    """
    relaxed = model.relaxes_latents
    total_elbo = total_ll = total_relaxed = 0.0
    count = 0
    cardinality = int(dataset.cardinality())
    bar = keras.utils.Progbar(
        cardinality if cardinality > 0 else None,
        verbose=verbose,
        unit_name="batch",
        stateful_metrics=["neg_elbo", "nll"],  # shown as given: they are already running means
    )
    base = as_seed(seed)
    for b, x in enumerate(dataset):
        n = int(x.shape[0])
        elbo_seed = tf.random.experimental.stateless_fold_in(base, 2 * b)
        elbo = model.elbo(x, seed=elbo_seed)["elbo"]
        if relaxed:
            total_relaxed += float(tf.reduce_sum(model.elbo(x, seed=elbo_seed, relaxed=True)["elbo"]))
        ll_seed = tf.random.experimental.stateless_fold_in(base, 2 * b + 1)
        ll = model.log_likelihood(x, num_samples=num_samples, seed=ll_seed)
        total_elbo += float(tf.reduce_sum(elbo))
        total_ll += float(tf.reduce_sum(ll))
        count += n
        bar.update(b + 1, [("neg_elbo", -total_elbo / count), ("nll", -total_ll / count)])
    if count == 0:
        raise ValueError("Expected a non-empty `dataset` to evaluate. Received an empty dataset.")
    results = {
        "neg_elbo": -total_elbo / count,
        "nll": -total_ll / count,
        "num_examples": count,
        "num_samples": num_samples,
    }
    if relaxed:
        results["neg_elbo_relaxed"] = -total_relaxed / count
    return results


def reseed(model, seed: int) -> None:
    """Puts the model's noise stream (`model.seed_generator`, which `fit` and `evaluate` draw their
    per-step seeds from) where a new model built with `seed` starts it, so that `evaluate` after
    training gives the same figures however many steps trained the weights or restored them."""
    fresh = keras.random.SeedGenerator(seed)
    model.seed_generator.state.assign(keras.ops.cast(fresh.state.value, model.seed_generator.state.dtype))


def to_float_dict(values: dict) -> dict:
    return {k: float(np.asarray(v)) for k, v in values.items()}
