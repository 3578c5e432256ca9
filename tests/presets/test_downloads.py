"""Presets from archives: reproducible packing, member checks on crafted archives, download
through `keras.utils.get_file` from a `file://` base, the cache, and every bad path leaving
nothing behind. (tests/presets/test_wheel.py does the same through HTTP from an installed wheel.)"""

import io
import json
import os
import shutil
import socket
import tarfile

import numpy as np
import pytest

import keraszoo
from keraszoo.export.manifest import sha256_of
from keraszoo.presets import PresetDownloadError, lookup
from keraszoo.presets.archive import UnsafeArchiveError, archive_name, check_members, pack
from keraszoo.presets.index import build_index

EXPORTS = os.path.join(os.path.dirname(__file__), "..", "..", "exports")
SOURCE = os.path.join(EXPORTS, "gaussian_vae_digits", "1")
NAME = "remote_digits"  # a preset no local folder has


def _files_under(folder):
    return sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder) for f in files
    )


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A copy of gaussian_vae_digits renamed `remote_digits`, packed into a served folder."""
    base = tmp_path_factory.mktemp("remote")
    version_dir = base / "src" / NAME / "1"
    shutil.copytree(SOURCE, version_dir)
    manifest_path = version_dir / "keraszoo_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model_name"] = NAME
    manifest_path.write_text(json.dumps(manifest))
    index = build_index([(NAME, manifest, str(version_dir))], str(base / "served"))
    return base, index["presets"][NAME]


@pytest.fixture
def served(remote, tmp_path, monkeypatch):
    """The index names `remote_digits`; an empty Keras cache; no URL set."""
    base, entry = remote
    monkeypatch.setattr(lookup, "read_index", lambda: {NAME: dict(entry)})
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("KERASZOO_PRESET_URL", raising=False)
    monkeypatch.delenv("KERASZOO_PRESETS", raising=False)
    return base, entry, tmp_path / "keras_home"


def _url(folder):
    return "file://" + os.path.abspath(folder)


def _elbo(model):
    x = (np.random.default_rng(0).random((4, 8, 8, 1)) > 0.5).astype("float32")
    return model.elbo(x, seed=3)["elbo"].numpy()


def test_pack_is_reproducible_and_complete(tmp_path):
    first = pack(SOURCE, "gaussian_vae_digits", 1, str(tmp_path / "a"))
    copy = tmp_path / "copy"
    shutil.copytree(SOURCE, copy)
    for path in copy.rglob("*"):  # other times and permissions, same contents
        os.utime(path, (1e9, 1e9))
    second = pack(str(copy), "gaussian_vae_digits", 1, str(tmp_path / "b"))
    assert os.path.basename(first) == archive_name("gaussian_vae_digits", 1) == "gaussian_vae_digits-1.tar"
    assert sha256_of(first) == sha256_of(second)
    members = check_members(first, "gaussian_vae_digits", 1)
    files = ["gaussian_vae_digits/1/" + f.replace(os.sep, "/") for f in _files_under(SOURCE)]
    assert set(files) <= set(members) and not any(m.endswith(".keras") for m in members)
    (copy / "variables" / "variables.index").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks \['variables/variables.index'\]"):
        pack(str(copy), "gaussian_vae_digits", 1, str(tmp_path / "c"))


def _crafted(path, members):
    """A .tar.gz of (name, kind, link target) members; files hold b"x"."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, target in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target or ""
            data = b"x" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


OK = ("p/1/saved_model.pb", tarfile.REGTYPE, None)


@pytest.mark.parametrize(
    "member, why",
    [
        (("/etc/evil", tarfile.REGTYPE, None), "absolute path"),
        (("p/1/../../evil", tarfile.REGTYPE, None), "'..' component"),
        (("q/1/file", tarfile.REGTYPE, None), "outside p/1/"),
        (("p/1/link", tarfile.SYMTYPE, "/etc/passwd"), "link to the absolute path"),
        (("p/1/link", tarfile.SYMTYPE, "../../../evil"), "link pointing outside"),
        (("p/1/hard", tarfile.LNKTYPE, "q/other"), "link pointing outside"),
        (("p/1/fifo", tarfile.FIFOTYPE, None), "not a regular file"),
    ],
)
def test_unsafe_members_are_refused(tmp_path, member, why):
    crafted = _crafted(tmp_path / "p-1.tar.gz", [OK, member])
    with pytest.raises(UnsafeArchiveError, match=why):
        check_members(crafted, "p", 1)
    assert os.listdir(tmp_path) == ["p-1.tar.gz"]  # nothing extracted


def test_links_inside_the_folder_are_allowed(tmp_path):
    fine = _crafted(tmp_path / "p-1.tar.gz", [OK, ("p/1/link", tarfile.SYMTYPE, "saved_model.pb")])
    assert check_members(fine, "p", 1) == ["p/1/saved_model.pb", "p/1/link"]


