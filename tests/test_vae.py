"""dlnotes.vae against torch.distributions in float64, the exact linear-Gaussian identities,
the gradient estimators' (un)biasedness, and the bad-input contract."""
import math

import pytest
import torch
from torch.distributions import (Bernoulli, Independent, MultivariateNormal, Normal,
                                 kl_divergence)

from dlnotes import densities, vae

DT = torch.float64
# float64, values of order 1–100: the implementations differ only in rounding order, so
# 1e-10 (about 1e6 ulps of the largest value) separates rounding from any real mistake.
TOL = dict(rtol=0, atol=1e-10)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_spd(k, g):
    a = torch.randn(k, k, dtype=DT, generator=g)
    return a @ a.T + 0.1 * torch.eye(k, dtype=DT)


def test_gaussian_and_bernoulli_log_prob_match_torch():
    g = gen()
    x, m = torch.randn(5, 3, dtype=DT, generator=g), torch.randn(5, 3, dtype=DT, generator=g)
    s = torch.rand(5, 3, dtype=DT, generator=g) + 0.1
    torch.testing.assert_close(densities.gaussian_log_prob(x, m, s), Independent(Normal(m, s), 1).log_prob(x), **TOL)
    xb = (torch.rand(5, 7, generator=g) > 0.5).to(DT)
    logits = 5 * torch.randn(5, 7, dtype=DT, generator=g)
    torch.testing.assert_close(densities.bernoulli_log_prob(xb, logits),
                               Independent(Bernoulli(logits=logits), 1).log_prob(xb), **TOL)


def test_kl_diag_matches_torch():
    g = gen(1)
    mq, mp = torch.randn(2, 6, 4, dtype=DT, generator=g)
    sq, sp = torch.rand(2, 6, 4, dtype=DT, generator=g) + 0.2
    expected = kl_divergence(Independent(Normal(mq, sq), 1), Independent(Normal(mp, sp), 1))
    torch.testing.assert_close(densities.kl_diag_gaussians(mq, sq, mp, sp), expected, **TOL)
    prior = Independent(Normal(torch.zeros_like(mq), torch.ones_like(sq)), 1)
    torch.testing.assert_close(densities.kl_diag_gaussians(mq, sq), kl_divergence(Independent(Normal(mq, sq), 1), prior), **TOL)


def test_kl_full_matches_torch():
    g = gen(2)
    for _ in range(5):
        mq, mp = torch.randn(2, 3, dtype=DT, generator=g)
        cq, cp = random_spd(3, g), random_spd(3, g)
        expected = kl_divergence(MultivariateNormal(mq, cq), MultivariateNormal(mp, cp))
        torch.testing.assert_close(densities.kl_full_gaussians(mq, cq, mp, cp), expected, **TOL)


def test_iwae_with_one_sample_is_the_elbo_and_bounds_increase():
    g = gen(3)
    lw = 3 * torch.randn(1, 10, dtype=DT, generator=g)
    torch.testing.assert_close(vae.iwae_bound(lw), vae.elbo(lw), rtol=0, atol=0)
    lw = 3 * torch.randn(20, 10, dtype=DT, generator=g)
    # log-mean-exp >= mean (Jensen) for the same samples, always
    assert (vae.iwae_bound(lw) >= vae.elbo(lw)).all()


def test_log_q_change_of_variables_is_the_normal_density_of_z():
    g = gen(4)
    m = torch.randn(8, 3, dtype=DT, generator=g)
    s = torch.rand(8, 3, dtype=DT, generator=g) + 0.1
    eps = torch.randn(8, 3, dtype=DT, generator=g)
    z = vae.reparametrize(m, s, eps)
    torch.testing.assert_close(vae.log_q_change_of_variables(eps, s), Normal(m, s).log_prob(z).sum(-1), **TOL)


