import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keraszoo.models import build_model
from keraszoo.recipes import available_recipes, get_config
from keraszoo.recipes.train import main
from keraszoo.training import TrainConfig

# One example's shape per dataset, so recipes build their models without reading data.
DATA_SHAPES = {
    "digits": (8, 8, 1),
    "binarized_mnist": (28, 28, 1),
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}


@pytest.mark.parametrize("name", available_recipes())
@pytest.mark.parametrize("smoke", [False, True])
def test_every_recipe_builds_its_model(name, smoke):
    config = TrainConfig.from_dict(get_config(name, smoke=smoke))
    shape = DATA_SHAPES[config.dataset]
    model = build_model(config.model, data_shape=shape, seed=config.seed, **config.model_config)
    assert model.get_config()["data_shape"] == list(shape)
    if smoke:  # the smoke model also runs: a finite ELBO on a binary batch
        x = (np.random.default_rng(0).random((2,) + shape) > 0.5).astype("float32")
        assert np.all(np.isfinite(model.elbo(x, seed=0)["elbo"].numpy()))


def test_list_and_unknown_recipe(capsys):
    assert main(["--list"]) == 0
    assert "gaussian_vae_digits" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Received: recipe='nope'"):
        get_config("nope")
    assert main(["nope"]) == 2
    assert "Received: recipe='nope'" in capsys.readouterr().err


def test_offline_dataset_error_is_one_clear_message(capsys, tmp_path):
    code = main(
        [
            "gaussian_vae_mnist",
            "--smoke",
            "--no-download",
            "--data-dir",
            str(tmp_path),
            "--workdir",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: Dataset 'binarized_mnist' cannot be loaded")
    assert "Traceback" not in err and "--dataset digits" in err


def test_missing_data_file_is_a_clear_error(capsys, tmp_path):
    code = main(
        [
            "gaussian_vae_mnist",
            "--smoke",
            "--data-file",
            str(tmp_path / "x.npz"),
            "--workdir",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2 and "No such .npz file" in capsys.readouterr().err


def test_a_recipe_exports_under_its_own_name(tmp_path):
    args = [
        "gaussian_vae_digits",
        "--smoke",
        "--workdir",
        str(tmp_path / "run"),
        "--export-dir",
        str(tmp_path / "e"),
        *("--batch-size", "648", "--set", "pictures=false"),  # 2 steps an epoch; neither is checked
    ]
    assert main(args) == 0
    assert os.listdir(tmp_path / "e") == ["gaussian_vae_digits"]
    assert main([*args, "--set", "export_name=mine"]) == 0  # resumes the finished run, exports again
    assert sorted(os.listdir(tmp_path / "e")) == ["gaussian_vae_digits", "mine"]


def test_set_overrides_config_fields_and_model_arguments():
    from keraszoo.recipes.train import apply_overrides

    config = TrainConfig.from_dict(get_config("gaussian_vae_digits", smoke=True))
    overrides = ["model_config.posterior=gamma", "epochs=3", "model_config.num_samples=4"]
    changed = apply_overrides(config, overrides)
    assert changed.model_config["posterior"] == "gamma" and changed.model_config["num_samples"] == 4
    assert changed.epochs == 3 and config.epochs == 2
    with pytest.raises(ValueError, match="Expected --set KEY=VALUE"):
        apply_overrides(config, ["epochs"])
    with pytest.raises(ValueError, match=r"Unknown config keys \['epoch'\]"):
        apply_overrides(config, ["epoch=3"])


def _run_outside_repo(tmp_path, *args):
    """Runs `args` with this interpreter from `tmp_path` (not the repository), so only the
    installed `keraszoo.recipes` (pyproject package-dir mapping) can be imported."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run(
        list(args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_help_has_a_description_and_lists_recipes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m keraszoo.recipes.train")
    assert "Train a keraszoo recipe" in out and "examples:" in out
    assert all(name in out for name in available_recipes())


def test_module_cli_runs_from_any_directory(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    assert repo not in tmp_path.resolve().parents
    help_run = _run_outside_repo(tmp_path, sys.executable, "-m", "keraszoo.recipes.train", "--help")
    assert help_run.returncode == 0, help_run.stderr
    usage, _, rest = help_run.stdout.partition("\n\n")
    description = rest.split("\n\n", 1)[0].strip()
    assert usage.startswith("usage: python -m keraszoo.recipes.train")
    assert description.startswith("Train a keraszoo recipe"), help_run.stdout
    assert all(name in help_run.stdout for name in available_recipes())
    assert "python -m keraszoo.recipes.train gaussian_vae_digits" in help_run.stdout

    list_run = _run_outside_repo(tmp_path, sys.executable, "-m", "keraszoo.recipes.train", "--list")
    assert list_run.returncode == 0, list_run.stderr
    assert list_run.stdout.split() == available_recipes()


def test_console_script(tmp_path):
    script = Path(sys.executable).with_name("keraszoo-train")
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e . installs it)")
    run = _run_outside_repo(tmp_path, str(script), "--list")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == available_recipes()
    unknown = _run_outside_repo(tmp_path, str(script), "nope")
    assert unknown.returncode == 2 and "Received: recipe='nope'" in unknown.stderr
