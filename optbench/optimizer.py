"""The optimizer contract: the runner owns the loop, an optimizer computes steps.

An optimizer factory returns an :class:`Optimizer`. Most give a ``step``::

    @register_optimizer("my-gd", needs=("gradient",), batchable=True)
    def my_gd(lr: float = 0.1):
        check("lr", lr, lr > 0, "> 0")

        def step(x, state, oracle, t):
            return x - lr * oracle.grad(x), state

        return Optimizer(step=step)

``step(x, state, oracle, t)`` receives the current iterates ``x`` of shape ``(B, d)``, its
own state, the :class:`~optbench.oracle.Oracle` (the only way to evaluate the problem) and
the update count ``t`` (0 for the first update), and returns the next iterates and state.
If the state is a dict with key ``"lr"``, the runner records it as the learning rate used.
For a batchable optimizer, real-valued hyperparameters that differ between the runs of a
batch arrive as column arrays of shape ``(B, 1)``, so ``lr * g`` works either way.

An optimizer that must own its loop (``scipy.optimize.minimize``) gives ``run`` instead:
``run(x0, oracle, callback)`` with ``x0`` of shape ``(d,)``, evaluating through
``oracle.scalar_f``/``oracle.scalar_grad`` and calling ``callback(x)`` at each iterate;
the runner records it there, and stops the run by raising from the callback or the oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["Optimizer", "check", "make_schedule"]


class Optimizer(NamedTuple):
    """What an optimizer factory returns: ``step`` (with optional ``init``) or ``run``."""

    step: Callable[..., tuple[Any, Any]] | None = None
    init: Callable[[Any], Any] | None = None
    run: Callable[..., None] | None = None


def check(name: str, value: Any, ok: Any, expected: str) -> None:
    """Raise ``ValueError("name must be EXPECTED, got VALUE")`` unless ``ok`` is all true.

    ``value`` may be a per-run array; the message shows the first offending entry.
    """
    import numpy as np

    ok_arr = np.asarray(ok)
    if ok_arr.all():
        return
    arr = np.asarray(value)
    shown = arr.reshape(-1)[np.flatnonzero(~ok_arr.reshape(-1))[0]] if arr.ndim and ok_arr.ndim else value
    if isinstance(shown, np.generic):
        shown = shown.item()
    raise ValueError(f"{name} must be {expected}, got {shown!r}")


def make_schedule(schedule: Any, lr: Any) -> Callable[..., Any]:
    """Bind a schedule (a registered name, a spec, or a callable) to the base rate ``lr``.

    Returns:
        ``sched(t, gap=None)``: the learning rate of update ``t`` (per run when ``lr`` is a
        column array). ``gap`` is the current ``f - f*`` per run, for plateau schedules.
    """
    from . import registry
    from .spec import Spec, parse

    if callable(schedule) and not isinstance(schedule, str | Spec):
        return schedule
    spec = parse(schedule if schedule is not None else "constant")
    entry = registry.get("schedule", spec.name)
    params = entry.resolve(dict(spec.params))
    return entry.build(lr=lr, **params)
