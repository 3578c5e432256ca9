"""A bad local .npz is one clear ValueError when a split is loaded, and one `error:` line from the CLI,
before any model is built or trained."""

import re

import numpy as np
import pytest

from keraszoo.data import as_numpy, load_split
from keraszoo.recipes.train import main


def _images(n, shape=(28, 28), seed=0):
    return (np.random.default_rng(seed).random((n, *shape)) > 0.5).astype(np.float32)


def _write(path, **arrays):
    arrays = {"train": _images(6), "valid": _images(3, seed=1), "test": _images(2, seed=2), **arrays}
    np.savez(path, **arrays)
    return path


def _mismatched(tmp_path):
    return _write(tmp_path / "mismatch.npz", valid=_images(3, (27, 28)))


def _truncated(tmp_path):
    good = _write(tmp_path / "good.npz")
    path = tmp_path / "truncated.npz"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return path


def _nans(tmp_path):
    return _write(
        tmp_path / "nans.npz",
        train=np.full((6, 28, 28), np.nan, np.float32),
        valid=np.full((3, 28, 28), np.nan, np.float32),
        test=np.full((2, 28, 28), np.nan, np.float32),
    )


def _one_dimensional(tmp_path):
    return _write(tmp_path / "flat.npz", train=np.zeros(784, np.float32))


# (file maker, load_split's message pattern): one row per kind of bad file.
BAD_FILES = {
    "mismatched_shapes": (
        _mismatched,
        r"mismatch\.npz' to hold images of one shape .* Received: 'train' of shape \(6, 28, 28\), "
        r"'valid' of shape \(3, 27, 28\), 'test' of shape \(2, 28, 28\)",
    ),
    "truncated": (_truncated, r"Expected a readable \.npz file .*truncated\.npz'.*BadZipFile"),
    "missing": (lambda tmp_path: tmp_path / "missing.npz", r"No such \.npz file\. .*missing\.npz'"),
    "nans": (
        _nans,
        r"Expected finite values in \.npz file '.*nans\.npz'\. Received: array 'train' holds "
        r"4704 NaN/Inf values \(4704 NaN, 0 Inf\)",
    ),
    "one_dimensional": (_one_dimensional, r"flat\.npz'\. Received: array 'train' of shape \(784,\)"),
}


@pytest.mark.parametrize("bad", sorted(BAD_FILES))
def test_bad_npz_is_one_value_error_for_every_split(tmp_path, bad):
    make, pattern = BAD_FILES[bad]
    path = make(tmp_path)
    # Loading any split fails (mismatched shapes too: all three arrays are checked).
    splits = ("train",) if bad == "nans" else ("train", "validation", "test")
    for split in splits:
        with pytest.raises(ValueError, match=pattern) as err:
            load_split("npz", split, path=str(path))
        assert "\n" not in str(err.value) and err.value.__cause__ is None


@pytest.mark.parametrize("bad", sorted(BAD_FILES))
def test_cli_bad_npz_is_one_error_line_and_no_model(tmp_path, capsys, bad):
    make, pattern = BAD_FILES[bad]
    path = make(tmp_path)
    workdir = tmp_path / "run"
    code = main(
        ["gaussian_vae_mnist", "--smoke", "--data-file", str(path), "--workdir", str(workdir), "--no-export"]
    )
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert re.search(pattern, lines[0]) and "Traceback" not in captured.err
    # No model, checkpoint, log or picture (the run's config.json record may be there).
    written = {p.relative_to(workdir).as_posix() for p in workdir.rglob("*")} if workdir.exists() else set()
    assert written <= {"config.json"}, written


def test_corrupted_and_non_npz_files(tmp_path):
    good = _write(tmp_path / "good.npz")
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 3] ^= 0xFF  # inside train's data: its CRC no longer matches
    (tmp_path / "flipped.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"readable \.npz file.*flipped\.npz'.*BadZipFile: Bad CRC-32"):
        load_split("npz", "train", path=str(tmp_path / "flipped.npz"))
    (tmp_path / "text.npz").write_text("train,valid,test\n")
    with pytest.raises(
        ValueError, match=r"text\.npz', which cannot be read \(not a zip archive: it starts with b'train,'\)"
    ):
        load_split("npz", "test", path=str(tmp_path / "text.npz"))
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(
        ValueError, match=r"readable \.npz file.*empty\.npz', which cannot be read \(empty file\)"
    ):
        load_split("npz", "test", path=str(tmp_path / "empty.npz"))
    np.save(tmp_path / "one.npy", _images(2))
    with pytest.raises(ValueError, match=r"one\.npy', a \.npy file of one array of shape \(2, 28, 28\)"):
        load_split("npz", "test", path=str(tmp_path / "one.npy"))
    with pytest.raises(ValueError, match=r"readable \.npz file.*IsADirectoryError"):
        load_split("npz", "test", path=str(tmp_path))


def test_nan_and_inf_are_counted_in_the_array_loaded(tmp_path):
    valid = _images(3)
    valid[0, :3, 0] = np.nan
    valid[1, 5, 5] = np.inf
    valid[2, 5, 5] = -np.inf
    path = _write(tmp_path / "some.npz", valid=valid)
    with pytest.raises(
        ValueError, match=r"array 'valid' holds 5 NaN/Inf values \(3 NaN, 2 Inf\) among its 2352"
    ):
        load_split("npz", "validation", path=str(path))
    assert load_split("npz", "train", path=str(path)).binary  # the other arrays are fine


@pytest.mark.parametrize(
    "array, pattern",
    [
        (np.array(["a", "b", "c"]), r"Received: array 'test' of dtype <U1 and shape \(3,\)"),
        (np.empty((2, 28, 28), object), r"Received: array 'test' of dtype object and shape \(2, 28, 28\)"),
        (np.zeros((2, 28, 28), np.complex64), r"Received: array 'test' of dtype complex64"),
        (np.zeros((2, 1, 28, 28, 1), np.float32), r"Received: array 'test' of shape \(2, 1, 28, 28, 1\)"),
        (np.zeros((0, 28, 28), np.float32), r"Received: array 'test' of shape \(0, 28, 28\)"),
    ],
)
def test_arrays_that_are_not_numeric_images(tmp_path, array, pattern):
    path = _write(tmp_path / "odd.npz", test=array)
    for split in ("train", "test"):
        with pytest.raises(ValueError, match=r"in \.npz file '.*odd\.npz'\. " + pattern):
            load_split("npz", split, path=str(path))


def test_values_outside_0_255(tmp_path):
    path = _write(tmp_path / "range.npz", train=np.full((6, 28, 28), -1.0, np.float32))
    with pytest.raises(
        ValueError, match=r"Expected values in \{0, 1\} or 0\.\.255 .*array 'train' with values from"
    ):
        load_split("npz", "train", path=str(path))


def test_valid_files_load_as_before(tmp_path):
    # (n, H, W) and (n, H, W, 1) arrays are the same images; float, bool and uint8 all load.
    train, test = _images(6), np.random.default_rng(3).integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    path = _write(
        tmp_path / "ok.npz", train=train, valid=_images(3).astype(bool), test=test, extra=np.ones(3)
    )
    split = load_split("npz", "train", path=str(path))
    assert split.binary and split.data_shape == (28, 28, 1) and split.num_examples == 6
    np.testing.assert_array_equal(as_numpy(split), train[..., None])
    assert load_split("npz", "validation", path=str(path)).binary
    split = load_split("npz", "test", path=str(path))
    assert not split.binary and split.data_shape == (28, 28, 1)
    np.testing.assert_allclose(as_numpy(split), test.astype(np.float32) / 255.0)
