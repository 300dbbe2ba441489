"""dlnotes.plot: the shared figure helpers draw what they say and reject bad input."""
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dlnotes import plot
from dlnotes.metrics import calibration, confusion_matrix


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_use_book_style_sets_the_rc_params():
    with mpl.rc_context():
        plot.use_book_style()
        for key, value in plot.BOOK_STYLE.items():
            assert mpl.rcParams[key] == (list(value) if isinstance(value, tuple) else value)


def test_figure_png_renders_and_closes():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    png = plot.figure_png(fig)
    assert png.startswith(b"\x89PNG") and not plt.fignum_exists(fig.number)


@pytest.mark.parametrize("shape", [(12, 8, 8), (12, 1, 8, 8)])
def test_image_grid_lays_out_every_image(shape):
    fig = plot.image_grid(torch.rand(shape), ncols=5, titles=[str(k) for k in range(12)])
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 15 and len(shown) == 12
    assert shown[3].get_title() == "3"
    np.testing.assert_array_equal(shown[0].images[0].get_array().shape, (8, 8))


@pytest.mark.parametrize("images, titles, match", [
    (torch.rand(3, 8), None, "shape"),
    (torch.rand(0, 8, 8), None, "shape"),
    (torch.rand(2, 8, 8), ["a"], "titles"),
])
def test_image_grid_bad_input(images, titles, match):
    with pytest.raises(ValueError, match=match):
        plot.image_grid(images, titles=titles)


def test_loss_curve_plots_epochs_from_one():
    ax = plot.loss_curve([3.0, 2.0, 1.5], label="train", logy=True)
    x, y = ax.lines[0].get_data()
    assert list(x) == [1, 2, 3] and list(y) == [3.0, 2.0, 1.5]
    assert ax.get_yscale() == "log" and ax.get_legend() is not None


def test_confusion_annotates_non_zero_counts():
    m = confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2)
    ax = plot.confusion(m)
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "1"]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"


def test_reliability_draws_non_empty_bins_and_optional_diagonal():
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.35, 0.65], [0.35, 0.65]])
    cal = calibration(probs, torch.tensor([0, 1, 1, 1]))
    ax = plot.reliability(cal)
    assert len(ax.lines) == 2 and len(ax.lines[1].get_xdata()) == 2
    plot.reliability(cal, ax=ax, diagonal=False, label="again")
    assert len(ax.lines) == 3
