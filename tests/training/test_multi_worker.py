"""Multi-worker training: real worker processes on 127.0.0.1 with TF_CONFIG and collective ops.

Every cluster is launched with a hard timeout after which every process is killed, and the tests
check that no process, port or temporary directory is left behind. One cluster of two workers
(started once for this module) trains the three recipes of
`test_two_workers_train_the_model_of_one_process` one after the other, each as
`python -m keraszoo.recipes.train ... --strategy multi_worker` would (its `main`, in the same two
processes: TensorFlow allows one MultiWorkerMirroredStrategy per process), then runs the upstream
canary; each case waits for its own recipe and checks its own files and log. Each recipe trains
on a few large batches (fewer collective rounds, which dominate on a busy machine). The killed
worker test starts its own processes, each running the command itself.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keraszoo  # noqa: F401  (registers the model classes for load_model)
from keraszoo.training.multi_worker import local_tf_configs

TIMEOUT = 240  # seconds for one launch of all workers, or for one recipe of the shared cluster
BIG_BATCHES = ("--batch-size", "192")  # 6 steps an epoch (of 1 297 digits): few collective rounds


def _train(recipe, workdir, *args):
    return ["-m", "keraszoo.recipes.train", recipe, "--smoke", "--workdir", str(workdir),
            "--strategy", "multi_worker", *BIG_BATCHES, *args]  # fmt: skip


class Cluster:
    """`n` worker processes running `python *arguments`; `wait` enforces the timeout and kills
    leftovers."""

    def __init__(self, tmp_path, name, n, arguments):
        configs = local_tf_configs(n)
        self.path = tmp_path
        self.ports = [int(a.rsplit(":", 1)[1]) for a in json.loads(configs[0])["cluster"]["worker"]]
        self.temp = tmp_path / "tmp"  # each worker's TMPDIR
        self.temp.mkdir(exist_ok=True)
        self.logs, self.procs = [], []
        for i in range(n):
            env = {
                **os.environ,
                "TF_CONFIG": configs[i],
                "TMPDIR": str(self.temp),
                "CUDA_VISIBLE_DEVICES": "",
            }
            log = tmp_path / f"{name}-worker{i}-{time.monotonic_ns()}.log"
            self.logs.append(log)
            with open(log, "w") as out:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, *arguments], env=env, stdout=out, stderr=subprocess.STDOUT
                    )
                )

    def wait(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        try:
            for p in self.procs:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        finally:
            self.kill()
        return [p.returncode for p in self.procs]

    def wait_for(self, text, timeout=TIMEOUT):
        """Waits until every worker's log holds `text` (False: one exited or time ran out first)."""
        deadline = time.monotonic() + timeout
        while not all(text in self.log(i) for i in range(len(self.procs))):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                return all(text in self.log(i) for i in range(len(self.procs)))
            time.sleep(0.1)
        return True

    def kill(self, index=None):
        for p in self.procs if index is None else [self.procs[index]]:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()

    def log(self, i):
        return self.logs[i].read_text()

    def assert_clean(self):
        assert all(p.poll() is not None for p in self.procs)
        # Workers removed their temporaries (a SIGKILLed TF process leaves autograph's own files).
        ours = [name for name in os.listdir(self.temp) if name.startswith("keraszoo")]
        assert not ours, ours
        for port in self.ports:  # nobody listens any more (SO_REUSEADDR: TIME_WAIT is fine)
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                s.listen()


def _run(tmp_path, name, n, arguments):
    cluster = Cluster(tmp_path, name, n, arguments)
    codes = cluster.wait()
    assert codes == [0] * n, "\n\n".join(cluster.log(i)[-3000:] for i in range(n))
    cluster.assert_clean()
    return cluster


