"""Autoregressive forecasting of a time series (the chapter on AUTOREGRESSIVE MODEL FOR TIME SERIES).

The notes' factorisation ``p(x_1, …, x_M) = Π_j p(x_j | A(x_j))`` with, for a series, the
past as the parents, ``A(x_j) = x_{<j}`` (or its last ``L`` values). Here: least-squares AR(p)
(:func:`ar_fit`, :func:`ar_predict`), one neural one-step model with a Gaussian head over three
causal backbones (:class:`Forecaster`: GRU, dilated causal convolutions, causal transformer),
free running (:func:`rollout`, :func:`model_step`), the two baselines (:func:`persistence`,
:func:`seasonal_naive`), parallel scheduled sampling (:func:`scheduled_inputs`) and forecast
metrics (:func:`rmse_by_horizon`, :func:`interval_coverage`). Windows come from
:func:`dlnotes.data.shifted_windows` and :func:`dlnotes.data.forecast_windows`.

Shapes: a batch of windows is ``(batch, T)``; forecasts are ``(batch, H)`` with column
``h - 1`` the forecast ``h`` steps ahead.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import nn

from ._checks import floating_tensor, positive_int
from .attention import causal_mask, sinusoidal_embedding
from .conv import CausalConvStack
from .densities import gaussian_log_prob

__all__ = ["ARFit", "ar_fit", "ar_predict", "rollout", "persistence", "seasonal_naive", "Forecaster",
           "gaussian_nll", "model_step", "scheduled_inputs", "rmse_by_horizon", "interval_coverage"]


def _finite_windows(name: str, x: object, min_dim: int = 1) -> torch.Tensor:
    floating_tensor(name, x, min_dim=min_dim)
    if torch.isnan(x).any():
        raise ValueError(f"{name} contains {int(torch.isnan(x).sum())} NaN value(s); fill them first")
    return x


class ARFit(NamedTuple):
    """A fitted AR(p): ``x_t = c + Σ_{i=1}^{p} φ_i x_{t-i} + ε_t``."""

    intercept: torch.Tensor  #: ``()`` the constant ``c``
    coef: torch.Tensor       #: ``(p,)`` ``φ_1 … φ_p``, lag 1 first (statsmodels' order)


def ar_fit(series: torch.Tensor, p: int) -> ARFit:
    """Least-squares AR(p) with a constant, conditional on the first ``p`` values (float64).

    Minimises ``Σ_{t=p}^{N-1} (x_t - c - Σ_i φ_i x_{t-i})²`` — the maximum of the Gaussian
    conditional likelihood ``Π_t p(x_t | x_{t-p:t})``, i.e. of the notes' factorisation with
    ``A(x_t)`` the last ``p`` values. The same estimator as
    ``statsmodels.tsa.ar_model.AutoReg(series, lags=p, trend="c")``.

    Parameters
    ----------
    series : torch.Tensor
        ``(N,)`` floating, no ``NaN``, ``N > 2p + 1`` (more equations than unknowns).
    p : int
        Order ``>= 1``.

    Returns
    -------
    ARFit
        ``intercept ()`` and ``coef (p,)``, float64.
    """
    _finite_windows("series", series)
    if series.dim() != 1:
        raise ValueError(f"series must be 1-D, got shape {tuple(series.shape)}")
    positive_int("p", p)
    if len(series) <= 2 * p + 1:
        raise ValueError(f"series of {len(series)} values is too short for p = {p} (need > 2p + 1)")
    x = series.to(torch.float64)
    lags = x.unfold(0, p + 1, 1)                       # (N - p, p + 1): x_{t-p} … x_t
    design = torch.cat([torch.ones(len(lags), 1, dtype=torch.float64), lags[:, :-1].flip(1)], dim=1)
    beta = torch.linalg.lstsq(design, lags[:, -1:], driver="gelsd").solution[:, 0]
    return ARFit(beta[0], beta[1:])


def ar_predict(fit: ARFit, window: torch.Tensor) -> torch.Tensor:
    """One-step AR forecast ``c + Σ_i φ_i x_{t-i}`` from each window's last ``p`` values.

    Parameters
    ----------
    fit : ARFit
    window : torch.Tensor
        ``(batch, L)`` with ``L >= p``.

    Returns
    -------
    torch.Tensor
        ``(batch,)`` the mean of ``x_{L}`` given the window.
    """
    _finite_windows("window", window, min_dim=2)
    p = len(fit.coef)
    if window.dim() != 2 or window.shape[1] < p:
        raise ValueError(f"window must be (batch, L) with L >= p = {p}, got {tuple(window.shape)}")
    recent = window[:, -p:].flip(1).to(fit.coef.dtype)     # x_{t-1}, …, x_{t-p}
    return (fit.intercept + recent @ fit.coef).to(window.dtype)


def rollout(step: Callable[[torch.Tensor], torch.Tensor], context: torch.Tensor, horizon: int) -> torch.Tensor:
    """Free running: predict one step, append the prediction to the window, repeat.

    ``x̂_{t+1} = step(x_{t-L+1:t})``, then the window slides to end at ``x̂_{t+1}``: from the
    second step on the model reads its own outputs (the generation of the notes' last sentence).

    Parameters
    ----------
    step : callable
        ``step(window (batch, L)) -> (batch,)`` next value (a mean or a sample).
    context : torch.Tensor
        ``(batch, L)`` observed past, no ``NaN``.
    horizon : int
        Steps ``H >= 1``.

    Returns
    -------
    torch.Tensor
        ``(batch, H)``, column ``h - 1`` the value generated ``h`` steps ahead.
    """
    _finite_windows("context", context, min_dim=2)
    if context.dim() != 2:
        raise ValueError(f"context must be (batch, L), got {tuple(context.shape)}")
    positive_int("horizon", horizon)
    window, out = context, []
    for _ in range(horizon):
        nxt = step(window)
        if nxt.shape != (len(context),):
            raise ValueError(f"step must return ({len(context)},), got {tuple(nxt.shape)}")
        out.append(nxt)
        window = torch.cat([window[:, 1:], nxt[:, None].to(window.dtype)], dim=1)
    return torch.stack(out, dim=1)


def persistence(context: torch.Tensor, horizon: int) -> torch.Tensor:
    """The last observed value at every horizon, ``x̂_{t+h} = x_t``; ``(batch, L) → (batch, H)``."""
    _finite_windows("context", context, min_dim=2)
    positive_int("horizon", horizon)
    return context[:, -1:].expand(-1, horizon).clone()


def seasonal_naive(context: torch.Tensor, horizon: int, *, season: int) -> torch.Tensor:
    """The value one season earlier, ``x̂_{t+h} = x_{t+h-s⌈h/s⌉}``; ``(batch, L ≥ s) → (batch, H)``."""
    _finite_windows("context", context, min_dim=2)
    positive_int("horizon", horizon)
    positive_int("season", season)
    if context.shape[-1] < season:
        raise ValueError(f"context must hold at least one season ({season} steps), got {context.shape[-1]}")
    last = context[:, -season:]
    h = torch.arange(horizon, device=context.device)
    return last[:, h % season]


class Forecaster(nn.Module):
    """A causal one-step model with a Gaussian head: ``x (batch, T) → (mean, log_var) (batch, T)``.

    Output ``t`` parametrises ``p(x_{t+1} | x_{≤t}) = N(mean_t, exp(log_var_t))``, the factor
    ``p(x_j | A(x_j))`` with ``η_j = (mean, log_var) = f(A(x_j))``. Backbones (``kind``):

    - ``"gru"``: ``torch.nn.GRU`` (one layer, width ``hidden``) and a linear read-out;
    - ``"tcn"``: :class:`dlnotes.conv.CausalConvStack` (kernel 2, ``dilations``);
    - ``"transformer"``: a linear embedding plus sinusoidal positions, ``layers`` pre-norm
      ``torch.nn.TransformerEncoderLayer`` (``heads`` heads) under
      :func:`dlnotes.attention.causal_mask`, and a linear read-out.

    Parameters
    ----------
    kind : {"gru", "tcn", "transformer"}
    hidden : int
        Width ``>= 1`` (keyword-only, as are the rest).
    dilations : tuple of int
        TCN only.
    layers, heads : int
        Transformer only; ``hidden`` must be divisible by ``heads``.
    causal : bool
        Transformer only: ``False`` drops the mask (for the chapter's leak demonstration).
    """

    KINDS = ("gru", "tcn", "transformer")

    def __init__(self, kind: str, *, hidden: int = 32, dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32),
                 layers: int = 2, heads: int = 4, causal: bool = True) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        positive_int("hidden", hidden)
        self.kind, self.causal = kind, causal
        if kind == "gru":
            self.rnn = nn.GRU(1, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 2)
        elif kind == "tcn":
            self.tcn = CausalConvStack(1, hidden, 2, kernel_size=2, dilations=dilations)
        else:
            positive_int("layers", layers)
            positive_int("heads", heads)
            if hidden % heads:
                raise ValueError(f"hidden = {hidden} must be divisible by heads = {heads}")
            self.embed = nn.Linear(1, hidden)
            layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout=0.0, batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (batch, T)`` → ``mean, log_var`` each ``(batch, T)``, output ``t`` causal in ``x_{≤t}``."""
        _finite_windows("x", x, min_dim=2)
        if x.dim() != 2:
            raise ValueError(f"x must be (batch, T), got {tuple(x.shape)}")
        if self.kind == "gru":
            out = self.head(self.rnn(x[..., None])[0])
        elif self.kind == "tcn":
            out = self.tcn(x[:, None, :]).transpose(1, 2)
        else:
            t = x.shape[1]
            h = self.embed(x[..., None]) + sinusoidal_embedding(t, self.embed.out_features).to(x)
            mask = ~causal_mask(t, device=x.device) if self.causal else None   # True = may not attend
            out = self.head(self.encoder(h, mask=mask))
        return out[..., 0], out[..., 1].clamp(-12.0, 8.0)


def gaussian_nll(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Teacher forcing: mean negative log-likelihood of the shifted targets, ``-mean_t log N(x_{t+1}; η_t)``.

    ``inputs, targets (batch, T)`` from :func:`dlnotes.data.shifted_windows`; returns a scalar.
    """
    mean, log_var = model(inputs)
    if targets.shape != mean.shape:
        raise ValueError(f"targets must have shape {tuple(mean.shape)}, got {tuple(targets.shape)}")
    return -gaussian_log_prob(targets, mean, (0.5 * log_var).exp(), event_dims=0).mean()


def model_step(model: nn.Module, *, sample: bool = False,
               generator: torch.Generator | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A :func:`rollout` step from a :class:`Forecaster`: the mean of the last output, or a draw.

    With ``sample=True`` each step draws ``x̂ ~ N(mean, exp(log_var))`` (``generator``, a CPU
    ``torch.Generator``, keyword-only), so a rollout is one trajectory of the model's joint.
    """
    def step(window: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            mean, log_var = model(window)
        mean, log_var = mean[:, -1], log_var[:, -1]
        if not sample:
            return mean
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        return mean + (0.5 * log_var).exp() * noise
    return step


def scheduled_inputs(model: nn.Module, inputs: torch.Tensor, ratio: float, *,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Parallel scheduled sampling: replace inputs by the model's own one-step predictions.

    One teacher-forced pass (no gradient) gives ``x̂_{t+1}`` for every ``t``; each input
    ``x_t``, ``t >= 1``, is kept with probability ``ratio`` (the teacher-forcing ratio) and
    otherwise replaced by ``x̂_t`` (Bengio et al., 2015; one-pass form of Duckworth et al., 2019).

    Parameters
    ----------
    model : Forecaster
    inputs : torch.Tensor
        ``(batch, T)`` teacher-forcing inputs.
    ratio : float
        Probability in ``[0, 1]`` of keeping the true input.
    generator : torch.Generator, optional
        CPU generator of the coin flips (keyword-only).

    Returns
    -------
    torch.Tensor
        ``(batch, T)`` mixed inputs; train them against the unchanged targets.
    """
    _finite_windows("inputs", inputs, min_dim=2)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be a number in [0, 1], got {ratio!r}")
    with torch.no_grad():
        predicted = model(inputs)[0]
    keep = torch.rand(inputs.shape, generator=generator).to(inputs.device) < ratio
    keep[:, 0] = True
    own = torch.cat([inputs[:, :1], predicted[:, :-1]], dim=1)
    return torch.where(keep, inputs, own)


def rmse_by_horizon(forecasts: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Root mean squared error over the origins, one per horizon: ``(n, H), (n, H) → (H,)``."""
    _finite_windows("forecasts", forecasts, min_dim=2)
    _finite_windows("truth", truth, min_dim=2)
    if forecasts.shape != truth.shape or forecasts.dim() != 2:
        raise ValueError(f"forecasts and truth must be equal (n, H) shapes, got {tuple(forecasts.shape)} "
                         f"and {tuple(truth.shape)}")
    return (forecasts - truth).pow(2).mean(0).sqrt()


def interval_coverage(samples: torch.Tensor, truth: torch.Tensor, *, level: float = 0.9) -> torch.Tensor:
    """Fraction of origins whose truth lies in the central ``level`` interval of the samples.

    Parameters
    ----------
    samples : torch.Tensor
        ``(S, n, H)`` sampled trajectories, ``S >= 2``.
    truth : torch.Tensor
        ``(n, H)``.
    level : float
        In ``(0, 1)`` (keyword-only); the interval is between the ``(1 ∓ level)/2`` quantiles.

    Returns
    -------
    torch.Tensor
        ``(H,)`` empirical coverage per horizon (``level`` if calibrated).
    """
    _finite_windows("samples", samples, min_dim=3)
    _finite_windows("truth", truth, min_dim=2)
    if samples.dim() != 3 or samples.shape[1:] != truth.shape or samples.shape[0] < 2:
        raise ValueError(f"samples must be (S >= 2, n, H) with (n, H) = {tuple(truth.shape)}, "
                         f"got {tuple(samples.shape)}")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=samples.dtype, device=samples.device)
    lo, hi = torch.quantile(samples, q, dim=0)
    return ((truth >= lo) & (truth <= hi)).to(samples.dtype).mean(0)
