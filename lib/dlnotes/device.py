"""Where tensors live, and how every chapter makes its randomness repeatable.

This module is the only place in :mod:`dlnotes` that chooses a device.
"""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["get_device", "seed_everything"]


def get_device() -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then the CPU.

    Returns
    -------
    torch.device
        ``cuda`` if a CUDA GPU is visible, else ``mps`` if Apple's Metal backend is
        available, else ``cpu``.
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's generators (all devices) with ``seed``.

    Parameters
    ----------
    seed : int
        A non-negative integer below 2**32.

    Returns
    -------
    torch.Generator
        A CPU generator seeded with ``seed``, for code that wants its own stream.

    Raises
    ------
    ValueError
        If ``seed`` is not an integer in [0, 2**32).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA/MPS device too
    return torch.Generator().manual_seed(seed)
