"""Sliders that recompute in a kernel and still move without one (DESIGN.md §6).

:func:`slider` takes a drawing function and one or two parameters. The object it returns
displays as a single output whose mime bundle carries two faces:

* ``application/vnd.jupyter.widget-view+json`` — ipywidgets sliders for Jupyter and Colab that
  **call the drawing function again** for any value of their range (a float slider moves in
  fine steps and its readout can be typed into), and show the figure at its natural size;
* ``text/html`` — for the HTML book, which has no kernel: frames precomputed over the grid of
  each parameter, as ``data:`` PNGs behind one ``<input type="range">`` per parameter and a few
  lines of inline JavaScript (no network, no widget manager).

The book's ``_config.yml`` ranks ``text/html`` above the widget view for the HTML builder, so
the built page shows the static face while Jupyter shows the live one.
"""
from __future__ import annotations

import base64
import html
import json
import math
import numbers
import struct
from typing import Any, Callable, Mapping, Sequence

import ipywidgets
import matplotlib.pyplot as plt

from .plot import figure_png

__all__ = ["MAX_FRAMES", "Slider", "slider"]

#: Most frames the static face may carry (the product of the grid sizes).
MAX_FRAMES = 64

_SCRIPT = """(function () {
  var root = document.currentScript.parentElement;
  var data = JSON.parse(root.querySelector("script.dlnotes-slider-data").textContent);
  var img = root.querySelector("img"), out = root.querySelector("output.dlnotes-caption");
  var inputs = root.querySelectorAll("input[type=range]");
  function update() {
    var k = 0;
    inputs.forEach(function (input, i) { k += Number(input.value) * data.strides[i]; });
    img.src = "data:image/png;base64," + data.frames[k];
    out.textContent = data.captions[k];
    inputs.forEach(function (input, i) {
      input.parentElement.querySelector("output").textContent = data.values[i][Number(input.value)];
    });
  }
  inputs.forEach(function (input) { input.addEventListener("input", update); });
})();"""

_STYLE = {
    "box": "max-width:100%;margin:0.5em 0",
    "img": "display:block;max-width:100%;height:auto",
    "row": "display:flex;flex-wrap:wrap;gap:0.3em 1em;align-items:center;font-family:sans-serif;"
           "font-size:0.9em",
    "label": "display:flex;align-items:center;gap:0.5em;flex:1 1 14em;min-width:0",
    "input": "flex:1 1 8em;min-width:6em;max-width:20em",
    "caption": "flex:1 1 100%",
}


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _nice_step(lo: float, hi: float) -> float:
    """A round step giving at least ~100 positions over ``[lo, hi]`` (0.01 for [0.1, 10])."""
    return 10.0 ** math.floor(math.log10((hi - lo) / 100)) if hi > lo else 1.0


def _png_width(png: bytes) -> int:
    return struct.unpack(">I", png[16:20])[0]  # IHDR width, in pixels


def _format(v: Any) -> str:
    return f"{v:.4g}" if _is_number(v) and not _is_int(v) else str(v)


