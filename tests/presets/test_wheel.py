"""End to end: keraszoo built as a wheel and installed where the checkout is not importable lists
its presets from the shipped index, loads one by name over HTTP from a folder that
`python -m keraszoo.presets pack` wrote (served by `python -m http.server` on 127.0.0.1), then
from the Keras cache with the server stopped; each bad path gives its error and leaves the cache
empty. The outputs equal the checkout's."""

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest

import keraszoo
from keraszoo.export.manifest import sha256_of
from keraszoo.presets.__main__ import main as presets_cli

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NAME = "gaussian_vae_digits"  # the smallest preset
SKIP_IN_COPY = ("exports", "tests", "benchmarks", "tools", "docs", "runs", "build", ".git", ".venv",
                "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache")  # fmt: skip

# `python -m keraszoo.presets list` as the interpreter runs it (the parent packages imported while
# argv[0] is "-m", then the package's __main__ under runpy, which warns if the package had already
# imported it), first thing in the process below: one TensorFlow import for both.
LIST_AS_COMMAND = """
import contextlib, io, runpy, sys, warnings
argv, sys.argv, listing = sys.argv, ["-m", "list"], io.StringIO()
with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(listing):
    try:
        runpy.run_module("keraszoo.presets", run_name="__main__", alter_sys=True)
        status = None
    except SystemExit as exit:
        status = exit.code
sys.argv = argv
listed = {"status": status, "stdout": listing.getvalue(), "warnings": [repr(w.message) for w in caught]}
"""

PREAMBLE = """
import json, os
import numpy as np
import keraszoo
from keraszoo.presets import lookup
assert keraszoo.__file__.startswith(os.environ["PYTHONPATH"]), keraszoo.__file__  # the wheel's
assert lookup.checkout_exports() is None
x = (np.random.default_rng(0).random((4, 8, 8, 1)) > 0.5).astype("float32")
def elbo(model):
    return model.elbo(x, seed=3)["elbo"].numpy().tolist()
"""

