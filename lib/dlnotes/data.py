"""Offline data: every loader of the book lives here (DESIGN.md §5).

Nothing is downloaded. The digits and the photographs ship with scikit-learn, the sunspot
series with statsmodels; the 2-D toys are generated; the character corpus (Tiny Shakespeare)
is vendored inside the package, in ``dlnotes/corpora/``, and its checksum is verified every
time it is loaded.
Every function returns ``torch`` tensors with the shapes stated in its docstring.
"""
from __future__ import annotations

import hashlib
import math
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ._checks import positive_int

__all__ = [
    "Digits", "digits", "photo", "sunspots", "ring_centres", "grid_centres", "ring", "grid", "moons",
    "CharCorpus", "char_corpus", "tiny_shakespeare", "TINY_SHAKESPEARE_MD5", "char_windows",
    "CO2", "co2", "shifted_windows", "forecast_windows",
    "digit_slots",
]

#: md5 of the vendored ``tinyshakespeare.txt`` (1 115 394 bytes, karpathy/char-rnn's copy).
TINY_SHAKESPEARE_MD5 = "6fb458f1232090904fb40fe944165e91"


class Digits(NamedTuple):
    """The 8x8 digits split into train and test parts.

    ``x_*`` are float32 pixel intensities scaled to [0, 1], shaped ``(n, 64)`` (flat) or
    ``(n, 1, 8, 8)`` (images); ``y_*`` are int64 class labels in 0..9, shaped ``(n,)``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits(test_fraction: float = 0.25, *, flat: bool = True, seed: int = 0) -> Digits:
    """Load scikit-learn's 1 797 handwritten 8x8 digits with a fixed stratified split.

    Parameters
    ----------
    test_fraction : float
        Share of the images held out for testing, in (0, 1). The split is stratified by
        class, so every digit appears in both parts in the same proportion.
    flat : bool
        ``True`` gives ``x`` as ``(n, 64)``; ``False`` gives images ``(n, 1, 8, 8)``.
    seed : int
        Seed of the split; the default 0 is the book's fixed split.

    Returns
    -------
    Digits
        ``x_train (n_train, 64)``, ``y_train (n_train,)``, ``x_test (n_test, 64)``,
        ``y_test (n_test,)``; with the default fraction, 1 347 train and 450 test images.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not isinstance(test_fraction, (float, int)) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    shape = (-1, 64) if flat else (-1, 1, 8, 8)
    return Digits(
        torch.from_numpy(x_tr).reshape(shape),
        torch.from_numpy(y_tr),
        torch.from_numpy(x_te).reshape(shape),
        torch.from_numpy(y_te),
    )


_PHOTOS = ("china.jpg", "flower.jpg")


def photo(name: str = "china.jpg") -> torch.Tensor:
    """A grey-level photograph shipped with scikit-learn (``load_sample_image``).

    Parameters
    ----------
    name : str
        ``"china.jpg"`` (a temple) or ``"flower.jpg"``; both are 427 x 640 pixels.

    Returns
    -------
    torch.Tensor
        ``(427, 640)`` float64 luminance ``0.299 R + 0.587 G + 0.114 B`` scaled to [0, 1].
    """
    from sklearn.datasets import load_sample_image

    if name not in _PHOTOS:
        raise ValueError(f"name must be one of {_PHOTOS}, got {name!r}")
    rgb = torch.tensor(load_sample_image(name), dtype=torch.float64) / 255
    return rgb @ torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)


def sunspots() -> tuple[torch.Tensor, torch.Tensor]:
    """Yearly mean sunspot numbers 1700-2008, shipped with statsmodels.

    Returns
    -------
    years : torch.Tensor
        ``(309,)`` int64, 1700 … 2008.
    counts : torch.Tensor
        ``(309,)`` float64 yearly sunspot activity (``SUNACTIVITY``).
    """
    from statsmodels.datasets import sunspots as _sunspots

    frame = _sunspots.load_pandas().data
    return (torch.tensor(frame["YEAR"].to_numpy(), dtype=torch.int64),
            torch.tensor(frame["SUNACTIVITY"].to_numpy(), dtype=torch.float64))


