"""The command lines: quiet (no TensorFlow start-up lines), quick to answer --help and --list (no
TensorFlow import), and one `error:` line for a mistake."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keraszoo import GaussianVAE, _cli
from keraszoo.diagnostics import gradients
from keraszoo.training import TrainConfig
from tests.conftest import small_vae_config

REPO = Path(__file__).resolve().parents[1]


def _python(*args, env=None, timeout=120):
    """`python ARGS` from the repository root (its keraszoo first on the path), with the
    user's environment minus the test suite's TF_CPP_MIN_LOG_LEVEL."""
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "TF_CPP_MIN_LOG_LEVEL" or env}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "keraszoo.recipes.train", "--help"],
        ["-m", "keraszoo.recipes.train", "--list"],
        ["-m", "keraszoo.diagnostics.gradients", "--help"],
    ],
)
def test_help_and_list_do_not_import_tensorflow(command):
    run = _python("-X", "importtime", *command)
    assert run.returncode == 0, run.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    assert "keraszoo" in imported and "tensorflow" not in imported and "keras" not in imported


def test_a_mistake_is_one_error_line_without_tensorflow_start_up_lines():
    """TensorFlow is imported (a config is validated after it), yet the standard error holds
    exactly our one line: no "Could not find cuda drivers", absl or cuInit lines."""
    run = _python("-m", "keraszoo.recipes.train", "gaussian_vae_digits", "--smoke", "--set", "epoch=3")
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "error: Unknown config keys ['epoch']; expected a subset of "
        + str(sorted(f.name for f in dataclasses.fields(TrainConfig)))
        + "."
    ], run.stderr


def test_stderr_captured_drops_output_or_replays_it_on_error(capfd):
    with _cli.stderr_captured():
        os.write(2, b"start-up noise\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError), _cli.stderr_captured():
        os.write(2, b"why the import failed\n")
        raise RuntimeError("import failed")
    assert capfd.readouterr().err == "why the import failed\n"
    os.write(2, b"after\n")  # the real standard error is back
    assert capfd.readouterr().err == "after\n"


@pytest.mark.parametrize(
    "verbose, user_level, hidden, level",
    [
        (False, None, True, "2"),  # by default: hidden, C++ warnings and information off
        (True, None, False, "0"),  # --verbose: everything
        (False, "0", False, "0"),  # the user's own setting is kept and shows them
        (False, "3", True, "3"),
    ],
)
def test_the_start_up_lines_are_hidden_unless_asked_for(verbose, user_level, hidden, level):
    environ = {} if user_level is None else {"TF_CPP_MIN_LOG_LEVEL": user_level}
    assert _cli.hides_start_up_lines(verbose, environ) is hidden
    assert environ["TF_CPP_MIN_LOG_LEVEL"] == level


@pytest.mark.parametrize(
    "argv, command, help_only, verbose",
    [
        (["-m", "--help"], True, True, False),  # python -m keraszoo.X --help, while imported
        (["/venv/bin/keraszoo-train", "--list"], True, True, False),
        (["-m", "gaussian_vae_digits", "--verbose"], True, False, True),
        (["/usr/bin/pytest", "--help"], False, False, False),  # not ours: the usual import
        (["train.py", "--list"], False, False, False),
    ],
)
def test_which_processes_are_our_commands(argv, command, help_only, verbose):
    assert _cli.invoked_as_command(argv) is command
    assert _cli.answering_help_only(argv) is help_only
    assert _cli.verbose_requested(argv) is verbose


# ---------------------------------------------------------------------------------------------
# diagnostics.gradients


@pytest.fixture
def saved_model(tmp_path):
    path = str(tmp_path / "vae.keras")
    GaussianVAE(**small_vae_config()).save(path)
    return path


@pytest.mark.parametrize(
    "model, message",
    [
        ("model.kera", "Expected a .keras file saved by a zoo model. Received: --model 'model.kera'"),
        ("missing.keras", "No such file. Received: --model 'missing.keras'"),
        ("broken.keras", "Cannot load --model 'broken.keras' ("),
    ],
)
def test_gradients_cli_answers_a_bad_model_in_one_line(model, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.keras").write_bytes(b"PK\x03\x04 truncated")
    assert gradients.main(["--model", model]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + message) and err.count("\n") == 1, err


def test_gradients_cli_passes_no_download(saved_model, monkeypatch, capsys):
    import keraszoo.data

    calls = []

    def offline(name, split, **kwargs):
        calls.append((name, split, kwargs["download"]))
        raise keraszoo.data.DatasetUnavailableError("not prepared and download=False")

    monkeypatch.setattr(keraszoo.data, "load_split", offline)
    assert gradients.main(["--model", saved_model, "--dataset", "mnist", "--no-download"]) == 2
    assert calls == [("mnist", "test", False)]
    assert capsys.readouterr().err == "error: not prepared and download=False\n"
    assert gradients.main(["--model", saved_model, "--repeats", "0"]) == 2
    assert "Received: repeats=0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "module, argv, message",
    [
        (
            "keraszoo.recipes.train",
            ["gaussian_vae_digits", "--bogus"],
            "unrecognized arguments: --bogus",
        ),
        (
            "keraszoo.recipes.train",
            ["gaussian_vae_digits", "--epoch", "1"],
            "unrecognized arguments: --epoch 1",
        ),
        ("keraszoo.diagnostics.gradients", [], "the following arguments are required: --model"),
        ("keraszoo.presets.__main__", ["pack"], "the following arguments are required: --out"),
        ("keraszoo.viz", ["smoothin"], "argument figure: invalid choice: 'smoothin'"),
    ],
)
def test_an_argument_mistake_is_one_error_line(module, argv, message, capsys):
    import importlib

    with pytest.raises(SystemExit) as stopped:
        importlib.import_module(module).main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert err.startswith(f"error: {message}") and err.count("\n") == 1 and "usage:" not in err, err
    assert err.rstrip().endswith("--help`)")
