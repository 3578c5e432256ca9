"""Gaussian VAE on statically binarized MNIST, the 784-200-200-50 tanh MLP of Burda et al. (2016).

Published: 88.71 nats test NLL (IWAE estimate, k = 5000) after 3280 passes (Burda et al. 2016,
Table 1, VAE k=1). Data from TFDS (`binarized_mnist`) or a local .npz (`--data-file`).
"""


def get_config(smoke: bool = False) -> dict:
    config = dict(
        model="gaussian_vae",
        model_config=dict(
            latent_dim=50,
            encoder={"name": "mlp", "hidden_units": [200, 200], "activation": "tanh"},
            likelihood="bernoulli",
        ),
        dataset="binarized_mnist",
        binarize="none",
        batch_size=100,
        epochs=100,
        learning_rate=1e-3,
        eval_num_samples=5000,
    )
    if smoke:
        config.update(epochs=1, eval_num_samples=8, eval_max_examples=50)
    return config
