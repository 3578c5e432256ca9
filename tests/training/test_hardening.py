"""Bad training inputs fail before any work, with one line naming the argument and value."""

import json
import os

import pytest

from keraszoo import DVAE, VQVAE, CategoricalVAE, GaussianVAE
from keraszoo.recipes import get_config
from keraszoo.recipes.train import main
from keraszoo.training import TrainConfig, train_and_evaluate
from keraszoo.training.train import check_resume


def _cli(tmp_path, *extra):
    return main(["gaussian_vae_digits", "--smoke", "--workdir", str(tmp_path / "run"), *extra])


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_no_model_ignores_a_config_key(tmp_path, capsys):
    assert _cli(tmp_path, "--no-export", "--set", "model_config.posterior=gamma") == 2
    line = _one_error_line(capsys)
    assert "`gaussian_vae` fixes the posterior to 'gaussian'; use `continuous_vae`" in line
    assert "Received: posterior='gamma'" in line
    assert not os.path.exists(tmp_path / "run" / "backup")  # nothing was trained
    config = dict(data_shape=(8, 8, 1), encoder={"name": "mlp", "hidden_units": [8]})
    with pytest.raises(ValueError, match="Received: prior='laplace'"):
        GaussianVAE(**config, prior="laplace")
    with pytest.raises(ValueError, match="num_variables × num_classes = 200.*Received: latent_dim=7"):
        CategoricalVAE(**config, latent_dim=7)
    resnet = {"name": "resnet", "filters": 8, "residual_units": 4, "num_residual": 1}
    with pytest.raises(ValueError, match="Received: num_latents=3"):
        VQVAE(data_shape=(8, 8, 1), encoder=resnet, num_codes=4, code_dim=2, num_latents=3)
    small = {"data_shape": (8, 8, 1), "encoder": {"name": "mlp", "hidden_units": [8]}}
    with pytest.raises(ValueError, match="Received: base=2.0, smoothing='f3'"):
        DVAE(**small, latent_dim=4, smoothing="f3", base=2.0)
    with pytest.raises(ValueError, match="Received: decay=0.9, ema=False"):
        VQVAE(data_shape=(8, 8, 1), encoder=resnet, num_codes=4, code_dim=2, ema=False, decay=0.9)
    for model in (
        CategoricalVAE(**small, num_variables=2, num_classes=3, estimator="straight_through"),
        DVAE(**small, latent_dim=4, smoothing="f3"),
        VQVAE(data_shape=(8, 8, 1), encoder=resnet, num_codes=4, code_dim=2, ema=False),
    ):
        assert type(model).from_config(model.get_config()).get_config() == model.get_config()
    # Saved configs (which carry the fixed and derived keys) still load.
    model = GaussianVAE(**config)
    assert GaussianVAE.from_config(model.get_config()).get_config() == model.get_config()


def test_unwritable_export_dir_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    assert _cli(tmp_path, "--export-dir", str(blocker / "exports")) == 2
    line = _one_error_line(capsys)
    assert "Cannot write to `export_dir`" in line and f"Received: export_dir='{blocker / 'exports'}'" in line
    assert not os.path.exists(tmp_path / "run" / "backup")


@pytest.mark.slow
def test_resume_refuses_another_config_but_allows_more_epochs(tmp_path):
    config = TrainConfig.from_dict(get_config("gaussian_vae_digits", smoke=True)).replace(
        export_dir=None, pictures=False, epochs=1
    )
    workdir = str(tmp_path / "run")
    train_and_evaluate(config, workdir, verbose=0)
    other = config.replace(model_config={**config.model_config, "latent_dim": 3}, seed=5)
    with pytest.raises(
        ValueError, match=r"another config.*model_config: .*'latent_dim': 8.*; seed: 0 \(saved\) != 5"
    ):
        train_and_evaluate(other, workdir, verbose=0)
    with pytest.raises(ValueError, match="dataset: 'digits' \\(saved\\) != 'npz'"):
        train_and_evaluate(config.replace(dataset="npz", data_file="x.npz"), workdir, verbose=0)
    results = train_and_evaluate(config.replace(epochs=2, eval_num_samples=4), workdir, verbose=0)
    assert results["test"]["num_samples"] == 4


@pytest.mark.slow
def test_progress_is_one_line_per_epoch_in_a_log(tmp_path, capsys):
    config = TrainConfig.from_dict(get_config("gaussian_vae_digits", smoke=True)).replace(
        export_dir=None, pictures=False
    )
    train_and_evaluate(config, str(tmp_path / "run"), verbose=1)  # pytest's stdout is not a terminal
    out = capsys.readouterr().out
    assert "\r" not in out and "\x08" not in out, repr(out[:300])
    assert out.count("Epoch 1/2") == 1 and out.count("Epoch 2/2") == 1


def test_resume_reads_a_field_the_saved_config_predates_as_its_default(tmp_path):
    """A work directory written before `TrainConfig.adam` existed resumes with adam={}, and
    refuses another Adam (which would change the run)."""
    config = TrainConfig()
    saved = config.to_dict()
    del saved["adam"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    check_resume(config, str(tmp_path))  # no error
    with pytest.raises(ValueError, match=r"adam: \{\} \(saved\) != \{'beta_1': 0.99\} \(given\)"):
        check_resume(config.replace(adam={"beta_1": 0.99}), str(tmp_path))