class Slider:
    """A figure over one or two parameters with a live face and a static face.

    Build it with :func:`slider`. After :meth:`live` has been called, ``controls`` holds the
    ipywidgets (one per parameter), ``image`` the figure and ``readout`` the caption; setting
    a control's ``value`` redraws the figure for that value.

    Attributes
    ----------
    labels : list of str
        The parameters' names, in order.
    grids : list of list
        The grid of each parameter (the static face's positions).
    frames : list of bytes
        PNG frames over the product of the grids, the last parameter varying fastest.
    captions : list of str
        The readout of each frame.
    index : tuple of int
        Grid position shown first.
    """

    def __init__(self, draw: Callable[..., plt.Figure], caption: Callable[..., str],
                 labels: list[str], grids: list[list[Any]], index: tuple[int, ...], dpi: int,
                 discrete: bool) -> None:
        self._draw, self._caption, self._dpi, self._discrete = draw, caption, dpi, discrete
        self.labels, self.grids, self.index = labels, grids, index
        self.frames: list[bytes] = []
        self.captions: list[str] = []
        for position in _product([range(len(g)) for g in grids]):
            values = [g[i] for g, i in zip(grids, position)]
            self.frames.append(self.render(*values))
            self.captions.append(caption(*values))
        self._live: ipywidgets.VBox | None = None
        self.controls: list[ipywidgets.Widget] = []
        self.image: ipywidgets.Image | None = None
        self.readout: ipywidgets.Label | None = None

    def render(self, *values: Any) -> bytes:
        """Draw the figure for ``values`` (one per parameter) and return it as PNG bytes."""
        fig = self._draw(*values)
        if not isinstance(fig, plt.Figure):
            raise ValueError(f"draw must return a matplotlib Figure, got {type(fig).__name__}")
        return figure_png(fig, dpi=self._dpi)

    @property
    def strides(self) -> list[int]:
        """Frame-index stride of each parameter (row-major over the grids)."""
        strides, step = [], 1
        for grid in reversed(self.grids):
            strides.insert(0, step)
            step *= len(grid)
        return strides

    def _frame(self, position: Sequence[int]) -> int:
        return sum(i * s for i, s in zip(position, self.strides))

    def static_html(self) -> str:
        """The kernel-free face: an ``<img>``, one range input per parameter, a readout."""
        encoded = [base64.b64encode(f).decode("ascii") for f in self.frames]
        payload = json.dumps({
            "frames": encoded, "captions": self.captions, "strides": self.strides,
            "values": [[_format(v) for v in g] for g in self.grids],
        }).replace("</", "<\\/")
        first = self._frame(self.index)
        rows = []
        for label, grid, i in zip(self.labels, self.grids, self.index):
            name = html.escape(label)
            rows.append(
                f'<label style="{_STYLE["label"]}"><span>{name}</span>'
                f'<input type="range" min="0" max="{len(grid) - 1}" step="1" value="{i}" '
                f'aria-label="{name}" style="{_STYLE["input"]}">'
                f"<output>{html.escape(_format(grid[i]))}</output></label>"
            )
        width = _png_width(self.frames[first])
        return (
            f'<div class="dlnotes-slider" style="{_STYLE["box"]}">'
            f'<img alt="figure for {html.escape(", ".join(self.labels))}" width="{width}" '
            f'style="{_STYLE["img"]}" src="data:image/png;base64,{encoded[first]}">'
            f'<div style="{_STYLE["row"]}">{"".join(rows)}'
            f'<output class="dlnotes-caption" style="{_STYLE["caption"]}">'
            f"{html.escape(self.captions[first])}</output></div>"
            f'<script type="application/json" class="dlnotes-slider-data">{payload}</script>'
            f"<script>{_SCRIPT}</script></div>"
        )

    def _control(self, label: str, grid: list[Any], i: int) -> ipywidgets.Widget:
        common = dict(description=label, continuous_update=False,
                      style={"description_width": "initial"}, layout=ipywidgets.Layout(width="26em"))
        if not self._discrete and all(_is_int(v) for v in grid) and len(grid) > 1:
            return ipywidgets.IntSlider(value=grid[i], min=min(grid), max=max(grid), step=1, **common)
        if not self._discrete and all(_is_number(v) for v in grid) and len(grid) > 1:
            lo, hi = float(min(grid)), float(max(grid))
            step = _nice_step(lo, hi)
            digits = max(0, -math.floor(math.log10(step)))
            return ipywidgets.FloatSlider(value=float(grid[i]), min=lo, max=hi, step=step,
                                          readout_format=f".{digits}f", **common)
        return ipywidgets.SelectionSlider(options=[(_format(v), v) for v in grid], value=grid[i], **common)

    def live(self) -> ipywidgets.VBox:
        """The kernel face: sliders that redraw the figure for any value they take."""
        if self._live is None:
            first = self._frame(self.index)
            self.image = ipywidgets.Image(value=self.frames[first], format="png",
                                          width=str(_png_width(self.frames[first])))
            self.readout = ipywidgets.Label(self.captions[first])
            self.controls = [self._control(l, g, i) for l, g, i in zip(self.labels, self.grids, self.index)]

            def redraw(change: dict) -> None:
                values = [c.value for c in self.controls]
                self.image.value = self.render(*values)
                self.readout.value = self._caption(*values)

            for control in self.controls:
                control.observe(redraw, names="value")
            self._live = ipywidgets.VBox([self.image, *self.controls, self.readout])
        return self._live

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.live()._repr_mimebundle_())
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = f"<slider over {', '.join(self.labels)}: {len(self.frames)} frames>"
        return bundle


