"""GANs and Wasserstein GANs (notes: LOSS GAN, MINMAX, NON-SATURATING GAME, WASSERSTEIN GAN).

Losses are written on the discriminator's *logits* ``l`` (``D = σ(l)``) or on the critic's
scores ``f``, so that nothing takes ``log 0``; penalties (WGAN-GP, R1) and PacGAN packing
complete it. Networks come from :func:`dlnotes.nn.mlp`, the two-player loop is
:func:`dlnotes.train.fit_adversarial`, and the sample metrics (mode coverage, exact ``W1``)
live in :mod:`dlnotes.metrics`.
"""
from __future__ import annotations

from typing import Callable

import torch

from ._checks import floating_tensor, positive_int

__all__ = [
    "discriminator_loss", "minimax_generator_loss", "nonsaturating_generator_loss",
    "critic_loss", "critic_generator_loss", "gradient_penalty", "r1_penalty",
    "pack",
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
