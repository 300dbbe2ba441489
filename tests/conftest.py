"""Shared test set-up: a headless matplotlib backend and one thread per xdist worker."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

if "PYTEST_XDIST_WORKER" in os.environ:
    # Two workers on two cores: one BLAS/OpenMP thread each, for the workers and for the
    # notebook kernels that nbval starts from them (they inherit this environment).
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
