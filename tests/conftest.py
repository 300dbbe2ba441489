"""Shared test set-up: a headless matplotlib backend, one thread per xdist worker, and the
hand-over of nbval's execution of every chapter to the book build.

Each notebook is executed once per test run (issue 13): nbval runs it and checks it, and when
every cell of a notebook has passed, :class:`NbvalToJupyterCache` writes the executed notebook
(the outputs nbval received, plus the kernel's widget state) into the jupyter-cache that the
book build reads (``execute: cache`` in ``_config.yml``). The build then finds a cached
execution whose hash (code sources, cell metadata, kernelspec) matches and executes nothing,
so the HTML shows exactly the outputs the checks passed on. The record carries
``executed_by: nbval``; ``tests/browser`` checks that every chapter of the built book came
from such a record.
"""
from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import time
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

if "PYTEST_XDIST_WORKER" in os.environ:
    # Two workers on two cores: one BLAS/OpenMP thread each, for the workers and for the
    # notebook kernels that nbval starts from them (they inherit this environment).
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
#: Where the book build looks for executed notebooks (``execute: cache:`` in ``_config.yml``).
CACHE_PATH = ROOT / "_build" / ".jupyter_cache"
EXECUTED_BY = "nbval"

_WIDGET_STATE = """\
import json as _dlnotes_json, ipywidgets as _dlnotes_widgets
with open({path!r}, "w") as _dlnotes_file:
    _dlnotes_json.dump(_dlnotes_widgets.Widget.get_manager_state(drop_defaults=True), _dlnotes_file)
del _dlnotes_json, _dlnotes_widgets, _dlnotes_file
"""


def _kernel_widget_state(kernel, timeout: float = 60) -> dict | None:
    """Ask a live nbval kernel for the state of its widgets (what a saved notebook embeds)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "state.json")
        msg_id = kernel.execute_cell_input(_WIDGET_STATE.format(path=path), allow_stdin=False)
        kernel.await_reply(msg_id, timeout=timeout)
        kernel.await_idle(msg_id, timeout)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)


def _executed_notebook(nb, outputs: dict[int, list], widget_state: dict | None):
    """``nb`` (as read from disk) with each code cell's outputs and execution count filled in."""
    nb = copy.deepcopy(nb)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = copy.deepcopy(outputs.get(count, []))
        count += 1
        cell.execution_count = count
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = count
    if widget_state and widget_state.get("state"):
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": widget_state}
    return nb


def cache_executed_notebook(nb, path: Path, seconds: float, cache_path: Path = CACHE_PATH) -> int:
    """Store an executed notebook in the jupyter-cache at ``cache_path``; return its record id."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_path))
    for attempt in range(10):  # two xdist workers share one sqlite database
        try:
            record = cache.cache_notebook_bundle(
                CacheBundleIn(nb, str(path), data={"execution_seconds": seconds, "executed_by": EXECUTED_BY}),
                check_validity=False, overwrite=True)
            return record.pk
        except Exception as err:  # sqlite "database is locked" under contention
            if "locked" not in str(err) or attempt == 9:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


class NbvalToJupyterCache:
    """Collect each nbval cell's outputs; cache the notebook once all of its cells passed."""

    def __init__(self) -> None:
        self.outputs: dict[str, dict[int, list]] = {}
        self.failed: set[str] = set()
        self.started: dict[str, float] = {}

    @staticmethod
    def _is_nbval_cell(item) -> bool:
        return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell_num")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        if not self._is_nbval_cell(item):
            yield
            return
        key = str(item.parent.fspath)
        self.started.setdefault(key, time.perf_counter())
        outcome = yield
        if outcome.excinfo is not None or item.test_outputs is None:
            self.failed.add(key)
            return
        self.outputs.setdefault(key, {})[item.cell_num] = list(item.test_outputs)
        n_code = sum(c.cell_type == "code" for c in item.parent.nb.cells)
        if item.cell_num == n_code - 1 and key not in self.failed and len(self.outputs[key]) == n_code:
            seconds = time.perf_counter() - self.started[key]
            state = _kernel_widget_state(item.parent.kernel)
            nb = _executed_notebook(item.parent.nb, self.outputs.pop(key), state)
            cache_executed_notebook(nb, Path(key), round(seconds, 2))




