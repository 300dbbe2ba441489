"""Every page of the built book in headless Chromium with the network refused: nothing
fails to load, nothing logs an error, the maths is typeset, images and links resolve."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from conftest import MATHJAX_DONE, SCREENSHOTS, SITE, assert_fits, site_pages

# Text nodes outside code, scripts and typeset maths: raw TeX delimiters left there mean
# MathJax did not run on the page.
_UNTYPESET_TEXT = """() => {
  const skip = "PRE, CODE, SCRIPT, STYLE, MJX-CONTAINER, TEXTAREA";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const hits = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest(skip)) continue;
    if (/\\$\\$|\\\\\\(|\\\\\\[|\\\\begin\\{/.test(n.textContent)) hits.push(n.textContent.trim().slice(0, 80));
  }
  return hits;
}"""


# Each page is loaded once per width: a load costs a few seconds (large pages, fonts, MathJax), so
# everything that can be asked of the desktop load is asked of it.
@pytest.mark.parametrize("path", [p.as_posix() for p in site_pages()])
def test_page_on_a_desktop(open_page, path):
    """Offline, error-free, typeset, links resolve, fits 1280 px, and every static slider moves."""
    page, log = open_page(path)
    typeset = page.evaluate(MATHJAX_DONE)
    assert not log.refused, f"off-site requests: {log.refused}"
    assert not log.failed, f"failed requests: {log.failed}"
    assert not log.console_errors, f"console errors: {log.console_errors}"

    math_nodes = page.locator(".math, span.math, div.math").count()
    if math_nodes:
        assert typeset >= math_nodes, f"{math_nodes} maths nodes but {typeset} typeset by MathJax"
    assert page.evaluate(_UNTYPESET_TEXT) == []
    # numbered derivations must fit the text column at a laptop width (the verbatim quotes of
    # the notes may scroll: they reproduce the student's long lines)
    too_wide = page.evaluate("""() => [...document.querySelectorAll('mjx-container[display="true"]')]
        .filter(e => !e.closest('blockquote') && e.scrollWidth > e.clientWidth + 2)
        .map(e => (e.closest('.math') || e.parentElement).id || e.textContent.slice(0, 60))""")
    assert too_wide == [], f"display equations wider than the column: {too_wide}"

    broken_images = page.evaluate(
        "() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80))")
    assert broken_images == []

    views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    if views:  # outputs shown as live widgets (e.g. tqdm bars): the embed manager must draw them
        rendered = page.locator(".jupyter-widgets.widget-container, .jupyter-widgets.widget-inline-hbox").count()
        assert rendered >= views, f"{views} widget views but {rendered} rendered"

    # links resolve against the page actually shown (index.html redirects to the intro)
    shown = urlsplit(page.url).path.lstrip("/")
    here = f"{SITE.as_uri()}/{shown}"
    for href in page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"):
        if re.match(r"^[a-z]+:", href) and not href.startswith("file:"):
            continue  # mailto:, javascript: — there are no http(s) links to check offline
        target = urlsplit(urljoin(here, href))
        file = Path(target.path)
        assert file.exists(), f"broken link {href!r} on {path}"
        if target.fragment and file.suffix == ".html":
            if file.resolve() == (SITE / shown).resolve():  # same page: ids MathJax adds (\eqref) count
                found = page.evaluate("f => document.getElementById(decodeURIComponent(f)) !== null", target.fragment)
            else:
                found = f'id="{target.fragment}"' in file.read_text(encoding="utf-8")
            assert found, f"missing anchor {href!r} on {path}"

    if path.startswith("book/"):
        assert_fits(page, 1280)
    if "dlnotes-slider" in (SITE / path).read_text(encoding="utf-8"):
        _move_every_slider(page, path)
    assert not log.console_errors, f"console errors: {log.console_errors}"


def test_softmax_temperature_slider_moves_the_figure(open_page):
    page, log = open_page("book/01-foundations/softmax-cross-entropy.html")
    widget = page.locator(".dlnotes-slider").first
    widget.scroll_into_view_if_needed()
    image, readout = widget.locator("img"), widget.locator("output.dlnotes-caption")
    control = widget.locator('input[type="range"]')
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before_png = widget.screenshot(path=str(SCREENSHOTS / "softmax-temperature-before.png"))
    before_src, before_text, before_value = image.get_attribute("src"), readout.inner_text(), control.input_value()

    control.focus()
    for _ in range(6):  # six steps up the temperature grid, as a keyboard user would
        control.press("ArrowRight")
    after_png = widget.screenshot(path=str(SCREENSHOTS / "softmax-temperature-after.png"))

    assert int(control.input_value()) == int(before_value) + 6
    assert image.get_attribute("src") != before_src
    assert readout.inner_text() != before_text and "entropy" in readout.inner_text()
    assert after_png != before_png
    assert not log.console_errors and not log.failed and not log.refused


def _move_every_slider(page, path: str) -> None:
    """Step every range input of every static slider once; each step must swap the frame."""
    sliders = page.locator(".dlnotes-slider")
    assert sliders.count() > 0
    for k in range(sliders.count()):
        widget = sliders.nth(k)
        image = widget.locator("img")
        controls = widget.locator('input[type="range"]')
        for j in range(controls.count()):  # every parameter's range input moves the figure
            control = controls.nth(j)
            if control.get_attribute("max") == "0":
                continue  # a single frame has nothing to move to
            start, src = int(control.input_value()), image.get_attribute("src")
            key = "ArrowLeft" if start == int(control.get_attribute("max")) else "ArrowRight"
            control.focus()
            control.press(key)
            assert int(control.input_value()) == start + (1 if key == "ArrowRight" else -1)
            assert image.get_attribute("src") != src, f"slider {k}, input {j} on {path} did not change its frame"
