"""Properties P1-P3 of SPEC §2.3 for every smoothing function, on a grid of p and β."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keraszoo.distributions.smoothing import SMOOTHING_FUNCTIONS, SPIKE_FUNCTIONS, smooth

PS = [0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 1.0]
BETAS = [0.5, 1.0, 3.0, 10.0, 100.0, 1e4]
EPS = np.linspace(0.0, 1.0, 401)


def _f(name, beta, p, eps=EPS, **kw):
    return smooth(name, beta, tf.constant(np.full_like(eps, p), tf.float64), eps, **kw).numpy()


@pytest.mark.parametrize("name", SMOOTHING_FUNCTIONS)
def test_p1_monotone_from_zero_to_one(name):
    for p in PS:
        for beta in BETAS:
            y = _f(name, beta, p)
            assert np.all(np.isfinite(y)), (p, beta)
            assert y[0] == 0.0 and y[-1] == pytest.approx(1.0, abs=1e-12), (p, beta)
            assert np.all(np.diff(y) >= -1e-12), (p, beta)


@pytest.mark.parametrize("name", SMOOTHING_FUNCTIONS)
def test_p2_converges_to_the_step_as_beta_grows(name):
    for p in (0.2, 0.5, 0.8):
        away = np.abs(EPS - (1 - p)) > 0.02
        step = (EPS >= 1 - p).astype(float)
        distance = [
            np.max(np.abs(_f(name, beta, p) - step)[away]) for beta in (1.0, 10.0, 100.0, 1000.0, 1e5)
        ]
        assert all(a >= b - 1e-12 for a, b in zip(distance, distance[1:], strict=False)), distance
        assert distance[-1] < 1e-3, distance


@pytest.mark.parametrize("name", SMOOTHING_FUNCTIONS)
def test_p3_gradients_finite_everywhere_and_nonzero_where_zeta_depends_on_p(name):
    eps = np.concatenate([EPS, [0.3, 0.5, 0.8]])  # includes ε = 1 − p for p ∈ {0.2, 0.5, 0.7}
    for p in (0.0, 0.2, 0.5, 0.7, 1.0):
        for beta in (0.5, 3.0, 1e3):
            pv = tf.Variable(np.full_like(eps, p))
            with tf.GradientTape() as tape:
                y = smooth(name, beta, pv, eps)
            grad = tape.gradient(y, pv).numpy()
            assert np.all(np.isfinite(grad)), (p, beta)
            if 0 < p < 1 and beta < 1e3:
                interior = (eps > 1 - p + 1e-3) & (eps < 1 - 1e-3)
                if name not in SPIKE_FUNCTIONS:
                    interior |= (eps > 1e-3) & (eps < 1 - p - 1e-3)
                assert np.all(grad[interior] != 0), (p, beta)


@np.errstate(invalid="ignore", divide="ignore")  # np.where evaluates the branch it discards too
def test_f1_matches_the_formula_with_bases_e_and_2():
    eps, p, beta = np.array([0.1, 0.55, 0.7, 0.99]), 0.5, 3.0
    u = (eps + p - 1) / p
    for base in (math.e, 2.0):
        expected = np.where(eps >= 1 - p, np.log(u * (base**beta - 1) + 1) / np.log(base) / beta, 0.0)
        np.testing.assert_allclose(_f("f1", beta, p, eps, base=base), expected, rtol=1e-12)


@np.errstate(invalid="ignore", divide="ignore")  # np.where evaluates the branch it discards too
def test_closed_forms_by_hand():
    eps, p, beta = np.array([0.1, 0.3, 0.6, 0.9]), 0.6, 2.0
    u = (eps + p - 1) / p
    on = eps >= 1 - p
    np.testing.assert_allclose(_f("f2", beta, p, eps), np.where(on, 1 - (1 - u) ** beta, 0), rtol=1e-12)
    np.testing.assert_allclose(_f("f2_root", beta, p, eps), np.where(on, u ** (1 / beta), 0), rtol=1e-12)
    np.testing.assert_allclose(
        _f("f2_hyperbolic", beta, p, eps), np.where(on, 1 - (1 - u) / (1 + beta * u), 0), rtol=1e-12
    )
    f3 = np.where(on, 1 - p * ((1 - eps) / p) ** beta, (1 - p) * (eps / (1 - p)) ** beta)
    np.testing.assert_allclose(_f("f3", beta, p, eps), f3, rtol=1e-12)
    f3_root = np.where(
        on, 1 - p + p * u ** (1 / beta), (1 - p) * (1 - ((1 - p - eps) / (1 - p)) ** (1 / beta))
    )
    np.testing.assert_allclose(_f("f3_root", beta, p, eps), f3_root, rtol=1e-12)


@pytest.mark.parametrize("beta", [2.0, 5.0])
def test_f3_is_continuous_at_one_minus_p_with_slope_beta_and_flat_at_the_ends(beta):
    p = 0.3
    q = 1 - p
    h = 1e-7
    points = np.array([q - h, q, q + h, 0.0, h, 1 - h, 1.0])
    y = _f("f3", beta, p, points)
    assert abs(y[0] - y[1]) < 1e-5 and abs(y[2] - y[1]) < 1e-5 and y[1] == pytest.approx(q)
    np.testing.assert_allclose([(y[1] - y[0]) / h, (y[2] - y[1]) / h], [beta, beta], rtol=1e-4)
    eps = tf.Variable(points)
    with tf.GradientTape() as tape:
        out = smooth("f3", beta, tf.fill([7], tf.constant(p, tf.float64)), eps)
    grad = tape.gradient(out, eps).numpy()
    assert grad[3] == 0.0 and grad[6] == 0.0  # zero slope at ε = 0 and ε = 1 for β > 1


@pytest.mark.parametrize("name", SPIKE_FUNCTIONS)
def test_spike_functions_put_mass_one_minus_p_on_zero(name):
    rng = np.random.default_rng(0)
    n, p = 100_000, 0.3
    eps = rng.random(n)
    zeta = _f(name, 4.0, p, eps)
    frequency = np.mean(zeta == 0.0)
    assert abs(frequency - (1 - p)) < 4 * np.sqrt(p * (1 - p) / n)


def test_float32_large_beta_and_boundaries_are_finite():
    for name in SMOOTHING_FUNCTIONS:
        for beta in (1e-3, 1e6):
            p = tf.constant([0.0, 1e-7, 0.5, 1 - 1e-7, 1.0] * 3, tf.float32)
            eps = tf.constant([0.0] * 5 + [0.5] * 5 + [1.0] * 5, tf.float32)
            assert np.all(np.isfinite(smooth(name, beta, p, eps).numpy())), (name, beta)


def test_unknown_function_is_named():
    with pytest.raises(ValueError, match="Received: smoothing function='f4'"):
        smooth("f4", 1.0, 0.5, 0.5)
