"""Each notebook is executed once per test run: the book shows nbval's execution (issue 13).

``tests/conftest.py`` stores every notebook that passed under nbval in the book's jupyter-cache
with ``executed_by: nbval``; the build (``execute_notebooks: cache``) re-executes a notebook
only when no cached execution matches its code, and then records it without that mark. So a
chapter whose record lacks the mark was executed a second time, by the build, and the HTML
would not show the outputs the checks passed on.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "_build" / ".jupyter_cache"
CHAPTERS = sorted(ROOT.joinpath("book").rglob("*.ipynb"))


def test_the_build_reads_the_cache_the_tests_write():
    config = (ROOT / "_config.yml").read_text()
    assert re.search(r"^\s*execute_notebooks:\s*cache\b", config, re.M)
    assert re.search(r"^\s*cache:\s*_build/\.jupyter_cache\b", config, re.M)


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_built_chapter_is_nbvals_execution(site, nb):
    from jupyter_cache import get_cache

    cache = get_cache(str(CACHE))
    try:
        record = cache.match_cache_notebook(nbformat.read(nb, as_version=4))
    except KeyError:
        pytest.fail(f"no cached execution matches {nb.name}: it was not run by nbval in this test run")
    assert record.data.get("executed_by") == "nbval", (
        f"{nb.name} was executed by the book build, not handed over from nbval")
    html = site / nb.relative_to(ROOT).with_suffix(".html")
    assert html.exists(), f"{html.name} was not built"
