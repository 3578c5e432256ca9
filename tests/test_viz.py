import csv

import matplotlib.image
import pytest

from keraszoo import viz


def _history(path, values):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "val_neg_elbo"])
        writer.writerows(enumerate(values))
    return str(path)


def test_plot_runs_draws_runs_of_different_lengths(tmp_path):
    runs = {
        "a": _history(tmp_path / "a.csv", [120.0, 110.0, 105.0]),
        "b": _history(tmp_path / "b.csv", [130.0]),
    }
    image = matplotlib.image.imread(viz.plot_runs(runs, str(tmp_path / "runs.png"), title="t"))
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0  # not a blank canvas


def test_plot_runs_names_a_missing_metric(tmp_path):
    runs = {"a": _history(tmp_path / "a.csv", [1.0])}
    with pytest.raises(ValueError, match="metric='val_loss'"):
        viz.plot_runs(runs, str(tmp_path / "x.png"), metric="val_loss")
