"""dlnotes.train (both loops) and the classification metrics of dlnotes.metrics."""
import pytest
import torch

from dlnotes.metrics import accuracy, calibration, confusion_matrix
from dlnotes import gan
from dlnotes.nn import mlp
from dlnotes.train import History, fit, fit_adversarial


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
    assert len(history.epoch["loss"]) == 60 and len(history.step["loss"]) == 60 * 4 and seen == list(range(60))
    assert history.epoch["loss"][-1] < 1e-6 < history.epoch["loss"][0]
    torch.testing.assert_close(model.weight.data, torch.tensor([[1.0, -2.0, 0.5]]), atol=1e-3, rtol=0)
    assert not model.training


def test_fit_full_batch_by_default():
    x, y = _problem()
    model = torch.nn.Linear(3, 1)
    history = fit(model, lambda m, a, b: ((m(a) - b) ** 2).mean(),
                  torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3, progress=False)
    assert len(history.step["loss"]) == 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(data=()), "non-empty"),
    (dict(data=(torch.zeros(3, 1), torch.zeros(4, 1))), "first dimension"),
    (dict(epochs=0), "epochs"),
    (dict(batch_size=0), "batch_size"),
    (dict(clip_grad_norm=0.0), "clip_grad_norm"),
    (dict(clip_grad_norm=-1), "clip_grad_norm"),
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


def test_fit_clips_the_gradient_norm_and_records_it_before_clipping():
    import math

    x, y = _problem()
    seen = []

    class Spy(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(torch.cat([p.grad.flatten() for p in self.param_groups[0]["params"]]).norm().item())
            return super().step(closure)

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    loss = lambda m, a, b: 1e3 * ((m(a) - b) ** 2).mean()  # gradients far above the clip value
    history = fit(model, loss, Spy(model.parameters(), lr=1e-6), (x, y), epochs=2, batch_size=16,
                  clip_grad_norm=0.5, progress=False)
    assert len(history.step["grad_norm"]) == len(history.step["loss"]) == len(seen)
    assert all(abs(n - 0.5) < 1e-5 for n in seen)               # every step was clipped to c
    assert all(n > 0.5 for n in history.step["grad_norm"])      # and the record is the norm before
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    seen.clear()
    history = fit(model, loss, Spy(model.parameters(), lr=1e-6), (x, y), epochs=1, batch_size=16,
                  clip_grad_norm=math.inf, progress=False)
    assert seen == pytest.approx(history.step["grad_norm"], rel=1e-5)  # inf only measures


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


def _one_d_gan(seed, steps=600, device="cpu", disturb=0):
    torch.manual_seed(seed)
    g, d = mlp(1, [16], 1), mlp(1, [16], 1, activation="leaky_relu")
    torch.rand(disturb)  # moves the global RNG; the loop must not depend on it
    return fit_adversarial(
        g.to(device), d.to(device), lambda n, gen: 2.0 + 0.5 * torch.randn(n, 1, generator=gen),
        lambda net, real, fake: gan.discriminator_loss(net(real), net(fake)),
        lambda net, fake: gan.nonsaturating_generator_loss(net(fake)),
        steps=steps, batch_size=256, latent_dim=1, lr=5e-3, snapshot_every=steps // 2, n_snapshot=2000,
        generator=torch.Generator().manual_seed(seed), progress=False,
    )


def test_fit_adversarial_learns_a_one_dimensional_gaussian_and_records_snapshots():
    history = _one_d_gan(0)
    assert isinstance(history, History)
    assert len(history.step["discriminator"]) == len(history.step["generator"]) == 600
    assert sorted(history.snapshots) == [0, 300, 600]
    final = history.snapshots[600][:, 0]
    # the mean of the generated samples moves from ~0 to the data mean 2 (±0.2 is a loose band
    # for 600 steps, but a generator that did not learn stays near 0)
    assert abs(final.mean().item() - 2.0) < 0.2


def test_fit_adversarial_draws_all_its_noise_from_the_generator_it_is_given():
    # same networks and the same loop generator, but the global RNG in a different state when
    # the loop starts: identical runs only if every draw of the loop comes from `generator`
    # (a torch.randn without it makes the two loss curves differ at the first step)
    first = _one_d_gan(3, steps=20)
    second = _one_d_gan(3, steps=20, disturb=1000)
    assert first.step == second.step
    assert torch.equal(first.snapshots[20], second.snapshots[20])


def test_fit_adversarial_rejects_bad_arguments():
    g, d = mlp(1, [4], 1), mlp(1, [4], 1)
    with pytest.raises(ValueError, match="steps"):
        fit_adversarial(g, d, lambda n, gen: torch.zeros(n, 1), None, None, steps=0, latent_dim=1)
    with pytest.raises(ValueError, match="lr"):
        fit_adversarial(g, d, lambda n, gen: torch.zeros(n, 1), None, None, steps=1, latent_dim=1, lr=-1.0)


def test_history_record_rejects_unknown_series():
    with pytest.raises(ValueError, match="where"):
        History().record("batch", loss=1.0)


def test_auroc_matches_sklearn_and_counts_ties_half():
    from sklearn.metrics import roc_auc_score

    from dlnotes.metrics import auroc

    g = torch.Generator().manual_seed(3)
    labels = torch.randint(2, (200,), generator=g)
    scores = (torch.randn(200, generator=g) + labels).round(decimals=1)   # many ties
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels.numpy(), scores.numpy()), abs=1e-12)
    assert auroc(torch.tensor([0.1, 0.9]), torch.tensor([0, 1])) == 1.0
    assert auroc(torch.tensor([0.5, 0.5]), torch.tensor([0, 1])) == 0.5
    assert auroc(torch.tensor([0.9, 0.1]), torch.tensor([False, True])) == 0.0


@pytest.mark.parametrize("scores, labels, match", [
    (torch.tensor([0.1, 0.2]), torch.tensor([1, 1]), "both classes"),
    (torch.tensor([0.1, 0.2]), torch.tensor([0, 2]), "0 or 1"),
    (torch.tensor([0.1, 0.2]), torch.tensor([0.0, 1.0]), "labels"),
    (torch.tensor([1, 2]), torch.tensor([0, 1]), "scores"),
    (torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0, 1]), "same length"),
])
def test_auroc_bad_inputs(scores, labels, match):
    from dlnotes.metrics import auroc

    with pytest.raises(ValueError, match=match):
        auroc(scores, labels)
