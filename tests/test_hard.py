"""dlnotes.hard: the Gumbel tools against softmax and torch.nn.functional.gumbel_softmax, the
REINFORCE surrogate against its formula, the Bernoulli toy against closed forms and quadrature,
the glimpse model's modes, and the bad-input contract."""
import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from dlnotes.hard import (TOY_ESTIMATORS, GlimpseClassifier, gumbel_max_sample, gumbel_noise, gumbel_softmax,
                          leave_one_out_baseline, reinforce_surrogate, selection_loss, toy_exact_gradient,
                          toy_expected_cost, toy_gradient_estimates, toy_relaxed_expectation)

# float64, same operations in another order: rounding ~1e-16; 1e-12 is far below any wrong
# temperature or stop-gradient (order 0.1).
TOL = dict(rtol=0, atol=1e-12)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gumbel_noise_moments_and_shape():
    g = gumbel_noise((200_000,), generator=_gen(), dtype=torch.float64)
    assert g.shape == (200_000,) and g.dtype == torch.float64 and torch.isfinite(g).all()
    # Gumbel(0, 1): mean Euler's γ, variance π²/6; 4 standard errors of each
    se_mean = math.sqrt(math.pi**2 / 6 / len(g))
    assert abs(g.mean().item() - 0.5772156649) < 4 * se_mean
    assert abs(g.var().item() - math.pi**2 / 6) < 4 * math.sqrt(2.4 * (math.pi**2 / 6) ** 2 * 2 / len(g)) + 0.01
    assert torch.equal(gumbel_noise((3, 4), generator=_gen(5)), gumbel_noise((3, 4), generator=_gen(5)))


def test_gumbel_max_frequencies_match_softmax():
    logits = torch.tensor([0.5, -1.0, 2.0, 0.0])
    n = 100_000
    counts = torch.bincount(gumbel_max_sample(logits.expand(n, 4), generator=_gen(1)), minlength=4).double()
    p = torch.softmax(logits.double(), -1)
    assert stats.chisquare(counts.numpy(), (n * p).numpy()).pvalue > 1e-3
    assert ((counts / n - p).abs() <= 4 * (p * (1 - p) / n).sqrt()).all()


def test_relaxed_sample_is_softmax_of_noisy_logits():
    logits = torch.randn(7, 5, dtype=torch.float64, generator=_gen(2))
    g = gumbel_noise((7, 5), generator=_gen(3), dtype=torch.float64)
    for tau in (0.1, 1.0, 4.0):
        y = gumbel_softmax(logits, tau=tau, gumbel=g)
        torch.testing.assert_close(y, torch.softmax((logits + g) / tau, -1), **TOL)
        torch.testing.assert_close(y.sum(-1), torch.ones(7, dtype=torch.float64), **TOL)


def test_straight_through_forward_is_one_hot_and_backward_is_the_soft_gradient():
    logits = torch.randn(6, 4, dtype=torch.float64, generator=_gen(4), requires_grad=True)
    g = gumbel_noise((6, 4), generator=_gen(5), dtype=torch.float64)
    weights = torch.randn(6, 4, dtype=torch.float64, generator=_gen(6))
    z = gumbel_softmax(logits, tau=0.7, hard=True, gumbel=g)
    assert torch.equal(z.detach(), F.one_hot((logits + g).argmax(-1), 4).double())
    (g_st,) = torch.autograd.grad((z * weights).sum(), logits)
    (g_soft,) = torch.autograd.grad((torch.softmax((logits + g) / 0.7, -1) * weights).sum(), logits)
    torch.testing.assert_close(g_st, g_soft, **TOL)
    assert g_st.abs().max() > 1e-3  # not the zero gradient of a bare one-hot


