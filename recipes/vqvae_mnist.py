"""VQ-VAE on static binarized MNIST: paper architecture (28×28 → 7×7 codes), K=128, D=32, EMA
(γ = 0.99), β = 0.25, Bernoulli likelihood, Adam 2e-4 (paper: 2e-4), batch 100, code prior."""


def get_config(smoke: bool = False) -> dict:
    config = dict(
        model="vqvae",
        model_config=dict(
            num_codes=128,
            code_dim=32,
            encoder={"name": "resnet", "filters": 128, "residual_units": 32, "num_residual": 2},
            likelihood="bernoulli",
            ema=True,
            decay=0.99,
            prior={"dim": 128, "heads": 4, "layers": 2},
        ),
        dataset="binarized_mnist",
        binarize="none",
        batch_size=100,
        epochs=20,
        learning_rate=2e-4,
        prior_epochs=10,
        eval_num_samples=1,
    )
    if smoke:
        config.update(epochs=1, prior_epochs=1, eval_max_examples=50)
    return config
