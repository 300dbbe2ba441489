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
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import floating_tensor, positive_int

__all__ = ["conv_matrix", "toeplitz_matrix", "nonlocal_matrix", "softmax_matrix",
           "scaled_dot_product_attention", "AttentionWeights", "multi_head_attention",
           "sinusoidal_embedding", "relative_bias", "causal_mask", "TransformerBlock", "CharTransformer"]


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
    # entry (i, j) is b_{i-j}: the Toeplitz matrix of the reversed table (g(j - i) = b_{i-j})
    return toeplitz_matrix(table.flip(0), n)


def causal_mask(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(n, n)`` booleans, True where ``j ≤ i``: position ``i`` sees itself and the past."""
    positive_int("n", n)
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


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
    """

    def __init__(self, d: int, n_heads: int, *, pre_norm: bool = True, mlp_ratio: int = 4,
                 activation: str = "gelu") -> None:
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
        return multi_head_attention(x, self.attention_weights(), self.n_heads, mask=mask)

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
    """

    def __init__(self, vocab_size: int, d: int, n_heads: int, n_layers: int, *, context: int,
                 pre_norm: bool = True) -> None:
        super().__init__()
        positive_int("n_layers", n_layers)
        self.context = positive_int("context", context)
        self.token = nn.Embedding(positive_int("vocab_size", vocab_size), positive_int("d", d))
        self.position = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(TransformerBlock(d, n_heads, pre_norm=pre_norm) for _ in range(n_layers))
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
