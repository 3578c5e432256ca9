"""The shipped zoo as a package: the index matches exports/, exports/ stays under 100 MB with
one copy of each weight and current versions only, provenance is portable, and the command
line answers mistakes with one `error:` line."""

import os
import shlex
import subprocess

import pytest

from keraszoo.export import list_versions
from keraszoo.export.manifest import portable_command, portable_provenance, sha256_of
from keraszoo.presets import lookup
from keraszoo.presets.__main__ import main as presets_cli
from keraszoo.presets.index import build_index, read_index

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXPORTS = os.path.join(ROOT, "exports")
NAMES = sorted(n for n in os.listdir(EXPORTS) if list_versions(EXPORTS, n))
LIMIT_BYTES = 100 * 10**6


def _newest():
    for name in NAMES:
        path = os.path.join(EXPORTS, name, str(list_versions(EXPORTS, name)[-1]))
        yield name, lookup.read_manifest(name, path), path


def test_package_index_is_generated_from_the_exports():
    assert read_index() == build_index(list(_newest()))["presets"], "run: python -m keraszoo.presets index"


def test_exports_stay_small_with_one_copy_of_each_weight():
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "exports"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    files = [f for f in tracked if f and os.path.exists(os.path.join(ROOT, f))]
    size = sum(os.path.getsize(os.path.join(ROOT, f)) for f in files)
    assert size < LIMIT_BYTES, f"tracked exports/ is {size / 1e6:.1f} MB (limit 100 MB)"
    assert not [f for f in files if f.endswith(".keras")]  # weights live in the SavedModel only
    for name in NAMES:  # superseded versions leave the tree (exports/README.md lists them)
        assert len(list_versions(EXPORTS, name)) == 1, name


def test_superseded_versions_are_listed_with_a_restore_command():
    with open(os.path.join(EXPORTS, "README.md")) as f:
        rows = [line for line in f if line.startswith("| `")]
    assert rows
    for row in rows:
        name, version, commit = (cell.strip(" `") for cell in row.split("|")[1:4])
        assert int(version) < list_versions(EXPORTS, name)[-1]
        assert f"`git checkout {commit} -- exports/{name}/{version}`" in row
        listed = subprocess.run(
            ["git", "ls-tree", "--name-only", commit, f"exports/{name}/{version}/"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "saved_model.pb" in listed, (name, version, commit)


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("name", NAMES)
def test_provenance_is_portable(name):
    manifest = lookup.load_manifest(name)
    training = manifest["training"]
    words = shlex.split(training["command"])
    assert not [w for w in words if os.path.isabs(w.partition("=")[2] or w)], training["command"]
    assert not [s for s in _strings(training["config"]) if os.path.isabs(s)]
    if manifest["dataset"]["file"]:
        assert words[words.index("--data-file") + 1] == manifest["dataset"]["file"]
        assert len(manifest["dataset"]["sha256"]) == 64
    with open(os.path.join(EXPORTS, name, "README.md")) as f:
        card = f.read()
    assert not any(root in card for root in ("/tmp/", "/work/", "/home/", "/root/")), name


def test_portable_command_replaces_machine_paths():
    command = (
        "python -m keraszoo.recipes.train iwae_mnist --data-file /data/x/binarized_mnist.npz "
        "--workdir /tmp/runs/a --export-dir=/tmp/runs/a_exp --set export_dir=/srv/e --set data_dir=null "
        "--set 'description=IWAE k=50, a/b' --epochs 5"
    )
    assert portable_command(command) == (
        "python -m keraszoo.recipes.train iwae_mnist --data-file binarized_mnist.npz "
        "--workdir WORKDIR --export-dir=EXPORT_DIR --set export_dir=EXPORT_DIR --set data_dir=null "
        "--set 'description=IWAE k=50, a/b' --epochs 5"
    )
    plain = "python -m keraszoo.recipes.train gaussian_vae_digits --epochs 5"
    assert portable_command(plain) is plain
    metadata = {"training": {"command": plain, "config": {"data_file": "/d/f.npz", "export_dir": None}}}
    assert portable_provenance(metadata)["training"]["config"] == {"data_file": "f.npz", "export_dir": None}
    assert metadata["training"]["config"]["data_file"] == "/d/f.npz"  # a copy, not in place


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model-card", "nope"], "error: Unknown preset. Expected one of"),
        (
            ["pack", "gaussian_vae_digits:latest", "--out", "x"],
            "error: Expected a preset as NAME or NAME:VERSION",
        ),
        (["pack", "gaussian_vae_digits"], "error: the following arguments are required: --out"),
        (["nope"], "error: argument {list,pack,index}: invalid choice: 'nope'"),
    ],
)
def test_cli_mistakes_answer_one_error_line(argv, message, capsys):
    try:
        status = presets_cli(argv)
    except SystemExit as exit:  # argparse's own errors
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(message) and err.count("\n") == 1, err


def test_cli_packs_and_lists(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    assert presets_cli(["pack", "gaussian_vae_digits", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "gaussian_vae_digits-1.tar")
    entry = read_index()["gaussian_vae_digits"]
    assert entry["sha256"] == sha256_of(str(tmp_path / entry["archive"]))
    assert presets_cli(["list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["bernoulli_vae_mnist", "local", "v2"]


def test_one_invalid_manifest_spares_the_others(tmp_path, monkeypatch):
    for name in ("broken", "fine"):
        os.makedirs(tmp_path / name / "1")
    (tmp_path / "broken" / "1" / "keraszoo_manifest.json").write_text("{")
    with open(os.path.join(EXPORTS, "gaussian_vae_digits", "1", "keraszoo_manifest.json")) as f:
        (tmp_path / "fine" / "1" / "keraszoo_manifest.json").write_text(f.read())
    monkeypatch.setenv("KERASZOO_PRESETS", str(tmp_path))
    listed = lookup.list_presets()
    assert "is not valid JSON" in listed["broken"]["error"] and listed["broken"]["where"] == "local"
    assert listed["fine"]["metric"] == listed["gaussian_vae_digits"]["metric"]
    assert set(NAMES) <= set(listed)
