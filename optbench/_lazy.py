"""Packages whose public names are imported on first use (PEP 562), so that importing the
package (``optbench --help``, ``optbench list``) loads no numpy, scipy or pandas."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str | tuple[str, str]], namespace: dict[str, Any],
    names: list[str],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``.

    ``exports`` maps a public name to the module that defines it, or to ``(module, name)``
    where it is defined under another name; a module starting with ``.`` is relative to
    ``package``. A name is imported once and then kept in ``namespace`` (the package's
    globals); ``names`` is what ``dir()`` lists.
    """

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = target if isinstance(target, tuple) else (target, name)
        value = getattr(importlib.import_module(module, package), attr)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
