"""Self-attention from convolution, positions and masks (notes: SELF ATTENTION LAYER,
CAUSAL TRANSFORMER, EMBEDDINGS / Permutations, RELATIVE POSITION EMBEDDING ATTENTION).

The notes' route, every step a mixing matrix ``h = A x`` with ``A`` of shape ``(n, n)``
    :func:`conv_matrix` (banded Toeplitz, a 1-D convolution), :func:`toeplitz_matrix`
    (full Toeplitz, a continuous convolution), :func:`nonlocal_matrix` (data-dependent) and
    :func:`softmax_matrix` (row-softmax of scaled dot products).
Attention
    :func:`scaled_dot_product_attention` (optional boolean mask and additive bias),
    :class:`AttentionWeights` (``W_q, W_k, W_v, W_o`` in the notes' right-multiplying
    convention, convertible from ``nn.MultiheadAttention``) and :func:`multi_head_attention`.
Positions
    :func:`sinusoidal_embedding`, :func:`relative_bias` (a bias ``b_{i-j}``),
    :func:`causal_mask`.

Shapes: a sequence is ``X (n, d)`` (or ``(b, n, d)``), row ``i`` the token ``x_i``; queries
and keys have width ``q``, values width ``v``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import floating_tensor, positive_int

__all__ = ["conv_matrix", "toeplitz_matrix", "nonlocal_matrix", "softmax_matrix",
           "scaled_dot_product_attention", "AttentionWeights", "multi_head_attention",
           "sinusoidal_embedding", "relative_bias", "causal_mask"]


def _offsets(name: str, values: object, n: int) -> torch.Tensor:
    floating_tensor(name, values)
    if values.dim() != 1 or values.shape[0] != 2 * n - 1:
        raise ValueError(f"{name} must have shape ({2 * n - 1},) = (2n - 1,) for n = {n}, "
                         f"got {tuple(values.shape)}")
    return values


def conv_matrix(kernel: torch.Tensor, n: int) -> torch.Tensor:
    """The ``(n, n)`` banded Toeplitz matrix of a 1-D convolution, ``h_i = Σ_{j=-k}^{k} w_j x_{i+j}``.

    ``A[i, i + j] = w_j`` for ``|j| ≤ k`` (zero padding at the ends), so ``h = A x`` is the
    notes' first line with one scalar weight per offset shared by every channel (their
    ``𝒲_j`` times the identity). This is cross-correlation, as ``F.conv1d`` computes it.

    Parameters
    ----------
    kernel : torch.Tensor
        ``(2k + 1,)`` weights ``w_{-k}, …, w_k``.
    n : int
        Sequence length, ``n ≥ 1``.

    Returns
    -------
    torch.Tensor
        ``(n, n)``, on ``kernel``'s device and dtype.
    """
    floating_tensor("kernel", kernel)
    positive_int("n", n)
    if kernel.dim() != 1 or kernel.shape[0] % 2 == 0:
        raise ValueError(f"kernel must have odd length 2k + 1, got shape {tuple(kernel.shape)}")
    k = kernel.shape[0] // 2
    i = torch.arange(n, device=kernel.device)
    offset = i[None, :] - i[:, None]                      # j - i for entry (i, j)
    inside = offset.abs() <= k
    return torch.where(inside, kernel[(offset + k).clamp(0, 2 * k)], kernel.new_zeros(()))


def toeplitz_matrix(g: torch.Tensor, n: int) -> torch.Tensor:
    """The full ``(n, n)`` Toeplitz matrix of a continuous convolution, ``A[i, j] = g(j − i)``.

    ``h_i = Σ_{j=1-i}^{n-i} g(j) x_{i+j} = Σ_{j'=1}^{n} g(j' − i) x_{j'}``: every offset
    ``j − i ∈ [−(n−1), n−1]`` has its own weight (no locality), and the weight depends on the
    offset only. (The notes write ``g(i+j) x_j``, which is a Hankel matrix; see the chapter.)

    Parameters
    ----------
    g : torch.Tensor
        ``(2n − 1,)`` values ``g(−(n−1)), …, g(n−1)``.
    n : int
        Sequence length.

    Returns
    -------
    torch.Tensor
        ``(n, n)``.
    """
    positive_int("n", n)
    _offsets("g", g, n)
    i = torch.arange(n, device=g.device)
    return g[i[None, :] - i[:, None] + n - 1]


def nonlocal_matrix(x: torch.Tensor) -> torch.Tensor:
    """Data-dependent mixing ``A[i, j] = α(x_i, x_j) = x_i·x_j / n`` (non-local network, dot form).

    Wang et al. (2018) normalise the pairwise dot product by the number of positions ``n``;
    ``h = A x`` is the notes' third line. No softmax: the weights may be negative.

    Parameters
    ----------
    x : torch.Tensor
        ``(n, d)`` or ``(b, n, d)`` tokens.

    Returns
    -------
    torch.Tensor
        ``(n, n)`` or ``(b, n, n)``.
    """
    floating_tensor("x", x, min_dim=2)
    return x @ x.transpose(-2, -1) / x.shape[-2]


def softmax_matrix(x: torch.Tensor) -> torch.Tensor:
    """Row-softmax of scaled dot products, ``A = softmax_j(x_i·x_j / √d)`` (notes' fourth line).

    Parameters
    ----------
    x : torch.Tensor
        ``(n, d)`` or ``(b, n, d)`` tokens.

    Returns
    -------
    torch.Tensor
        ``(n, n)`` or ``(b, n, n)``, every row a probability vector.
    """
    floating_tensor("x", x, min_dim=2)
    return torch.softmax(x @ x.transpose(-2, -1) / math.sqrt(x.shape[-1]), dim=-1)


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
    mask: torch.Tensor | None = None, bias: torch.Tensor | None = None, scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``H = softmax(Q Kᵀ / √q + B + M) V``, the notes' SELF ATTENTION LAYER with Q, K, V given.

    The mask is applied *additively* before the softmax: ``M_ij = 0`` where ``mask`` is True
    and ``−∞`` where it is False (the notes' ``Q Kᵀ ⊙ M`` is wrong; see the transformer chapter).

    Parameters
    ----------
    q : torch.Tensor
        ``(..., n, q)`` queries.
    k : torch.Tensor
        ``(..., m, q)`` keys: the same width ``q`` as the queries.
    v : torch.Tensor
        ``(..., m, v)`` values.
    mask : torch.Tensor, optional
        ``(n, m)`` (or broadcastable to ``(..., n, m)``) booleans, True where query ``i`` may
        attend to key ``j``; every row needs at least one True (keyword-only).
    bias : torch.Tensor, optional
        ``(n, m)`` additive scores, e.g. a relative-position bias (keyword-only).
    scale : float, optional
        Multiplier of the scores; default ``1/√q`` (keyword-only).

    Returns
    -------
    h, weights : torch.Tensor
        ``(..., n, v)`` outputs and the ``(..., n, m)`` attention weights.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        floating_tensor(name, t, min_dim=2)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same head dimension, got q {q.shape[-1]} and k {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of positions, got {k.shape[-2]} and {v.shape[-2]}")
    n, m = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if bias is not None:
        floating_tensor("bias", bias, min_dim=2)
        if bias.shape[-2:] != (n, m):
            raise ValueError(f"bias must end in shape ({n}, {m}), got {tuple(bias.shape)}")
        scores = scores + bias
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() < 2 \
                or mask.shape[-2:] != (n, m):
            raise ValueError(f"mask must be a boolean tensor ending in shape ({n}, {m}), "
                             f"got {getattr(mask, 'dtype', type(mask))} {tuple(getattr(mask, 'shape', ()))}")
        if not bool(mask.any(-1).all()):
            raise ValueError("mask must allow at least one key in every row")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


class AttentionWeights(NamedTuple):
    """The parameters of multi-head attention in the notes' convention ``Q = X W_q``.

    ``w_q, w_k (d, h·q)``, ``w_v (d, h·v)``, ``w_o (h·v, d)`` and biases ``b_q, b_k (h·q,)``,
    ``b_v (h·v,)``, ``b_o (d,)``; head ``r`` uses columns ``r·q … (r+1)·q − 1``.
    """

    w_q: torch.Tensor
    w_k: torch.Tensor
    w_v: torch.Tensor
    w_o: torch.Tensor
    b_q: torch.Tensor
    b_k: torch.Tensor
    b_v: torch.Tensor
    b_o: torch.Tensor

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> "AttentionWeights":
        """Map an ``nn.MultiheadAttention`` (packed in-projection, with biases) to this layout.

        PyTorch computes ``x Wᵀ + b`` with ``in_proj_weight = [W_q; W_k; W_v]`` stacked by rows,
        so the notes' right-multiplying matrices are the transposed blocks.
        """
        if not isinstance(module, nn.MultiheadAttention) or module.in_proj_weight is None \
                or module.in_proj_bias is None:
            raise ValueError("module must be an nn.MultiheadAttention with a packed in-projection and biases")
        wq, wk, wv = module.in_proj_weight.detach().chunk(3)
        bq, bk, bv = module.in_proj_bias.detach().chunk(3)
        return cls(wq.T, wk.T, wv.T, module.out_proj.weight.detach().T, bq, bk, bv,
                   module.out_proj.bias.detach())


def multi_head_attention(x: torch.Tensor, weights: AttentionWeights, n_heads: int, *,
                         mask: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head self-attention ``MHA(X) = [H_1 ∥ … ∥ H_h] W_o + b_o``, ``H_r`` from
    :func:`scaled_dot_product_attention` on ``Q_r = X W_q^{(r)}`` (and likewise K, V).

    Parameters
    ----------
    x : torch.Tensor
        ``(n, d)`` or ``(b, n, d)``.
    weights : AttentionWeights
        Widths ``h·q`` and ``h·v`` divisible by ``n_heads``.
    n_heads : int
        Number of heads ``h``.
    mask, bias : torch.Tensor, optional
        As in :func:`scaled_dot_product_attention`, shared by every head (keyword-only).

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.
    """
    floating_tensor("x", x, min_dim=2)
    positive_int("n_heads", n_heads)
    if not isinstance(weights, AttentionWeights):
        raise ValueError(f"weights must be AttentionWeights, got {type(weights).__name__}")
    d = x.shape[-1]
    if weights.w_q.shape[0] != d or weights.w_k.shape != weights.w_q.shape or weights.w_v.shape[0] != d:
        raise ValueError(f"weights must map width d = {d}: w_q {tuple(weights.w_q.shape)}, "
                         f"w_k {tuple(weights.w_k.shape)}, w_v {tuple(weights.w_v.shape)}")
    if weights.w_q.shape[1] % n_heads or weights.w_v.shape[1] % n_heads:
        raise ValueError(f"n_heads = {n_heads} must divide the widths {weights.w_q.shape[1]} and {weights.w_v.shape[1]}")

    def heads(t: torch.Tensor) -> torch.Tensor:           # (..., n, h·c) -> (..., h, n, c)
        return t.unflatten(-1, (n_heads, -1)).transpose(-3, -2)

    q = heads(x @ weights.w_q + weights.b_q)
    k = heads(x @ weights.w_k + weights.b_k)
    v = heads(x @ weights.w_v + weights.b_v)
    h, _ = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias)
    return h.transpose(-3, -2).flatten(-2) @ weights.w_o + weights.b_o


def sinusoidal_embedding(n: int, d: int, *, base: float = 10000.0) -> torch.Tensor:
    """Vaswani et al.'s (2017) positions: ``E[i, 2r] = sin(i ω_r)``, ``E[i, 2r+1] = cos(i ω_r)``,
    ``ω_r = base^{−2r/d}``.

    Parameters
    ----------
    n : int
        Number of positions.
    d : int
        Even embedding width.
    base : float
        Longest wavelength over 2π (keyword-only).

    Returns
    -------
    torch.Tensor
        ``(n, d)`` float32 (cast it to the tokens' dtype and device).
    """
    positive_int("n", n)
    positive_int("d", d)
    if d % 2:
        raise ValueError(f"d must be even, got {d}")
    if not isinstance(base, (int, float)) or isinstance(base, bool) or base <= 1:
        raise ValueError(f"base must be a number > 1, got {base!r}")
    omega = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angle = torch.arange(n, dtype=torch.float64)[:, None] * omega
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2).float()


def relative_bias(table: torch.Tensor, n: int) -> torch.Tensor:
    """The ``(n, n)`` bias ``B[i, j] = b_{i−j}`` of relative-position attention.

    ``α(x_i, x_j, i − j) = x_i·x_j + b_{i−j}``: one learned number per offset, not per pair.

    Parameters
    ----------
    table : torch.Tensor
        ``(2n − 1,)`` values ``b_{−(n−1)}, …, b_{n−1}``.
    n : int
        Sequence length.

    Returns
    -------
    torch.Tensor
        ``(n, n)``.
    """
    positive_int("n", n)
    _offsets("table", table, n)
    i = torch.arange(n, device=table.device)
    return table[i[:, None] - i[None, :] + n - 1]


def causal_mask(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(n, n)`` booleans, True where ``j ≤ i``: position ``i`` sees itself and the past."""
    positive_int("n", n)
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()
