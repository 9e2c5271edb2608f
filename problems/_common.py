"""Helpers shared by the built-in catalogs (public API only, as a plug-in would write them).

Not a problem family: it registers nothing. numpy is imported inside the functions, so
``optbench list`` does not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from optbench import Problem, check, whole

__all__ = ["SCALE_MAX", "curvature", "problem_1d", "scale", "whole"]  # whole: optbench.whole

# A parameter that scales f, its gradient or the domain stays within [1/SCALE_MAX, SCALE_MAX]:
# then f, the gradient and its squared norm are finite over the domain in double precision,
# with room for the divergence test (gap > 1e6·gap_0) to trip before anything overflows.
SCALE_MAX = 1e100


def scale(name: str, value: float, low: float = 0.0, high: float = SCALE_MAX,
          why: str = "larger values overflow f or its gradient in double precision",
          zero: bool = False) -> float:
    """``value`` if ``low < value <= high`` (``low`` itself allowed when it is > 0 or with
    ``zero``), else one line naming ``name`` and the valid range."""
    import math

    closed = low > 0 or zero
    ok = isinstance(value, int | float) and math.isfinite(value) and (
        low < value <= high or (closed and value == low))
    lo = f"[{_g(low)}" if closed else f"({_g(low)}"
    check(name, value, ok, f"in {lo}, {_g(high)}] ({why})")
    return float(value)


def magnitude(name: str, value: float, high: float = SCALE_MAX,
              why: str = "larger values overflow f or its gradient in double precision") -> float:
    """``value`` if ``|value| <= high``, else one line naming ``name`` and the valid range."""
    import math

    ok = isinstance(value, int | float) and math.isfinite(value) and abs(value) <= high
    check(name, value, ok, f"in [-{_g(high)}, {_g(high)}] ({why})")
    return float(value)


def _g(x: float) -> str:
    return f"{x:g}".replace("e+", "e")


def curvature(H) -> tuple[float, float]:
    """``(L, mu)``: the extreme eigenvalues of a symmetric Hessian (or a stack of them)."""
    import numpy as np

    eig = np.linalg.eigvalsh(np.asarray(H, dtype=float))
    return float(np.max(eig)), float(np.min(eig))


def problem_1d(
    f: Callable[[Any], Any],
    df: Callable[[Any], Any],
    bounds: tuple[float, float],
    x_star: Sequence[float] | None,
    f_star: float | None,
    d2f: Callable[[Any], Any] | None = None,
    curvature_known: bool = True,
    **kwargs: Any,
) -> Problem:
    """A 1-D problem from elementwise ``f``, ``f'`` (and ``f''``) of a vector of points.

    ``L = mu = f''(x*)`` (the largest over several minimizers) when ``d2f`` is given and
    ``curvature_known``, and positive there.
    """
    import numpy as np

    def value_and_grad(X):
        x = X[:, 0]
        return f(x), df(x)[:, None]

    hess = None if d2f is None else (lambda X: d2f(X[:, 0])[:, None, None])
    L = mu = None
    if d2f is not None and curvature_known and x_star is not None:
        c = np.asarray(d2f(np.asarray(x_star, dtype=float)), dtype=float)
        if np.all(c > 0):
            L, mu = float(c.max()), float(c.min())
    kwargs.setdefault("L", L)
    kwargs.setdefault("mu", mu)
    return Problem(
        dim=1,
        f=lambda X: f(X[:, 0]),
        grad=lambda X: df(X[:, 0])[:, None],
        value_and_grad=value_and_grad,
        bounds=([bounds[0]], [bounds[1]]),
        x_star=None if x_star is None else [[v] for v in x_star],
        f_star=f_star,
        hess=hess,
        **kwargs,
    )
