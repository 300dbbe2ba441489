"""Sphinx extension: Colab and Binder launch buttons exist exactly when ``repository.url`` is set.

``_config.yml`` configures the launch services once (``launch_buttons``). The theme builds each
button's link from ``repository.url``; with the URL unset it would either raise (it cannot
split an empty URL into owner and repository) or, with Jupyter Book's default, point at
another project. So at ``config-inited`` the launch services are dropped while the URL is
empty: no dead button appears. ``_ext/chapters.py`` keys each chapter's install cell to the same
setting.
"""
from __future__ import annotations

from typing import Any


def _drop_launch_buttons_without_repository(app: Any, config: Any) -> None:
    options = dict(config.html_theme_options or {})
    if not str(options.get("repository_url") or "").strip():
        options["launch_buttons"] = {}
        config.html_theme_options = options


def setup(app: Any) -> dict[str, bool]:
    app.connect("config-inited", _drop_launch_buttons_without_repository, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
