"""Log-densities and divergences, with one convention for the whole book.

**Convention.** A diagonal Gaussian is given by its mean and its *standard deviation* ``σ``
(never its variance); a full-covariance Gaussian by its mean and covariance matrix. Every
function sums over the *event* dimension, the last one, so ``x (..., k)`` gives ``(...)``;
pass ``event_dims=0`` for scalar events, which returns element-wise values. Arguments
broadcast against each other. Results are in nats.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import floating_tensor, positive_tensor

__all__ = ["LOG_2PI", "gaussian_log_prob", "bernoulli_log_prob", "kl_diag_gaussians",
           "kl_full_gaussians"]

#: ``log 2π``.
LOG_2PI = math.log(2 * math.pi)


def _broadcastable(**tensors: torch.Tensor) -> None:
    try:
        torch.broadcast_shapes(*(t.shape for t in tensors.values()))
    except RuntimeError:
        shapes = {name: tuple(t.shape) for name, t in tensors.items()}
        raise ValueError(f"shapes must broadcast against each other: {shapes}") from None


def _event_sum(x: torch.Tensor, event_dims: int) -> torch.Tensor:
    if event_dims not in (0, 1):
        raise ValueError(f"event_dims must be 0 (scalar events) or 1 (the last dimension), got {event_dims!r}")
    return x.sum(-1) if event_dims else x


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, *,
                      event_dims: int = 1) -> torch.Tensor:
    """Log density of a diagonal Gaussian: ``Σ_i [-½ log 2π - log σ_i - (x_i - μ_i)² / (2σ_i²)]``.

    Parameters
    ----------
    x, mean : torch.Tensor
        ``(..., k)`` points and means (broadcastable).
    std : torch.Tensor
        ``(..., k)`` standard deviations ``σ > 0`` (broadcastable).
    event_dims : {1, 0}
        Sum over the last dimension (1), or return element-wise log densities (0).

    Returns
    -------
    torch.Tensor
        ``(...)`` log densities (the broadcast shape without its last dimension when
        ``event_dims=1``).
    """
    floating_tensor("x", x, min_dim=0)
    floating_tensor("mean", mean, min_dim=0)
    positive_tensor("std", std)
    _broadcastable(x=x, mean=mean, std=std)
    return _event_sum(-0.5 * LOG_2PI - std.log() - 0.5 * ((x - mean) / std) ** 2, event_dims)


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor, *, event_dims: int = 1) -> torch.Tensor:
    """Log probability of binary ``x`` under independent Bernoullis with ``π = sigmoid(logits)``.

    ``Σ_i [x_i log π_i + (1 - x_i) log(1 - π_i)]``, computed from the logits (``-softplus(-l)``
    and ``-softplus(l)``), so it never takes ``log 0``.

    Parameters
    ----------
    x : torch.Tensor
        ``(..., d)`` values in {0, 1} (or in [0, 1]: the cross-entropy form).
    logits : torch.Tensor
        ``(..., d)`` logits (``x`` broadcasts against them).
    event_dims : {1, 0}
        Sum over the last dimension (1), or return element-wise values (0).

    Returns
    -------
    torch.Tensor
        ``(...)`` log probabilities.
    """
    floating_tensor("x", x)
    floating_tensor("logits", logits)
    if x.shape[-1] != logits.shape[-1]:
        raise ValueError(f"x and logits must share the last dimension, got {tuple(x.shape)} and {tuple(logits.shape)}")
    _broadcastable(x=x, logits=logits)
    x, logits = torch.broadcast_tensors(x, logits)
    return _event_sum(-nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none"), event_dims)


def kl_diag_gaussians(
    mean_q: torch.Tensor, std_q: torch.Tensor,
    mean_p: torch.Tensor | None = None, std_p: torch.Tensor | None = None, *,
    event_dims: int = 1,
) -> torch.Tensor:
    """``KL(N(μ_q, diag σ_q²) ‖ N(μ_p, diag σ_p²))`` in closed form; ``p`` defaults to N(0, I).

    ``Σ_i [log(σ_p,i / σ_q,i) + (σ_q,i² + (μ_q,i - μ_p,i)²) / (2σ_p,i²) - ½]``.

    Parameters
    ----------
    mean_q, std_q : torch.Tensor
        ``(..., k)`` mean and standard deviation (> 0) of ``q``.
    mean_p, std_p : torch.Tensor, optional
        ``(..., k)`` of ``p`` (broadcastable); both ``None`` for the standard normal.
    event_dims : {1, 0}
        Sum over the last dimension (1), or return element-wise divergences (0).

    Returns
    -------
    torch.Tensor
        ``(...)`` divergences, >= 0.
    """
    floating_tensor("mean_q", mean_q, min_dim=0)
    positive_tensor("std_q", std_q)
    if (mean_p is None) != (std_p is None):
        raise ValueError("mean_p and std_p must be given together (or both None for N(0, I))")
    _broadcastable(mean_q=mean_q, std_q=std_q)
    if mean_p is None:
        return _event_sum(0.5 * (std_q**2 + mean_q**2 - 1 - 2 * std_q.log()), event_dims)
    floating_tensor("mean_p", mean_p, min_dim=0)
    positive_tensor("std_p", std_p)
    _broadcastable(mean_q=mean_q, std_q=std_q, mean_p=mean_p, std_p=std_p)
    ratio = (std_q / std_p) ** 2
    return _event_sum(0.5 * (ratio + ((mean_q - mean_p) / std_p) ** 2 - 1 - ratio.log()), event_dims)


def kl_full_gaussians(
    mean_q: torch.Tensor, cov_q: torch.Tensor, mean_p: torch.Tensor, cov_p: torch.Tensor
) -> torch.Tensor:
    """``KL(N(μ_q, Σ_q) ‖ N(μ_p, Σ_p))`` for full covariances, through Cholesky factors.

    ``½ [tr(Σ_p⁻¹Σ_q) + (μ_p - μ_q)ᵀ Σ_p⁻¹ (μ_p - μ_q) - k + log det Σ_p - log det Σ_q]``.

    Parameters
    ----------
    mean_q, mean_p : torch.Tensor
        ``(..., k)`` means.
    cov_q, cov_p : torch.Tensor
        ``(..., k, k)`` symmetric positive-definite covariances.

    Returns
    -------
    torch.Tensor
        ``(...)`` divergences.
    """
    for name, m, c in (("q", mean_q, cov_q), ("p", mean_p, cov_p)):
        floating_tensor(f"mean_{name}", m)
        floating_tensor(f"cov_{name}", c, min_dim=2)
        if c.shape[-2:] != (m.shape[-1], m.shape[-1]):
            raise ValueError(f"cov_{name} must have shape (..., {m.shape[-1]}, {m.shape[-1]}), got {tuple(c.shape)}")
    chol_q, info_q = torch.linalg.cholesky_ex(cov_q)
    chol_p, info_p = torch.linalg.cholesky_ex(cov_p)
    if bool((info_q != 0).any()) or bool((info_p != 0).any()):
        raise ValueError("cov_q and cov_p must be positive definite")
    k = mean_q.shape[-1]
    a = torch.linalg.solve_triangular(chol_p, chol_q, upper=False)           # L_p⁻¹ L_q
    diff = torch.linalg.solve_triangular(chol_p, (mean_p - mean_q).unsqueeze(-1), upper=False)
    logdet = 2 * (chol_p.diagonal(dim1=-2, dim2=-1).log() - chol_q.diagonal(dim1=-2, dim2=-1).log()).sum(-1)
    return 0.5 * ((a**2).sum((-2, -1)) + (diff**2).sum((-2, -1)) - k + logdet)
