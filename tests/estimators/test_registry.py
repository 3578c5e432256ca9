"""The estimator registry: one name per class, chosen once; every registered estimator trains
through `model.fit` and survives the `.keras` round trip on every model family it applies to."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo.estimators import LATENT_KINDS, OBJECTIVES, Estimator, estimator_names, get_estimator
from keraszoo.models import available_models, get_model_class
from tests.harness import example_batch
from tests.models.test_discrete_vae import ELBO_CASES

FAMILIES = [get_model_class(n) for n in available_models() if hasattr(get_model_class(n), "latent_kind")]
# Each estimator on one family it applies to (the families' own tests cover their defaults).
CASES = [
    (next(c for c in FAMILIES if c.latent_kind in get_estimator(n).latents), n) for n in estimator_names()
]
# Cases whose traced train step tests/models/test_discrete_vae.py runs: here they train eagerly,
# which skips the tracing (most of their cost).
TRACED_IN_TEST_DISCRETE_VAE = set(ELBO_CASES)


def test_every_estimator_declares_what_it_applies_to():
    assert len(set(estimator_names())) == len(estimator_names())
    for name in estimator_names():
        estimator = get_estimator(name)
        assert isinstance(estimator, Estimator) and estimator.name == name
        assert estimator.latents and set(estimator.latents) <= set(LATENT_KINDS), name
        assert estimator.objectives and set(estimator.objectives) <= set(OBJECTIVES), name
    # Every family has estimators, and its default is one of them.
    for cls in FAMILIES:
        assert cls.default_estimator in estimator_names(cls.latent_kind)


def test_an_unknown_or_inapplicable_name_is_refused_with_the_choices():
    with pytest.raises(
        ValueError, match=r"Expected `estimator` to be one of .*Received: estimator='reinfroce'"
    ):
        get_estimator("reinfroce")
    with pytest.raises(ValueError, match="Received: estimator='gumbel_softmax'"):
        get_estimator("gumbel_softmax", "continuous")


@pytest.mark.parametrize("cls, name", CASES, ids=[f"{c.registry_name}-{n}" for c, n in CASES])
def test_trains_through_fit_and_round_trips(cls, name, tmp_path):
    config = {**cls.example_config(), "estimator": name}
    config["num_samples"] = 2  # VIMCO needs K ≥ 2; the others take any K
    model = cls(**config)
    assert model.estimator.name == name and model.objective == get_estimator(name).objectives[0]
    x = example_batch(model.data_shape)
    model.compile(keras.optimizers.Adam(1e-2), run_eagerly=(cls, name) in TRACED_IN_TEST_DISCRETE_VAE)
    before = [w.numpy().copy() for w in model.encoder.trainable_weights]
    history = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(4), epochs=1, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and np.all(np.isfinite(history["neg_elbo"]))
    assert any(
        not np.array_equal(w.numpy(), b) for w, b in zip(model.encoder.trainable_weights, before, strict=True)
    )
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is cls and loaded.get_config() == model.get_config()
    assert loaded.get_config()["estimator"] == name
    np.testing.assert_allclose(loaded.elbo(x, seed=3)["elbo"], model.elbo(x, seed=3)["elbo"], rtol=1e-5)


@pytest.mark.parametrize("cls, name", CASES, ids=[f"{c.registry_name}-{n}" for c, n in CASES])
def test_trains_with_bfloat16_backbones(cls, name):
    # bfloat16 networks (mixed precision): the estimator's surrogate, its control-variate
    # training (REBAR / RELAX) and the optimizer step stay finite and float32.
    config = {**cls.example_config(), "estimator": name, "num_samples": 2, "backbone_dtype": "mixed_bfloat16"}
    model = cls(**config)
    x = example_batch(model.data_shape)
    model.compile(keras.optimizers.Adam(1e-2), run_eagerly=True)  # one eager step: no tracing
    before = [w.numpy().copy() for w in model.encoder.trainable_weights]
    logs = model.train_on_batch(x, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert all(w.dtype == "float32" for w in model.weights)
    assert any(
        not np.array_equal(w.numpy(), b) for w, b in zip(model.encoder.trainable_weights, before, strict=True)
    )
