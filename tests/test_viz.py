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


def test_plot_history_labels_each_metric_in_its_unit(tmp_path, monkeypatch):
    path = tmp_path / "h.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "recon_nll", "perplexity", "val_recon_nll", "val_perplexity"])
        writer.writerows([[0, 60.0, 5.0, 58.0, 6.0], [1, 40.0, 20.0, 41.0, 22.0]])
    labels = []
    plt = viz._pyplot()
    original = plt.Axes.set

    def record(ax, **kw):
        labels.append(kw.get("ylabel"))
        return original(ax, **kw)

    monkeypatch.setattr(plt.Axes, "set", record)
    png = viz.plot_history(str(path), str(tmp_path / "h.png"), ("recon_nll", "perplexity"))
    image = matplotlib.image.imread(png)
    assert image[..., :3].std() > 0
    assert labels == ["nats per example", viz.UNITS["perplexity"]]
