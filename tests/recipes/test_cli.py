import pytest

from keraszoo.training import TrainConfig
from recipes import available_recipes, get_config
from recipes.train import main


@pytest.mark.parametrize("name", available_recipes())
@pytest.mark.parametrize("smoke", [False, True])
def test_every_recipe_is_a_valid_config(name, smoke):
    config = TrainConfig.from_dict(get_config(name, smoke=smoke))
    assert config.model and config.dataset


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


def test_set_overrides_config_fields_and_model_arguments():
    from recipes.train import apply_overrides

    config = TrainConfig.from_dict(get_config("gaussian_vae_digits", smoke=True))
    overrides = ["model_config.posterior=gamma", "epochs=3", "model_config.num_samples=4"]
    changed = apply_overrides(config, overrides)
    assert changed.model_config["posterior"] == "gamma" and changed.model_config["num_samples"] == 4
    assert changed.epochs == 3 and config.epochs == 2
    with pytest.raises(ValueError, match="Expected --set KEY=VALUE"):
        apply_overrides(config, ["epochs"])
    with pytest.raises(ValueError, match=r"Unknown config keys \['epoch'\]"):
        apply_overrides(config, ["epoch=3"])