class CO2(NamedTuple):
    """The weekly Mauna Loa CO₂ series, gaps filled, split by date (see :func:`co2`)."""

    weeks: torch.Tensor   #: ``(N,)`` int64, days since 1970-01-01 of each Saturday
    ppm: torch.Tensor     #: ``(N,)`` float64, CO₂ mole fraction (ppm), gaps filled
    filled: torch.Tensor  #: ``(N,)`` bool, True where the week was missing and interpolated
    train: slice          #: weeks up to the end of ``train_until``
    val: slice            #: the following weeks up to the end of ``val_until``
    test: slice           #: the remaining weeks


def co2(*, train_until: int = 1990, val_until: int = 1995) -> CO2:
    """Weekly atmospheric CO₂ at Mauna Loa, March 1958 – December 2001, shipped with statsmodels.

    The series is on a regular weekly grid (Saturdays) with 59 missing weeks (``NaN`` in
    statsmodels' copy, most of them in 1958–1964). Each missing week is filled by linear
    interpolation in time between the nearest observed weeks before and after it (the series
    starts and ends on observed weeks, so no value is extrapolated). The split is
    chronological: train up to the last week of ``train_until``, validation up to the last week
    of ``val_until``, test after.

    Parameters
    ----------
    train_until, val_until : int
        Last year of the training and of the validation part (keyword-only),
        ``1958 <= train_until < val_until < 2001``.

    Returns
    -------
    CO2
        With the defaults ``weeks``, ``ppm`` and ``filled`` are ``(2284,)``; ``train`` covers
        1 710 weeks (1958–1990), ``val`` 261 (1991–1995) and ``test`` 313 (1996–2001).
    """
    for name, year in (("train_until", train_until), ("val_until", val_until)):
        positive_int(name, year, minimum=1958)
    if not train_until < val_until < 2001:
        raise ValueError(f"need train_until < val_until < 2001, got {train_until}, {val_until}")
    from statsmodels.datasets import co2 as _co2

    frame = _co2.load_pandas().data["co2"]
    missing = frame.isna().to_numpy()
    ppm = frame.interpolate(method="time", limit_area="inside").to_numpy(dtype=np.float64)
    years = frame.index.year.to_numpy()
    days = (frame.index - np.datetime64("1970-01-01")).days.to_numpy()
    n_train = int((years <= train_until).sum())
    n_val = int((years <= val_until).sum())
    return CO2(torch.tensor(days, dtype=torch.int64), torch.tensor(ppm), torch.tensor(missing),
               slice(0, n_train), slice(n_train, n_val), slice(n_val, len(ppm)))


