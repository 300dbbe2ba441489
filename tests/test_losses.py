"""dlnotes.losses against torch.nn.functional in float64, plus the bad-input contract."""
import math

import pytest
import torch
import torch.nn.functional as F

from dlnotes.losses import cross_entropy, entropy, log_softmax, softmax

# float64 on well-scaled inputs: the two implementations differ only in rounding order, so
# agreement to 1e-12 (a few thousand ulps of values of order 1–1000) is the right bar.
TOL = dict(rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
def test_log_softmax_matches_torch(scale):
    z = scale * torch.randn(16, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(log_softmax(z), F.log_softmax(z, dim=-1), **TOL)
    torch.testing.assert_close(log_softmax(z, dim=0), F.log_softmax(z, dim=0), **TOL)


def test_log_softmax_survives_huge_logits():
    z = torch.tensor([[1000.0, 999.0, -1000.0]])
    out = log_softmax(z)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, F.log_softmax(z, dim=-1))


def test_log_softmax_handles_masked_logits():
    z = torch.tensor([[0.0, -torch.inf, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(log_softmax(z), F.log_softmax(z, dim=-1), **TOL)


def test_log_softmax_gradcheck():
    z = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(log_softmax, (z,))


@pytest.mark.parametrize("temperature", [0.05, 1.0, 7.5])
def test_softmax_temperature(temperature):
    z = torch.randn(4, 6, dtype=torch.float64)
    torch.testing.assert_close(softmax(z, temperature=temperature), F.softmax(z / temperature, dim=-1), **TOL)


def test_softmax_limits():
    z = torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(softmax(z, temperature=1e-3), torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(softmax(z, temperature=1e6), torch.full((3,), 1 / 3, dtype=torch.float64),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_indices_matches_torch(reduction):
    g = torch.Generator().manual_seed(1)
    z = 50 * torch.randn(32, 10, dtype=torch.float64, generator=g)
    y = torch.randint(10, (32,), generator=g)
    torch.testing.assert_close(cross_entropy(z, y, reduction=reduction), F.cross_entropy(z, y, reduction=reduction), **TOL)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probabilities_matches_torch(reduction):
    g = torch.Generator().manual_seed(2)
    z = torch.randn(8, 4, dtype=torch.float64, generator=g)
    y = F.softmax(torch.randn(8, 4, dtype=torch.float64, generator=g), dim=-1)
    torch.testing.assert_close(cross_entropy(z, y, reduction=reduction), F.cross_entropy(z, y, reduction=reduction), **TOL)


def test_cross_entropy_one_hot_equals_index_targets():
    z = torch.randn(5, 3, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 1, 0])
    torch.testing.assert_close(cross_entropy(z, F.one_hot(y, 3).double()), cross_entropy(z, y), **TOL)


def test_cross_entropy_zero_probability_class_with_minus_inf_logit():
    z = torch.tensor([[0.0, -torch.inf]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    assert cross_entropy(z, y).item() == 0.0


def test_cross_entropy_gradient_is_softmax_minus_target():
    z = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    cross_entropy(z, y, reduction="sum").backward()
    torch.testing.assert_close(z.grad, F.softmax(z, -1).detach() - F.one_hot(y, 4).double(), **TOL)


def test_entropy():
    p = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([math.log(2.0), 0.0], dtype=torch.float64)
    torch.testing.assert_close(entropy(p), expected, **TOL)


@pytest.mark.parametrize("call, match", [
    (lambda: log_softmax([1.0, 2.0]), "torch.Tensor"),
    (lambda: log_softmax(torch.tensor([1, 2])), "floating"),
    (lambda: log_softmax(torch.tensor(1.0)), "dimension"),
    (lambda: softmax(torch.randn(3), temperature=0.0), "temperature"),
    (lambda: softmax(torch.randn(3), temperature=-1.0), "temperature"),
    (lambda: softmax(torch.randn(3), temperature=float("inf")), "temperature"),
    (lambda: cross_entropy(torch.randn(3), torch.tensor([0])), r"\(n, c\)"),
    (lambda: cross_entropy(torch.randn(2, 3), torch.tensor([0, 3])), r"\[0, 3\)"),
    (lambda: cross_entropy(torch.randn(2, 3), torch.tensor([0, -1])), r"\[0, 3\)"),
    (lambda: cross_entropy(torch.randn(2, 3), torch.tensor([0])), "shape"),
    (lambda: cross_entropy(torch.randn(2, 3), torch.rand(2, 3)), "sum to 1"),
    (lambda: cross_entropy(torch.randn(2, 3), torch.rand(2, 4)), "shape"),
    (lambda: cross_entropy(torch.randn(2, 3), torch.tensor([True, False])), "targets"),
    (lambda: cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), reduction="avg"), "reduction"),
    (lambda: entropy(torch.tensor([-0.5, 1.5])), ">= 0"),
])
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_temperature_is_keyword_only_and_dim_is_positional_everywhere():
    z = torch.randn(2, 3, 4, dtype=torch.float64)
    # the same positional argument means the same thing in the whole family: the dimension
    torch.testing.assert_close(softmax(z, 1), F.softmax(z, dim=1), **TOL)
    torch.testing.assert_close(log_softmax(z, 1), F.log_softmax(z, dim=1), **TOL)
    torch.testing.assert_close(log_softmax(z, 1, temperature=2.0), F.log_softmax(z / 2, dim=1), **TOL)
    with pytest.raises(TypeError):
        softmax(z, 1, 2.0)
    with pytest.raises(TypeError):
        cross_entropy(z[0], torch.tensor([0, 1]), "sum")


def test_fit_temperature_finds_the_temperature_that_generated_the_labels():
    # labels drawn from softmax(z / 2.5): the NLL-optimal temperature is 2.5 up to sampling
    # error (n = 20 000 gives an SE of a few per cent on T) and grid resolution (1.2 %)
    from dlnotes.losses import fit_temperature

    g = torch.Generator().manual_seed(0)
    z = 3 * torch.randn(20000, 5, dtype=torch.float64, generator=g)
    y = torch.multinomial(F.softmax(z / 2.5, dim=-1), 1, generator=g)[:, 0]
    t, grid, nll = fit_temperature(z, y)
    assert abs(t - 2.5) < 0.15 and nll.shape == grid.shape == (401,)
    with pytest.raises(ValueError, match="grid"):
        fit_temperature(z, y, grid=torch.tensor([1.0, -1.0]))
