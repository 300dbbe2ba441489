"""Fixtures of the browser suite: the built book served on localhost, and headless Chromium
(Debian's /usr/bin/chromium driven by Playwright) with every non-localhost request refused."""
from __future__ import annotations

import functools
import http.server
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def site_pages() -> list[Path]:
    """Every HTML page of the built book, relative to the site root."""
    return sorted(p.relative_to(SITE) for p in SITE.rglob("*.html") if "_static" not in p.parts)


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "index.html").exists():
        pytest.fail("the book is not built: run the README's build command first (_build/html is missing)")
    return SITE


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep pytest's output readable
        pass


@pytest.fixture(scope="session")
def server(site: Path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="dlnotes-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, chromium_sandbox=False,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


# A page is loaded when MathJax has typeset it, its fonts are in, two frames have been drawn
# and no request it started is in flight. (Playwright's "networkidle" waits for 500 ms without a
# request instead: the same pages, half a second more per load, 60 loads a run.)
_SETTLED = """async () => {
  if (document.querySelector('meta[http-equiv="Refresh" i]')) return "redirects";
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
  void document.documentElement.offsetHeight;
  await document.fonts.ready;
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  return "settled";
}"""


def _settle(page, pending: set, timeout_s: float = 60) -> None:
    """Wait until ``page`` is settled (``_SETTLED``, then no request of ``pending`` in flight),
    following a redirect (index.html's refresh) if one replaces the page meanwhile."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout_s
    while True:
        start = page.url
        try:
            if page.evaluate(_SETTLED) == "settled":
                break
            left_ms = max(deadline - time.monotonic(), 1) * 1000
            page.wait_for_url(lambda url: url != start, timeout=left_ms)  # a refresh to another page
            page.wait_for_load_state("load", timeout=left_ms)
        except PlaywrightError as err:  # the page navigated away while we waited: wait for the next one
            if "context was destroyed" not in str(err) or time.monotonic() > deadline:
                raise
            page.wait_for_load_state("load")
    while pending:  # requests the page started (fonts, MathJax's components) still in flight
        if time.monotonic() > deadline:
            raise AssertionError(f"requests still in flight after {timeout_s} s: {[r.url for r in pending]}")
        page.wait_for_timeout(20)


class PageLog:
    """What one page did: refused (off-site) requests, failed requests, console errors."""

    def __init__(self) -> None:
        self.refused: list[str] = []
        self.failed: list[str] = []
        self.console_errors: list[str] = []


@pytest.fixture
def open_page(browser, server):
    """``open_page(path, width=1280) -> (page, log)``: load a page of the book, ``width`` CSS pixels
    wide (390: a phone), with the network refused."""
    host = urlsplit(server).netloc
    pages = []

    def _open(path: str, width: int = 1280):
        page = browser.new_page()
        page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
        log = PageLog()

        def route(r):
            if urlsplit(r.request.url).netloc == host:
                r.continue_()
            else:
                log.refused.append(r.request.url)
                r.abort("blockedbyclient")

        page.route("**/*", route)
        pending: set = set()
        page.on("request", lambda r: pending.add(r))
        page.on("requestfinished", lambda r: pending.discard(r))
        page.on("requestfailed", lambda r: pending.discard(r))
        page.on("console", lambda m: m.type == "error" and log.console_errors.append(m.text))
        page.on("pageerror", lambda e: log.console_errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: log.failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and log.failed.append(f"{r.url} (HTTP {r.status})"))
        page.goto(f"{server}/{path}", wait_until="load")
        _settle(page, pending)
        pages.append(page)
        return page, log

    yield _open
    for page in pages:
        page.close()


# What the page tests ask of a loaded page (test_pages.py at 1280 px, test_phone.py at 390 px).
MATHJAX_DONE = """async () => {
  if (!window.MathJax || !MathJax.startup) return -1;
  await MathJax.startup.promise;
  return document.querySelectorAll("mjx-container").length;
}"""


# Every display equation either fits its box or scrolls inside it with a visible cue; the
# page itself never scrolls sideways (issue 13).
_LAYOUT = """() => {
  const doc = document.documentElement;
  const out = {pageOverflow: doc.scrollWidth - doc.clientWidth, uncued: [], wideTitles: []};
  for (const e of document.querySelectorAll('mjx-container[display="true"]')) {
    if (e.scrollWidth <= e.clientWidth + 2) continue;
    const s = getComputedStyle(e);
    const scrolls = s.overflowX === "auto" || s.overflowX === "scroll";
    const cue = s.backgroundImage.includes("gradient");
    const inside = e.getBoundingClientRect().right <= doc.clientWidth + 1;
    if (!(scrolls && cue && inside)) out.uncued.push(e.textContent.slice(0, 60));
  }
  for (const h of document.querySelectorAll("h1, h2, h3")) {
    if (h.getBoundingClientRect().right > doc.clientWidth + 1) out.wideTitles.push(h.textContent.slice(0, 60));
  }
  return out;
}"""


def assert_fits(page, width: int) -> None:
    """No sideways page scroll, every wide display equation scrolls with a cue, no heading overflows."""
    layout = page.evaluate(_LAYOUT)
    assert layout["pageOverflow"] <= 1, f"the page scrolls sideways by {layout['pageOverflow']} px at {width} px"
    assert layout["uncued"] == [], f"equations cut off without a scroll cue at {width} px: {layout['uncued']}"
    assert layout["wideTitles"] == [], f"headings wider than the screen at {width} px: {layout['wideTitles']}"
