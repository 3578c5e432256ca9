"""README.md's Python snippets and command-line examples, run at a smoke budget, so that the
walkthrough cannot drift from the code.

Every ```python block runs, in order, in one namespace that starts with `import keraszoo`, with
the budget substitutions of SMOKE_PYTHON (fewer epochs and samples; a shipped preset for the
"NAME" placeholder). Every command of a ```bash block is classified by `plan_command`: it runs
through its module's `main` at a smoke budget (the recipe's `--smoke` variant, no export), or
is skipped with the reason. A command that no rule knows fails the test, so a new example must
be classified here. Everything runs in ONE subprocess from a temporary directory, so
TensorFlow starts once and relative paths (`runs/demo`) land there.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_NPZ

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

SMOKE_PYTHON = [  # (pattern, replacement) applied to every Python snippet
    (r"epochs=\d+", "epochs=1"),
    (r"num_samples=\d+", "num_samples=16"),
    (r'"NAME"', '"gaussian_vae_digits"'),
]
SMOKE_TRAIN = [
    *("--smoke", "--epochs", "1", "--no-export", "--eval-num-samples", "2"),
    *("--set", "pictures=false", "--set", "eval_max_examples=16"),
]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def commands(block: str) -> list[list[str]]:
    """The commands of a shell block: continuation lines and quoted newlines joined, comments
    dropped."""
    found, current = [], ""
    for line in block.splitlines():
        current = f"{current}\n{line}" if current else line
        if current.endswith("\\"):
            current = current[:-1]
            continue
        try:
            argv = shlex.split(current, comments=True)
        except ValueError:  # an open quotation: the command goes on
            continue
        if argv:
            found.append(argv)
        current = ""
    return found


def _replace_option(argv, option, value):
    i = argv.index(option)
    return [*argv[: i + 1], value, *argv[i + 2 :]]


def _without_option(argv, option):
    if option not in argv:
        return argv
    i = argv.index(option)
    return [*argv[:i], *argv[i + 2 :]]


def _mnist_subset(tmp: Path) -> str:
    """The binarized MNIST .npz cut to one training batch (1000) and 100 examples per evaluation
    split: the file format and shapes of the real one, at a smoke budget (the whole file's one
    epoch is 50 steps)."""
    import numpy as np

    path = tmp / "binarized_mnist.npz"
    if not path.exists():
        with np.load(SHARED_NPZ) as full:
            np.savez(path, train=full["train"][:1000], valid=full["valid"][:100], test=full["test"][:100])
    return str(path)


def plan_command(argv: list[str], tmp: Path) -> dict:
    """{"module", "argv", "expect_rc"} to run, or {"skip": reason}."""
    text = shlex.join(argv)
    if argv[:1] == ["make"]:
        return {"skip": "`make` builds a virtualenv; CI runs `make test`, and `make demo` trains the default "
                "recipe as the gaussian_vae_digits example below does"}  # fmt: skip
    if "=" in argv[0] and argv[0].split("=")[0].isupper():  # TF_CONFIG=... python ...
        return {"skip": "needs two hosts; tests/training/test_multi_worker.py runs these commands on two "
                "local workers"}  # fmt: skip
    if argv[0] in ("saved_model_cli", "docker", "curl"):
        return {
            "skip": "TF Serving: tests/export/test_rest_examples.py runs these requests against the preset"
        }
    if argv[0].endswith("python") and argv[1:2] == ["-c"]:
        return {"skip": "builds the MNIST .npz from TFDS: needs a network"}
    if argv[0].endswith("python") and argv[1].startswith("benchmarks/"):
        return {"skip": "benchmarks run outside the test suite (minutes to hours each)"}
    if argv[0] == "export":
        return {
            "skip": "points an installed package at served presets; tests/presets/test_wheel.py does that"
        }
    if argv[0] != "python" or argv[1] != "-m":
        raise AssertionError(f"README command not classified in tests/test_readme.py: {text}")
    module, args = argv[2], argv[3:]
    if module == "keraszoo.recipes.train":
        if "--list" in args:
            return {"module": module, "argv": args, "expect_rc": 0}
        args = _without_option(args, "--epochs")
        if "--data-file" in args:
            if not os.path.exists(SHARED_NPZ):
                return {
                    "skip": f"needs the binarized MNIST .npz ({SHARED_NPZ}, or $KERASZOO_BINARIZED_MNIST)"
                }
            args = [*_replace_option(args, "--data-file", _mnist_subset(tmp)), "--batch-size", "1000"]
        if "--no-download" in args:  # an unprepared TFDS directory: the documented one-line error
            args = _replace_option(args, "--data-dir", str(tmp / "tfds"))
            return {"module": module, "argv": [*args, *SMOKE_TRAIN], "expect_rc": 2}
        return {"module": module, "argv": [*args, *SMOKE_TRAIN], "expect_rc": 0}
    if module == "keraszoo.presets":  # the package's command line is its __main__
        if "--out" in args:
            args = _replace_option(args, "--out", str(tmp / "presets"))
        return {"module": "keraszoo.presets.__main__", "argv": args, "expect_rc": 0}
    if module == "keraszoo.viz":
        return {
            "module": module,
            "argv": _replace_option(args, "--out", str(tmp / "figures")),
            "expect_rc": 0,
        }
    if module == "keraszoo.diagnostics.gradients":  # the model the demo example trained (runs/demo)
        args = _replace_option(args, "--repeats", "2") if "--repeats" in args else [*args, "--repeats", "2"]
        args = [*args, "--reference-samples", "10", "--batch-size", "8"]
        return {"module": module, "argv": args, "expect_rc": 0}
    raise AssertionError(f"README command not classified in tests/test_readme.py: {text}")


DRIVER = r"""
import contextlib, importlib, io, json, sys, time, traceback
plan = json.load(open(sys.argv[1]))
namespace = {}
exec("import keraszoo", namespace)
results = []
for step in plan:
    err, start = io.StringIO(), time.perf_counter()
    try:
        with contextlib.redirect_stderr(err):
            if "code" in step:
                exec(compile(step["code"], step["name"], "exec"), namespace)
                rc = 0
            else:
                rc = importlib.import_module(step["module"]).main(step["argv"])
    except SystemExit as exit:
        rc = exit.code
    except Exception:
        rc, err = "exception", io.StringIO(err.getvalue() + traceback.format_exc())
    seconds = time.perf_counter() - start
    results.append({"name": step["name"], "rc": rc, "stderr": err.getvalue(), "seconds": seconds})
