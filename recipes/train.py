"""Command line: train a recipe, evaluate it, export a SavedModel and write pictures.

python -m keraszoo.recipes.train gaussian_vae_digits --workdir runs/demo
python -m keraszoo.recipes.train gaussian_vae_mnist --data-file shared/data/binarized_mnist.npz --epochs 5
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
Train a keraszoo recipe under tf.distribute.MirroredStrategy (an existing workdir is resumed),
evaluate -ELBO and the importance-weighted NLL on the test split, export a TF Serving
SavedModel and write sample, reconstruction and training-curve pictures."""

EPILOG = """recipes:
  {recipes}

examples:
  python -m keraszoo.recipes.train --list
  python -m keraszoo.recipes.train gaussian_vae_digits --workdir runs/demo
  python -m keraszoo.recipes.train gaussian_vae_digits --smoke --no-export
  python -m keraszoo.recipes.train gaussian_vae_mnist --data-file shared/data/binarized_mnist.npz --epochs 5
  python -m keraszoo.recipes.train gaussian_vae_mnist --data-dir ~/tensorflow_datasets --no-download
  python -m keraszoo.recipes.train continuous_vae_digits --set model_config.posterior=kumaraswamy

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
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
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--dataset")
    parser.add_argument("--data-dir", help="TFDS data directory with the prepared dataset")
    parser.add_argument("--data-file", help="local .npz with arrays train/valid/test (sets --dataset npz)")
    parser.add_argument("--no-download", action="store_true", help="never try to download a TFDS dataset")
    parser.add_argument(
        "--export-dir",
        help="SavedModel base directory (default runs/exports/, git-ignored; exports/ holds the "
        "shipped presets)",
    )
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--jit-compile", action="store_true", help="compile the train step with XLA")
    parser.add_argument(
        "--strategy",
        choices=["auto", "mirrored", "multi_worker", "default"],
        help="tf.distribute strategy: auto (the default: mirrored over this host's GPUs when "
        "there are two or more, else none), mirrored (this host's GPUs, or the CPU), "
        "multi_worker (the cluster in TF_CONFIG; start the same command on every worker) or "
        "default (none)",
    )
    parser.add_argument("--eval-num-samples", type=int, help="k of the importance-weighted NLL")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--init-from-preset",
        metavar="NAME[:VERSION]",
        help="fine-tune: start from a preset's weights (keraszoo.list_presets(); newest version "
        "unless VERSION is given)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field or a model_config entry, e.g. --set model_config.posterior=gamma "
        "--set model_config.estimator=reinforce (VALUE is parsed as JSON when it can be)",
    )
    args = parser.parse_args(argv)
    if args.list or not args.recipe:
        print("\n".join(available_recipes()))
        return 0

    from keraszoo.data import DatasetUnavailableError
    from keraszoo.training import TrainConfig, train_and_evaluate

    try:
        config = TrainConfig.from_dict(get_config(args.recipe, smoke=args.smoke))
        changes = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "dataset": "npz" if args.data_file else args.dataset,
            "data_dir": args.data_dir,
            "data_file": args.data_file,
            "export_dir": args.export_dir,
            "eval_num_samples": args.eval_num_samples,
            "seed": args.seed,
            "init_from_preset": args.init_from_preset,
            "jit_compile": args.jit_compile or None,
            "strategy": args.strategy,
        }
        if args.no_download:
            changes["download"] = False
        config = config.replace(**{k: v for k, v in changes.items() if v is not None})
        if config.export_name is None:  # a recipe's export is loaded by the recipe's name
            config = config.replace(export_name=args.recipe)
        if args.no_export:
            config = config.replace(export_dir=None)
        config = apply_overrides(config, args.set)
        command = shlex.join(
            ["python", "-m", "keraszoo.recipes.train", *(sys.argv[1:] if argv is None else argv)]
        )
        results = train_and_evaluate(config, args.workdir or f"runs/{args.recipe}", command=command)
    except (ValueError, DatasetUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
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
