"""Properties P1-P3 of SPEC §2.3 for every smoothing function, on a grid of p and β, and the
densities of the overlapping functions f3, f3' (normalisation, derivative of the inverse)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keraszoo.distributions.smoothing import (
    OVERLAPPING_FUNCTIONS,
    SMOOTHING_FUNCTIONS,
    SPIKE_FUNCTIONS,
    log_density,
    smooth,
)

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


# ---------------------------------------------------------------- densities of f3 and f3'


def _log_density(name, beta, p, zeta):
    return log_density(name, beta, tf.constant(np.full_like(zeta, p), tf.float64), zeta).numpy()


def _tanh_sinh(log_density_fn, a, b, step=1 / 32, s_max=6.0):
    """∫_a^b exp(log_density_fn(ζ)) dζ by tanh-sinh quadrature, which converges fast for the
    algebraic end-point singularities here. Nodes are placed by their distance to the nearer end;
    those that float64 rounds onto an end are dropped (what they hold is below the tolerance for
    the cases below: f3 holds p (δ/p)^(1/β) within δ ≈ 1e-16 of 1)."""
    s = np.arange(-s_max, s_max + step / 2, step)
    x = 1 / (1 + np.exp(-np.pi * np.sinh(s)))  # in (0, 1), = expit(π sinh s)
    one_minus_x = 1 / (1 + np.exp(np.pi * np.sinh(s)))
    zeta = np.where(s < 0, a + (b - a) * x, b - (b - a) * one_minus_x)
    weights = (b - a) * np.pi * np.cosh(s) * x * one_minus_x * step
    inside = (zeta > a) & (zeta < b)  # nodes closer to an end than float64 resolves carry ~no mass
    return np.sum(np.exp(log_density_fn(zeta[inside])) * weights[inside])


# (β, p): p near 0 and 1 included. Where the density is singular, ζ piles up within float64's
# spacing (δ ≈ 1e-16) of a point other than 0 and no quadrature can see it: f3 holds p (δ/p)^(1/β)
# within δ of 1, f3' with β < 1 holds p (δ/p)^β within δ of 1 − p. So f3's whole-interval check
# stays at β ≤ 2.5, and larger β is checked on its left part [0, 1 − p], which holds mass 1 − p.
DENSITY_CASES = {
    "f3": [(0.5, 0.3), (1.5, 1e-3), (2.5, 0.5), (2.0, 0.999), (0.2, 0.9)],
    "f3_root": [(0.5, 0.3), (3.0, 1e-3), (2.0, 0.999), (30.0, 0.5), (1e3, 0.2), (0.7, 0.7)],
}


@pytest.mark.parametrize("name", OVERLAPPING_FUNCTIONS)
def test_log_density_integrates_to_one(name):
    for beta, p in DENSITY_CASES[name]:
        left = _tanh_sinh(lambda z, b=beta, q=p: _log_density(name, b, q, z), 0.0, 1 - p)
        right = _tanh_sinh(lambda z, b=beta, q=p: _log_density(name, b, q, z), 1 - p, 1.0)
        # Each side holds the mass of its z: P(ε < 1 − p) = 1 − p and P(ε ≥ 1 − p) = p.
        np.testing.assert_allclose([left, right], [1 - p, p], rtol=1e-6, atol=1e-9, err_msg=str((beta, p)))
    if name == "f3":
        for beta, p in [(20.0, 0.5), (40.0, 1e-3), (10.0, 0.999)]:
            left = _tanh_sinh(lambda z, b=beta, q=p: _log_density(name, b, q, z), 0.0, 1 - p)
            np.testing.assert_allclose(left, 1 - p, rtol=1e-6, err_msg=str((beta, p)))


@pytest.mark.parametrize("name", OVERLAPPING_FUNCTIONS)
def test_log_density_is_the_derivative_of_the_inverse(name):
    """q(ζ) = dε/dζ = 1/f'(ε) at ζ = f(ε), f' by central differences of f in float64."""
    fractions = np.array([1e-3, 0.03, 0.2, 0.5, 0.8, 0.97, 0.999])
    for beta, p in [(0.5, 0.3), (2.0, 0.1), (7.0, 1e-3), (3.0, 0.999), (50.0, 0.6), (1e3, 0.4)]:
        q = 1 - p
        eps = np.concatenate([q * fractions, q + p * fractions])  # both sides of 1 − p
        h = 1e-6 * np.minimum.reduce([eps, np.abs(eps - q), 1 - eps])
        slope = (_f(name, beta, p, eps + h) - _f(name, beta, p, eps - h)) / (2 * h)
        zeta = _f(name, beta, p, eps)
        # Differences say nothing where the step of f is within float64 rounding of ζ.
        usable = slope * h > 1e-9 * zeta
        assert usable.sum() >= 4, (beta, p)
        np.testing.assert_allclose(
            _log_density(name, beta, p, zeta)[usable],
            -np.log(slope[usable]),
            atol=1e-5,
            err_msg=str((beta, p)),
        )


@np.errstate(divide="ignore", invalid="ignore")
def test_log_density_closed_forms_by_hand():
    beta, p = 3.0, 0.25
    zeta = np.array([0.1, 0.5, 0.74, 0.76, 0.9])
    left = zeta < 1 - p
    f3 = np.where(left, (zeta / (1 - p)) ** (1 / beta - 1), ((1 - zeta) / p) ** (1 / beta - 1)) / beta
    f3_root = beta * np.where(left, (1 - zeta / (1 - p)) ** (beta - 1), ((zeta - 1 + p) / p) ** (beta - 1))
    np.testing.assert_allclose(np.exp(_log_density("f3", beta, p, zeta)), f3, rtol=1e-12)
    np.testing.assert_allclose(np.exp(_log_density("f3_root", beta, p, zeta)), f3_root, rtol=1e-12)


@pytest.mark.parametrize("name", OVERLAPPING_FUNCTIONS)
def test_log_density_finite_with_finite_gradients_at_the_edges(name):
    for dtype in (tf.float32, tf.float64):
        for beta in (1e-3, 0.5, 2.0, 1e4):
            p = tf.Variable(tf.constant([0.0, 1e-7, 0.5, 1 - 1e-7, 1.0] * 4, dtype))
            zeta = tf.Variable(tf.constant([0.0] * 5 + [0.5] * 5 + [1.0] * 5 + [1e-30] * 5, dtype))
            with tf.GradientTape() as tape:
                value = log_density(name, beta, p, zeta)
            grads = tape.gradient(value, [p, zeta])
            assert np.all(np.isfinite(value.numpy())), (dtype, beta, value.numpy())
            assert all(np.all(np.isfinite(g.numpy())) for g in grads), (dtype, beta)


def test_f3_density_ratio_keeps_its_limit_where_zeta_rounds_to_zero_or_one():
    """On the outer sides the f3 ratio q_p(ζ)/q_{1/2}(ζ) is constant in ζ ((2(1−p))^(1−1/β) near 0,
    (2p)^(1−1/β) near 1); at ζ that rounded to exactly 0 or 1 it must keep that value."""
    beta, p = 4.0, 0.3
    for zeta, limit in [(0.0, (1 - 1 / beta) * np.log(2 * (1 - p))), (1.0, (1 - 1 / beta) * np.log(2 * p))]:
        for dtype in (tf.float32, tf.float64):
            z = tf.constant([zeta], dtype)
            ratio = log_density("f3", beta, tf.constant([p], dtype), z) - log_density(
                "f3", beta, tf.constant([0.5], dtype), z
            )
            np.testing.assert_allclose(ratio.numpy(), [limit], atol=2e-5 if dtype == tf.float32 else 1e-12)


def test_log_density_errors_name_the_function():
    with pytest.raises(ValueError, match="no density|have a density.*Received: smoothing function='f1'"):
        log_density("f1", 2.0, 0.5, 0.3)
    with pytest.raises(ValueError, match="Received: smoothing function='f4'"):
        log_density("f4", 2.0, 0.5, 0.3)
