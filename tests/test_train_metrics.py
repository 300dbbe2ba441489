"""dlnotes.train and dlnotes.metrics."""
import pytest
import torch

from dlnotes.metrics import accuracy, calibration, confusion_matrix
from dlnotes.train import History, fit


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g)
    w = torch.tensor([[1.0], [-2.0], [0.5]])
    return x, x @ w + 0.3


def test_fit_recovers_a_linear_map():
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    history = fit(model, lambda m, a, b: ((m(a) - b) ** 2).mean(), opt, (x, y), epochs=60,
                  batch_size=50, generator=torch.Generator().manual_seed(1),
                  callback=lambda e, m, h: seen.append(e), progress=False)
    assert isinstance(history, History)
    assert len(history.epoch) == 60 and len(history.step) == 60 * 4 and seen == list(range(60))
    assert history.epoch[-1] < 1e-6 < history.epoch[0]
    torch.testing.assert_close(model.weight.data, torch.tensor([[1.0, -2.0, 0.5]]), atol=1e-3, rtol=0)
    assert not model.training


def test_fit_full_batch_by_default():
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    history = fit(model, lambda m, a, b: ((m(a) - b) ** 2).mean(),
                  torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3, progress=False)
    assert len(history.step) == 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(data=()), "non-empty"),
    (dict(data=(torch.zeros(3, 1), torch.zeros(4, 1))), "first dimension"),
    (dict(epochs=0), "epochs"),
    (dict(batch_size=0), "batch_size"),
])
def test_fit_bad_arguments(kwargs, match):
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    args = dict(model=model, loss_fn=lambda m, a, b: ((m(a) - b) ** 2).mean(),
                optimizer=torch.optim.SGD(model.parameters(), lr=0.1), data=(x, y), epochs=1,
                progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit(**args)


def test_accuracy_and_confusion():
    pred = torch.tensor([0, 1, 1, 2])
    true = torch.tensor([0, 1, 2, 2])
    assert accuracy(pred, true) == 0.75
    m = confusion_matrix(pred, true, 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert m.sum() == 4


def test_calibration_of_a_hand_made_case():
    # two examples at confidence 0.9 (one right), two at 0.65 (both right); no value sits on
    # a bin edge, where float32 rounding would decide the bin
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.35, 0.65], [0.35, 0.65]])
    targets = torch.tensor([0, 1, 1, 1])
    cal = calibration(probs, targets, n_bins=10)
    assert cal.count[8].item() == 2 and cal.count[6].item() == 2 and cal.count.sum() == 4
    assert cal.accuracy[8].item() == pytest.approx(0.5) and cal.accuracy[6].item() == pytest.approx(1.0)
    assert torch.isnan(cal.confidence[0])
    # ECE = 2/4 * |0.5 - 0.9| + 2/4 * |1.0 - 0.65| = 0.375
    assert cal.ece == pytest.approx(0.375)


@pytest.mark.parametrize("call, match", [
    (lambda: accuracy(torch.tensor([0.5]), torch.tensor([0])), "integer"),
    (lambda: accuracy(torch.tensor([0, 1]), torch.tensor([0])), "same"),
    (lambda: confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3), r"\[0, 3\)"),
    (lambda: confusion_matrix(torch.tensor([0]), torch.tensor([0]), 0), "n_classes"),
    (lambda: calibration(torch.rand(3), torch.tensor([0, 1, 0])), r"\(n, c\)"),
    (lambda: calibration(torch.rand(3, 2), torch.tensor([0, 1, 0]), n_bins=0), "n_bins"),
])
def test_metrics_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_fit_steps_the_scheduler_once_per_epoch():
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    fit(model, lambda m, a, b: ((m(a) - b) ** 2).mean(), opt, (x, y), epochs=3, batch_size=100,
        scheduler=sched, progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)
