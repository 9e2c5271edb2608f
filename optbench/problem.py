"""The problem contract: a named objective that evaluates a batch of points.

A problem factory returns a :class:`Problem`::

    @register_problem("my-bowl", tags=("convex",))
    def my_bowl(h: float = 2.0):
        return Problem(
            dim=1,
            f=lambda X: 0.5 * h * X[:, 0] ** 2,
            grad=lambda X: h * X,
            bounds=([-5.0], [5.0]),
            x_star=[[0.0]], f_star=0.0, L=h, mu=h, hessian=[[h]],
        )

``f`` maps ``X`` of shape ``(B, d)`` to ``(B,)``; ``grad`` maps it to ``(B, d)``. Every
problem has box bounds (random search samples them; the default start-point distribution
is uniform in them). ``x_star`` lists every global minimizer, ``f_star`` is the minimum;
both may be unknown (``None``). ``L``/``mu`` are the curvature constants where known and
``hessian`` the constant Hessian of a quadratic (the theory uses its eigen-directions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import InvalidValueError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Problem"]

# numpy is imported inside the methods: catalogs import this module when `optbench list`
# runs, which must not pay for numpy.
Array = "np.ndarray"


class Problem:
    """A batch-evaluated objective with what is known about its minimum.

    Args:
        dim: the dimension d.
        f: ``X (B, d) -> (B,)``.
        grad: ``X (B, d) -> (B, d)``; None for derivative-free problems.
        bounds: ``(lower, upper)``, each of length d.
        x_star: the global minimizers, shape ``(k, d)``, or None if unknown.
        f_star: the global minimum, or None if unknown.
        L, mu: largest and smallest curvature where known.
        hessian: the constant Hessian ``(d, d)`` of a quadratic, else None.
        value_and_grad: optional ``X -> (f, grad)`` sharing work between the two.
        stochastic_grad: optional ``(X, rng) -> (B, d)``, the gradient the optimizer sees
            (minibatch or noisy); ``rng`` is a :class:`optbench.oracle.RunRNG` over the rows.
        start: optional ``(rng: numpy.random.Generator) -> (d,)`` start-point sampler;
            default uniform in the bounds.
        tags: e.g. ``convex``, ``multimodal``, ``non-smooth``, ``quadratic``.
        description: one line.
        examples_per_grad: examples one stochastic gradient processes (minibatch size).
        draw: optional hints for the report (e.g. a plotting window).
    """

    def __init__(
        self,
        *,
        dim: int,
        f: Callable[[Array], Array],
        bounds: tuple[Sequence[float], Sequence[float]],
        grad: Callable[[Array], Array] | None = None,
        x_star: Sequence[Sequence[float]] | Array | None = None,
        f_star: float | None = None,
        L: float | None = None,
        mu: float | None = None,
        hessian: Sequence[Sequence[float]] | Array | None = None,
        value_and_grad: Callable[[Array], tuple[Array, Array]] | None = None,
        stochastic_grad: Callable[[Array, Any], Array] | None = None,
        start: Callable[[np.random.Generator], Array] | None = None,
        tags: Sequence[str] = (),
        description: str = "",
        examples_per_grad: int | None = None,
        draw: dict[str, Any] | None = None,
    ):
        import numpy as np

        if int(dim) != dim or dim < 1:
            raise InvalidValueError(f"dim must be a whole number >= 1, got {dim}")
        self.dim = int(dim)
        self._f = f
        self._grad = grad
        self._value_and_grad = value_and_grad
        self.stochastic_grad = stochastic_grad
        lo, hi = (np.asarray(b, dtype=float).reshape(-1) for b in bounds)
        if lo.shape != (self.dim,) or hi.shape != (self.dim,) or not np.all(lo < hi):
            raise InvalidValueError(f"bounds must be two length-{self.dim} vectors with lower < upper")
        self.lower, self.upper = lo, hi
        self.x_star = None if x_star is None else np.asarray(x_star, dtype=float).reshape(-1, self.dim)
        self.f_star = None if f_star is None else float(f_star)
        self.L = None if L is None else float(L)
        self.mu = None if mu is None else float(mu)
        self.hessian = None if hessian is None else np.asarray(hessian, dtype=float).reshape(self.dim, self.dim)
        self._start = start
        self.tags = tuple(tags)
        self.description = description
        self.examples_per_grad = examples_per_grad
        self.draw = dict(draw or {})
        self.name: str = ""  # set by the registry when the problem is built from a spec
        self.params: dict[str, Any] = {}

    # -- evaluation ------------------------------------------------------------------------
    @property
    def has_gradient(self) -> bool:
        return self._grad is not None or self._value_and_grad is not None

    @property
    def stochastic(self) -> bool:
        return self.stochastic_grad is not None

    def f(self, X: Array) -> Array:
        return self._f(X)

    def grad(self, X: Array) -> Array:
        if self._grad is None:
            return self.value_and_grad(X)[1]
        return self._grad(X)

    def value_and_grad(self, X: Array) -> tuple[Array, Array]:
        if self._value_and_grad is not None:
            return self._value_and_grad(X)
        if self._grad is None:
            raise InvalidValueError(f"problem {self.name!r} has no gradient")
        return self._f(X), self._grad(X)

    # -- what is known ---------------------------------------------------------------------
    def sample_start(self, rng: np.random.Generator) -> Array:
        """A start point, drawn from ``rng`` (seeded by problem and seed alone)."""
        import numpy as np

        if self._start is not None:
            return np.asarray(self._start(rng), dtype=float).reshape(self.dim)
        return rng.uniform(self.lower, self.upper)

    def provides(self) -> set[str]:
        """What an optimizer may declare it needs and this problem can give."""
        out = {"bounds"}
        if self.has_gradient:
            out.add("gradient")
        if self.f_star is not None:
            out.add("f_star")
        if self.hessian is not None:
            out.add("hessian")
        return out

    def info(self) -> dict[str, Any]:
        """JSON-ready facts for ``optbench list problems --json`` and the report."""
        import numpy as np

        def arr(a):
            return None if a is None else np.asarray(a).tolist()

        return {
            "dim": self.dim,
            "domain": [arr(self.lower), arr(self.upper)],
            "x_star": arr(self.x_star),
            "f_star": self.f_star,
            "L": self.L,
            "mu": self.mu,
            "has_gradient": self.has_gradient,
            "stochastic": self.stochastic,
            "tags": list(self.tags),
        }

    def __repr__(self) -> str:
        return f"Problem({self.name or '?'}, dim={self.dim})"