print("RESULTS " + json.dumps(results))
"""


@pytest.mark.slow
def test_readme_snippets_and_commands_run(tmp_path):
    plan, skipped = [], []
    for i, block in enumerate(code_blocks("python")):
        for pattern, replacement in SMOKE_PYTHON:
            block = re.sub(pattern, replacement, block)
        plan.append({"name": f"python snippet {i + 1}", "code": block})
    for block in code_blocks("bash"):
        for argv in commands(block):
            step = plan_command(argv, tmp_path)
            if "skip" in step:
                skipped.append((shlex.join(argv), step["skip"]))
            else:
                plan.append({"name": shlex.join(argv), **step})
    # The diagnostics read the model the demo example trains (a later section): they run last.
    plan.sort(key=lambda step: step.get("module") == "keraszoo.diagnostics.gradients")
    # The walkthrough's core is run, not skipped: the library snippet, the demo, the diagnostics.
    names = [s["name"] for s in plan]
    assert any("recipes.train gaussian_vae_digits" in n for n in names)
    assert any("diagnostics.gradients" in n for n in names) and names[0] == "python snippet 1"
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env["TFDS_DATA_DIR"] = str(tmp_path / "tfds")
    run = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path / "plan.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, run.stdout[-3000:] + run.stderr[-3000:]
    results = {r["name"]: r for r in json.loads(lines[-1][len("RESULTS ") :])}
    failures = [
        f"{step['name']}: exit {results[step['name']]['rc']} (expected {step.get('expect_rc', 0)})\n"
        f"{results[step['name']]['stderr'][-2000:]}"
        for step in plan
        if results[step["name"]]["rc"] != step.get("expect_rc", 0)
    ]
    assert not failures, "\n\n".join(failures)
    for step in plan:
        if step.get("expect_rc") == 2:  # one `error:` line, and what to do instead
            assert results[step["name"]]["stderr"].startswith("error: "), results[step["name"]]
    print("\n".join(f"{r['seconds']:6.1f} s  {name}" for name, r in results.items()))
    if skipped:
        print("\n".join(f"skipped: {command} ({reason})" for command, reason in skipped))


def test_command_parsing():
    block = "python -m a --x 1 \\\n    --y 2   # a comment\nTF_CONFIG='{\"a\": 1}' \\\n  python -m b\n"
    assert commands(block) == [
        ["python", "-m", "a", "--x", "1", "--y", "2"],
        ['TF_CONFIG={"a": 1}', "python", "-m", "b"],
    ]
    assert commands("python -c '\nimport os\nprint(1)'\n") == [["python", "-c", "\nimport os\nprint(1)"]]
    with pytest.raises(AssertionError, match="not classified"):
        plan_command(["ls", "-l"], Path("/tmp"))
