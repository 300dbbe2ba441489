"""dlnotes.gan: losses against closed forms, mode metrics, exact W1 helpers, validation."""
import math

import numpy as np
import pytest
import scipy.stats
import torch

from dlnotes import data, gan


def _logit_grad(loss_fn, logits):
    logits = logits.clone().requires_grad_(True)
    loss_fn(logits).backward()
    return logits.grad


def test_discriminator_loss_closed_form_and_value_at_half():
    l_real = torch.randn(50, dtype=torch.float64)
    l_fake = torch.randn(70, dtype=torch.float64)
    d_real, d_fake = torch.sigmoid(l_real), torch.sigmoid(l_fake)
    expected = -0.5 * d_real.log().mean() - 0.5 * (1 - d_fake).log().mean()
    torch.testing.assert_close(gan.discriminator_loss(l_real, l_fake), expected)
    zero = torch.zeros(4, dtype=torch.float64)
    assert gan.discriminator_loss(zero, zero).item() == pytest.approx(math.log(2), abs=1e-15)
    # finite where the naive formula overflows: D(G(z)) rounds to 1 in float64
    assert torch.isfinite(gan.discriminator_loss(zero, torch.full((3,), 60.0, dtype=torch.float64)))


def test_generator_loss_gradients_match_closed_forms():
    logits = torch.linspace(-12, 12, 49, dtype=torch.float64)
    n = len(logits)
    d = torch.sigmoid(logits)
    # per-sample derivative of the mean is (1/n) times the closed forms -D/2 and -(1-D)/2
    torch.testing.assert_close(_logit_grad(gan.minimax_generator_loss, logits), -0.5 * d / n)
    torch.testing.assert_close(_logit_grad(gan.nonsaturating_generator_loss, logits), -0.5 * (1 - d) / n)
    # the minimax generator cost is minus the discriminator's fake term
    torch.testing.assert_close(gan.minimax_generator_loss(logits),
                               -(gan.discriminator_loss(torch.full((1,), 1e3, dtype=torch.float64), logits)))


def test_wgan_losses():
    real, fake = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 1.0])
    assert gan.critic_loss(real, fake).item() == pytest.approx(0.5 - 2.0)
    assert gan.critic_generator_loss(fake).item() == pytest.approx(-0.5)


def test_gradient_penalty_and_r1_on_linear_functions():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)           # ‖∇f‖ = 5 everywhere
    critic = lambda x: x @ w
    real = torch.randn(16, 2, dtype=torch.float64)
    fake = torch.randn(16, 2, dtype=torch.float64)
    assert gan.gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)
    assert gan.r1_penalty(critic, real).item() == pytest.approx(25.0)
    unit = lambda x: x @ (w / 5)
    assert gan.gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-24)


def test_gradient_penalty_backpropagates_into_parameters():
    net = torch.nn.Linear(2, 1)
    penalty = gan.gradient_penalty(net, torch.randn(8, 2), torch.randn(8, 2))
    penalty.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


def test_mode_metrics_all_modes_one_mode_and_off_mode():
    g = torch.Generator().manual_seed(0)
    centres = data.ring_centres()
    x, _ = data.ring(2500, generator=g)
    full = gan.mode_metrics(x, centres, 0.01)
    assert full.modes == 8 and full.hq_fraction > 0.97 and full.counts.sum() == round(2500 * full.hq_fraction)
    one = gan.mode_metrics(centres[2] + 0.005 * torch.randn(2500, 2, generator=g), centres, 0.01)
    assert one.modes == 1 and one.hq_fraction == 1.0 and one.counts[2] == 2500
    off = gan.mode_metrics(0.5 * centres[torch.arange(2500) % 8], centres, 0.01)   # halfway in
    assert off.modes == 0 and off.hq_fraction == 0.0
    # 9 high-quality samples do not cover a mode, 10 do
    nine = torch.cat([centres[:1].repeat(9, 1), torch.zeros(5, 2)])
    ten = torch.cat([centres[:1].repeat(10, 1), torch.zeros(5, 2)])
    assert gan.mode_metrics(nine, centres, 0.01).modes == 0
    assert gan.mode_metrics(ten, centres, 0.01).modes == 1


