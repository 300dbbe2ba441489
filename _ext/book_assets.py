"""Sphinx extension for the book's self-served front-end assets (no CDN at run time).

Two fixes to the page's ``<script>`` list, made in ``html-page-context``:

1. **Each script once.** Extensions that register inline scripts after the HTML builder is
   initialised (sphinx-thebe, sphinx-togglebutton) get them written twice into every page
   under Sphinx 7.4; the second ``const THEBE_JS_URL = ...`` is a SyntaxError in the
   console. Exact duplicates are dropped.
2. **Widget manager fonts from _static.** The vendored ``embed-amd.js`` loads its icon
   fonts from the RequireJS URL of ``@jupyter-widgets/html-manager/dist``, which by default
   is relative to the page. On pages that load it, a RequireJS configuration placed just
   before ``require.js`` maps that module path to ``_static/widgets``, where
   ``npm run vendor`` copies the fonts.
"""
from __future__ import annotations

from typing import Any

from sphinx.builders.html._assets import _JavaScript

_WIDGET_MODULE = "@jupyter-widgets/html-manager/dist"


def _filename(script: Any) -> str:
    # inline scripts come with filename None or "" depending on who registered them
    return str(getattr(script, "filename", script) or "")


def _fix_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, tuple]] = set()
    unique = []
    for script in scripts:
        key = (_filename(script), tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    for k, script in enumerate(unique):
        if _filename(script).endswith("widgets/require.js"):
            base = context["pathto"]("_static/widgets", 1)
            body = (f'var require = {{paths: {{"{_WIDGET_MODULE}": '
                    f'new URL("{base}", document.baseURI).href}}}};')
            unique.insert(k, _JavaScript(None, priority=getattr(script, "priority", 500), body=body))
            break
    context["script_files"] = unique


def setup(app: Any) -> dict[str, bool]:
    app.connect("html-page-context", _fix_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