def shifted_windows(series: torch.Tensor, length: int, *, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Every window of a series with its target shifted by one step (teacher forcing).

    Window ``i`` starts at ``s = i · stride``: ``inputs[i] = x[s : s + L]`` and
    ``targets[i] = x[s + 1 : s + L + 1]``, so ``targets[i, t]`` is the value that follows
    ``inputs[i, t]`` — the factor :math:`p(x_{j} \\mid x_{<j})` of the autoregressive
    factorisation is trained at every position at once.

    Parameters
    ----------
    series : torch.Tensor
        ``(N,)`` floating, no ``NaN``, ``N > L``.
    length : int
        Window length ``L >= 1``.
    stride : int
        Step between window starts, ``>= 1`` (keyword-only).

    Returns
    -------
    inputs, targets : torch.Tensor
        ``(n, L)`` each, ``n = ⌊(N - L - 1) / stride⌋ + 1``, same dtype as ``series``.
    """
    if not isinstance(series, torch.Tensor) or series.dim() != 1 or not series.is_floating_point():
        raise ValueError(f"series must be a 1-D floating tensor, got {getattr(series, 'shape', type(series))}")
    if torch.isnan(series).any():
        raise ValueError(f"series contains {int(torch.isnan(series).sum())} NaN value(s); fill them first")
    positive_int("length", length)
    positive_int("stride", stride)
    if len(series) <= length:
        raise ValueError(f"length = {length} must be shorter than the series ({len(series)} values)")
    windows = series.unfold(0, length + 1, stride)
    return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()


def forecast_windows(series: torch.Tensor, length: int, horizon: int, *, start: int, stop: int | None = None,
                     stride: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forecast origins with their past and their future: ``x[o - L : o]`` and ``x[o : o + H]``.

    Parameters
    ----------
    series : torch.Tensor
        ``(N,)`` floating, no ``NaN``.
    length : int
        Context length ``L >= 1`` (the model may read the whole past before ``start``).
    horizon : int
        Forecast horizon ``H >= 1``.
    start, stop : int
        Origins run over ``o = start, start + stride, …`` with ``o + H <= stop`` (default
        ``N``) and need ``start >= L`` (keyword-only).
    stride : int
        Step between origins, ``>= 1`` (keyword-only).

    Returns
    -------
    contexts : torch.Tensor
        ``(n, L)``.
    futures : torch.Tensor
        ``(n, H)``; ``futures[i, h - 1]`` is the value ``h`` steps after origin ``i``'s context.
    origins : torch.Tensor
        ``(n,)`` int64 indices ``o`` into ``series`` of the first forecast step.
    """
    if not isinstance(series, torch.Tensor) or series.dim() != 1 or not series.is_floating_point():
        raise ValueError(f"series must be a 1-D floating tensor, got {getattr(series, 'shape', type(series))}")
    if torch.isnan(series).any():
        raise ValueError(f"series contains {int(torch.isnan(series).sum())} NaN value(s); fill them first")
    positive_int("length", length)
    positive_int("horizon", horizon)
    positive_int("stride", stride)
    stop = len(series) if stop is None else stop
    if isinstance(start, bool) or not isinstance(start, int) or start < length:
        raise ValueError(f"start must be an int >= length = {length}, got {start!r}")
    if isinstance(stop, bool) or not isinstance(stop, int) or not start + horizon <= stop <= len(series):
        raise ValueError(f"stop must be an int with start + horizon = {start + horizon} <= stop <= "
                         f"{len(series)}, got {stop!r}")
    origins = torch.arange(start, stop - horizon + 1, stride)
    contexts = series[origins[:, None] + torch.arange(-length, 0)]
    futures = series[origins[:, None] + torch.arange(horizon)]
    return contexts, futures, origins


def _check_positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def ring_centres(modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Centres of the ring mixture: ``modes`` points on a circle at angles 2πk/modes.

    Returns
    -------
    torch.Tensor
        ``(modes, 2)`` float32.
    """
    positive_int("modes", modes)
    _check_positive("radius", radius)
    angle = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    return (radius * torch.stack([angle.cos(), angle.sin()], dim=1)).float()


def grid_centres(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Centres of the grid mixture: a ``side x side`` lattice centred at the origin.

    With the defaults, the 25 points of {-4, -2, 0, 2, 4}².

    Returns
    -------
    torch.Tensor
        ``(side**2, 2)`` float32, row-major (x varies slowest).
    """
    positive_int("side", side)
    _check_positive("spacing", spacing)
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


def _mixture(
    centres: torch.Tensor, n: int, std: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    positive_int("n", n)
    _check_positive("std", std)
    labels = torch.randint(len(centres), (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator)
    return centres[labels] + std * noise, labels


def ring(
    n: int, modes: int = 8, radius: float = 1.0, std: float = 0.01,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample the ring of Gaussians (the 'ring-8' benchmark with the defaults).

    Each sample picks one of ``modes`` centres uniformly (see :func:`ring_centres`) and adds
    isotropic Gaussian noise of standard deviation ``std``.

    Returns
    -------
    x : torch.Tensor
        ``(n, 2)`` float32 samples.
    labels : torch.Tensor
        ``(n,)`` int64 index of the centre each sample came from.
    """
    return _mixture(ring_centres(modes, radius), n, std, generator)


def grid(
    n: int, side: int = 5, spacing: float = 2.0, std: float = 0.05,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample the grid of Gaussians (the 'grid-25' benchmark with the defaults).

    Returns
    -------
    x : torch.Tensor
        ``(n, 2)`` float32 samples.
    labels : torch.Tensor
        ``(n,)`` int64 index into :func:`grid_centres`.
    """
    return _mixture(grid_centres(side, spacing), n, std, generator)


def moons(
    n: int, noise: float = 0.05, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample two interleaving half circles ('two moons').

    The upper moon is the unit half circle centred at (0, 0); the lower one is centred at
    (1, 0.5) and flipped. ``noise`` is the standard deviation of added Gaussian noise
    (0 gives points exactly on the arcs).

    Returns
    -------
    x : torch.Tensor
        ``(n, 2)`` float32 samples.
    labels : torch.Tensor
        ``(n,)`` int64, 0 for the upper moon and 1 for the lower.
    """
    positive_int("n", n)
    if not isinstance(noise, (int, float)) or not noise >= 0 or math.isinf(noise):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    labels = torch.randint(2, (n,), generator=generator)
    angle = math.pi * torch.rand(n, generator=generator)
    upper = torch.stack([angle.cos(), angle.sin()], dim=1)
    lower = torch.stack([1 - angle.cos(), 0.5 - angle.sin()], dim=1)
    x = torch.where(labels[:, None] == 0, upper, lower)
    return x + noise * torch.randn(n, 2, generator=generator), labels


class CharCorpus(NamedTuple):
    """A character corpus encoded as integer codes, split in two contiguous parts.

    ``train`` is the first part of the text and ``val`` the rest, both int64 tensors of
    character codes, shaped ``(n_train,)`` and ``(n_val,)``; ``vocab`` is the sorted string of
    the distinct characters of the whole text, so code ``k`` is ``vocab[k]``.
    """

    train: torch.Tensor
    val: torch.Tensor
    vocab: str

    def encode(self, text: str) -> torch.Tensor:
        """Codes of ``text``, ``(len(text),)`` int64; every character must be in ``vocab``."""
        index = {c: k for k, c in enumerate(self.vocab)}
        missing = sorted(set(text) - index.keys())
        if missing:
            raise ValueError(f"text has characters outside the vocabulary: {missing!r}")
        return torch.tensor([index[c] for c in text], dtype=torch.int64)

    def decode(self, codes: torch.Tensor) -> str:
        """The text of a ``(length,)`` tensor (or sequence) of codes."""
        return "".join(self.vocab[int(k)] for k in codes)


def char_corpus(path: str | Path, *, md5: str, val_fraction: float = 0.1) -> CharCorpus:
    """Load a UTF-8 text file as a character corpus, verifying its md5 checksum first.

    Parameters
    ----------
    path : str or Path
        The text file.
    md5 : str
        Expected md5 hex digest of the file's bytes (keyword-only). A mismatch raises
        ``ValueError`` before anything is decoded, so a truncated or edited copy never
        trains a model silently.
    val_fraction : float
        Share of the characters, in (0, 1), kept for validation: the *last* ones, so the
        validation text is contiguous and unseen (the standard split takes 0.1).

    Returns
    -------
    CharCorpus
        ``train (n_train,)`` and ``val (n_val,)`` int64 codes, ``n_train = int((1 -
        val_fraction) * n)`` for a text of ``n`` characters, and the ``vocab``.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    if not isinstance(md5, str) or len(md5) != 32:
        raise ValueError(f"md5 must be a 32-character hex digest, got {md5!r}")
    raw = Path(path).read_bytes()
    digest = hashlib.md5(raw).hexdigest()
    if digest != md5.lower():
        raise ValueError(f"checksum mismatch for {path}: md5 is {digest}, expected {md5} "
                         "(the file is corrupt or not the corpus the book uses)")
    text = raw.decode("utf-8")
    if len(text) < 2:
        raise ValueError(f"the text of {path} is empty or has a single character: nothing to split")
    vocab = "".join(sorted(set(text)))
    index = {c: k for k, c in enumerate(vocab)}
    codes = torch.tensor([index[c] for c in text], dtype=torch.int64)
    n_train = min(max(int((1 - val_fraction) * len(codes)), 1), len(codes) - 1)
    return CharCorpus(codes[:n_train], codes[n_train:], vocab)


def tiny_shakespeare(*, val_fraction: float = 0.1) -> CharCorpus:
    """Tiny Shakespeare, vendored in the package, with the standard 90/10 split.

    About 40 000 lines of Shakespeare's plays (public domain), 1 115 394 characters, 65
    distinct ones, as collected by A. Karpathy for char-rnn (2015). The md5 is checked
    against :data:`TINY_SHAKESPEARE_MD5` on every load.

    Parameters
    ----------
    val_fraction : float
        Share kept for validation (keyword-only), the last characters of the text.

    Returns
    -------
    CharCorpus
        With the default, ``train (1003854,)``, ``val (111540,)`` and a 65-character vocab.
    """
    path = resources.files("dlnotes") / "corpora" / "tinyshakespeare.txt"
    with resources.as_file(path) as file:
        return char_corpus(file, md5=TINY_SHAKESPEARE_MD5, val_fraction=val_fraction)


def char_windows(codes: torch.Tensor, length: int, n: int, *,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut ``n`` random windows of ``length + 1`` characters from a code sequence.

    Parameters
    ----------
    codes : torch.Tensor
        ``(N,)`` integer codes (e.g. ``CharCorpus.train``), ``N > length``.
    length : int
        Characters per input window ``L``.
    n : int
        Number of windows; starts are uniform over ``[0, N - L - 1]``.
    generator : torch.Generator, optional
        CPU generator of the starts (keyword-only).

    Returns
    -------
    inputs, targets : torch.Tensor
        ``(n, L)`` int64 each; ``targets`` is ``inputs`` shifted by one character, so
        ``targets[:, t]`` is the character that follows ``inputs[:, t]``.
    """
    if not isinstance(codes, torch.Tensor) or codes.dim() != 1 or codes.is_floating_point():
        raise ValueError(f"codes must be a 1-D integer tensor, got {getattr(codes, 'shape', type(codes))}")
    positive_int("length", length)
    positive_int("n", n)
    if len(codes) <= length:
        raise ValueError(f"codes must be longer than length = {length}, got {len(codes)} codes")
    starts = torch.randint(len(codes) - length, (n,), generator=generator)
    windows = codes[starts[:, None] + torch.arange(length + 1)]
    return windows[:, :-1], windows[:, 1:]


def digit_slots(images: torch.Tensor, labels: torch.Tensor, n: int, *, slots: int = 4,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A pointer task on the digits: ``slots`` images side by side and a key saying which to read.

    Each example draws ``slots`` images (with replacement) from ``images`` and a key
    ``k ~ Uniform{0, …, slots − 1}``; its label is the class of the image in slot ``k``. Build
    the training set from a :func:`digits` training part and the test set from its test part.

    Parameters
    ----------
    images : torch.Tensor
        ``(m, d)`` flat images (e.g. ``digits().x_train``).
    labels : torch.Tensor
        ``(m,)`` int64 classes of ``images``.
    n : int
        Number of examples.
    slots : int
        Images per example, >= 2 (keyword-only).
    generator : torch.Generator, optional
        CPU generator of the draws.

    Returns
    -------
    x : torch.Tensor
        ``(n, slots, d)`` float32 slots.
    key : torch.Tensor
        ``(n,)`` int64 slot to read.
    y : torch.Tensor
        ``(n,)`` int64 class of the image in slot ``key``.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 2 or not images.is_floating_point():
        raise ValueError(f"images must be a floating tensor (m, d), got {tuple(getattr(images, 'shape', ()))}")
    if (not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dim() != 1
            or labels.shape[0] != images.shape[0]):
        raise ValueError(f"labels must be an integer tensor (m,) with m = {images.shape[0]}")
    positive_int("n", n)
    positive_int("slots", slots, minimum=2)
    index = torch.randint(images.shape[0], (n, slots), generator=generator)
    key = torch.randint(slots, (n,), generator=generator)
    return images[index].float(), key, labels[index.gather(1, key[:, None])[:, 0]]
