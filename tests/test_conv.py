"""dlnotes.conv against torch.nn.functional in float64, shift identities, and bad inputs."""
import pytest
import torch
import torch.nn.functional as F

from dlnotes.conv import CausalConvStack, causal_conv1d, conv2d, parameter_counts, receptive_field, shift2d

# float64, values of order 1, sums of at most a few hundred products: rounding is ~1e-14, so
# 1e-12 is far above rounding and far below a wrong index (an off-by-one tap is order 1).
TOL = dict(rtol=0, atol=1e-12)


def _randn(*shape, seed=0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), ((2, 1), (1, 3), (1, 2))])
def test_conv2d_equals_torch(stride, padding, dilation):
    x, w, b = _randn(2, 3, 11, 9), _randn(4, 3, 3, 2, seed=1), _randn(4, seed=2)
    ours = conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    torch.testing.assert_close(ours, F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation), **TOL)


def test_conv2d_circular_equals_torch_module():
    x = _randn(1, 2, 8, 8)
    layer = torch.nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular").double()
    torch.testing.assert_close(conv2d(x, layer.weight, layer.bias, padding=1, padding_mode="circular"),
                               layer(x), **TOL)


def test_conv2d_is_not_a_convolution_without_the_flip():
    x, w = _randn(1, 1, 6, 6), _randn(1, 1, 3, 3, seed=1)
    assert (conv2d(x, w) - conv2d(x, w.flip(-2, -1))).abs().max() > 1e-3


def test_conv2d_bad_inputs():
    x, w = _randn(1, 2, 5, 5), _randn(3, 2, 3, 3)
    with pytest.raises(ValueError, match="x must be"):
        conv2d(x[0], w)
    with pytest.raises(ValueError, match="weight must be"):
        conv2d(x, w[:, :1])
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x, _randn(3, 2, 7, 3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x, w, dilation=3)
    with pytest.raises(ValueError, match="dilation"):
        conv2d(x, w, dilation=0)
    with pytest.raises(ValueError, match="stride"):
        conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="padding_mode"):
        conv2d(x, w, padding_mode="reflect")
    with pytest.raises(ValueError, match="bias"):
        conv2d(x, w, torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="floating"):
        conv2d(x.long(), w)


def test_parameter_counts():
    c = parameter_counts(4, 5, 1)
    assert c == {"general": 20 * 20 + 20, "shared": 7 * 9 + 1, "local": 10}
    with pytest.raises(ValueError, match="delta"):
        parameter_counts(4, 5, -1)
    with pytest.raises(ValueError, match="height"):
        parameter_counts(0, 5, 1)


def test_shift2d_zero_fill_and_circular():
    x = torch.arange(12.0).reshape(3, 4)
    y = shift2d(x, 1, -1)
    assert y[1, 0] == x[0, 1] and (y[0] == 0).all() and (y[:, -1] == 0).all()
    assert torch.equal(shift2d(x, 2, 3, circular=True), torch.roll(x, (2, 3), (0, 1)))
    assert (shift2d(x, 5, 0) == 0).all()
    with pytest.raises(ValueError, match="down"):
        shift2d(x, 1.5, 0)
    with pytest.raises(ValueError, match="x must have at least 2"):
        shift2d(torch.zeros(3), 1, 0)


@pytest.mark.parametrize("dilation", [1, 3])
def test_causal_conv1d_is_left_padded_torch_conv(dilation):
    x, w, b = _randn(2, 3, 20), _randn(4, 3, 3, seed=1), _randn(4, seed=2)
    # PyTorch correlates (tap a meets x[t + d·a] of the padded input), our tap i' looks i' steps
    # back: the two agree after flipping the kernel along time.
    ref = F.conv1d(F.pad(x, (dilation * 2, 0)), w.flip(-1), b, dilation=dilation)
    torch.testing.assert_close(causal_conv1d(x, w, b, dilation=dilation), ref, **TOL)


def test_causal_conv1d_never_sees_the_future():
    x = _randn(1, 2, 16).requires_grad_()
    out = causal_conv1d(x, _randn(3, 2, 4, seed=1), dilation=2)
    out[0, :, 7].sum().backward()
    assert (x.grad[0, :, 8:] == 0).all() and (x.grad[0, :, :8].abs().sum() > 0)


def test_causal_conv1d_bad_inputs():
    x, w = _randn(1, 2, 8), _randn(3, 2, 2)
    with pytest.raises(ValueError, match="x must be"):
        causal_conv1d(x[0], w)
    with pytest.raises(ValueError, match="weight must be"):
        causal_conv1d(x, _randn(3, 1, 2))
    with pytest.raises(ValueError, match="dilation"):
        causal_conv1d(x, w, dilation=0)
    with pytest.raises(ValueError, match="bias"):
        causal_conv1d(x, w, torch.zeros(2, dtype=torch.float64))


def test_receptive_field():
    assert receptive_field(2, [1, 2, 4, 8]) == 16
    assert receptive_field(3, [1, 1]) == 5
    with pytest.raises(ValueError, match="dilations"):
        receptive_field(2, [])
    with pytest.raises(ValueError, match="dilations"):
        receptive_field(2, [1, 0])
    with pytest.raises(ValueError, match="kernel_size"):
        receptive_field(0, [1])


def test_causal_stack_support_is_the_receptive_field():
    torch.manual_seed(0)
    net = CausalConvStack(1, 4, 1, kernel_size=3, dilations=[1, 2, 4]).double()
    with torch.no_grad():                     # positive weights: no accidental cancellation of a path
        for p in net.parameters():
            p.copy_(p.abs() + 0.1)
    x = (torch.rand(1, 1, 40, dtype=torch.float64) + 0.1).requires_grad_()   # positive: no dead ReLU
    net(x)[0, 0, 30].backward()
    support = (x.grad[0, 0] != 0).nonzero().flatten()
    assert net.receptive_field == 15
    assert support.min() == 30 - 14 and support.max() == 30 and len(support) == 15


def test_causal_stack_bad_inputs():
    with pytest.raises(ValueError, match="hidden"):
        CausalConvStack(1, 0, 1)
    with pytest.raises(ValueError, match="dilations"):
        CausalConvStack(1, 4, 1, dilations=[1, 0])
    with pytest.raises(ValueError, match="x must be"):
        CausalConvStack(2, 4, 1)(torch.zeros(1, 1, 8))
