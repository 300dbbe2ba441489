"""Sphinx extension: portable Markdown in the HTML book — the errata box and equation numbers.

A chapter writes its errata box as a plain Markdown blockquote whose first line is the bold
heading ``**Where the notes go wrong**`` — Jupyter and Colab show it as a quoted box. In the
HTML book this transform turns exactly those blockquotes into a warning admonition with that
title (the quotes of the notes, which start differently, stay blockquotes).

Equations written as ``\begin{equation}\label{…}`` are numbered by MathJax (``tags: ams`` in
``_config.yml``), the numbering that ``\eqref`` uses in Jupyter too; ``dlnotes-maths.css``
hides the second number Sphinx prints beside them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes

TITLE = "Where the notes go wrong"


def _is_errata_box(quote: nodes.block_quote) -> bool:
    if not quote.children or not isinstance(quote.children[0], nodes.paragraph):
        return False
    # the parser may leave empty text nodes around the bold heading
    parts = [c for c in quote.children[0].children
             if not (isinstance(c, nodes.Text) and not c.astext().strip())]
    return len(parts) == 1 and isinstance(parts[0], nodes.strong) and parts[0].astext().strip() == TITLE


def _boxes(app: Any, doctree: nodes.document) -> None:
    for quote in list(doctree.findall(nodes.block_quote)):
        if not _is_errata_box(quote):
            continue
        box = nodes.admonition("", classes=["warning", "dlnotes-errata"])
        box += nodes.title(TITLE, TITLE)
        box.extend(quote.children[1:])
        box.source, box.line = quote.source, quote.line
        quote.replace_self(box)


def _static(app: Any) -> None:
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))


def setup(app: Any) -> dict[str, Any]:
    app.connect("doctree-read", _boxes)
    app.connect("builder-inited", _static)
    app.add_css_file("dlnotes-maths.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
