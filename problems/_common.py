"""Helpers shared by the built-in catalogs (public API only, as a plug-in would write them).

Not a problem family: it registers nothing. numpy is imported inside the functions, so
``optbench list`` does not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from optbench import Problem, whole

__all__ = ["curvature", "problem_1d", "whole"]  # whole: optbench.whole, for the catalog's files


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
