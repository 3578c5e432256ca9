"""Datasets as tf.data pipelines of float32 images in [0, 1], shape (height, width, channels).

Sources, by name:
    digits           scikit-learn's 8×8 handwritten digits (shipped with scikit-learn: works
                     offline right after install). Fixed splits train/validation/test of
                     1297/250/250 images (permutation with seed 0).
    binarized_mnist  TFDS, the static binarization of Larochelle & Murray (2011), 28×28×1.
    mnist, fashion_mnist
                     TFDS, grayscale 28×28×1; validation = the last 10 000 training images.
    cifar10          TFDS, 32×32×3; validation = the last 5 000 training images.
    npz              a local .npz with arrays `train`, `valid`, `test` of shape (n, H, W) or
                     (n, H, W, C), values in {0, 1} or uint8 0..255 (the layout of
                     shared/data/binarized_mnist.npz); pass `path=`. Loading any split checks
                     all three arrays' dtypes and image shapes (from their headers), and the
                     split's values (finite, within 0..255): a bad file is one ValueError.

Binarization (`make_pipeline(binarize=...)`):
    "none"     keep intensities;
    "static"   one Bernoulli draw per image, fixed by (seed, index) — the same every epoch;
    "dynamic"  a fresh Bernoulli draw every time an image is seen (Salakhutdinov & Murray).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import zipfile
import zlib

import numpy as np
import tensorflow as tf

from keraszoo._checks import check_one_of, check_positive

SPLITS = ("train", "validation", "test")
BINARIZE = ("none", "static", "dynamic")


def _holdout(n: int) -> dict[str, str]:
    """TFDS splits that hold out the training images from index `n` on for validation."""
    return {"train": f"train[:{n}]", "validation": f"train[{n}:]", "test": "test"}


_TFDS = {  # TFDS name: ({split: TFDS split}, binary)
    "binarized_mnist": ({split: split for split in SPLITS}, True),
    "mnist": (_holdout(50_000), False),
    "fashion_mnist": (_holdout(50_000), False),
    "cifar10": (_holdout(45_000), False),
}
DATASETS = ("digits", "npz", *_TFDS)
# The image shape of each named dataset, known without reading it (an .npz file's is its own).
_DATA_SHAPES = {
    "digits": (8, 8, 1),
    "binarized_mnist": (28, 28, 1),
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}


def known_data_shape(name: str) -> tuple[int, ...] | None:
    """The image shape (H, W, C) of dataset `name` without loading it; None for "npz"."""
    check_one_of("dataset", name, DATASETS)
    return _DATA_SHAPES.get(name)


class DatasetUnavailableError(RuntimeError):
    """A dataset cannot be read here (not prepared and no network); the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Split:
    """An unbatched dataset of images plus what a model needs to know about it."""

    dataset: tf.data.Dataset
    data_shape: tuple[int, ...]
    binary: bool
    num_examples: int | None


def load_split(
    name: str,
    split: str,
    *,
    data_dir: str | None = None,
    download: bool = True,
    path: str | None = None,
) -> Split:
    """Loads one split of a dataset by name (see the module docstring).

    Args:
        name: one of `DATASETS`.
        split: "train", "validation" or "test".
        data_dir: TFDS data directory (prepared datasets are read from here).
        download: let TFDS download and prepare a missing dataset.
        path: the .npz file, for name="npz".

    Raises:
        ValueError: unknown name or split, or an .npz that is missing, unreadable, or whose arrays
            are not numeric images of one shape, or whose split holds NaN/Inf or values outside
            0..255.
        DatasetUnavailableError: a TFDS dataset that is not prepared and cannot be downloaded.
    """
    check_one_of("dataset", name, DATASETS)
    check_one_of("split", split, SPLITS)
    if name == "digits":
        return _from_array(_digits_split(split) / 16.0, binary=False)
    if name == "npz":
        return _npz_split(path, split)
    return _tfds_split(name, split, data_dir, download)


def _digits_split(split):
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float32)  # (1797, 8, 8), values 0..16
    order = np.random.default_rng(0).permutation(len(images))
    bounds = {"train": (0, 1297), "validation": (1297, 1547), "test": (1547, 1797)}[split]
    return images[order[bounds[0] : bounds[1]]][..., None]


def _from_array(images: np.ndarray, binary: bool) -> Split:
    images = np.asarray(images, np.float32)
    return Split(tf.data.Dataset.from_tensor_slices(images), tuple(images.shape[1:]), binary, len(images))


_NPZ_ARRAYS = {"train": "train", "validation": "valid", "test": "test"}  # split: array in the .npz
# What reading a damaged file raises: zipfile and zlib errors, numpy's format errors (ValueError),
# truncated data (EOFError), I/O errors and unsupported zip compression (NotImplementedError).
_UNREADABLE = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError)


def _unreadable_npz(path, reason):
    return ValueError(
        f"Expected a readable .npz file (arrays train/valid/test, as written by np.savez). "
        f"Received: path={path!r}, which cannot be read ({reason})"
    )