def test_mode_metrics_grid():
    x, _ = data.grid(2500, generator=torch.Generator().manual_seed(1))
    stats = gan.mode_metrics(x, data.grid_centres(), 0.05)
    assert stats.modes == 25 and stats.hq_fraction > 0.97


@pytest.mark.parametrize("kwargs, match", [
    (dict(samples=torch.zeros(0, 2)), "samples"),
    (dict(samples=torch.zeros(5, 3)), "share d"),
    (dict(samples=torch.zeros(5)), "share d"),
    (dict(std=0.0), "std"),
    (dict(std=-1.0), "std"),
    (dict(min_count=0), "min_count"),
])
def test_mode_metrics_rejects_bad_input(kwargs, match):
    args = dict(samples=torch.zeros(5, 2), centres=data.ring_centres(), std=0.01) | kwargs
    with pytest.raises(ValueError, match=match):
        gan.mode_metrics(**args)


def _two_measures(seed, n=6, m=5, d=2):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 1.0
    a, b = rng.random(n), rng.random(m)
    return x, y, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("seed", range(3))
def test_primal_and_dual_lp_agree(seed):
    x, y, a, b = _two_measures(seed)
    primal, plan = gan.transport_lp(x, y, a, b)
    dual, f = gan.kantorovich_dual_lp(x, y, a, b)
    assert abs(primal - dual) <= 1e-8
    np.testing.assert_allclose(plan.sum(1), a, atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), b, atol=1e-9)
    points = np.vstack([x, y])
    lipschitz = np.abs(f[:, None] - f[None]) - np.linalg.norm(points[:, None] - points[None], axis=-1)
    assert lipschitz.max() <= 1e-9


def test_w1_helpers_match_scipy_in_one_dimension():
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=40), rng.exponential(size=40)
    expected = scipy.stats.wasserstein_distance(u, v)
    assert gan.w1_assignment(u[:, None], v[:, None]) == pytest.approx(expected, abs=1e-12)
    w = np.full(40, 1 / 40)
    assert gan.transport_lp(u[:, None], v[:, None], w, w)[0] == pytest.approx(expected, abs=1e-9)


