"""Unit tests of dlnotes.timeseries and the time-series loaders of dlnotes.data."""
import numpy as np
import pytest
import torch

from dlnotes import data
from dlnotes.timeseries import (Forecaster, ar_fit, ar_predict, gaussian_nll, interval_coverage, model_step,
                                persistence, rmse_by_horizon, rollout, scheduled_inputs, seasonal_naive)


def test_co2_loader_fills_gaps_and_splits_in_order():
    c = data.co2()
    assert c.ppm.shape == (2284,) and not torch.isnan(c.ppm).any()
    assert int(c.filled.sum()) == 59
    assert c.train.stop == c.val.start and c.val.stop == c.test.start and c.test.stop == 2284
    assert (torch.diff(c.weeks) == 7).all()


def test_shifted_windows_shift_by_one():
    x = torch.arange(10, dtype=torch.float64)
    inp, tgt = data.shifted_windows(x, 4, stride=3)
    assert inp.shape == tgt.shape == (2, 4)
    assert torch.equal(tgt, inp + 1)


def test_bad_inputs_raise():
    x = torch.arange(10, dtype=torch.float64)
    with pytest.raises(ValueError, match="length"):
        data.shifted_windows(x, 10)                     # window longer than the series
    with pytest.raises(ValueError, match="NaN"):
        data.shifted_windows(torch.tensor([1.0, float("nan"), 2.0]), 1)
    with pytest.raises(ValueError, match="horizon"):
        data.forecast_windows(x, 3, 0, start=3)
    with pytest.raises(ValueError, match="horizon"):
        rollout(lambda w: w[:, -1], x[None, :4], 0)
    with pytest.raises(ValueError, match="NaN"):
        rollout(lambda w: w[:, -1], torch.tensor([[1.0, float("nan")]]), 2)
    with pytest.raises(ValueError, match="too short"):
        ar_fit(x, 5)
    with pytest.raises(ValueError, match="NaN"):
        ar_fit(torch.tensor([1.0, float("nan")] * 10), 2)
    with pytest.raises(ValueError, match="season"):
        seasonal_naive(x[None, :4], 3, season=5)
    with pytest.raises(ValueError, match="kind"):
        Forecaster("lstm")
    with pytest.raises(ValueError, match="ratio"):
        scheduled_inputs(Forecaster("gru", hidden=4), x[None].float(), 1.5)
    with pytest.raises(ValueError, match="level"):
        interval_coverage(torch.zeros(3, 2, 2), torch.zeros(2, 2), level=1.0)


def test_ar_fit_recovers_and_matches_statsmodels():
    ar = pytest.importorskip("statsmodels.tsa.ar_model")
    g = torch.Generator().manual_seed(0)
    e = torch.randn(3000, generator=g, dtype=torch.float64)
    x = torch.zeros(3000, dtype=torch.float64)
    for t in range(2, 3000):
        x[t] = 0.3 + 0.5 * x[t - 1] - 0.2 * x[t - 2] + e[t]
    fit = ar_fit(x, 2)
    ref = ar.AutoReg(x.numpy(), lags=2, trend="c").fit().params
    assert np.allclose(np.r_[fit.intercept.item(), fit.coef.numpy()], ref, atol=1e-10)
    assert torch.allclose(fit.coef, torch.tensor([0.5, -0.2], dtype=torch.float64), atol=0.05)
    forecast = rollout(lambda w: ar_predict(fit, w), x[None, -2:], 5)[0]
    ref_f = ar.AutoReg(x.numpy(), lags=2, trend="c").fit().forecast(5)
    assert np.allclose(forecast.numpy(), ref_f, atol=1e-10)


def test_baselines_and_metrics():
    ctx = torch.arange(8, dtype=torch.float64)[None]
    assert torch.equal(persistence(ctx, 3), torch.full((1, 3), 7.0, dtype=torch.float64))
    assert torch.equal(seasonal_naive(ctx, 6, season=4), torch.tensor([[4.0, 5, 6, 7, 4, 5]], dtype=torch.float64))
    assert torch.allclose(rmse_by_horizon(torch.zeros(2, 2), torch.tensor([[3.0, 0], [4.0, 0]])),
                          torch.tensor([12.5 ** 0.5, 0]))
    samples = torch.linspace(-1, 1, 101)[:, None, None].expand(101, 2, 1)
    assert torch.equal(interval_coverage(samples, torch.tensor([[0.0], [5.0]]), level=0.9), torch.tensor([0.5]))


@pytest.mark.parametrize("kind", Forecaster.KINDS)
def test_forecasters_are_causal(kind):
    torch.manual_seed(0)
    model = Forecaster(kind, hidden=8, dilations=(1, 2), layers=1, heads=2).double()
    x = torch.randn(1, 12, dtype=torch.float64, requires_grad=True)
    mean, log_var = model(x)
    (mean[0, 5] + log_var[0, 5]).backward()
    assert x.grad[0, 6:].abs().max() == 0 and x.grad[0, :6].abs().max() > 0
    loss = gaussian_nll(model, x.detach(), x.detach())
    assert loss.dim() == 0
    assert rollout(model_step(model, sample=True), x.detach(), 3).shape == (1, 3)


def test_unmasked_transformer_reads_the_future():
    torch.manual_seed(0)
    model = Forecaster("transformer", hidden=8, layers=1, heads=2, causal=False).double()
    x = torch.randn(1, 12, dtype=torch.float64, requires_grad=True)
    model(x)[0][0, 5].backward()
    assert x.grad[0, 6:].abs().max() > 0
