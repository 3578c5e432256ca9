"""Which files the training config visits on its way from the command line to the fit loop.

    python tools/config_walk.py [RECIPE]        # default: gaussian_vae_digits, at its smoke budget

Records every call made under `keraszoo.recipes.train.main` whose frame holds the `TrainConfig`,
in this checkout's files; consecutive calls in one file are one stay. Prints the number of files,
stays and returns (stays − files: visits to a file already left), then the stays in order.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def main(recipe: str = "gaussian_vae_digits") -> None:
    from keraszoo.training import TrainConfig

    calls = []

    def record(frame, event, arg):
        path = frame.f_code.co_filename
        if event == "call" and path.startswith(ROOT) and "/tests/" not in path:
            if any(isinstance(v, TrainConfig) for v in frame.f_locals.values()):
                calls.append((path[len(ROOT) :], frame.f_code.co_name))

    train = importlib.import_module("keraszoo.recipes.train")
    with tempfile.TemporaryDirectory() as workdir:
        argv = [recipe, "--smoke", "--no-export", "--workdir", workdir, "--set", "pictures=false"]
        sys.setprofile(record)
        try:
            train.main(argv)
        finally:
            sys.setprofile(None)
    stays = []
    for path, function in calls:
        if not stays or stays[-1][0] != path:
            stays.append((path, [function]))
        elif function not in stays[-1][1]:
            stays[-1][1].append(function)
    files = {path for path, _ in stays}
    print(f"{len(files)} files, {len(stays)} stays, {len(stays) - len(files)} returns")
    for path, functions in stays:
        print(f"  {path}: {', '.join(functions)}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
