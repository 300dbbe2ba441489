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
Linear attention (notes: LINEAR TRASFORMERS)
    :func:`elu_feature_map` ``φ(x) = elu(x) + 1``, the ``O(n²)`` form :func:`kernel_attention`
    (an explicit row-normalised kernel matrix, with :func:`linear_kernel` or
    :func:`exponential_kernel`, which gives softmax attention), the ``O(n)`` form
    :func:`linear_attention` (causal by prefix sums) and the RNN form
    :func:`linear_attention_step` / :func:`linear_attention_recurrent` carrying the state
    :class:`LinearAttentionState` ``(S, z)``.
The causal transformer
    :class:`TransformerBlock` (post-norm ``LN(X + MHA(X))``, ``LN(H + MLP(H))`` or pre-norm
    ``X + MHA(LN(X))``, ``H + MLP(LN(H))``; loadable from ``nn.TransformerEncoderLayer``) and
    :class:`CharTransformer`, a character-level GPT with the interface of
    ``recurrent.CharModel`` (``model(codes, state) -> (logits, state)``).

Shapes: a sequence is ``X (n, d)`` (or ``(b, n, d)``), row ``i`` the token ``x_i``; queries
and keys have width ``q``, values width ``v``.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import floating_tensor, positive_int

__all__ = ["conv_matrix", "toeplitz_matrix", "nonlocal_matrix", "softmax_matrix",
           "scaled_dot_product_attention", "AttentionWeights", "multi_head_attention",
           "sinusoidal_embedding", "relative_bias", "causal_mask", "TransformerBlock", "CharTransformer",
           "elu_feature_map", "linear_kernel", "exponential_kernel", "kernel_attention", "linear_attention",
           "LinearAttentionState", "linear_attention_step", "linear_attention_recurrent"]


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
                         mask: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                         attention: str = "softmax") -> torch.Tensor:
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
    attention : {"softmax", "linear"}
        Each head's attention: :func:`scaled_dot_product_attention`, or linear attention with
        ``φ = elu + 1`` (then ``mask`` must be None or :func:`causal_mask` and ``bias`` None;
        keyword-only). Linear attention is computed in its ``n × n`` form (the function of
        :func:`kernel_attention` with :func:`linear_kernel`), which equals :func:`linear_attention`
        and is the cheaper of the two for short sequences, ``n`` below about the head width.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.
    """
    floating_tensor("x", x, min_dim=2)
    positive_int("n_heads", n_heads)
    _attention_kind(attention)
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
    if attention == "linear":
        if bias is not None:
            raise ValueError("bias must be None with attention='linear'")
        # the n × n form of linear_attention's function: cheaper for a block's short windows (the prefix
        # sums store c·v numbers per position, the n × n form n)
        h = kernel_attention(q, k, v, causal=_linear_causal(mask, x.shape[-2]))[0]
    else:
        h, _ = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias)
    return h.transpose(-3, -2).flatten(-2) @ weights.w_o + weights.b_o


def _attention_kind(attention: object) -> str:
    if attention not in ("softmax", "linear"):
        raise ValueError(f"attention must be 'softmax' or 'linear', got {attention!r}")
    return attention


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
    # entry (i, j) is b_{i-j}: the Toeplitz matrix of the reversed table (g(j - i) = b_{i-j})
    return toeplitz_matrix(table.flip(0), n)


def causal_mask(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(n, n)`` booleans, True where ``j ≤ i``: position ``i`` sees itself and the past."""
    positive_int("n", n)
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


# --- Linear attention (notes: LINEAR TRASFORMERS) ---------------------------------------------

FeatureMap = Callable[[torch.Tensor], torch.Tensor]


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """``φ(x) = elu(x) + 1`` (Katharopoulos et al., 2020), applied entry by entry.

    Positive everywhere (``> 0``; ``x`` for ``x > 0``, ``eˣ`` below), so every kernel value
    ``φ(q)ᵀφ(k)`` and every normaliser is positive.

    Parameters
    ----------
    x : torch.Tensor
        ``(..., c)`` queries or keys.

    Returns
    -------
    torch.Tensor
        ``(..., c)`` features.
    """
    floating_tensor("x", x)
    return F.elu(x) + 1


