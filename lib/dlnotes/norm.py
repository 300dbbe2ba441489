"""Batch and layer normalisation, dropout and Monte Carlo dropout from scratch (notes: BATCH
NORMALIZATION, LAYER NORMALIZATION, DROPOUT, MONTECARLO DROPOUT).

Normalisation
    :func:`batch_norm` (training and evaluation mode, PyTorch's running-average convention),
    :func:`batch_norm_backward` (the gradient derived by hand), :func:`layer_norm`, and the
    modules :class:`BatchNorm` and :class:`LayerNorm` that hold their parameters and buffers.
Dropout
    :func:`dropout_mask`, :func:`dropout` (the notes' ``H ⊙ M`` or inverted dropout),
    :func:`mc_dropout_predict` (Gal & Ghahramani's Monte Carlo dropout).

Shapes: a batch of MLP activations is ``(b, f)``; a batch of feature maps is ``(b, c, h, w)``
(PyTorch's channels-first layout; the notes index ``[H]_{i,j,k,z}`` channels-last).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ._checks import floating_tensor, positive_int, positive_number

__all__ = ["batch_norm", "batch_norm_backward", "layer_norm", "BatchNorm", "LayerNorm",
           "dropout_mask", "dropout", "mc_dropout_predict"]


def _probability(name: str, p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}")
    return float(p)


def _bn_input(h: object, gamma: torch.Tensor | None = None) -> torch.Tensor:
    floating_tensor("h", h)
    if h.dim() not in (2, 3, 4):
        raise ValueError(f"h must have shape (b, f), (b, c, l) or (b, c, h, w), got {tuple(h.shape)}")
    if gamma is not None and gamma.shape != (h.shape[1],):
        raise ValueError(f"gamma and beta must have shape ({h.shape[1]},), got {tuple(gamma.shape)}")
    return h


def batch_norm(
    h: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
    running_mean: torch.Tensor | None = None, running_var: torch.Tensor | None = None,
    *, training: bool = True, momentum: float = 0.1, eps: float = 1e-5,
) -> torch.Tensor:
    """Batch normalisation ``γ ⊙ (H − μ̃) / √(σ̃² + ε) + β``, one statistic per feature/channel.

    Training mode uses the batch statistics of the notes (mean and *biased* variance over
    every axis but the feature axis 1: ``b`` rows for ``(b, f)``, ``b·h·w`` positions for
    ``(b, c, h, w)``) and, if buffers are given, updates them in place with PyTorch's
    convention ``running ← (1 − momentum)·running + momentum·batch``, where the running
    variance averages the *unbiased* batch variance (divided by ``n − 1``). Evaluation mode
    normalises with the buffers instead.

    Parameters
    ----------
    h : torch.Tensor
        ``(b, f)`` activations or ``(b, c, h, w)`` feature maps (``(b, c, l)`` also works).
    gamma, beta : torch.Tensor
        ``(f,)`` (or ``(c,)``) learned scale and shift.
    running_mean, running_var : torch.Tensor, optional
        ``(f,)`` buffers; required when ``training=False``.
    training : bool
        Batch statistics (and buffer update) or running statistics (keyword-only).
    momentum : float
        Weight of the new batch in the running averages, in [0, 1) (PyTorch's default 0.1).
    eps : float
        ``ε > 0`` added to the variance.

    Returns
    -------
    torch.Tensor
        Same shape as ``h``.
    """
    _bn_input(h, gamma)
    eps, momentum = positive_number("eps", eps), _probability("momentum", momentum)
    axes = [0, *range(2, h.dim())]
    shape = [1, -1] + [1] * (h.dim() - 2)                  # broadcast (f,) against h
    if training:
        n = h.numel() // h.shape[1]
        if n < 2:
            raise ValueError("batch_norm in training mode needs more than one value per feature "
                             f"(h has shape {tuple(h.shape)}): the batch variance of one value is 0")
        mean, var = h.mean(dim=axes), h.var(dim=axes, unbiased=False)
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean)
                running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))
    elif running_mean is None or running_var is None:
        raise ValueError("running_mean and running_var are required when training=False")
    else:
        mean, var = running_mean, running_var
    h_hat = (h - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * h_hat + beta.reshape(shape)


def batch_norm_backward(
    grad_out: torch.Tensor, h: torch.Tensor, gamma: torch.Tensor, *, eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradients of training-mode :func:`batch_norm`, derived by hand.

    With ``ĥ = (h − μ̃)/√(σ̃² + ε)``, ``g = ∂L/∂y`` and sums over the ``n`` positions of
    each feature (batch, and height and width for feature maps),
    ``∂L/∂h = γ / (n √(σ̃² + ε)) · (n g − Σ g − ĥ Σ g ĥ)``, ``∂L/∂γ = Σ g ĥ``,
    ``∂L/∂β = Σ g`` — the last two terms of ``∂L/∂h`` are the paths through μ̃ and σ̃².

    Parameters
    ----------
    grad_out : torch.Tensor
        ``∂L/∂y``, the shape of ``h``.
    h : torch.Tensor
        The layer's input ``(b, f)`` or ``(b, c, h, w)``.
    gamma : torch.Tensor
        ``(f,)`` scale.
    eps : float
        The ``ε`` of the forward pass.

    Returns
    -------
    grad_h, grad_gamma, grad_beta : torch.Tensor
        Shapes of ``h``, ``(f,)`` and ``(f,)``.
    """
    _bn_input(h, gamma)
    if not isinstance(grad_out, torch.Tensor) or grad_out.shape != h.shape:
        raise ValueError(f"grad_out must be a tensor of the shape of h {tuple(h.shape)}")
    eps = positive_number("eps", eps)
    axes, shape = [0, *range(2, h.dim())], [1, -1] + [1] * (h.dim() - 2)
    n = h.numel() // h.shape[1]
    inv_std = torch.rsqrt(h.var(dim=axes, unbiased=False) + eps).reshape(shape)
    h_hat = (h - h.mean(dim=axes, keepdim=True)) * inv_std
    sum_g = grad_out.sum(dim=axes, keepdim=True)
    sum_g_hat = (grad_out * h_hat).sum(dim=axes, keepdim=True)
    grad_h = gamma.reshape(shape) * inv_std / n * (n * grad_out - sum_g - h_hat * sum_g_hat)
    return grad_h, sum_g_hat.reshape(-1), sum_g.reshape(-1)


def layer_norm(h: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, *, eps: float = 1e-5) -> torch.Tensor:
    """Layer normalisation: standardise each example over its own features, then scale and shift.

    For ``h (b, f)``: ``μ̃_i = (1/f) Σ_j [H]_{i,j}``, ``σ̃²_i = (1/f) Σ_j ([H]_{i,j} − μ̃_i)²``
    (the notes' LAYER NORMALIZATION with the sum over the feature index ``j``), and
    ``y = γ ⊙ (h − μ̃_i)/√(σ̃²_i + ε) + β``. In general the statistics run over the trailing
    ``gamma.dim()`` axes (``nn.LayerNorm``'s ``normalized_shape``), e.g. ``(c, h, w)`` for maps.
    No statistic crosses the batch axis, so each example's output depends on it alone.

    Parameters
    ----------
    h : torch.Tensor
        ``(b, f)``, or ``(..., *gamma.shape)`` in general.
    gamma, beta : torch.Tensor
        Learned scale and shift of the normalised shape, e.g. ``(f,)``.
    eps : float
        ``ε > 0`` added to the variance.

    Returns
    -------
    torch.Tensor
        Same shape as ``h``.
    """
    floating_tensor("h", h)
    if not isinstance(gamma, torch.Tensor) or gamma.dim() == 0 or gamma.shape != getattr(beta, "shape", None) \
            or h.shape[h.dim() - gamma.dim():] != gamma.shape:
        raise ValueError(f"gamma and beta must share the trailing shape of h {tuple(h.shape)}")
    eps = positive_number("eps", eps)
    axes = tuple(range(h.dim() - gamma.dim(), h.dim()))
    mean = h.mean(dim=axes, keepdim=True)
    var = h.var(dim=axes, unbiased=False, keepdim=True)
    return gamma * (h - mean) / torch.sqrt(var + eps) + beta


class BatchNorm(nn.Module):
    """Batch normalisation over feature axis 1, a from-scratch twin of ``nn.BatchNorm1d/2d``.

    Holds ``weight`` (γ, ones) and ``bias`` (β, zeros) and the buffers ``running_mean`` (zeros)
    and ``running_var`` (ones); ``forward`` calls :func:`batch_norm` in the module's mode.

    Parameters
    ----------
    num_features : int
        ``f`` (or ``c``), >= 1.
    eps, momentum : float
        As in :func:`batch_norm` (defaults ``1e-5``, ``0.1`` as in PyTorch).
    """

    def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        positive_int("num_features", num_features)
        self.eps, self.momentum = positive_number("eps", eps), _probability("momentum", momentum)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``h (b, f)`` or ``(b, c, h, w)`` → same shape."""
        return batch_norm(h, self.weight, self.bias, self.running_mean, self.running_var,
                          training=self.training, momentum=self.momentum, eps=self.eps)


class LayerNorm(nn.Module):
    """Layer normalisation over the last axis, a from-scratch twin of ``nn.LayerNorm(f)``.

    Parameters
    ----------
    num_features : int
        ``f``, >= 1; ``weight`` (γ) starts at ones, ``bias`` (β) at zeros.
    eps : float
        As in :func:`layer_norm`.
    """

    def __init__(self, num_features: int, *, eps: float = 1e-5) -> None:
        super().__init__()
        positive_int("num_features", num_features)
        self.eps = positive_number("eps", eps)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``h (..., f)`` → same shape."""
        return layer_norm(h, self.weight, self.bias, eps=self.eps)


def dropout_mask(shape: tuple[int, ...] | torch.Size, p: float, *, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The notes' ``M``: independent entries, 1 (keep) with probability ``1 − p``, else 0.

    Parameters
    ----------
    shape : tuple of int
        Shape of ``H``.
    p : float
        Drop probability, in [0, 1).
    generator : torch.Generator, optional
        Source of the draws (on its own device; the mask is then moved to ``device``); the
        global generator if ``None``.
    device, dtype
        Where and in which dtype the mask is made.

    Returns
    -------
    torch.Tensor
        ``shape``, entries in {0, 1}.
    """
    p = _probability("p", p)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    # draw where the generator lives (a CPU generator serves a CUDA tensor too), then move
    where = generator.device if generator is not None else device
    u = torch.rand(tuple(shape), generator=generator, device=where, dtype=dtype)
    return (u >= p).to(device=device if device is not None else u.device, dtype=dtype)


def dropout(h: torch.Tensor, p: float, *, training: bool = True, inverted: bool = True,
            mask: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dropout of the notes, ``H̃ = H ⊙ M`` with ``M ~ Bernoulli(1 − p)``, optionally inverted.

    ``inverted=True`` (PyTorch's ``F.dropout``) returns ``H ⊙ M / (1 − p)`` in training, so
    ``E[H̃] = H`` and evaluation returns ``H`` unchanged. ``inverted=False`` is the notes'
    formula as written: ``E[H̃] = (1 − p) H`` in training, ``H`` in evaluation.

    Parameters
    ----------
    h : torch.Tensor
        Activations ``H`` of any shape.
    p : float
        Drop probability, in [0, 1).
    training : bool
        Apply a mask (training) or return ``h`` (evaluation).
    inverted : bool
        Scale the kept units by ``1/(1 − p)``.
    mask : torch.Tensor, optional
        A given ``M`` (shape of ``h``, entries in {0, 1}); drawn with :func:`dropout_mask` if ``None``.
    generator : torch.Generator, optional
        Source of the mask when it is drawn.

    Returns
    -------
    torch.Tensor
        Shape of ``h``.
    """
    floating_tensor("h", h, min_dim=0)
    p = _probability("p", p)
    if not training:
        return h
    if mask is None:
        mask = dropout_mask(h.shape, p, generator=generator, device=h.device, dtype=h.dtype)
    elif mask.shape != h.shape or not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"mask must have the shape of h {tuple(h.shape)} and entries in {{0, 1}}")
    out = h * mask
    return out / (1 - p) if inverted else out


def mc_dropout_predict(model: nn.Module, x: torch.Tensor, n_samples: int, *,
                       transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Monte Carlo dropout: ``N`` forward passes with fresh dropout masks (Gal & Ghahramani, 2016).

    Every ``nn.Dropout`` of ``model`` is switched to training mode for the passes and every
    other layer (batch norm included) stays in evaluation mode; the modes are restored
    afterwards. The notes' estimate is the mean over the first axis of the result,
    ``ŷ ≈ (1/N) Σ_i f(x; M_i)``; its spread over that axis is the predictive uncertainty.

    Parameters
    ----------
    model : torch.nn.Module
        A network with ``nn.Dropout`` layers.
    x : torch.Tensor
        ``(b, ...)`` inputs on the model's device.
    n_samples : int
        ``N >= 1`` passes.
    transform : callable, optional
        Applied to each pass's output, e.g. ``lambda z: z.softmax(-1)`` to average
        probabilities (not logits) for a classifier.

    Returns
    -------
    torch.Tensor
        ``(N, b, ...)`` the ``N`` outputs ``f(x; M_i)``.
    """
    floating_tensor("x", x)
    positive_int("n_samples", n_samples)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.train()
    try:
        with torch.no_grad():
            outs = [model(x) for _ in range(n_samples)]
    finally:
        for m, mode in modes.items():
            m.training = mode
    out = torch.stack(outs)
    return transform(out) if transform is not None else out