def _product(ranges: list[range]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for r in ranges:
        out = [p + (i,) for p in out for i in r]
    return out


def slider(
    draw: Callable[..., plt.Figure],
    params: Mapping[str, Sequence[Any]],
    *,
    caption: Callable[..., str] | None = None,
    initial: Mapping[str, Any] | None = None,
    discrete: bool = False,
    dpi: int = 80,
) -> Slider:
    """A figure with one slider per parameter, live in a kernel and static in the HTML book.

    Parameters
    ----------
    draw : callable
        ``draw(*values) -> matplotlib.figure.Figure``, one value per parameter in the order of
        ``params``; the figure is rendered and closed.
    params : mapping of str to sequence
        One or two parameters: ``{label: grid}``, e.g. ``{"temperature T": [0.1, …, 10]}``.
        The grid gives the static face's frames (at most :data:`MAX_FRAMES` in all); in a
        kernel an integer grid becomes an integer slider over ``[min, max]``, a real grid a
        float slider over ``[min, max]`` in round steps, anything else a selection slider.
    caption : callable, optional
        ``caption(*values) -> str``, the readout under the figure (default ``"label = value"``).
    initial : mapping, optional
        ``{label: value}`` shown first; each value must be in its grid (default the middle).
    discrete : bool
        Keep the live sliders on the grid (for parameters whose figures exist only there, such
        as snapshots of a training run).
    dpi : int
        Resolution of the frames.

    Returns
    -------
    Slider
        Display it (last expression of a cell) to get both faces in one output.
    """
    if not isinstance(params, Mapping) or not 1 <= len(params) <= 2:
        raise ValueError("params must be a mapping of one or two {label: grid} entries")
    labels, grids = [], []
    for label, grid in params.items():
        if not isinstance(label, str) or not label:
            raise ValueError("every parameter label must be a non-empty string")
        grid = list(grid)
        if not grid:
            raise ValueError(f"the grid of {label!r} must contain at least one value")
        labels.append(label)
        grids.append(grid)
    if math.prod(len(g) for g in grids) > MAX_FRAMES:
        raise ValueError(f"the grids give {math.prod(len(g) for g in grids)} frames; at most "
                         f"{MAX_FRAMES} are allowed (use coarser grids: the live face is not limited)")
    initial = dict(initial or {})
    unknown = set(initial) - set(labels)
    if unknown:
        raise ValueError(f"initial names unknown parameters: {sorted(unknown)}")
    index = []
    for label, grid in zip(labels, grids):
        if label in initial:
            if initial[label] not in grid:
                raise ValueError(f"initial value of {label!r} must be one of its grid, got {initial[label]!r}")
            index.append(grid.index(initial[label]))
        else:
            index.append((len(grid) - 1) // 2)
    if caption is None:
        def caption(*values: Any) -> str:
            return " · ".join(f"{l} = {_format(v)}" for l, v in zip(labels, values))
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 10:
        raise ValueError(f"dpi must be an integer >= 10, got {dpi!r}")
    return Slider(draw, caption, labels, grids, tuple(index), dpi, discrete)
