"""Convolutions from locality and weight sharing: the chapter module of Part 2.

The notes' CONVOLUTION section ends with the local, shared layer

    h[i, j] = u + sum_{k1=-Δ}^{Δ} sum_{k2=-Δ}^{Δ} W[k1, k2] x[i + k1, j + k2],

which is a *cross-correlation* (the input index moves with the kernel index). :func:`conv2d`
implements it with channels, stride, padding and dilation, summing over kernel offsets only, so
that the code reads like the equation; :func:`parameter_counts` counts the weights of the
notes' three layers; :func:`shift2d` moves an image with zero fill or wrap-around, for the
equivariance checks; :func:`causal_conv1d`, :func:`receptive_field` and :class:`CausalConvStack`
serve the dilated and causal sections.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import floating_tensor, positive_int

__all__ = ["conv2d", "parameter_counts", "shift2d", "causal_conv1d", "receptive_field", "CausalConvStack"]

_PADDING_MODES = ("zeros", "circular")


def _pair(name: str, value: object, minimum: int) -> tuple[int, int]:
    values = value if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return positive_int(name, values[0], minimum), positive_int(name, values[1], minimum)


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """2-D cross-correlation with channels, the notes' local shared layer (CONVOLUTION, last formula).

    With the input padded by ``p`` and kernel offsets counted from 0 (``a = k1 + Δ``),

    ``h[n, o, i, j] = u[o] + Σ_c Σ_a Σ_b W[o, c, a, b] · x_pad[n, c, s·i + d·a, s·j + d·b]``,

    the same function as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : torch.Tensor
        Input ``(batch, c_in, H, W)``.
    weight : torch.Tensor
        Kernel ``(c_out, c_in, K1, K2)``, same dtype and device as ``x``.
    bias : torch.Tensor, optional
        ``u``, shape ``(c_out,)``.
    stride, padding, dilation : int or pair of int
        ``s >= 1``, ``p >= 0``, ``d >= 1`` (rows, columns).
    padding_mode : str
        ``"zeros"`` or ``"circular"`` (wrap-around, the torus on which shifts commute exactly).

    Returns
    -------
    torch.Tensor
        ``(batch, c_out, H_out, W_out)`` with ``H_out = (H + 2p - d(K1 - 1) - 1) // s + 1``.
    """
    floating_tensor("x", x)
    floating_tensor("weight", weight)
    if x.dim() != 4:
        raise ValueError(f"x must be (batch, c_in, H, W), got shape {tuple(x.shape)}")
    if weight.dim() != 4 or weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight must be (c_out, {x.shape[1]}, K1, K2), got shape {tuple(weight.shape)}")
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (weight.shape[0],)):
        raise ValueError(f"bias must be a tensor of shape ({weight.shape[0]},)")
    (s1, s2), (p1, p2), (d1, d2) = _pair("stride", stride, 1), _pair("padding", padding, 0), _pair("dilation", dilation, 1)
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
    k1, k2 = weight.shape[2:]
    span1, span2 = d1 * (k1 - 1) + 1, d2 * (k2 - 1) + 1           # the dilated kernel's extent
    if span1 > x.shape[2] + 2 * p1 or span2 > x.shape[3] + 2 * p2:
        raise ValueError(f"the dilated kernel ({span1}x{span2}) is larger than the padded input "
                         f"({x.shape[2] + 2 * p1}x{x.shape[3] + 2 * p2})")
    x = F.pad(x, (p2, p2, p1, p1), mode="constant" if padding_mode == "zeros" else "circular")
    h_out, w_out = (x.shape[2] - span1) // s1 + 1, (x.shape[3] - span2) // s2 + 1
    out = x.new_zeros(x.shape[0], weight.shape[0], h_out, w_out)
    for a in range(k1):                                            # one kernel offset at a time
        for b in range(k2):
            patch = x[:, :, d1 * a : d1 * a + s1 * (h_out - 1) + 1 : s1, d2 * b : d2 * b + s2 * (w_out - 1) + 1 : s2]
            out = out + torch.einsum("oc,nchw->nohw", weight[:, :, a, b], patch)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def parameter_counts(height: int, width: int, delta: int) -> dict[str, int]:
    """Weights and biases of the notes' three layers for one ``height x width`` channel.

    Parameters
    ----------
    height, width : int
        Image size, >= 1.
    delta : int
        Locality range Δ >= 0 (kernel ``(2Δ+1) x (2Δ+1)``).

    Returns
    -------
    dict
        ``"general"``: ``W[i, j, k1, k2]`` and ``u[i, j]`` (every output pixel sees every input
        pixel): ``(HW)^2 + HW``; ``"shared"``: shift equivariance, ``W[k1, k2]`` over all
        offsets ``|k1| < H``, ``|k2| < W``, and one ``u``: ``(2H-1)(2W-1) + 1``; ``"local"``:
        locality as well: ``(2Δ+1)^2 + 1``.
    """
    positive_int("height", height)
    positive_int("width", width)
    positive_int("delta", delta, 0)
    n = height * width
    return {"general": n * n + n, "shared": (2 * height - 1) * (2 * width - 1) + 1, "local": (2 * delta + 1) ** 2 + 1}


def shift2d(x: torch.Tensor, down: int, right: int, *, circular: bool = False) -> torch.Tensor:
    """Move an image ``down`` rows and ``right`` columns: ``y[..., i, j] = x[..., i - down, j - right]``.

    Parameters
    ----------
    x : torch.Tensor
        ``(..., H, W)``, at least 2-D.
    down, right : int
        Shift in pixels (negative: up, left).
    circular : bool
        Wrap around (``torch.roll``); otherwise the pixels that enter are zeros.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.
    """
    floating_tensor("x", x, min_dim=2)
    for name, value in (("down", down), ("right", right)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if circular:
        return torch.roll(x, shifts=(down, right), dims=(-2, -1))
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    if abs(down) >= h or abs(right) >= w:
        return out
    src_r, dst_r = slice(max(0, -down), h - max(0, down)), slice(max(0, down), h - max(0, -down))
    src_c, dst_c = slice(max(0, -right), w - max(0, right)), slice(max(0, right), w - max(0, -right))
    out[..., dst_r, dst_c] = x[..., src_r, src_c]
    return out


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                  dilation: int = 1) -> torch.Tensor:
    """Causal 1-D convolution, the notes' second CAUSAL CONVOLUTION formula (with dilation d).

    ``H[n, o, t] = u[o] + Σ_z Σ_{i'=0}^{K-1} W[o, z, i'] · X[n, z, t - d·i']``, with ``X = 0``
    before the start (left padding by ``d(K-1)``), so ``H[t]`` never sees ``X[s]`` for ``s > t``.
    Tap ``i'`` reaches ``i'`` steps back: ``W[..., 0]`` multiplies the current input.

    Parameters
    ----------
    x : torch.Tensor
        ``(batch, c_in, T)``.
    weight : torch.Tensor
        ``(c_out, c_in, K)``.
    bias : torch.Tensor, optional
        ``(c_out,)``.
    dilation : int
        ``d >= 1``.

    Returns
    -------
    torch.Tensor
        ``(batch, c_out, T)``, aligned with the input.
    """
    floating_tensor("x", x)
    floating_tensor("weight", weight)
    if x.dim() != 3:
        raise ValueError(f"x must be (batch, c_in, T), got shape {tuple(x.shape)}")
    if weight.dim() != 3 or weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight must be (c_out, {x.shape[1]}, K), got shape {tuple(weight.shape)}")
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (weight.shape[0],)):
        raise ValueError(f"bias must be a tensor of shape ({weight.shape[0]},)")
    d = positive_int("dilation", dilation)
    k, t = weight.shape[2], x.shape[2]
    padded = F.pad(x, (d * (k - 1), 0))
    out = x.new_zeros(x.shape[0], weight.shape[0], t)
    for tap in range(k):                                           # tap i' looks d·i' steps back
        start = d * (k - 1 - tap)
        out = out + torch.einsum("oz,nzt->not", weight[:, :, tap], padded[:, :, start : start + t])
    return out if bias is None else out + bias.view(1, -1, 1)


def receptive_field(kernel_size: int, dilations: list[int]) -> int:
    """Receptive field of a stack of stride-1 convolutions: ``1 + (K - 1) Σ_l d_l``.

    Parameters
    ----------
    kernel_size : int
        ``K >= 1``, the same for every layer.
    dilations : list of int
        ``d_l >= 1`` per layer (e.g. ``[1, 2, 4, 8]``).

    Returns
    -------
    int
        Number of input positions one output depends on.
    """
    k = positive_int("kernel_size", kernel_size)
    if not isinstance(dilations, (list, tuple)) or not dilations:
        raise ValueError("dilations must be a non-empty list of ints")
    return 1 + (k - 1) * sum(positive_int("dilations", d) for d in dilations)


class CausalConvStack(nn.Module):
    """A stack of dilated causal convolutions (WaveNet-style; van den Oord et al., 2016).

    Layer ``l`` is ``nn.Conv1d`` with kernel ``K`` and dilation ``d_l`` applied to its input
    left-padded by ``d_l (K - 1)`` zeros (the notes' second CAUSAL CONVOLUTION formula), then
    ReLU; from the second layer on the result is added to the layer's input (residual). A 1x1
    convolution reads the last hidden map out. Output ``t`` depends on inputs ``t - R + 1 … t``
    only, with ``R = 1 + (K - 1) Σ_l d_l`` (:attr:`receptive_field`).

    Parameters
    ----------
    in_channels, hidden, out_channels : int
        Channels of the input ``(batch, in_channels, T)``, of every hidden map and of the output.
    kernel_size : int
        ``K >= 1``.
    dilations : sequence of int
        ``d_l >= 1`` per layer, e.g. ``(1, 2, 4, 8)``.
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int, *, kernel_size: int = 2,
                 dilations: tuple[int, ...] | list[int] = (1, 2, 4, 8)) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("hidden", hidden), ("out_channels", out_channels)):
            positive_int(name, value)
        self.receptive_field = receptive_field(kernel_size, list(dilations))
        widths = [in_channels] + [hidden] * len(dilations)
        self.convs = nn.ModuleList(nn.Conv1d(a, hidden, kernel_size, dilation=d)
                                   for a, d in zip(widths[:-1], dilations))
        self.readout = nn.Conv1d(hidden, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (batch, in_channels, T)`` → ``(batch, out_channels, T)``, causal in ``T``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[1] != self.convs[0].in_channels:
            raise ValueError(f"x must be (batch, {self.convs[0].in_channels}, T), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        h = x
        for k, conv in enumerate(self.convs):
            pad = conv.dilation[0] * (conv.kernel_size[0] - 1)
            out = torch.relu(conv(F.pad(h, (pad, 0))))      # left padding only: no future input
            h = out if k == 0 else h + out
        return self.readout(h)
