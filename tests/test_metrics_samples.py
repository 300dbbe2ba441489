"""dlnotes.metrics, sample metrics: mode coverage, exact W1 (assignment, primal and dual LP),
the nearest-neighbour memorisation test and the class-histogram entropy."""
import math

import numpy as np
import pytest
import scipy.stats
import torch

from dlnotes import data, metrics


def test_mode_metrics_all_modes_one_mode_and_off_mode():
    g = torch.Generator().manual_seed(0)
    centres = data.ring_centres()
    x, _ = data.ring(2500, generator=g)
    full = metrics.mode_metrics(x, centres, 0.01)
    assert full.modes == 8 and full.hq_fraction > 0.97 and full.counts.sum() == round(2500 * full.hq_fraction)
    one = metrics.mode_metrics(centres[2] + 0.005 * torch.randn(2500, 2, generator=g), centres, 0.01)
    assert one.modes == 1 and one.hq_fraction == 1.0 and one.counts[2] == 2500
    off = metrics.mode_metrics(0.5 * centres[torch.arange(2500) % 8], centres, 0.01)   # halfway in
    assert off.modes == 0 and off.hq_fraction == 0.0
    # 9 high-quality samples do not cover a mode, 10 do
    nine = torch.cat([centres[:1].repeat(9, 1), torch.zeros(5, 2)])
    ten = torch.cat([centres[:1].repeat(10, 1), torch.zeros(5, 2)])
    assert metrics.mode_metrics(nine, centres, 0.01).modes == 0
    assert metrics.mode_metrics(ten, centres, 0.01).modes == 1


def test_mode_metrics_grid():
    x, _ = data.grid(2500, generator=torch.Generator().manual_seed(1))
    stats = metrics.mode_metrics(x, data.grid_centres(), 0.05)
    assert stats.modes == 25 and stats.hq_fraction > 0.97


@pytest.mark.parametrize("kwargs, match", [
    (dict(samples=torch.zeros(0, 2)), "samples"),
    (dict(samples=torch.zeros(5, 3)), "share d"),
    (dict(samples=torch.zeros(5)), "share d"),
    (dict(std=0.0), "std"),
    (dict(std=-1.0), "std"),
    (dict(min_count=0), "min_count"),
])
def test_mode_metrics_rejects_bad_input(kwargs, match):
    args = dict(samples=torch.zeros(5, 2), centres=data.ring_centres(), std=0.01) | kwargs
    with pytest.raises(ValueError, match=match):
        metrics.mode_metrics(**args)


def _two_measures(seed, n=6, m=5, d=2):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 1.0
    a, b = rng.random(n), rng.random(m)
    return x, y, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("seed", range(3))
def test_primal_and_dual_lp_agree(seed):
    x, y, a, b = _two_measures(seed)
    primal, plan = metrics.transport_lp(x, y, a, b)
    dual, f = metrics.kantorovich_dual_lp(x, y, a, b)
    assert abs(primal - dual) <= 1e-8
    np.testing.assert_allclose(plan.sum(1), a, atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), b, atol=1e-9)
    points = np.vstack([x, y])
    lipschitz = np.abs(f[:, None] - f[None]) - np.linalg.norm(points[:, None] - points[None], axis=-1)
    assert lipschitz.max() <= 1e-9


def test_w1_assignment_of_a_translate_is_the_shift_norm():
    x = np.random.default_rng(4).normal(size=(30, 2))
    m = np.array([0.3, -0.4])
    assert metrics.w1_assignment(x, x + m) == pytest.approx(0.5, abs=1e-12)


def test_dual_lp_with_lipschitz_bound_k_gives_k_times_w1():
    x, y, a, b = _two_measures(7)
    w1 = metrics.transport_lp(x, y, a, b)[0]
    for k in (0.25, 2.0, 5.0):
        assert metrics.kantorovich_dual_lp(x, y, a, b, lipschitz=k)[0] == pytest.approx(k * w1, abs=1e-8 * k)
    with pytest.raises(ValueError, match="lipschitz"):
        metrics.kantorovich_dual_lp(x, y, a, b, lipschitz=0.0)


def test_w1_assignment_accepts_tensors_and_matches_scipy_in_one_dimension():
    from scipy.stats import wasserstein_distance

    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(300, 1, generator=g), 2 * torch.randn(300, 1, generator=g) + 1
    expected = wasserstein_distance(a[:, 0].numpy(), b[:, 0].numpy())
    assert metrics.w1_assignment(a, b) == pytest.approx(expected, rel=1e-9)
    assert metrics.w1_assignment(a.numpy(), b.numpy()) == metrics.w1_assignment(a, b)



def test_w1_helpers_match_scipy_in_one_dimension():
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=40), rng.exponential(size=40)
    expected = scipy.stats.wasserstein_distance(u, v)
    assert metrics.w1_assignment(u[:, None], v[:, None]) == pytest.approx(expected, abs=1e-12)
    w = np.full(40, 1 / 40)
    assert metrics.transport_lp(u[:, None], v[:, None], w, w)[0] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("call, match", [
    (lambda: metrics.transport_lp(np.zeros((0, 2)), np.zeros((2, 2)), [], [0.5, 0.5]), "x"),
    (lambda: metrics.transport_lp(np.zeros((2, 2)), np.zeros((2, 3)), [0.5, 0.5], [0.5, 0.5]), "dimension"),
    (lambda: metrics.transport_lp(np.zeros((2, 2)), np.zeros((2, 2)), [0.5, 0.6], [0.5, 0.5]), "a"),
    (lambda: metrics.kantorovich_dual_lp(np.zeros((2, 2)), np.zeros((2, 2)), [0.5, 0.5], [1.0]), "b"),
    (lambda: metrics.w1_assignment(np.zeros((2, 2)), np.zeros((3, 2))), "number of points"),
    (lambda: metrics.nearest_neighbour_ratio(torch.zeros(3, 2), torch.zeros(4, 3), torch.zeros(2, 2)), "share d"),
    (lambda: metrics.nearest_neighbour_ratio(torch.zeros(0, 2), torch.zeros(4, 2), torch.zeros(2, 2)), "samples"),
    (lambda: metrics.label_entropy(torch.tensor([0, 3]), 3), "labels"),
])
def test_sample_metrics_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_nearest_neighbour_ratio_flags_a_memoriser_and_passes_fresh_samples():
    g = torch.Generator().manual_seed(0)
    train, test, fresh = (torch.randn(n, 8, generator=g, dtype=torch.float64) for n in (400, 400, 400))
    copies = train[torch.randint(400, (400,), generator=g)] + 1e-3 * torch.randn(400, 8, generator=g, dtype=torch.float64)
    # a memoriser sits at ~1e-3 · √8 from the training set; fresh draws from the data
    # distribution are as far from it as the test set is (ratio 1 up to sampling noise: the
    # medians of 400 distances differ by a few per cent, so 0.8-1.25 is a wide band)
    assert metrics.nearest_neighbour_ratio(copies, train, test).ratio < 0.01
    result = metrics.nearest_neighbour_ratio(fresh, train, test)
    assert 0.8 < result.ratio < 1.25
    assert result.sample_to_train.shape == (400,) and result.test_to_train.shape == (400,)
    # a blurry model (samples shrunk towards the mean) is not a memoriser either
    assert metrics.nearest_neighbour_ratio(0.3 * fresh, train, test).ratio > 0.3


def test_label_entropy_uniform_and_constant():
    assert metrics.label_entropy(torch.arange(10).repeat(7), 10) == pytest.approx(math.log(10), abs=1e-15)
    assert metrics.label_entropy(torch.full((50,), 4), 10) == 0.0

