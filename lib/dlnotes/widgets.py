"""Slider widgets that work in a kernel *and* in the static HTML book (DESIGN.md §6).

:func:`slider` draws one figure per value of a parameter grid, once. The object it returns
displays as a single output whose mime bundle carries two faces of the same frames:

* ``application/vnd.jupyter.widget-view+json`` — an ipywidgets slider, for Jupyter/Colab;
* ``text/html`` — the frames as ``data:`` PNGs behind an ``<input type="range">`` and a
  few lines of inline JavaScript, for the HTML book, which needs no kernel and no network.

The book's ``_config.yml`` ranks ``text/html`` above the widget view for the HTML builder,
so the built page shows the static face, while Jupyter shows the live one.
"""
from __future__ import annotations

import base64
import html
import json
from typing import Any, Callable, Sequence

import ipywidgets
import matplotlib.pyplot as plt

from .plot import figure_png

__all__ = ["Slider", "slider"]

_SCRIPT = """(function () {
  var root = document.currentScript.parentElement;
  var data = JSON.parse(root.querySelector("script.dlnotes-slider-data").textContent);
  var img = root.querySelector("img"), out = root.querySelector("output");
  var input = root.querySelector("input");
  input.addEventListener("input", function () {
    var k = Number(input.value);
    img.src = "data:image/png;base64," + data.frames[k];
    out.textContent = data.captions[k];
  });
})();"""


class Slider:
    """A parameter slider over precomputed figures (build it with :func:`slider`).

    Attributes
    ----------
    label : str
        The parameter's name, shown beside the slider.
    values : list
        The parameter grid, in slider order.
    captions : list of str
        The readout shown for each value.
    frames : list of bytes
        The PNG image drawn for each value.
    index : int
        Position of the value shown first.
    """

    def __init__(self, frames: list[bytes], captions: list[str], values: list[Any],
                 label: str, index: int) -> None:
        self.frames, self.captions, self.values = frames, captions, values
        self.label, self.index = label, index
        self._live: ipywidgets.Widget | None = None

    def static_html(self) -> str:
        """The kernel-free face: an ``<img>``, a range input and a readout, self-contained."""
        encoded = [base64.b64encode(f).decode("ascii") for f in self.frames]
        payload = json.dumps({"frames": encoded, "captions": self.captions}).replace("</", "<\\/")
        label = html.escape(self.label)
        return (
            '<div class="dlnotes-slider" style="max-width:100%">'
            f'<img alt="figure for {label}" style="max-width:100%" '
            f'src="data:image/png;base64,{encoded[self.index]}">'
            '<div style="display:flex;gap:0.8em;align-items:center;font-family:sans-serif">'
            f'<label>{label} <input type="range" min="0" max="{len(self.frames) - 1}" step="1" '
            f'value="{self.index}" style="vertical-align:middle;width:16em"></label>'
            f"<output>{html.escape(self.captions[self.index])}</output></div>"
            f'<script type="application/json" class="dlnotes-slider-data">{payload}</script>'
            f"<script>{_SCRIPT}</script></div>"
        )

    def live(self) -> ipywidgets.VBox:
        """The kernel face: an ipywidgets selection slider swapping the same frames."""
        if self._live is None:
            image = ipywidgets.Image(value=self.frames[self.index], format="png")
            readout = ipywidgets.Label(self.captions[self.index])
            control = ipywidgets.SelectionSlider(
                options=[(f"{v}", k) for k, v in enumerate(self.values)], value=self.index,
                description=self.label, readout=False,
                layout=ipywidgets.Layout(width="24em"), style={"description_width": "initial"},
            )

            def update(change: dict) -> None:
                image.value = self.frames[change["new"]]
                readout.value = self.captions[change["new"]]

            control.observe(update, names="value")
            self._live = ipywidgets.VBox([image, ipywidgets.HBox([control, readout])])
        return self._live

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.live()._repr_mimebundle_())
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = f"<slider over {self.label}: {len(self.frames)} frames>"
        return bundle


def slider(
    draw: Callable[[Any], plt.Figure],
    values: Sequence[Any],
    *,
    label: str,
    caption: Callable[[Any], str] | None = None,
    initial: Any = None,
    dpi: int = 80,
) -> Slider:
    """Precompute a figure for every value of a parameter and return a two-faced slider.

    Parameters
    ----------
    draw : callable
        ``draw(value) -> matplotlib.figure.Figure``; the figure is rendered and closed.
    values : sequence
        The parameter grid (at least one value), in slider order.
    label : str
        The parameter's name, e.g. ``"temperature T"``.
    caption : callable, optional
        ``caption(value) -> str``: the readout beside the slider (default ``"label = value"``),
        e.g. a quantity computed at that value.
    initial : optional
        The value shown first (must be in ``values``); default the middle of the grid.
    dpi : int
        Resolution of the frames.

    Returns
    -------
    Slider
        Display it (last expression of a cell) to get both faces in one output.
    """
    values = list(values)
    if not values:
        raise ValueError("values must contain at least one parameter value")
    if not isinstance(label, str) or not label:
        raise ValueError("label must be a non-empty string")
    if initial is None:
        index = (len(values) - 1) // 2
    elif initial in values:
        index = values.index(initial)
    else:
        raise ValueError(f"initial must be one of values, got {initial!r}")
    frames, captions = [], []
    for value in values:
        fig = draw(value)
        if not isinstance(fig, plt.Figure):
            raise ValueError(f"draw must return a matplotlib Figure, got {type(fig).__name__}")
        frames.append(figure_png(fig, dpi=dpi))
        captions.append(caption(value) if caption is not None else f"{label} = {value}")
    return Slider(frames, captions, values, label, index)
