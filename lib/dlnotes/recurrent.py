"""Recurrent networks from scratch (notes: RNN FORMULA, GRU, LSTM).

The notes write every step with row-vector batches: ``X_t`` is ``(n, d)``, ``H_t`` is
``(n, h)`` and weights multiply on the right (``X_t W_xh`` with ``W_xh: (d, h)``). The
functions below keep that layout; a sequence is stacked time-first, ``X: (T, n, d)``, as
``torch.nn.RNN`` takes it by default. The ``*_params_from_torch`` functions map the weights of
a one-layer PyTorch module onto the notes' matrices (transposes, gate blocks, summed biases),
so the from-scratch functions can be compared with the modules in float64.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from ._checks import floating_tensor, positive_int, positive_number

__all__ = [
    "RNNParams", "GRUParams", "LSTMParams",
    "rnn_params_from_torch", "gru_params_from_torch", "lstm_params_from_torch",
    "rnn", "rnn_bptt", "RNNGrads", "gru", "gru_notes", "gru_torch", "lstm",
    "jacobian_product", "CharModel", "sample", "set_memory_bias", "ngram_cross_entropy",
]


class RNNParams(NamedTuple):
    """The notes' RNN: ``w_xh (d, h)``, ``w_hh (h, h)``, ``b_h (h,)``."""

    w_xh: torch.Tensor
    w_hh: torch.Tensor
    b_h: torch.Tensor


class GRUParams(NamedTuple):
    """A GRU in the notes' layout: ``w_x* (d, h)``, ``w_h* (h, h)``, biases ``(h,)``.

    Gates ``r`` (reset) and ``z`` (update) have one bias each. The candidate has two,
    ``b_xh`` beside ``X_t W_xh`` and ``b_hh`` beside ``H_{t-1} W_hh``: they add up to the
    notes' ``b_h`` in :func:`gru_notes`, while :func:`gru_torch` puts ``b_hh`` inside the reset.
    """

    w_xr: torch.Tensor
    w_hr: torch.Tensor
    b_r: torch.Tensor
    w_xz: torch.Tensor
    w_hz: torch.Tensor
    b_z: torch.Tensor
    w_xh: torch.Tensor
    w_hh: torch.Tensor
    b_xh: torch.Tensor
    b_hh: torch.Tensor


class LSTMParams(NamedTuple):
    """The notes' LSTM: for each of ``i, f, o, c``, ``w_x* (d, h)``, ``w_h* (h, h)``, ``b_* (h,)``."""

    w_xi: torch.Tensor
    w_hi: torch.Tensor
    b_i: torch.Tensor
    w_xf: torch.Tensor
    w_hf: torch.Tensor
    b_f: torch.Tensor
    w_xo: torch.Tensor
    w_ho: torch.Tensor
    b_o: torch.Tensor
    w_xc: torch.Tensor
    w_hc: torch.Tensor
    b_c: torch.Tensor


def _one_layer(module: torch.nn.Module, kind: type) -> None:
    if not isinstance(module, kind):
        raise ValueError(f"module must be a torch.nn.{kind.__name__}, got {type(module).__name__}")
    if module.num_layers != 1 or module.bidirectional or not module.bias or getattr(module, "proj_size", 0):
        raise ValueError("module must have one layer, one direction, biases and no projection")


def rnn_params_from_torch(module: torch.nn.RNN) -> RNNParams:
    """The notes' ``W_xh, W_hh, b_h`` of a one-layer ``torch.nn.RNN`` (weights transposed,
    ``b_h = b_ih + b_hh``: PyTorch keeps two biases that only ever appear summed)."""
    _one_layer(module, torch.nn.RNN)
    return RNNParams(module.weight_ih_l0.T, module.weight_hh_l0.T, module.bias_ih_l0 + module.bias_hh_l0)


