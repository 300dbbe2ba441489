"""Both faces of dlnotes.widgets.slider, and dlnotes.show."""
import base64
import json
import re

import matplotlib.pyplot as plt
import pytest

import dlnotes
from dlnotes.losses import softmax
from dlnotes.widgets import Slider, slider

PNG = b"\x89PNG\r\n\x1a\n"


def _draw(value):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar([0, 1], [value, 1 - value])
    return fig


@pytest.fixture
def widget() -> Slider:
    return slider(_draw, [0.1, 0.5, 0.9], label="p", caption=lambda v: f"p = {v:.1f}, q = {1 - v:.1f}")


def test_frames_are_distinct_pngs(widget):
    assert len(widget.frames) == 3 and all(f.startswith(PNG) for f in widget.frames)
    assert len(set(widget.frames)) == 3
    assert widget.index == 1 and widget.captions[2] == "p = 0.9, q = 0.1"
    assert plt.get_fignums() == []  # every frame's figure was closed


def test_bundle_carries_both_faces(widget):
    bundle = widget._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"}
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == widget.live().model_id


def test_static_face_holds_every_frame_and_the_slider(widget):
    page = widget.static_html()
    data = json.loads(re.search(r'class="dlnotes-slider-data">(.*?)</script>', page).group(1))
    assert [base64.b64decode(f) for f in data["frames"]] == widget.frames
    assert data["captions"] == widget.captions
    assert 'type="range" min="0" max="2" step="1" value="1"' in page
    assert f'src="data:image/png;base64,{data["frames"][1]}"' in page
    assert "<output>p = 0.5, q = 0.5</output>" in page
    assert "http://" not in page and "https://" not in page


def test_static_face_escapes_its_text():
    page = slider(_draw, [0.5], label="<b>", caption=lambda v: "</script>").static_html()
    assert "<b>" not in page and "</script>\"" not in page
    json_part = re.search(r'class="dlnotes-slider-data">(.*?)</script>', page).group(1)
    assert json.loads(json_part)["captions"] == ["</script>"]


def test_live_face_swaps_frames_and_readout(widget):
    box = widget.live()
    image, (control, readout) = box.children[0], box.children[1].children
    assert image.value == widget.frames[1] and readout.value == widget.captions[1]
    control.value = 2
    assert image.value == widget.frames[2] and readout.value == widget.captions[2]
    assert widget.live() is box


def test_initial_value_and_default_caption():
    w = slider(_draw, [0.2, 0.4], label="p", initial=0.4)
    assert w.index == 1 and w.captions == ["p = 0.2", "p = 0.4"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(values=[]), "at least one"),
    (dict(label=""), "label"),
    (dict(initial=0.3), "initial"),
    (dict(draw=lambda v: None), "Figure"),
])
def test_slider_bad_arguments(kwargs, match):
    args = dict(draw=_draw, values=[0.1, 0.5], label="p")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        slider(**args)


def test_show_returns_the_source_as_markdown_without_the_docstring():
    bundle = dlnotes.show(softmax)._repr_mimebundle_()
    assert bundle["text/markdown"].startswith("```python\ndef softmax(")
    assert bundle["text/markdown"].endswith("dim=dim).exp()\n```")
    assert "log_softmax(logits / temperature" in bundle["text/plain"]
    assert "Parameters" not in bundle["text/plain"]
    assert "Parameters" in dlnotes.show(softmax, docstring=True).code
    with pytest.raises(ValueError, match="function or a class"):
        dlnotes.show(42)
