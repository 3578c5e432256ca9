"""Record what each shipped preset computes on a fixed batch and seed, from its `model.keras`.

    python tools/record_preset_outputs.py [NAME ...]

Presets used to store their weights twice: a SavedModel (for TF Serving) and a `model.keras`
file (for Keras). The Keras model is now rebuilt from the manifest's config with its weights
read from the SavedModel's variables. This script reads the *old* file, `model.keras`, of the
newest version of each preset under `exports/` (all presets, or the NAMEs given) and writes
its outputs into `tests/presets/reference_outputs.json`, which
`tests/presets/test_reference_outputs.py` compares `keraszoo.from_preset` against. Run it
before a version's `model.keras` is removed (`tools/slim_presets.py` removes it after the same
comparison); entries of presets not named are kept.

The outputs: on 4 fixed binary images (Bernoulli(½) pixels from `numpy.random.default_rng(0)`)
the per-example ELBO with seed 7, and the reconstructions, encoder outputs and 2 samples
(seed 11) each reduced to 4 numbers per example by a fixed Gaussian random projection (a
different model, or the same model with any weight changed, moves these almost surely) plus
their mean.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's keraszoo, not an installed one
REFERENCE = os.path.join(ROOT, "tests", "presets", "reference_outputs.json")
ELBO_SEED, SAMPLE_SEED, NUM_EXAMPLES, NUM_SAMPLES, NUM_PROJECTIONS = 7, 11, 4, 2, 4


def fixed_batch(data_shape) -> np.ndarray:
    """The fixed batch of binary images the outputs are recorded on."""
    shape = (NUM_EXAMPLES, *data_shape)
    return (np.random.default_rng(0).random(shape) > 0.5).astype("float32")


def summarize(values) -> dict:
    """Per-example random projections (4 per example) and the mean of a batch of outputs."""
    flat = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    directions = np.random.default_rng(1234).standard_normal((flat.shape[1], NUM_PROJECTIONS))
    return {"projections": (flat @ directions).tolist(), "mean": float(flat.mean())}


def outputs(model) -> dict:
    """The recorded outputs of a zoo model (see the module docstring)."""
    x = fixed_batch(model.data_shape)
    encoded = model.encode(x)
    return {
        "elbo": np.asarray(model.elbo(x, seed=ELBO_SEED)["elbo"], dtype=np.float64).tolist(),
        "reconstruct": summarize(model.reconstruct(x)),
        "encode": {key: summarize(value) for key, value in sorted(encoded.items())},
        "sample": summarize(model.sample(NUM_SAMPLES, seed=SAMPLE_SEED)["x_mean"]),
    }


def main(argv=None) -> int:
    import keras

    import keraszoo  # noqa: F401  (registers the classes `load_model` needs)
    from keraszoo.export import list_versions

    exports = os.path.join(ROOT, "exports")
    names = (argv if argv is not None else sys.argv[1:]) or sorted(
        n for n in os.listdir(exports) if list_versions(exports, n)
    )
    reference = json.load(open(REFERENCE)) if os.path.exists(REFERENCE) else {}
    for name in names:
        version = list_versions(exports, name)[-1]
        path = os.path.join(exports, name, str(version), "model.keras")
        model = keras.models.load_model(path, safe_mode=True)
        reference[name] = {"version": version, **outputs(model)}
        print(f"{name} version {version}: ELBO {reference[name]['elbo']}")
    with open(REFERENCE, "w") as f:
        json.dump(dict(sorted(reference.items())), f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
