"""dlnotes.norm against torch.nn in float64, the hand-derived gradient, and the bad-input contract."""
import pytest
import torch
import torch.nn.functional as F

from dlnotes.norm import (BatchNorm, LayerNorm, batch_norm, batch_norm_backward, dropout, dropout_mask,
                          layer_norm, mc_dropout_predict)

# float64, values of order 1: the two sides differ by rounding only, so 1e-12 (thousands of
# ulps) is far above rounding and far below any real mistake (a biased/unbiased mix-up is 1e-2).
TOL = dict(rtol=0, atol=1e-12)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(16, 5), (8, 3, 4, 4), (6, 3, 7)])
def test_batch_norm_equals_torch_in_both_modes_with_buffers(shape):
    g = _gen()
    ours, theirs = BatchNorm(shape[1], momentum=0.2).double(), {
        2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}[len(shape)](
        shape[1], momentum=0.2).double()
    with torch.no_grad():
        for m in (ours, theirs):
            m.weight.copy_(torch.linspace(0.5, 2, shape[1]))
            m.bias.copy_(torch.linspace(-1, 1, shape[1]))
    for _ in range(4):
        h = 3 * torch.randn(*shape, dtype=torch.float64, generator=g) + 2
        torch.testing.assert_close(ours(h), theirs(h), **TOL)
    torch.testing.assert_close(ours.running_mean, theirs.running_mean, **TOL)
    torch.testing.assert_close(ours.running_var, theirs.running_var, **TOL)
    ours.eval(), theirs.eval()
    h = torch.randn(*shape, dtype=torch.float64, generator=g)
    torch.testing.assert_close(ours(h), theirs(h), **TOL)


def test_batch_norm_eval_leaves_buffers_alone_and_uses_them():
    rm, rv = torch.tensor([1.0, -1.0]), torch.tensor([4.0, 0.25])
    h = torch.tensor([[3.0, 0.0]])     # a batch of one is fine in evaluation mode
    out = batch_norm(h, torch.ones(2), torch.zeros(2), rm, rv, training=False, eps=1e-12)
    torch.testing.assert_close(out, torch.tensor([[1.0, 2.0]]))
    assert rm.tolist() == [1.0, -1.0] and rv.tolist() == [4.0, 0.25]


@pytest.mark.parametrize("shape", [(7, 3), (4, 2, 3, 3)])
def test_batch_norm_backward_matches_autograd(shape):
    g = _gen(1)
    h = torch.randn(*shape, dtype=torch.float64, generator=g).requires_grad_()
    gamma = torch.randn(shape[1], dtype=torch.float64, generator=g).requires_grad_()
    beta = torch.randn(shape[1], dtype=torch.float64, generator=g).requires_grad_()
    grad_out = torch.randn(*shape, dtype=torch.float64, generator=g)
    batch_norm(h, gamma, beta).backward(grad_out)
    mine = batch_norm_backward(grad_out, h.detach(), gamma.detach())
    for a, b in zip(mine, (h.grad, gamma.grad, beta.grad)):
        torch.testing.assert_close(a, b, **TOL)


def test_batch_norm_gradcheck():
    h = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    gamma = torch.rand(3, dtype=torch.float64, requires_grad=True)
    beta = torch.rand(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: batch_norm(*t), (h, gamma, beta))


@pytest.mark.parametrize("shape, normalized", [((6, 5), (5,)), ((2, 3, 4), (4,)), ((2, 3, 4, 4), (3, 4, 4))])
def test_layer_norm_equals_torch(shape, normalized):
    g = _gen(2)
    h = 5 * torch.randn(*shape, dtype=torch.float64, generator=g) - 1
    gamma = torch.randn(*normalized, dtype=torch.float64, generator=g)
    beta = torch.randn(*normalized, dtype=torch.float64, generator=g)
    torch.testing.assert_close(layer_norm(h, gamma, beta), F.layer_norm(h, normalized, gamma, beta), **TOL)
    module = LayerNorm(shape[-1]).double()
    torch.testing.assert_close(module(h), F.layer_norm(h, (shape[-1],)), **TOL)


def test_layer_norm_does_not_mix_examples_but_batch_norm_does():
    g = _gen(3)
    h = torch.randn(8, 4, dtype=torch.float64, generator=g)
    other = h.clone()
    other[1:] = torch.randn(7, 4, dtype=torch.float64, generator=g)
    ones, zeros = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    assert torch.equal(layer_norm(h, ones, zeros)[0], layer_norm(other, ones, zeros)[0])
    assert not torch.allclose(batch_norm(h, ones, zeros)[0], batch_norm(other, ones, zeros)[0])


