"""GANs and Wasserstein GANs (notes: LOSS GAN, MINMAX, NON-SATURATING GAME, WASSERSTEIN GAN).

Losses are written on the discriminator's *logits* ``l`` (``D = σ(l)``) or on the critic's
scores ``f``, so that nothing takes ``log 0``. The module also holds the mode-collapse
metrics of the 2-D benchmarks (Srivastava et al., 2017), exact Wasserstein-1 distances
between discrete measures (linear programming and assignment), and the two-player training
loop of the chapter.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from ._checks import floating_tensor, positive_int, positive_number

__all__ = [
    "discriminator_loss", "minimax_generator_loss", "nonsaturating_generator_loss",
    "critic_loss", "critic_generator_loss", "gradient_penalty", "r1_penalty",
    "mlp", "pack", "ModeStats", "mode_metrics",
    "transport_lp", "kantorovich_dual_lp", "w1_assignment",
    "GANHistory", "train_gan",
]


def _softplus(x: torch.Tensor) -> torch.Tensor:
    # log(1 + e^x) = logaddexp(0, x), exact for every x. (F.softplus switches to x for x > 20,
    # which makes its gradient 1 instead of σ(x): an error of e^-20 ≈ 2e-9.)
    return torch.logaddexp(torch.zeros_like(x), x)


def _scores(name: str, x: object) -> torch.Tensor:
    floating_tensor(name, x)
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    return x


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's cost of the notes (LOSS GAN), from logits.

    ``J_D = -½ E_x log D(x) - ½ E_z log(1 - D(G(z)))`` with ``D = σ(l)``, computed as
    ``½ mean softplus(-l_real) + ½ mean softplus(l_fake)`` (``-log σ(l) = softplus(-l)``,
    ``-log(1 - σ(l)) = softplus(l)``), which is finite for every logit.

    Parameters
    ----------
    real_logits : torch.Tensor
        ``(n,)`` or ``(n, 1)`` logits of the discriminator on data samples.
    fake_logits : torch.Tensor
        ``(m,)`` or ``(m, 1)`` logits on generated samples.

    Returns
    -------
    torch.Tensor
        Scalar ``J_D`` in nats; ``log 2`` when ``D = ½`` everywhere.
    """
    _scores("real_logits", real_logits)
    _scores("fake_logits", fake_logits)
    return 0.5 * _softplus(-real_logits).mean() + 0.5 * _softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The zero-sum (minimax) generator cost ``J_G = -J_D``, keeping the term ``G`` affects.

    ``J_G = ½ E_z log(1 - D(G(z))) = -½ mean softplus(l)``. Its derivative with respect to a
    logit is ``-½ σ(l) = -½ D(G(z))`` (per sample, before the mean): it vanishes when the
    discriminator confidently rejects the fakes — the *saturation* of the minimax game.

    Parameters
    ----------
    fake_logits : torch.Tensor
        ``(m,)`` or ``(m, 1)`` discriminator logits on generated samples.

    Returns
    -------
    torch.Tensor
        Scalar, ``≤ 0``.
    """
    _scores("fake_logits", fake_logits)
    return -0.5 * _softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator cost ``J_G = -½ E_z log D(G(z))``.

    Computed as ``½ mean softplus(-l)``. Its derivative with respect to a logit is
    ``-½ (1 - D(G(z)))``, which tends to ``-½`` (not 0) when the discriminator rejects the
    fakes, so the generator keeps learning (Goodfellow et al., 2014).

    Parameters
    ----------
    fake_logits : torch.Tensor
        ``(m,)`` or ``(m, 1)`` discriminator logits on generated samples.

    Returns
    -------
    torch.Tensor
        Scalar, ``≥ 0``.
    """
    _scores("fake_logits", fake_logits)
    return 0.5 * _softplus(-fake_logits).mean()


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN critic's cost ``E f(x̃) - E f(x)`` (minimised, i.e. the dual objective maximised).

    Parameters
    ----------
    real_scores, fake_scores : torch.Tensor
        ``(n,)``/``(n, 1)`` and ``(m,)``/``(m, 1)`` critic outputs ``f`` on data and on
        generated samples.

    Returns
    -------
    torch.Tensor
        Scalar; minus the critic's estimate of ``W1`` (times the Lipschitz constant).
    """
    _scores("real_scores", real_scores)
    _scores("fake_scores", fake_scores)
    return fake_scores.mean() - real_scores.mean()


def critic_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN generator's cost ``-E f(G(z))`` (the only term of ``W1`` it can move).

    Parameters
    ----------
    fake_scores : torch.Tensor
        ``(m,)`` or ``(m, 1)`` critic outputs on generated samples.

    Returns
    -------
    torch.Tensor
        Scalar.
    """
    _scores("fake_scores", fake_scores)
    return -fake_scores.mean()


