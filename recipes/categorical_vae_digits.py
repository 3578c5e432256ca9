"""Categorical VAE (8 variables × 10 classes, Gumbel-softmax) on the embedded digits; offline."""


def get_config(smoke: bool = False) -> dict:
    config = dict(
        model="categorical_vae",
        model_config=dict(
            num_variables=8,
            num_classes=10,
            encoder={"name": "mlp", "hidden_units": [256, 128], "activation": "relu"},
            likelihood="bernoulli",
            estimator="gumbel_softmax",
            temperature={"initial": 1.0, "minimum": 0.5, "rate": 3e-4, "every": 100},
        ),
        dataset="digits",
        binarize="dynamic",
        batch_size=64,
        epochs=60,
        eval_num_samples=1000,
    )
    if smoke:
        config["model_config"]["temperature"] = {"initial": 1.0, "minimum": 0.3, "rate": 0.02, "every": 5}
        config.update(epochs=2, eval_num_samples=16, eval_max_examples=64)
    return config
