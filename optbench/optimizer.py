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

__all__ = ["Optimizer", "check", "cycled_momentum", "make_schedule"]


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
    shown = (
        arr.reshape(-1)[np.flatnonzero(~ok_arr.reshape(-1))[0]]
        if arr.ndim and ok_arr.ndim
        else value
    )
    if isinstance(shown, np.generic):
        shown = shown.item()
    raise ValueError(f"{name} must be {expected}, got {shown!r}")


def whole(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (horizons, counts, sizes), else :func:`check`'s
    one-line ValueError naming ``name``."""
    import math

    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and int(value) == value
        and value >= low
        and (high is None or value <= high)
    )
    allowed = f"a whole number >= {low}" if high is None else f"a whole number in [{low}, {high}]"
    check(name, value, ok, allowed)
    return int(value)


def make_schedule(schedule: Any, lr: Any, momentum: bool = False) -> Callable[..., Any]:
    """Bind a schedule (a registered name, a spec, or a callable) to the base rate ``lr``.

    ``schedule`` is a name (``"cosine"``), a spec in either spelling (``"cosine(T=100)"``
    as nested in an optimizer spec, or ``"cosine[T=100]"``), a :class:`~optbench.spec.Spec`
    (whose real values may be per-run ``(B, 1)`` columns), a callable ``(t, gap) -> rate``
    (returned as is), or None for the constant rate.

    A schedule may also cycle the momentum (``one-cycle``/``cyclic`` with
    ``cycle_momentum=true``): its function then carries ``momentum(t)``. Only an optimizer
    that has a momentum says ``momentum=True`` and reads it through :func:`cycled_momentum`;
    for any other such a schedule is refused with a one-line error.

    Returns:
        ``sched(t, gap=None)``: the learning rate of update ``t`` (per run when ``lr`` is a
        column array). ``gap`` is the current ``f - f*`` per run, for plateau schedules.

    Example:
        >>> eta = make_schedule("exponential(gamma=0.5)", 0.1)
        >>> float(eta(2))
        0.025
    """
    import numpy as np

    from . import registry
    from .spec import Spec, expand, parse

    if callable(schedule) and not isinstance(schedule, str | Spec):
        return schedule
    if schedule is None:
        schedule = "constant"
    text = schedule if isinstance(schedule, str) else None
    if text is not None and "(" in text.split("[")[0]:
        schedule = parse(f"schedule[s={schedule}]").params["s"]  # the nested spelling name(k=v)
    spec = parse(schedule)
    if text is not None:  # lists in a string: literal for sequence parameters, else a sweep

        specs = expand(spec, registry.literal_lists("schedule", spec.name))
        if len(specs) != 1:
            raise ValueError(f"a schedule must be one spec, not a sweep of {len(specs)}: {text!r}")
        spec = specs[0]
    entry = registry.get("schedule", spec.name)
    given = dict(spec.params)
    # per-run columns come from the runner, their values checked one by one at plan time
    columns = {k: given.pop(k) for k in list(given) if isinstance(given[k], np.ndarray)}
    entry.check_params(columns)
    params = entry.resolve(given)
    params.update(columns)
    fn = entry.build(lr=lr, **params)
    if getattr(fn, "momentum", None) is not None and not momentum:
        raise ValueError(
            f"schedule {spec.name!r} cycles the momentum (cycle_momentum=true), but this "
            "optimizer has no momentum; set cycle_momentum=false"
        )
    return fn


def cycled_momentum(rate: Callable[..., Any], momentum: Any) -> Callable[[Any], Any]:
    """``mu(t)``: the momentum of update ``t``, the schedule's where it cycles one (as torch's
    OneCycleLR/CyclicLR overwrite ``momentum`` or ``betas[0]``), else ``momentum`` itself."""
    cycled = getattr(rate, "momentum", None)
    return cycled if cycled is not None else (lambda t: momentum)