@pytest.mark.parametrize("call, match", [
    (lambda: batch_norm(torch.randn(1, 3), torch.ones(3), torch.zeros(3)), "more than one value"),
    (lambda: batch_norm(torch.randn(5), torch.ones(5), torch.zeros(5)), "shape \\(b, f\\)"),
    (lambda: batch_norm(torch.randn(2, 3, 4, 4, 4), torch.ones(3), torch.zeros(3)), "shape"),
    (lambda: batch_norm(torch.randn(4, 3), torch.ones(4), torch.zeros(4)), "gamma"),
    (lambda: batch_norm(torch.randn(4, 3), torch.ones(3), torch.zeros(3), training=False), "running_mean"),
    (lambda: batch_norm(torch.randn(4, 3), torch.ones(3), torch.zeros(3), momentum=1.5), "momentum"),
    (lambda: batch_norm(torch.randn(4, 3), torch.ones(3), torch.zeros(3), eps=0.0), "eps"),
    (lambda: batch_norm(torch.arange(6).reshape(3, 2), torch.ones(2), torch.zeros(2)), "floating"),
    (lambda: batch_norm_backward(torch.randn(4, 2), torch.randn(4, 3), torch.ones(3)), "grad_out"),
    (lambda: layer_norm(torch.randn(4, 3), torch.ones(4), torch.zeros(4)), "trailing shape"),
    (lambda: layer_norm(torch.randn(4, 3), torch.ones(3), torch.zeros(2)), "trailing shape"),
    (lambda: layer_norm(torch.randn(4, 3), torch.ones(3), torch.zeros(3), eps=-1.0), "eps"),
    (lambda: BatchNorm(0), "num_features"),
    (lambda: LayerNorm(2, eps=0), "eps"),
])
def test_normalisation_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_dropout_equals_torch_given_the_same_mask():
    h = torch.randn(64, 32, dtype=torch.float64, generator=_gen(4))
    torch.manual_seed(11)
    theirs = F.dropout(h, 0.3, training=True)
    mask = (theirs != 0).double()        # the mask F.dropout drew (h has no exact zeros)
    torch.testing.assert_close(dropout(h, 0.3, mask=mask), theirs, **TOL)
    assert torch.equal(dropout(h, 0.3, mask=mask, inverted=False), h * mask)
    assert torch.equal(dropout(h, 0.3, training=False), h)


def test_dropout_mask_keeps_one_minus_p_and_respects_the_generator():
    m = dropout_mask((200, 500), 0.3, generator=_gen(5))
    # mean of 1e5 Bernoulli(0.7): standard error sqrt(0.21/1e5) = 1.4e-3; allow 5 of them
    assert abs(m.mean().item() - 0.7) < 5 * (0.21 / 1e5) ** 0.5
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(m, dropout_mask((200, 500), 0.3, generator=_gen(5)))
    assert dropout_mask((3,), 0.0).sum() == 3


@pytest.mark.parametrize("call, match", [
    (lambda: dropout(torch.ones(3), 1.0), "p must be"),
    (lambda: dropout(torch.ones(3), -0.1), "p must be"),
    (lambda: dropout(torch.ones(3), True), "p must be"),
    (lambda: dropout(torch.ones(3), 0.5, mask=torch.ones(4)), "mask"),
    (lambda: dropout(torch.ones(3), 0.5, mask=torch.full((3,), 0.5)), "mask"),
    (lambda: dropout([1.0, 2.0], 0.5), "h must"),
    (lambda: dropout_mask((3,), 0.5, generator=0), "generator"),
    (lambda: mc_dropout_predict(torch.nn.Dropout(0.5), torch.ones(3), 0), "n_samples"),
    (lambda: mc_dropout_predict(torch.nn.Dropout(0.5), torch.ones(3, dtype=torch.long), 2), "x must"),
])
def test_dropout_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mc_dropout_predict_masks_only_dropout_and_restores_modes():
    net = torch.nn.Sequential(torch.nn.Linear(3, 50), torch.nn.BatchNorm1d(50), torch.nn.Dropout(0.5),
                              torch.nn.Linear(50, 2))
    net.train()
    x = torch.randn(4, 3)
    before = net[1].running_mean.clone()
    out = mc_dropout_predict(net, x, 20, transform=lambda z: z.softmax(-1))
    assert out.shape == (20, 4, 2)
    torch.testing.assert_close(out.sum(-1), torch.ones(20, 4))
    assert not torch.allclose(out[0], out[1])            # fresh masks on every pass
    assert torch.equal(net[1].running_mean, before)     # batch norm stayed in evaluation mode
    assert all(m.training for m in net.modules())       # modes restored
    net.eval()
    mc_dropout_predict(net, x, 2)
    assert not any(m.training for m in net.modules())
