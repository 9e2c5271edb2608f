"""The settings of a run, checked in one place before anything is written.

The same settings come from command-line options, a TOML spec file and keyword arguments
of :func:`optbench.run`; :func:`check` gives each bad value one line naming the setting as
the user spelled it (``--max-iter`` on the command line, ``max_iter`` in a TOML file).
Counts must fit SQLite's 64-bit integers, since the store keeps them.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from .errors import UsageError

__all__ = ["INT64_MAX", "KEYS", "check", "check_keys"]

INT64_MAX = 2**63 - 1
KEYS = (
    "problems",
    "optimizers",
    "seeds",
    "budget",
    "budgets",
    "max_iter",
    "max_runs",
    "tol",
    "noisy_stops",
    "timeout",
    "plugins",
    "out",
    "executor",
    "jobs",
    "scheduler",
    "anonymous",
    "sweeps",
)
_EXAMPLES = {
    "problems": '["quadratic-1d"]',
    "optimizers": '["gd[lr=0.1]"]',
    "plugins": '["my_optimizer.py"]',
    "budgets": '{ "rosenbrock" = 2000 }',
}


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _count(v: Any) -> str | None:
    if not _whole(v):
        return "a whole number"
    if not 1 <= v <= INT64_MAX:
        return f"a whole number from 1 to {INT64_MAX:,}" if v > 0 else "at least 1"
    return None


def _budgets(v: Any) -> str | None:
    ok = isinstance(v, dict) and all(isinstance(k, str) and _count(b) is None
                                     for k, b in v.items())
    return None if ok else "a table of problem spec -> whole number of evaluations (at least 1)"


def _seeds(v: Any) -> str | None:
    if isinstance(v, list | tuple):
        ok = v and all(_whole(s) and 0 <= s <= INT64_MAX for s in v)
        return None if ok else f"a non-empty list of whole numbers from 0 to {INT64_MAX:,}"
    return _count(v)


def _tol(v: Any) -> str | None:
    return None if _real(v) and math.isfinite(v) and v >= 0 else "a finite number >= 0"


def _timeout(v: Any) -> str | None:
    if _real(v) and math.isfinite(v) and v > 0:
        return None
    return "a finite number of seconds > 0 (leave it out for no limit)"


def _strings(v: Any) -> str | None:
    ok = isinstance(v, list | tuple) and all(isinstance(s, str) for s in v)
    return None if ok else "a list of strings"


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "a non-empty string"


def _out(v: Any) -> str | None:
    if _text(v) is not None:
        return _text(v)
    if v.rstrip("/\\").lower().endswith(".zip"):  # a bundle: read-only
        return ("a folder for the store, not a bundle (a .zip is read-only: 'optbench export "
                "--format bundle' writes one, every command reads one)")
    return None


def _executor(v: Any) -> str | None:
    # the name itself is checked against the registry once plug-ins (which may add an
    # executor) are loaded: :func:`optbench.executors.check_executor`
    return _text(v)


_RULES = {
    "problems": _strings,
    "optimizers": _strings,
    "plugins": _strings,
    "seeds": _seeds,
    "budget": _count,
    "budgets": _budgets,
    "max_iter": _count,
    "max_runs": _count,
    "jobs": _count,
    "tol": _tol,
    "noisy_stops": _flag,
    "timeout": _timeout,
    "out": _out,
    "executor": _executor,
    "scheduler": _text,
    "anonymous": _flag,
}


def _show(v: Any) -> str:
    return f"{v:,}" if _whole(v) and abs(v) >= 10**6 else repr(v)


def check(values: dict[str, Any], where: str = "", option_names: bool = False) -> None:
    """Raise a one-line :class:`UsageError` for the first bad value; None means "not given".

    Args:
        values: setting name (TOML spelling) -> value.
        where: what the values come from, e.g. ``"spec file 'x.toml': "``.
        option_names: name settings as command-line options (``--max-iter``).
    """
    for key, value in values.items():
        if value is None:
            continue
        if key == "sweeps":  # its own one-line errors: which block, which key
            from .sweeps import check as check_sweeps

            check_sweeps(value, where)
            continue
        expected = _RULES[key](value)
        if expected is not None:
            name = f"--{key.replace('_', '-')}" if option_names else key
            example = f", e.g. {key} = {_EXAMPLES[key]}" if key in _EXAMPLES and where else ""
            raise UsageError(f"{where}{name} must be {expected}, got {_show(value)}{example}")


def check_keys(keys: Any, where: str) -> None:
    """A one-line error for an unknown setting, with the closest known one."""
    for key in keys:
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"{where}unknown key {key!r}{hint} (known keys: {', '.join(KEYS)})")
