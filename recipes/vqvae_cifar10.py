"""VQ-VAE on CIFAR-10 (TFDS), the paper's setup: 32×32×3 → 8×8 codes, K=512, D=64, β = 0.25,
EMA γ = 0.99, 2 residual blocks of 32 units, 128 filters, Adam 2e-4, batch 128. Gaussian
likelihood on [0, 1] intensities (scale 0.1). Paper: 4.67 bits/dim (with a discrete
likelihood); the Sonnet example's reference run reaches perplexity ≈ 326 after 10k steps."""


def get_config(smoke: bool = False) -> dict:
    config = dict(
        model="vqvae",
        model_config=dict(
            num_codes=512,
            code_dim=64,
            encoder={"name": "resnet", "filters": 128, "residual_units": 32, "num_residual": 2},
            likelihood={"name": "gaussian", "scale": 0.1},
            ema=True,
            decay=0.99,
            prior={"dim": 128, "heads": 4, "layers": 2},
        ),
        dataset="cifar10",
        binarize="none",
        batch_size=128,
        epochs=30,
        learning_rate=2e-4,
        prior_epochs=10,
        eval_num_samples=1,
    )
    if smoke:
        model_config = dict(config["model_config"], num_codes=32, code_dim=8)
        model_config["encoder"] = {"name": "resnet", "filters": 16, "residual_units": 8, "num_residual": 1}
        model_config["prior"] = {"dim": 16, "heads": 2, "layers": 1}
        config.update(model_config=model_config, epochs=1, prior_epochs=1, batch_size=8, eval_max_examples=16)
    return config
