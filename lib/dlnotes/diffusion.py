"""Variational diffusion models (notes: VARIATIONAL DIFFUSION MODELS, MARKOV HVAE).

Conventions: time steps run ``t = 1..T``; a :class:`Schedule` stores ``α_t`` for those
steps at index ``t - 1`` and uses ``ᾱ_0 = 1``. The forward process is
``q(x_t | x_{t-1}) = N(√α_t x_{t-1}, (1 - α_t) I)``, so ``q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I)``
with ``ᾱ_t = Π_{s<=t} α_s``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ._checks import floating_tensor, positive_int, positive_number
from .densities import kl_diag_gaussians
from .nn import mlp

__all__ = [
    "Schedule", "linear_schedule", "cosine_schedule", "q_sample", "q_posterior",
    "forward_chain", "LinearGaussianReverse", "EpsilonMLP", "ddpm_loss",
    "ancestral_sample",
]


@dataclass(frozen=True)
class Schedule:
    """A noise schedule: ``alpha`` holds ``α_1..α_T`` (float64, each in (0, 1))."""

    alpha: torch.Tensor

    def __post_init__(self) -> None:
        a = self.alpha
        if not isinstance(a, torch.Tensor) or a.dim() != 1 or len(a) < 1:
            raise ValueError("alpha must be a 1-D tensor with T >= 1 entries")
        if not ((a > 0) & (a < 1)).all():
            raise ValueError("every α_t must lie in (0, 1), i.e. every β_t = 1 - α_t in (0, 1)")
        object.__setattr__(self, "alpha", a.double())

    @property
    def T(self) -> int:
        """Number of diffusion steps."""
        return len(self.alpha)

    @cached_property
    def beta(self) -> torch.Tensor:
        """``β_t = 1 - α_t``, shape ``(T,)``."""
        return 1 - self.alpha

    @cached_property
    def alpha_bar(self) -> torch.Tensor:
        """``ᾱ_t = Π_{s<=t} α_s`` for ``t = 1..T``, shape ``(T,)``, decreasing in (0, 1)."""
        return torch.cumprod(self.alpha, 0)

    def alpha_bar_at(self, t: torch.Tensor) -> torch.Tensor:
        """``ᾱ_t`` for integer steps ``t`` in ``0..T`` (``ᾱ_0 = 1``), same shape as ``t``."""
        padded = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar])
        return padded.to(t.device)[t]

    @cached_property
    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio ``SNR(t) = ᾱ_t / (1 - ᾱ_t)``, shape ``(T,)``."""
        ab = self.alpha_bar
        return ab / (1 - ab)


def linear_schedule(T: int, beta_start: float | None = None, beta_end: float | None = None) -> Schedule:
    """β_t linear from ``beta_start`` to ``beta_end`` (Ho et al., 2020).

    The defaults, ``0.1 / T`` and ``20 / T``, are DDPM's 1e-4 and 0.02 at ``T = 1000`` and keep
    ``ᾱ_T ≈ e^{-10}`` for any ``T`` (Nichol & Dhariwal, 2021).
    """
    positive_int("T", T)
    beta_start = positive_number("beta_start", 0.1 / T if beta_start is None else beta_start)
    beta_end = positive_number("beta_end", min(20 / T, 0.999) if beta_end is None else beta_end)
    if not (beta_start < 1 and beta_end < 1):
        raise ValueError(f"beta_start and beta_end must lie in (0, 1), got {beta_start}, {beta_end}")
    beta = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    return Schedule(1 - beta)


def cosine_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """``ᾱ_t = f(t) / f(0)`` with ``f(t) = cos²((t/T + s) / (1 + s) · π/2)`` (Nichol & Dhariwal,
    2021); each ``β_t`` is clipped at ``max_beta`` so that ``α_T > 0``."""
    positive_int("T", T)
    positive_number("s", s)
    if not 0 < max_beta < 1:
        raise ValueError(f"max_beta must lie in (0, 1), got {max_beta!r}")
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    beta = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)
    return Schedule(1 - beta)


