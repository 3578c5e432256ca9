"""Smoothing transformations ζ = f(β, p, ε), ε ~ U(0, 1), for binary latents.

Spike-and-exponential smoothing from Rolfe (2017) "Discrete Variational Autoencoders"; the
power-function smoothing after Vahdat et al. (2018) DVAE# (see also DVAE++, Vahdat et al. 2018).

z ∈ {0, 1} with q(z = 1) = p; the decoder sees the continuous ζ. With u = (ε + p − 1)/p, the
position inside the spike-free interval ε ∈ [1 − p, 1]:

    f1   spike-and-exponential (Rolfe 2017), base a:   1[ε ≥ 1−p] · (1/β) log_a(u (a^β − 1) + 1)
    f2                                                  1[ε ≥ 1−p] · (1 − (1 − u)^β)
    f2'  (β-th root)                                    1[ε ≥ 1−p] · u^(1/β)
    f2'' hyperbolic (our reading, see below)            1[ε ≥ 1−p] · (1 − (1 − u)/(1 + β u))
    f3   power-function / symmetric (DVAE#-inspired)    1[ε < 1−p] (1−p)(ε/(1−p))^β
                                                        + 1[ε ≥ 1−p] (1 − p((1−ε)/p)^β)
    f3'  its root counterpart (our reading)             1[ε < 1−p] (1−p)(1 − ((1−p−ε)/(1−p))^(1/β))
                                                        + 1[ε ≥ 1−p] (1 − p + p u^(1/β))

Our readings of two formulas: f2'' in the form "1 − (1−p)/(β(ε−p))" is not 0 at ε = 0 nor
increasing, so f2'' here is the hyperbolic member 1 − (1−u)/(1+βu) of the same
family, which satisfies P1-P3 (derivative (1+β)/(1+βu)² > 0); f3' is written with the signs
that make it satisfy P1-P3. Every f satisfies
    (P1) increasing in ε, f(β,p,0) = 0, f(β,p,1) = 1;
    (P2) f → 1[ε ≥ 1−p] pointwise (away from ε = 1−p) as β → ∞;
    (P3) differentiable but at finitely many points, with non-zero derivative there.
The spike functions (f1, f2, f2', f2'') put mass 1 − p on ζ = 0.

Densities. For the overlapping functions f3 and f3' the law of ζ = f(β, p, ε) has a density
on (0, 1): f is increasing in ε, so q(ζ) = dε/dζ = 1/f'(ε) at ε = f⁻¹(ζ), and f(1−p) = 1−p
splits it at ζ = 1−p (`log_density`):

    f3   ζ < 1−p:  log q = −log β + (1/β − 1) log(ζ/(1−p))
         ζ ≥ 1−p:  log q = −log β + (1/β − 1) log((1−ζ)/p)
    f3'  ζ < 1−p:  log q = log β + (β − 1) log(1 − ζ/(1−p))
         ζ ≥ 1−p:  log q = log β + (β − 1) log((ζ − (1−p))/p)

The spike functions have no density (an atom of mass 1 − p at ζ = 0, whatever β); given
z = 1[ε ≥ 1−p] their ζ does not depend on p, which is what the DVAE needs instead.

Numerics: every power and exponential is computed in log space (`log1p`, `expm1`, `logaddexp`);
branches use `tf.where` with *safe* inputs in the unused branch, so values and gradients are
finite at ε ∈ {0, 1−p, 1}, p ∈ {0, 1} and large β. Gradients with respect to p are non-zero
wherever ζ depends on p: the spike-free part for the spike functions, everywhere for f3, f3'.
"""

from __future__ import annotations

import math

import tensorflow as tf

from keraszoo._checks import check_one_of

SMOOTHING_FUNCTIONS = ("f1", "f2", "f2_root", "f2_hyperbolic", "f3", "f3_root")
SPIKE_FUNCTIONS = ("f1", "f2", "f2_root", "f2_hyperbolic")


def _tiny(x):
    return tf.constant(1e-30 if x.dtype == tf.float64 else 1e-37, x.dtype)


def _safe_unit(x):
    """x clipped into (0, 1] so that log x is finite; exact 0 is handled by the caller's where."""
    return tf.clip_by_value(x, _tiny(x), 1.0)


