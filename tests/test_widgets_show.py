"""Both faces of dlnotes.widgets.slider, dlnotes.text (say/glue) and dlnotes.show."""
import base64
import json
import re

import matplotlib.pyplot as plt
import pytest

import dlnotes
from dlnotes.losses import softmax
from dlnotes.widgets import MAX_FRAMES, Slider, slider

PNG = b"\x89PNG\r\n\x1a\n"


def _draw(value):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar([0, 1], [value, 1 - value])
    return fig


def _draw2(a, b):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar([0, 1], [a, b])
    return fig


@pytest.fixture
def widget() -> Slider:
    return slider(_draw, {"p": [0.1, 0.5, 0.9]}, caption=lambda v: f"p = {v:.1f}, q = {1 - v:.1f}")


def _payload(page):
    return json.loads(re.search(r'class="dlnotes-slider-data">(.*?)</script>', page).group(1))


def test_frames_are_distinct_pngs(widget):
    assert len(widget.frames) == 3 and all(f.startswith(PNG) for f in widget.frames)
    assert len(set(widget.frames)) == 3
    assert widget.index == (1,) and widget.captions[2] == "p = 0.9, q = 0.1"
    assert plt.get_fignums() == []  # every frame's figure was closed


def test_bundle_carries_both_faces(widget):
    bundle = widget._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"}
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == widget.live().model_id


def test_static_face_holds_every_frame_and_the_slider(widget):
    page = widget.static_html()
    data = _payload(page)
    assert [base64.b64decode(f) for f in data["frames"]] == widget.frames
    assert data["captions"] == widget.captions and data["strides"] == [1]
    assert 'type="range" min="0" max="2" step="1" value="1"' in page
    assert f'src="data:image/png;base64,{data["frames"][1]}"' in page
    assert ">p = 0.5, q = 0.5</output>" in page
    assert "http://" not in page and "https://" not in page


def test_static_face_escapes_its_text():
    page = slider(_draw, {"<b>": [0.5]}, caption=lambda v: "</script>").static_html()
    assert "<b>" not in page and "</script>\"" not in page
    assert _payload(page)["captions"] == ["</script>"]


def test_live_float_slider_recomputes_off_the_grid(widget):
    box = widget.live()
    control = widget.controls[0]
    assert type(control).__name__ == "FloatSlider" and control.min == 0.1 and control.max == 0.9
    assert widget.image.value == widget.frames[1] and widget.readout.value == widget.captions[1]
    control.value = 0.37                      # between grid points: a new figure is drawn
    assert widget.image.value == widget.render(0.37)
    assert widget.image.value not in widget.frames
    assert widget.readout.value == "p = 0.4, q = 0.6"
    assert widget.live() is box
    assert widget.image.width == str(int.from_bytes(widget.frames[1][16:20], "big"))  # natural size


def test_integer_grid_gives_an_integer_slider_over_the_whole_range():
    w = slider(lambda k: _draw(k / 10), {"k": [0, 5, 10]})
    w.live()
    assert type(w.controls[0]).__name__ == "IntSlider" and w.controls[0].step == 1
    w.controls[0].value = 3
    assert w.image.value == w.render(3)


def test_discrete_and_non_numeric_grids_select_grid_values():
    w = slider(lambda s: _draw(0.5), {"stage": ["early", "late"]})
    w.live()
    assert type(w.controls[0]).__name__ == "SelectionSlider"
    w = slider(_draw, {"p": [0.1, 0.9]}, discrete=True)
    w.live()
    assert type(w.controls[0]).__name__ == "SelectionSlider"


def test_two_parameters_static_and_live():
    w = slider(_draw2, {"a": [0.1, 0.2, 0.3], "b": [0.5, 0.7]}, initial={"a": 0.3, "b": 0.5})
    assert len(w.frames) == 6 and w.strides == [2, 1] and w.index == (2, 0)
    # frame k = 2·i_a + i_b is the figure of (a_i, b_j)
    assert w.frames[2 * 1 + 1] == w.render(0.2, 0.7)
    page = w.static_html()
    assert page.count('type="range"') == 2 and _payload(page)["strides"] == [2, 1]
    w.live()
    w.controls[1].value = 0.63
    assert w.image.value == w.render(0.3, 0.63)


def test_initial_value_and_default_caption():
    w = slider(_draw, {"p": [0.2, 0.4]}, initial={"p": 0.4})
    assert w.index == (1,) and w.captions == ["p = 0.2", "p = 0.4"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(params={"p": []}), "at least one"),
    (dict(params={"": [0.1]}), "label"),
    (dict(params={}), "one or two"),
    (dict(params={"a": [1], "b": [2], "c": [3]}), "one or two"),
    (dict(params={"a": list(range(9)), "b": list(range(8))}), "at most"),
    (dict(initial={"p": 0.3}), "initial"),
    (dict(initial={"q": 0.1}), "unknown"),
    (dict(draw=lambda v: None), "Figure"),
    (dict(dpi=0), "dpi"),
])
def test_slider_bad_arguments(kwargs, match):
    args = dict(draw=_draw, params={"p": [0.1, 0.5]}) | kwargs
    with pytest.raises(ValueError, match=match):
        slider(args.pop("draw"), args.pop("params"), **args)
    assert MAX_FRAMES == 64


def test_say_formats_and_returns_markdown():
    from dlnotes.text import say

    sentence = say("Accuracy {acc:.3f} on ${n}$ images.", acc=0.96412, n=450)
    assert sentence._repr_mimebundle_()["text/markdown"] == "Accuracy 0.964 on $450$ images."
    with pytest.raises(ValueError, match="not given"):
        say("{missing}", other=1)


def test_glue_records_exactly_what_myst_nb_records():
    """In a kernel, dlnotes.text.glue must emit myst-nb's record: compare with myst_nb.glue."""
    from IPython.core.interactiveshell import InteractiveShell

    myst_glue = pytest.importorskip("myst_nb").glue
    from dlnotes.text import glue

    shell = InteractiveShell.instance()
    captured = []
    publisher = shell.display_pub
    original = publisher.publish
    publisher.publish = lambda data, metadata=None, **kw: captured.append((data, metadata))
    try:
        import numpy as np
        import torch

        glue("answer", torch.tensor(0.25, dtype=torch.float64))
        myst_glue("answer", 0.25, display=False)
        glue("answer", np.float64(0.25))  # a NumPy scalar reads 0.25 too, not np.float64(0.25)
    finally:
        publisher.publish = original
    assert len(captured) == 3 and captured[0] == captured[1] == captured[2]
    assert captured[0][1]["scrapbook"]["name"] == "answer"
    with pytest.raises(ValueError, match="identifier"):
        glue("not a name", 1)


def test_show_returns_the_source_as_markdown_without_the_docstring():
    bundle = dlnotes.show(softmax)._repr_mimebundle_()
    assert bundle["text/markdown"].startswith("```python\ndef softmax(")
    assert bundle["text/markdown"].endswith("temperature=temperature).exp()\n```")
    assert "Parameters" not in bundle["text/plain"]
    assert "Parameters" in dlnotes.show(softmax, docstring=True).code
    with pytest.raises(ValueError, match="function or a class"):
        dlnotes.show(42)
