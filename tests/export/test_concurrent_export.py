"""Concurrent exports to one model name: both succeed, with different versions, nothing lost."""

import json
import multiprocessing
import os
import queue
import time

import pytest

from keraszoo import GaussianVAE
from keraszoo.export import MANIFEST, WARMUP_DIR, WARMUP_FILE, ExportExistsError, export_model
from keraszoo.export import saved_model as saved_model_module
from tests.conftest import small_vae_config

BARRIER_TIMEOUT_S = 300  # importing TensorFlow in a fresh process on a busy 2-core machine
DEADLINE_S = 600


def _export_worker(base_dir, barrier, results):
    """Runs in each of the two processes (a spawned one and the test's own): builds a model,
    waits for the other process, exports.

    The first manifest write happens after the version is chosen and before the rename, so
    waiting there a second time makes both processes pick version 1 and race on the rename.
    """
    from keraszoo.export import saved_model

    try:
        model = GaussianVAE(**GaussianVAE.example_config())
        barrier.wait(BARRIER_TIMEOUT_S)  # both ready: export at the same time
        write_manifest, calls = saved_model.write_manifest, []

        def write_then_wait(version_dir, manifest):
            write_manifest(version_dir, manifest)
            calls.append(manifest["version"])
            if len(calls) == 1:
                barrier.wait(BARRIER_TIMEOUT_S)  # both chose a version, neither has renamed

        saved_model.write_manifest = write_then_wait
        try:
            path = export_model(model, base_dir, model_name="racer")
        finally:
            saved_model.write_manifest = write_manifest
        results.put(("ok", path, calls))
    except BaseException as e:  # report, so the parent fails with the reason
        results.put(("error", repr(e), []))
        raise


@pytest.mark.slow
def test_two_processes_export_the_same_name_at_once(tmp_path):
    # Two processes: a spawned one and this one (one TensorFlow import fewer than two spawned).
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    other = ctx.Process(target=_export_worker, args=(str(tmp_path), barrier, results))
    other.start()
    deadline = time.monotonic() + DEADLINE_S
    outcomes = []
    try:
        _export_worker(str(tmp_path), barrier, results)
        for _ in range(2):
            outcomes.append(results.get(timeout=max(1.0, deadline - time.monotonic())))
        other.join(timeout=max(1.0, deadline - time.monotonic()))
    except queue.Empty:
        pytest.fail(f"exports did not finish within {DEADLINE_S} s; got {outcomes}")
    finally:
        if other.is_alive():
            other.terminate()
            other.join(10)
    assert [status for status, _, _ in outcomes] == ["ok", "ok"], outcomes
    assert other.exitcode == 0
    root = tmp_path / "racer"
    assert sorted(os.path.basename(path) for _, path, _ in outcomes) == ["1", "2"]
    # Both chose version 1; the one that lost the rename moved on to 2 (its manifest rewritten).
    assert sorted(versions for _, _, versions in outcomes) == [[1], [1, 2]]
    assert sorted(os.listdir(root)) == ["1", "2"]  # no temporary directories left
    for version in (1, 2):
        folder = root / str(version)
        for entry in (
            "saved_model.pb",
            "variables/variables.index",
            MANIFEST,
            os.path.join(WARMUP_DIR, WARMUP_FILE),
        ):
            assert (folder / entry).is_file(), (version, entry)
        assert (folder / "variables").is_dir()
        assert folder.stat().st_mode & 0o777 == 0o755  # readable by a server running as another user
        manifest = json.loads((folder / MANIFEST).read_text())
        assert manifest["version"] == version and manifest["model_name"] == "racer"


def _another_writer_takes(version, monkeypatch, tmp_path):
    """Makes a finished version `version` appear just before this export renames its own."""
    write_manifest, calls = saved_model_module.write_manifest, []

    def write_then_race(version_dir, manifest):
        write_manifest(version_dir, manifest)
        calls.append(manifest["version"])
        if len(calls) == 1:
            taken = tmp_path / "gaussian_vae" / str(version)
            taken.mkdir()
            (taken / "saved_model.pb").write_bytes(b"the other writer's")

    monkeypatch.setattr(saved_model_module, "write_manifest", write_then_race)


def test_automatic_version_moves_on_when_taken_while_writing(tmp_path, monkeypatch):
    model = GaussianVAE(**small_vae_config())
    _another_writer_takes(1, monkeypatch, tmp_path)
    path = export_model(model, str(tmp_path))
    root = tmp_path / "gaussian_vae"
    assert path == str(root / "2") and sorted(os.listdir(root)) == ["1", "2"]
    assert (root / "1" / "saved_model.pb").read_bytes() == b"the other writer's"  # untouched
    assert json.loads((root / "2" / MANIFEST).read_text())["version"] == 2


def test_explicit_version_taken_while_writing_raises(tmp_path, monkeypatch):
    model = GaussianVAE(**small_vae_config())
    _another_writer_takes(3, monkeypatch, tmp_path)
    with pytest.raises(ExportExistsError, match="appeared at .* while writing"):
        export_model(model, str(tmp_path), version=3)
    root = tmp_path / "gaussian_vae"
    assert os.listdir(root) == ["3"]  # ours was cleaned up, theirs untouched
    assert (root / "3" / "saved_model.pb").read_bytes() == b"the other writer's"
    assert os.listdir(root / "3") == ["saved_model.pb"]
