"""Hard attention and gradients through a discrete choice (notes: HARD ATTENTION, a section the
notes leave empty and the book writes).

Sampling a choice
    :func:`gumbel_noise`, :func:`gumbel_max_sample` (the Gumbel-max trick: an exact sample of
    ``Categorical(softmax(logits))``) and :func:`gumbel_softmax` (its relaxation
    ``softmax((logits + g) / τ)``, with the straight-through one-hot of ``hard=True``).
The score-function estimator
    :func:`reinforce_surrogate` (a loss whose value is the cost and whose gradient is the
    REINFORCE estimate ``(cost − b) ∇ log p``) and :func:`leave_one_out_baseline`.
The Bernoulli toy (Tucker et al., 2017)
    ``b ~ Bernoulli(σ(θ))``, cost ``(b − t)²``: :func:`toy_expected_cost`,
    :func:`toy_exact_gradient`, per-draw estimates :func:`toy_gradient_estimates` and, for the
    straight-through and relaxed estimators, their expectation by quadrature
    :func:`toy_relaxed_expectation`.
A task that needs selection
    :class:`GlimpseClassifier` (attend to one of ``k`` slots chosen from a key, classify it) and
    :func:`selection_loss` (soft, straight-through Gumbel or REINFORCE training).

Nothing here is shared with another chapter; should one need the Gumbel tools, they move to a
shared home (DESIGN.md §2).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import floating_tensor, positive_int, positive_number
from .nn import mlp

__all__ = ["gumbel_noise", "gumbel_max_sample", "gumbel_softmax", "reinforce_surrogate",
           "leave_one_out_baseline", "TOY_ESTIMATORS", "toy_expected_cost", "toy_exact_gradient",
           "toy_gradient_estimates", "toy_relaxed_expectation", "SELECTION_MODES",
           "GlimpseClassifier", "selection_loss"]


def _generator(generator: object) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def gumbel_noise(shape: tuple[int, ...] | torch.Size, *, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Standard Gumbel noise ``g = −log(−log u)``, ``u ~ Uniform(0, 1)``.

    Drawn on the CPU from ``generator`` and moved to ``device``, so a CUDA run sees the same
    stream as a CPU run. ``u`` is kept inside ``[tiny, 1)``, so ``g`` is always finite.

    Parameters
    ----------
    shape : tuple of int
        Shape of the noise.
    generator : torch.Generator, optional
        CPU generator.
    dtype : torch.dtype
        A floating dtype (keyword-only).
    device : torch.device or str, optional
        Where the result lives.

    Returns
    -------
    torch.Tensor
        ``shape`` tensor of independent Gumbel(0, 1) draws.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    try:
        shape = torch.Size(shape)
    except TypeError:
        raise ValueError(f"shape must be a tuple of non-negative integers, got {shape!r}") from None
    u = torch.rand(shape, generator=_generator(generator), dtype=dtype).clamp_(min=torch.finfo(dtype).tiny)
    return (-(-u.log()).log()).to(device)


def _logits(logits: object) -> torch.Tensor:
    floating_tensor("logits", logits)
    if logits.shape[-1] < 1:
        raise ValueError("logits must have at least one category in the last dimension")
    return logits


def gumbel_max_sample(logits: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """The Gumbel-max trick: ``argmax_k (logits_k + g_k)`` is a sample of ``softmax(logits)``.

    Parameters
    ----------
    logits : torch.Tensor
        ``(..., k)`` unnormalised log-probabilities.
    generator : torch.Generator, optional
        CPU generator of the noise.

    Returns
    -------
    torch.Tensor
        ``(...)`` int64 category indices in ``[0, k)``.
    """
    logits = _logits(logits)
    g = gumbel_noise(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    return (logits.detach() + g).argmax(-1)


def gumbel_softmax(logits: torch.Tensor, *, tau: float = 1.0, hard: bool = False,
                   generator: torch.Generator | None = None, gumbel: torch.Tensor | None = None) -> torch.Tensor:
    """Gumbel-softmax (concrete) sample ``y = softmax((logits + g) / τ)`` (Jang et al., 2017;
    Maddison et al., 2017), or its straight-through one-hot.

    With ``hard=True`` the forward value is ``one_hot(argmax(logits + g))`` — an exact sample of
    ``Categorical(softmax(logits))`` — and the backward pass is that of the relaxed ``y``
    (``one_hot − y.detach() + y``): the straight-through estimator, biased.

    Parameters
    ----------
    logits : torch.Tensor
        ``(..., k)`` unnormalised log-probabilities.
    tau : float
        Temperature ``τ > 0`` (keyword-only): ``τ → 0`` tends to the one-hot sample, ``τ → ∞``
        to the uniform vector.
    hard : bool
        Straight-through one-hot forward (keyword-only).
    generator : torch.Generator, optional
        CPU generator of the noise (ignored when ``gumbel`` is given).
    gumbel : torch.Tensor, optional
        ``(..., k)`` Gumbel noise to use instead of drawing it (for tests and for estimators
        that share the noise).

    Returns
    -------
    torch.Tensor
        ``(..., k)``, each row on the simplex (one-hot with ``hard=True``).
    """
    logits = _logits(logits)
    tau = positive_number("tau", tau)
    if not isinstance(hard, bool):
        raise ValueError(f"hard must be a bool, got {hard!r}")
    if gumbel is None:
        gumbel = gumbel_noise(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    elif not isinstance(gumbel, torch.Tensor) or gumbel.shape != logits.shape:
        raise ValueError(f"gumbel must be a tensor of the logits' shape {tuple(logits.shape)}, "
                         f"got {tuple(getattr(gumbel, 'shape', ()))}")
    soft = torch.softmax((logits + gumbel) / tau, dim=-1)
    if not hard:
        return soft
    one_hot = F.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return one_hot - soft.detach() + soft


def reinforce_surrogate(cost: torch.Tensor, log_prob: torch.Tensor, *,
                        baseline: torch.Tensor | float | None = None) -> torch.Tensor:
    """Per-sample surrogate whose value is ``cost`` and whose gradient is REINFORCE's.

    ``s = cost + (cost − b)·(log p − log p)`` with the second factor's first ``log p`` live and
    everything else detached in the product: ``s = cost`` in value, and ``∇s = ∇cost +
    (cost − b) ∇ log p(a)`` — the score-function estimator (Williams, 1992) plus the pathwise
    gradient of a cost that depends on parameters directly. A baseline ``b`` that does not
    depend on the sampled ``a`` leaves it unbiased, since ``E[∇ log p(a)] = 0``.

    Parameters
    ----------
    cost : torch.Tensor
        ``(n,)`` cost of each sampled choice (may carry gradient to other parameters).
    log_prob : torch.Tensor
        ``(n,)`` log-probability of each sampled choice under the policy.
    baseline : torch.Tensor or float, optional
        ``(n,)`` or scalar baseline ``b`` (detached); default 0.

    Returns
    -------
    torch.Tensor
        ``(n,)`` surrogate; average it and call ``backward``.
    """
    floating_tensor("cost", cost)
    floating_tensor("log_prob", log_prob)
    if cost.shape != log_prob.shape or cost.dim() != 1:
        raise ValueError(f"cost and log_prob must both have shape (n,), got {tuple(cost.shape)} and "
                         f"{tuple(log_prob.shape)}")
    if baseline is None:
        baseline = 0.0
    elif isinstance(baseline, torch.Tensor):
        if baseline.dim() > 1 or (baseline.dim() == 1 and baseline.shape != cost.shape):
            raise ValueError(f"baseline must be a scalar or have the cost's shape {tuple(cost.shape)}, "
                             f"got {tuple(baseline.shape)}")
        baseline = baseline.detach()
    elif isinstance(baseline, bool) or not isinstance(baseline, (int, float)):
        raise ValueError(f"baseline must be a tensor, a number or None, got {type(baseline).__name__}")
    advantage = cost.detach() - baseline
    return cost + advantage * (log_prob - log_prob.detach())


def leave_one_out_baseline(cost: torch.Tensor) -> torch.Tensor:
    """``b_i = (Σ_j cost_j − cost_i) / (n − 1)``: the mean cost of the *other* samples.

    Independent of sample ``i``'s choice, so REINFORCE stays unbiased with it.

    Parameters
    ----------
    cost : torch.Tensor
        ``(n,)`` costs, ``n >= 2``.

    Returns
    -------
    torch.Tensor
        ``(n,)`` detached baselines.
    """
    floating_tensor("cost", cost)
    if cost.dim() != 1 or cost.shape[0] < 2:
        raise ValueError(f"cost must have shape (n,) with n >= 2, got {tuple(cost.shape)}")
    c = cost.detach()
    return (c.sum() - c) / (c.shape[0] - 1)


# ------------------------------------------------------------------------- the Bernoulli toy
#: Per-draw estimators of ``d/dθ E[(b − t)²]`` that :func:`toy_gradient_estimates` knows.
TOY_ESTIMATORS = ("reinforce", "reinforce_baseline", "st_gumbel", "relaxed")


def _toy_args(theta: object, target: object) -> tuple[float, float]:
    for name, value in (("theta", theta), ("target", target)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(theta), float(target)


def toy_expected_cost(theta: float, target: float) -> float:
    """``L(θ) = E[(b − t)²] = σ(θ)(1 − t)² + (1 − σ(θ)) t²`` for ``b ~ Bernoulli(σ(θ))``."""
    theta, target = _toy_args(theta, target)
    p = 1 / (1 + math.exp(-theta))
    return p * (1 - target) ** 2 + (1 - p) * target ** 2


def toy_exact_gradient(theta: float, target: float) -> float:
    """``dL/dθ = σ(θ)(1 − σ(θ)) (1 − 2t)``, the closed form the estimators are measured against."""
    theta, target = _toy_args(theta, target)
    p = 1 / (1 + math.exp(-theta))
    return p * (1 - p) * (1 - 2 * target)


def toy_gradient_estimates(theta: float, target: float, n: int, *, estimator: str, tau: float = 1.0,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` independent single-draw estimates of ``dL/dθ`` on the Bernoulli toy, vectorised.

    The choice is a two-category :func:`gumbel_softmax` on logits ``(θ, 0)``: category 0 is
    ``b = 1``, taken with probability ``σ(θ)``. Each draw has its own copy of ``θ``, so one
    backward pass gives every per-draw gradient (float64).

    * ``"reinforce"``: ``(b − t)² ∇ log p(b)``, with ``∇ log p(b) = b − σ(θ)``;
    * ``"reinforce_baseline"``: the same with the :func:`leave_one_out_baseline` subtracted;
    * ``"st_gumbel"``: straight-through, ``2(b − t) ∂y/∂θ`` with ``b`` the hard sample and
      ``y`` the relaxed one (``hard=True``);
    * ``"relaxed"``: the gradient of ``(y − t)²`` at the relaxed ``y`` itself.

    Parameters
    ----------
    theta, target : float
        The logit ``θ`` and the target ``t``.
    n : int
        Number of draws (>= 2).
    estimator : str
        One of :data:`TOY_ESTIMATORS` (keyword-only).
    tau : float
        Gumbel-softmax temperature (the last two estimators).
    generator : torch.Generator, optional
        CPU generator.

    Returns
    -------
    torch.Tensor
        ``(n,)`` float64 estimates.
    """
    theta, target = _toy_args(theta, target)
    positive_int("n", n, minimum=2)
    if estimator not in TOY_ESTIMATORS:
        raise ValueError(f"estimator must be one of {TOY_ESTIMATORS}, got {estimator!r}")
    tau = positive_number("tau", tau)
    th = torch.full((n,), theta, dtype=torch.float64, requires_grad=True)
    logits = torch.stack([th, torch.zeros_like(th)], dim=1)
    if estimator.startswith("reinforce"):
        b = (gumbel_max_sample(logits, generator=generator) == 0).double()
        log_prob = torch.log_softmax(logits, -1).gather(1, (1 - b.long())[:, None])[:, 0]
        cost = (b - target) ** 2
        baseline = leave_one_out_baseline(cost) if estimator == "reinforce_baseline" else None
        objective = reinforce_surrogate(cost, log_prob, baseline=baseline)
    else:
        y = gumbel_softmax(logits, tau=tau, hard=estimator == "st_gumbel", generator=generator)[:, 0]
        objective = (y - target) ** 2
    (grad,) = torch.autograd.grad(objective.sum(), th)
    return grad