def test_download_cache_and_listing(served):
    base, entry, home = served
    assert keraszoo.list_presets()[NAME] == {
        "description": entry["description"],
        "metric": entry["metric"],
        "version": 1,
        "path": None,
        "where": "remote",
    }
    model = keraszoo.from_preset(NAME, base_url=_url(base / "served"))
    np.testing.assert_array_equal(_elbo(model), _elbo(keraszoo.presets.load_keras_model(SOURCE)))
    listed = keraszoo.list_presets()[NAME]
    assert listed["where"] == "cached" and listed["path"].startswith(str(home))
    # Offline: the cache answers without a URL; the archive itself is not re-read.
    os.remove(os.path.join(home, "keraszoo_presets", entry["archive"]))
    np.testing.assert_array_equal(_elbo(keraszoo.from_preset(NAME)), _elbo(model))
    served_model = keraszoo.load_serving(NAME)
    assert {"elbo", "sample", "encode", "decode"} <= set(served_model.signatures)


def test_no_url_names_the_variable(served):
    _, _, home = served
    with pytest.raises(PresetDownloadError, match="Set KERASZOO_PRESET_URL .* or KERASZOO_PRESETS"):
        keraszoo.from_preset(NAME)
    assert not home.exists() or _files_under(home) == []


def test_unreachable_url(served, tmp_path):
    _, _, home = served
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for url in (f"http://127.0.0.1:{port}", _url(tmp_path / "nowhere")):
        with pytest.raises(PresetDownloadError, match=f"cannot download {url}/{NAME}-1.tar"):
            keraszoo.from_preset(NAME, base_url=url)
        assert _files_under(home) == []


def test_sha256_mismatch_caches_nothing_and_retries(served, monkeypatch, tmp_path):
    base, entry, home = served
    monkeypatch.setattr(lookup, "read_index", lambda: {NAME: {**entry, "sha256": "0" * 64}})
    with pytest.raises(
        ValueError, match="does not match the sha256 0{64} of the preset index.*Nothing was cached"
    ):
        keraszoo.from_preset(NAME, base_url=_url(base / "served"))
    assert _files_under(home) == []
    monkeypatch.setattr(lookup, "read_index", lambda: {NAME: entry})  # the next call downloads again
    assert keraszoo.from_preset(NAME, base_url=_url(base / "served")).latent_dim == 8


def _serve_crafted(tmp_path, monkeypatch, entry, members):
    folder = tmp_path / "crafted"
    folder.mkdir()
    path = _crafted(folder / entry["archive"], members)
    monkeypatch.setattr(lookup, "read_index", lambda: {NAME: {**entry, "sha256": sha256_of(path)}})
    return _url(folder)


def test_archive_missing_a_file(served, monkeypatch, tmp_path):
    _, entry, home = served
    with tarfile.open(os.path.join(served[0], "served", entry["archive"])) as tar:
        kept = [m for m in tar.getmembers() if not m.name.endswith("variables.index")]
        folder = tmp_path / "crafted"
        folder.mkdir()
        with tarfile.open(folder / entry["archive"], "w:gz") as out:
            for m in kept:
                out.addfile(m, tar.extractfile(m) if m.isfile() else None)
    path = str(folder / entry["archive"])
    monkeypatch.setattr(lookup, "read_index", lambda: {NAME: {**entry, "sha256": sha256_of(path)}})
    with pytest.raises(ValueError, match=r"lacks \['variables/variables.index'\]. Nothing was cached"):
        keraszoo.from_preset(NAME, base_url=_url(folder))
    assert _files_under(home) == []


def test_unsafe_download_writes_nothing(served, monkeypatch, tmp_path):
    _, entry, home = served
    url = _serve_crafted(
        tmp_path,
        monkeypatch,
        entry,
        [
            (f"{NAME}/1/saved_model.pb", tarfile.REGTYPE, None),
            (f"{NAME}/1/../../../escaped", tarfile.REGTYPE, None),
        ],  # fmt: skip
    )
    with pytest.raises(UnsafeArchiveError, match="'..' component"):
        keraszoo.from_preset(NAME, base_url=url)
    assert _files_under(home) == []
    assert not any("escaped" in f for f in _files_under(tmp_path))


def test_model_config_loads_in_safe_mode(tmp_path):
    import keras

    version_dir = tmp_path / "gaussian_vae_digits" / "1"
    shutil.copytree(SOURCE, version_dir)
    path = version_dir / "keraszoo_manifest.json"
    manifest = json.loads(path.read_text())
    with pytest.warns(UserWarning, match="lambda"):
        lam = keras.saving.serialize_keras_object(lambda x: 2 * x)  # code that would run on load
    path.write_text(json.dumps({**manifest, "config": {**manifest["config"], "encoder": {
        **manifest["config"]["encoder"], "activation": lam}}}))  # fmt: skip
    with pytest.raises(ValueError, match="does not build a GaussianVAE .*safe_mode=False"):
        keraszoo.presets.load_keras_model(str(version_dir))
    path.write_text(json.dumps({**manifest, "model": "os.system"}))
    with pytest.raises(ValueError, match="Unknown model name.*Received: model='os.system'"):
        keraszoo.presets.load_keras_model(str(version_dir))