def gru_params_from_torch(module: torch.nn.GRU) -> GRUParams:
    """:class:`GRUParams` of a one-layer ``torch.nn.GRU`` (PyTorch stacks the rows ``r, z, n``)."""
    _one_layer(module, torch.nn.GRU)
    w_x, w_h = module.weight_ih_l0.T.chunk(3, dim=1), module.weight_hh_l0.T.chunk(3, dim=1)
    b_x, b_h = module.bias_ih_l0.chunk(3), module.bias_hh_l0.chunk(3)
    return GRUParams(w_x[0], w_h[0], b_x[0] + b_h[0], w_x[1], w_h[1], b_x[1] + b_h[1],
                     w_x[2], w_h[2], b_x[2], b_h[2])


def lstm_params_from_torch(module: torch.nn.LSTM) -> LSTMParams:
    """:class:`LSTMParams` of a one-layer ``torch.nn.LSTM``.

    PyTorch stacks the gate rows in the order ``i, f, g, o`` (``g`` is the notes' candidate
    ``C~``); the notes list ``I, F, O, C~``. Biases ``b_ih + b_hh`` are summed.
    """
    _one_layer(module, torch.nn.LSTM)
    w_x, w_h = module.weight_ih_l0.T.chunk(4, dim=1), module.weight_hh_l0.T.chunk(4, dim=1)
    b = (module.bias_ih_l0 + module.bias_hh_l0).chunk(4)
    i, f, g, o = range(4)
    return LSTMParams(w_x[i], w_h[i], b[i], w_x[f], w_h[f], b[f], w_x[o], w_h[o], b[o], w_x[g], w_h[g], b[g])


def _check_sequence(x: torch.Tensor, w_x: torch.Tensor, h0: torch.Tensor | None,
                    w_h: torch.Tensor, name: str = "h0") -> torch.Tensor:
    floating_tensor("x", x)
    if x.dim() != 3:
        raise ValueError(f"x must have shape (T, n, d), got {tuple(x.shape)}")
    d, h = w_x.shape
    if x.shape[2] != d:
        raise ValueError(f"x has {x.shape[2]} features but the input weights expect d = {d}")
    if w_h.shape != (h, h):
        raise ValueError(f"the recurrent weights must be ({h}, {h}) to match the hidden size, got {tuple(w_h.shape)}")
    if h0 is None:
        return x.new_zeros(x.shape[1], h)
    floating_tensor(name, h0)
    if h0.shape != (x.shape[1], h):
        raise ValueError(f"{name} must have shape (n, h) = {(x.shape[1], h)}, got {tuple(h0.shape)}")
    return h0


def rnn(x: torch.Tensor, params: RNNParams, h0: torch.Tensor | None = None, *,
        nonlinearity: str = "tanh") -> torch.Tensor:
    """Run the notes' RNN, ``H_t = φ(X_t W_xh + H_{t-1} W_hh + b_h)``, over a sequence.

    Parameters
    ----------
    x : torch.Tensor
        ``(T, n, d)``: ``X_1, …, X_T``, each ``(n, d)``.
    params : RNNParams
        ``w_xh (d, h)``, ``w_hh (h, h)``, ``b_h (h,)``.
    h0 : torch.Tensor, optional
        ``(n, h)`` initial state ``H_0``; zeros by default.
    nonlinearity : {"tanh", "relu"}
        ``φ`` (keyword-only), the two choices of ``torch.nn.RNN``.

    Returns
    -------
    torch.Tensor
        ``(T, n, h)``: ``H_1, …, H_T``.
    """
    phi = {"tanh": torch.tanh, "relu": torch.relu}.get(nonlinearity)
    if phi is None:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    h = _check_sequence(x, params.w_xh, h0, params.w_hh)
    states = []
    for x_t in x:
        h = phi(x_t @ params.w_xh + h @ params.w_hh + params.b_h)
        states.append(h)
    return torch.stack(states)


class RNNGrads(NamedTuple):
    """Gradients of a loss with respect to the RNN's parameters and its initial state."""

    w_xh: torch.Tensor
    w_hh: torch.Tensor
    b_h: torch.Tensor
    h0: torch.Tensor


