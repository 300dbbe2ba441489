"""dlnotes.nn: the one MLP builder — widths, activations, norm and dropout layers, spectral norm."""
import pytest
import torch

from dlnotes.nn import ACTIVATIONS, mlp


def test_widths_and_layer_order():
    net = mlp(3, [16, 8], 2, activation="tanh")
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert [(l.in_features, l.out_features) for l in net if isinstance(l, torch.nn.Linear)] == [(3, 16), (16, 8), (8, 2)]
    assert net(torch.randn(5, 3)).shape == (5, 2)
    assert len(mlp(4, [], 1)) == 1  # one affine layer


def test_norm_and_dropout_sit_inside_each_hidden_layer():
    net = mlp(4, [8, 8], 3, norm=torch.nn.LayerNorm, dropout=0.5, activation="leaky_relu")
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Linear", "LayerNorm", "LeakyReLU", "Dropout"] * 2 + ["Linear"]
    assert net[2].negative_slope == 0.2


def test_spectral_norm_bounds_every_layer():
    net = mlp(3, [16, 16], 2, spectral=True)
    with torch.no_grad():
        net(torch.randn(5, 3))   # one power iteration per forward pass in training mode
        for layer in net:
            if isinstance(layer, torch.nn.Linear):
                assert torch.linalg.matrix_norm(layer.weight, ord=2) == pytest.approx(1.0, abs=0.05)


def test_same_seed_same_network():
    torch.manual_seed(0)
    a = mlp(2, [5], 1)
    torch.manual_seed(0)
    b = mlp(2, [5], 1)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("kwargs, match", [
    (dict(in_features=0), "in_features"),
    (dict(hidden=[4, 0]), "hidden"),
    (dict(out_features=-1), "out_features"),
    (dict(activation="sigmoidish"), "activation"),
    (dict(dropout=1.0), "dropout"),
])
def test_bad_arguments(kwargs, match):
    args = dict(in_features=2, hidden=[4], out_features=1) | kwargs
    with pytest.raises(ValueError, match=match):
        mlp(args.pop("in_features"), args.pop("hidden"), args.pop("out_features"), **args)


def test_every_named_activation_builds():
    for name in ACTIVATIONS:
        assert mlp(2, [3], 1, activation=name)(torch.zeros(1, 2)).shape == (1, 1)
