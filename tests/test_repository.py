"""House rules of DESIGN.md that a reviewer would otherwise check by hand."""
from __future__ import annotations

import json
import pkgutil
import re
from pathlib import Path

import pytest
import yaml

import dlnotes

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _toc_files() -> set[str]:
    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                yield node["file"]
            if "root" in node:
                yield node["root"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return set(walk(yaml.safe_load((ROOT / "_toc.yml").read_text())))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no chapter notebooks found under book/"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_is_committed_without_outputs(nb):
    cells = json.loads(nb.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells)
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"cells {dirty} carry outputs or execution counts: strip them"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_is_in_the_toc_and_has_checks(nb):
    rel = nb.relative_to(ROOT).with_suffix("").as_posix()
    assert rel in _toc_files(), f"{rel} is missing from _toc.yml"
    cells = json.loads(nb.read_text())["cells"]
    assert any("check" in c.get("metadata", {}).get("tags", []) for c in cells if c["cell_type"] == "code")


def test_every_toc_entry_exists():
    for entry in _toc_files():
        candidates = [ROOT / f"{entry}{ext}" for ext in (".md", ".ipynb")]
        assert any(p.exists() for p in candidates), f"_toc.yml lists {entry}, which does not exist"


def test_the_long_notebooks_the_test_run_starts_first_exist():
    import importlib.util

    spec = importlib.util.spec_from_file_location("tests_conftest", ROOT / "tests" / "conftest.py")
    shared = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shared)
    assert set(shared.LONG_NOTEBOOKS) <= {nb.stem for nb in NOTEBOOKS}


def test_api_page_documents_every_module():
    modules = {"dlnotes"} | {
        f"dlnotes.{m.name}" for m in pkgutil.iter_modules(dlnotes.__path__) if not m.name.startswith("_")
    }
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", (ROOT / "book/appendix/api.md").read_text(), re.M))
    assert documented == modules


def test_every_public_name_has_a_docstring():
    import importlib

    for info in pkgutil.iter_modules(dlnotes.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"dlnotes.{info.name}")
        assert module.__doc__, f"dlnotes.{info.name} has no module docstring"
        for name in module.__all__:
            assert getattr(module, name).__doc__, f"dlnotes.{info.name}.{name} has no docstring"


def test_requirements_pin_everything_exactly():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert "torch==2.13.0" in lines
    assert "-e ." in lines
    loose = [l for l in lines if l != "-e ." and not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^=<>~!]+", l)]
    assert not loose, f"unpinned requirements: {loose}"
    assert not any(l.lower().startswith("torchvision") for l in lines)


# Markdown that only MyST understands shows as raw text in JupyterLab and Colab (issue 12).
_RAW_MYST = {
    "MyST role": re.compile(r"\{(?:glue(?::\w+)?|eq|ref|doc|numref|math|download|term|cite)\}`"),
    "MyST directive": re.compile(r"^\s*(?:```|~~~|:::)\s*\{[\w:-]+\}", re.M),
    "label line": re.compile(r"^\s*\([\w:.-]+\)=\s*$", re.M),
    "equation label": re.compile(r"\$\$\s*\([\w:.-]+\)\s*$", re.M),
}


def _markdown_cells(nb):
    for k, cell in enumerate(json.loads(nb.read_text())["cells"]):
        if cell["cell_type"] == "markdown":
            yield k, "".join(cell["source"])


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_markdown_cells_are_portable(nb):
    found = [f"cell {k}: {kind} {m.group(0).strip()!r}" for k, text in _markdown_cells(nb)
             for kind, pattern in _RAW_MYST.items() for m in pattern.finditer(text)]
    assert not found, "MyST-only syntax in a Markdown cell (renders raw in Jupyter/Colab): " + "; ".join(found)


def test_raw_myst_detector_catches_each_form():
    samples = {"MyST role": "the value {glue:text}`x:.3f` and {eq}`sm`",
               "MyST directive": "```{admonition} Title\nbody\n```",
               "label line": "(softmax-errata)=\n## Heading",
               "equation label": "$$ x = 1 $$ (sm-logits)"}
    for kind, text in samples.items():
        assert _RAW_MYST[kind].search(text), kind
    assert not any(p.search("$$ a $$ and (x) = y and [link](#a-b)") for p in _RAW_MYST.values())


