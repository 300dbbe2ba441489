"""Variational autoencoders from scratch (notes: VARIATIONAL AUTOENCODER, REPARAMETRIZATION
TRICK, HIERARCHICAL VARIATIONAL AUTOENCODER, MARKOV HVAE).

Three groups of tools (densities and KLs come from :mod:`dlnotes.densities`):

* the reparametrization trick: :func:`reparametrize`, :func:`log_q_change_of_variables`,
  and three single-sample estimators of ``∇_φ ELBO`` (:func:`naive_gradient`,
  :func:`score_function_gradient`, :func:`reparametrized_gradient`);
* the linear-Gaussian model ``p(z) = N(0, I)``, ``p(x|z) = N(Wz + b, σ²I)``, where
  everything is closed form: :func:`linear_gaussian_log_marginal`,
  :func:`linear_gaussian_posterior`, :func:`linear_gaussian_elbo`;
* models: :class:`GaussianEncoder`, :class:`BernoulliDecoder`, :class:`GaussianDecoder`,
  :class:`VAE`, :class:`MarkovHVAE`, and the bounds :func:`elbo`, :func:`iwae_bound`.

Shapes: ``n`` data points, ``d`` data dimensions, ``k`` latent dimensions (or importance
samples, where stated). Every tensor is created on the device of the inputs.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from ._checks import floating_tensor, positive_int, positive_tensor
from .densities import LOG_2PI, bernoulli_log_prob, gaussian_log_prob, kl_diag_gaussians, kl_full_gaussians
from .nn import mlp

__all__ = [
    "reparametrize", "log_q_change_of_variables",
    "naive_gradient", "score_function_gradient", "reparametrized_gradient",
    "linear_gaussian_log_marginal", "linear_gaussian_posterior", "linear_gaussian_elbo",
    "elbo", "iwae_bound",
    "GaussianEncoder", "BernoulliDecoder", "GaussianDecoder", "VAE", "MarkovHVAE",
]

# ----------------------------------------------------------------------------- validation
def _same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"shapes must match: {shapes}")


# --------------------------------------------------------------- reparametrization trick
def reparametrize(mean: torch.Tensor, std: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The factorized Gaussian encoder's ``z = g(ε, φ, x) = μ + σ ⊙ ε``.

    Parameters
    ----------
    mean, std : torch.Tensor
        ``(..., k)`` encoder outputs ``μ`` and ``σ > 0``.
    eps : torch.Tensor
        ``(..., k)`` noise ``ε ~ N(0, I)`` (broadcastable, e.g. ``(s, n, k)`` for ``s``
        samples per data point).

    Returns
    -------
    torch.Tensor
        ``z``, the broadcast shape; differentiable in ``mean`` and ``std``.
    """
    floating_tensor("mean", mean)
    positive_tensor("std", std)
    floating_tensor("eps", eps)
    return mean + std * eps


