"""Encoder and decoder networks of every zoo model, chosen by a small config dict.

    {"name": "mlp", "hidden_units": [512, 512], "activation": "relu"}
    {"name": "conv", "filters": [32, 64], "hidden_units": [], "activation": "relu"}
    {"name": "resnet", "filters": 128, "residual_units": 32, "num_residual": 2}

`mlp` flattens the image; with `hidden_units=[]` it is a single affine map (the linear
encoder/decoder of a linear-Gaussian model). `conv` halves the spatial size with each
strided convolution, so the image height and width must be divisible by 2**len(filters).
`resnet` is the VQ-VAE encoder/decoder of van den Oord et al. (2017, §4.1): two stride-2 4×4
convolutions, a 3×3 convolution and residual blocks ReLU-3×3-ReLU-1×1; the decoder mirrors it
with transposed convolutions. It keeps a spatial grid of a quarter of the image's height and
width, so its encoder output shape is (H/4, W/4, channels).

An encoder maps `data_shape` to any `output_shape` (a vector of posterior parameters, or a
grid of code vectors); a decoder maps a latent of any shape back to `data_shape` (logits or
means). Unknown keys in a spec are an error, so a typo never silently falls back to a default.

Mixed precision: `dtype="mixed_bfloat16"` builds every layer of the network under that policy
(bfloat16 matmuls and convolutions, float32 weights) and appends a cast to float32, so the
network's outputs, and every likelihood, KL and loss computed from them, are float32
(the Keras mixed-precision guide's rule for model outputs).
"""

from __future__ import annotations

import contextlib
import math

import keras

from keraszoo._checks import check_one_of, check_positive

_DEFAULTS = {
    "mlp": {"hidden_units": [512, 512], "activation": "relu"},
    "conv": {"filters": [32, 64], "hidden_units": [], "activation": "relu"},
    "resnet": {"filters": 128, "residual_units": 32, "num_residual": 2},
}
BACKBONES = tuple(_DEFAULTS)


def normalize_backbone(spec: str | dict | None) -> dict:
    """Fills in defaults and validates a backbone spec; returns a plain, serializable dict."""
    if spec is None or isinstance(spec, str):
        spec = {"name": "mlp" if spec is None else spec}
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
    for key in ("hidden_units", "filters"):
        value = full.get(key)
        if isinstance(value, list | tuple):
            full[key] = [int(u) for u in value]
            for u in full[key]:
                check_positive(key, u, integer=True)
    if full["name"] == "resnet":
        for key in ("filters", "residual_units", "num_residual"):
            check_positive(key, full[key], integer=True)
    return full


