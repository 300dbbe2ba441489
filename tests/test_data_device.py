"""dlnotes.data and dlnotes.device."""
import math
import random

import numpy as np
import pytest
import torch

from dlnotes import data
from dlnotes.device import get_device, seed_everything


def test_digits_shapes_split_and_range():
    d = data.digits()
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert d.y_train.shape == (1347,) and d.y_test.shape == (450,)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    # stratified: each class's share in the test split within one image of its train share
    for c in range(10):
        expected = (d.y_train == c).float().mean() * 450
        assert abs((d.y_test == c).sum().item() - expected.item()) <= 1.0


def test_digits_split_is_fixed_and_images_reshape():
    a, b = data.digits(), data.digits(flat=False)
    assert b.x_train.shape == (1347, 1, 8, 8)
    torch.testing.assert_close(a.x_train, b.x_train.reshape(-1, 64))
    assert torch.equal(a.y_test, data.digits().y_test)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, "0.2"])
def test_digits_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits(fraction)


def test_photo_is_grey_and_scaled():
    image = data.photo()
    assert image.shape == (427, 640) and image.dtype == torch.float64
    assert 0 <= image.min() and image.max() <= 1 and image.std() > 0.1
    assert not torch.equal(image, data.photo("flower.jpg"))
    with pytest.raises(ValueError, match="name"):
        data.photo("astronaut.png")


def test_sunspots_yearly_series():
    years, counts = data.sunspots()
    assert years.shape == counts.shape == (309,)
    assert years[0] == 1700 and years[-1] == 2008 and (years.diff() == 1).all()
    assert counts.dtype == torch.float64 and counts.min() >= 0 and counts.max() > 150


def test_ring_centres_and_samples():
    c = data.ring_centres()
    assert c.shape == (8, 2)
    torch.testing.assert_close(c.norm(dim=1), torch.ones(8))
    torch.testing.assert_close(c[2], torch.tensor([0.0, 1.0]), atol=1e-7, rtol=0)
    x, labels = data.ring(4000, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4000, 2) and labels.shape == (4000,)
    residual = x - c[labels]
    # the noise std is 0.01; with 8000 coordinates the sample std is within 5 % of it
    assert abs(residual.std().item() - 0.01) < 0.0005
    assert set(labels.tolist()) == set(range(8))


