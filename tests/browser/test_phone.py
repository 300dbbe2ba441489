"""Every chapter page of the built book at a 390-px phone width: nothing overflows, nothing fails.

A file of its own (not a test of test_pages.py) so that `--dist loadfile` can hand the phone
loads and the desktop loads to the two workers at once.
"""
from __future__ import annotations

import pytest

from conftest import MATHJAX_DONE, assert_fits, site_pages


@pytest.mark.parametrize("path", [p.as_posix() for p in site_pages() if p.parts[0] == "book"])
def test_page_on_a_phone(open_page, path):
    """Loaded at a 390-px phone width: nothing overflows, nothing fails."""
    page, log = open_page(path, width=390)
    page.evaluate(MATHJAX_DONE)
    assert_fits(page, 390)
    assert not log.console_errors and not log.failed and not log.refused
