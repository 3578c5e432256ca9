import os

import numpy as np

from keraszoo import BernoulliVAE, GaussianVAE
from keraszoo.diagnostics.gradients import format_table, gradient_statistics, plot, signal_to_noise
from tests.conftest import small_vae_config


def test_gradient_statistics_rank_the_estimators(tmp_path, binary_batch):
    model = GaussianVAE(**small_vae_config())
    rows = gradient_statistics(model, binary_batch, repeats=30, reference_samples=200)
    by_name = {(r["estimator"], r["baseline"]): r for r in rows}
    reparam, plain = by_name[("reparameterization", "none")], by_name[("reinforce", "none")]
    assert plain["variance"] > 10 * reparam["variance"]
    assert by_name[("reinforce", "rloo")]["variance"] < plain["variance"]
    # STL beside reparameterization; DReG beside IWAE's reparameterization, against IWAE_5's reference.
    assert {r["estimator"] for r in rows} >= {"stl", "dreg"}
    assert by_name[("dreg", "none")]["objective"] == "iwae"
    # Unbiased estimators: the bias is within a few Monte Carlo errors of zero.
    for row in rows:
        assert np.isfinite(row["relative_bias"]) and row["relative_bias"] < 4 * row["mc_error_of_bias"] + 0.05
        assert 0 <= row["snr"] < np.inf
    assert format_table(rows).count("\n") == len(rows) + 1
    assert os.path.getsize(plot(rows, str(tmp_path / "g.png"))) > 0


def test_gradient_statistics_of_the_discrete_estimators(binary_batch):
    # Bernoulli latents: the default rows are the discrete estimators; the reference is REINFORCE
    # with a leave-one-out baseline (unbiased), or VIMCO's mean for the IWAE bound.
    model = BernoulliVAE(**small_vae_config(latent_dim=6))
    rows = gradient_statistics(model, binary_batch, repeats=30, reference_samples=200)
    by_name = {r["estimator"]: r for r in rows}
    assert set(by_name) == {
        "straight_through", "gumbel_softmax", "reinforce", "arm", "disarm", "rebar", "relax", "vimco"
    }  # fmt: skip
    assert by_name["vimco"]["objective"] == "iwae" and by_name["disarm"]["objective"] == "elbo"
    for name in ("reinforce", "arm", "disarm", "rebar", "relax", "vimco"):  # unbiased
        row = by_name[name]
        assert row["relative_bias"] < 4 * row["mc_error_of_bias"] + 0.1, row
    assert by_name["disarm"]["variance"] < by_name["reinforce"]["variance"]


def test_signal_to_noise_against_known_gaussian_draws():
    # Weights with E g = µ and sd σ: the SNR is the median of |µ_i| / σ_i over the weights. Draws of
    # N(µ, σ²) with known ratios, a nearly deterministic weight (ratio 1e4: an outlier the median
    # ignores) and a weight whose gradient is always 0 (left out).
    rng = np.random.default_rng(0)
    repeats = 4000
    mu, sigma = np.array([3.0, -0.5, 0.0, 1e-2, 1.0]), np.array([1.0, 2.0, 5.0, 1e-6, 1.0])
    grads = rng.normal(mu, sigma, size=(repeats, 5))
    grads = np.concatenate([grads, np.zeros((repeats, 1))], axis=1)
    assert abs(signal_to_noise(grads) - 1.0) < 0.06  # median of 3, 0.25, 0, 1e4, 1 (± 3 standard errors)
    noise = rng.normal(0.0, 2.0, size=(50, 2000))  # no signal, 50 draws: median |ḡ| / s ≈ 0.67/√50 ≈ 0.1
    naive = np.median(np.abs(noise.mean(0)) / noise.std(0, ddof=1))
    assert naive > 0.08 and signal_to_noise(noise) == 0.0  # ḡ² < s²/R for most weights
    assert np.isnan(signal_to_noise(np.zeros((10, 4))))
