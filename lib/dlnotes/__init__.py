"""dlnotes — the package behind *Deep Learning Notes, Executed*.

Shared homes (DESIGN.md §2): ``device``, ``data``, ``train``, ``plot``, ``widgets``, ``text``,
``metrics``, ``nn`` (building blocks), ``densities`` (log-densities and KLs). Chapter modules:
``losses``, ``norm``, ``conv``, ``recurrent``, ``attention``, ``hard``, ``timeseries``, ``vae``, ``gan``,
``diffusion``.
:func:`show` puts a function's source on the page, so the reader sees the equation next to
the code that implements it.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any, Callable

__version__ = "0.1.0"
__all__ = ["Source", "show"]


class Source:
    """Python source that displays as a highlighted code block (``text/markdown``)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/markdown": f"```python\n{self.code}\n```", "text/plain": self.code}


def show(obj: Callable[..., Any] | type, docstring: bool = False) -> Source:
    """Return the source of a function or class of :mod:`dlnotes`, for display in a page.

    Parameters
    ----------
    obj : function or class
        Anything :func:`inspect.getsource` accepts.
    docstring : bool
        Keep the docstring. By default it is dropped, so the page shows the code that
        implements the equation (the docstring is in the API appendix).

    Returns
    -------
    Source
        Displays as a Python code block in Jupyter and in the built book.
    """
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj)):
        raise ValueError(f"show expects a function or a class, got {type(obj).__name__}")
    code = textwrap.dedent(inspect.getsource(obj))
    if not docstring:
        node = ast.parse(code).body[0]
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            lines = code.splitlines()
            code = "\n".join(lines[: first.lineno - 1] + lines[first.end_lineno :])
    return Source(code.rstrip())
