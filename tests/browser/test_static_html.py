"""The built HTML references no remote script, stylesheet or font (no browser needed)."""
from __future__ import annotations

import re

import pytest

from conftest import SITE, site_pages

_REMOTE = r"(?:https?:)?//"


@pytest.fixture(scope="module")
def pages(site):
    return {p.as_posix(): (SITE / p).read_text(encoding="utf-8") for p in site_pages()}


def test_no_page_loads_a_remote_script_or_stylesheet(pages):
    offenders = {}
    for path, html in pages.items():
        found = re.findall(rf'<script[^>]*\ssrc="{_REMOTE}[^"]*"', html)
        found += [tag for tag in re.findall(r"<link[^>]*>", html)
                  if "stylesheet" in tag and re.search(rf'href="{_REMOTE}', tag)]
        if found:
            offenders[path] = found
    assert not offenders


def test_static_css_imports_nothing_remote(site):
    offenders = [css.relative_to(site).as_posix() for css in (site / "_static").rglob("*.css")
                 if re.search(rf"(@import|url\()\s*['\"]?{_REMOTE}", css.read_text(encoding="utf-8", errors="ignore"))]
    assert not offenders


def test_mathjax_and_widget_manager_are_vendored(site, pages):
    for asset in ("mathjax/tex-mml-chtml.js", "widgets/require.js", "widgets/embed-amd.js"):
        assert (site / "_static" / asset).stat().st_size > 10_000, asset
    chapter = pages["book/01-foundations/softmax-cross-entropy.html"]
    assert "_static/mathjax/tex-mml-chtml.js" in chapter and "_static/widgets/embed-amd.js" in chapter