def toy_relaxed_expectation(theta: float, target: float, *, tau: float, hard: bool) -> float:
    """``E[estimate]`` of the straight-through (``hard=True``) or relaxed estimator, by quadrature.

    With ``ℓ = g_0 − g_1 ~ Logistic(0, 1)`` the relaxed sample is ``y = σ((θ + ℓ)/τ)`` and the
    hard one ``b = 1[θ + ℓ > 0]``; the estimate is ``2(c − t) σ'((θ + ℓ)/τ)/τ`` with ``c = b``
    (straight-through) or ``c = y`` (relaxed), integrated against the logistic density with
    ``scipy.integrate.quad`` — a computation independent of any sampling.

    Returns
    -------
    float
        The estimator's mean; minus :func:`toy_exact_gradient` it is the bias.
    """
    from scipy import integrate

    theta, target = _toy_args(theta, target)
    tau = positive_number("tau", tau)

    def sig(x: float) -> float:
        return 0.5 * (1 + math.tanh(x / 2))

    def integrand(l: float) -> float:
        y = sig((theta + l) / tau)
        c = float(theta + l > 0) if hard else y
        return 2 * (c - target) * y * (1 - y) / tau * sig(l) * (1 - sig(l))

    # split at the jump of b (ℓ = −θ); the density decays like e^{−|ℓ|}
    left, _ = integrate.quad(integrand, -60.0, -theta, limit=200, epsabs=1e-13, epsrel=1e-11)
    right, _ = integrate.quad(integrand, -theta, 60.0, limit=200, epsabs=1e-13, epsrel=1e-11)
    return left + right


