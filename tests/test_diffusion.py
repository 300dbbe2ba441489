"""dlnotes.diffusion: schedules, forward process, posterior, the exact linear-Gaussian
reference and its three ELBO forms, the ε-network, the DDPM loss and the sampler."""
import math

import pytest
import torch

from dlnotes import diffusion as D
from dlnotes.densities import kl_diag_gaussians

F64 = dict(dtype=torch.float64)


@pytest.mark.parametrize("schedule", [D.linear_schedule(1000), D.cosine_schedule(1000), D.linear_schedule(7),
                                      D.cosine_schedule(1)])
def test_schedules_are_monotone_in_the_unit_interval(schedule):
    ab = schedule.alpha_bar
    assert ((ab > 0) & (ab < 1)).all() and (ab.diff() < 0).all()
    assert (schedule.snr.diff() < 0).all()
    assert schedule.alpha_bar_at(torch.tensor([0])).item() == 1.0


def test_linear_schedule_defaults_are_ddpm_at_1000_steps():
    s = D.linear_schedule(1000)
    assert s.beta[0].item() == pytest.approx(1e-4) and s.beta[-1].item() == pytest.approx(0.02)
    assert s.alpha_bar[-1].item() < 1e-4


@pytest.mark.parametrize("call, match", [
    (lambda: D.linear_schedule(0), "T must"),
    (lambda: D.cosine_schedule(2.5), "T must"),
    (lambda: D.linear_schedule(10, beta_start=0.0), "beta_start"),
    (lambda: D.linear_schedule(10, beta_end=1.5), r"\(0, 1\)"),
    (lambda: D.cosine_schedule(10, max_beta=1.0), "max_beta"),
    (lambda: D.Schedule(torch.tensor([0.5, 1.0])), r"\(0, 1\)"),
    (lambda: D.Schedule(torch.tensor([])), "T >= 1"),
])
def test_schedule_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_closed_form_marginal_equals_composing_the_chain():
    s = D.linear_schedule(200)
    mean, var = 1.0, 0.0  # x_0 = 1 exactly
    for t in range(s.T):
        mean, var = s.alpha[t].sqrt() * mean, s.alpha[t] * var + 1 - s.alpha[t]
    assert abs(mean - s.alpha_bar[-1].sqrt()) < 1e-12 and abs(var - (1 - s.alpha_bar[-1])) < 1e-12


def test_q_sample_and_posterior_agree_with_gaussian_conditioning():
    s = D.cosine_schedule(50)
    x0 = torch.randn(6, 3, **F64)
    t = torch.tensor([2, 5, 10, 20, 40, 50])
    noise = torch.randn(6, 3, **F64)
    xt = D.q_sample(x0, t, s, noise)
    ab = s.alpha_bar_at(t)[:, None]
    torch.testing.assert_close(xt, ab.sqrt() * x0 + (1 - ab).sqrt() * noise)
    mean, var = D.q_posterior(x0, xt, t, s)
    ab_prev, alpha = s.alpha_bar_at(t - 1)[:, None], s.alpha[t - 1][:, None]
    cov = alpha.sqrt() * (1 - ab_prev)  # Cov(x_{t-1}, x_t | x_0)
    torch.testing.assert_close(mean, ab_prev.sqrt() * x0 + cov / (1 - ab) * (xt - ab.sqrt() * x0), rtol=0, atol=1e-12)
    torch.testing.assert_close(var, (1 - ab_prev) - cov**2 / (1 - ab), rtol=0, atol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda s: D.q_sample(torch.zeros(2, 1), torch.tensor([0, 1]), s), r"\[1, 10\]"),
    (lambda s: D.q_sample(torch.zeros(2, 1), torch.tensor([1, 11]), s), r"\[1, 10\]"),
    (lambda s: D.q_sample(torch.zeros(2, 1), torch.tensor([1.0, 2.0]), s), "integer"),
    (lambda s: D.q_sample(torch.zeros(2, 1), torch.tensor([1, 2, 3]), s), "one step per example"),
    (lambda s: D.q_sample(torch.zeros(2, 1), torch.tensor([1, 2]), s, torch.zeros(2, 2)), "noise"),
    (lambda s: D.q_posterior(torch.zeros(2, 1), torch.zeros(2, 2), torch.tensor([1, 2]), s), "same shape"),
    (lambda s: D.forward_chain(torch.zeros(2, 2), s), r"\(batch,\)"),
    (lambda s: D.LinearGaussianReverse(D.linear_schedule(1), torch.zeros(1), torch.zeros(1), 1.0), "T >= 2"),
    (lambda s: D.LinearGaussianReverse(s, torch.zeros(3), torch.zeros(10), 1.0), "shape"),
    (lambda s: D.LinearGaussianReverse(s, torch.zeros(10), torch.zeros(10), 0.0), "decoder_var"),
    (lambda s: D.EpsilonMLP(0), "dim"),
    (lambda s: D.EpsilonMLP(2, embed=3), "embed"),
])
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call(D.linear_schedule(10))


