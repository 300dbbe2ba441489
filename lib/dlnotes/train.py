"""The book's training loops: :func:`fit` (one model, mini-batches) and
:func:`fit_adversarial` (two players, a GAN or a WGAN), with one :class:`History` type, one way
to pass randomness (``generator`` is always a :class:`torch.Generator`) and one progress-bar
convention (``tqdm.auto``, redrawn at most twice a second).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ._checks import positive_int, positive_number

__all__ = ["History", "fit", "fit_adversarial"]

_BAR_INTERVAL = 0.5  # seconds between redraws: a bar redrawn every step floods a kernel's output


@dataclass
class History:
    """What a training loop records.

    Attributes
    ----------
    step : dict of str to list of float
        Per optimiser step, by name: ``"loss"`` for :func:`fit`; ``"discriminator"`` and
        ``"generator"`` (each player's cost) for :func:`fit_adversarial`.
    epoch : dict of str to list of float
        Per epoch, by name (:func:`fit`: ``"loss"``, the mean step loss weighted by batch size).
    snapshots : dict of int to torch.Tensor
        Step → CPU samples (:func:`fit_adversarial` with ``snapshot_every``).
    """

    step: dict[str, list[float]] = field(default_factory=dict)
    epoch: dict[str, list[float]] = field(default_factory=dict)
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)

    def record(self, where: str, **values: float) -> None:
        """Append each ``name=value`` to ``self.step`` (``where="step"``) or ``self.epoch``."""
        if where not in ("step", "epoch"):
            raise ValueError(f"where must be 'step' or 'epoch', got {where!r}")
        series = getattr(self, where)
        for name, value in values.items():
            series.setdefault(name, []).append(float(value))


def _device_of(model: torch.nn.Module) -> torch.device:
    params = list(model.parameters())
    return params[0].device if params else torch.device("cpu")


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
    clip_grad_norm: float | None = None,
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
        CPU generator of the shuffling permutation, for repeatable runs on any device.
    scheduler : torch.optim.lr_scheduler.LRScheduler, optional
        Stepped once after every epoch (e.g. ``CosineAnnealingLR(optimizer, T_max=epochs)``).
    callback : callable, optional
        ``callback(epoch, model, history)`` after every epoch (``epoch`` counts from 0).
    clip_grad_norm : float, optional
        If given (> 0, ``math.inf`` allowed), the gradient of all parameters is rescaled to
        this Euclidean norm whenever it is larger, before each step, and the norm *before*
        clipping is recorded as ``step["grad_norm"]`` (``inf`` only measures).
    progress : bool
        Show a ``tqdm.auto`` progress bar over the epochs.

    Returns
    -------
    History
        ``step["loss"]`` and ``epoch["loss"]`` (and ``step["grad_norm"]`` with clipping).
    """
    if clip_grad_norm is not None and (isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, (int, float))
                                       or not clip_grad_norm > 0):
        raise ValueError(f"clip_grad_norm must be a number > 0 (math.inf to only measure), got {clip_grad_norm!r}")
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
    device = _device_of(model)
    tensors = tuple(t.to(device) for t in tensors)

    history = History()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, mininterval=_BAR_INTERVAL)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = loss_fn(model, *(t[idx] for t in tensors))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
                history.record("step", grad_norm=norm.item())
            optimizer.step()
            value = loss.item()
            history.record("step", loss=value)
            total += value * len(idx)
        history.record("epoch", loss=total / n)
        if scheduler is not None:
            scheduler.step()
        bar.set_postfix(loss=f"{history.epoch['loss'][-1]:.4f}", refresh=False)
        if callback is not None:
            callback(epoch, model, history)
    model.eval()
    return history