def _same_points(real: torch.Tensor, fake: torch.Tensor) -> None:
    _scores("real", real)
    _scores("fake", fake)
    if real.dim() != 2 or fake.shape != real.shape:
        raise ValueError(f"real and fake must both have shape (n, d), got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``E_x̂ (‖∇f(x̂)‖ - 1)²`` at ``x̂ = t x + (1 - t) x̃``, ``t ~ U(0, 1)``.

    (Gulrajani et al., 2017.) The graph is kept (``create_graph=True``) so the penalty can be
    back-propagated into the critic's parameters.

    Parameters
    ----------
    critic : callable
        ``critic(x (n, d)) -> (n,)`` or ``(n, 1)`` scores.
    real, fake : torch.Tensor
        ``(n, d)`` data and generated samples, paired row by row.
    generator : torch.Generator, optional
        Generator of the interpolation weights ``t`` (on the samples' device).

    Returns
    -------
    torch.Tensor
        Scalar penalty (the caller multiplies by its weight λ, 10 in the paper).
    """
    _same_points(real, fake)
    t = torch.rand(len(real), 1, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (t * real.detach() + (1 - t) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def r1_penalty(discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """R1 penalty ``E_x ‖∇_x l(x)‖²`` on data samples (Mescheder et al., 2018).

    Parameters
    ----------
    discriminator : callable
        ``discriminator(x (n, d)) -> (n,)`` or ``(n, 1)`` logits.
    real : torch.Tensor
        ``(n, d)`` data samples.

    Returns
    -------
    torch.Tensor
        Scalar; the paper adds ``γ/2`` times it to the discriminator's cost.
    """
    _scores("real", real)
    if real.dim() != 2:
        raise ValueError(f"real must have shape (n, d), got {tuple(real.shape)}")
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return grad.pow(2).sum(dim=1).mean()


def mlp(
    inputs: int, hidden: int, outputs: int, depth: int = 3, *, spectral: bool = False,
    slope: float = 0.0,
) -> torch.nn.Sequential:
    """A fully connected network ``inputs → hidden → … → outputs`` with ``depth`` linear layers.

    Parameters
    ----------
    inputs, hidden, outputs : int
        Layer widths (>= 1).
    depth : int
        Number of linear layers (>= 1); ReLU (``slope = 0``) or LeakyReLU between them.
    spectral : bool
        Wrap every linear layer in spectral normalisation (Miyato et al., 2018).
    slope : float
        Negative slope of the activations (0 gives ReLU).

    Returns
    -------
    torch.nn.Sequential
        On the CPU; move it with ``.to(device)``.
    """
    for name, value in (("inputs", inputs), ("hidden", hidden), ("outputs", outputs), ("depth", depth)):
        positive_int(name, value)
    widths = [inputs] + [hidden] * (depth - 1) + [outputs]
    layers: list[torch.nn.Module] = []
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        linear = torch.nn.Linear(a, b)
        layers.append(torch.nn.utils.parametrizations.spectral_norm(linear) if spectral else linear)
        if k < depth - 1:
            layers.append(torch.nn.LeakyReLU(slope) if slope else torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """Concatenate ``m`` consecutive samples into one packed sample (PacGAN, Lin et al., 2018).

    Parameters
    ----------
    x : torch.Tensor
        ``(n, d)`` samples, ``n`` divisible by ``m``.
    m : int
        Packing degree (>= 1; 1 returns ``x``).

    Returns
    -------
    torch.Tensor
        ``(n / m, m d)``.
    """
    _scores("x", x)
    positive_int("m", m)
    if x.dim() != 2 or len(x) % m:
        raise ValueError(f"x must have shape (n, d) with n divisible by m={m}, got {tuple(x.shape)}")
    return x.reshape(len(x) // m, m * x.shape[1])


class ModeStats(NamedTuple):
    """Mode-collapse metrics of samples from a mixture of isotropic Gaussians.

    ``modes`` is the number of centres with at least ``min_count`` high-quality samples,
    ``hq_fraction`` the share of samples within ``3σ`` of their nearest centre, ``counts``
    the ``(k,)`` int64 number of high-quality samples nearest to each centre.
    """

    modes: int
    hq_fraction: float
    counts: torch.Tensor


def mode_metrics(
    samples: torch.Tensor, centres: torch.Tensor, std: float, *, radius: float = 3.0,
    min_count: int = 10,
) -> ModeStats:
    """Count covered modes and high-quality samples (VEEGAN/PacGAN protocol).

    A sample is *high quality* if it lies within ``radius · std`` of its nearest centre; a
    mode is *covered* if at least ``min_count`` high-quality samples have it as nearest
    centre (Srivastava et al., 2017; Lin et al., 2018, with 2 500 samples).

    Parameters
    ----------
    samples : torch.Tensor
        ``(n, d)`` generated samples, ``n >= 1``.
    centres : torch.Tensor
        ``(k, d)`` mixture centres.
    std : float
        Standard deviation ``σ > 0`` of each mixture component.
    radius : float
        Quality radius in units of ``σ`` (3 in the papers).
    min_count : int
        High-quality samples a mode needs to count as covered (10 in the papers).

    Returns
    -------
    ModeStats
    """
    _scores("samples", samples)
    _scores("centres", centres)
    if samples.dim() != 2 or centres.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples (n, d) and centres (k, d) must share d, got {tuple(samples.shape)} "
                         f"and {tuple(centres.shape)}")
    std = positive_number("std", std)
    radius = positive_number("radius", radius)
    positive_int("min_count", min_count)
    x = samples.detach().double().cpu()
    c = centres.detach().double().cpu()
    distance, nearest = torch.cdist(x, c).min(dim=1)
    good = distance <= radius * std
    counts = torch.bincount(nearest[good], minlength=len(c))
    return ModeStats(int((counts >= min_count).sum()), good.double().mean().item(), counts)


def _measure(name: str, w: object, n: int) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,) or n == 0:
        raise ValueError(f"{name} must be a non-empty vector of {n} weights, got shape {w.shape}")
    if (w < 0).any() or abs(w.sum() - 1) > 1e-9:
        raise ValueError(f"{name} must be >= 0 and sum to 1, got sum {w.sum()!r}")
    return w


def _cost(x: object, y: object) -> np.ndarray:
    from scipy.spatial.distance import cdist

    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu()
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    for name, v in (("x", x), ("y", y)):
        if v.ndim != 2 or len(v) == 0:
            raise ValueError(f"{name} must have shape (n, d) with n >= 1, got {v.shape}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must share the dimension d, got {x.shape} and {y.shape}")
    return cdist(x, y)  # Euclidean ground metric, (n, m)


def transport_lp(x: object, y: object, a: object, b: object) -> tuple[float, np.ndarray]:
    """Primal optimal transport: ``W1 = min_{π ≥ 0} Σ_ij π_ij ‖x_i - y_j‖`` with marginals a, b.

    Solved exactly (to the LP solver's tolerance) with ``scipy.optimize.linprog`` (HiGHS).

    Parameters
    ----------
    x : array_like
        ``(n, d)`` support of the first measure.
    y : array_like
        ``(m, d)`` support of the second.
    a, b : array_like
        ``(n,)`` and ``(m,)`` weights, non-negative, each summing to 1.

    Returns
    -------
    w1 : float
        The optimal cost.
    plan : numpy.ndarray
        ``(n, m)`` optimal coupling π.
    """
    from scipy.optimize import linprog

    cost = _cost(x, y)
    n, m = cost.shape
    a, b = _measure("a", a, n), _measure("b", b, m)
    rows = np.kron(np.eye(n), np.ones((1, m)))           # Σ_j π_ij = a_i
    cols = np.kron(np.ones((1, n)), np.eye(m))           # Σ_i π_ij = b_j
    res = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([a, b]),
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"transport LP failed: {res.message}")
    return float(res.fun), res.x.reshape(n, m)


def kantorovich_dual_lp(
    x: object, y: object, a: object, b: object, lipschitz: float = 1.0
) -> tuple[float, np.ndarray]:
    """Kantorovich–Rubinstein dual: ``max Σ_i a_i f(x_i) - Σ_j b_j f(y_j)`` over K-Lipschitz f.

    The unknowns are the values of ``f`` on the union of the supports; the constraints are
    ``f(p) - f(q) ≤ K ‖p - q‖`` for every ordered pair of support points, which is exactly
    K-Lipschitz on the support (and any such f extends to all of ``R^d`` by McShane's
    formula). With ``K = 1`` the optimum is ``W1``; with general ``K`` it is ``K · W1``.
    Solved with ``scipy.optimize.linprog`` (HiGHS); ``f`` is fixed to 0 at the first point,
    since adding a constant changes nothing.

    Parameters
    ----------
    x, y, a, b
        As in :func:`transport_lp`.
    lipschitz : float
        The Lipschitz bound ``K > 0`` (1 for the Kantorovich–Rubinstein duality).

    Returns
    -------
    w1 : float
        The optimal dual value (``K · W1``).
    f : numpy.ndarray
        ``(n + m,)`` values of the optimal critic on ``x`` then ``y``.
    """
    from scipy.optimize import linprog

    _cost(x, y)
    lipschitz = positive_number("lipschitz", lipschitz)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    a, b = _measure("a", a, len(x)), _measure("b", b, len(y))
    points = np.vstack([x, y])
    k = len(points)
    dist = np.linalg.norm(points[:, None] - points[None], axis=-1)
    i, j = np.where(~np.eye(k, dtype=bool))
    constraints = np.zeros((len(i), k))
    constraints[np.arange(len(i)), i] = 1.0
    constraints[np.arange(len(i)), j] = -1.0
    weights = np.concatenate([a, -b])
    bounds = [(0, 0)] + [(None, None)] * (k - 1)
    res = linprog(-weights, A_ub=constraints, b_ub=lipschitz * dist[i, j], bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"dual LP failed: {res.message}")
    return float(-res.fun), res.x


def w1_assignment(x: object, y: object) -> float:
    """``W1`` between two equal-size, equal-weight point clouds by optimal assignment.

    For uniform weights ``1/n`` on both sides, an optimal coupling is a permutation
    (Birkhoff–von Neumann), found by ``scipy.optimize.linear_sum_assignment``.

    Parameters
    ----------
    x, y : array_like or torch.Tensor
        ``(n, d)`` point clouds of the same size (tensors may live on any device).

    Returns
    -------
    float
        ``min_σ (1/n) Σ_i ‖x_i - y_σ(i)‖``.
    """
    from scipy.optimize import linear_sum_assignment

    cost = _cost(x, y)
    if cost.shape[0] != cost.shape[1]:
        raise ValueError(f"x and y must have the same number of points, got {cost.shape}")
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


@dataclass
class GANHistory:
    """What :func:`train_gan` records.

    Attributes
    ----------
    d_loss, g_loss : list of float
        The discriminator's (critic's) and generator's cost at every step.
    snapshots : dict of int to torch.Tensor
        Step → ``(n_snapshot, d)`` CPU samples from a fixed latent batch.
    """

    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)


def train_gan(
    generator: torch.nn.Module, discriminator: torch.nn.Module,
    sample_data: Callable[[int], torch.Tensor],
    d_step: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    g_step: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
    steps: int, *, batch_size: int = 512, latent_dim: int, lr: float = 1e-3,
    betas: tuple[float, float] = (0.5, 0.9), critic_steps: int = 1,
    decay: bool = False, snapshot_every: int | None = None, n_snapshot: int = 1000,
    progress: bool = True,
) -> GANHistory:
    """Alternate gradient steps of the two players with Adam; return the loss history.

    Parameters
    ----------
    generator : torch.nn.Module
        ``G: (n, latent_dim) -> (n, d)``; its first parameter's device is used throughout.
    discriminator : torch.nn.Module
        The discriminator or critic, passed to the step functions.
    sample_data : callable
        ``sample_data(n) -> (n, d)`` data batch (any device; moved to the generator's).
    d_step : callable
        ``d_step(discriminator, real (n, d), fake (n, d)) -> scalar cost`` of the
        discriminator, including any penalty (``fake`` is detached).
    g_step : callable
        ``g_step(discriminator, fake (n, d)) -> scalar cost`` of the generator.
    steps : int
        Generator updates (>= 1); each follows ``critic_steps`` discriminator updates.
    batch_size, latent_dim : int
        Samples per batch and dimension of the Gaussian latent ``z``.
    lr, betas
        Adam settings, shared by both players.
    critic_steps : int
        Discriminator updates per generator update (5 in WGAN-GP).
    decay : bool
        Decay both learning rates linearly to 0 over the run (sharpens the final samples).
    snapshot_every : int, optional
        Store generated samples every this many steps (and at the end).
    n_snapshot : int
        Size of the fixed latent batch used for snapshots.
    progress : bool
        Show a ``tqdm.auto`` bar.

    Returns
    -------
    GANHistory
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("latent_dim", latent_dim),
                        ("critic_steps", critic_steps), ("n_snapshot", n_snapshot)):
        positive_int(name, value)
    lr = positive_number("lr", lr)
    device = next(generator.parameters()).device
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    schedules = [torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 - k / steps)
                 for opt in (opt_g, opt_d)] if decay else []
    fixed_z = torch.randn(n_snapshot, latent_dim, device=device)
    history = GANHistory()

    def snapshot(step: int) -> None:
        with torch.no_grad():
            history.snapshots[step] = generator(fixed_z).cpu()

    # refresh at most twice a second: a bar redrawn every step floods a notebook kernel's output
    bar = tqdm(range(steps), desc="GAN training", unit="step", disable=not progress, mininterval=0.5)
    for step in bar:
        if snapshot_every and step % snapshot_every == 0:
            snapshot(step)
        for _ in range(critic_steps):
            real = sample_data(batch_size).to(device)
            with torch.no_grad():
                fake = generator(torch.randn(batch_size, latent_dim, device=device))
            d_cost = d_step(discriminator, real, fake)
            opt_d.zero_grad(set_to_none=True)
            d_cost.backward()
            opt_d.step()
        fake = generator(torch.randn(batch_size, latent_dim, device=device))
        g_cost = g_step(discriminator, fake)
        opt_g.zero_grad(set_to_none=True)
        g_cost.backward()
        opt_g.step()
        for schedule in schedules:
            schedule.step()
        history.d_loss.append(d_cost.item())
        history.g_loss.append(g_cost.item())
        if step % 100 == 0:
            bar.set_postfix(d=f"{history.d_loss[-1]:.3f}", g=f"{history.g_loss[-1]:.3f}", refresh=False)
    if snapshot_every:
        snapshot(steps)
    return history