@contextlib.contextmanager
def _reading_npz(path):
    """Turns the errors of reading a damaged or non-.npz file into one ValueError naming it."""
    try:
        yield
    except _UNREADABLE as err:
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}" if str(err) else type(err).__name__
        raise _unreadable_npz(path, reason) from None


def _npz_split(path, split):
    if not path:
        raise ValueError("Dataset 'npz' needs `path` (the .npz file). Received: path=None")
    if not os.path.exists(path):
        raise ValueError(f"No such .npz file. Received: path={path!r}")
    key = _NPZ_ARRAYS[split]
    with _reading_npz(path), open(path, "rb") as f:
        head = f.read(6)
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):  # zip or .npy
        # (np.load would try it as a pickle, and say so)
        raise _unreadable_npz(path, f"not a zip archive: it starts with {head!r}" if head else "empty file")
    with _reading_npz(path):
        data = np.load(path)
    if not isinstance(data, np.lib.npyio.NpzFile):  # a .npy file loads as one array
        raise ValueError(
            "Expected an .npz file (arrays train/valid/test, as written by np.savez). "
            f"Received: path={path!r}, a .npy file of one array of shape {data.shape}"
        )
    with data:
        with _reading_npz(path):  # shapes and dtypes of all three arrays, from their headers
            headers = {k: _npy_header(data, k) for k in _NPZ_ARRAYS.values() if k in data.files}
        if key not in headers:
            raise ValueError(f"The .npz file {path!r} has no array {key!r}; it has {sorted(data.files)}.")
        _check_npz_headers(path, headers)
        with _reading_npz(path):
            images = data[key]
    _check_npz_values(path, key, images)
    if images.ndim == 3:
        images = images[..., None]
    binary = bool(np.isin(images, (0, 1)).all())
    if not binary:
        images = images.astype(np.float32) / 255.0
    return _from_array(images, binary)


def _npy_header(data, key):
    """(shape, dtype) of array `key` of an open .npz, read from its .npy header (not its data)."""
    member = f"{key}.npy" if f"{key}.npy" in data.zip.namelist() else key
    with data.zip.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version in ((1, 0), (2, 0)):
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(f)
            return shape, dtype
    array = data[key]  # a newer .npy format version: read the array itself
    return array.shape, array.dtype


def _check_npz_headers(path, headers):
    """Every array: numeric images (n, H, W) or (n, H, W, C), n >= 1; all of one image shape."""
    for key, (shape, dtype) in headers.items():
        if dtype.kind not in "biuf":
            raise ValueError(
                f"Expected numeric image arrays (bool, integer or float) in .npz file {path!r}. "
                f"Received: array {key!r} of dtype {dtype} and shape {shape}"
            )
        if len(shape) not in (3, 4) or 0 in shape:
            raise ValueError(
                f"Expected arrays of shape (n, H, W) or (n, H, W, C), with no zero size, in .npz file "
                f"{path!r}. Received: array {key!r} of shape {shape}"
            )
    image_shapes = {key: shape[1:] + (1,) * (4 - len(shape)) for key, (shape, _) in headers.items()}
    if len(set(image_shapes.values())) > 1:
        received = ", ".join(f"{key!r} of shape {shape}" for key, (shape, _) in headers.items())
        raise ValueError(
            f"Expected the arrays of .npz file {path!r} to hold images of one shape (H, W) or "
            f"(H, W, C). Received: {received}"
        )


def _check_npz_values(path, key, images):
    """Finite values in {0, 1} or 0..255 (what `_npz_split` reads as binary or as uint8 intensities)."""
    if images.dtype.kind == "f":
        nan, inf = int(np.isnan(images).sum()), int(np.isinf(images).sum())
        if nan or inf:
            raise ValueError(
                f"Expected finite values in .npz file {path!r}. Received: array {key!r} holds "
                f"{nan + inf} NaN/Inf values ({nan} NaN, {inf} Inf) among its {images.size}"
            )
    low, high = images.min(), images.max()
    if low < 0 or high > 255:
        raise ValueError(
            f"Expected values in {{0, 1}} or 0..255 in .npz file {path!r}. Received: array {key!r} "
            f"with values from {low} to {high}"
        )


# Where TFDS downloads each dataset from (its builders' URLs): probed before a download, so that
# a machine without a network fails in seconds, not after TFDS's ~30 retries (≈ 3.5 minutes).
_DOWNLOAD_HOSTS = {
    "binarized_mnist": ("www.cs.toronto.edu", 80),
    "mnist": ("storage.googleapis.com", 443),
    "fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
    "cifar10": ("www.cs.toronto.edu", 443),
}
PROBE_TIMEOUT_S = 5.0


