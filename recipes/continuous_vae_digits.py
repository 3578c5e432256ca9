"""Any posterior family on the embedded digits; pick it with --set model_config.posterior=NAME.

    python -m keraszoo.recipes.train continuous_vae_digits --set model_config.posterior=kumaraswamy
    python -m keraszoo.recipes.train continuous_vae_digits --set model_config.estimator=reinforce \\
        --set model_config.baseline=rloo --set model_config.num_samples=4
"""


def get_config(smoke: bool = False) -> dict:
    config = dict(
        model="continuous_vae",
        model_config=dict(
            latent_dim=8,
            posterior="laplace",
            encoder={"name": "mlp", "hidden_units": [256, 128], "activation": "relu"},
            likelihood="bernoulli",
        ),
        dataset="digits",
        binarize="dynamic",
        batch_size=64,
        epochs=60,
        eval_num_samples=1000,
        export_name="continuous_vae_digits",
    )
    if smoke:
        config.update(epochs=2, eval_num_samples=16, eval_max_examples=64)
    return config