def test_w1_assignment_of_a_translate_is_the_shift_norm():
    x = np.random.default_rng(4).normal(size=(30, 2))
    m = np.array([0.3, -0.4])
    assert gan.w1_assignment(x, x + m) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: gan.transport_lp(np.zeros((0, 2)), np.zeros((2, 2)), [], [0.5, 0.5]), "x"),
    (lambda: gan.transport_lp(np.zeros((2, 2)), np.zeros((2, 3)), [0.5, 0.5], [0.5, 0.5]), "dimension"),
    (lambda: gan.transport_lp(np.zeros((2, 2)), np.zeros((2, 2)), [0.5, 0.6], [0.5, 0.5]), "a"),
    (lambda: gan.kantorovich_dual_lp(np.zeros((2, 2)), np.zeros((2, 2)), [0.5, 0.5], [1.0]), "b"),
    (lambda: gan.w1_assignment(np.zeros((2, 2)), np.zeros((3, 2))), "number of points"),
    (lambda: gan.discriminator_loss(torch.zeros(0), torch.zeros(3)), "real_logits"),
    (lambda: gan.nonsaturating_generator_loss(torch.zeros(3, dtype=torch.int64)), "fake_logits"),
    (lambda: gan.gradient_penalty(lambda x: x.sum(1), torch.zeros(4, 2), torch.zeros(4, 3)), "shape"),
    (lambda: gan.r1_penalty(lambda x: x.sum(), torch.zeros(4)), "real"),
    (lambda: gan.pack(torch.zeros(5, 2), 2), "divisible"),
    (lambda: gan.pack(torch.zeros(4, 2), 0), "m must"),
    (lambda: gan.mlp(2, 0, 1), "hidden"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_pack_concatenates_consecutive_samples():
    x = torch.arange(12.0).reshape(6, 2)
    torch.testing.assert_close(gan.pack(x, 3), torch.tensor([[0.0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]))


def test_mlp_shapes_and_spectral_norm():
    net = gan.mlp(3, 16, 2, depth=3, spectral=True, slope=0.2)
    assert net(torch.randn(5, 3)).shape == (5, 2)
    with torch.no_grad():
        net(torch.randn(5, 3))
        for layer in net:
            if isinstance(layer, torch.nn.Linear):
                assert torch.linalg.matrix_norm(layer.weight, ord=2) == pytest.approx(1.0, abs=0.05)


def test_train_gan_learns_a_one_dimensional_gaussian_and_records_snapshots():
    torch.manual_seed(0)
    g, d = gan.mlp(1, 16, 1, depth=2), gan.mlp(1, 16, 1, depth=2, slope=0.2)
    history = gan.train_gan(
        g, d, lambda n: 2.0 + 0.5 * torch.randn(n, 1),
        lambda net, real, fake: gan.discriminator_loss(net(real), net(fake)),
        lambda net, fake: gan.nonsaturating_generator_loss(net(fake)),
        steps=600, batch_size=256, latent_dim=1, lr=5e-3, snapshot_every=300, n_snapshot=2000,
        progress=False,
    )
    assert len(history.d_loss) == len(history.g_loss) == 600
    assert sorted(history.snapshots) == [0, 300, 600]
    final = history.snapshots[600][:, 0]
    # the mean of the generated samples moves from ~0 to the data mean 2 (±0.2 is
    # a loose band for 600 steps, but a generator that did not learn stays near 0)
    assert abs(final.mean().item() - 2.0) < 0.2


def test_train_gan_rejects_bad_arguments():
    g, d = gan.mlp(1, 4, 1), gan.mlp(1, 4, 1)
    with pytest.raises(ValueError, match="steps"):
        gan.train_gan(g, d, lambda n: torch.zeros(n, 1), None, None, steps=0, latent_dim=1)
    with pytest.raises(ValueError, match="lr"):
        gan.train_gan(g, d, lambda n: torch.zeros(n, 1), None, None, steps=1, latent_dim=1, lr=-1.0)


def test_dual_lp_with_lipschitz_bound_k_gives_k_times_w1():
    x, y, a, b = _two_measures(7)
    w1 = gan.transport_lp(x, y, a, b)[0]
    for k in (0.25, 2.0, 5.0):
        assert gan.kantorovich_dual_lp(x, y, a, b, lipschitz=k)[0] == pytest.approx(k * w1, abs=1e-8 * k)
    with pytest.raises(ValueError, match="lipschitz"):
        gan.kantorovich_dual_lp(x, y, a, b, lipschitz=0.0)


def test_generator_gradients_are_exact_beyond_the_softplus_threshold():
    # torch's F.softplus is linear above 20, which would make this gradient 1 instead of σ(25)
    logits = torch.tensor([25.0, -25.0, 40.0], dtype=torch.float64)
    d = torch.sigmoid(logits)
    torch.testing.assert_close(_logit_grad(gan.minimax_generator_loss, logits), -0.5 * d / 3,
                               rtol=1e-15, atol=0)
    # 1 - D computed as σ(-l): "1 - σ(l)" itself loses all digits at l = 40
    torch.testing.assert_close(_logit_grad(gan.nonsaturating_generator_loss, logits),
                               -0.5 * torch.sigmoid(-logits) / 3, rtol=1e-12, atol=0)


def test_w1_assignment_accepts_tensors_and_matches_scipy_in_one_dimension():
    from scipy.stats import wasserstein_distance

    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(300, 1, generator=g), 2 * torch.randn(300, 1, generator=g) + 1
    expected = wasserstein_distance(a[:, 0].numpy(), b[:, 0].numpy())
    assert gan.w1_assignment(a, b) == pytest.approx(expected, rel=1e-9)
    assert gan.w1_assignment(a.numpy(), b.numpy()) == gan.w1_assignment(a, b)