# One process (one TensorFlow import) downloads, stops the server, then tries the cache and the
# bad paths.
DOWNLOAD_THEN_OFFLINE_THEN_BAD_PATHS = """
import hashlib, signal, socket, time
before = {n: i["where"] for n, i in keraszoo.list_presets().items()}
model = keraszoo.from_preset(NAME)
out = {"before": before, "elbo": elbo(model), "after": keraszoo.list_presets()[NAME]["where"]}
out["listed"] = listed
os.kill(int(os.environ["SERVER_PID"]), signal.SIGTERM)
while True:  # until the server no longer listens
    try:
        socket.create_connection(("127.0.0.1", int(os.environ["SERVER_PORT"])), timeout=1).close()
        time.sleep(0.05)
    except OSError:
        break
out["cached"] = elbo(keraszoo.from_preset(NAME))  # the server is down: the cache answers
os.environ["KERAS_HOME"] = os.environ["FRESH_HOME"]  # an empty cache from here on
def attempt(key, **kwargs):
    try:
        keraszoo.from_preset(NAME, **kwargs)
        out[key] = "loaded"
    except Exception as err:
        out[key] = f"{type(err).__name__}: {err}"
    out[key + " left"] = [f for _, _, fs in os.walk(os.environ["KERAS_HOME"]) for f in fs]
attempt("unreachable")
del os.environ["KERASZOO_PRESET_URL"]
attempt("no url")
attempt("tampered", base_url=os.environ["TAMPERED"])
entry = lookup.read_index()[NAME]
for key in ("incomplete", "unsafe"):
    folder = os.environ[key.upper()]
    sha = hashlib.sha256(open(os.path.join(folder, entry["archive"]), "rb").read()).hexdigest()
    lookup.read_index = lambda e={**entry, "sha256": sha}: {NAME: e}
    attempt(key, base_url="file://" + folder)
print(json.dumps(out))
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """keraszoo installed from its wheel into a folder of its own."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*SKIP_IN_COPY))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", str(source), "--no-deps", "-w", str(tmp / "dist")], check=True, timeout=600
    )
    (wheel,) = (tmp / "dist").glob("keraszoo-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(tmp / "site"), str(wheel)], check=True)
    return tmp / "site"


def _run(site, code, env, cwd):
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    env.pop("KERASZOO_PRESETS", None)
    out = subprocess.run(
        [sys.executable, "-c", f"NAME = {NAME!r}\n" + LIST_AS_COMMAND + PREAMBLE + code],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _write_variant(folder, archive, keep=lambda m: True, extra=()):
    folder.mkdir()
    with tarfile.open(archive) as tar, tarfile.open(folder / os.path.basename(archive), "w:gz") as out:
        for member in tar.getmembers():
            if keep(member):
                out.addfile(member, tar.extractfile(member) if member.isfile() else None)
        for name in extra:
            info = tarfile.TarInfo(name)
            info.size = 1
            out.addfile(info, io.BytesIO(b"x"))
    return str(folder)


@pytest.mark.slow
def test_installed_wheel_loads_presets_by_name(site, tmp_path):
    served = tmp_path / "served"
    assert presets_cli(["pack", NAME, "--out", str(served)]) == 0
    archive = str(served / f"{NAME}-1.tar")
    elsewhere = tmp_path / "elsewhere"  # a working directory without the checkout
    elsewhere.mkdir()
    env = {"KERAS_HOME": str(tmp_path / "home"), "FRESH_HOME": str(tmp_path / "fresh")}

    x = (np.random.default_rng(0).random((4, 8, 8, 1)) > 0.5).astype("float32")
    expected = keraszoo.from_preset(NAME).elbo(x, seed=3)["elbo"].numpy()

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(served)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = {"KERASZOO_PRESET_URL": f"http://127.0.0.1:{port}"}
    variants = {
        "TAMPERED": "file://" + _write_variant(tmp_path / "tampered", archive, extra=["tampered"]),
        "INCOMPLETE": _write_variant(
            tmp_path / "incomplete", archive, keep=lambda m: not m.name.endswith("variables.index")
        ),
        "UNSAFE": _write_variant(tmp_path / "unsafe", archive, extra=[f"{NAME}/1/../../../escaped"]),
    }  # fmt: skip
    assert sha256_of(os.path.join(variants["INCOMPLETE"], f"{NAME}-1.tar")) != sha256_of(archive)
    env = {**env, **url, **variants, "SERVER_PID": str(server.pid), "SERVER_PORT": str(port)}
    try:
        for _ in range(100):  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        out = _run(site, DOWNLOAD_THEN_OFFLINE_THEN_BAD_PATHS, env, elsewhere)
    finally:
        server.terminate()
        server.wait(timeout=30)
    # The installed command line lists every indexed preset as remote (and runs as a package).
    listed = out["listed"]
    assert listed["status"] == 0 and not any("RuntimeWarning" in w for w in listed["warnings"]), listed
    rows = [line.split()[:2] for line in listed["stdout"].splitlines()]
    assert rows and all(where == "remote" for _, where in rows) and [NAME, "remote"] in rows
    assert set(out["before"].values()) == {"remote"} and out["after"] == "cached"
    np.testing.assert_allclose(out["elbo"], expected, rtol=1e-6)
    np.testing.assert_allclose(out["cached"], expected, rtol=1e-6)
    assert out["unreachable"].startswith(
        f"PresetDownloadError: Preset {NAME!r}: cannot download http://127.0.0.1"
    )
    assert "Set KERASZOO_PRESET_URL" in out["no url"]
    assert "does not match the sha256" in out["tampered"]
    assert "lacks ['variables/variables.index']" in out["incomplete"]
    assert out["unsafe"].startswith("UnsafeArchiveError")
    assert not [f for _, _, files in os.walk(tmp_path) for f in files if f == "escaped"]
    for key in ("unreachable", "no url", "tampered", "incomplete", "unsafe"):
        assert out[f"{key} left"] == [], key
