"""dlnotes.gan: losses and penalties against closed forms, packing, validation."""
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


@pytest.mark.parametrize("call, match", [
    (lambda: gan.discriminator_loss(torch.zeros(0), torch.zeros(3)), "real_logits"),
    (lambda: gan.nonsaturating_generator_loss(torch.zeros(3, dtype=torch.int64)), "fake_logits"),
    (lambda: gan.gradient_penalty(lambda x: x.sum(1), torch.zeros(4, 2), torch.zeros(4, 3)), "shape"),
    (lambda: gan.r1_penalty(lambda x: x.sum(), torch.zeros(4)), "real"),
    (lambda: gan.pack(torch.zeros(5, 2), 2), "divisible"),
    (lambda: gan.pack(torch.zeros(4, 2), 0), "m must"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_pack_concatenates_consecutive_samples():
    x = torch.arange(12.0).reshape(6, 2)
    torch.testing.assert_close(gan.pack(x, 3), torch.tensor([[0.0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]))


def test_generator_gradients_are_exact_beyond_the_softplus_threshold():
    # torch's F.softplus is linear above 20, which would make this gradient 1 instead of σ(25)
    logits = torch.tensor([25.0, -25.0, 40.0], dtype=torch.float64)
    d = torch.sigmoid(logits)
    torch.testing.assert_close(_logit_grad(gan.minimax_generator_loss, logits), -0.5 * d / 3,
                               rtol=1e-15, atol=0)
    # 1 - D computed as σ(-l): "1 - σ(l)" itself loses all digits at l = 40
    torch.testing.assert_close(_logit_grad(gan.nonsaturating_generator_loss, logits),
                               -0.5 * torch.sigmoid(-logits) / 3, rtol=1e-12, atol=0)