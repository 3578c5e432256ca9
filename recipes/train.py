"""Command line: train a recipe, evaluate it, export a SavedModel and write pictures.

python -m keraszoo.recipes.train gaussian_vae_digits --workdir runs/demo
python -m keraszoo.recipes.train gaussian_vae_mnist --data-file data/binarized_mnist.npz --epochs 50
python -m keraszoo.recipes.train --list

`keraszoo-train` (a console script installed with the package) is the same command.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from keraszoo.recipes import available_recipes, get_config

CONSOLE_SCRIPT = "keraszoo-train"

DESCRIPTION = """\
Train a keraszoo recipe under tf.distribute (an existing workdir is resumed), evaluate -ELBO and
the importance-weighted NLL on the test split, export a TF Serving SavedModel and write sample,
reconstruction and training-curve pictures. The strategy is `auto` unless --strategy says
otherwise: MirroredStrategy over this host's GPUs when there are two or more, else none."""

EPILOG = """recipes:
  {recipes}

examples:
  python -m keraszoo.recipes.train --list
  python -m keraszoo.recipes.train gaussian_vae_digits --workdir runs/demo
  python -m keraszoo.recipes.train gaussian_vae_digits --smoke --no-export
  python -m keraszoo.recipes.train gaussian_vae_mnist --data-file data/binarized_mnist.npz --epochs 50
  python -m keraszoo.recipes.train gaussian_vae_mnist --data-dir ~/tensorflow_datasets --no-download
  python -m keraszoo.recipes.train continuous_vae_digits --set model_config.posterior=kumaraswamy

--data-file reads an .npz with arrays train, valid and test of shape (n, H, W) or (n, H, W, C),
values {{0, 1}} or uint8 0..255, as np.savez(path, train=..., valid=..., test=...) writes it
(README.md, "Data", shows how to build the binarized MNIST one from TFDS).

TensorFlow's C++ start-up lines are hidden unless --verbose (or TF_CPP_MIN_LOG_LEVEL below 2).
The console script `keraszoo-train` takes the same arguments."""


def apply_overrides(config, assignments):
    """Applies `KEY=VALUE` strings; `model_config.NAME=VALUE` sets one model argument."""
    values = config.to_dict()
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep:
            raise ValueError(f"Expected --set KEY=VALUE. Received: --set {assignment!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key.startswith("model_config."):
            values["model_config"] = {**values["model_config"], key.split(".", 1)[1]: value}
        else:
            values[key] = value
    return type(config).from_dict(values)


def _prog() -> str:
    """`keraszoo-train` when run as the console script, else the `python -m` form."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return CONSOLE_SCRIPT if script.startswith(CONSOLE_SCRIPT) else "python -m keraszoo.recipes.train"


def make_parser() -> argparse.ArgumentParser:
    """The parser: the recipe, the CLI's own flags, and one flag per config field that declares a
    help text (`keraszoo.training.config.add_flags`). Imports no TensorFlow."""
    from keraszoo._cli import ArgumentParser
    from keraszoo.training.config import add_flags

    parser = ArgumentParser(
        prog=_prog(),
        description=DESCRIPTION,
        epilog=EPILOG.format(recipes="\n  ".join(available_recipes())),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", nargs="?", help=f"one of {available_recipes()}")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.add_argument(
        "--workdir",
        default=None,
        help="run directory (resumed if it exists); default runs/<recipe>",
    )
    parser.add_argument("--smoke", action="store_true", help="the recipe's small, fast variant")
    parser.add_argument("--no-export", action="store_true", help="no SavedModel export")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field or a model_config entry, e.g. --set model_config.posterior=gamma "
        "--set model_config.estimator=reinforce (VALUE is parsed as JSON when it can be)",
    )
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's C++ start-up lines")
    add_flags(parser)
    return parser


def configure(args) -> object:
    """The recipe's config with the command line's changes; raises ValueError naming a bad one."""
    from keraszoo.training import TrainConfig
    from keraszoo.training.config import flag_changes

    config = TrainConfig.from_dict(get_config(args.recipe, smoke=args.smoke))
    changes = flag_changes(args)
    if args.data_file:
        changes["dataset"] = "npz"
    config = config.replace(**changes)
    if config.export_name is None:  # a recipe's export is loaded by the recipe's name
        config = config.replace(export_name=args.recipe)
    if args.no_export:
        config = config.replace(export_dir=None)
    return apply_overrides(config, args.set)


def main(argv=None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.list or not args.recipe:
        print("\n".join(available_recipes()))
        return 0

    from keraszoo._cli import error, import_tensorflow

    import_tensorflow(verbose=args.verbose)
    from keraszoo.data import DatasetUnavailableError
    from keraszoo.training import train_and_evaluate

    try:
        config = configure(args)
        command = shlex.join(
            ["python", "-m", "keraszoo.recipes.train", *(sys.argv[1:] if argv is None else argv)]
        )
        results = train_and_evaluate(config, args.workdir or f"runs/{args.recipe}", command=command)
    except (ValueError, DatasetUnavailableError, FileNotFoundError) as err:
        return error(err)
    if not results["chief"]:
        print(f"Worker done: the chief wrote the results, pictures and export under {results['workdir']}.")
        return 0
    print(json.dumps({k: results[k] for k in ("test", "workdir") if k in results}, indent=2))
    for name, path in results.get("pictures", {}).items():
        print(f"{name:>16}: {path}")
    if "export" in results:
        print(f"{'export':>16}: {results['export']}")
    print(f"{'tensorboard':>16}: tensorboard --logdir {results['workdir']}/tensorboard")
    return 0


if __name__ == "__main__":
    sys.exit(main())
