"""Launch buttons and the install cell follow ``repository.url`` alone (issue 13, part 2).

The book as committed has no repository URL: its pages must show no launch button (a dead one
would point at nothing). A copy of the book with a sample URL, built without executing
anything (only the links are under test), must link every chapter page to that chapter's own
notebook in Colab and on Binder, and offer a download whose first code cell installs the
package from that repository.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, site_pages

SAMPLE_URL = "https://github.com/dlnotes-example/deep-learning-notes-executed"
COLAB = "https://colab.research.google.com/github/dlnotes-example/deep-learning-notes-executed/blob/main/"
BINDER = "https://mybinder.org/v2/gh/dlnotes-example/deep-learning-notes-executed/main?urlpath=lab/tree/"
CHAPTERS = sorted(p.relative_to(ROOT) for p in ROOT.joinpath("book").rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


def _hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def test_no_launch_button_or_install_cell_without_a_repository(site):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert not config["repository"]["url"], "this test describes the book as committed, with no URL"
    for page in site_pages():
        links = _hrefs((site / page).read_text())
        dead = [h for h in links if "colab.research.google.com" in h or "mybinder.org" in h]
        assert not dead, f"{page}: launch links without a repository URL: {dead}"
    for nb in CHAPTERS:
        cells = json.loads((ROOT / nb).read_text())["cells"]
        assert not any("dlnotes-install" in c.get("metadata", {}).get("tags", []) for c in cells), nb


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory) -> Path:
    """The book built from a copy of the repository whose _config.yml names SAMPLE_URL."""
    copy = tmp_path_factory.mktemp("book-with-url")
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        if (ROOT / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, copy / rel)
    shutil.copytree(ROOT / "_vendor", copy / "_vendor")  # what `npm run vendor` made
    config_path = copy / "_config.yml"
    config = config_path.read_text()
    config = re.sub(r'^(\s*url:\s*)""', rf'\g<1>"{SAMPLE_URL}"', config, count=1, flags=re.M)
    config = re.sub(r"^(\s*execute_notebooks:\s*)cache\b", r"\g<1>off", config, count=1, flags=re.M)
    config_path.write_text(config)
    assert yaml.safe_load(config)["repository"]["url"] == SAMPLE_URL
    subprocess.run([sys.executable, "_ext/chapters.py"], cwd=copy, check=True, capture_output=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    build = subprocess.run([str(jupyter_book), "build", ".", "-n", "--keep-going"], cwd=copy,
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return copy / "_build" / "html"


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.as_posix())
def test_each_chapter_launches_its_own_notebook(sample_site, nb):
    html = (sample_site / nb.with_suffix(".html")).read_text()
    links = _hrefs(html)
    assert COLAB + nb.as_posix() in links, f"no Colab link to {nb} on its page"
    assert BINDER + nb.as_posix() in links, f"no Binder link to {nb} on its page"
    others = [h for h in links if ("colab.research" in h or "mybinder" in h) and not h.endswith(nb.as_posix())]
    assert not others, f"launch links to other notebooks: {others}"


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.as_posix())
def test_the_download_installs_the_package_first(sample_site, nb):
    page = (sample_site / nb.with_suffix(".html")).read_text()
    download = f"_sources/{nb.as_posix()}"
    assert any(h.endswith(download) for h in _hrefs(page)), "no .ipynb download on the page"
    cells = json.loads((sample_site / download).read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    install = "".join(code[0]["source"])
    assert f'"dlnotes @ git+{SAMPLE_URL}@main"' in install and "pip" in install
    # the install cell runs before anything imports the package
    assert "import dlnotes" not in install and any("dlnotes" in "".join(c["source"]) for c in code[1:2])
    # and the HTML page does not show it (the reader of the book has nothing to install)
    assert "git+" + SAMPLE_URL not in page
