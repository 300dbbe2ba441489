"""Bring every chapter notebook in line with the book's two conventions that a Jupyter or Colab
reader depends on, and say what is out of line.

Run it after writing or editing a chapter, and after changing ``repository`` in ``_config.yml``::

    .venv/bin/python _ext/chapters.py          # rewrite the notebooks in place
    .venv/bin/python _ext/chapters.py --check  # only report (tests/test_repository.py does this)

1. **Equation numbers that Jupyter shows too.** The book's MathJax numbers equations itself, but
   JupyterLab and Colab typeset each Markdown cell on its own and number nothing, so every
   ``\\eqref`` would read "(???)". Each ``\\begin{equation}`` therefore carries an explicit
   ``\\tag{k}``, k = 1, 2, … in reading order within the chapter: the book and Jupyter show the
   same numbers. A reference must come after its equation (Jupyter resolves ``\\eqref`` only to a
   label it has already typeset).
2. **The install cell, keyed to ``repository.url``.** With the URL set, the first code cell of
   every chapter installs the book's package from that repository when it is missing (Colab, a
   downloaded notebook), so the notebook runs on its own; with it unset there is no such cell,
   because there is nothing to install from. ``_ext/launch_buttons.py`` turns the Colab and
   Binder buttons on and off from the same setting.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INSTALL_TAG = "dlnotes-install"
_EQUATION = re.compile(r"\\begin\{equation\}(?:\s*\\tag\{[^}]*\})?")
_LABEL_OR_REF = re.compile(r"\\(label|eqref|ref)\{([^}]*)\}")


def repository() -> tuple[str, str]:
    """``(url, branch)`` of ``repository`` in ``_config.yml``; the URL is '' when unset."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text()) or {}
    repo = config.get("repository") or {}
    return str(repo.get("url") or "").rstrip("/"), str(repo.get("branch") or "main")


def install_source(url: str, branch: str) -> str:
    """The install cell's code for the repository ``url`` at ``branch``."""
    spec = f"dlnotes @ git+{url}@{branch}"
    return (
        "# Colab, or any Python without the book's package: install it from the book's repository.\n"
        "# A regular (not editable) install, so the import below works without a restart; where\n"
        "# dlnotes is already installed (a clone, the book's own build) this cell does nothing.\n"
        "import importlib\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if importlib.util.find_spec("dlnotes") is None:\n'
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "{spec}"], check=True)\n'
        "    importlib.invalidate_caches()"
    )


def chapters() -> list[Path]:
    """Every chapter notebook under ``book/``."""
    return sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def number_equations(cells: list[dict]) -> list[str]:
    """Tag the chapter's equations 1, 2, … in order (in place); return references that come
    before their label or name no label."""
    k = 0

    def tag(match: re.Match) -> str:
        nonlocal k
        k += 1
        return f"\\begin{{equation}}\\tag{{{k}}}"

    labels: set[str] = set()
    problems = []
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        text = _EQUATION.sub(tag, _source(cell))
        cell["source"] = _lines(text)
        for kind, name in _LABEL_OR_REF.findall(text):
            if kind == "label":
                labels.add(name)
            elif name not in labels:
                problems.append(f"\\{kind}{{{name}}} comes before its equation (or names none)")
    return problems


def set_install_cell(cells: list[dict], url: str, branch: str) -> list[dict]:
    """The cells with the install cell first among the code cells when ``url`` is set, and
    without one when it is not."""
    kept = [c for c in cells if INSTALL_TAG not in c.get("metadata", {}).get("tags", [])]
    if not url:
        return kept
    first_code = next((i for i, c in enumerate(kept) if c["cell_type"] == "code"), len(kept))
    cell = {
        "cell_type": "code", "execution_count": None, "id": "dlnotes-install",
        "metadata": {"tags": [INSTALL_TAG, "remove-cell"]}, "outputs": [],
        "source": _lines(install_source(url, branch)),
    }
    return kept[:first_code] + [cell] + kept[first_code:]


def bring_in_line(path: Path, url: str, branch: str) -> tuple[str, str, list[str]]:
    """``(old_text, new_text, problems)`` for one notebook."""
    old = path.read_text()
    nb = json.loads(old)
    problems = number_equations(nb["cells"])
    nb["cells"] = set_install_cell(nb["cells"], url, branch)
    return old, json.dumps(nb, indent=1, ensure_ascii=False) + "\n", problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report what is out of line; change nothing")
    args = parser.parse_args(argv)
    url, branch = repository()
    status = 0
    for path in chapters():
        old, new, problems = bring_in_line(path, url, branch)
        rel = path.relative_to(ROOT)
        for problem in problems:
            print(f"{rel}: {problem}")
            status = 1
        if new != old:
            if args.check:
                print(f"{rel}: equation tags or install cell out of line: run .venv/bin/python _ext/chapters.py")
                status = 1
            else:
                path.write_text(new)
                print(f"{rel}: updated")
    return status


if __name__ == "__main__":
    sys.exit(main())