def test_gradcheck_reparametrized_path():
    g = gen(5)
    eps = torch.randn(4, 3, dtype=DT, generator=g)
    target = torch.randn(4, 3, dtype=DT, generator=g)

    def single_sample_elbo(mean, log_std):
        z = vae.reparametrize(mean, log_std.exp(), eps)
        log_joint = densities.gaussian_log_prob(target, z, torch.ones_like(z)) + \
            densities.gaussian_log_prob(z, torch.zeros_like(z), torch.ones_like(z))
        return log_joint - vae.log_q_change_of_variables(eps, log_std.exp())

    mean = torch.randn(4, 3, dtype=DT, generator=g, requires_grad=True)
    log_std = (0.3 * torch.randn(4, 3, dtype=DT, generator=g)).requires_grad_()
    assert torch.autograd.gradcheck(single_sample_elbo, (mean, log_std))


def linear_model(seed=6, d=5, k=3, n=4):
    g = gen(seed)
    w, b = torch.randn(d, k, dtype=DT, generator=g), torch.randn(d, dtype=DT, generator=g)
    x = torch.randn(n, d, dtype=DT, generator=g)
    return g, x, w, b, 0.7


def test_linear_gaussian_marginal_posterior_and_elbo_identity():
    g, x, w, b, sigma = linear_model()
    d, k = w.shape
    expected = MultivariateNormal(b, w @ w.T + sigma**2 * torch.eye(d, dtype=DT)).log_prob(x)
    torch.testing.assert_close(vae.linear_gaussian_log_marginal(x, w, b, sigma), expected, **TOL)
    # posterior by Bayes on the joint Gaussian of (z, x): Σ_zx Σ_xx⁻¹ (x - b), I - Σ_zx Σ_xx⁻¹ Σ_xz
    sxx = w @ w.T + sigma**2 * torch.eye(d, dtype=DT)
    gain = w.T @ torch.linalg.inv(sxx)
    mean, cov = vae.linear_gaussian_posterior(x, w, b, sigma)
    torch.testing.assert_close(mean, (x - b) @ gain.T, **TOL)
    torch.testing.assert_close(cov, torch.eye(k, dtype=DT) - gain @ w, **TOL)
    # ELBO + KL(q || posterior) = log p(x) for any Gaussian q; ELBO of the posterior = log p(x)
    qm, qc = torch.randn(4, k, dtype=DT, generator=g), random_spd(k, g)
    gap = densities.kl_full_gaussians(qm, qc.expand(4, k, k), mean, cov.expand(4, k, k))
    torch.testing.assert_close(vae.linear_gaussian_elbo(x, w, b, sigma, qm, qc) + gap, expected, **TOL)
    torch.testing.assert_close(vae.linear_gaussian_elbo(x, w, b, sigma, mean, cov), expected, **TOL)


def test_gradient_estimators_bias_and_unbiasedness():
    g, x, w, b, sigma = linear_model(7, n=1)
    k = w.shape[1]

    def log_joint(z):
        return densities.gaussian_log_prob(x, z @ w.T + b, torch.full_like(x, sigma)) + \
            densities.gaussian_log_prob(z, torch.zeros_like(z), torch.ones_like(z))

    mean = torch.zeros(k, dtype=DT, requires_grad=True)
    log_std = torch.zeros(k, dtype=DT, requires_grad=True)
    value = vae.linear_gaussian_elbo(x, w, b, sigma, mean[None], torch.diag(torch.exp(2 * log_std))).sum()
    exact = torch.cat(torch.autograd.grad(value, (mean, log_std)))
    n = 20_000
    for estimator in (vae.score_function_gradient, vae.reparametrized_gradient):
        est = estimator(log_joint, mean, log_std, n, g)
        z = (est.mean(0) - exact) / (est.std(0) / math.sqrt(n))
        # 6 k components: |z| < 5 fails by chance with probability < 4e-6
        assert z.abs().max() < 5, estimator.__name__
    naive = vae.naive_gradient(log_joint, mean, log_std, n, g)
    assert naive.mean(0).abs().max() < 5 * naive.std(0).max() / math.sqrt(n)   # its mean is 0 ...
    assert exact.abs().max() > 1                                                # ... the truth is not