def log_q_change_of_variables(eps: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``log q_φ(z|x) = log p(ε) - log d_φ(x, ε)`` for ``z = μ + σ ⊙ ε``.

    The Jacobian ``∂z/∂ε = diag(σ)``, so ``log d = log |det ∂z/∂ε| = Σ_i log σ_i`` and
    ``log q = Σ_i [log N(ε_i; 0, 1) - log σ_i]`` (notes, REPARAMETRIZATION TRICK).

    Parameters
    ----------
    eps : torch.Tensor
        ``(..., k)`` the noise that produced ``z``.
    std : torch.Tensor
        ``(..., k)`` the encoder's ``σ > 0`` (broadcastable).

    Returns
    -------
    torch.Tensor
        ``(...)`` log densities of ``z``.
    """
    floating_tensor("eps", eps)
    positive_tensor("std", std)
    return (-0.5 * LOG_2PI - 0.5 * eps**2).sum(-1) - std.log().expand_as(eps).sum(-1)


def _per_sample_gradients(
    log_joint: Callable[[torch.Tensor], torch.Tensor], mean: torch.Tensor, log_std: torch.Tensor,
    n_samples: int, generator: torch.Generator | None, surrogate: str,
) -> torch.Tensor:
    floating_tensor("mean", mean)
    floating_tensor("log_std", log_std)
    _same_shape(mean=mean, log_std=log_std)
    if mean.dim() != 1:
        raise ValueError(f"mean must have shape (k,), got {tuple(mean.shape)}")
    positive_int("n_samples", n_samples)
    k = mean.shape[0]
    # one copy of φ per sample: the gradient of the summed objective w.r.t. copy s is the
    # single-sample estimate of sample s (the samples do not interact)
    m = mean.detach().expand(n_samples, k).clone().requires_grad_()
    s = log_std.detach().expand(n_samples, k).clone().requires_grad_()
    eps = torch.randn(n_samples, k, generator=generator, dtype=mean.dtype).to(mean.device)
    z = m + s.exp() * eps
    if surrogate != "reparametrized":
        z = z.detach()                          # z held fixed: no path from φ through z
    integrand = log_joint(z) - gaussian_log_prob(z, m, s.exp())   # log p(x, z) - log q_φ(z|x)
    if surrogate == "score":                    # ∇E_q[f_φ] = E_q[f_φ ∇log q_φ + ∇f_φ]
        integrand = integrand + integrand.detach() * gaussian_log_prob(z, m, s.exp())
    grad_m, grad_s = torch.autograd.grad(integrand.sum(), (m, s))
    return torch.cat([grad_m, grad_s], dim=1)


def naive_gradient(
    log_joint: Callable[[torch.Tensor], torch.Tensor], mean: torch.Tensor, log_std: torch.Tensor,
    n_samples: int, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Single-sample estimates of ``∇_φ ELBO`` by differentiating the integrand at a fixed
    sample — the *wrong* move ``∇_φ E_q[f] → E_q[∇_φ f]`` the notes warn about.

    With ``q_φ = N(mean, diag exp(log_std)²)``, ``φ = (mean, log_std)`` and the sample
    ``z ~ q_φ`` held constant, the estimate is ``∇_φ[log p(x, z) - log q_φ(z)] =
    -∇_φ log q_φ(z)``, whose expectation is 0 whatever the true gradient is: biased.

    Parameters
    ----------
    log_joint : callable
        ``log_joint(z (s, k)) -> (s,)``, the model's ``log p_θ(x, z)`` row by row.
    mean, log_std : torch.Tensor
        ``(k,)`` variational parameters ``φ``.
    n_samples : int
        Number ``s`` of independent single-sample estimates, >= 1.
    generator : torch.Generator, optional
        CPU generator of the noise.

    Returns
    -------
    torch.Tensor
        ``(s, 2k)``: row ``j`` is ``[∂/∂mean, ∂/∂log_std]`` from sample ``j``.
    """
    return _per_sample_gradients(log_joint, mean, log_std, n_samples, generator, "naive")


def score_function_gradient(
    log_joint: Callable[[torch.Tensor], torch.Tensor], mean: torch.Tensor, log_std: torch.Tensor,
    n_samples: int, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Single-sample score-function (REINFORCE) estimates of ``∇_φ ELBO``: unbiased, noisy.

    ``∇_φ E_q[f_φ(z)] = E_q[f_φ(z) ∇_φ log q_φ(z) + ∇_φ f_φ(z)]`` with
    ``f_φ = log p(x, z) - log q_φ(z)``; needs ``log q`` to be differentiable in ``φ`` only,
    not ``f`` in ``z``. Arguments and shapes as :func:`naive_gradient`.

    Returns
    -------
    torch.Tensor
        ``(s, 2k)`` estimates.
    """
    return _per_sample_gradients(log_joint, mean, log_std, n_samples, generator, "score")


def reparametrized_gradient(
    log_joint: Callable[[torch.Tensor], torch.Tensor], mean: torch.Tensor, log_std: torch.Tensor,
    n_samples: int, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Single-sample reparametrized estimates of ``∇_φ ELBO``: unbiased, low variance.

    ``z = μ + σ ⊙ ε`` with ``ε ~ N(0, I)``, so ``∇_φ E_q[f] = E_{p(ε)}[∇_φ f(g(ε, φ))]``
    (notes, REPARAMETRIZATION TRICK). Arguments and shapes as :func:`naive_gradient`.

    Returns
    -------
    torch.Tensor
        ``(s, 2k)`` estimates.
    """
    return _per_sample_gradients(log_joint, mean, log_std, n_samples, generator, "reparametrized")


# --------------------------------------------------------------- linear-Gaussian model
def _linear_gaussian_args(x, weight, bias, noise_std):
    floating_tensor("x", x, min_dim=2)
    floating_tensor("weight", weight, min_dim=2)
    floating_tensor("bias", bias)
    if weight.dim() != 2 or weight.shape[0] != x.shape[-1] or bias.shape != (x.shape[-1],):
        raise ValueError(f"weight must be (d, k) and bias (d,) with d = x.shape[-1] = {x.shape[-1]}, "
                         f"got {tuple(weight.shape)} and {tuple(bias.shape)}")
    if isinstance(noise_std, torch.Tensor):
        ok = noise_std.dim() == 0 and noise_std.is_floating_point() and bool(noise_std.detach() > 0)
    else:
        ok = isinstance(noise_std, (int, float)) and not isinstance(noise_std, bool) and noise_std > 0
    if not ok:
        raise ValueError(f"noise_std must be > 0, got {noise_std!r}")


def linear_gaussian_log_marginal(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, noise_std: float | torch.Tensor
) -> torch.Tensor:
    """Exact ``log p(x) = log N(x; b, WWᵀ + σ²I)`` for ``p(z) = N(0, I)``, ``p(x|z) = N(Wz + b, σ²I)``.

    Parameters
    ----------
    x : torch.Tensor
        ``(n, d)`` data.
    weight : torch.Tensor
        ``(d, k)`` the matrix ``W``.
    bias : torch.Tensor
        ``(d,)`` the offset ``b``.
    noise_std : float or 0-d tensor
        ``σ > 0``.

    Returns
    -------
    torch.Tensor
        ``(n,)`` log marginal likelihoods.
    """
    _linear_gaussian_args(x, weight, bias, noise_std)
    d = x.shape[-1]
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    chol = torch.linalg.cholesky(weight @ weight.T + noise_std**2 * eye)
    white = torch.linalg.solve_triangular(chol, (x - bias).T, upper=False)      # (d, n)
    return -0.5 * (d * LOG_2PI + (white**2).sum(0)) - chol.diagonal().log().sum()


def linear_gaussian_posterior(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, noise_std: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact posterior ``p(z|x) = N(M⁻¹Wᵀ(x - b), σ²M⁻¹)`` with ``M = WᵀW + σ²I``.

    Arguments as :func:`linear_gaussian_log_marginal`.

    Returns
    -------
    mean : torch.Tensor
        ``(n, k)`` posterior means.
    cov : torch.Tensor
        ``(k, k)`` posterior covariance (the same for every ``x``).
    """
    _linear_gaussian_args(x, weight, bias, noise_std)
    k = weight.shape[1]
    m = weight.T @ weight + noise_std**2 * torch.eye(k, dtype=x.dtype, device=x.device)
    m_inv = torch.linalg.inv(m)
    return (x - bias) @ weight @ m_inv.T, noise_std**2 * m_inv


def linear_gaussian_elbo(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, noise_std: float | torch.Tensor,
    q_mean: torch.Tensor, q_cov: torch.Tensor,
) -> torch.Tensor:
    """Closed-form ELBO of a Gaussian ``q(z|x) = N(m, S)`` in the linear-Gaussian model.

    ``E_q[log p(x|z)] - KL(q ‖ N(0, I))`` with
    ``E_q[log p(x|z)] = -d/2 log 2πσ² - (‖x - Wm - b‖² + tr(WSWᵀ)) / 2σ²``.

    Parameters
    ----------
    x, weight, bias, noise_std
        As :func:`linear_gaussian_log_marginal`.
    q_mean : torch.Tensor
        ``(n, k)`` means ``m``.
    q_cov : torch.Tensor
        ``(k, k)`` or ``(n, k, k)`` covariances ``S`` (positive definite).

    Returns
    -------
    torch.Tensor
        ``(n,)`` ELBOs; differentiable in every argument.
    """
    _linear_gaussian_args(x, weight, bias, noise_std)
    floating_tensor("q_mean", q_mean, min_dim=2)
    k = weight.shape[1]
    if q_mean.shape != (x.shape[0], k):
        raise ValueError(f"q_mean must have shape {(x.shape[0], k)}, got {tuple(q_mean.shape)}")
    floating_tensor("q_cov", q_cov, min_dim=2)
    if q_cov.shape[-2:] != (k, k):
        raise ValueError(f"q_cov must have shape (k, k) or (n, k, k) with k = {k}, got {tuple(q_cov.shape)}")
    d = x.shape[-1]
    sigma = torch.as_tensor(noise_std, dtype=x.dtype, device=x.device)
    q_cov = q_cov.expand(x.shape[0], k, k)
    residual = x - q_mean @ weight.T - bias
    trace = (weight @ q_cov @ weight.T).diagonal(dim1=-2, dim2=-1).sum(-1)
    expected_log_lik = -0.5 * d * (LOG_2PI + 2 * sigma.log()) - ((residual**2).sum(-1) + trace) / (2 * sigma**2)
    zeros = torch.zeros_like(q_mean)
    prior_cov = torch.eye(k, dtype=x.dtype, device=x.device).expand_as(q_cov)
    return expected_log_lik - kl_full_gaussians(q_mean, q_cov, zeros, prior_cov)


# ------------------------------------------------------------------------------ bounds
def elbo(log_weights: torch.Tensor) -> torch.Tensor:
    """Monte Carlo ELBO ``(1/K) Σ_j log w_j`` from log importance weights.

    Parameters
    ----------
    log_weights : torch.Tensor
        ``(K, n)``: ``log w_j = log p(x, z_j) - log q(z_j|x)`` for ``z_j ~ q(z|x)``.

    Returns
    -------
    torch.Tensor
        ``(n,)`` estimates of the ELBO of each data point.
    """
    floating_tensor("log_weights", log_weights, min_dim=2)
    return log_weights.mean(0)


def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """Importance-weighted bound ``log (1/K) Σ_j w_j`` (Burda et al., 2016), via log-sum-exp.

    ``E[IWAE_K] ≤ E[IWAE_{K+1}] ≤ log p(x)``, and ``K = 1`` is the ELBO estimate.

    Parameters
    ----------
    log_weights : torch.Tensor
        ``(K, n)`` log importance weights, ``K >= 1``.

    Returns
    -------
    torch.Tensor
        ``(n,)`` bound estimates.
    """
    floating_tensor("log_weights", log_weights, min_dim=2)
    if log_weights.shape[0] < 1:
        raise ValueError("log_weights must hold K >= 1 samples along dim 0")
    return torch.logsumexp(log_weights, 0) - math.log(log_weights.shape[0])


# ------------------------------------------------------------------------------ models
class GaussianEncoder(nn.Module):
    """Factorized Gaussian ``q_φ(z|x) = N(μ, diag σ²)`` with ``(μ, log σ) = f_φ(x)``, an MLP.

    Also serves as a conditional Gaussian layer anywhere (e.g. ``p_θ(z_1|z_2)`` of an HVAE).

    Parameters
    ----------
    in_dim, latent_dim : int
        Sizes of the input ``x`` and of ``z``.
    hidden : sequence of int
        Hidden layer widths (tanh); ``()`` makes ``μ`` and ``log σ`` affine in ``x``.
    """

    def __init__(self, in_dim: int, latent_dim: int, hidden: Sequence[int] = (128,)) -> None:
        super().__init__()
        self.net = mlp(in_dim, hidden, 2 * latent_dim, activation="tanh")
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (..., in_dim)`` → ``(μ, σ)``, each ``(..., latent_dim)``; ``log σ`` is clamped to
        [-10, 5] so that an untrained network cannot produce σ = 0 or an overflowing σ."""
        mean, log_std = self.net(x).chunk(2, dim=-1)
        return mean, log_std.clamp(-10, 5).exp()

    def log_prob(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log q(z|x)``: ``z (..., latent_dim)``, ``x (..., in_dim)`` → ``(...)``."""
        mean, std = self(x)
        return gaussian_log_prob(z, mean, std)


class BernoulliDecoder(nn.Module):
    """``p_θ(x|z) = Π_i Bernoulli(x_i; sigmoid(l_i))`` with logits ``l = f_θ(z)``, an MLP.

    Parameters
    ----------
    latent_dim, data_dim : int
        Sizes of ``z`` and ``x``.
    hidden : sequence of int
        Hidden layer widths (tanh).
    """

    def __init__(self, latent_dim: int, data_dim: int, hidden: Sequence[int] = (128,)) -> None:
        super().__init__()
        self.net = mlp(latent_dim, hidden, data_dim, activation="tanh")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z (..., latent_dim)`` → logits ``(..., data_dim)``."""
        return self.net(z)

    def log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)``: ``x (n, d)`` binary, ``z (..., n, latent_dim)`` → ``(..., n)``."""
        return bernoulli_log_prob(x, self(z))


class GaussianDecoder(nn.Module):
    """``p_θ(x|z) = N(x; f_θ(z), σ²I)`` with one learned noise level ``σ`` for all pixels.

    With ``hidden=()`` the mean is affine, ``Wz + b``: the linear-Gaussian (PPCA) decoder.

    Parameters
    ----------
    latent_dim, data_dim : int
        Sizes of ``z`` and ``x``.
    hidden : sequence of int
        Hidden layer widths (tanh).
    """

    def __init__(self, latent_dim: int, data_dim: int, hidden: Sequence[int] = ()) -> None:
        super().__init__()
        self.net = mlp(latent_dim, hidden, data_dim, activation="tanh")
        self.log_noise_std = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z (..., latent_dim)`` → means ``(..., data_dim)``."""
        return self.net(z)

    def log_prob(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)``: ``x (n, d)``, ``z (..., n, latent_dim)`` → ``(..., n)``."""
        mean = self(z)
        return gaussian_log_prob(x, mean, self.log_noise_std.exp().expand_as(mean))


class VAE(nn.Module):
    """A one-layer VAE: prior ``N(0, I)``, a :class:`GaussianEncoder` and a decoder with
    ``log_prob(x, z)`` (:class:`BernoulliDecoder` or :class:`GaussianDecoder`).

    Parameters
    ----------
    encoder : GaussianEncoder
        ``q_φ(z|x)``.
    decoder : nn.Module
        ``p_θ(x|z)``, with a ``log_prob(x, z)`` method.
    """

    def __init__(self, encoder: GaussianEncoder, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def log_weights(self, x: torch.Tensor, k: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """``log p(x, z_j) - log q(z_j|x)`` for ``k`` reparametrized samples ``z_j ~ q(z|x)``.

        ``x (n, d)`` → ``(k, n)``; pass it to :func:`elbo` or :func:`iwae_bound`.
        """
        floating_tensor("x", x, min_dim=2)
        positive_int("k", k)
        mean, std = self.encoder(x)
        eps = torch.randn((k, *mean.shape), generator=generator, dtype=mean.dtype).to(mean.device)
        z = reparametrize(mean, std, eps)
        log_prior = gaussian_log_prob(z, torch.zeros_like(z), torch.ones_like(z))
        return self.decoder.log_prob(x, z) + log_prior - log_q_change_of_variables(eps, std)

    def negative_elbo(self, x: torch.Tensor) -> torch.Tensor:
        """Training loss: mean over the batch of ``-(E_q[log p(x|z)] - KL(q(z|x) ‖ p(z)))``,
        the expectation by one reparametrized sample, the KL in closed form. ``x (n, d)`` → scalar."""
        floating_tensor("x", x, min_dim=2)
        mean, std = self.encoder(x)
        z = reparametrize(mean, std, torch.randn_like(mean))
        return -(self.decoder.log_prob(x, z) - kl_diag_gaussians(mean, std)).mean()


class MarkovHVAE(nn.Module):
    """A Markov hierarchical VAE with two stochastic layers (notes, MARKOV HVAE, ``T = 2``).

    Generative model ``p(x, z_1, z_2) = p(z_2) p_θ(z_1|z_2) p_θ(x|z_1)`` with
    ``p(z_2) = N(0, I)``; inference model ``q_φ(z_1, z_2|x) = q_φ(z_1|x) q_φ(z_2|z_1)``.

    Parameters
    ----------
    data_dim, z1_dim, z2_dim : int
        Sizes of ``x``, ``z_1`` and ``z_2``.
    hidden : sequence of int
        Hidden widths of all four conditional networks.
    """

    def __init__(self, data_dim: int, z1_dim: int, z2_dim: int, hidden: Sequence[int] = (128,)) -> None:
        super().__init__()
        self.q_z1 = GaussianEncoder(data_dim, z1_dim, hidden)      # q_φ(z1|x)
        self.q_z2 = GaussianEncoder(z1_dim, z2_dim, hidden)        # q_φ(z2|z1)
        self.p_z1 = GaussianEncoder(z2_dim, z1_dim, hidden)        # p_θ(z1|z2)
        self.p_x = BernoulliDecoder(z1_dim, data_dim, hidden)      # p_θ(x|z1)

    def elbo_terms(self, x: torch.Tensor, k: int = 1, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The ELBO term by term, each ``(k, n)`` for ``k`` samples of ``(z_1, z_2) ~ q``.

        Returns a dict with ``log_p_x`` = log p(x|z_1), ``log_p_z1`` = log p(z_1|z_2),
        ``log_p_z2`` = log p(z_2), ``log_q_z1`` = log q(z_1|x), ``log_q_z2`` = log q(z_2|z_1)
        and ``kl_z2`` = KL(q(z_2|z_1) ‖ p(z_2)) in closed form given ``z_1``.
        The ELBO estimate is ``log_p_x + log_p_z1 + log_p_z2 - log_q_z1 - log_q_z2``.
        """
        floating_tensor("x", x, min_dim=2)
        positive_int("k", k)
        m1, s1 = self.q_z1(x)
        e1 = torch.randn((k, *m1.shape), generator=generator, dtype=m1.dtype).to(m1.device)
        z1 = reparametrize(m1, s1, e1)
        m2, s2 = self.q_z2(z1)
        e2 = torch.randn(m2.shape, generator=generator, dtype=m2.dtype).to(m2.device)
        z2 = reparametrize(m2, s2, e2)
        pm1, ps1 = self.p_z1(z2)
        return {
            "log_p_x": self.p_x.log_prob(x, z1),
            "log_p_z1": gaussian_log_prob(z1, pm1, ps1),
            "log_p_z2": gaussian_log_prob(z2, torch.zeros_like(z2), torch.ones_like(z2)),
            "log_q_z1": log_q_change_of_variables(e1, s1),
            "log_q_z2": log_q_change_of_variables(e2, s2),
            "kl_z2": kl_diag_gaussians(m2, s2),
        }

    def log_weights(self, x: torch.Tensor, k: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """``log p(x, z_1, z_2) - log q(z_1, z_2|x)`` for ``k`` samples: ``x (n, d)`` → ``(k, n)``."""
        t = self.elbo_terms(x, k, generator)
        return t["log_p_x"] + t["log_p_z1"] + t["log_p_z2"] - t["log_q_z1"] - t["log_q_z2"]

    def negative_elbo(self, x: torch.Tensor) -> torch.Tensor:
        """Training loss, one sample, the top-layer KL in closed form: ``x (n, d)`` → scalar."""
        t = self.elbo_terms(x)
        return -(t["log_p_x"] + t["log_p_z1"] - t["log_q_z1"] - t["kl_z2"]).mean()
