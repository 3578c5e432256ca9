import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keraszoo.data import DatasetUnavailableError, as_numpy, load_split, make_pipeline
from tests.conftest import SHARED_NPZ


def test_digits_splits_are_fixed_disjoint_and_scaled():
    splits = {s: as_numpy(load_split("digits", s)) for s in ("train", "validation", "test")}
    assert [len(v) for v in splits.values()] == [1297, 250, 250]
    assert all(v.shape[1:] == (8, 8, 1) and v.min() >= 0 and v.max() <= 1 for v in splits.values())
    keys = [{a.tobytes() for a in v} for v in splits.values()]
    assert not (keys[1] & keys[2]) and len(keys[0] & keys[2]) < 5  # digits has a few exact duplicates
    np.testing.assert_array_equal(splits["test"], as_numpy(load_split("digits", "test")))


def _epoch(ds):
    return np.concatenate(list(ds.as_numpy_iterator()))


def test_static_binarization_is_fixed_and_dynamic_is_resampled():
    split = load_split("digits", "validation")
    static = make_pipeline(split, 50, binarize="static", seed=3)
    first, second = _epoch(static), _epoch(static)
    assert set(np.unique(first)) <= {0.0, 1.0}
    np.testing.assert_array_equal(first, second)
    dynamic = make_pipeline(split, 50, binarize="dynamic", seed=3)
    a, b = _epoch(dynamic), _epoch(dynamic)
    assert set(np.unique(a)) <= {0.0, 1.0} and not np.array_equal(a, b)
    # A Bernoulli draw with p = intensity: its mean matches the intensities.
    np.testing.assert_allclose(a.mean(), as_numpy(split).mean(), atol=0.01)


def test_pipeline_batches_by_global_batch_size_and_drops_remainder():
    split = load_split("digits", "validation")
    sizes = [len(b) for b in make_pipeline(split, 64, drop_remainder=True)]
    assert sizes == [64, 64, 64]
    assert [len(b) for b in make_pipeline(split, 64)][-1] == 250 - 3 * 64


def test_npz_file(tmp_path):
    path = tmp_path / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        train=rng.integers(0, 2, (10, 4, 4), dtype=np.uint8),
        valid=np.zeros((3, 4, 4), np.uint8),
        test=np.full((2, 4, 4), 255, np.uint8),
    )
    train = load_split("npz", "train", path=str(path))
    assert train.binary and train.data_shape == (4, 4, 1) and train.num_examples == 10
    test = load_split("npz", "test", path=str(path))
    assert not test.binary and as_numpy(test).max() == 1.0  # uint8 intensities scaled to [0, 1]
    with pytest.raises(ValueError, match="Received: path=None"):
        load_split("npz", "train")
    with pytest.raises(ValueError, match="No such .npz"):
        load_split("npz", "train", path=str(tmp_path / "missing.npz"))


@pytest.mark.skipif(not os.path.exists(SHARED_NPZ), reason="shared binarized MNIST not present")
def test_shared_binarized_mnist_npz():
    split = load_split("npz", "test", path=SHARED_NPZ)
    assert split.binary and split.data_shape == (28, 28, 1) and split.num_examples == 10000


@pytest.mark.parametrize(
    "name, shape",
    [
        ("binarized_mnist", (28, 28, 1)),
        ("mnist", (28, 28, 1)),
        ("fashion_mnist", (28, 28, 1)),
        ("cifar10", (32, 32, 3)),
    ],
)
def test_tfds_datasets_with_mock_data(name, shape):
    with tfds.testing.mock_data(num_examples=12):
        split = load_split(name, "train", download=False)
        x = as_numpy(split)
    assert split.data_shape == shape and x.shape == (12, *shape)
    assert x.min() >= 0 and x.max() <= 1
    if name == "binarized_mnist":
        assert split.binary and set(np.unique(x)) <= {0.0, 1.0}


def test_unprepared_dataset_without_download_says_what_to_do(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="not prepared there and download=False") as err:
        load_split("mnist", "train", data_dir=str(tmp_path), download=False)
    assert "--dataset digits" in str(err.value) and "--data-dir" in str(err.value)


def test_failed_download_says_what_to_do(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(DatasetUnavailableError, match=r"download failed \(is there a network\?\)") as err:
        load_split("cifar10", "test", data_dir=str(tmp_path), download=True)
    assert err.value.__cause__ is None and "ConnectionError" in str(err.value)


def test_unknown_names_are_errors():
    with pytest.raises(ValueError, match="Received: dataset='imagenet'"):
        load_split("imagenet", "train")
    with pytest.raises(ValueError, match="Received: split='dev'"):
        load_split("digits", "dev")
    with pytest.raises(ValueError, match="Received: binarize='yes'"):
        make_pipeline(load_split("digits", "test"), 8, binarize="yes")


def test_offline_download_fails_fast_and_writes_nothing(monkeypatch, tmp_path):
    """No network: the download host is probed once, TFDS's download (with its ~30 retries) is
    never started, and the data directory stays as it was (here: absent)."""
    from keraszoo.data import datasets

    probed, downloads = [], []
    monkeypatch.setattr(datasets, "_host_reachable", lambda host, port: probed.append((host, port)) or False)
    real_load = tfds.load

    def load(*args, download, **kwargs):
        downloads.append(download)
        return real_load(*args, download=download, **kwargs)

    monkeypatch.setattr(tfds, "load", load)
    with pytest.raises(DatasetUnavailableError, match=r"download failed .* cannot be reached"):
        load_split("binarized_mnist", "train", data_dir=str(tmp_path / "tfds"), download=True)
    assert probed == [datasets._DOWNLOAD_HOSTS["binarized_mnist"]] and downloads == [False]
    assert not (tmp_path / "tfds").exists()


@pytest.mark.parametrize("existed", [False, True])
def test_a_failed_download_leaves_no_partial_files(monkeypatch, tmp_path, existed):
    """A download that fails midway: what it wrote under the data directory (the dataset folder,
    files in downloads/) is removed, and what was there before is kept."""
    from keraszoo.data import datasets

    data_dir = tmp_path / "tfds"
    if existed:
        (data_dir / "downloads").mkdir(parents=True)
        (data_dir / "downloads" / "earlier.zip").write_bytes(b"kept")
        (data_dir / "mnist").mkdir()
    monkeypatch.setattr(datasets, "_host_reachable", lambda host, port: True)

    def load(name, *, data_dir, download, **kwargs):
        if not download:
            raise AssertionError(f"Dataset {name}: could not find data in {data_dir}.")
        (Path(data_dir) / "downloads").mkdir(parents=True, exist_ok=True)
        (Path(data_dir) / "downloads" / "binarized_mnist_train.amat.tmp").write_bytes(b"partial")
        (Path(data_dir) / name / "1.0.0.incomplete").mkdir(parents=True)
        raise ConnectionError("connection reset")

    monkeypatch.setattr(tfds, "load", load)
    with pytest.raises(DatasetUnavailableError, match="ConnectionError: connection reset"):
        load_split("binarized_mnist", "train", data_dir=str(data_dir), download=True)
    if existed:
        assert sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*")) == [
            "downloads",
            "downloads/earlier.zip",
            "mnist",
        ]
    else:
        assert not data_dir.exists()