def test_grid_centres_are_the_benchmark_lattice():
    c = data.grid_centres()
    assert c.shape == (25, 2)
    assert sorted(set(c[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    x, labels = data.grid(3000, generator=torch.Generator().manual_seed(1))
    assert abs((x - c[labels]).std().item() - 0.05) < 0.0025


def test_moons_lie_on_arcs_without_noise():
    x, labels = data.moons(500, noise=0.0, generator=torch.Generator().manual_seed(2))
    upper, lower = x[labels == 0], x[labels == 1]
    torch.testing.assert_close(upper.norm(dim=1), torch.ones(len(upper)))
    torch.testing.assert_close((lower - torch.tensor([1.0, 0.5])).norm(dim=1), torch.ones(len(lower)))
    assert (upper[:, 1] >= 0).all() and (lower[:, 1] <= 0.5).all()


def test_generators_are_repeatable():
    a = data.moons(10, generator=torch.Generator().manual_seed(3))[0]
    b = data.moons(10, generator=torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize("call, match", [
    (lambda: data.ring(0), "n must"),
    (lambda: data.ring(10, modes=0), "modes"),
    (lambda: data.ring(10, std=0.0), "std"),
    (lambda: data.ring(10, radius=-1.0), "radius"),
    (lambda: data.grid(10, side=0), "side"),
    (lambda: data.grid(10, std=math.nan), "std"),
    (lambda: data.moons(10, noise=-0.1), "noise"),
    (lambda: data.moons(2.5), "n must"),
])
def test_toy_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_get_device_on_this_machine():
    device = get_device()
    expected = "cuda" if torch.cuda.is_available() else None
    assert device.type in ("cuda", "mps", "cpu")
    if expected:
        assert device.type == expected


def test_seed_everything_repeats_all_generators():
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    gen = seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    assert isinstance(gen, torch.Generator)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "1"])
def test_seed_everything_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(seed)


def test_tiny_shakespeare_split_vocab_and_round_trip():
    corpus = data.tiny_shakespeare()
    n = 1_115_394
    assert len(corpus.train) == int(0.9 * n) and len(corpus.train) + len(corpus.val) == n
    assert len(corpus.vocab) == 65 and corpus.vocab == "".join(sorted(set(corpus.vocab)))
    assert corpus.train.dtype == torch.int64 and int(corpus.train.max()) < 65
    assert corpus.decode(corpus.train[:14]) == "First Citizen:"
    assert torch.equal(corpus.encode("ROMEO:"), corpus.encode("ROMEO:"))
    assert corpus.decode(corpus.encode("To be, or not")) == "To be, or not"
    with pytest.raises(ValueError, match="vocabulary"):
        corpus.encode("naïve")


def test_tiny_shakespeare_is_package_data():
    from importlib import resources

    assert (resources.files("dlnotes") / "corpora" / "tinyshakespeare.txt").is_file()
    assert data.TINY_SHAKESPEARE_MD5 == "6fb458f1232090904fb40fe944165e91"


def test_char_corpus_split_and_checksum(tmp_path):
    import hashlib

    path = tmp_path / "t.txt"
    path.write_text("abcabcabcd")
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    corpus = data.char_corpus(path, md5=md5, val_fraction=0.2)
    assert corpus.vocab == "abcd" and len(corpus.train) == 8 and corpus.decode(corpus.val) == "cd"
    with pytest.raises(ValueError, match="checksum mismatch"):
        data.char_corpus(path, md5="0" * 32)
    path.write_text("abcabcabcX")  # same length, one character edited
    with pytest.raises(ValueError, match="checksum mismatch"):
        data.char_corpus(path, md5=md5)


def test_char_corpus_bad_inputs(tmp_path):
    import hashlib

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        data.char_corpus(empty, md5=hashlib.md5(b"").hexdigest())
    with pytest.raises(ValueError, match="md5"):
        data.char_corpus(empty, md5="abc")
    for fraction in (0, 1, 1.5, True):
        with pytest.raises(ValueError, match="val_fraction"):
            data.char_corpus(empty, md5="0" * 32, val_fraction=fraction)


def test_char_windows_are_shifted_slices():
    codes = torch.arange(100)
    g = torch.Generator().manual_seed(0)
    inputs, targets = data.char_windows(codes, 10, 7, generator=g)
    assert inputs.shape == targets.shape == (7, 10)
    assert torch.equal(targets, inputs + 1)             # the next character of each position
    assert torch.equal(inputs[:, 1:] - inputs[:, :-1], torch.ones(7, 9, dtype=torch.int64))
    assert int(targets.max()) <= 99
    for bad in (dict(codes=torch.arange(5.0)), dict(codes=torch.arange(10)[None]), dict(length=0),
                dict(n=0), dict(codes=torch.arange(10))):
        args = dict(codes=codes, length=10, n=3) | bad
        with pytest.raises(ValueError):
            data.char_windows(args["codes"], args["length"], args["n"])


def test_digit_slots_label_is_the_class_of_the_keyed_slot():
    d = data.digits()
    g = torch.Generator().manual_seed(0)
    x, key, y = data.digit_slots(d.x_train, d.y_train, 500, slots=5, generator=g)
    assert x.shape == (500, 5, 64) and key.shape == (500,) and y.shape == (500,)
    assert x.dtype == torch.float32 and key.dtype == torch.int64 and y.dtype == torch.int64
    assert int(key.min()) >= 0 and int(key.max()) == 4
    # every slot is one of the images; the label is that image's class, found by lookup
    lookup = {tuple(img.tolist()): int(c) for img, c in zip(d.x_train, d.y_train)}
    for i in range(0, 500, 25):
        assert y[i].item() == lookup[tuple(x[i, key[i]].tolist())]
    # repeatable with the same generator
    x2, key2, y2 = data.digit_slots(d.x_train, d.y_train, 500, slots=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2) and torch.equal(key, key2) and torch.equal(y, y2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(images=torch.zeros(10, 64, dtype=torch.int64)), "images"),
    (dict(images=torch.zeros(10, 8, 8)), "images"),
    (dict(labels=torch.zeros(10)), "labels"),
    (dict(labels=torch.zeros(9, dtype=torch.int64)), "labels"),
    (dict(n=0), "n"),
    (dict(slots=1), "slots"),
])
def test_digit_slots_bad_inputs(kwargs, match):
    args = dict(images=torch.zeros(10, 64), labels=torch.zeros(10, dtype=torch.int64), n=4)
    args.update(kwargs)
    n = args.pop("n")
    with pytest.raises(ValueError, match=match):
        data.digit_slots(args["images"], args["labels"], n, **({"slots": args["slots"]} if "slots" in args else {}))
