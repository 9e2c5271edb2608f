"""Gradients by finite differences, for problems that give f alone (a black box such as BBOB).

A :class:`~optbench.problem.Problem` built with ``finite_differences="central"`` or
``"forward"`` and no ``grad`` gets its gradient from here, and the oracle charges every f
evaluation the difference quotients make (:func:`cost`), to ``n_f``: a gradient made of f
evaluations is paid for in f evaluations, as a black-box benchmark such as COCO counts them.

* ``central``: ``g_i = (f(x + h_i e_i) − f(x − h_i e_i)) / (2 h_i)``, ``2d`` evaluations
  (``2d + 1`` with the value at x), error O(h²), ``h_i = ε^(1/3) · max(1, |x_i|)``.
* ``forward``: ``g_i = (f(x + h_i e_i) − f(x)) / h_i``, ``d + 1`` evaluations (the value at
  x is one of them), error O(h), ``h_i = ε^(1/2) · max(1, |x_i|)``.

``ε`` is the double-precision machine epsilon; each step is taken as ``(x + h) − x`` so
that it is exactly the difference between the two points evaluated. All the points of a
batch go to ``f`` in one call, so a batch of B runs costs one call of ``B·2d`` rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["SCHEMES", "cost", "gradient"]

SCHEMES = ("central", "forward")


def cost(scheme: str, dim: int, with_value: bool) -> int:
    """The f evaluations one gradient makes at one point (with the value there when
    ``with_value``): central ``2d`` (``2d + 1``), forward ``d + 1`` either way."""
    if scheme == "central":
        return 2 * dim + (1 if with_value else 0)
    if scheme == "forward":
        return dim + 1
    raise ValueError(f"finite_differences must be one of {list(SCHEMES)}, got {scheme!r}")


def _steps(X: Any, scheme: str) -> Any:
    import numpy as np

    eps = np.finfo(float).eps
    h = (eps ** (1 / 3) if scheme == "central" else eps**0.5) * np.maximum(1.0, np.abs(X))
    return (X + h) - X  # exactly representable: the points differ by this much


def gradient(
    f: Callable[[Any], Any], X: Any, scheme: str, with_value: bool = False
) -> tuple[Any, Any]:
    """``(value or None, gradient)`` at the rows of ``X`` (B, d) by finite differences.

    Args:
        f: ``X (n, d) -> (n,)``, called once with every point of the batch.
        X: the points, shape ``(B, d)``.
        scheme: ``central`` or ``forward``.
        with_value: also return ``f(X)`` (shape ``(B,)``), evaluated in the same call.
    """
    import numpy as np

    X = np.asarray(X, dtype=float)
    B, d = X.shape
    cost(scheme, d, with_value)  # an unknown scheme: one line
    H = _steps(X, scheme)  # (B, d)
    E = np.eye(d)
    plus = X[:, None, :] + E[None] * H[:, None, :]  # (B, d, d): row k moves coordinate k
    parts = [plus]
    if scheme == "central":
        parts.append(X[:, None, :] - E[None] * H[:, None, :])
    if scheme == "forward" or with_value:
        parts.append(X[:, None, :])
    points = np.concatenate(parts, axis=1)  # (B, m, d)
    m = points.shape[1]
    with np.errstate(all="ignore"):
        values = np.asarray(f(points.reshape(B * m, d)), dtype=float).reshape(B, m)
        if scheme == "central":
            g = (values[:, :d] - values[:, d : 2 * d]) / (2 * H)
        else:
            g = (values[:, :d] - values[:, d : d + 1]) / H
    value = values[:, -1] if with_value else None
    return value, g