def test_same_distribution_as_torch_gumbel_softmax():
    # torch draws its own noise, so compare in distribution: the mean relaxed sample (τ = 0.5) and
    # the hard sample's frequencies agree within 4 standard errors of the difference.
    torch.manual_seed(0)
    logits = torch.tensor([1.0, 0.0, -0.5], dtype=torch.float64).expand(50_000, 3)
    ours = gumbel_softmax(logits, tau=0.5, generator=_gen(7))
    theirs = F.gumbel_softmax(logits, tau=0.5)
    se = ((ours.var(0) + theirs.var(0)) / len(ours)).sqrt()
    assert ((ours.mean(0) - theirs.mean(0)).abs() <= 4 * se).all()
    ours_h = gumbel_softmax(logits, tau=0.5, hard=True, generator=_gen(8)).mean(0)
    theirs_h = F.gumbel_softmax(logits, tau=0.5, hard=True).mean(0)
    p = torch.softmax(logits[0], -1)
    assert ((ours_h - theirs_h).abs() <= 4 * (2 * p * (1 - p) / len(ours)).sqrt()).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(tau=0.0), "tau"), (dict(tau=-1.0), "tau"), (dict(tau=math.inf), "tau"), (dict(tau=True), "tau"),
    (dict(hard=1), "hard"), (dict(gumbel=torch.zeros(2, 2)), "gumbel"), (dict(generator=0), "generator"),
])
def test_gumbel_softmax_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gumbel_softmax(torch.zeros(3, 4), **kwargs)


def test_gumbel_bad_inputs():
    with pytest.raises(ValueError, match="logits"):
        gumbel_softmax(torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="logits"):
        gumbel_max_sample([0.0, 1.0])
    with pytest.raises(ValueError, match="dtype"):
        gumbel_noise((3,), dtype=torch.int64)
    with pytest.raises(ValueError, match="shape"):
        gumbel_noise("abc")


def test_reinforce_surrogate_value_and_gradient():
    theta = torch.randn(5, 3, dtype=torch.float64, generator=_gen(9), requires_grad=True)
    scale = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    a = torch.tensor([0, 2, 1, 1, 0])
    log_p = torch.log_softmax(theta, -1)[torch.arange(5), a]
    cost = scale * torch.tensor([0.3, 1.0, 0.2, 0.7, 0.5], dtype=torch.float64)
    b = torch.full((5,), 0.4, dtype=torch.float64)
    s = reinforce_surrogate(cost, log_p, baseline=b)
    torch.testing.assert_close(s, cost, **TOL)                        # value: the cost itself
    g_theta, g_scale = torch.autograd.grad(s.sum(), (theta, scale), retain_graph=True)
    # formula: Σ (cost − b) ∇ log p, and the pathwise ∂cost/∂scale
    (ref_theta,) = torch.autograd.grad(((cost.detach() - b) * log_p).sum(), theta, retain_graph=True)
    torch.testing.assert_close(g_theta, ref_theta, **TOL)
    torch.testing.assert_close(g_scale, cost.detach().sum() / scale.detach(), **TOL)
    s0 = reinforce_surrogate(cost, log_p, baseline=0.4)               # a scalar baseline is the same
    (g0,) = torch.autograd.grad(s0.sum(), theta)
    torch.testing.assert_close(g0, ref_theta, **TOL)


def test_reinforce_surrogate_bad_inputs():
    c = torch.zeros(4)
    with pytest.raises(ValueError, match="cost"):
        reinforce_surrogate(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="log_prob"):
        reinforce_surrogate(c, torch.zeros(3))
    with pytest.raises(ValueError, match="baseline"):
        reinforce_surrogate(c, c, baseline=torch.zeros(3))
    with pytest.raises(ValueError, match="baseline"):
        reinforce_surrogate(c, c, baseline="mean")


def test_leave_one_out_baseline():
    c = torch.tensor([1.0, 2.0, 3.0, 6.0])
    torch.testing.assert_close(leave_one_out_baseline(c), torch.tensor([11 / 3, 10 / 3, 3.0, 2.0]))
    with pytest.raises(ValueError, match="cost"):
        leave_one_out_baseline(torch.zeros(1))
    with pytest.raises(ValueError, match="cost"):
        leave_one_out_baseline(torch.zeros(2, 2))


def test_toy_closed_forms():
    theta, t, h = 0.3, 0.45, 1e-6
    fd = (toy_expected_cost(theta + h, t) - toy_expected_cost(theta - h, t)) / (2 * h)
    assert abs(fd - toy_exact_gradient(theta, t)) < 1e-8
    assert toy_expected_cost(50.0, 0.45) == pytest.approx(0.55**2)


def test_toy_estimators_means():
    theta, t, n = -1.0, 0.45, 50_000
    exact = toy_exact_gradient(theta, t)
    for name in ("reinforce", "reinforce_baseline"):
        x = toy_gradient_estimates(theta, t, n, estimator=name, generator=_gen(10))
        assert x.shape == (n,) and x.dtype == torch.float64
        assert abs(x.mean().item() - exact) <= 4 * x.std().item() / math.sqrt(n)
    for name, hard in (("st_gumbel", True), ("relaxed", False)):
        for tau in (0.5, 2.0):
            x = toy_gradient_estimates(theta, t, n, estimator=name, tau=tau, generator=_gen(11))
            mean = toy_relaxed_expectation(theta, t, tau=tau, hard=hard)
            assert abs(x.mean().item() - mean) <= 4 * x.std().item() / math.sqrt(n)
            assert abs(mean - exact) > 0.005                           # biased, by the quadrature


