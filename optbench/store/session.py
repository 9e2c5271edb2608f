"""Who wrote to a store: the command line (without the machine's folders when anonymous),
the host and the versions of the code that computed the runs. The rest of a session's
environment (platform, CPU, BLAS, extras, plug-ins) is captured by
:mod:`optbench.environment` and handed to :meth:`Store.add_session` as data."""

from __future__ import annotations

import functools
import platform
import re

import numpy as np

__all__ = ["anonymized", "host", "versions"]

_ABSOLUTE = re.compile(r"(?<![\w.)\]/])(?:[A-Za-z]:[\\/]|/)[^\s]*")
"""An absolute path in a command line: ``/...`` (or ``C:\\...``) at the start of a word
or after ``=`` or ``,`` (``--out=/x``, ``NAME=/x``), not inside a value such as
``lr=0.5/L``."""


def anonymized(command: str) -> str:
    """A command line without the folders of its absolute paths: each becomes its last
    component (``/home/me/.venv/bin/optbench run --out /home/me/res`` ->
    ``optbench run --out res``), so a shared store says nothing about the machine."""

    def last(m: re.Match) -> str:
        path = m.group(0).rstrip("/\\")
        return re.split(r"[/\\]", path)[-1] or "/"

    return _ABSOLUTE.sub(last, command)


def host(anonymous: bool) -> str:
    """The machine's name, or "" when the store is to say nothing about where it ran."""
    return "" if anonymous else platform.node()


@functools.cache
def versions() -> dict[str, str]:
    from .. import __version__

    return {
        "optbench": __version__,
        "numpy": np.__version__,
        "scipy": _scipy_version(),
        "python": platform.python_version(),
    }


def _scipy_version() -> str:
    """scipy's version from the head of its installed metadata: importing scipy for it, or
    parsing its whole metadata (licence texts included), costs more than a small run."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution("scipy").read_text("METADATA") or ""
    except PackageNotFoundError:
        text = ""
    for line in text.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
        if not line:  # the end of the headers
            break
    import scipy

    return scipy.__version__
