"""Softmax, log-softmax and cross-entropy from scratch (notes: LOGITS, CROSS ENTROPY FORMULA)."""
from __future__ import annotations

import torch

from ._checks import floating_tensor, positive_number

__all__ = ["log_softmax", "softmax", "cross_entropy", "entropy", "fit_temperature"]

_REDUCTIONS = ("mean", "sum", "none")


def log_softmax(logits: torch.Tensor, dim: int = -1, *, temperature: float = 1.0) -> torch.Tensor:
    """Log-softmax with the log-sum-exp trick.

    ``log softmax(z)_i = z_i - m - log Σ_j exp(z_j - m)`` with ``m = max_j z_j``: every
    exponent is <= 0, so nothing overflows, and at least one term of the sum is 1, so the
    logarithm never sees 0.

    Parameters
    ----------
    logits : torch.Tensor
        ``(..., c)`` floating tensor of logits ``z``.
    dim : int
        The class dimension.
    temperature : float
        ``T > 0``: the result is ``log softmax(z / T)`` (keyword-only; 1 by default).

    Returns
    -------
    torch.Tensor
        Same shape as ``logits``.
    """
    floating_tensor("logits", logits)
    if temperature != 1.0:
        logits = logits / positive_number("temperature", temperature)
    shift = logits.amax(dim=dim, keepdim=True).detach()  # d/dm of the result is exactly 0
    shifted = logits - shift
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


def softmax(logits: torch.Tensor, dim: int = -1, *, temperature: float = 1.0) -> torch.Tensor:
    """Softmax at a temperature: ``softmax(z / T)_i = exp(z_i / T) / Σ_j exp(z_j / T)``.

    Parameters
    ----------
    logits : torch.Tensor
        ``(..., c)`` floating tensor.
    dim : int
        The class dimension.
    temperature : float
        ``T > 0`` (keyword-only). ``T → 0`` tends to the one-hot argmax, ``T → ∞`` to the
        uniform distribution; ``T = 1`` is the ordinary softmax.

    Returns
    -------
    torch.Tensor
        Probabilities, same shape as ``logits``, summing to 1 along ``dim``.
    """
    return log_softmax(logits, dim, temperature=temperature).exp()


def cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy between targets and ``softmax(logits)``: ``-Σ_i y_i log ŷ_i``.

    Parameters
    ----------
    logits : torch.Tensor
        ``(n, c)`` floating tensor of logits.
    targets : torch.Tensor
        Either ``(n,)`` integer class indices in ``[0, c)`` (one-hot ``y``, so the loss is
        ``-log ŷ_t``), or ``(n, c)`` floating probability vectors (rows >= 0 summing to 1).
    reduction : {"mean", "sum", "none"}
        (Keyword-only.) Average over the batch, sum over it, or return the ``(n,)`` per-example losses.

    Returns
    -------
    torch.Tensor
        A scalar, or ``(n,)`` with ``reduction="none"``.
    """
    _check_ce_arguments(logits, targets, reduction)
    log_probs = log_softmax(logits, dim=-1)
    if targets.is_floating_point():
        # 0 · log 0 = 0: a zero-probability class contributes nothing even if ŷ = 0
        per_example = -torch.where(targets > 0, targets * log_probs, 0.0).sum(-1)
    else:  # one-hot y: the sum keeps the single term -log ŷ_t
        per_example = -log_probs.gather(1, targets.long()[:, None]).squeeze(1)
    if reduction == "mean":
        return per_example.mean()
    if reduction == "sum":
        return per_example.sum()
    return per_example


def _check_ce_arguments(logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> None:
    floating_tensor("logits", logits)
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (n, c), got {tuple(logits.shape)}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not isinstance(targets, torch.Tensor):
        raise ValueError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    n, c = logits.shape
    if targets.is_floating_point():
        if targets.shape != logits.shape:
            raise ValueError(
                f"probability targets must have the logits' shape {(n, c)}, got {tuple(targets.shape)}"
            )
        ones = torch.ones(n, dtype=targets.dtype, device=targets.device)
        if (targets < 0).any() or not torch.allclose(targets.sum(-1), ones, atol=1e-4):
            raise ValueError("probability targets must be >= 0 and sum to 1 along the last dim")
    elif targets.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        if targets.shape != (n,):
            raise ValueError(f"class-index targets must have shape ({n},), got {tuple(targets.shape)}")
        if n and (targets.min() < 0 or targets.max() >= c):
            raise ValueError(f"class-index targets must lie in [0, {c}), got range "
                             f"[{targets.min().item()}, {targets.max().item()}]")
    else:
        raise ValueError(f"targets must be integer class indices or float probabilities, got {targets.dtype}")


def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Shannon entropy in nats, ``H(p) = -Σ_i p_i log p_i`` with ``0 log 0 = 0``.

    Parameters
    ----------
    probs : torch.Tensor
        ``(..., c)`` probabilities (>= 0, summing to 1 along ``dim``).

    Returns
    -------
    torch.Tensor
        ``(...)``: the input shape without ``dim``.
    """
    floating_tensor("probs", probs)
    if (probs < 0).any():
        raise ValueError("probs must be >= 0")
    return -torch.special.xlogy(probs, probs).sum(dim=dim)


def fit_temperature(
    logits: torch.Tensor, targets: torch.Tensor, *, grid: torch.Tensor | None = None
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Temperature scaling (Guo et al., 2017): the ``T`` minimising the cross-entropy of
    ``softmax(logits / T)`` on held-out data, by search over a grid.

    Parameters
    ----------
    logits : torch.Tensor
        ``(n, c)`` held-out logits of a trained model.
    targets : torch.Tensor
        ``(n,)`` their class indices.
    grid : torch.Tensor, optional
        ``(m,)`` candidate temperatures > 0; default 401 values log-spaced over [0.1, 10].

    Returns
    -------
    temperature : float
        The grid value with the smallest mean cross-entropy.
    grid : torch.Tensor
        ``(m,)`` the candidates.
    nll : torch.Tensor
        ``(m,)`` the mean cross-entropy at each candidate.
    """
    grid = torch.logspace(-1, 1, 401, dtype=torch.float64) if grid is None else grid
    floating_tensor("grid", grid)
    if grid.dim() != 1 or not bool((grid > 0).all()):
        raise ValueError("grid must be a 1-D tensor of temperatures > 0")
    logits = logits.detach().double()
    nll = torch.stack([cross_entropy(logits / t, targets) for t in grid])
    return grid[nll.argmin()].item(), grid, nll
