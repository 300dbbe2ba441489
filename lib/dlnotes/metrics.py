"""Classification metrics the chapters report: accuracy, confusion matrix, calibration."""
from __future__ import annotations

from typing import NamedTuple

import torch

from ._checks import positive_int

__all__ = ["accuracy", "confusion_matrix", "Calibration", "calibration"]


def _labels(name: str, x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 1 or x.is_floating_point():
        raise ValueError(f"{name} must be a 1-D integer tensor")
    return x


def accuracy(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of ``predictions (n,)`` equal to ``targets (n,)``, for n >= 1."""
    _labels("predictions", predictions)
    _labels("targets", targets)
    if len(predictions) != len(targets) or len(targets) == 0:
        raise ValueError("predictions and targets must have the same non-zero length")
    return (predictions == targets).double().mean().item()


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Counts ``C[i, j]`` of examples of true class ``i`` predicted as ``j``.

    Returns
    -------
    torch.Tensor
        ``(n_classes, n_classes)`` int64; rows sum to the class frequencies.
    """
    _labels("predictions", predictions)
    _labels("targets", targets)
    if len(predictions) != len(targets):
        raise ValueError("predictions and targets must have the same length")
    positive_int("n_classes", n_classes)
    for name, t in (("predictions", predictions), ("targets", targets)):
        if len(t) and (t.min() < 0 or t.max() >= n_classes):
            raise ValueError(f"{name} must lie in [0, {n_classes})")
    flat = targets.long().cpu() * n_classes + predictions.long().cpu()
    return torch.bincount(flat, minlength=n_classes**2).reshape(n_classes, n_classes)


class Calibration(NamedTuple):
    """Reliability-diagram data: per confidence bin, the mean confidence, the accuracy and
    the count (``(n_bins,)`` each; empty bins hold NaN), and the expected calibration error
    ``ECE = Σ_b (n_b / n) |acc_b − conf_b|``."""

    confidence: torch.Tensor
    accuracy: torch.Tensor
    count: torch.Tensor
    ece: float


def calibration(probs: torch.Tensor, targets: torch.Tensor, n_bins: int = 10) -> Calibration:
    """Bin the top-class confidence of ``probs (n, c)`` into ``n_bins`` equal-width bins of
    [0, 1] and compare it with the accuracy in each bin (Guo et al., 2017)."""
    if not isinstance(probs, torch.Tensor) or probs.dim() != 2 or not probs.is_floating_point():
        raise ValueError("probs must be a floating tensor of shape (n, c)")
    _labels("targets", targets)
    if len(targets) != len(probs) or len(probs) == 0:
        raise ValueError("probs and targets must have the same non-zero length")
    positive_int("n_bins", n_bins)
    probs, targets = probs.detach().double().cpu(), targets.cpu()
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == targets).double()
    # bin b holds confidences in (b/n_bins, (b+1)/n_bins]; confidence 0 cannot occur
    bins = (confidence * n_bins).ceil().long().clamp(1, n_bins) - 1
    count = torch.bincount(bins, minlength=n_bins)
    conf_sum = torch.bincount(bins, weights=confidence, minlength=n_bins)
    acc_sum = torch.bincount(bins, weights=correct, minlength=n_bins)
    safe = count.clamp(min=1).double()
    empty = count == 0
    mean_conf = torch.where(empty, torch.nan, conf_sum / safe)
    mean_acc = torch.where(empty, torch.nan, acc_sum / safe)
    ece = ((acc_sum - conf_sum).abs().sum() / len(probs)).item()
    return Calibration(mean_conf, mean_acc, count, ece)

