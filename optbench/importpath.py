"""The import rule of every optbench process: the installed optbench wins, and the working
folder is searched last.

Python puts the working folder *first* on the import path of ``python -m ...`` and
``python -c ...``, and not at all on a console script's. A folder holding a checkout named
``optbench/`` then shadows the installed package (a namespace package without
``__init__.py`` even hides an editable install), while ``mymodule.py`` beside the user is not
importable from the ``optbench`` command. One rule instead, the same in the driver
(:func:`apply` in ``optbench``'s ``main``) and in every child it starts (:func:`command`,
:func:`child_env`, and :func:`apply` again in the child):

* the working folder is taken off the front of the import path, so nothing in it shadows
  optbench, numpy, or the standard library;
* it is searched last, after everything installed (a finder at the end of
  ``sys.meta_path``), so a plug-in module or a dotted path such as
  ``torch[cls=mymodule.SignSGD]`` finds ``mymodule.py`` there.

The exception is a source checkout run in place: when the running optbench itself was
imported from the working folder, that folder keeps its place.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

__all__ = ["apply", "child_env", "command"]


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a or ".", b)
    except OSError:
        return False


def _own_folder() -> str:
    """The folder the running optbench package was imported from."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _path_without(folder: str, path: list[str]) -> list[str]:
    """``path`` without the entries that are ``folder`` ("" included), unless the running
    optbench comes from there."""
    if _same(_own_folder(), folder):
        return list(path)
    return [p for p in path if not _same(p, folder)]


class WorkingFolderFinder:
    """A ``sys.meta_path`` finder of top-level modules and packages in one folder, asked
    after every other finder."""

    def __init__(self, folder: str):
        self.folder = folder

    def find_spec(self, fullname, path=None, target=None):  # noqa: ARG002 — importlib's
        if path is not None:  # a submodule: its package's own path finds it
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [self.folder])

    def __repr__(self) -> str:
        return f"WorkingFolderFinder({self.folder!r})"


def apply() -> None:
    """Follow the rule in this process: the working folder off the front of ``sys.path``,
    and searched last. Call it once optbench is imported (it is, when this runs)."""
    try:
        cwd = os.getcwd()
    except OSError:  # the working folder was removed: nothing to find there
        return
    sys.path[:] = _path_without(cwd, sys.path)
    for finder in sys.meta_path:
        if isinstance(finder, WorkingFolderFinder):
            finder.folder = cwd
            return
    sys.meta_path.append(WorkingFolderFinder(cwd))


def command(module: str, *args: str) -> list[str]:
    """The command that runs ``python -m module args`` in a child without the working
    folder in front of its path (``-P``); the child calls :func:`apply` itself."""
    return [sys.executable, "-P", "-m", module, *args]


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (this process's by default) with ``PYTHONPATH`` set to this process's import
    path without the working folder: a plug-in or entry point found here is found there."""
    out = dict(os.environ if env is None else env)
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    path = _path_without(cwd, sys.path) if cwd else sys.path
    out["PYTHONPATH"] = os.pathsep.join(p or cwd for p in path if p or cwd)
    return out