def rnn_bptt(x: torch.Tensor, params: RNNParams, h0: torch.Tensor, states: torch.Tensor,
             grad_states: torch.Tensor) -> RNNGrads:
    """Backpropagation through time for the tanh RNN, by the hand-derived recursion.

    With ``A_t = X_t W_xh + H_{t-1} W_hh + b_h`` and ``H_t = tanh(A_t)``, going backwards:
    ``δ_t = (G_t + δ_{t+1} W_hhᵀ) ⊙ (1 - H_t²)`` (``δ_{T+1} = 0``), where ``G_t = ∂L/∂H_t``
    holds only the direct part of the gradient (through the output at step ``t``) and
    ``δ_t = ∂L/∂A_t``. Then ``∂L/∂W_xh = Σ_t X_tᵀ δ_t``, ``∂L/∂W_hh = Σ_t H_{t-1}ᵀ δ_t``,
    ``∂L/∂b_h = Σ_t 1ᵀ δ_t`` and ``∂L/∂H_0 = δ_1 W_hhᵀ``.

    Parameters
    ----------
    x : torch.Tensor
        ``(T, n, d)`` inputs.
    params : RNNParams
        The weights the forward pass used.
    h0 : torch.Tensor
        ``(n, h)`` initial state.
    states : torch.Tensor
        ``(T, n, h)``: ``H_1 … H_T`` from :func:`rnn` (tanh).
    grad_states : torch.Tensor
        ``(T, n, h)``: ``G_t``, the direct gradient of the loss with respect to each ``H_t``.

    Returns
    -------
    RNNGrads
        ``w_xh (d, h)``, ``w_hh (h, h)``, ``b_h (h,)``, ``h0 (n, h)``.
    """
    h0 = _check_sequence(x, params.w_xh, h0, params.w_hh)
    if states.shape != x.shape[:2] + (params.w_hh.shape[0],) or grad_states.shape != states.shape:
        raise ValueError(f"states and grad_states must have shape (T, n, h) = "
                         f"{tuple(x.shape[:2]) + (params.w_hh.shape[0],)}, got "
                         f"{tuple(states.shape)} and {tuple(grad_states.shape)}")
    previous = torch.cat([h0[None], states[:-1]])          # H_0 … H_{T-1}
    delta = torch.zeros_like(h0)                            # δ_{T+1} W_hhᵀ is zero
    deltas = torch.empty_like(states)
    for t in reversed(range(len(x))):
        delta = (grad_states[t] + delta @ params.w_hh.T) * (1 - states[t] ** 2)
        deltas[t] = delta
    return RNNGrads(
        torch.einsum("tnd,tnh->dh", x, deltas),
        torch.einsum("tni,tnh->ih", previous, deltas),
        deltas.sum((0, 1)),
        deltas[0] @ params.w_hh.T,
    )


def _check_gru(x: torch.Tensor, params: GRUParams, h0: torch.Tensor | None) -> torch.Tensor:
    if not isinstance(params, GRUParams):
        raise ValueError(f"params must be GRUParams, got {type(params).__name__}")
    return _check_sequence(x, params.w_xh, h0, params.w_hh)


