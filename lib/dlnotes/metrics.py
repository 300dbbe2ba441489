"""Metrics that more than one chapter reports.

* classification: :func:`accuracy`, :func:`confusion_matrix`, :func:`calibration`,
  :func:`label_entropy`, and :func:`auroc` (how well a score separates two groups, e.g. an
  uncertainty separating wrong predictions from right ones);
* samples of a generative model: mode coverage on Gaussian mixtures (:func:`mode_metrics`),
  exact Wasserstein-1 distances between discrete measures (:func:`w1_assignment`,
  :func:`transport_lp`, :func:`kantorovich_dual_lp`), and a memorisation test
  (:func:`nearest_neighbour_ratio`);
* language models: :func:`char_cross_entropy` (nats per character of any model with the
  ``model(codes) -> (logits, state)`` interface, recurrent or transformer).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ._checks import floating_tensor, positive_int, positive_number

__all__ = ["accuracy", "confusion_matrix", "Calibration", "calibration", "label_entropy", "auroc",
           "ModeStats", "mode_metrics", "transport_lp", "kantorovich_dual_lp", "w1_assignment",
           "NearestNeighbours", "nearest_neighbour_ratio", "char_cross_entropy"]


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


def label_entropy(labels: torch.Tensor, n_classes: int) -> float:
    """Entropy in nats of the empirical class histogram of ``labels (n,)`` over ``n_classes``.

    ``log n_classes`` when every class is equally frequent, 0 when all labels agree: applied to
    a classifier's labels for generated samples it measures how evenly a model covers classes.
    """
    _labels("labels", labels)
    positive_int("n_classes", n_classes)
    if len(labels) == 0 or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be a non-empty tensor of classes in [0, {n_classes})")
    p = torch.bincount(labels.cpu(), minlength=n_classes).double() / len(labels)
    return float(-torch.special.xlogy(p, p).sum())


def auroc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores (n,)`` as a detector of ``labels (n,) == 1``.

    Computed as the Mann–Whitney statistic: the probability that a random positive scores
    higher than a random negative, ties counting one half (0.5 for an uninformative score,
    1 for a perfect one).

    Parameters
    ----------
    scores : torch.Tensor
        ``(n,)`` floating scores, larger meaning "more likely positive".
    labels : torch.Tensor
        ``(n,)`` integer or boolean labels in {0, 1}, with both classes present.

    Returns
    -------
    float
    """
    floating_tensor("scores", scores)
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.shape != scores.shape \
            or scores.dim() != 1:
        raise ValueError("scores and labels must be 1-D tensors of the same length, labels integer or bool")
    labels = labels.long().cpu()
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise ValueError("labels must be 0 or 1")
    n_pos, n_neg = int(labels.sum()), int((labels == 0).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("labels must contain both classes")
    s = scores.detach().double().cpu()
    greater = (s[labels == 1][:, None] > s[labels == 0][None, :]).double().sum()
    ties = (s[labels == 1][:, None] == s[labels == 0][None, :]).double().sum()
    return ((greater + 0.5 * ties) / (n_pos * n_neg)).item()


class ModeStats(NamedTuple):
    """Mode-collapse metrics of samples from a mixture of isotropic Gaussians.

    ``modes`` is the number of centres with at least ``min_count`` high-quality samples,
    ``hq_fraction`` the share of samples within ``3σ`` of their nearest centre, ``counts``
    the ``(k,)`` int64 number of high-quality samples nearest to each centre.
    """

    modes: int
    hq_fraction: float
    counts: torch.Tensor


def mode_metrics(
    samples: torch.Tensor, centres: torch.Tensor, std: float, *, radius: float = 3.0,
    min_count: int = 10,
) -> ModeStats:
    """Count covered modes and high-quality samples (VEEGAN/PacGAN protocol).

    A sample is *high quality* if it lies within ``radius · std`` of its nearest centre; a
    mode is *covered* if at least ``min_count`` high-quality samples have it as nearest
    centre (Srivastava et al., 2017; Lin et al., 2018, with 2 500 samples).

    Parameters
    ----------
    samples : torch.Tensor
        ``(n, d)`` generated samples, ``n >= 1``.
    centres : torch.Tensor
        ``(k, d)`` mixture centres.
    std : float
        Standard deviation ``σ > 0`` of each mixture component.
    radius : float
        Quality radius in units of ``σ`` (3 in the papers).
    min_count : int
        High-quality samples a mode needs to count as covered (10 in the papers).

    Returns
    -------
    ModeStats
    """
    for name, x in (("samples", samples), ("centres", centres)):
        floating_tensor(name, x)
        if x.numel() == 0:
            raise ValueError(f"{name} must not be empty")
    if samples.dim() != 2 or centres.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples (n, d) and centres (k, d) must share d, got {tuple(samples.shape)} "
                         f"and {tuple(centres.shape)}")
    std = positive_number("std", std)
    radius = positive_number("radius", radius)
    positive_int("min_count", min_count)
    x = samples.detach().double().cpu()
    c = centres.detach().double().cpu()
    distance, nearest = torch.cdist(x, c).min(dim=1)
    good = distance <= radius * std
    counts = torch.bincount(nearest[good], minlength=len(c))
    return ModeStats(int((counts >= min_count).sum()), good.double().mean().item(), counts)


