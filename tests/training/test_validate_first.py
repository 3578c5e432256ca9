"""Validate, then write: a config that fails, in any of its sections, leaves the work directory
as it was, so that the corrected command runs there; and the config's own declarations (the
resumable fields, the command-line flags) come from its fields."""

import argparse
import dataclasses
import json
import os

import pytest

from keraszoo.data import BINARIZE, DATASETS, known_data_shape, load_split
from keraszoo.recipes.train import main, make_parser
from keraszoo.training.config import (
    BINARIZE_CHOICES,
    STRATEGIES,
    TrainConfig,
    add_flags,
    flag_changes,
    flag_of,
    resumable_fields,
)
from keraszoo.training.train import check_resume

FAST = ["--no-export", "--set", "pictures=false", "--eval-num-samples", "2"]


def _tree(path):
    """Every file and directory under `path` (None if it does not exist)."""
    if not os.path.exists(path):
        return None
    return sorted(os.path.relpath(os.path.join(d, n), path) for d, ds, fs in os.walk(path) for n in ds + fs)


# One mistake in each section of the config, on the command line.
MISTAKES = {
    "the issue's reproduction (a model_config value)": ["--set", "model_config.estimator=reinfroce"],
    "an unknown config key": ["--set", "epoch=3"],
    "a config value": ["--set", "binarize=sometimes"],
    "a config flag": ["--batch-size", "0"],
    "an unknown model_config key": ["--set", "model_config.posteror=gamma"],
    "a nested model_config entry": ["--set", 'model_config.encoder={"name": "mlp", "hidden_unit": [8]}'],
    "an adam key": ["--set", 'adam={"beta1": 0.9}'],
    "a learning-rate schedule key": ["--set", 'learning_rate={"name": "staged", "start": 0.001}'],
    "a learning-rate value": ["--set", "learning_rate=-1"],
    "ema_momentum": ["--set", "ema_momentum=1.5"],
    "a preset to start from": ["--init-from-preset", "no_such_preset"],
    "an offline dataset (--no-download)": ["--dataset", "binarized_mnist", "--no-download"],
    "a missing data file": ["--data-file", "missing.npz"],
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_writes_nothing_and_is_one_error_line(mistake, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --data-file, and no runs/ left in the repository
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    workdir = tmp_path / "run"
    args = ["gaussian_vae_digits", "--smoke", "--workdir", str(workdir), "--data-dir", str(tmp_path / "tfds")]
    assert main([*args, *FAST, *MISTAKES[mistake]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert _tree(workdir) is None and _tree(tmp_path / "tfds") is None


@pytest.mark.parametrize("mistake", ["model_config.estimator=reinfroce", "model_config.posteror=gamma"])
def test_a_mistake_in_a_resumed_run_leaves_its_config(mistake, tmp_path, capsys):
    """A work directory holding a run: the mistaken command changes none of its files."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    config = TrainConfig.from_dict({"model": "gaussian_vae", "epochs": 1})
    (workdir / "config.json").write_text(json.dumps(config.to_dict()))
    before = {p: (workdir / p).read_bytes() for p in _tree(workdir)}
    assert main(["gaussian_vae_digits", "--smoke", "--workdir", str(workdir), *FAST, "--set", mistake]) == 2
    assert "error: " in capsys.readouterr().err
    assert {p: (workdir / p).read_bytes() for p in _tree(workdir)} == before


@pytest.mark.slow
def test_the_corrected_command_runs_in_the_same_work_directory(tmp_path, capsys):
    """The issue's reproduction, then its correction in the same directory."""
    args = ["gaussian_vae_digits", "--smoke", "--epochs", "1", "--workdir", str(tmp_path / "W"), *FAST]
    assert main([*args, "--set", "model_config.estimator=reinfroce"]) == 2
    assert "Received: estimator='reinfroce'" in capsys.readouterr().err
    assert main([*args, "--set", "model_config.estimator=reinforce"]) == 0
    saved = json.loads((tmp_path / "W" / "config.json").read_text())
    assert saved["model_config"]["estimator"] == "reinforce" and saved["epochs"] == 1


def test_known_data_shapes_are_the_loaded_shapes():
    assert known_data_shape("digits") == load_split("digits", "test").data_shape
    assert known_data_shape("npz") is None
    assert all(known_data_shape(name) is not None for name in DATASETS if name != "npz")
    with pytest.raises(ValueError, match="Received: dataset='imagenet'"):
        known_data_shape("imagenet")


# ---------------------------------------------------------------------------------------------
# The config declares its own resumable fields and flags.


def test_resumable_fields_are_declared_on_the_fields():
    resumable = resumable_fields()
    assert resumable == {f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("resumable")}
    # What defines the trained model is never resumable: the model, its data and its optimizer;
    # budget, evaluation, export and devices are.
    defining = {"model", "model_config", "dataset", "binarize", "batch_size", "learning_rate", "adam",
                "ema_momentum", "keep_best", "seed", "init_from_preset"}  # fmt: skip
    assert not resumable & defining
    assert {"epochs", "patience", "eval_num_samples", "export_dir", "strategy", "devices"} <= resumable


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(TrainConfig)])
def test_resuming_allows_a_change_exactly_in_the_resumable_fields(field, tmp_path):
    """check_resume against a saved config that differs from the given one in `field` only."""
    config = TrainConfig()
    saved = {**config.to_dict(), field: "another value"}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    if field in resumable_fields():
        check_resume(config, str(tmp_path))
    else:
        with pytest.raises(ValueError, match=f"Differences: {field}: 'another value' \\(saved\\)"):
            check_resume(config, str(tmp_path))


def test_flags_are_generated_from_the_fields():
    parser = argparse.ArgumentParser()
    add_flags(parser)
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    flagged = [f for f in fields.values() if "help" in f.metadata]
    assert {a.dest for a in parser._actions if a.dest != "help"} == {f.name for f in flagged}
    assert flag_of(fields["batch_size"]) == "--batch-size" and flag_of(fields["download"]) == "--no-download"
    assert flag_changes(parser.parse_args([])) == {}  # nothing given, nothing changed
    args = parser.parse_args(["--epochs", "3", "--no-download", "--jit-compile", "--strategy", "mirrored"])
    assert flag_changes(args) == {"epochs": 3, "download": False, "jit_compile": True, "strategy": "mirrored"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--strategy", "everywhere"])  # choices from the field
    choices = next(a.choices for a in parser._actions if a.dest == "strategy")
    assert tuple(choices) == STRATEGIES == fields["strategy"].metadata["choices"]
    assert BINARIZE_CHOICES == tuple(BINARIZE)


def test_the_cli_offers_every_flag_of_the_config(capsys):
    with pytest.raises(SystemExit):
        make_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for field in dataclasses.fields(TrainConfig):
        if "help" in field.metadata:
            assert flag_of(field) in out


def test_learning_rate_is_parsed_once_when_the_config_is_made():
    config = TrainConfig(learning_rate={"name": "staged", "initial": 1e-3, "stages": 3})
    schedule = config.make_learning_rate(10)  # the schedule for 10 steps per epoch
    # Stage 1 starts at epoch (3^1 − 1)/2 = 1, i.e. step 10: lr = 1e-3 · 10^(−1/7).
    assert float(schedule(9)) == pytest.approx(1e-3) and float(schedule(10)) == pytest.approx(
        1e-3 * 10 ** (-1 / 7)
    )
    with pytest.raises(ValueError, match="Received: stages=0"):
        TrainConfig(learning_rate={"name": "staged", "initial": 1e-3, "stages": 0})
