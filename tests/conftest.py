"""Test set-up: two logical CPU devices stand in for two accelerators (tf.distribute tests).

This must run before TensorFlow initialises its devices, hence at conftest import.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python import pywrap_tfe  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

from keraszoo._cli import freeze_at_exit  # noqa: E402

freeze_at_exit()  # pytest exits as the commands do: without a CPU-second of garbage collections

SHARED_NPZ = os.environ.get(
    "KERASZOO_BINARIZED_MNIST",
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "binarized_mnist.npz"),
)


@pytest.fixture(autouse=True)
def _fixed_initial_weights(monkeypatch):
    """Every test starts from the same global Keras seed, so its initial weights (and any failure)
    are the same on every run and on every pytest-xdist worker, whatever ran before it.

    tf.random.set_seed (called by keras.utils.set_random_seed) also clears TensorFlow's eager
    kernel cache, to restart the streams of unseeded stateful random ops: every test would then
    re-create each op kernel and re-optimise each function it runs (TFP's included), about half
    the CPU of a small model's test. The cache is kept: Keras initialisers draw from the seeds
    reset here and keraszoo draws from stateless ops; only an unseeded stateful op in a test
    (tf.random.normal) now draws what follows the earlier tests' draws in the process."""
    with monkeypatch.context() as patched:  # for this call only
        patched.setattr(pywrap_tfe, "TFE_ContextClearCaches", lambda handle: None)
        keras.utils.set_random_seed(0)


@pytest.fixture
def binary_batch():
    return (np.random.default_rng(0).random((16, 8, 8, 1)) > 0.5).astype("float32")


def small_vae_config(**overrides):
    config = dict(
        data_shape=(8, 8, 1),
        latent_dim=4,
        encoder={"name": "mlp", "hidden_units": [32]},
        likelihood="bernoulli",
        seed=1,
    )
    config.update(overrides)
    return config
