"""The training configuration: what a recipe returns and `train_and_evaluate` consumes."""

from __future__ import annotations

import dataclasses

from keraszoo._checks import check_one_of, check_positive
from keraszoo.data import BINARIZE, DATASETS
from keraszoo.models import available_models
from keraszoo.schedules import check_learning_rate

STRATEGIES = ("auto", "mirrored", "multi_worker", "default")
ADAM_ARGUMENTS = ("beta_1", "beta_2", "epsilon", "weight_decay")


def check_adam(adam) -> None:
    """Raises ValueError unless `adam` maps some of ADAM_ARGUMENTS to β ∈ [0, 1), ε > 0, λ ≥ 0."""
    if not isinstance(adam, dict) or set(adam) - set(ADAM_ARGUMENTS):
        raise ValueError(
            f"Expected `adam` a dict with keys among {list(ADAM_ARGUMENTS)}. Received: adam={adam!r}"
        )
    for name, value in adam.items():
        if name == "epsilon":
            check_positive("adam['epsilon']", value)
            continue
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if name == "weight_decay":
            bound, inside = ">= 0", numeric and value >= 0
        else:
            bound, inside = "in [0, 1)", numeric and 0 <= value < 1
        if not inside:
            raise ValueError(f"Expected `adam['{name}']` {bound}. Received: adam={adam!r}")


@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs. Recipes (`keraszoo.recipes`) return its dict form.

    Attributes:
        model: registry name of the zoo model, e.g. "gaussian_vae".
        model_config: keyword arguments of the model (latent_dim, encoder, likelihood, ...);
            `data_shape` is filled in from the dataset.
        dataset: one of `keraszoo.data.DATASETS`; `data_dir`, `download`, `data_file` as in
            `keraszoo.data.load_split`.
        binarize: "none", "static" or "dynamic" for non-binary data.
        batch_size: global batch size, split across replicas.
        epochs: passes over the training data.
        learning_rate: Adam's learning rate on the global-batch mean objective: a float or a
            schedule dict (`keraszoo.schedules`: Burda et al.'s "staged", or
            "exponential").
        adam: Adam's other hyperparameters, any of `beta_1`, `beta_2`, `epsilon` (ε is added to
            √v, as in Kingma & Ba 2015 and Keras); {} keeps Keras's 0.9, 0.999, 1e-7. Adam is
            invariant to the loss's scale except through ε: ours is the batch mean, so a paper's
            ε on a loss summed over a batch of B is ε/B here (Burda et al. 2016's code: β₁ 0.99,
            ε 1e-4 on a sum over 20 examples, i.e. {"beta_1": 0.99, "epsilon": 5e-6}).
            `weight_decay` λ is decoupled weight decay (AdamW, Loshchilov & Hutter 2019): every
            step first shrinks each trainable weight, θ ← θ − η_t·λ·θ with η_t the step's
            learning rate, then takes the Adam step with the gradient at the unshrunk θ.
        ema_momentum: Polyak averaging (Polyak & Juditsky 1992): keep the exponential moving
            average θ̄ ← m·θ̄ + (1 − m)·θ of the weights after every step, with m = this value
            (e.g. 0.9999: an average over ≈ 1/(1 − m) = 10 000 steps), and validate, keep and
            export θ̄ while training continues from θ (Keras's `use_ema`). None: no averaging.
        keep_best: evaluate and export the weights of the epoch with the lowest validation
            −ELBO (−L_K for `objective="iwae"`: the model's `selection_metric`; kept across
            restarts, `keraszoo.training.best`), not the last epoch's.
        patience: stop after this many epochs without a better validation value (None: never).
        strategy: "auto" (MirroredStrategy when `devices`, default: the visible GPUs, are two
            or more; otherwise no distribution, which trains ≈ 5 % faster than a one-device
            MirroredStrategy, see benchmarks/throughput.py), "mirrored" (MirroredStrategy over
            `devices`, default: all visible GPUs, or the CPU), "multi_worker"
            (MultiWorkerMirroredStrategy over the cluster of the TF_CONFIG environment variable:
            `keraszoo.training.multi_worker`) or "default" (no distribution).
        jit_compile: XLA for the train step (Keras's "auto" silently disables it on CPU and
            under strategies, so it is explicit here).
        steps_per_execution: train steps per tf.function call (10: about 1.25× the examples/s
            of 1 on CPU, see benchmarks/throughput.py).
        eval_num_samples: k of the importance-weighted NLL estimate on the test split.
        eval_batch_size, eval_max_examples: test-set evaluation batch, and the size of a fixed
            random subset of the test split to evaluate on (None: all of it).
        export_dir, export_name: where the SavedModel goes (None: no export). The default,
            `runs/exports`, is git-ignored: `exports/` holds the shipped presets.
        pictures: write PNGs (samples, reconstructions, curves) and TensorBoard images.
        prior_epochs: epochs of the model's declared second stage (`ZooModel.second_stage`,
            e.g. the VQ-VAE's code prior), trained after the main fit; ignored by models
            without one.
        init_from_preset: start from the weights of this preset, to fine-tune
            (`keraszoo.list_presets()`; "NAME" is its newest version, "NAME:VERSION" pins one, so
            that a recipe replays after a new version ships); the model config must build the
            same architecture. A resumed run continues from its own checkpoint instead.
        description: one line about the trained model, for its export manifest and
            `keraszoo.list_presets()`.
        published: the published figure the model is compared with, e.g.
            {"value": 88.71, "metric": "nll", "source": "Burda et al. 2016, Table 1"}.
    """

    model: str = "gaussian_vae"
    model_config: dict = dataclasses.field(default_factory=dict)
    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = True
    data_file: str | None = None
    binarize: str = "dynamic"
    batch_size: int = 100
    epochs: int = 10
    learning_rate: float | dict = 1e-3
    adam: dict = dataclasses.field(default_factory=dict)
    ema_momentum: float | None = None
    keep_best: bool = True
    patience: int | None = None
    strategy: str = "auto"
    devices: list[str] | None = None
    jit_compile: bool = False
    steps_per_execution: int = 10
    seed: int = 0
    eval_num_samples: int = 1000
    eval_batch_size: int = 100
    eval_max_examples: int | None = None
    export_dir: str | None = "runs/exports"
    export_name: str | None = None
    pictures: bool = True
    prior_epochs: int = 0
    description: str = ""
    init_from_preset: str | None = None
    published: dict | None = None

    def __post_init__(self):
        check_one_of("model", self.model, available_models())
        check_one_of("dataset", self.dataset, DATASETS)
        check_one_of("binarize", self.binarize, BINARIZE)
        check_one_of("strategy", self.strategy, STRATEGIES)
        for name in (
            "batch_size",
            "epochs",
            "steps_per_execution",
            "eval_num_samples",
            "eval_batch_size",
        ):
            check_positive(name, getattr(self, name), integer=True)
        check_learning_rate(self.learning_rate)
        check_adam(self.adam)
        m = self.ema_momentum
        if m is not None and (isinstance(m, bool) or not isinstance(m, int | float) or not 0 < m < 1):
            raise ValueError(f"Expected `ema_momentum` in (0, 1) or None. Received: ema_momentum={m!r}")
        if self.patience is not None:
            check_positive("patience", self.patience, integer=True)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - fields
        if unknown:
            raise ValueError(f"Unknown config keys {sorted(unknown)}; expected a subset of {sorted(fields)}.")
        return cls(**values)

    def replace(self, **changes) -> TrainConfig:
        return TrainConfig.from_dict({**dataclasses.asdict(self), **changes})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