def test_scalar_gaussian_kl_matches_torch_distributions():
    p = torch.distributions.Normal(torch.tensor(0.3, **F64), torch.tensor(1.7, **F64))
    q = torch.distributions.Normal(torch.tensor(-1.1, **F64), torch.tensor(0.4, **F64))
    ours = kl_diag_gaussians(q.mean, q.stddev, p.mean, p.stddev, event_dims=0)
    torch.testing.assert_close(ours, torch.distributions.kl_divergence(q, p), rtol=0, atol=1e-14)


@pytest.fixture(scope="module")
def reference():
    s = D.cosine_schedule(20)
    model = D.LinearGaussianReverse.optimal_for_gaussian_data(s, 1.0, 0.25, decoder_var=1e-3)
    x0 = torch.full((40000,), 0.8, **F64)
    return s, model, D.forward_chain(x0, s, torch.Generator().manual_seed(0))


def _total(terms, name):
    return terms["reconstruction"] - terms["prior"] - terms[name].sum(-1)


def test_elbo_is_below_the_exact_log_likelihood(reference):
    s, model, chain = reference
    x0 = torch.linspace(-1, 3, 9, **F64)
    assert (model.log_prob(x0) > model.elbo(x0)).all()


def test_log_prob_integrates_to_one(reference):
    _, model, _ = reference
    grid = torch.linspace(-8, 10, 20001, **F64)
    mass = torch.trapezoid(model.log_prob(grid).exp(), grid).item()
    assert abs(mass - 1) < 1e-6


@pytest.mark.parametrize("form, name", [("terms_denoising", "denoising"), ("terms_consistency", "consistency")])
def test_unbiased_forms_match_the_exact_elbo(reference, form, name):
    # Monte Carlo mean within 4 standard errors of the closed form (a false alarm has
    # probability ~6e-5 for a correct estimator)
    _, model, chain = reference
    estimate = _total(getattr(model, form)(chain), name)
    se = estimate.std() / math.sqrt(len(estimate))
    assert abs(estimate.mean() - model.elbo(chain[:1, 0])) < 4 * se


def test_the_notes_form_as_written_is_biased(reference):
    _, model, chain = reference
    estimate = _total(model.terms_notes(chain), "consistency")
    se = estimate.std() / math.sqrt(len(estimate))
    assert model.elbo(chain[:1, 0]) - estimate.mean() > 50 * se


def test_snr_form_equals_denoising_form_sample_by_sample(reference):
    _, model, chain = reference
    torch.testing.assert_close(model.terms_snr(chain[:500])["denoising"],
                               model.terms_denoising(chain[:500])["denoising"], rtol=1e-9, atol=1e-12)


def test_epsilon_mlp_shapes_and_ddpm_loss_gradients():
    torch.manual_seed(0)
    model = D.EpsilonMLP(3, hidden=[16, 16], T=10)
    x = torch.randn(5, 3)
    assert model(x, torch.arange(1, 6)).shape == (5, 3)
    loss = D.ddpm_loss(model, x, D.linear_schedule(10), torch.Generator().manual_seed(1))
    loss.backward()
    assert loss.ndim == 0 and all(p.grad is not None for p in model.parameters())


def test_ancestral_sampler_implements_the_linear_gaussian_reverse_chain():
    # With a linear ε̂ the sampler is exactly LinearGaussianReverse (decoder variance 0 at t = 1,
    # here 1e-12), whose marginal is known in closed form: the samples must have its moments.
    s = D.linear_schedule(50)
    m, v = 2.0, 0.09
    exact = D.LinearGaussianReverse.optimal_for_gaussian_data(s, m, v, decoder_var=1e-12)

    class LinearEpsilon(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(()))

        def forward(self, xt, t):
            ab = s.alpha_bar[t - 1][:, None]
            x0_hat = exact.x0_hat(xt.double(), t[:, None])
            return ((xt - ab.sqrt() * x0_hat) / (1 - ab).sqrt()).float()

    n = 40000
    samples, trajectory = D.ancestral_sample(LinearEpsilon(), s, n, 1, torch.Generator().manual_seed(0), keep=5)
    assert trajectory.shape == (5, n, 1)
    mean, var = exact.marginal()
    # 4 standard errors: of the mean sqrt(var/n), of the variance var·sqrt(2/n)
    assert abs(samples.double().mean().item() - mean) < 4 * math.sqrt(var / n)
    assert abs(samples.double().var().item() - var) < 4 * var * math.sqrt(2 / n)
    # and it is *not* the data distribution: σ_t² = β̃_t shrinks the variance (see the chapter)
    assert var < 0.95 * v
