"""Numbers in the prose: sentences computed by the code beside them (DESIGN.md §3).

A chapter never types a number into its Markdown. A code cell (its input hidden in the book)
ends with ``say("The test accuracy is {acc:.3f}.", acc=accuracy)``, which displays the sentence
as Markdown — the same in the HTML book, in JupyterLab and in Colab — and *glues* every value
under its keyword name, exactly as ``myst_nb.glue(name, value, display=False)`` records it,
so the executed notebook keeps each named figure (the book's build and its tests read them).
Nothing here imports myst-nb: a reader's Jupyter needs only ``dlnotes``.
"""
from __future__ import annotations

from typing import Any

__all__ = ["GLUE_PREFIX", "glue", "Sentence", "say"]

#: The mime-type prefix of a glued value that is recorded but not shown (myst-nb's convention).
GLUE_PREFIX = "application/papermill.record/"


def _shell() -> Any:
    try:
        from IPython.core.interactiveshell import InteractiveShell
    except ImportError:  # pragma: no cover - ipywidgets brings IPython
        return None
    return InteractiveShell.instance() if InteractiveShell.initialized() else None


def _plain(value: Any) -> Any:
    """A one-element tensor or a NumPy scalar as its Python number (so the record reads ``0.25``,
    not ``tensor(0.25)`` or ``np.float64(0.25)``); anything else unchanged."""
    one_element_tensor = hasattr(value, "numel") and value.numel() == 1
    numpy_scalar = getattr(value, "ndim", None) == 0  # also a 0-d array
    return value.item() if hasattr(value, "item") and (one_element_tensor or numpy_scalar) else value


def glue(name: str, value: Any) -> Any:
    """Record ``value`` under ``name`` in the executing notebook, without showing it.

    The output is myst-nb's glue record: the value's display formats with their mime types
    prefixed by :data:`GLUE_PREFIX` and ``{"scrapbook": {"name": name, "mime_prefix": …}}`` in
    its metadata. Outside IPython (a script, a test) nothing is recorded.

    Parameters
    ----------
    name : str
        A Python identifier, unique within the notebook.
    value : object
        Anything displayable; a one-element tensor or a NumPy scalar is recorded as its
        Python number.

    Returns
    -------
    object
        ``value`` (a one-element tensor or NumPy scalar as its Python number), so
        ``x = glue("x", f())`` works.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier, got {name!r}")
    value = _plain(value)
    shell = _shell()
    if shell is not None:
        from IPython.display import display

        bundle, metadata = shell.display_formatter.format(value)
        metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
        display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)
    return value


class Sentence:
    """Markdown text that displays as formatted prose (``text/markdown``) in any front end."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/markdown": self.text, "text/plain": self.text}

    def __str__(self) -> str:
        return self.text


def say(template: str, **values: Any) -> Sentence:
    """Fill ``template`` with ``values`` (``str.format`` fields and specs), glue each value by
    its keyword name, and return the sentence for display.

    Parameters
    ----------
    template : str
        Markdown with fields such as ``{digits_test_accuracy:.3f}``; maths (``$…$``) is fine.
    **values
        The numbers, named as they are glued (e.g. ``digits_test_accuracy=0.964``).

    Returns
    -------
    Sentence
        Displays as Markdown when it is the last expression of a cell.
    """
    if not isinstance(template, str):
        raise ValueError(f"template must be a string, got {type(template).__name__}")
    values = {name: _plain(value) for name, value in values.items()}
    try:
        text = template.format(**values)
    except (KeyError, IndexError) as err:
        raise ValueError(f"template names a value that was not given: {err}") from None
    for name, value in values.items():
        glue(name, value)
    return Sentence(text)
