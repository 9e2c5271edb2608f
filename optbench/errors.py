"""The exceptions optbench raises.

Every error derives from :class:`OptbenchError`; each leaf also derives from the builtin
it refines, so ``except ValueError`` keeps working for callers who do not know optbench::

    OptbenchError
     ├── UsageError (ValueError)          bad input: the CLI prints one line, exits 2
     │    ├── SpecError                   a malformed spec string, with its position
     │    ├── UnknownNameError (KeyError) a name that is not registered, with close matches
     │    ├── InvalidValueError           a parameter outside its valid range
     │    ├── PluginError (ImportError)   a plug-in that fails to import or register
     │    └── StoreError                  a store that cannot be opened, read or written
     └── RunFailure (RuntimeError)        raised inside a run; becomes a status, never escapes
          ├── BudgetExhausted             the evaluation budget of a run is used up
          ├── DeadlineExceeded            the run passed its wall-clock deadline
          └── StopRun                     the runner stops a run that owns its loop
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BudgetExhausted",
    "DeadlineExceeded",
    "InvalidValueError",
    "OptbenchError",
    "PluginError",
    "RunFailure",
    "SpecError",
    "StopRun",
    "StoreError",
    "UnknownNameError",
    "UsageError",
]


class OptbenchError(Exception):
    """Root of every optbench exception."""


class UsageError(OptbenchError, ValueError):
    """Bad input from the user: a spec, a value, a file, a name."""


class SpecError(UsageError):
    """A spec string that does not parse.

    Args:
        message: what was wrong and what was expected.
        text: the whole spec string.
        pos: the 0-based character position where parsing failed.
    """

    def __init__(self, message: str, text: str = "", pos: int | None = None):
        self.text, self.pos = text, pos
        where = f" at position {pos + 1} of {text!r}" if pos is not None and text else ""
        super().__init__(f"{message}{where}")


class UnknownNameError(UsageError, KeyError):
    """A problem, optimizer, schedule or section name that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str], plugin_hint: str = ""):
        self.kind, self.name = kind, name
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        if plugin_hint:  # the name is defined in a file the user has not loaded
            hint, close = f"; {plugin_hint}", ["-"]
        listing = f" (known: {', '.join(known)})" if known and not close else ""
        super().__init__(f"unknown {kind} {name!r}{hint}{listing}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidValueError(UsageError):
    """A parameter value outside its valid range."""


class PluginError(UsageError, ImportError):
    """A plug-in that cannot be imported or registers nothing usable."""


class StoreError(UsageError):
    """A results store that cannot be opened, read or written."""


class RunFailure(OptbenchError, RuntimeError):
    """Raised inside a single run; the runner turns it into a status."""


class BudgetExhausted(RunFailure):
    """The run has used its evaluation budget."""


class DeadlineExceeded(RunFailure):
    """The run passed its wall-clock deadline."""


class StopRun(RunFailure):
    """The runner has decided the run's status and stops an optimizer that owns its loop."""
