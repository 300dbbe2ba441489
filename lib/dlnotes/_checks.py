"""Input validation shared by the public functions (raises ``ValueError``)."""
from __future__ import annotations

import math

import numpy as np
import torch


def floating_tensor(name: str, x: object, min_dim: int = 1) -> torch.Tensor:
    """Return ``x`` if it is a floating-point tensor with at least ``min_dim`` dimensions."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got shape {tuple(x.shape)}")
    return x


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def positive_number(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def positive_tensor(name: str, x: object) -> torch.Tensor:
    """Return ``x`` if it is a floating tensor (any rank) with every entry > 0 (e.g. a σ)."""
    floating_tensor(name, x, min_dim=0)
    if not bool((x > 0).all()):
        raise ValueError(f"{name} must be > 0 everywhere (a standard deviation), got min {x.min().item():.3g}")
    return x
