"""A chapter in a real JupyterLab, as a reader who opens the repository's notebooks sees it
(issue 12): run all cells, find no raw MyST and no unresolved reference on the page, and move
the slider to a value between its precomputed frames to see the figure redrawn for it.

JupyterLab (pinned in requirements.txt) serves a copy of ``book/`` on localhost with its
default kernel (this environment's Python, where the package is installed); headless Chromium
drives it with every non-localhost request refused. The copy keeps the repository's notebooks
free of the outputs JupyterLab saves.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from conftest import ROOT, SCREENSHOTS

CHAPTER = "01-foundations/softmax-cross-entropy.ipynb"  # the quickest chapter with a float slider
OFF_GRID = 1.5  # the static frames sit at 10^(k/10): ... 1.26, 1.58 ...; 1.5 is between two

# Text outside code, maths and outputs of code cells: what a reader sees of the Markdown cells
# and of the Markdown that say() displays.
_PROSE_TEXT = """() => {
  const skip = "PRE, CODE, SCRIPT, STYLE, MJX-CONTAINER, TEXTAREA, .jp-InputArea-editor, .cm-editor";
  const out = [];
  for (const root of document.querySelectorAll(".jp-RenderedMarkdown")) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.parentElement.closest(skip)) out.push(n.textContent);
    }
  }
  return out.join("\\n");
}"""

_RAW = {
    "MyST role": re.compile(r"\{(glue(:\w+)?|eq|ref|doc|numref|math)\}"),
    "label line": re.compile(r"^\s*\([\w-]+\)=\s*$", re.M),
    "directive": re.compile(r"^\s*(```|:::)\{\w+", re.M),
    "untypeset TeX": re.compile(r"\$\$|\\(begin|end|label|eqref|frac|mathbf)\b"),
    "unresolved reference": re.compile(r"\(\?\?\?\)"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """``(url, token)`` of a JupyterLab serving a copy of ``book/``."""
    base = tmp_path_factory.mktemp("jupyterlab")
    shutil.copytree(ROOT / "book", base / "book")
    settings = base / "settings"
    # every cell in the DOM (JupyterLab otherwise renders only those near the viewport), no
    # news or update checks (they would go to the network)
    for plugin, body in {"notebook-extension/tracker": '{"windowingMode": "none"}',
                         "apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}'}.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    port, token = _free_port(), secrets.token_hex(16)
    lab = Path(sys.executable).with_name("jupyter-lab")
    log = (base / "server.log").open("w")
    proc = subprocess.Popen(
        [str(lab), "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={base / 'book'}",
         f"--LabApp.workspaces_dir={base / 'workspaces'}", f"--LabApp.user_settings_dir={settings}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings)})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (base / "server.log").read_text()[-3000:])
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_a_chapter_runs_in_jupyterlab_renders_clean_and_its_slider_is_live(browser, jupyterlab):
    url, token = jupyterlab
    page = browser.new_page()
    host = urlsplit(url).netloc
    page.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).netloc in (host, "")
               else route.abort())
    try:
        page.goto(f"{url}/lab/tree/{CHAPTER}?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-MarkdownCell", timeout=90_000)
        page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator')"
                               " && document.querySelector('.jp-Notebook-ExecutionIndicator').dataset.status === 'idle'",
                               timeout=90_000)
        n_code = page.locator(".jp-NotebookPanel .jp-CodeCell").count()
        assert n_code > 10, f"only {n_code} code cells rendered"
        # the execution indicator reads idle before a kernel is connected, and "Run All Cells"
        # issued then only walks the selection to the last cell; on a loaded machine the kernel
        # connects seconds later, so wait for the status bar to name it idle
        page.wait_for_function("() => /\\| Idle/.test(document.querySelector('.jp-StatusBar-Widget')?.innerText || '')",
                               timeout=90_000)

        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
        page.wait_for_function(  # fail here, not four minutes later, if nothing started
            "() => /\\[(\\*|\\d+)\\]/.test(document.querySelector('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt').textContent)",
            timeout=60_000)
        page.wait_for_function(
            """() => { const p = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')];
                      return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }""",
            timeout=240_000, polling=500)
        page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator').dataset.status === 'idle'",
                               timeout=60_000)
        outputs = page.locator(".jp-NotebookPanel .jp-OutputArea").all_inner_texts()
        assert not [o for o in outputs if "Traceback" in o or "Error" in o.split("\n")[0]], "a cell failed"

        prose = page.evaluate(_PROSE_TEXT)
        found = {kind: sorted(set(m.group(0) for m in rx.finditer(prose))) for kind, rx in _RAW.items()}
        assert not any(found.values()), f"raw MyST/TeX or broken references in the rendered page: {found}"
        assert page.locator(".jp-RenderedMarkdown blockquote", has_text="Where the notes go wrong").count() == 1
        assert page.locator(".jp-RenderedMarkdown mjx-container").count() > 20, "the maths was not typeset"

        # the slider: an ipywidgets FloatSlider whose readout accepts any value of its range
        box = page.locator(".jp-OutputArea .widget-vbox", has=page.locator(".widget-hslider")).first
        box.scroll_into_view_if_needed()
        image, readout = box.locator("img").first, box.locator(".widget-readout").first
        label = box.locator(".widget-label").last
        before_src, before_label = image.get_attribute("src"), label.inner_text()
        assert "T = 1.00" in before_label
        natural, shown = image.evaluate("i => [i.naturalWidth, i.getBoundingClientRect().width]")
        assert abs(natural - shown) <= 1, f"the frame is scaled: {natural} px drawn at {shown} px"
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(f"{OFF_GRID}")
        page.keyboard.press("Enter")
        page.wait_for_function("([el, old]) => el.getAttribute('src') !== old", arg=[image.element_handle(), before_src],
                               timeout=30_000)
        expect(label).to_contain_text(f"T = {OFF_GRID:.2f}", timeout=30_000)  # the readout follows the image
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        box.screenshot(path=str(SCREENSHOTS / "jupyterlab-slider-off-grid.png"))
    finally:
        page.close()