def _host_reachable(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tfds_data_dir(data_dir):
    if data_dir is not None:
        return os.path.expanduser(data_dir)
    return os.path.expanduser(os.environ.get("TFDS_DATA_DIR", os.path.join("~", "tensorflow_datasets")))


@contextlib.contextmanager
def _removing_new_files_on_error(directory: str):
    """On an exception, removes what appeared in `directory` (and in its `downloads/`) since entry,
    and `directory` itself if it did not exist: a failed download leaves no partial files."""
    existed = os.path.isdir(directory)

    def entries():
        found = set()
        for parent in (directory, os.path.join(directory, "downloads")):
            if os.path.isdir(parent):
                found |= {os.path.join(parent, e) for e in os.listdir(parent)}
        return found

    before = entries()
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            for path in sorted(entries() - before, key=len, reverse=True):
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.remove(path)
        raise


@contextlib.contextmanager
def _absl_quiet():
    """TFDS's Python warnings (absl logging) off inside the block."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _tfds_split(name, split, data_dir, download):
    import tensorflow_datasets as tfds

    splits, binary = _TFDS[name]

    def load(download_now):
        return tfds.load(name, split=splits[split], data_dir=data_dir, download=download_now, with_info=True)

    try:
        try:  # a prepared dataset reads without a network (TFDS logs a warning when it is not)
            with _absl_quiet():
                ds, info = load(False)
        except Exception:  # noqa: BLE001 - not prepared (TFDS raises anything from AssertionError on)
            if not download:
                raise
            host, port = _DOWNLOAD_HOSTS[name]
            if not _host_reachable(host, port):
                raise ConnectionError(f"{host}:{port} cannot be reached") from None
            with _removing_new_files_on_error(_tfds_data_dir(data_dir)):
                ds, info = load(True)
    except Exception as err:  # noqa: BLE001 - TFDS raises anything from AssertionError to OSError
        raise DatasetUnavailableError(_unavailable_message(name, data_dir, download, err)) from None
    shape = tuple(info.features["image"].shape)
    try:
        num = info.splits[splits[split]].num_examples
    except KeyError:  # tfds.testing.mock_data leaves the split metadata empty
        num = None

    def to_float(ex):  # binary: stored as uint8 {0, 1}; `> 0` is exact there (and binary under mock_data)
        return tf.cast(ex["image"] > 0, tf.float32) if binary else tf.cast(ex["image"], tf.float32) / 255.0

    return Split(ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE), shape, binary, num)


def _unavailable_message(name, data_dir, download, err):
    reason = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}" if str(err) else type(err).__name__
    how = (
        "the download failed (is there a network?)"
        if download
        else "it is not prepared there and download=False"
    )
    return (
        f"Dataset {name!r} cannot be loaded from data_dir={data_dir!r}: {how}. ({reason})\n"
        "What to do instead:\n"
        f'  - on a machine with a network, run `python -c "import tensorflow_datasets as tfds; '
        f"tfds.load('{name}', data_dir='DIR')\"` and pass --data-dir DIR;\n"
        "  - or use a local file: --data-file PATH.npz (arrays train/valid/test of shape (n, H, W) "
        "or (n, H, W, C), values {0, 1} or uint8 0..255, as written by np.savez);\n"
        "  - or use the embedded dataset: --dataset digits (works offline)."
    )


def make_pipeline(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool = False,
    binarize: str = "none",
    seed: int = 0,
    drop_remainder: bool = False,
    cache: bool = True,
) -> tf.data.Dataset:
    """Shuffle, binarize, batch by the *global* batch size and prefetch.

    Args:
        split: from `load_split`.
        batch_size: global batch size (tf.distribute splits it across replicas).
        shuffle: reshuffle every epoch (training).
        binarize: "none", "static" or "dynamic" (see module docstring). Ignored for data
            that is already binary.
        seed: seed of the shuffle and of the binarization noise.
        drop_remainder: drop the last partial batch (training: every replica gets an
            equal share).
        cache: cache decoded images in memory.
    """
    check_positive("batch_size", batch_size, integer=True)
    check_one_of("binarize", binarize, BINARIZE)
    ds = split.dataset
    if binarize == "static" and not split.binary:
        ds = ds.enumerate().map(
            lambda i, x: _bernoulli(x, tf.stack([tf.cast(seed, tf.int64), i])),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(min(split.num_examples or 10_000, 10_000), seed=seed, reshuffle_each_iteration=True)
    if binarize == "dynamic" and not split.binary:
        noise_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, noise_seeds).map(
            lambda x, s: _bernoulli(x, tf.stack([s, tf.constant(seed, tf.int64)])),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def evaluation_binarize(binarize: str) -> str:
    """The binarization of validation and test data for a training `binarize`: static (binarized
    once, identically every time) whenever training binarizes, so evaluations never resample."""
    return "static" if binarize != "none" else "none"


def _bernoulli(x, seed):
    return tf.cast(tf.random.stateless_uniform(tf.shape(x), seed=seed) < x, tf.float32)


def as_numpy(split: Split, limit: int | None = None) -> np.ndarray:
    """The images of a split as one array (for pictures and small evaluations)."""
    ds = split.dataset if limit is None else split.dataset.take(limit)
    return np.stack(list(ds.as_numpy_iterator()))