def gru(x: torch.Tensor, params: GRUParams, h0: torch.Tensor | None = None, *,
        reset_after: bool) -> torch.Tensor:
    """A GRU layer in either of its two published forms; they differ only in the candidate.

    ``R_t = σ(X_t W_xr + H_{t-1} W_hr + b_r)``, ``Z_t = σ(X_t W_xz + H_{t-1} W_hz + b_z)``,
    ``H_t = Z_t ⊙ H_{t-1} + (1 - Z_t) ⊙ H~_t``, with the candidate

    * ``reset_after=False`` — the notes' GRU (Cho et al., 2014): the reset gate scales
      ``H_{t-1}`` *before* ``W_hh``, ``H~_t = tanh(X_t W_xh + (R_t ⊙ H_{t-1}) W_hh + b_h)``
      with ``b_h = b_xh + b_hh``;
    * ``reset_after=True`` — what ``torch.nn.GRU`` (and cuDNN) computes: the reset gate scales
      ``H_{t-1} W_hh + b_hh``, ``H~_t = tanh(X_t W_xh + b_xh + R_t ⊙ (H_{t-1} W_hh + b_hh))``.

    Parameters
    ----------
    x : torch.Tensor
        ``(T, n, d)``.
    params : GRUParams
        Weights ``(d, h)`` / ``(h, h)`` and biases ``(h,)``.
    h0 : torch.Tensor, optional
        ``(n, h)``; zeros by default.
    reset_after : bool
        Which form (keyword-only, no default: the choice is the point).

    Returns
    -------
    torch.Tensor
        ``(T, n, h)``: ``H_1 … H_T``.
    """
    h = _check_gru(x, params, h0)
    p, states = params, []
    for x_t in x:
        r = torch.sigmoid(x_t @ p.w_xr + h @ p.w_hr + p.b_r)
        z = torch.sigmoid(x_t @ p.w_xz + h @ p.w_hz + p.b_z)
        if reset_after:  # torch.nn.GRU
            candidate = torch.tanh(x_t @ p.w_xh + p.b_xh + r * (h @ p.w_hh + p.b_hh))
        else:            # the notes
            candidate = torch.tanh(x_t @ p.w_xh + (r * h) @ p.w_hh + p.b_xh + p.b_hh)
        h = z * h + (1 - z) * candidate
        states.append(h)
    return torch.stack(states)


def gru_notes(x: torch.Tensor, params: GRUParams, h0: torch.Tensor | None = None) -> torch.Tensor:
    """The GRU exactly as the notes write it: :func:`gru` with ``reset_after=False``; ``(T, n, h)``."""
    return gru(x, params, h0, reset_after=False)


def gru_torch(x: torch.Tensor, params: GRUParams, h0: torch.Tensor | None = None) -> torch.Tensor:
    """The GRU that ``torch.nn.GRU`` computes: :func:`gru` with ``reset_after=True``; ``(T, n, h)``."""
    return gru(x, params, h0, reset_after=True)


def lstm(x: torch.Tensor, params: LSTMParams, h0: torch.Tensor | None = None,
         c0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The notes' LSTM over a sequence.

    ``I_t, F_t, O_t = σ(X_t W_x* + H_{t-1} W_h* + b_*)``, ``C~_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)``,
    ``C_t = F_t ⊙ C_{t-1} + I_t ⊙ C~_t`` and ``H_t = O_t ⊙ tanh(C_t)``.

    Parameters
    ----------
    x : torch.Tensor
        ``(T, n, d)``.
    params : LSTMParams
        Weights ``(d, h)`` / ``(h, h)`` and biases ``(h,)`` of the four blocks.
    h0, c0 : torch.Tensor, optional
        ``(n, h)`` initial hidden and cell states; zeros by default.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``H_1 … H_T`` and ``C_1 … C_T``, each ``(T, n, h)``.
    """
    if not isinstance(params, LSTMParams):
        raise ValueError(f"params must be LSTMParams, got {type(params).__name__}")
    p = params
    h = _check_sequence(x, p.w_xc, h0, p.w_hc)
    c = _check_sequence(x, p.w_xc, c0, p.w_hc, "c0") if c0 is not None else torch.zeros_like(h)
    hs, cs = [], []
    for x_t in x:
        i = torch.sigmoid(x_t @ p.w_xi + h @ p.w_hi + p.b_i)
        f = torch.sigmoid(x_t @ p.w_xf + h @ p.w_hf + p.b_f)
        o = torch.sigmoid(x_t @ p.w_xo + h @ p.w_ho + p.b_o)
        c = f * c + i * torch.tanh(x_t @ p.w_xc + h @ p.w_hc + p.b_c)
        h = o * torch.tanh(c)
        hs.append(h)
        cs.append(c)
    return torch.stack(hs), torch.stack(cs)


def jacobian_product(x: torch.Tensor, params: RNNParams,
                     h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``‖∂H_t/∂H_0‖₂`` of the tanh RNN for every ``t``, and its product-of-norms bound.

    Per sample, ``∂H_t/∂H_{t-1} = J_t = diag(1 - H_t²) W_hhᵀ`` (column convention), so
    ``∂H_t/∂H_0 = J_t J_{t-1} ⋯ J_1`` and ``‖∂H_t/∂H_0‖₂ ≤ Π_{s≤t} ‖J_s‖₂ ≤ ‖W_hh‖₂ᵗ``.

    Parameters
    ----------
    x : torch.Tensor
        ``(T, n, d)`` inputs.
    params : RNNParams
        The tanh RNN's weights.
    h0 : torch.Tensor, optional
        ``(n, h)``; zeros by default.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``(T, n)`` spectral norms of ``∂H_t/∂H_0`` (``t = 1 … T``) and ``(T, n)`` bounds
        ``Π_{s≤t} ‖J_s‖₂``.
    """
    h0 = _check_sequence(x, params.w_xh, h0, params.w_hh)
    states = rnn(x, params, h0)
    product = torch.eye(h0.shape[1], dtype=x.dtype, device=x.device).expand(h0.shape[0], -1, -1)
    norms, bounds, bound = [], [], torch.ones(h0.shape[0], dtype=x.dtype, device=x.device)
    for h_t in states:
        jac = (1 - h_t**2)[:, :, None] * params.w_hh.T[None]
        product = jac @ product
        bound = bound * torch.linalg.matrix_norm(jac, ord=2)
        norms.append(torch.linalg.matrix_norm(product, ord=2))
        bounds.append(bound)
    return torch.stack(norms), torch.stack(bounds)