def _epochs(workdir):
    with open(os.path.join(workdir, "history.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


RECIPES = {  # recipe -> its arguments, and what else its case checks
    "gaussian_vae_digits": ("--set", "ema_momentum=0.9"),  # Polyak averages, validated and final
    "vqvae_digits": (),  # the EMA codebook's statistics and the code prior's stage
    # REINFORCE with its moving-average baseline, and the temperature schedule
    "categorical_vae_digits": (
        *("--set", "model_config.estimator=reinforce"),
        *("--set", "model_config.baseline=moving_average"),
    ),
}
SHARED = pytest.mark.xdist_group("multi_worker_cluster")  # `make test` runs the group's cases together

# What each worker of the shared cluster runs: every recipe (its `main`, as the command runs it),
# each with its own TMPDIR and as in a fresh process for TensorFlow's count of retracing (which
# is per Python function: the models' steps share theirs), then FIT_UNDER_MULTI_WORKER (below).
DRIVER = """
import json, sys, tempfile
from tensorflow.python.eager.polymorphic_function import polymorphic_function
from keraszoo._cli import freeze_at_exit
from keraszoo.recipes.train import main
from keraszoo.training import train
strategy = train.multi_worker_strategy()  # TensorFlow's rule: one, before any other TF work
freeze_at_exit()  # exits as the command does
train.make_strategy = lambda config: strategy
for recipe, argv, temporary in json.load(open(sys.argv[1])):
    tempfile.tempdir = temporary
    polymorphic_function._frequent_tracing_detector_manager = (
        polymorphic_function._FrequentTracingDetectorManager()
    )
    print(f"=== {recipe}: exit {main(argv)}", flush=True)
"""


def _recipe_run(base, recipe, run):
    """The command line (after `python`) of `recipe`'s run `run` ("two", "one") under `base`. The
    reference ("one") does not export: the export directory holds what the cluster exported."""
    export = ("--export-dir", str(base / "exports")) if run == "two" else ("--no-export",)
    return _train(recipe, base / run, *export, "--set", "pictures=false", *RECIPES[recipe])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two workers running DRIVER: the recipes of RECIPES in order, then the upstream canary."""
    path, plan = tmp_path_factory.mktemp("cluster"), []
    for recipe in RECIPES:
        (path / recipe / "tmp").mkdir(parents=True)
        plan.append([recipe, _recipe_run(path / recipe, recipe, "two")[2:], str(path / recipe / "tmp")])
    (path / "plan.json").write_text(json.dumps(plan))
    cluster = Cluster(path, "cluster", 2, ["-c", DRIVER + FIT_UNDER_MULTI_WORKER, str(path / "plan.json")])
    yield cluster
    cluster.kill()


def _runs(log):
    """recipe -> (exit code, what its run printed), from a log of DRIVER."""
    runs, text = {}, ""
    for line in log.splitlines(keepends=True):
        if line.startswith("=== "):
            recipe, code = line[4:].split(": exit ")
            runs[recipe], text = (int(code), text), ""
        else:
            text += line
    return runs


@pytest.mark.slow
@SHARED
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_two_workers_train_the_model_of_one_process(cluster, monkeypatch, recipe):
    base = cluster.path / recipe
    # Meanwhile, the reference: the same run and loop in this process, on one replica.
    _train_in_this_process(monkeypatch, _recipe_run(base, recipe, "one")[2:])
    assert cluster.wait_for(f"=== {recipe}: exit "), "\n\n".join(cluster.log(i)[-3000:] for i in range(2))
    runs = [_runs(cluster.log(i))[recipe] for i in range(2)]
    assert [code for code, _ in runs] == [0, 0], "\n\n".join(log[-3000:] for _, log in runs)
    ours = [name for name in os.listdir(base / "tmp") if name.startswith("keraszoo")]
    assert not ours, ours  # the second worker removed its temporaries
    assert "Worker done" in runs[1][1]
    # One traced evaluation step per worker, reused every epoch (no "triggered tf.function retracing").
    assert not any("retracing" in log for _, log in runs), runs[0][1][-2000:]
    models = [keras.models.load_model(base / run / "model.keras") for run in ("two", "one")]
    for a, b in zip(models[0].weights, models[1].weights, strict=True):  # EMA, baseline, seeds too
        # The code prior's embedding rows get gradients that nearly cancel; summed in another order
        # across workers they differ by rounding, and Adam's first steps move a weight by about
        # lr·sign(g) (lr = 1e-3 here) whatever |g|: a few such steps, not a different model.
        # The same holds, rarer, for hidden units whose gradients nearly cancel (e.g. REINFORCE):
        # 1e-4 is a tenth of one such step.
        atol = 1e-2 if "code_prior" in a.path else 1e-4
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=atol, err_msg=a.path)
    assert _epochs(base / "two") == [0, 1]
    histories = [list(csv.DictReader(open(base / run / "history.csv"))) for run in ("two", "one")]
    for a, b in zip(*histories, strict=True):  # the metrics of every epoch, reduced over workers
        for key in a:  # perplexity included: it pools the code counts of every replica
            np.testing.assert_allclose(float(a[key]), float(b[key]), rtol=1e-4, atol=1e-6, err_msg=key)
    # Only the chief exported (one version), and the second worker wrote no files.
    assert os.listdir(base / "exports" / recipe) == ["1"]  # named after the recipe
    assert sorted(os.listdir(base)) == ["exports", "one", "tmp", "two"]


def _train_in_this_process(monkeypatch, argv):
    """`python -m keraszoo.recipes.train *argv` here, with `--strategy multi_worker` run by its own
    loop (`fit_loop`, `evaluate_loop`) on the default strategy: one replica, no collectives, no
    TF_CONFIG; what a one-worker cluster computes, without starting one."""
    import tensorflow as tf

    from keraszoo.recipes.train import configure, make_parser
    from keraszoo.training import train as train_module

    config = configure(make_parser().parse_args(argv))
    assert config.strategy == "multi_worker"
    monkeypatch.setattr(train_module, "make_strategy", lambda config: tf.distribute.get_strategy())
    train_module.train_and_evaluate(config, argv[argv.index("--workdir") + 1], verbose=0)


class _Weights(keras.callbacks.Callback):
    """The trained weights θ and their average θ̄ at the end of every epoch."""

    def on_train_begin(self, logs=None):
        self.trained, self.average = [], []

    def on_epoch_end(self, epoch, logs=None):
        from keraszoo.training.best import averaged_weights

        self.trained.append([v.numpy() for v in self.model.trainable_variables])
        with averaged_weights(self.model):
            self.average.append([v.numpy() for v in self.model.trainable_variables])


def test_fit_loop_validates_and_ends_with_the_polyak_average():
    """`fit_loop` (the multi-worker path, here on the default strategy) leaves θ̄ in the model at
    the end, as `fit` does (its validation goes through the same `averaged_weights`)."""
    import tensorflow as tf

    from keraszoo import GaussianVAE
    from keraszoo.optimizers import FusedAdam
    from keraszoo.training.multi_worker import fit_loop

    model = GaussianVAE(**GaussianVAE.example_config())
    model.compile(FusedAdam(1e-2, use_ema=True, ema_momentum=0.8))
    x = (np.random.default_rng(0).random((32, *model.data_shape)) > 0.5).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(x).batch(8)
    weights = _Weights()
    logs = fit_loop(model, tf.distribute.get_strategy(), data, 2, validation_data=data,
                    callbacks=[weights], verbose=0)  # fmt: skip
    assert not np.allclose(weights.average[-1][0], weights.trained[-1][0])
    for v, average in zip(model.trainable_variables, weights.average[-1], strict=True):
        np.testing.assert_array_equal(v.numpy(), average)  # the model ends averaged
    assert [sorted(k for k in epoch if k.startswith("val_")) for epoch in logs] == [
        ["val_kl", "val_loss", "val_neg_elbo", "val_recon_nll"]
    ] * 2


@pytest.mark.slow
def test_a_killed_worker_resumes_from_the_last_epoch(tmp_path):
    workdir, epochs = tmp_path / "run", 4
    args = ("--epochs", str(epochs), "--no-export", "--set", "pictures=false")  # neither is checked
    first = Cluster(tmp_path, "run", 2, _train("gaussian_vae_digits", workdir, *args))
    deadline = time.monotonic() + TIMEOUT
    try:
        while not (workdir / "history.csv").exists() or len(_epochs(workdir)) < 2:
            assert time.monotonic() < deadline and first.procs[0].poll() is None, first.log(0)[-3000:]
            time.sleep(0.05)
        first.kill(1)  # SIGKILL the second worker mid-run ...
    finally:
        first.kill()  # ... and the chief, as a cluster manager restarts the job
    done = len(_epochs(workdir))
    assert 2 <= done < epochs
    second = _run(tmp_path, "run", 2, _train("gaussian_vae_digits", workdir, *args))
    assert _epochs(workdir) == list(range(epochs))  # every epoch exactly once
    assert f"Epoch 1/{epochs}" not in second.log(0)  # resumed, not restarted
    assert (workdir / "model.keras").exists() and json.loads((workdir / "results.json").read_text())["chief"]


def test_multi_worker_needs_tf_config(monkeypatch):
    from keraszoo.training.train import multi_worker_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG environment variable.*Received: TF_CONFIG=None"):
        multi_worker_strategy()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(ValueError, match="Received: TF_CONFIG='"):
        multi_worker_strategy()


# Keras's own `fit` under the strategy (DRIVER's `strategy`, used by the recipes before).
FIT_UNDER_MULTI_WORKER = """
import keras, numpy as np, tensorflow as tf
from keraszoo import GaussianVAE
with strategy.scope():
    model = GaussianVAE((8, 8, 1), latent_dim=2, encoder={"name": "mlp", "hidden_units": [8]})
    model.compile(keras.optimizers.Adam(1e-3))
x = np.random.default_rng(0).integers(0, 2, (32, 8, 8, 1)).astype("float32")
try:
    model.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1, verbose=0)
    print("UPSTREAM FIT WORKS")
except ValueError as err:
    print("UPSTREAM FIT FAILS:", str(err)[:200])
"""


@pytest.mark.slow
@SHARED
def test_upstream_fit_still_fails_under_multi_worker(cluster):
    """keras-team/keras#20585. When this fails, Keras's `fit` works under
    MultiWorkerMirroredStrategy: try it in place of `fit_loop` (keraszoo.training.multi_worker).
    The shared cluster runs it last, then exits: no process, port or temporary file is left."""
    codes = cluster.wait(len(RECIPES) * TIMEOUT)  # the recipes first
    assert codes == [0, 0], "\n\n".join(cluster.log(i)[-3000:] for i in range(2))
    cluster.assert_clean()
    assert "UPSTREAM FIT FAILS" in cluster.log(0), cluster.log(0)[-2000:]