# ------------------------------------------------------------------ a task that needs selection
#: How :class:`GlimpseClassifier` turns its scores into the weights of the read.
SELECTION_MODES = ("soft", "st_gumbel", "sample", "greedy")


class GlimpseClassifier(nn.Module):
    """Attend to one of ``k`` slots chosen by a key, then classify what was read.

    Scores ``e_j = q(key)ᵀ (P_j + W x_j) / √d_a`` (a query from the key, attention keys from
    each slot's position and content), weights ``w`` from the scores (the mode, see
    :meth:`forward`), the read ``r = Σ_j w_j x_j`` and logits ``mlp(r)``.

    Parameters
    ----------
    slots : int
        Number ``k`` of slots (and of key values).
    in_features : int
        Width ``d`` of a slot (64 for a flat 8×8 digit).
    n_classes : int
        Number of classes.
    hidden : int
        Hidden width of the classifier (keyword-only).
    d_attention : int
        Width ``d_a`` of queries and keys (keyword-only).
    """

    def __init__(self, slots: int, in_features: int, n_classes: int, *, hidden: int = 64,
                 d_attention: int = 16) -> None:
        super().__init__()
        self.slots = positive_int("slots", slots)
        self.d_attention = positive_int("d_attention", d_attention)
        self.query = nn.Embedding(slots, d_attention)
        self.position = nn.Parameter(torch.randn(slots, d_attention) / math.sqrt(d_attention))
        self.content = nn.Linear(positive_int("in_features", in_features), d_attention, bias=False)
        self.classifier = mlp(in_features, [positive_int("hidden", hidden)], positive_int("n_classes", n_classes))

    def scores(self, x: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """Attention scores ``(n, k)`` for slots ``x (n, k, d)`` and keys ``key (n,)``."""
        floating_tensor("x", x, min_dim=3)
        if x.dim() != 3 or x.shape[1] != self.slots:
            raise ValueError(f"x must have shape (n, {self.slots}, d), got {tuple(x.shape)}")
        if (not isinstance(key, torch.Tensor) or key.is_floating_point() or key.shape != x.shape[:1]
                or bool(((key < 0) | (key >= self.slots)).any())):
            raise ValueError(f"key must be an integer tensor (n,) with values in [0, {self.slots})")
        k = self.position + self.content(x)                               # (n, k, d_a)
        return (k @ self.query(key)[:, :, None])[:, :, 0] / math.sqrt(self.d_attention)

    def forward(self, x: torch.Tensor, key: torch.Tensor, *, mode: str = "soft", tau: float = 1.0,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Classify the slot(s) read.

        Parameters
        ----------
        x : torch.Tensor
            ``(n, k, d)`` slots.
        key : torch.Tensor
            ``(n,)`` int64 key.
        mode : str
            ``"soft"`` (``w = softmax(e)``, the weighted average), ``"st_gumbel"``
            (straight-through Gumbel one-hot at temperature ``tau``), ``"sample"`` (a one-hot
            sample of ``softmax(e)``, no gradient through it) or ``"greedy"`` (one-hot argmax).
        tau : float
            Temperature of ``"st_gumbel"``.
        generator : torch.Generator, optional
            CPU generator of the sampling modes.

        Returns
        -------
        logits : torch.Tensor
            ``(n, n_classes)``.
        weights : torch.Tensor
            ``(n, k)`` weights of the read (one-hot except in ``"soft"``).
        log_prob : torch.Tensor
            ``(n,)`` ``log softmax(e)`` of the slot read (the argmax for ``"soft"``).
        """
        if mode not in SELECTION_MODES:
            raise ValueError(f"mode must be one of {SELECTION_MODES}, got {mode!r}")
        e = self.scores(x, key)
        log_p = torch.log_softmax(e, -1)
        if mode == "soft":
            weights = log_p.exp()
        elif mode == "st_gumbel":
            weights = gumbel_softmax(e, tau=tau, hard=True, generator=generator)
        else:
            choice = gumbel_max_sample(e, generator=generator) if mode == "sample" else e.argmax(-1)
            weights = F.one_hot(choice, self.slots).to(x.dtype)
        read = (weights[:, :, None] * x).sum(1)                             # Σ_j w_j x_j
        log_prob = log_p.gather(1, weights.detach().argmax(-1, keepdim=True))[:, 0]
        return self.classifier(read), weights, log_prob


def selection_loss(model: GlimpseClassifier, x: torch.Tensor, key: torch.Tensor, y: torch.Tensor, *,
                   method: str, tau: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training loss of a :class:`GlimpseClassifier`; its value is always the mean cross-entropy.

    ``"soft"``: backpropagate through the weighted average. ``"st_gumbel"``: through the
    straight-through one-hot. ``"reinforce"``: sample a slot, let the cross-entropy of the read
    train the classifier directly and the policy through :func:`reinforce_surrogate` with the
    :func:`leave_one_out_baseline` of the batch.

    Parameters
    ----------
    model : GlimpseClassifier
        The model.
    x, key, y : torch.Tensor
        ``(n, k, d)`` slots, ``(n,)`` keys, ``(n,)`` labels.
    method : str
        ``"soft"``, ``"st_gumbel"`` or ``"reinforce"`` (keyword-only).
    tau : float
        Temperature of ``"st_gumbel"``.
    generator : torch.Generator, optional
        CPU generator of the samples.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    if method not in ("soft", "st_gumbel", "reinforce"):
        raise ValueError(f"method must be 'soft', 'st_gumbel' or 'reinforce', got {method!r}")
    mode = "sample" if method == "reinforce" else method
    logits, _, log_prob = model(x, key, mode=mode, tau=tau, generator=generator)
    cost = F.cross_entropy(logits, y, reduction="none")
    if method == "reinforce":
        cost = reinforce_surrogate(cost, log_prob, baseline=leave_one_out_baseline(cost))
    return cost.mean()
