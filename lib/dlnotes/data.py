"""Offline data: every loader of the book lives here (DESIGN.md §5).

Nothing is downloaded. The digits ship with scikit-learn; the 2-D toys are generated.
Every function returns ``torch`` tensors with the shapes stated in its docstring.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ._checks import positive_int

__all__ = ["Digits", "digits", "ring_centres", "grid_centres", "ring", "grid", "moons"]


class Digits(NamedTuple):
    """The 8x8 digits split into train and test parts.

    ``x_*`` are float32 pixel intensities scaled to [0, 1], shaped ``(n, 64)`` (flat) or
    ``(n, 1, 8, 8)`` (images); ``y_*`` are int64 class labels in 0..9, shaped ``(n,)``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits(test_fraction: float = 0.25, *, flat: bool = True, seed: int = 0) -> Digits:
    """Load scikit-learn's 1 797 handwritten 8x8 digits with a fixed stratified split.

    Parameters
    ----------
    test_fraction : float
        Share of the images held out for testing, in (0, 1). The split is stratified by
        class, so every digit appears in both parts in the same proportion.
    flat : bool
        ``True`` gives ``x`` as ``(n, 64)``; ``False`` gives images ``(n, 1, 8, 8)``.
    seed : int
        Seed of the split; the default 0 is the book's fixed split.

    Returns
    -------
    Digits
        ``x_train (n_train, 64)``, ``y_train (n_train,)``, ``x_test (n_test, 64)``,
        ``y_test (n_test,)``; with the default fraction, 1 347 train and 450 test images.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not isinstance(test_fraction, (float, int)) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    shape = (-1, 64) if flat else (-1, 1, 8, 8)
    return Digits(
        torch.from_numpy(x_tr).reshape(shape),
        torch.from_numpy(y_tr),
        torch.from_numpy(x_te).reshape(shape),
        torch.from_numpy(y_te),
    )


def _check_positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def ring_centres(modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Centres of the ring mixture: ``modes`` points on a circle at angles 2πk/modes.

    Returns
    -------
    torch.Tensor
        ``(modes, 2)`` float32.
    """
    positive_int("modes", modes)
    _check_positive("radius", radius)
    angle = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    return (radius * torch.stack([angle.cos(), angle.sin()], dim=1)).float()


def grid_centres(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Centres of the grid mixture: a ``side x side`` lattice centred at the origin.

    With the defaults, the 25 points of {-4, -2, 0, 2, 4}².

    Returns
    -------
    torch.Tensor
        ``(side**2, 2)`` float32, row-major (x varies slowest).
    """
    positive_int("side", side)
    _check_positive("spacing", spacing)
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


def _mixture(
    centres: torch.Tensor, n: int, std: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    positive_int("n", n)
    _check_positive("std", std)
    labels = torch.randint(len(centres), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator)
    return centres[labels] + std * noise, labels


def ring(
    n: int, modes: int = 8, radius: float = 1.0, std: float = 0.01,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample the ring of Gaussians (the 'ring-8' benchmark with the defaults).

    Each sample picks one of ``modes`` centres uniformly (see :func:`ring_centres`) and adds
    isotropic Gaussian noise of standard deviation ``std``.

    Returns
    -------
    x : torch.Tensor
        ``(n, 2)`` float32 samples.
    labels : torch.Tensor
        ``(n,)`` int64 index of the centre each sample came from.
    """
    return _mixture(ring_centres(modes, radius), n, std, generator)


def grid(
    n: int, side: int = 5, spacing: float = 2.0, std: float = 0.05,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample the grid of Gaussians (the 'grid-25' benchmark with the defaults).

    Returns
    -------
    x : torch.Tensor
        ``(n, 2)`` float32 samples.
    labels : torch.Tensor
        ``(n,)`` int64 index into :func:`grid_centres`.
    """
    return _mixture(grid_centres(side, spacing), n, std, generator)


def moons(
    n: int, noise: float = 0.05, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample two interleaving half circles ('two moons').

    The upper moon is the unit half circle centred at (0, 0); the lower one is centred at
    (1, 0.5) and flipped. ``noise`` is the standard deviation of added Gaussian noise
    (0 gives points exactly on the arcs).

    Returns
    -------
    x : torch.Tensor
        ``(n, 2)`` float32 samples.
    labels : torch.Tensor
        ``(n,)`` int64, 0 for the upper moon and 1 for the lower.
    """
    positive_int("n", n)
    if not isinstance(noise, (int, float)) or not noise >= 0 or math.isinf(noise):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    labels = torch.randint(2, (n,), generator=generator)
    angle = math.pi * torch.rand(n, generator=generator)
    upper = torch.stack([angle.cos(), angle.sin()], dim=1)
    lower = torch.stack([1 - angle.cos(), 0.5 - angle.sin()], dim=1)
    x = torch.where(labels[:, None] == 0, upper, lower)
    return x + noise * torch.randn(n, 2, generator=generator), labels