def _steps(t: torch.Tensor, schedule: Schedule, low: int = 1) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.dtype not in (torch.int64, torch.int32) or t.dim() != 1:
        raise ValueError("t must be a 1-D integer tensor of time steps")
    if len(t) and (t.min() < low or t.max() > schedule.T):
        raise ValueError(f"time steps must lie in [{low}, {schedule.T}]")
    return t.long()


def _expand(coef: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return coef.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def q_sample(x0: torch.Tensor, t: torch.Tensor, schedule: Schedule, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Draw ``x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I)``.

    Parameters
    ----------
    x0 : torch.Tensor
        ``(batch, ...)`` clean data.
    t : torch.Tensor
        ``(batch,)`` integer steps in ``1..T``.
    noise : torch.Tensor, optional
        ``ε`` of ``x0``'s shape; drawn from N(0, I) if omitted.

    Returns
    -------
    torch.Tensor
        ``x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε``, shape of ``x0``.
    """
    floating_tensor("x0", x0)
    t = _steps(t, schedule)
    if len(t) != len(x0):
        raise ValueError(f"t must hold one step per example: {len(t)} steps for {len(x0)} examples")
    if noise is None:
        noise = torch.randn_like(x0)
    elif noise.shape != x0.shape:
        raise ValueError(f"noise must have x0's shape {tuple(x0.shape)}, got {tuple(noise.shape)}")
    ab = _expand(schedule.alpha_bar_at(t), x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def q_posterior(x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, schedule: Schedule) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of ``q(x_{t-1} | x_t, x_0)`` for steps ``t`` in ``2..T`` (also 1: then
    the mean is ``x_0`` and the variance 0).

    ``μ̃_t = √ᾱ_{t-1} β_t / (1 - ᾱ_t) · x_0 + √α_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · x_t`` and
    ``β̃_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) · β_t``.

    Returns
    -------
    mean : torch.Tensor
        Shape of ``x0``.
    var : torch.Tensor
        ``(batch, 1, ...)``, broadcastable to ``x0``.
    """
    floating_tensor("x0", x0)
    floating_tensor("xt", xt)
    if x0.shape != xt.shape:
        raise ValueError(f"x0 and xt must have the same shape, got {tuple(x0.shape)} and {tuple(xt.shape)}")
    t = _steps(t, schedule)
    ab_t, ab_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t - 1)
    beta = schedule.beta.to(t.device)[t - 1]
    coef_x0 = _expand(ab_prev.sqrt() * beta / (1 - ab_t), x0)
    coef_xt = _expand((1 - beta).sqrt() * (1 - ab_prev) / (1 - ab_t), x0)
    var = _expand((1 - ab_prev) / (1 - ab_t) * beta, x0)
    return coef_x0 * x0 + coef_xt * xt, var


def forward_chain(x0: torch.Tensor, schedule: Schedule, generator: torch.Generator | None = None) -> torch.Tensor:
    """Simulate the Markov chain ``x_0 → x_1 → … → x_T`` step by step.

    Parameters
    ----------
    x0 : torch.Tensor
        ``(batch,)`` scalar data points.

    Returns
    -------
    torch.Tensor
        ``(batch, T + 1)`` float64: column ``t`` holds ``x_t``.
    """
    floating_tensor("x0", x0)
    if x0.dim() != 1:
        raise ValueError(f"x0 must have shape (batch,), got {tuple(x0.shape)}")
    noise = torch.randn(len(x0), schedule.T, dtype=torch.float64, generator=generator).to(x0.device)
    alpha = schedule.alpha.to(x0.device)
    chain = [x0.double()]
    for t in range(schedule.T):
        chain.append(alpha[t].sqrt() * chain[-1] + (1 - alpha[t]).sqrt() * noise[:, t])
    return torch.stack(chain, dim=1)


