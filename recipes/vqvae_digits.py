"""VQ-VAE (paper architecture, EMA codebook) on the embedded 8×8 digits, with its code prior."""


def get_config(smoke: bool = False) -> dict:
    config = dict(
        model="vqvae",
        model_config=dict(
            num_codes=64,
            code_dim=16,
            encoder={"name": "resnet", "filters": 64, "residual_units": 32, "num_residual": 2},
            likelihood="bernoulli",
            ema=True,
            prior={"dim": 64, "heads": 4, "layers": 2},
        ),
        dataset="digits",
        binarize="dynamic",
        batch_size=64,
        epochs=60,
        learning_rate=1e-3,
        prior_epochs=30,
        eval_num_samples=1,
    )
    if smoke:
        config["model_config"]["encoder"] = {
            "name": "resnet",
            "filters": 16,
            "residual_units": 8,
            "num_residual": 1,
        }
        config["model_config"]["prior"] = {"dim": 16, "heads": 2, "layers": 1}
        config.update(epochs=2, prior_epochs=1, eval_max_examples=64)
    return config