def test_toy_bad_inputs():
    with pytest.raises(ValueError, match="estimator"):
        toy_gradient_estimates(0.0, 0.5, 10, estimator="pathwise")
    with pytest.raises(ValueError, match="n"):
        toy_gradient_estimates(0.0, 0.5, 1, estimator="reinforce")
    with pytest.raises(ValueError, match="theta"):
        toy_exact_gradient(float("nan"), 0.5)
    with pytest.raises(ValueError, match="target"):
        toy_expected_cost(0.0, "half")
    with pytest.raises(ValueError, match="tau"):
        toy_relaxed_expectation(0.0, 0.5, tau=0.0, hard=True)
    assert set(TOY_ESTIMATORS) == {"reinforce", "reinforce_baseline", "st_gumbel", "relaxed"}


def _task(n=16, k=4, seed=0):
    g = _gen(seed)
    return torch.rand(n, k, 10, generator=g), torch.randint(k, (n,), generator=g), torch.randint(3, (n,), generator=g)


def test_glimpse_classifier_modes():
    torch.manual_seed(0)
    model = GlimpseClassifier(4, 10, 3, hidden=8, d_attention=4)
    x, key, y = _task()
    logits, w, log_p = model(x, key, mode="soft")
    assert logits.shape == (16, 3) and w.shape == (16, 4) and log_p.shape == (16,)
    torch.testing.assert_close(w.sum(1), torch.ones(16))
    torch.testing.assert_close(w, torch.softmax(model.scores(x, key), -1))
    for mode in ("st_gumbel", "sample", "greedy"):
        _, w, log_p = model(x, key, mode=mode, generator=_gen(1))
        assert torch.equal(w.detach(), F.one_hot(w.detach().argmax(1), 4).float())
        torch.testing.assert_close(log_p, torch.log_softmax(model.scores(x, key), -1).gather(1, w.argmax(1, keepdim=True))[:, 0])
    _, w, _ = model(x, key, mode="greedy")
    assert torch.equal(w.argmax(1), model.scores(x, key).argmax(1))
    # the read of a one-hot is exactly the chosen slot: the classifier of that slot
    logits, w, _ = model(x, key, mode="greedy")
    torch.testing.assert_close(logits, model.classifier(x[torch.arange(16), w.argmax(1)]))


def test_selection_loss_value_and_gradients_reach_the_scorer():
    x, key, y = _task()
    for method in ("soft", "st_gumbel", "reinforce"):
        torch.manual_seed(0)
        model = GlimpseClassifier(4, 10, 3, hidden=8, d_attention=4)
        loss = selection_loss(model, x, key, y, method=method, generator=_gen(2))
        # the value is the mean cross-entropy of what was read (same draw: same generator)
        mode = {"reinforce": "sample"}.get(method, method)
        logits, _, _ = model(x, key, mode=mode, generator=_gen(2))
        torch.testing.assert_close(loss, F.cross_entropy(logits, y))
        loss.backward()
        assert model.query.weight.grad is not None and model.query.weight.grad.abs().sum() > 0, method
    # without the surrogate a sampled read gives the scorer no gradient at all
    model = GlimpseClassifier(4, 10, 3, hidden=8, d_attention=4)
    logits, _, _ = model(x, key, mode="sample", generator=_gen(2))
    F.cross_entropy(logits, y).backward()
    assert model.query.weight.grad is None


def test_glimpse_bad_inputs():
    model = GlimpseClassifier(4, 10, 3)
    x, key, y = _task()
    with pytest.raises(ValueError, match="x"):
        model(x[:, :3], key)
    with pytest.raises(ValueError, match="key"):
        model(x, key + 4)
    with pytest.raises(ValueError, match="key"):
        model(x, key.float())
    with pytest.raises(ValueError, match="mode"):
        model(x, key, mode="hard")
    with pytest.raises(ValueError, match="method"):
        selection_loss(model, x, key, y, method="sample")
    with pytest.raises(ValueError, match="slots"):
        GlimpseClassifier(0, 10, 3)