def _kl_to_standard_normal(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Element-wise ``KL(N(mean, std²) ‖ N(0, 1))``: the prior-matching term of scalar data."""
    return kl_diag_gaussians(mean, std.expand_as(mean), event_dims=0)


class LinearGaussianReverse:
    """A reverse model that is linear-Gaussian in 1-D, so that everything is exact.

    The model predicts ``x̂_0(x_t) = c_t x_t + d_t`` and uses it like DDPM:
    ``p_θ(x_{t-1} | x_t) = N(μ̃_t(x̂_0, x_t), β̃_t)`` for ``t >= 2``, the decoder
    ``p_θ(x_0 | x_1) = N(x̂_0(x_1), decoder_var)`` and the prior ``p(x_T) = N(0, 1)``.
    Its marginal ``p_θ(x_0)`` is Gaussian and computed exactly by :meth:`log_prob`.

    Parameters
    ----------
    schedule : Schedule
        With ``T >= 2``.
    c, d : torch.Tensor
        ``(T,)`` coefficients of ``x̂_0`` at steps ``1..T``.
    decoder_var : float
        Variance of ``p_θ(x_0 | x_1)``, > 0.
    """

    def __init__(self, schedule: Schedule, c: torch.Tensor, d: torch.Tensor, decoder_var: float) -> None:
        if schedule.T < 2:
            raise ValueError("the reverse model needs T >= 2")
        if c.shape != (schedule.T,) or d.shape != (schedule.T,):
            raise ValueError(f"c and d must have shape ({schedule.T},)")
        self.schedule, self.c, self.d = schedule, c.double(), d.double()
        self.decoder_var = positive_number("decoder_var", decoder_var)

    @classmethod
    def optimal_for_gaussian_data(cls, schedule: Schedule, mean: float, var: float,
                                  decoder_var: float) -> "LinearGaussianReverse":
        """``x̂_0 = E[x_0 | x_t]`` for data ``x_0 ~ N(mean, var)``: the best predictor in
        squared error, ``c_t = √ᾱ_t var / (ᾱ_t var + 1 - ᾱ_t)``, ``d_t = mean (1 - c_t √ᾱ_t)``."""
        positive_number("var", var)
        ab = schedule.alpha_bar
        c = ab.sqrt() * var / (ab * var + 1 - ab)
        return cls(schedule, c, mean * (1 - c * ab.sqrt()), decoder_var)

    def x0_hat(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x̂_0(x_t) = c_t x_t + d_t`` for ``xt (batch,)`` and steps ``t (batch,)``."""
        return self.c[t - 1] * xt + self.d[t - 1]

    def _step(self, t: int) -> tuple[float, float, float]:
        """``x_{t-1} = A x_t + B + √V z`` for the reverse step at ``t`` (the decoder at t = 1)."""
        c, d = self.c[t - 1].item(), self.d[t - 1].item()
        if t == 1:
            return c, d, self.decoder_var
        s = self.schedule
        ab_t, ab_prev, beta = s.alpha_bar[t - 1].item(), s.alpha_bar[t - 2].item(), s.beta[t - 1].item()
        coef_x0 = math.sqrt(ab_prev) * beta / (1 - ab_t)
        coef_xt = math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab_t)
        return coef_x0 * c + coef_xt, coef_x0 * d, (1 - ab_prev) / (1 - ab_t) * beta

    def marginal(self) -> tuple[float, float]:
        """Mean and variance of ``p_θ(x_0)``: ``N(0, 1)`` pushed through the ``T`` linear-Gaussian
        steps (each maps ``N(m, v)`` to ``N(A m + B, A² v + V)``)."""
        mean, var = 0.0, 1.0
        for t in range(self.schedule.T, 0, -1):
            a, b, v = self._step(t)
            mean, var = a * mean + b, a * a * var + v
        return mean, var

    def log_prob(self, x0: torch.Tensor) -> torch.Tensor:
        """Exact ``log p_θ(x_0)``, ``(batch,)`` for ``x0 (batch,)``."""
        mean, var = self.marginal()
        return -0.5 * (math.log(2 * math.pi * var) + (x0.double() - mean) ** 2 / var)

    def elbo(self, x0: torch.Tensor) -> torch.Tensor:
        """Exact ELBO (the expectation of every form below), ``(batch,)`` for ``x0 (batch,)``."""
        s, x0 = self.schedule, x0.double()
        ab = s.alpha_bar
        # E_q(x_t|x_0) (x_0 - c_t x_t - d_t)² for every t: bias² + c_t² (1 - ᾱ_t)
        sq = (x0[:, None] * (1 - self.c * ab.sqrt()) - self.d) ** 2 + self.c**2 * (1 - ab)
        recon = -0.5 * (math.log(2 * math.pi * self.decoder_var) + sq[:, 0] / self.decoder_var)
        prior = _kl_to_standard_normal(ab[-1].sqrt() * x0, (1 - ab[-1]).sqrt())
        weight = 0.5 * (s.snr[:-1] - s.snr[1:])  # ½ (SNR(t-1) - SNR(t)) for t = 2..T
        return recon - prior - (weight * sq[:, 1:]).sum(-1)

    def terms_denoising(self, chain: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample terms of the denoising-matching form on a chain ``(batch, T + 1)``:
        reconstruction, prior matching ``KL(q(x_T|x_0) ‖ p(x_T))`` and
        ``KL(q(x_{t-1}|x_t, x_0) ‖ p_θ(x_{t-1}|x_t))`` for ``t = 2..T`` (``(batch, T - 1)``)."""
        s, x0 = self.schedule, chain[:, 0]
        ab_T = s.alpha_bar[-1]
        steps = torch.arange(2, s.T + 1)
        xt = chain[:, 2:]
        mean_q, var_q = q_posterior(x0[:, None].expand_as(xt).reshape(-1), xt.reshape(-1),
                                    steps.repeat(len(x0)), s)
        x0_hat = self.x0_hat(xt, steps)
        mean_p, _ = q_posterior(x0_hat.reshape(-1), xt.reshape(-1), steps.repeat(len(x0)), s)
        denoise = kl_diag_gaussians(mean_q, var_q.sqrt(), mean_p, var_q.sqrt(), event_dims=0).reshape(xt.shape)
        return {
            "reconstruction": self._log_decoder(x0, chain[:, 1]),
            "prior": _kl_to_standard_normal(ab_T.sqrt() * x0, (1 - ab_T).sqrt()),
            "denoising": denoise,
        }

    def _consistency_parts(self, chain: torch.Tensor):
        """Forward ``q(x_t|x_{t-1})`` and reverse ``p_θ(x_t|x_{t+1})`` means and variances for
        ``t = 1..T-1`` along a chain ``(batch, T + 1)``."""
        s = self.schedule
        alpha = s.alpha[:-1]
        coeffs = torch.tensor([self._step(t + 1) for t in range(1, s.T)], dtype=torch.float64)
        forward = (alpha.sqrt() * chain[:, :-2], 1 - alpha)
        reverse = (coeffs[:, 0] * chain[:, 2:] + coeffs[:, 1], coeffs[:, 2])
        return forward, reverse

    def terms_notes(self, chain: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample terms of the notes' form, *as written*: reconstruction, prior matching
        ``KL(q(x_T|x_{T-1}) ‖ p(x_T))`` and ``KL(q(x_t|x_{t-1}) ‖ p_θ(x_t|x_{t+1}))`` for
        ``t = 1..T-1`` (``(batch, T - 1)``) at the chain's ``x_{t-1}, x_{t+1}``. The KL draws
        ``x_t`` from ``q(x_t|x_{t-1})``, ignoring ``x_{t+1}``: this is not the ELBO's term."""
        s = self.schedule
        (mean_q, var_q), (mean_p, var_p) = self._consistency_parts(chain)
        prior = _kl_to_standard_normal(s.alpha[-1].sqrt() * chain[:, -2], (1 - s.alpha[-1]).sqrt())
        return {"reconstruction": self._log_decoder(chain[:, 0], chain[:, 1]), "prior": prior,
                "consistency": kl_diag_gaussians(mean_q, var_q.sqrt(), mean_p, var_p.sqrt(), event_dims=0)}

    def terms_consistency(self, chain: torch.Tensor) -> dict[str, torch.Tensor]:
        """The notes' grouping done right: the consistency term of step ``t`` is
        ``E_{q(x_t|x_{t-1}, x_{t+1})}[log q(x_t|x_{t-1}) - log p_θ(x_t|x_{t+1})]`` (the chain's
        ``x_t`` given *both* neighbours), in closed form; reconstruction and prior as in
        :meth:`terms_notes`. Same expectation as :meth:`terms_denoising`."""
        terms = self.terms_notes(chain)
        s = self.schedule
        (mean_q, var_q), (mean_p, var_p) = self._consistency_parts(chain)
        a_t, a_next = s.alpha[:-1], s.alpha[1:]
        # q(x_t | x_{t-1}, x_{t+1}) ∝ q(x_t | x_{t-1}) q(x_{t+1} | x_t): a Gaussian in x_t
        var_c = 1 / (1 / var_q + a_next / (1 - a_next))
        mean_c = var_c * (mean_q / var_q + a_next.sqrt() * chain[:, 2:] / (1 - a_next))

        def expected_log_normal(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
            return -0.5 * ((2 * math.pi * var).log() + ((mean_c - mean) ** 2 + var_c) / var)

        terms["consistency"] = expected_log_normal(mean_q, var_q) - expected_log_normal(mean_p, var_p)
        return terms

    def terms_snr(self, chain: torch.Tensor) -> dict[str, torch.Tensor]:
        """The denoising terms written with noise prediction: ``½ (SNR(t-1)/SNR(t) - 1) (ε - ε̂)²``
        for ``t = 2..T`` (``(batch, T - 1)``), with ``ε = (x_t - √ᾱ_t x_0) / √(1 - ᾱ_t)``."""
        s, x0 = self.schedule, chain[:, :1]
        steps = torch.arange(2, s.T + 1)
        ab = s.alpha_bar[1:]
        xt = chain[:, 2:]
        eps = (xt - ab.sqrt() * x0) / (1 - ab).sqrt()
        eps_hat = (xt - ab.sqrt() * self.x0_hat(xt, steps)) / (1 - ab).sqrt()
        return {"denoising": 0.5 * (s.snr[:-1] / s.snr[1:] - 1) * (eps - eps_hat) ** 2}

    def _log_decoder(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        mean = self.x0_hat(x1, torch.ones(len(x1), dtype=torch.long))
        return -0.5 * (math.log(2 * math.pi * self.decoder_var) + (x0 - mean) ** 2 / self.decoder_var)


class EpsilonMLP(torch.nn.Module):
    """ε-prediction network ``ε̂_θ(x_t, t)``: an :func:`~dlnotes.nn.mlp` (SiLU) on
    ``[x_t ‖ embedding(t)]``.

    The step is embedded with sinusoids of geometrically spaced frequencies (Vaswani et al.,
    2017; Ho et al., 2020).

    Parameters
    ----------
    dim : int
        Data dimension ``d``.
    hidden : sequence of int
        Hidden widths, as in :func:`~dlnotes.nn.mlp`.
    T : int
        Number of diffusion steps (the embedding divides ``t`` by ``T``).
    embed : int
        Size of the time embedding (even).
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (128, 128, 128), *, T: int = 100,
                 embed: int = 32) -> None:
        super().__init__()
        positive_int("dim", dim)
        positive_int("T", T)
        if isinstance(embed, bool) or not isinstance(embed, int) or embed < 2 or embed % 2:
            raise ValueError(f"embed must be an even integer >= 2, got {embed!r}")
        self.T = T
        self.register_buffer("frequencies", torch.exp(torch.linspace(0, math.log(1000), embed // 2)))
        self.net = mlp(dim + embed, hidden, dim, activation="silu")

    def forward(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``xt (batch, d)``, ``t (batch,)`` integer steps → ``ε̂ (batch, d)``."""
        angles = (t.to(xt.dtype)[:, None] / self.T) * self.frequencies
        return self.net(torch.cat([xt, angles.sin(), angles.cos()], dim=1))


def ddpm_loss(model: torch.nn.Module, x0: torch.Tensor, schedule: Schedule,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM's simple loss ``E_{t, ε} ‖ε - ε̂_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)‖²`` (mean over the
    batch and dimensions), with ``t ~ U{1..T}``. ``x0``: ``(batch, d)``."""
    floating_tensor("x0", x0, min_dim=2)
    t = torch.randint(1, schedule.T + 1, (len(x0),), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    xt = q_sample(x0, t, schedule, noise)
    return ((model(xt, t) - noise) ** 2).mean()


@torch.no_grad()
def ancestral_sample(model: torch.nn.Module, schedule: Schedule, n: int, dim: int,
                     generator: torch.Generator | None = None, keep: int = 0,
                     clip: float | None = None, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Ancestral sampling from ``x_T ~ N(0, I)`` down to ``x_0`` (Ho et al., 2020).

    Each step predicts ``x̂_0 = (x_t - √(1-ᾱ_t) ε̂) / √ᾱ_t`` and draws
    ``x_{t-1} ~ N(μ̃_t(x̂_0, x_t), β̃_t I)`` (:func:`q_posterior`); the last step returns
    ``x̂_0``. Without clipping this is DDPM's update
    ``x_{t-1} = (x_t - β_t/√(1-ᾱ_t) ε̂)/√α_t + √β̃_t z``.

    Parameters
    ----------
    n, dim : int
        Number of samples and their dimension.
    keep : int
        Also return this many intermediate states, evenly spaced in t (0: none).
    clip : float, optional
        Clamp ``x̂_0`` to ``[-clip, clip]`` at every step (for data known to lie there,
        e.g. pixels scaled to [-1, 1]); ``None`` leaves it free.

    Returns
    -------
    samples : torch.Tensor
        ``(n, dim)`` on the model's device.
    trajectory : torch.Tensor
        ``(keep, n, dim)`` states from ``x_T`` towards ``x_1`` (empty if ``keep = 0``).
    """
    positive_int("n", n)
    positive_int("dim", dim)
    if clip is not None:
        positive_number("clip", clip)
    device = next(model.parameters()).device
    x = torch.randn(n, dim, generator=generator).to(device)
    snapshots = set(torch.linspace(schedule.T, 1, keep).round().long().tolist()) if keep else set()
    trajectory = []
    for t in tqdm(range(schedule.T, 0, -1), desc="sampling", disable=not progress):
        if t in snapshots:
            trajectory.append(x.cpu())
        steps = torch.full((n,), t, dtype=torch.long, device=device)
        ab = schedule.alpha_bar[t - 1].item()
        x0_hat = (x - math.sqrt(1 - ab) * model(x, steps)) / math.sqrt(ab)
        if clip is not None:
            x0_hat = x0_hat.clamp(-clip, clip)
        if t == 1:
            x = x0_hat
            break
        mean, var = q_posterior(x0_hat, x, steps, schedule)
        x = mean + var.sqrt() * torch.randn(x.shape, generator=generator).to(device)
    stacked = torch.stack(trajectory) if trajectory else torch.empty(0, n, dim)
    return x, stacked
