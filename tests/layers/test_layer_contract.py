"""Every public keraszoo layer passes the generic layer checks (tests/harness.py)."""

import numpy as np
import pytest
import tensorflow as tf

from keraszoo.layers import GumbelSigmoid, GumbelSoftmax, MovingAverage, ScoreFunctionBaseline, Smoothing
from keraszoo.layers.vector_quantizer import VectorQuantizer, VectorQuantizerEMA
from tests.harness import run_layer_test

LOGITS = tf.constant(np.random.default_rng(0).normal(size=(6, 3, 4)), tf.float32)
SEED = {"seed": tf.constant([1, 2], tf.int32)}
TRAIN = {**SEED, "training": True}
SIGNAL = LOGITS[..., 0]

# (class, constructor kwargs, input, call kwargs, trainable, non-trainable, losses, seed generators)
CASES = {
    "gumbel_softmax": (GumbelSoftmax, {"temperature": 0.7}, LOGITS, TRAIN, 0, 1, 0, 1),
    "gumbel_softmax_hard": (GumbelSoftmax, {"hard": True, "seed": 3}, LOGITS, TRAIN, 0, 1, 0, 1),
    "gumbel_sigmoid": (GumbelSigmoid, {"temperature": 0.5}, LOGITS, TRAIN, 0, 1, 0, 1),
    "smoothing": (Smoothing, {"function": "f2", "beta": 4.0}, LOGITS, SEED, 0, 1, 0, 1),
    "vector_quantizer": (VectorQuantizer, {"num_codes": 5, "code_dim": 4}, LOGITS, {}, 1, 0, 1, 0),
    # N, m (two moving averages with their counters) and the codebook; restarts draw seeds.
    "vector_quantizer_ema": (VectorQuantizerEMA, {"num_codes": 5, "code_dim": 4}, LOGITS, {}, 0, 5, 1, 1),
    "moving_average": (MovingAverage, {"decay": 0.9, "shape": (3, 4)}, LOGITS, {}, 0, 2, 0, 0),
    "baseline_moving_average": (ScoreFunctionBaseline, {"kind": "moving_average"}, SIGNAL, {}, 0, 2, 0, 0),
    "baseline_rloo": (ScoreFunctionBaseline, {"kind": "rloo"}, SIGNAL, {}, 0, 0, 0, 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_contract(name):
    cls, kwargs, x, call_kwargs, trainable, non_trainable, losses, seeds = CASES[name]
    run_layer_test(
        cls,
        kwargs,
        x,
        call_kwargs=call_kwargs,
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=non_trainable,
        expected_num_losses=losses,
        expected_num_seed_generators=seeds,
    )
