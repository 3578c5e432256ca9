"""`backbone_dtype="mixed_bfloat16"`: bfloat16 networks, float32 everything else, for every model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keraszoo.models import available_models, get_model_class


def _compute_dtypes(network):
    return {layer.compute_dtype for layer in network.layers if layer.weights}


@pytest.mark.parametrize("name", available_models())
def test_mixed_bfloat16_backbones_keep_the_maths_in_float32(name, binary_batch):
    cls = get_model_class(name)
    config = cls.example_config()
    mixed = cls(**config, backbone_dtype="mixed_bfloat16")
    exact = cls(**config)
    exact.set_weights(mixed.get_weights())  # weights are float32 in both
    for network in (mixed.encoder, mixed.decoder):
        assert _compute_dtypes(network) == {"bfloat16"}, network.name  # the matmuls run in bf16
        assert network.output.dtype == "float32"
    assert _compute_dtypes(exact.encoder) == {"float32"}
    assert all(w.dtype == "float32" for w in mixed.weights)  # EMA, baselines, schedules, codebook
    terms, reference = (m.forward(tf.constant(binary_batch), seed=3) for m in (mixed, exact))
    for key in ("neg_elbo", "recon_nll", "kl", "objective"):
        assert terms[key].dtype == tf.float32, key
        # bfloat16 has an 8-bit mantissa (relative rounding 2^-8 ≈ 0.4 %) in each layer.
        np.testing.assert_allclose(terms[key], reference[key], rtol=0.05, atol=0.5, err_msg=key)
    mixed.compile(keras.optimizers.Adam(1e-3))
    logs = mixed.fit(tf.data.Dataset.from_tensor_slices(binary_batch).batch(8), epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in logs.values()), logs
    restored = cls.from_config(mixed.get_config())
    assert restored.backbone_dtype == "mixed_bfloat16"


def test_global_policy_is_the_default_and_float32_layers_stay_float32(binary_batch):
    cls = get_model_class("gaussian_vae")
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = cls(**cls.example_config())
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.backbone_dtype == "mixed_bfloat16" and model.compute_dtype == "float32"
    assert model.forward(tf.constant(binary_batch), seed=0)["neg_elbo"].dtype == tf.float32


def test_an_unknown_backbone_dtype_names_the_argument():
    cls = get_model_class("gaussian_vae")
    with pytest.raises(ValueError, match="Received: backbone_dtype='float8'"):
        cls(**cls.example_config(), backbone_dtype="float8")