def _features(name: str, x: torch.Tensor, feature_map: FeatureMap) -> torch.Tensor:
    if not callable(feature_map):
        raise ValueError(f"feature_map must be callable, got {type(feature_map).__name__}")
    phi = feature_map(x)
    if not isinstance(phi, torch.Tensor) or phi.shape[:-1] != x.shape[:-1]:
        raise ValueError(f"feature_map must map {name} {tuple(x.shape)} to a tensor (..., c) with the same "
                         f"leading shape, got {tuple(getattr(phi, 'shape', ()))}")
    if phi.numel() and phi.min() < 0:
        raise ValueError(f"feature_map must return non-negative features (else the normaliser φ(q)ᵀΣφ(k) can "
                         f"cross 0); φ({name}) has min {phi.min().item():.3g}")
    return phi


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        floating_tensor(name, t, min_dim=2)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same width, got q {q.shape[-1]} and k {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of positions, got {k.shape[-2]} and {v.shape[-2]}")
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ValueError(f"q, k and v must have the same leading (batch) shape, got {tuple(q.shape[:-2])}, "
                         f"{tuple(k.shape[:-2])} and {tuple(v.shape[:-2])}")
    if not isinstance(causal, bool):
        raise ValueError(f"causal must be a bool, got {causal!r}")
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(f"causal attention needs as many queries as keys, got {q.shape[-2]} and {k.shape[-2]}")


def linear_kernel(q: torch.Tensor, k: torch.Tensor, *, feature_map: FeatureMap = elu_feature_map) -> torch.Tensor:
    """The kernel matrix ``κ(q_i, k_j) = φ(q_i)ᵀφ(k_j)`` of linear attention, ``(..., n, m)``.

    Parameters
    ----------
    q : torch.Tensor
        ``(..., n, q)`` queries.
    k : torch.Tensor
        ``(..., m, q)`` keys.
    feature_map : callable
        ``φ``, non-negative (keyword-only; default :func:`elu_feature_map`).
    """
    return _features("q", q, feature_map) @ _features("k", k, feature_map).transpose(-2, -1)


def exponential_kernel(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The kernel of softmax attention, ``κ(q_i, k_j) = exp(q_iᵀk_j / √q)``, ``(..., n, m)``.

    Row-normalised (:func:`kernel_attention`) it is ``softmax(QKᵀ/√q)``; no maximum is subtracted,
    so keep the scores moderate (a demonstration, not a kernel for long sequences).
    """
    return torch.exp(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]))


def kernel_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
    kernel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = linear_kernel, causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``O(n²)`` form: ``h_i = Σ_j κ(q_i, k_j) v_j / Σ_j κ(q_i, k_j)`` as an explicit matrix.

    ``A_ij = κ(q_i, k_j) / Σ_{j'} κ(q_i, k_{j'})`` (sums over ``j ≤ i`` when ``causal``), ``H = A V``:
    the left side of the notes' LINEAR TRASFORMERS formula, with ``κ = φ(q)ᵀφ(k)``
    (:func:`linear_kernel`), or softmax attention with :func:`exponential_kernel`.

    Parameters
    ----------
    q : torch.Tensor
        ``(..., n, q)`` queries.
    k : torch.Tensor
        ``(..., m, q)`` keys.
    v : torch.Tensor
        ``(..., m, v)`` values.
    kernel : callable
        ``kernel(q, k) -> (..., n, m)`` non-negative similarities (keyword-only).
    causal : bool
        Query ``i`` sees keys ``j ≤ i`` only; needs ``n = m`` (keyword-only).

    Returns
    -------
    h, weights : torch.Tensor
        ``(..., n, v)`` outputs and the ``(..., n, m)`` row-normalised weights.
    """
    _check_qkv(q, k, v, causal)
    if not callable(kernel):
        raise ValueError(f"kernel must be callable, got {type(kernel).__name__}")
    scores = kernel(q, k)
    n, m = q.shape[-2], k.shape[-2]
    if not isinstance(scores, torch.Tensor) or scores.shape != q.shape[:-1] + (m,):
        raise ValueError(f"kernel must return shape {tuple(q.shape[:-1]) + (m,)}, got "
                         f"{tuple(getattr(scores, 'shape', ()))}")
    if kernel is not linear_kernel and scores.numel() and scores.min() < 0:   # linear_kernel checks its features
        raise ValueError(f"kernel must be non-negative, got min {scores.min().item():.3g}")
    if causal:
        scores = scores.tril()                                             # A_ij = 0 for j > i
    total = scores.sum(-1, keepdim=True)
    if total.numel() and not total.min() > 0:
        raise ValueError("kernel must give every query a positive total weight")
    weights = scores / total
    return weights @ v, weights


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
                     feature_map: FeatureMap = elu_feature_map) -> torch.Tensor:
    """The ``O(n)`` form: ``h_i = φ(q_i)ᵀ S / φ(q_i)ᵀ z`` with ``S = Σ_j φ(k_j) v_jᵀ``, ``z = Σ_j φ(k_j)``.

    The right side of the notes' formula (Katharopoulos et al., 2020): ``S (c, v)`` and ``z (c,)``
    are computed once, in ``O(m c v)``, and each query costs ``O(c v)``, so the whole costs
    ``O((n + m) c v)`` instead of the ``O(n m (c + v))`` of :func:`kernel_attention`.
    ``causal=True`` uses the prefix sums ``S_i = Σ_{j≤i} φ(k_j) v_jᵀ``, ``z_i = Σ_{j≤i} φ(k_j)``
    (``torch.cumsum``, all positions at once; memory ``O(n c v)``).

    Parameters
    ----------
    q : torch.Tensor
        ``(..., n, q)`` queries.
    k : torch.Tensor
        ``(..., m, q)`` keys.
    v : torch.Tensor
        ``(..., m, v)`` values.
    causal : bool
        Prefix sums instead of full sums; needs ``n = m`` (keyword-only).
    feature_map : callable
        ``φ: (..., q) -> (..., c)``, non-negative (keyword-only; default :func:`elu_feature_map`).

    Returns
    -------
    torch.Tensor
        ``(..., n, v)``.
    """
    _check_qkv(q, k, v, causal)
    fq, fk = _features("q", q, feature_map), _features("k", k, feature_map)
    if causal:
        s = torch.cumsum(fk.unsqueeze(-1) * v.unsqueeze(-2), dim=-3)      # (..., n, c, v): S_i
        z = torch.cumsum(fk, dim=-2)                                       # (..., n, c): z_i
        numerator = (fq.unsqueeze(-2) @ s).squeeze(-2)                     # φ(q_i)ᵀ S_i
        denominator = (fq * z).sum(-1, keepdim=True)                       # φ(q_i)ᵀ z_i
    else:
        s = fk.transpose(-2, -1) @ v                                       # (..., c, v): S
        z = fk.sum(-2)                                                     # (..., c): z
        numerator, denominator = fq @ s, fq @ z.unsqueeze(-1)
    if not bool((denominator > 0).all()):
        raise ValueError("feature_map gives a zero normaliser φ(q_i)ᵀ z for some query (all features 0)")
    return numerator / denominator


class LinearAttentionState(NamedTuple):
    """The state of causal linear attention after ``i`` tokens: ``S_i (..., c, v)``, ``z_i (..., c)``."""

    s: torch.Tensor
    z: torch.Tensor


def linear_attention_step(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, state: LinearAttentionState | None = None, *,
    feature_map: FeatureMap = elu_feature_map,
) -> tuple[torch.Tensor, LinearAttentionState]:
    """One token of causal linear attention as an RNN cell.

    ``S_i = S_{i−1} + φ(k_i) v_iᵀ``, ``z_i = z_{i−1} + φ(k_i)``, ``h_i = φ(q_i)ᵀS_i / φ(q_i)ᵀz_i``:
    constant cost ``O(c v)`` per token, whatever ``i``.

    Parameters
    ----------
    q, k : torch.Tensor
        ``(..., q)`` the query and key of token ``i``.
    v : torch.Tensor
        ``(..., v)`` its value.
    state : LinearAttentionState, optional
        ``(S_{i−1}, z_{i−1})``; None starts from zeros (token 1).
    feature_map : callable
        ``φ``, non-negative (keyword-only).

    Returns
    -------
    h, state : torch.Tensor, LinearAttentionState
        ``(..., v)`` the output of token ``i`` and ``(S_i, z_i)``.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        floating_tensor(name, t)
    if q.shape[-1] != k.shape[-1] or not (q.shape[:-1] == k.shape[:-1] == v.shape[:-1]):
        raise ValueError(f"q and k must have the same shape and v the same leading shape, got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)}")
    fq, fk = _features("q", q, feature_map), _features("k", k, feature_map)
    outer = fk.unsqueeze(-1) * v.unsqueeze(-2)                             # φ(k_i) v_iᵀ, (..., c, v)
    if state is None:
        state = LinearAttentionState(torch.zeros_like(outer), torch.zeros_like(fk))
    if not isinstance(state, LinearAttentionState) or state.s.shape != outer.shape or state.z.shape != fk.shape:
        raise ValueError(f"state must be a LinearAttentionState with s {tuple(outer.shape)} and z {tuple(fk.shape)}")
    state = LinearAttentionState(state.s + outer, state.z + fk)
    denominator = (fq * state.z).sum(-1, keepdim=True)
    if not bool((denominator > 0).all()):
        raise ValueError("feature_map gives a zero normaliser φ(q_i)ᵀ z_i (all features 0)")
    return (fq.unsqueeze(-2) @ state.s).squeeze(-2) / denominator, state


def linear_attention_recurrent(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
                               feature_map: FeatureMap = elu_feature_map) -> torch.Tensor:
    """Causal linear attention token by token with :func:`linear_attention_step` (an RNN).

    Parameters
    ----------
    q, k : torch.Tensor
        ``(..., n, q)``.
    v : torch.Tensor
        ``(..., n, v)``.
    feature_map : callable
        ``φ``, non-negative (keyword-only).

    Returns
    -------
    torch.Tensor
        ``(..., n, v)``, equal to ``linear_attention(q, k, v, causal=True)`` up to rounding.
    """
    _check_qkv(q, k, v, True)
    state, outputs = None, []
    for i in range(q.shape[-2]):
        h, state = linear_attention_step(q[..., i, :], k[..., i, :], v[..., i, :], state, feature_map=feature_map)
        outputs.append(h)
    return torch.stack(outputs, dim=-2)


def _linear_causal(mask: torch.Tensor | None, n: int) -> bool:
    """Linear attention knows two masks: none, or the causal one (as a flag)."""
    if mask is None:
        return False
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or \
            not torch.equal(mask, causal_mask(n, device=mask.device)):
        raise ValueError("linear attention takes no mask or the causal mask causal_mask(n) only")
    return True


_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu}


class TransformerBlock(nn.Module):
    """One transformer block: multi-head self-attention and a two-layer MLP, each with a residual.

    Post-norm (Vaswani et al., 2017), ``pre_norm=False``::

        H = LN(X + MHA(X)),   Y = LN(H + MLP(H))

    Pre-norm (Xiong et al., 2020; GPT-2), ``pre_norm=True``::

        H = X + MHA(LN(X)),   Y = H + MLP(LN(H))

    with ``MLP(H) = act(H W_1 + b_1) W_2 + b_2``. The attention is :func:`multi_head_attention`
    on weights read from ``in_proj`` (``[W_q; W_k; W_v]`` stacked by rows, as in
    ``nn.MultiheadAttention``) and ``out_proj``, so gradients flow to them.

    Parameters
    ----------
    d : int
        Model width; ``n_heads`` must divide it.
    n_heads : int
        Number of heads ``h``; each has width ``d / h``.
    pre_norm : bool
        Pre-norm (default) or post-norm (keyword-only).
    mlp_ratio : int
        Hidden width of the MLP over ``d`` (keyword-only).
    activation : {"gelu", "relu"}
        The MLP's non-linearity (keyword-only).
    attention : {"softmax", "linear"}
        Softmax attention or linear attention (Katharopoulos et al., 2020) in every head, as in
        :func:`multi_head_attention` (keyword-only).
    """

    def __init__(self, d: int, n_heads: int, *, pre_norm: bool = True, mlp_ratio: int = 4,
                 activation: str = "gelu", attention: str = "softmax") -> None:
        super().__init__()
        positive_int("d", d)
        positive_int("n_heads", n_heads)
        positive_int("mlp_ratio", mlp_ratio)
        if d % n_heads:
            raise ValueError(f"n_heads = {n_heads} must divide d = {d}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if not isinstance(pre_norm, bool):
            raise ValueError(f"pre_norm must be a bool, got {pre_norm!r}")
        self.d, self.n_heads, self.pre_norm, self.activation = d, n_heads, pre_norm, activation
        self.attention = _attention_kind(attention)
        self.in_proj = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, mlp_ratio * d)
        self.linear2 = nn.Linear(mlp_ratio * d, d)

    def attention_weights(self) -> AttentionWeights:
        """The block's attention parameters in the notes' layout (views: gradients flow)."""
        w_q, w_k, w_v = self.in_proj.weight.chunk(3)
        b_q, b_k, b_v = self.in_proj.bias.chunk(3)
        return AttentionWeights(w_q.T, w_k.T, w_v.T, self.out_proj.weight.T, b_q, b_k, b_v, self.out_proj.bias)

    def _check(self, x: torch.Tensor) -> None:
        floating_tensor("x", x, min_dim=2)
        if x.shape[-1] != self.d:
            raise ValueError(f"x must end in the model width d = {self.d}, got shape {tuple(x.shape)}")

    def mha(self, x: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``MHA(X)``, ``(..., n, d) -> (..., n, d)``; ``mask (n, n)`` booleans as in
        :func:`scaled_dot_product_attention`."""
        return multi_head_attention(x, self.attention_weights(), self.n_heads, mask=mask, attention=self.attention)

    def mlp(self, h: torch.Tensor) -> torch.Tensor:
        """``MLP(H) = act(H W_1 + b_1) W_2 + b_2``, ``(..., n, d) -> (..., n, d)``."""
        return self.linear2(_ACTIVATIONS[self.activation](self.linear1(h)))

    def forward(self, x: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(..., n, d) -> (..., n, d)``; ``mask`` (keyword-only) as in :meth:`mha`."""
        self._check(x)
        if self.pre_norm:
            h = x + self.mha(self.norm1(x), mask=mask)
            return h + self.mlp(self.norm2(h))
        h = self.norm1(x + self.mha(x, mask=mask))
        return self.norm2(h + self.mlp(h))

    def attention_map(self, x: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The attention weights ``(..., h, n, n)`` this block computes on its input ``x (..., n, d)``."""
        self._check(x)
        w = self.attention_weights()
        z = self.norm1(x) if self.pre_norm else x
        q = (z @ w.w_q + w.b_q).unflatten(-1, (self.n_heads, -1)).transpose(-3, -2)
        k = (z @ w.w_k + w.b_k).unflatten(-1, (self.n_heads, -1)).transpose(-3, -2)
        if self.attention == "linear":
            return kernel_attention(q, k, k, causal=_linear_causal(mask, x.shape[-2]))[1]
        return scaled_dot_product_attention(q, k, k, mask=mask)[1]

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> "TransformerBlock":
        """A block with the weights, norm placement and activation of ``layer``.

        ``layer`` must have ``batch_first=True``, biases, a ReLU or GELU (``"relu"``, ``"gelu"``
        or ``F.relu``/``F.gelu``) and LayerNorms with the default ``eps = 1e-5``; its dropout is
        ignored (compare in ``eval()`` mode or with ``dropout=0``). The copy has ``layer``'s dtype.
        """
        if not isinstance(layer, nn.TransformerEncoderLayer) or not layer.self_attn.batch_first \
                or layer.self_attn.in_proj_bias is None:
            raise ValueError("layer must be an nn.TransformerEncoderLayer with batch_first=True and biases")
        act = layer.activation
        name = {F.relu: "relu", F.gelu: "gelu"}.get(act) if callable(act) and not isinstance(act, nn.Module) \
            else {nn.ReLU: "relu", nn.GELU: "gelu"}.get(type(act))
        if name is None or (isinstance(act, nn.GELU) and act.approximate != "none"):
            raise ValueError(f"layer's activation must be ReLU or exact GELU, got {act!r}")
        if layer.norm1.eps != 1e-5 or layer.norm2.eps != 1e-5:
            raise ValueError("layer's LayerNorms must have eps = 1e-5")
        d = layer.self_attn.embed_dim
        block = cls(d, layer.self_attn.num_heads, pre_norm=bool(layer.norm_first),
                    mlp_ratio=1, activation=name)
        block.linear1 = nn.Linear(d, layer.linear1.out_features)
        block.linear2 = nn.Linear(layer.linear1.out_features, d)
        block = block.to(layer.linear1.weight.dtype)
        with torch.no_grad():
            block.in_proj.weight.copy_(layer.self_attn.in_proj_weight)
            block.in_proj.bias.copy_(layer.self_attn.in_proj_bias)
            for mine, theirs in ((block.out_proj, layer.self_attn.out_proj), (block.linear1, layer.linear1),
                                 (block.linear2, layer.linear2), (block.norm1, layer.norm1),
                                 (block.norm2, layer.norm2)):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
        return block


class CharTransformer(nn.Module):
    """A character-level GPT: token and learned position embeddings, causal blocks, a read-out.

    ``X = E_tok[c] + E_pos``, then ``n_layers`` :class:`TransformerBlock` with the causal mask
    (:func:`causal_mask`, applied additively), a final LayerNorm for pre-norm blocks, and
    logits ``O = Y W_o + b_o``. Like ``recurrent.CharModel`` it maps codes to
    ``(logits, state)``; the state is the last ``context - 1`` codes read, so feeding one code at
    a time with the returned state continues the text (``recurrent.sample`` works with it).

    Parameters
    ----------
    vocab_size : int
        Number of characters ``V``.
    d : int
        Model width.
    n_heads : int
        Heads per block; must divide ``d``.
    n_layers : int
        Number of blocks.
    context : int
        Longest sequence the position embedding covers (keyword-only).
    pre_norm : bool
        Pre-norm (default, GPT-2) or post-norm blocks (keyword-only).
    attention : {"softmax", "linear"}
        The blocks' attention (keyword-only; "linear": causal linear attention, φ = elu + 1).
    """

    def __init__(self, vocab_size: int, d: int, n_heads: int, n_layers: int, *, context: int,
                 pre_norm: bool = True, attention: str = "softmax") -> None:
        super().__init__()
        positive_int("n_layers", n_layers)
        self.context = positive_int("context", context)
        self.token = nn.Embedding(positive_int("vocab_size", vocab_size), positive_int("d", d))
        self.position = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(TransformerBlock(d, n_heads, pre_norm=pre_norm, attention=attention)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(d) if pre_norm else nn.Identity()
        self.readout = nn.Linear(d, vocab_size)

    def embed(self, codes: torch.Tensor) -> torch.Tensor:
        """``X = E_tok[codes] + E_pos[0 … L−1]``: ``(n, L)`` codes to ``(n, L, d)``."""
        if not isinstance(codes, torch.Tensor) or codes.dim() != 2 or codes.is_floating_point():
            raise ValueError(f"codes must be an integer tensor (n, L), got {getattr(codes, 'dtype', type(codes))} "
                             f"{tuple(getattr(codes, 'shape', ()))}")
        if codes.shape[1] > self.context:
            raise ValueError(f"codes must have at most context = {self.context} positions, got {codes.shape[1]}")
        return self.token(codes) + self.position.weight[: codes.shape[1]]

    def features(self, x: torch.Tensor, *, causal: bool = True) -> torch.Tensor:
        """The blocks and final norm on embeddings ``x (n, L, d) -> (n, L, d)``.

        ``causal=False`` drops the mask (keyword-only; a control, not a language model).
        """
        floating_tensor("x", x, min_dim=2)
        mask = causal_mask(x.shape[-2], device=x.device) if causal else None
        for block in self.blocks:
            x = block(x, mask=mask)
        return self.norm(x)

    def forward(self, codes: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(n, L, V)`` for codes ``(n, L)`` read after ``state`` (earlier codes, or None).

        Returns the logits of the new positions and the new state, the last ``context − 1``
        codes read (``(n, ≤ context − 1)``).
        """
        if state is not None:
            if not isinstance(state, torch.Tensor) or state.dim() != 2 or state.shape[0] != codes.shape[0]:
                raise ValueError("state must be the (n, k) codes returned by a previous call")
            full = torch.cat([state, codes], dim=1)[:, -self.context:]
        else:
            full = codes
        logits = self.readout(self.features(self.embed(full)))
        return logits[:, -codes.shape[1]:], full[:, -(self.context - 1):] if self.context > 1 else full[:, :0]

    @torch.no_grad()
    def attention_maps(self, codes: torch.Tensor) -> torch.Tensor:
        """Attention weights of every block on ``codes (n, L)``: ``(n_layers, n, h, L, L)``."""
        x = self.embed(codes)
        mask = causal_mask(x.shape[-2], device=x.device)
        maps = []
        for block in self.blocks:
            maps.append(block.attention_map(x, mask=mask))
            x = block(x, mask=mask)
        return torch.stack(maps)
