"""`decoder_bias_init="data_mean"`: the decoder's output bias starts at the likelihood's output for
the training set's mean example (Burda et al. 2016's code), checked against numpy means."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo import GaussianVAE
from keraszoo.recipes import get_config
from keraszoo.training import TrainConfig, train_and_evaluate


def _logit(p):
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p) - np.log1p(-p)


def _binary_data(shape, n=200, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.random(shape)
    probs.flat[0], probs.flat[1] = 0.0, 1.0  # a pixel never on and one always on: clipped logits
    return (rng.random((n, *shape)) < probs).astype("float32")


def _model(**kwargs):
    config = {**GaussianVAE.example_config(), "decoder_bias_init": "data_mean", **kwargs}
    return GaussianVAE(**config)


def test_bernoulli_dense_decoder_starts_at_the_logit_of_the_mean_image():
    model = _model()
    x = _binary_data(model.data_shape)
    returned = model.initialize_output_bias(x)
    expected = x.mean(axis=0)
    np.testing.assert_allclose(returned.numpy(), expected, atol=1e-12)
    layer = model.decoder.get_layer("outputs")
    np.testing.assert_allclose(layer.bias.numpy(), _logit(expected).ravel(), rtol=1e-5, atol=1e-5)
    assert np.isfinite(layer.bias.numpy()).all() and layer.bias.numpy()[0] == pytest.approx(-6.9067, abs=1e-3)
    # With the last kernel at 0 the decoder's mean is the (clipped) data mean for every z.
    layer.kernel.assign(tf.zeros_like(layer.kernel))
    mean = model.decode(tf.random.normal([3, model.latent_dim])).numpy()
    clipped = np.clip(expected, 1e-3, 1 - 1e-3)
    np.testing.assert_allclose(mean, np.broadcast_to(clipped, mean.shape), atol=1e-6)


def test_datasets_of_examples_or_of_batches_give_the_arrays_mean():
    model = _model()
    x = _binary_data(model.data_shape, n=37)
    from_array = model.initialize_output_bias(x).numpy()
    examples = tf.data.Dataset.from_tensor_slices(x)
    np.testing.assert_allclose(model.initialize_output_bias(examples).numpy(), from_array, atol=1e-12)
    batches = examples.batch(8)
    np.testing.assert_allclose(model.initialize_output_bias(batches).numpy(), from_array, atol=1e-12)


def test_convolutional_decoder_gets_one_bias_per_channel():
    model = _model(data_shape=(8, 8, 2), encoder={"name": "conv", "filters": [4], "hidden_units": [8]})
    x = _binary_data(model.data_shape)
    model.initialize_output_bias(x)
    per_channel = x.reshape(-1, 2).mean(axis=0)
    np.testing.assert_allclose(
        model.decoder.get_layer("outputs").bias.numpy(), _logit(per_channel), rtol=1e-5, atol=1e-5
    )


def test_gaussian_likelihood_bias_is_the_mean_itself():
    model = _model(likelihood="gaussian")
    x = np.random.default_rng(1).normal(size=(50, *model.data_shape)).astype("float32")
    model.initialize_output_bias(x)
    np.testing.assert_allclose(model.decoder.get_layer("outputs").bias.numpy(), x.mean(0).ravel(), atol=1e-5)


def test_bad_values_are_named():
    with pytest.raises(ValueError, match="decoder_bias_init"):
        _model(decoder_bias_init="mean")
    model = _model(likelihood="continuous_bernoulli")
    with pytest.raises(ValueError, match="continuous_bernoulli.*data_mean"):
        model.initialize_output_bias(_binary_data(model.data_shape))
    with pytest.raises(ValueError, match="data"):
        _model().initialize_output_bias(np.zeros((2, 3), "float32"))  # not data_shape


def test_option_survives_the_keras_round_trip(tmp_path):
    model = _model()
    model.initialize_output_bias(_binary_data(model.data_shape))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.decoder_bias_init == "data_mean"
    np.testing.assert_array_equal(
        loaded.decoder.get_layer("outputs").bias.numpy(), model.decoder.get_layer("outputs").bias.numpy()
    )


class _Stop(Exception):
    pass


class _BiasAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.bias = self.model.decoder.get_layer("outputs").bias.numpy()
        raise _Stop


def test_training_recipes_apply_it_from_the_training_split(tmp_path):
    from keraszoo.data import load_split

    config = TrainConfig.from_dict(get_config("gaussian_vae_digits", smoke=True))
    model_config = {**config.model_config, "decoder_bias_init": "data_mean"}
    config = config.replace(model_config=model_config, export_dir=None, pictures=False)
    start = _BiasAtStart()
    with pytest.raises(_Stop):
        train_and_evaluate(config, str(tmp_path / "run"), callbacks=[start], verbose=0)
    train = np.stack(list(load_split("digits", "train").dataset.as_numpy_iterator()))
    np.testing.assert_allclose(start.bias, _logit(train.mean(axis=0)).ravel(), rtol=1e-5, atol=1e-5)
