"""Encoder and decoder networks, chosen by a small config dict.

    {"name": "mlp", "hidden_units": [512, 512], "activation": "relu"}
    {"name": "conv", "filters": [32, 64], "hidden_units": [], "activation": "relu"}

`mlp` flattens the image; with `hidden_units=[]` it is a single affine map (the linear
encoder/decoder of a linear-Gaussian model). `conv` halves the spatial size with each
strided convolution, so the image height and width must be divisible by 2**len(filters).
"""

from __future__ import annotations

import math

import keras

from keraszoo._checks import check_one_of, check_positive

BACKBONES = ("mlp", "conv")
_DEFAULTS = {
    "mlp": {"hidden_units": [512, 512], "activation": "relu"},
    "conv": {"filters": [32, 64], "hidden_units": [], "activation": "relu"},
}


def normalize_backbone(spec: str | dict | None) -> dict:
    """Fills in defaults and validates a backbone spec; returns a plain, serializable dict."""
    if spec is None:
        spec = "mlp"
    if isinstance(spec, str):
        spec = {"name": spec}
    spec = dict(spec)
    check_one_of("backbone name", spec.get("name"), BACKBONES)
    full = {"name": spec["name"], **_DEFAULTS[spec["name"]]}
    unknown = set(spec) - set(full)
    if unknown:
        raise ValueError(
            f"Unknown keys {sorted(unknown)} for backbone {spec['name']!r}; "
            f"expected a subset of {sorted(full)}. Received: {spec}"
        )
    full.update(spec)
    full["hidden_units"] = [int(u) for u in full["hidden_units"]]
    for u in full["hidden_units"]:
        check_positive("hidden_units", u, integer=True)
    if "filters" in full:
        full["filters"] = [int(f) for f in full["filters"]]
        for f in full["filters"]:
            check_positive("filters", f, integer=True)
    return full


def _dense_stack(units, activation, prefix):
    return [
        keras.layers.Dense(u, activation=activation, name=f"{prefix}_dense_{i}") for i, u in enumerate(units)
    ]


def build_encoder(spec: dict, data_shape: tuple[int, ...], output_dim: int) -> keras.Sequential:
    """x of `data_shape` → a vector of `output_dim` raw posterior parameters."""
    layers = [keras.Input(data_shape)]
    if spec["name"] == "conv":
        _check_conv_shape(spec, data_shape)
        layers += [
            keras.layers.Conv2D(
                f, 3, strides=2, padding="same", activation=spec["activation"], name=f"conv_{i}"
            )
            for i, f in enumerate(spec["filters"])
        ]
    layers.append(keras.layers.Flatten())
    layers += _dense_stack(spec["hidden_units"], spec["activation"], "enc")
    layers.append(keras.layers.Dense(output_dim, name="posterior_params"))
    return keras.Sequential(layers, name="encoder")


def build_decoder(spec: dict, latent_dim: int, data_shape: tuple[int, ...]) -> keras.Sequential:
    """z of `latent_dim` → decoder outputs of `data_shape` (logits or means)."""
    layers = [keras.Input((latent_dim,))]
    layers += _dense_stack(list(reversed(spec["hidden_units"])), spec["activation"], "dec")
    if spec["name"] == "conv":
        _check_conv_shape(spec, data_shape)
        factor = 2 ** len(spec["filters"])
        h, w = data_shape[0] // factor, data_shape[1] // factor
        top = spec["filters"][-1]
        layers += [
            keras.layers.Dense(h * w * top, activation=spec["activation"], name="dec_project"),
            keras.layers.Reshape((h, w, top)),
        ]
        layers += [
            keras.layers.Conv2DTranspose(
                f, 3, strides=2, padding="same", activation=spec["activation"], name=f"deconv_{i}"
            )
            for i, f in enumerate(reversed(spec["filters"]))
        ]
        layers.append(keras.layers.Conv2D(data_shape[-1], 3, padding="same", name="outputs"))
    else:
        layers += [
            keras.layers.Dense(math.prod(data_shape), name="outputs"),
            keras.layers.Reshape(data_shape),
        ]
    return keras.Sequential(layers, name="decoder")


def _check_conv_shape(spec, data_shape):
    factor = 2 ** len(spec["filters"])
    if len(data_shape) != 3 or data_shape[0] % factor or data_shape[1] % factor:
        raise ValueError(
            f"The `conv` backbone with {len(spec['filters'])} strided layers needs images "
            f"(height, width, channels) with height and width divisible by {factor}. "
            f"Received: data_shape={tuple(data_shape)}"
        )