# ---------------------------------------------------------------------------------------------
# The kernel nbval runs the chapters in: a fresh virtual environment holding only what
# `pip install` of the package brings (pyproject.toml's dependencies, at requirements.txt's
# pins) plus ipykernel, as a reader's Colab or Jupyter has after one install (issue 12). A
# chapter that imports something only the book build or the test suite has (myst-nb, nbval,
# pytest…) fails under nbval. Set DLNOTES_NBVAL_KERNEL=current to use this environment instead.
FRESH = ROOT / ".venv-fresh"
FRESH_KERNEL = "dlnotes-fresh"


def _constraints() -> str:
    """requirements.txt without its editable line: the pins, usable as a pip constraints file."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return "\n".join(l for l in lines if l.strip() and not l.lstrip().startswith(("-e", "#"))) + "\n"


def _pins() -> dict[str, str]:
    """requirements.txt's exact pins, by canonical project name."""
    from packaging.utils import canonicalize_name

    pins = {}
    for line in _constraints().splitlines():
        name, _, version = line.partition("==")
        pins[canonicalize_name(name.strip())] = version.strip()
    return pins


def _dependency_closure(requirements: list[str]) -> dict[str, "importlib.metadata.Distribution"]:
    """The installed distributions that ``requirements`` need, transitively: each requirement's
    markers evaluated for this interpreter and for the extras asked of its parent, as pip would
    resolve them. Raises ``importlib.metadata.PackageNotFoundError`` if one is not installed."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, metadata.Distribution] = {}
    extras_done: dict[str, set[str]] = {}
    todo = [(Requirement(r), {""}) for r in requirements]
    while todo:
        req, parent_extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in parent_extras):
            continue
        name = canonicalize_name(req.name)
        wanted = {""} | set(req.extras)
        new = wanted - extras_done.get(name, set())
        if not new:
            continue
        extras_done.setdefault(name, set()).update(new)
        dist = found.setdefault(name, metadata.distribution(name))
        todo.extend((Requirement(r), new) for r in dist.requires or [])
    return found


def _link_closure(dists, target: Path) -> None:
    """Hard-link every file that ``dists`` installed (their RECORDs, byte-compiled modules
    included) from this environment into the venv ``target``; console scripts are copied with
    their ``#!`` line pointing at ``target``'s Python."""
    import shutil
    import sys
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    target_site = target / site.relative_to(sys.prefix)
    for dist in dists:
        for file in dist.files or []:
            src = Path(os.path.normpath(dist.locate_file(file)))
            if not src.is_file():  # a RECORD line for a file that was never written
                continue
            dst = Path(os.path.normpath(target_site / file))
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.parent == Path(sys.prefix) / "bin":
                text = src.read_bytes()
                if text.startswith(b"#!"):
                    text = re.sub(rb"^#!.*", b"#!" + str(target / "bin" / "python").encode(), text, count=1)
                dst.write_bytes(text)
                shutil.copymode(src, dst)
                continue
            try:
                os.link(src, dst)
            except OSError:  # another file system
                shutil.copy2(src, dst)