def test_models_shapes_and_hvae_terms():
    torch.manual_seed(0)
    x = (torch.rand(6, 10) > 0.5).float()
    model = vae.VAE(vae.GaussianEncoder(10, 2, (16,)), vae.BernoulliDecoder(2, 10, (16,)))
    assert model.log_weights(x, 7).shape == (7, 6)
    assert torch.isfinite(model.negative_elbo(x))
    h = vae.MarkovHVAE(10, 4, 2, (16,))
    g = gen(8)
    lw = h.log_weights(x, 3, generator=gen(8))
    t = h.elbo_terms(x, 3, generator=g)
    torch.testing.assert_close(lw, t["log_p_x"] + t["log_p_z1"] + t["log_p_z2"] - t["log_q_z1"] - t["log_q_z2"])
    assert torch.isfinite(h.negative_elbo(x))
    linear = vae.VAE(vae.GaussianEncoder(10, 3, ()), vae.GaussianDecoder(3, 10))
    assert linear.log_weights(x, 2).shape == (2, 6)


@pytest.mark.parametrize("call", [
    lambda: densities.gaussian_log_prob(torch.zeros(3), torch.zeros(3), torch.tensor([1.0, 0.0, 1.0])),
    lambda: densities.kl_diag_gaussians(torch.zeros(3), -torch.ones(3)),
    lambda: densities.kl_diag_gaussians(torch.zeros(3), torch.ones(4)),
    lambda: densities.kl_diag_gaussians(torch.zeros(3), torch.ones(3), torch.zeros(3), None),
    lambda: densities.kl_full_gaussians(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2)),
    lambda: densities.kl_full_gaussians(torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2)),
    lambda: vae.reparametrize(torch.zeros(3), torch.zeros(3), torch.zeros(3)),
    lambda: vae.iwae_bound(torch.zeros(0, 4)),
    lambda: vae.iwae_bound(torch.zeros(4)),
    lambda: densities.bernoulli_log_prob(torch.zeros(2, 3), torch.zeros(2, 4)),
    lambda: vae.linear_gaussian_log_marginal(torch.zeros(2, 3), torch.zeros(4, 2), torch.zeros(3), 1.0),
    lambda: vae.linear_gaussian_log_marginal(torch.zeros(2, 3), torch.zeros(3, 2), torch.zeros(3), 0.0),
    lambda: vae.naive_gradient(lambda z: z.sum(-1), torch.zeros(2), torch.zeros(2), 0),
    lambda: vae.score_function_gradient(lambda z: z.sum(-1), torch.zeros(2), torch.zeros(3), 5),
    lambda: vae.VAE(vae.GaussianEncoder(4, 2), vae.BernoulliDecoder(2, 4)).log_weights(torch.zeros(3, 4), 0),
    lambda: vae.MarkovHVAE(4, 2, 1).elbo_terms(torch.zeros(3, 4), k=0),
    lambda: vae.GaussianEncoder(0, 2),
], ids=["std zero", "std negative", "shape mismatch", "mean_p without std_p", "cov shape",
        "cov not PD", "reparam std zero", "iwae k=0", "iwae 1-D", "bernoulli dims",
        "linear weight shape", "linear noise 0", "n_samples 0", "phi shapes", "vae k=0",
        "hvae k=0", "encoder in_dim 0"])
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_error_messages_name_the_argument():
    with pytest.raises(ValueError, match="std_q"):
        densities.kl_diag_gaussians(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="k must"):
        vae.VAE(vae.GaussianEncoder(4, 2), vae.BernoulliDecoder(2, 4)).log_weights(torch.zeros(3, 4), 0)