def _measure(name: str, w: object, n: int) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,) or n == 0:
        raise ValueError(f"{name} must be a non-empty vector of {n} weights, got shape {w.shape}")
    if (w < 0).any() or abs(w.sum() - 1) > 1e-9:
        raise ValueError(f"{name} must be >= 0 and sum to 1, got sum {w.sum()!r}")
    return w


def _cost(x: object, y: object) -> np.ndarray:
    from scipy.spatial.distance import cdist

    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu()
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    for name, v in (("x", x), ("y", y)):
        if v.ndim != 2 or len(v) == 0:
            raise ValueError(f"{name} must have shape (n, d) with n >= 1, got {v.shape}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must share the dimension d, got {x.shape} and {y.shape}")
    return cdist(x, y)  # Euclidean ground metric, (n, m)


def transport_lp(x: object, y: object, a: object, b: object) -> tuple[float, np.ndarray]:
    """Primal optimal transport: ``W1 = min_{π ≥ 0} Σ_ij π_ij ‖x_i - y_j‖`` with marginals a, b.

    Solved exactly (to the LP solver's tolerance) with ``scipy.optimize.linprog`` (HiGHS).

    Parameters
    ----------
    x : array_like
        ``(n, d)`` support of the first measure.
    y : array_like
        ``(m, d)`` support of the second.
    a, b : array_like
        ``(n,)`` and ``(m,)`` weights, non-negative, each summing to 1.

    Returns
    -------
    w1 : float
        The optimal cost.
    plan : numpy.ndarray
        ``(n, m)`` optimal coupling π.
    """
    from scipy.optimize import linprog

    cost = _cost(x, y)
    n, m = cost.shape
    a, b = _measure("a", a, n), _measure("b", b, m)
    rows = np.kron(np.eye(n), np.ones((1, m)))           # Σ_j π_ij = a_i
    cols = np.kron(np.ones((1, n)), np.eye(m))           # Σ_i π_ij = b_j
    res = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([a, b]),
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"transport LP failed: {res.message}")
    return float(res.fun), res.x.reshape(n, m)


def kantorovich_dual_lp(
    x: object, y: object, a: object, b: object, lipschitz: float = 1.0
) -> tuple[float, np.ndarray]:
    """Kantorovich–Rubinstein dual: ``max Σ_i a_i f(x_i) - Σ_j b_j f(y_j)`` over K-Lipschitz f.

    The unknowns are the values of ``f`` on the union of the supports; the constraints are
    ``f(p) - f(q) ≤ K ‖p - q‖`` for every ordered pair of support points, which is exactly
    K-Lipschitz on the support (and any such f extends to all of ``R^d`` by McShane's
    formula). With ``K = 1`` the optimum is ``W1``; with general ``K`` it is ``K · W1``.
    Solved with ``scipy.optimize.linprog`` (HiGHS); ``f`` is fixed to 0 at the first point,
    since adding a constant changes nothing.

    Parameters
    ----------
    x, y, a, b
        As in :func:`transport_lp`.
    lipschitz : float
        The Lipschitz bound ``K > 0`` (1 for the Kantorovich–Rubinstein duality).

    Returns
    -------
    w1 : float
        The optimal dual value (``K · W1``).
    f : numpy.ndarray
        ``(n + m,)`` values of the optimal critic on ``x`` then ``y``.
    """
    from scipy.optimize import linprog

    _cost(x, y)
    lipschitz = positive_number("lipschitz", lipschitz)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    a, b = _measure("a", a, len(x)), _measure("b", b, len(y))
    points = np.vstack([x, y])
    k = len(points)
    dist = np.linalg.norm(points[:, None] - points[None], axis=-1)
    i, j = np.where(~np.eye(k, dtype=bool))
    constraints = np.zeros((len(i), k))
    constraints[np.arange(len(i)), i] = 1.0
    constraints[np.arange(len(i)), j] = -1.0
    weights = np.concatenate([a, -b])
    bounds = [(0, 0)] + [(None, None)] * (k - 1)
    res = linprog(-weights, A_ub=constraints, b_ub=lipschitz * dist[i, j], bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"dual LP failed: {res.message}")
    return float(-res.fun), res.x


