"""DVAE with smoothing transformations on static binarized MNIST: 200 binary latents, one
stochastic layer (as in the DVAE# code's "1-layer" structures), factorial Bernoulli prior.

Encoder 784-512-256 (tanh), decoder mirrored, Bernoulli likelihood, Adam 3e-4, batch 100,
β annealed 1 → 10 (×e every 5 000 steps), 400 passes (200 000 steps: the validation −ELBO
still falls by ≈ 0.01 nats per pass at the end; `dvae_mnist` v2 is this budget, v1 was 100
passes). Pick the smoothing with --set model_config.smoothing=f1|f2|f2_root|f2_hyperbolic|f3|f3_root.
"""


def get_config(smoke: bool = False) -> dict:
    config = dict(
        model="dvae",
        model_config=dict(
            latent_dim=200,
            smoothing="f1",
            beta={"initial": 1.0, "maximum": 10.0, "rate": 2e-4, "every": 100},
            encoder={"name": "mlp", "hidden_units": [512, 256], "activation": "tanh"},
            likelihood="bernoulli",
        ),
        dataset="binarized_mnist",
        binarize="none",
        batch_size=100,
        epochs=400,
        learning_rate=3e-4,
        eval_num_samples=1000,
    )
    if smoke:
        config.update(epochs=1, eval_num_samples=8, eval_max_examples=50)
    return config
