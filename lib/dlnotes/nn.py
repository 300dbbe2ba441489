"""Building blocks shared by the chapters: one :func:`mlp` builder and the layers it stacks.

Every fully connected network of the book comes from :func:`mlp`, whose arguments mean the same
thing everywhere: ``mlp(in_features, hidden, out_features)`` with ``hidden`` the list of hidden
widths, so ``mlp(2, [64, 64, 64], 1)`` has four linear layers and three activations.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ._checks import positive_int

__all__ = ["ACTIVATIONS", "mlp"]

#: The activations :func:`mlp` accepts by name.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
}


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    *,
    activation: str = "relu",
    norm: Callable[[int], nn.Module] | None = None,
    dropout: float = 0.0,
    spectral: bool = False,
) -> nn.Sequential:
    """A fully connected network ``in_features → hidden[0] → … → hidden[-1] → out_features``.

    Each hidden layer is ``Linear → [norm] → activation → [dropout]``; the output layer is a
    bare ``Linear`` (logits, scores or means: the caller applies what the output means).

    Parameters
    ----------
    in_features, out_features : int
        Widths of the input ``x (..., in_features)`` and the output ``(..., out_features)``, >= 1.
    hidden : sequence of int
        Hidden widths, each >= 1; ``[]`` gives one affine layer.
    activation : str
        One of :data:`ACTIVATIONS`: ``"relu"``, ``"leaky_relu"`` (slope 0.2), ``"tanh"``,
        ``"silu"``, ``"gelu"``, ``"elu"``.
    norm : callable, optional
        ``norm(width) -> nn.Module`` inserted after every hidden linear layer, e.g.
        ``torch.nn.BatchNorm1d`` or ``torch.nn.LayerNorm``.
    dropout : float
        Dropout probability after every hidden activation, in [0, 1).
    spectral : bool
        Wrap every linear layer in spectral normalisation (Miyato et al., 2018).

    Returns
    -------
    torch.nn.Sequential
        On the CPU, in float32; move it with ``.to(device)``.
    """
    positive_int("in_features", in_features)
    positive_int("out_features", out_features)
    hidden = list(hidden)
    for width in hidden:
        positive_int("hidden widths", width)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    widths = [in_features, *hidden, out_features]
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        linear = nn.Linear(a, b)
        layers.append(nn.utils.parametrizations.spectral_norm(linear) if spectral else linear)
        if k < len(hidden):
            if norm is not None:
                layers.append(norm(b))
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