def w1_assignment(x: object, y: object) -> float:
    """``W1`` between two equal-size, equal-weight point clouds by optimal assignment.

    For uniform weights ``1/n`` on both sides, an optimal coupling is a permutation
    (Birkhoff–von Neumann), found by ``scipy.optimize.linear_sum_assignment``.

    Parameters
    ----------
    x, y : array_like or torch.Tensor
        ``(n, d)`` point clouds of the same size (tensors may live on any device).

    Returns
    -------
    float
        ``min_σ (1/n) Σ_i ‖x_i - y_σ(i)‖``.
    """
    from scipy.optimize import linear_sum_assignment

    cost = _cost(x, y)
    if cost.shape[0] != cost.shape[1]:
        raise ValueError(f"x and y must have the same number of points, got {cost.shape}")
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


class NearestNeighbours(NamedTuple):
    """Result of :func:`nearest_neighbour_ratio`.

    ``ratio`` is ``median(sample_to_train) / median(test_to_train)``; ``sample_to_train (n,)``
    and ``test_to_train (m,)`` are the Euclidean distances from each generated sample and
    each held-out example to its nearest training example.
    """

    ratio: float
    sample_to_train: torch.Tensor
    test_to_train: torch.Tensor


def nearest_neighbour_ratio(samples: torch.Tensor, train: torch.Tensor, test: torch.Tensor) -> NearestNeighbours:
    """Memorisation test: how close generated samples lie to the training set, compared with
    how close fresh data from the same distribution lies to it.

    A model that copies training examples puts its samples at distance ≈ 0 from the training
    set, so the ratio is ≪ 1; a model that generalises scores about 1 (its samples are as far
    from the training set as held-out data are); blurry or off-distribution samples score > 1.

    Parameters
    ----------
    samples : torch.Tensor
        ``(n, d)`` generated samples.
    train : torch.Tensor
        ``(N, d)`` the model's training data.
    test : torch.Tensor
        ``(m, d)`` held-out data, not used in training.

    Returns
    -------
    NearestNeighbours
    """
    for name, x in (("samples", samples), ("train", train), ("test", test)):
        floating_tensor(name, x, min_dim=2)
        if x.dim() != 2 or len(x) == 0:
            raise ValueError(f"{name} must have shape (n, d) with n >= 1, got {tuple(x.shape)}")
    if not samples.shape[1] == train.shape[1] == test.shape[1]:
        raise ValueError(f"samples, train and test must share d, got {samples.shape[1]}, "
                         f"{train.shape[1]}, {test.shape[1]}")
    reference = train.detach().double().cpu()
    to_train = [torch.cdist(x.detach().double().cpu(), reference).min(dim=1).values for x in (samples, test)]
    ratio = (to_train[0].median() / to_train[1].median()).item()
    return NearestNeighbours(ratio, to_train[0], to_train[1])


@torch.no_grad()
def char_cross_entropy(model: torch.nn.Module, codes: torch.Tensor, *, length: int = 256) -> float:
    """Mean cross-entropy, in nats per character, of ``model`` predicting ``codes[1:]``.

    The text is cut into consecutive chunks of ``length`` characters; every chunk starts from
    the zero state, or an empty context (so the first characters of each chunk have little context, a slightly
    pessimistic estimate that shrinks with ``length``).

    Parameters
    ----------
    model : torch.nn.Module
        A character language model, ``model(codes (n, L)) -> (logits (n, L, V), state)``: a
        ``recurrent.CharModel`` or an ``attention.CharTransformer`` (with ``length`` at most
        its context).
    codes : torch.Tensor
        ``(N,)`` int64 codes, ``N > length`` (e.g. ``CharCorpus.val``).
    length : int
        Chunk length (keyword-only).

    Returns
    -------
    float
        ``-(1/M) Σ log p(c_{t+1} | c_≤t)`` over the ``M`` predicted characters.
    """
    from .losses import cross_entropy

    if not isinstance(codes, torch.Tensor) or codes.dim() != 1 or codes.is_floating_point():
        raise ValueError(f"codes must be a 1-D integer tensor, got {getattr(codes, 'shape', type(codes))}")
    positive_int("length", length)
    if len(codes) <= length:
        raise ValueError(f"codes must be longer than length = {length}, got {len(codes)}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    k = (len(codes) - 1) // length
    inputs = codes[: k * length].reshape(k, length).to(device)
    targets = codes[1 : k * length + 1].reshape(k, length).to(device)
    total = 0.0
    for start in range(0, k, 64):
        logits, _ = model(inputs[start : start + 64])
        total += cross_entropy(logits.reshape(-1, logits.shape[-1]).double(),
                               targets[start : start + 64].reshape(-1), reduction="sum").item()
    model.train(was_training)
    return total / (k * length)
