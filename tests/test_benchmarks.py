"""Every script in benchmarks/ runs end to end at a tiny budget, so none can rot unnoticed.

Each runs as `python benchmarks/<script>.py ...` would (its `__main__`, its own argument parser,
`from common import ...` resolved in benchmarks/), in this process and in a scratch working
directory, on a tiny binarized-MNIST-shaped .npz (a few random 28×28 binary images per split)
or the embedded digits, with one epoch and a handful of importance samples. The figures are
meaningless at this budget: the tests check that the script finishes and prints its table with
a row per model it was asked for.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
NOT_BENCHMARKS = {"common.py"}  # their shared helpers


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "tiny_mnist.npz"
    splits = {"train": 100, "valid": 20, "test": 20}  # one training batch of the MNIST recipes (100)
    np.savez(path, **{k: (rng.random((n, 28, 28)) > 0.5).astype("uint8") for k, n in splits.items()})
    return str(path)


def load_benchmark(script, monkeypatch):
    """benchmarks/<script> as a module (its `main` not run), with benchmarks/ on the path."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{script[:-3]}", BENCHMARKS / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bench(tmp_path, monkeypatch, capsys):
    """bench(script, *args, changes=None) runs benchmarks/<script> with `args` as its command
    line (its module attributes set to `changes` first) in `tmp_path`; returns what it printed."""

    def run(script, *args, changes=None):
        module = load_benchmark(script, monkeypatch)
        for name, value in (changes or {}).items():
            monkeypatch.setattr(module, name, value)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / script), *map(str, args)])
        module.main()
        return capsys.readouterr().out

    return run


def table_rows(out):
    """The body rows of the markdown tables printed (no header, no |---| line)."""
    lines = [line for line in out.splitlines() if line.startswith("|")]
    return [line for line in lines[1:] if not line.startswith("|---")]


COVERED = {}  # script → the test that runs it


def covers(script):
    def mark(test):
        COVERED[script] = test.__name__
        # One epoch is shorter than any recipe's averaging horizon, which training warns about.
        return pytest.mark.slow(pytest.mark.filterwarnings("ignore:ema_momentum")(test))

    return mark


def test_every_benchmark_has_a_smoke_test():
    scripts = {p.name for p in BENCHMARKS.glob("*.py")} - NOT_BENCHMARKS
    assert scripts <= set(COVERED), sorted(scripts - set(COVERED))


@covers("quality.py")
def test_quality(bench, tiny_npz, tmp_path):
    out = bench("quality.py", "--data-file", tiny_npz, "--epochs", 1, "--k", 2)
    rows = table_rows(out)
    assert len(rows) == 1 and rows[0].startswith("| gaussian_vae_mnist | 1 |"), out
    assert (tmp_path / "runs" / "quality" / "results.json").exists()


@covers("smoothing.py")
def test_smoothing(bench, tiny_npz, tmp_path):
    out = bench("smoothing.py", "--data-file", tiny_npz, "--epochs", 1, "--k", 2, "--functions", "f3_root")
    rows = table_rows(out)
    assert len(rows) == 1 and rows[0].startswith("| f3_root | 1 |"), out


@covers("discrete.py")
def test_discrete(bench, tiny_npz, tmp_path):
    out = bench(
        "discrete.py",
        "--data-file",
        tiny_npz,
        "--epochs",
        1,
        "--k",
        2,
        "--recipes",
        "categorical_vae_mnist",
        "--estimators",
        "ST Gumbel-softmax",
        "DisARM",
        "--repeats",
        3,
    )
    rows = [r for r in table_rows(out) if r.startswith("| categorical_vae_mnist |")]
    assert len(rows) == 1 and "ST Gumbel-softmax" in rows[0], out
    assert "DisARM does not apply to categorical latents; skipped" in out


@covers("vqvae.py")
def test_vqvae(bench, tiny_npz, tmp_path):
    out = bench("vqvae.py", "--data-file", tiny_npz, "--epochs", 1, "--recipes", "vqvae_mnist")
    rows = table_rows(out)
    assert len(rows) == 1 and rows[0].startswith("| vqvae_mnist | 1 |"), out


@covers("estimators.py")
def test_estimators(bench, tiny_npz):
    out = bench(
        "estimators.py", "--data-file", tiny_npz, "--epochs", 1, "--k", 2, "--eval-examples", 8,
        "--repeats", 3, "--rows", "dreg-K5",
    )  # fmt: skip
    body = table_rows(out)
    assert len(body) == 1 and body[0].startswith("| dreg-K5 | 1 |"), out


@covers("preset_splits.py")
def test_preset_splits(bench, tiny_npz, tmp_path):
    out = bench(
        "preset_splits.py", "gaussian_vae_mnist", "--data-file", tiny_npz, "--k", 2, "--max-examples", 8
    )
    rows = table_rows(out)
    assert len(rows) == 1 and rows[0].startswith("| gaussian_vae_mnist") and rows[0].count("|") == 8, out


@covers("relaxed_elbo.py")
def test_relaxed_elbo(bench, tiny_npz, tmp_path):
    out = bench("relaxed_elbo.py", "categorical_vae_mnist", "--data-file", tiny_npz)
    rows = table_rows(out)
    assert len(rows) == 1 and rows[0].startswith("| categorical_vae_mnist"), out


@covers("profile_step.py")
def test_profile_step(bench, tmp_path):
    out = bench(
        "profile_step.py",
        "--batch-size",
        8,
        "--spe",
        1,
        "--logdir",
        tmp_path / "profile",
        "--top",
        3,
        changes={"STEPS": 2},
    )
    lines = out.splitlines()
    assert lines[0].startswith("keraszoo (float32), batch 8") and "examples/s" in lines[0], out
    assert 1 <= len(lines[1:]) <= 3 and all(line.rstrip().endswith("ms/step") for line in lines[1:]), out


@covers("throughput.py")
def test_throughput_measurement(bench, monkeypatch):
    """One measurement (what the script runs in a child process per variant and round): the
    baseline and keraszoo, each a JSON pair [examples/s, cores busy] on its last line."""
    import json

    for variant in ("keras-io baseline", "keraszoo, spe 10, FusedAdam"):
        spec = json.dumps(load_benchmark("throughput.py", monkeypatch).VARIANTS[variant])
        out = bench("throughput.py", "--worker", spec, "--batch-sizes", 8, "--examples", 16,
                    changes={"WARMUP_EXAMPLES": 16})  # fmt: skip
        rate, _ = json.loads(out.strip().splitlines()[-1])
        assert rate > 0, out


@covers("multi_worker.py")
def test_multi_worker(bench, tiny_npz, tmp_path):
    out = bench("multi_worker.py", "--data-file", tiny_npz, "--epochs", 1, "--recipe", "gaussian_vae_mnist")
    lines = [line for line in out.splitlines() if "worker(s)" in line]
    assert [line.split(":")[0] for line in lines] == ["1 worker(s)", "2 worker(s)"], out
    assert all("training examples/s" in line for line in lines), out
