"""Shared matplotlib helpers so that every chapter's figures look alike."""
from __future__ import annotations

import io
from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

from .metrics import Calibration

__all__ = ["BOOK_STYLE", "use_book_style", "figure_png", "image_grid", "loss_curve",
           "confusion", "reliability"]

#: The rcParams every figure of the book is drawn with.
BOOK_STYLE: dict[str, object] = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.0, 3.6),
    "figure.autolayout": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def use_book_style() -> None:
    """Apply :data:`BOOK_STYLE` to matplotlib's rcParams (call once at the top of a notebook)."""
    mpl.rcParams.update(BOOK_STYLE)


def figure_png(fig: plt.Figure, dpi: int = 80) -> bytes:
    """Render ``fig`` to PNG bytes and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def image_grid(
    images: torch.Tensor | np.ndarray, ncols: int = 10, titles: Sequence[str] | None = None,
    cmap: str = "gray_r", size: float = 0.9,
) -> plt.Figure:
    """Draw ``images`` ``(n, h, w)`` or ``(n, 1, h, w)`` in a grid of ``ncols`` columns."""
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or len(arr) == 0:
        raise ValueError(f"images must have shape (n, h, w) or (n, 1, h, w), got {arr.shape}")
    if titles is not None and len(titles) != len(arr):
        raise ValueError("titles must have one entry per image")
    ncols = min(ncols, len(arr))
    nrows = -(-len(arr) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.2 * (titles is not None)),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(arr):
            ax.imshow(arr[k], cmap=cmap)
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    return fig


def loss_curve(losses: Sequence[float], ax: plt.Axes | None = None, label: str | None = None,
               xlabel: str = "epoch", logy: bool = False) -> plt.Axes:
    """Plot a loss history (e.g. ``History.epoch``) on ``ax`` (a new one if ``None``)."""
    if ax is None:
        _, ax = plt.subplots()
    ax.plot(np.arange(1, len(losses) + 1), losses, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    if label is not None:
        ax.legend()
    return ax


def confusion(matrix: torch.Tensor, ax: plt.Axes | None = None, labels: Sequence[str] | None = None) -> plt.Axes:
    """Draw a confusion matrix ``(c, c)`` (rows: true class, columns: predicted) with counts."""
    m = matrix.cpu().numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.imshow(m, cmap="Blues")
    ax.grid(False)
    for (i, j), count in np.ndenumerate(m):
        if count:
            ax.text(j, i, int(count), ha="center", va="center", fontsize=7,
                    color="white" if count > m.max() / 2 else "black")
    ticks = np.arange(len(m))
    ax.set_xticks(ticks, labels if labels is not None else ticks)
    ax.set_yticks(ticks, labels if labels is not None else ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return ax


def reliability(cal: Calibration, ax: plt.Axes | None = None, label: str | None = None,
                diagonal: bool = True) -> plt.Axes:
    """Reliability diagram of a :class:`~dlnotes.metrics.Calibration`: accuracy against
    confidence per bin, with the diagonal of perfect calibration (``diagonal=False`` when
    adding a second model to the same axes)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.0, 4.0))
    if diagonal:
        ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfectly calibrated")
    keep = cal.count > 0
    ax.plot(cal.confidence[keep].numpy(), cal.accuracy[keep].numpy(), "o-",
            label=label if label is not None else f"model (ECE {cal.ece:.3f})")
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left")
    return ax