def spatial_grid(spec: dict, data_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The latent grid (H/4, W/4) of a `resnet` backbone; None for backbones that flatten."""
    if spec["name"] != "resnet":
        return None
    _check_divisible(data_shape, 4, "The `resnet` backbone")
    return (data_shape[0] // 4, data_shape[1] // 4)


@contextlib.contextmanager
def _policy(dtype: str | None):
    """Layers created inside use the dtype policy `dtype` (None: the global one)."""
    previous = keras.config.dtype_policy()
    if dtype is not None:
        keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _network(inputs, outputs, name):
    """The functional model, with float32 outputs whatever the layers' compute dtype."""
    if keras.config.dtype_policy().compute_dtype != "float32":
        outputs = keras.layers.Activation("linear", dtype="float32", name="float32_outputs")(outputs)
    return keras.Model(inputs, outputs, name=name)


def build_encoder(
    spec: dict,
    data_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
    head: str = "encoder_outputs",
    dtype: str | None = None,
) -> keras.Model:
    """x of `data_shape` → raw encoder outputs of `output_shape` (float32); the last layer of
    the network is named `head`. `dtype`: the layers' policy (None: the global one)."""
    with _policy(dtype):
        return _network(*_encoder(spec, data_shape, output_shape, head), name="encoder")


def build_decoder(
    spec: dict, latent_shape: tuple[int, ...], data_shape: tuple[int, ...], dtype: str | None = None
) -> keras.Model:
    """A latent of `latent_shape` → decoder outputs of `data_shape` (logits or means, float32).
    `dtype`: the layers' policy (None: the global one)."""
    with _policy(dtype):
        return _network(*_decoder(spec, latent_shape, data_shape), name="decoder")


def _encoder(spec, data_shape, output_shape, head):
    x = keras.Input(data_shape)
    if spec["name"] == "resnet":
        return x, _resnet_encoder(spec, x, data_shape, output_shape, head)
    h = x
    if spec["name"] == "conv":
        _check_conv_shape(spec, data_shape)
        h = _stack(h, keras.layers.Conv2D, spec["filters"], "conv", **_strided(spec))
    h = keras.layers.Flatten()(h)
    h = _stack(h, keras.layers.Dense, spec["hidden_units"], "enc_dense", activation=spec["activation"])
    out = keras.layers.Dense(math.prod(output_shape), name=head)(h)
    if len(output_shape) > 1:
        out = keras.layers.Reshape(output_shape)(out)
    return x, out


def _decoder(spec, latent_shape, data_shape):
    z = keras.Input(latent_shape)
    if spec["name"] == "resnet":
        return z, _resnet_decoder(spec, z, data_shape)
    h = keras.layers.Flatten()(z) if len(latent_shape) > 1 else z
    h = _stack(
        h, keras.layers.Dense, reversed(spec["hidden_units"]), "dec_dense", activation=spec["activation"]
    )
    if spec["name"] == "conv":
        factor = _check_conv_shape(spec, data_shape)
        height, width, top = data_shape[0] // factor, data_shape[1] // factor, spec["filters"][-1]
        h = keras.layers.Dense(height * width * top, activation=spec["activation"], name="dec_project")(h)
        h = keras.layers.Reshape((height, width, top))(h)
        h = _stack(h, keras.layers.Conv2DTranspose, reversed(spec["filters"]), "deconv", **_strided(spec))
        out = keras.layers.Conv2D(data_shape[-1], 3, padding="same", name="outputs")(h)
    else:
        out = keras.layers.Dense(math.prod(data_shape), name="outputs")(h)
        out = keras.layers.Reshape(data_shape)(out)
    return z, out


def _stack(h, layer, sizes, prefix, **kwargs):
    """Applies `layer(size, name=f"{prefix}_{i}", **kwargs)` for each size in turn."""
    for i, size in enumerate(sizes):
        h = layer(size, name=f"{prefix}_{i}", **kwargs)(h)
    return h


def _strided(spec):
    """The arguments of the `conv` backbone's (transposed) convolutions, which halve (double) H and W."""
    return dict(kernel_size=3, strides=2, padding="same", activation=spec["activation"])


def _check_divisible(data_shape, factor, backbone):
    if len(data_shape) != 3 or data_shape[0] % factor or data_shape[1] % factor:
        raise ValueError(
            f"{backbone} needs images (height, width, channels) with height and width divisible by "
            f"{factor}. Received: data_shape={tuple(data_shape)}"
        )


def _check_conv_shape(spec, data_shape) -> int:
    """Checks the image size for the `conv` backbone; returns its downsampling factor."""
    factor = 2 ** len(spec["filters"])
    _check_divisible(data_shape, factor, f"The `conv` backbone with {len(spec['filters'])} strided layers")
    return factor


def _residual_stack(h, spec, prefix):
    for i in range(spec["num_residual"]):
        r = keras.layers.ReLU()(h)
        r = keras.layers.Conv2D(
            spec["residual_units"], 3, padding="same", activation="relu", name=f"{prefix}_res{i}_3x3"
        )(r)
        r = keras.layers.Conv2D(spec["filters"], 1, name=f"{prefix}_res{i}_1x1")(r)
        h = keras.layers.Add()([h, r])
    return keras.layers.ReLU()(h)


def _resnet_encoder(spec, x, data_shape, output_shape, head):
    grid = spatial_grid(spec, data_shape)
    if tuple(output_shape[:-1]) != grid:
        raise ValueError(
            f"The `resnet` encoder outputs a grid {grid} + (channels,). Received: output_shape={output_shape}"
        )
    f = spec["filters"]
    h = keras.layers.Conv2D(f // 2, 4, 2, padding="same", activation="relu", name="enc_down0")(x)
    h = keras.layers.Conv2D(f, 4, 2, padding="same", activation="relu", name="enc_down1")(h)
    h = keras.layers.Conv2D(f, 3, padding="same", name="enc_conv")(h)
    h = _residual_stack(h, spec, "enc")
    return keras.layers.Conv2D(output_shape[-1], 1, name=head)(h)


def _resnet_decoder(spec, z, data_shape):
    spatial_grid(spec, data_shape)
    f = spec["filters"]
    h = keras.layers.Conv2D(f, 3, padding="same", name="dec_conv")(z)
    h = _residual_stack(h, spec, "dec")
    h = keras.layers.Conv2DTranspose(f // 2, 4, 2, padding="same", activation="relu", name="dec_up0")(h)
    return keras.layers.Conv2DTranspose(data_shape[-1], 4, 2, padding="same", name="outputs")(h)