def ensure_fresh_kernel() -> Path:
    """Create (once) the fresh venv, reinstall the package into it (not editable: a copy, as in
    Colab) and register its kernel; return the directory to put on ``JUPYTER_PATH``.

    The venv holds exactly the distributions that ``pip install`` of the package resolves to:
    the closure of pyproject.toml's dependencies (and ipykernel) at requirements.txt's pins.
    When this environment holds each of them at its pin (the README's ``.venv`` does), their
    installed files are hard-linked from here, already byte-compiled, in a few seconds instead of
    a minute of pip (and a first kernel that would compile torch again); ``pip check``, in
    tests/test_repository.py, proves the closure complete. Otherwise pip installs them."""
    import hashlib
    import subprocess
    import sys
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    def run(cmd: list[str]) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    python = FRESH / "bin" / "python"
    constraints = _constraints()
    key = hashlib.sha256((constraints + (ROOT / "pyproject.toml").read_text()).encode()).hexdigest()
    stamp = FRESH / "dlnotes-deps.sha256"
    # --no-compile: pip would byte-compile every module it installs (the package; on the fallback
    # route torch, scipy, sklearn…, about half of that install's time); the kernels compile, once,
    # only the modules a chapter imports (their kernel spec lets them write the .pyc files, see
    # _let_kernels_cache_bytecode).
    pip = [str(python), "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check"]
    if not (python.exists() and stamp.exists() and stamp.read_text() == key):
        needs = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"] + ["ipykernel"]
        try:
            closure = _dependency_closure(needs + ["pip"])
        except metadata.PackageNotFoundError:
            closure = {}
        pins = _pins()
        if closure and all(name not in pins or Requirement(f"{name}=={pins[name]}").specifier.contains(
                dist.version, prereleases=True) for name, dist in closure.items()):
            # pip and setuptools (torch needs it) have no pin: they come at this environment's versions
            run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(FRESH)])
            _link_closure(closure.values(), FRESH)
            run(pip + ["--no-deps", "--no-build-isolation", str(ROOT)])  # setuptools is in the closure
        else:  # the declared dependencies (torch unpinned there, pinned here by the constraints)
            run([sys.executable, "-m", "venv", "--clear", str(FRESH)])
            (FRESH / "constraints.txt").write_text(constraints)
            run(pip + ["-c", str(FRESH / "constraints.txt"), str(ROOT), "ipykernel"])
        run([str(python), "-m", "ipykernel", "install", "--prefix", str(FRESH),
             "--name", FRESH_KERNEL, "--display-name", "dlnotes (fresh install)"])
        stamp.write_text(key)
    else:  # the environment is current: refresh only the package itself from the working tree
        run(pip + ["--no-deps", "--force-reinstall", "--no-build-isolation", str(ROOT)])
    _let_kernels_cache_bytecode(FRESH / "share" / "jupyter" / "kernels" / FRESH_KERNEL / "kernel.json")
    return FRESH / "share" / "jupyter"


def _let_kernels_cache_bytecode(spec: Path) -> None:
    """Clear PYTHONDONTWRITEBYTECODE in the kernels' environment (an empty value counts as unset).

    With it set (as it is on this project's CI machine) and nothing compiled at install, every kernel would
    compile torch's, scipy's and IPython's modules again: 14 s instead of 5 s to import them,
    measured, in each of the chapters' kernels."""
    kernel = json.loads(spec.read_text())
    if kernel.get("env", {}).get("PYTHONDONTWRITEBYTECODE") != "":
        kernel.setdefault("env", {})["PYTHONDONTWRITEBYTECODE"] = ""
        spec.write_text(json.dumps(kernel, indent=1))


def _use_fresh_kernel(config) -> None:
    if os.environ.get("DLNOTES_NBVAL_KERNEL") == "current" or not config.getoption("nbval_lax", False):
        return
    if config.getoption("nbval_kernel_name", None) or config.getoption("nbval_current_env", False):
        return  # the caller chose a kernel
    if "PYTEST_XDIST_WORKER" not in os.environ:  # the controller (or a run without xdist) builds it
        os.environ["JUPYTER_PATH"] = str(ensure_fresh_kernel())
    config.option.nbval_kernel_name = FRESH_KERNEL


def pytest_configure(config) -> None:
    if not config.pluginmanager.hasplugin("nbval"):
        return
    if config.getoption("nbval_lax", False) and hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False  # xdist: keep the order _work_order gives
    _use_fresh_kernel(config)
    if not config.pluginmanager.hasplugin("dlnotes-nbval-cache"):
        config.pluginmanager.register(NbvalToJupyterCache(), "dlnotes-nbval-cache")


# ---------------------------------------------------------------------------------------------
# Order of the work. `--dist loadfile` hands each worker one file at a time, by default the
# files with the most tests first; a long notebook handed out last keeps one core busy while the
# other waits. So the long notebooks go first, the other notebooks next and the unit-test files,
# each a few seconds, last, where they fill the gaps. A chapter whose page takes over ~25 s under
# the test run belongs in LONG_NOTEBOOKS (longest first, by the seconds the execution page lists);
# a wrong order costs time, never a test.
LONG_NOTEBOOKS = ("wgan", "transformer", "ddpm", "gan", "linear-attention", "autoregressive", "gru-lstm",
                  "hierarchical-vae")


def _work_order(item) -> tuple[int, int]:
    path = Path(str(item.fspath))
    if path.suffix != ".ipynb":
        return (2, 0)
    return (0, LONG_NOTEBOOKS.index(path.stem)) if path.stem in LONG_NOTEBOOKS else (1, 0)


def pytest_collection_modifyitems(config, items) -> None:
    items.sort(key=_work_order)  # stable: a file's own cells keep their order
