"""The book's one training loop: mini-batches, a tqdm bar, a loss history."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ._checks import positive_int

__all__ = ["History", "fit"]


@dataclass
class History:
    """Losses recorded by :func:`fit`.

    Attributes
    ----------
    step : list of float
        The loss of every optimiser step, in order.
    epoch : list of float
        The mean step loss of every epoch (weighted by batch size).
    """

    step: list[float] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    optimizer: torch.optim.Optimizer,
    data: Sequence[torch.Tensor],
    epochs: int,
    *,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    callback: Callable[[int, torch.nn.Module, History], None] | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` by mini-batch gradient descent and return the loss history.

    Parameters
    ----------
    model : torch.nn.Module
        The model; batches are moved to the device of its first parameter.
    loss_fn : callable
        ``loss_fn(model, *batch) -> scalar tensor``, e.g.
        ``lambda m, x, y: cross_entropy(m(x), y)``.
    optimizer : torch.optim.Optimizer
        Optimiser over the model's parameters.
    data : sequence of tensors
        Tensors sharing their first dimension ``n`` (e.g. ``(x (n, d), y (n,))``).
    epochs : int
        Passes over the data, >= 1.
    batch_size : int, optional
        Mini-batch size, >= 1; ``None`` uses the full batch.
    generator : torch.Generator, optional
        Generator of the shuffling permutation, for repeatable runs.
    scheduler : torch.optim.lr_scheduler.LRScheduler, optional
        Stepped once after every epoch (e.g. ``CosineAnnealingLR(optimizer, T_max=epochs)``).
    callback : callable, optional
        ``callback(epoch, model, history)`` after every epoch (``epoch`` counts from 0).
    progress : bool
        Show a ``tqdm.auto`` progress bar over the epochs.

    Returns
    -------
    History
        Per-step and per-epoch losses.
    """
    tensors = tuple(data)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise ValueError("data must be a non-empty sequence of tensors")
    n = len(tensors[0])
    if n == 0 or any(len(t) != n for t in tensors):
        raise ValueError(
            f"data tensors must share a non-zero first dimension, got {[len(t) for t in tensors]}"
        )
    positive_int("epochs", epochs)
    batch_size = n if batch_size is None else positive_int("batch_size", batch_size)
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    tensors = tuple(t.to(device) for t in tensors)

    history = History()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = loss_fn(model, *(t[idx] for t in tensors))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = loss.item()
            history.step.append(value)
            total += value * len(idx)
        history.epoch.append(total / n)
        if scheduler is not None:
            scheduler.step()
        bar.set_postfix(loss=f"{history.epoch[-1]:.4f}")
        if callback is not None:
            callback(epoch, model, history)
    model.eval()
    return history