class CharModel(torch.nn.Module):
    """A character language model: embedding, one recurrent layer, a linear read-out.

    The read-out is the notes' ``O_t = H_t W_hq + b_q``: logits over the vocabulary for the
    next character. The recurrent layer is PyTorch's (fast); the from-scratch functions of
    this module are checked against it.

    Parameters
    ----------
    vocab_size : int
        Number of distinct characters ``V``.
    hidden : int
        State size ``h``.
    cell : {"rnn", "gru", "lstm"}
        The recurrent layer (keyword-only); ``"rnn"`` is the tanh RNN.
    embed : int
        Embedding size ``d`` (keyword-only).
    """

    def __init__(self, vocab_size: int, hidden: int, *, cell: str = "rnn", embed: int = 32) -> None:
        super().__init__()
        layers = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
        if cell not in layers:
            raise ValueError(f"cell must be one of {sorted(layers)}, got {cell!r}")
        self.embedding = torch.nn.Embedding(positive_int("vocab_size", vocab_size), positive_int("embed", embed))
        self.recurrent = layers[cell](embed, positive_int("hidden", hidden), batch_first=True)
        self.readout = torch.nn.Linear(hidden, vocab_size)

    def forward(self, codes: torch.Tensor, state: object = None) -> tuple[torch.Tensor, object]:
        """Logits ``(n, L, V)`` for codes ``(n, L)``, and the final state (to continue from)."""
        if codes.dim() != 2 or codes.is_floating_point():
            raise ValueError(f"codes must be an integer tensor (n, L), got {codes.dtype} {tuple(codes.shape)}")
        states, state = self.recurrent(self.embedding(codes), state)
        return self.readout(states), state