def _chapters_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("chapters", ROOT / "_ext" / "chapters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_equations_are_numbered_for_jupyter_and_the_install_cell_matches_the_config(nb):
    # Jupyter and Colab number no equation and resolve an \eqref only to an equation typeset
    # before it; the install cell exists iff _config.yml names the repository.
    tool = _chapters_tool()
    old, new, problems = tool.bring_in_line(nb, *tool.repository())
    assert not problems, "; ".join(problems)
    assert new == old, "equation tags or the install cell are out of line: run .venv/bin/python _ext/chapters.py"


def test_chapters_tool_numbers_equations_and_places_the_install_cell():
    tool = _chapters_tool()
    md = lambda s: {"cell_type": "markdown", "metadata": {}, "source": s}
    code = {"cell_type": "code", "metadata": {}, "source": "import dlnotes", "outputs": [], "execution_count": None}
    cells = [md("\\begin{equation}\\tag{7}\\label{a} x \\end{equation}"),
             md("see $\\eqref{a}$ and $\\eqref{b}$ \\begin{equation}\\label{b} y \\end{equation}"), code]
    problems = tool.number_equations(cells)
    assert "\\tag{1}\\label{a}" in cells[0]["source"][0] and "\\tag{2}\\label{b}" in cells[1]["source"][0]
    assert problems == ["\\eqref{b} comes before its equation (or names none)"]
    with_url = tool.set_install_cell(cells, "https://github.com/o/r", "main")
    assert [c["cell_type"] for c in with_url] == ["markdown", "markdown", "code", "code"]
    assert "git+https://github.com/o/r@main" in "".join(with_url[2]["source"])
    assert tool.set_install_cell(with_url, "", "main") == cells


def _slug(title: str) -> str:
    # MyST's default heading slug (myst_heading_anchors): GitHub's rule
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def _anchors(nb) -> set[str]:
    anchors = set()
    for _, text in _markdown_cells(nb):
        for m in re.finditer(r"^#{1,3}\s+(.+?)\s*$", text, re.M):
            if "$" not in m.group(1):  # MyST slugs a heading's maths from its rendering: not predictable
                anchors.add(_slug(m.group(1)))
    return anchors


def test_errata_rows_link_to_demonstrations_that_exist():
    errata = ROOT / "book/appendix/errata.md"
    links = re.findall(r"\]\(([^)#]+\.ipynb)#([\w-]+)\)", errata.read_text())
    assert links, "the errata table links no demonstration"
    for target, anchor in links:
        nb = (errata.parent / target).resolve()
        assert nb.exists(), f"errata link to missing notebook {target}"
        assert anchor in _anchors(nb), f"errata link {target}#{anchor}: no such heading (h1-h3) in the chapter"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_between_cells_resolve(nb):
    for _, text in _markdown_cells(nb):
        for target, anchor in re.findall(r"\]\(([^)\s#]*)#([\w-]+)\)", text):
            path = (nb.parent / target).resolve() if target else nb
            assert path.exists(), f"link to missing file {target} in {nb.name}"
            if path.suffix == ".ipynb":
                assert anchor in _anchors(path), f"link {target}#{anchor} in {nb.name}: no such heading"


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.+?)\n```", readme)
    assert len(commands) >= 2, "the README must give a build command and a test command"
    test_command = next(c for c in commands if "pytest" in c)
    ci_lines = (ROOT / ".ci/run").read_text().splitlines()
    assert test_command in ci_lines


NOTES = ROOT.parent / "shared" / "notes"


@pytest.mark.skipif(not NOTES.exists(), reason="the notes live beside the repository (../shared/notes)")
def test_notes_map_lists_every_section_of_the_notes():
    headings = set()
    for notes in NOTES.glob("*.txt"):
        for line in notes.read_text().splitlines():
            match = re.match(r"^([A-Z][A-Z\- ]{1,}[A-Z])\b", line)
            if match and match.group(1) != "ELBO":
                headings.add(match.group(1).strip())
    page = (ROOT / "book/notes-map.md").read_text()
    missing = sorted(h for h in headings if h not in page)
    assert not missing, f"sections of the notes missing from book/notes-map.md: {missing}"


FRESH = ROOT / ".venv-fresh"


@pytest.mark.skipif(not (FRESH / "bin" / "python").exists(), reason="nbval's fresh kernel is built by a run with --nbval-lax")
def test_nbval_kernel_has_only_what_one_install_brings():
    import subprocess

    probe = ("import importlib.util, json, dlnotes; "
             "print(json.dumps({'dlnotes': dlnotes.__file__, 'extra': [m for m in "
             "('myst_nb', 'nbval', 'pytest', 'jupyter_book', 'jupyter_cache') if importlib.util.find_spec(m)]}))")
    out = json.loads(subprocess.run([str(FRESH / "bin" / "python"), "-c", probe], check=True,
                                    capture_output=True, text=True).stdout)
    assert out["extra"] == [], f"the chapters' kernel has packages a reader's install lacks: {out['extra']}"
    assert "site-packages" in out["dlnotes"], "dlnotes must be an installed copy, as in Colab, not the source tree"
    spec = FRESH / "share" / "jupyter" / "kernels" / "dlnotes-fresh" / "kernel.json"
    assert json.loads(spec.read_text())["argv"][0].startswith(str(FRESH))
    check = subprocess.run([str(FRESH / "bin" / "python"), "-m", "pip", "check", "--disable-pip-version-check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, f"the chapters' kernel lacks a dependency: {check.stdout}"
