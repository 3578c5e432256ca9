"""Default recipe: Gaussian VAE on the embedded 8×8 digits (offline), dynamic binarization."""


def get_config(smoke: bool = False) -> dict:
    config = dict(
        model="gaussian_vae",
        model_config=dict(
            latent_dim=8,
            encoder={"name": "mlp", "hidden_units": [256, 128], "activation": "relu"},
            likelihood="bernoulli",
        ),
        dataset="digits",
        binarize="dynamic",
        batch_size=64,
        epochs=60,
        learning_rate=1e-3,
        eval_num_samples=1000,
    )
    if smoke:
        config.update(epochs=2, eval_num_samples=16, eval_max_examples=64)
    return config