def fit_adversarial(
    generator_net: torch.nn.Module,
    discriminator_net: torch.nn.Module,
    sample_data: Callable[[int, torch.Generator | None], torch.Tensor],
    discriminator_cost: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    generator_cost: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
    steps: int,
    *,
    latent_dim: int,
    batch_size: int = 512,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.5, 0.9),
    critic_steps: int = 1,
    decay: bool = False,
    snapshot_every: int | None = None,
    n_snapshot: int = 1000,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> History:
    """Alternate Adam steps of a discriminator (or critic) and a generator network.

    Every random draw — data batches, latent noise, snapshot latents — comes from
    ``generator`` on the CPU and is then moved to the networks' device, so a CUDA run sees
    the same noise stream as a CPU run.

    Parameters
    ----------
    generator_net : torch.nn.Module
        ``G: (n, latent_dim) -> (n, d)``; its device is used throughout.
    discriminator_net : torch.nn.Module
        The discriminator (logits) or critic (scores), passed to the cost functions.
    sample_data : callable
        ``sample_data(n, generator) -> (n, d)`` data batch (any device).
    discriminator_cost : callable
        ``discriminator_cost(discriminator_net, real (n, d), fake (n, d)) -> scalar``, including
        any penalty (``fake`` is detached from the generator).
    generator_cost : callable
        ``generator_cost(discriminator_net, fake (n, d)) -> scalar``.
    steps : int
        Generator updates (>= 1); each follows ``critic_steps`` discriminator updates.
    latent_dim, batch_size : int
        Dimension of the Gaussian latent ``z`` and samples per batch.
    lr, betas
        Adam settings, shared by both players (PyTorch's fused Adam).
    critic_steps : int
        Discriminator updates per generator update (5 in WGAN-GP).
    decay : bool
        Decay both learning rates linearly to 0 over the run.
    snapshot_every : int, optional
        Store generated samples from a fixed latent batch every this many steps and at the end.
    n_snapshot : int
        Size of that fixed latent batch.
    generator : torch.Generator, optional
        CPU generator of every random draw of the loop.
    progress : bool
        Show a ``tqdm.auto`` bar over the steps.

    Returns
    -------
    History
        ``step["discriminator"]``, ``step["generator"]`` and ``snapshots``.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("latent_dim", latent_dim),
                        ("critic_steps", critic_steps), ("n_snapshot", n_snapshot)):
        positive_int(name, value)
    lr = positive_number("lr", lr)
    device = _device_of(generator_net)
    # fused: one kernel per parameter tensor instead of a dozen elementwise ops; the same update
    # up to float rounding, and a fifth of a small network's step on a CPU
    g_params, d_params = list(generator_net.parameters()), list(discriminator_net.parameters())
    opt_g = torch.optim.Adam(g_params, lr=lr, betas=betas, fused=True)
    opt_d = torch.optim.Adam(d_params, lr=lr, betas=betas, fused=True)
    schedules = [torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 - k / steps)
                 for opt in (opt_g, opt_d)] if decay else []

    def noise(n: int) -> torch.Tensor:
        return torch.randn(n, latent_dim, generator=generator).to(device)

    fixed_z = noise(n_snapshot)
    history = History()

    def snapshot(step: int) -> None:
        with torch.no_grad():
            history.snapshots[step] = generator_net(fixed_z).cpu()

    bar = tqdm(range(steps), desc="adversarial training", unit="step", disable=not progress,
               mininterval=_BAR_INTERVAL)
    for step in bar:
        if snapshot_every and step % snapshot_every == 0:
            snapshot(step)
        for _ in range(critic_steps):
            real = sample_data(batch_size, generator).to(device)
            with torch.no_grad():
                fake = generator_net(noise(batch_size))
            d_cost = discriminator_cost(discriminator_net, real, fake)
            opt_d.zero_grad(set_to_none=True)
            d_cost.backward(inputs=d_params)
            opt_d.step()
        g_cost = generator_cost(discriminator_net, generator_net(noise(batch_size)))
        opt_g.zero_grad(set_to_none=True)
        g_cost.backward(inputs=g_params)
        opt_g.step()
        for schedule in schedules:
            schedule.step()
        history.record("step", discriminator=d_cost.item(), generator=g_cost.item())
        bar.set_postfix(d=f"{d_cost.item():.3f}", g=f"{g_cost.item():.3f}", refresh=False)
    if snapshot_every:
        snapshot(steps)
    return history