@torch.no_grad()
def set_memory_bias(module: torch.nn.Module, value: float) -> torch.nn.Module:
    """Bias a gated layer towards keeping its state: add ``value`` to the gate that copies it.

    For ``torch.nn.LSTM`` the forget gate (``F_t`` near 1 keeps ``C_{t-1}``; Gers et al., 2000,
    Jozefowicz et al., 2015); for ``torch.nn.GRU`` the update gate (``Z_t`` near 1 keeps
    ``H_{t-1}``). A plain RNN has no such gate, so it is refused.

    Parameters
    ----------
    module : torch.nn.LSTM or torch.nn.GRU
        A one-layer module; its ``bias_ih_l0`` is changed in place.
    value : float
        Added to the gate's bias (``σ(3) ≈ 0.95``).

    Returns
    -------
    torch.nn.Module
        ``module``.
    """
    if isinstance(module, torch.nn.LSTM):
        block = 1  # rows i, f, g, o
    elif isinstance(module, torch.nn.GRU):
        block = 1  # rows r, z, n
    else:
        raise ValueError(f"module must be a torch.nn.LSTM or torch.nn.GRU, got {type(module).__name__}")
    _one_layer(module, type(module))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"value must be a number, got {value!r}")
    h = module.hidden_size
    module.bias_ih_l0[block * h : (block + 1) * h] += value
    return module


@torch.no_grad()
def sample(model: CharModel, prompt: torch.Tensor, length: int, *, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``length`` characters after ``prompt`` from ``softmax(O_t / temperature)``.

    Parameters
    ----------
    model : CharModel
        A trained model.
    prompt : torch.Tensor
        ``(k,)`` int64 codes, ``k >= 1``, read before sampling starts.
    length : int
        Number of characters to draw.
    temperature : float
        ``T > 0`` (keyword-only): below 1 sharpens, above 1 flattens the distribution.
    generator : torch.Generator, optional
        CPU generator of the draws.

    Returns
    -------
    torch.Tensor
        ``(length,)`` int64 codes (the prompt not included).
    """
    from .losses import softmax

    if prompt.dim() != 1 or len(prompt) == 0 or prompt.is_floating_point():
        raise ValueError(f"prompt must be a non-empty 1-D integer tensor, got {tuple(prompt.shape)}")
    positive_int("length", length)
    positive_number("temperature", temperature)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits, state = model(prompt.to(device)[None])
    out = []
    for _ in range(length):
        probs = softmax(logits[0, -1].double().cpu(), temperature=temperature)
        code = torch.multinomial(probs, 1, generator=generator)
        out.append(code)
        logits, state = model(code.to(device)[None], state)
    model.train(was_training)
    return torch.cat(out)


def ngram_cross_entropy(train: torch.Tensor, val: torch.Tensor, vocab_size: int, *, order: int = 2,
                        smoothing: float = 1.0) -> float:
    """Validation cross-entropy (nats/char) of a unigram or bigram model counted on ``train``.

    ``order=1``: ``p(c) ∝ count(c) + smoothing``; ``order=2``:
    ``p(c | b) ∝ count(b c) + smoothing`` (add-``smoothing``, Laplace for 1).

    Parameters
    ----------
    train, val : torch.Tensor
        ``(N,)`` and ``(M,)`` integer codes in ``[0, vocab_size)``.
    vocab_size : int
        ``V``.
    order : {1, 2}
        Keyword-only.
    smoothing : float
        Pseudo-count > 0 added to every cell (keyword-only).

    Returns
    -------
    float
        Mean ``-log p`` of the validation characters (the first is skipped for ``order=2``).
    """
    positive_int("vocab_size", vocab_size)
    positive_number("smoothing", smoothing)
    for name, codes in (("train", train), ("val", val)):
        if not isinstance(codes, torch.Tensor) or codes.dim() != 1 or codes.is_floating_point() or len(codes) < 2:
            raise ValueError(f"{name} must be a 1-D integer tensor of length >= 2")
    if order == 1:
        counts = torch.bincount(train, minlength=vocab_size).double() + smoothing
        return -(counts / counts.sum()).log()[val].mean().item()
    if order == 2:
        counts = torch.bincount(train[:-1] * vocab_size + train[1:], minlength=vocab_size**2)
        counts = counts.double().reshape(vocab_size, vocab_size) + smoothing
        log_p = (counts / counts.sum(1, keepdim=True)).log()
        return -log_p[val[:-1], val[1:]].mean().item()
    raise ValueError(f"order must be 1 or 2, got {order!r}")