def _u(p, eps):
    """(mask ε ≥ 1−p, u safe in (0, 1] for logs, u itself in [0, 1]).

    u = (ε + p − 1)/p; at ε = 1 it is 1 for every p > 0 and we keep u = 1 at p = 0 too, so
    that f(β, p, 1) = 1 holds for all p (the interval [1 − p, 1] shrinks to the point ε = 1).
    """
    active = eps >= 1.0 - p
    safe_p = tf.where(p > 0, p, tf.ones_like(p))
    raw_u = tf.where(active, (eps + p - 1.0) / safe_p, tf.zeros_like(eps))
    raw_u = tf.where(eps >= 1.0, tf.ones_like(raw_u), tf.clip_by_value(raw_u, 0.0, 1.0))
    return active, _safe_unit(tf.where(active, raw_u, tf.ones_like(raw_u))), raw_u


def f1(beta, p, eps, base=math.e):
    """Spike-and-exponential: (1/β) log_a(u (a^β − 1) + 1) on the spike-free part.

    With c = β ln a > 0:  log(u (e^c − 1) + 1)/c = 1 + logaddexp(log u, log(1 − u) − c)/c,
    finite for every c (e^c never formed); exactly 0 at u = 0 and 1 at u = 1.
    """
    active, u, raw_u = _u(p, eps)
    c = beta * math.log(base)
    log_one_minus_u = tf.math.log(_safe_unit(1.0 - u))
    log_one_minus_u = tf.where(u < 1.0, log_one_minus_u, tf.fill(tf.shape(u), tf.constant(-1e30, u.dtype)))
    value = 1.0 + tf.experimental.numpy.logaddexp(tf.math.log(u), log_one_minus_u - c) / c
    value = tf.where(raw_u > 0, value, tf.zeros_like(value))
    return tf.where(active, value, tf.zeros_like(value))


def f2(beta, p, eps):
    """1 − (1 − u)^β = −expm1(β log(1 − u)) on the spike-free part."""
    active, u, _ = _u(p, eps)
    one_minus_u = 1.0 - u
    value = -tf.math.expm1(beta * tf.math.log(_safe_unit(one_minus_u)))
    value = tf.where(one_minus_u > 0, value, tf.ones_like(value))
    return tf.where(active, value, tf.zeros_like(value))


def f2_root(beta, p, eps):
    """u^(1/β) = exp(log(u)/β) on the spike-free part."""
    active, u, raw_u = _u(p, eps)
    value = tf.where(raw_u > 0, tf.exp(tf.math.log(u) / beta), tf.zeros_like(u))
    return tf.where(active, value, tf.zeros_like(value))


def f2_hyperbolic(beta, p, eps):
    """1 − (1 − u)/(1 + β u) on the spike-free part (our reading of the garbled f2'')."""
    active, _, raw_u = _u(p, eps)
    value = 1.0 - (1.0 - raw_u) / (1.0 + beta * raw_u)
    return tf.where(active, value, tf.zeros_like(value))


def _left_right(p, eps):
    """Masks and safe log-ratios for the two-sided functions."""
    q = 1.0 - p
    left = eps < q
    safe_q = tf.where(q > 0, q, tf.ones_like(q))
    safe_p = tf.where(p > 0, p, tf.ones_like(p))
    return left, q, safe_q, safe_p


def f3(beta, p, eps):
    """(1−p)(ε/(1−p))^β left of 1−p, 1 − p((1−ε)/p)^β right of it; slope β at 1−p."""
    left, q, safe_q, safe_p = _left_right(p, eps)
    left_value = q * tf.exp(beta * tf.math.log(_safe_unit(eps / safe_q)))
    left_value = tf.where(eps > 0, left_value, tf.zeros_like(eps))
    right_ratio = (1.0 - eps) / safe_p
    right_value = 1.0 - p * tf.exp(beta * tf.math.log(_safe_unit(right_ratio)))
    right_value = tf.where(eps < 1.0, right_value, tf.ones_like(eps))
    return tf.where(left, left_value, right_value)


def f3_root(beta, p, eps):
    """(1−p)(1 − ((1−p−ε)/(1−p))^(1/β)) left of 1−p, 1 − p + p u^(1/β) right of it."""
    left, q, safe_q, safe_p = _left_right(p, eps)
    ratio = (q - eps) / safe_q
    left_value = -q * tf.math.expm1(tf.math.log(_safe_unit(ratio)) / beta)  # no cancellation near ε = 0
    left_value = tf.where(ratio > 0, left_value, q)
    u = (eps - q) / safe_p
    right_value = q + p * tf.exp(tf.math.log(_safe_unit(u)) / beta)
    right_value = tf.where(u > 0, right_value, q)
    return tf.where(left, left_value, right_value)


