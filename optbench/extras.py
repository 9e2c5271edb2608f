"""Optional dependencies and library objects named by import path.

The adapters (``torch``, ``optax``, ``cma``) import their library only when a spec uses
them. A library that is not installed is a one-line error naming the ``pip install`` that
brings it; an import path that does not resolve is a one-line error naming the path.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .errors import UsageError

__all__ = ["MissingExtraError", "import_dotted", "require"]


class MissingExtraError(UsageError):
    """An adapter's library is not installed."""


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (False also where
    ``sys.modules[module]`` is None, i.e. made unimportable on purpose)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:
        return False


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise naming ``pip install 'optbench[extra]'``.

    Args:
        module: the import name, e.g. ``"torch"``.
        extra: the optbench extra that installs it, e.g. ``"torch"``.
        what: who needs it, for the message (``"the torch adapter"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{what} needs {module}, which is not installed; run: pip install 'optbench[{extra}]'"
        ) from None


def import_dotted(path: str, what: str) -> Any:
    """The object at ``package.module.Name`` (attributes after the module allowed).

    Raises:
        ValueError: the path is not a string with a dot, or nothing is found there.
    """
    if not isinstance(path, str) or "." not in path:
        raise ValueError(f"{what} must be an import path such as torch.optim.Adam, got {path!r}")
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return obj
    raise ValueError(f"{what}: cannot import {path!r}; expected an importable dotted path")