_FUNCTIONS = {f.__name__: f for f in (f1, f2, f2_root, f2_hyperbolic, f3, f3_root)}


def _log_ratio(numerator, log_denominator):
    """log(numerator) − log_denominator with the numerator floored at the smallest normal number
    of its dtype (float32 ≈ 1.2e-38; subnormals and 0 map to it).

    The floor is applied to the numerator alone (not to the ratio), so that two densities
    evaluated at the same ζ share it and their ratio keeps its limit when ζ rounds to 0 or 1.
    """
    floor = tf.constant(tf.experimental.numpy.finfo(numerator.dtype.as_numpy_dtype).tiny, numerator.dtype)
    return tf.math.log(tf.maximum(numerator, floor)) - log_denominator


def _log_sides(p, zeta):
    """(ζ < 1 − p, log(1 − p), log p), with finite logs at p ∈ {0, 1} (the side that is empty
    there is discarded by the caller's where)."""
    q = 1.0 - p
    left = zeta < q
    log_q = tf.math.log(tf.where(q > 0, q, tf.ones_like(q)))
    log_p = tf.math.log(tf.where(p > 0, p, tf.ones_like(p)))
    return left, q, log_q, log_p


def f3_log_density(beta, p, zeta):
    """log q(ζ) of ζ = f3(β, p, ε), ε ~ U(0, 1): −log β + (1/β − 1) log(ζ/(1−p)) left of 1−p,
    −log β + (1/β − 1) log((1−ζ)/p) right of it (1/f3' at ε = f3⁻¹(ζ))."""
    left, _, log_q, log_p = _log_sides(p, zeta)
    exponent = 1.0 / beta - 1.0
    log_left = exponent * _log_ratio(zeta, log_q)
    log_right = exponent * _log_ratio(1.0 - zeta, log_p)
    return -tf.math.log(beta) + tf.where(left, log_left, log_right)


def f3_root_log_density(beta, p, zeta):
    """log q(ζ) of ζ = f3'(β, p, ε): log β + (β − 1) log(1 − ζ/(1−p)) left of 1−p,
    log β + (β − 1) log((ζ − (1−p))/p) right of it."""
    left, q, log_q, log_p = _log_sides(p, zeta)
    log_left = (beta - 1.0) * _log_ratio(q - zeta, log_q)
    log_right = (beta - 1.0) * _log_ratio(zeta - q, log_p)
    return tf.math.log(beta) + tf.where(left, log_left, log_right)


_DENSITIES = {"f3": f3_log_density, "f3_root": f3_root_log_density}
OVERLAPPING_FUNCTIONS = tuple(_DENSITIES)  # ζ has a density on (0, 1) that depends on p


def smooth(name: str, beta, p, eps, base: float = math.e) -> tf.Tensor:
    """ζ = f_name(β, p, ε), broadcasting β, p and ε. `base` (a of f1) must be > 1."""
    check_one_of("smoothing function", name, _FUNCTIONS)
    p = tf.convert_to_tensor(p)
    eps = tf.cast(eps, p.dtype)
    beta = tf.cast(beta, p.dtype)
    if name == "f1":
        return f1(beta, p, eps, base)
    return _FUNCTIONS[name](beta, p, eps)


def log_density(name: str, beta, p, zeta) -> tf.Tensor:
    """log q(ζ) of ζ = f_name(β, p, ε), ε ~ U(0, 1), for the overlapping functions f3, f3'.

    Broadcasts β, p and ζ. Computed in log space: finite for ζ ∈ [0, 1], p ∈ [0, 1] and any
    β > 0 (at ζ exactly 0, 1 or 1 − p, where the density is 0 or ∞, ζ is floored at a tiny
    positive distance from the point, the same for every p, so density ratios stay finite).

    Raises:
        ValueError: for an unknown name, or a spike function (f1, f2, f2', f2''), whose ζ has an
            atom at 0 and no density.
    """
    check_one_of("smoothing function", name, _FUNCTIONS)
    if name not in _DENSITIES:
        raise ValueError(
            f"Only the overlapping smoothing functions {OVERLAPPING_FUNCTIONS} have a density; the "
            "spike functions put an atom of mass 1 − p on ζ = 0. "
            f"Received: smoothing function={name!r}"
        )
    p = tf.convert_to_tensor(p)
    zeta = tf.cast(zeta, p.dtype)
    beta = tf.cast(beta, p.dtype)
    return _DENSITIES[name](beta, p, zeta)
