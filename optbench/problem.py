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

``L`` and ``mu`` are the extreme eigenvalues of the Hessian *at the minimizer* (the largest
over several minimizers): the learning-rate thresholds 1/L and 2/L hold there. For a
quadratic they hold everywhere; ``L_global`` says so (default: true exactly when a constant
``hessian`` is given). ``landscape`` grids a 1-D or 2-D problem for the report, over its
domain or the ``draw["window"]`` hint; ``draw["log"]`` asks for a log colour scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from .errors import InvalidValueError

# numpy is imported inside the methods: catalogs import this module when `optbench list`
# runs, which must not pay for numpy. Annotations are not evaluated at run time.
if TYPE_CHECKING:
    import numpy as np

    Array: TypeAlias = np.ndarray

__all__ = ["LANDSCAPE_POINTS", "Problem", "landscape_axes"]

LANDSCAPE_POINTS = {1: 2991, 2: 199}
ILL_CONDITIONED = 100.0
"""A problem whose condition number κ = L/μ at x* is at least this is tagged
``ill-conditioned`` (gradient descent's linear rate is then 1 − 1/κ at best)."""
"""Grid points per axis of a stored landscape (:meth:`Problem.stored_landscape`): every
10th (1-D) and every 2nd (2-D) point is a point of the report's own drawing grid (300 and
100 points) over the same window, so an unzoomed panel draws exactly the stored values."""


def _box(bounds: Any, dim: int) -> tuple[Any, Any]:
    """``(lower, upper)`` as float vectors, or a one-line error showing the expected form."""
    import numpy as np

    form = (
        f"bounds must be (lower, upper): two sequences of {dim} number(s) with lower < upper, "
        f"e.g. bounds=({[-5.0] * min(dim, 3)}{'...' if dim > 3 else ''}, "
        f"{[5.0] * min(dim, 3)}{'...' if dim > 3 else ''})"
    )
    shown = np.array2string(np.asarray(bounds, dtype=object), threshold=8, separator=", ")
    try:
        lo, hi = (np.asarray(b, dtype=float).reshape(-1) for b in bounds)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{form}; got {shown}") from None
    if lo.shape != (dim,) or hi.shape != (dim,):
        raise InvalidValueError(
            f"{form}; got lower of length {lo.size} and upper of length {hi.size}"
        )
    if not np.all(lo < hi):
        i = int(np.flatnonzero(~(lo < hi))[0])
        raise InvalidValueError(f"{form}; got lower[{i}] = {lo[i]} >= upper[{i}] = {hi[i]}")
    return lo, hi


def landscape_axes(grid: dict[str, Any]) -> list[Any]:
    """The coordinates of a stored landscape's grid (:meth:`Problem.stored_landscape`), one
    array per axis: the points :meth:`Problem.landscape` evaluated."""
    import numpy as np

    n = np.shape(grid["f"])[0]
    return [np.linspace(lo, hi, n) for lo, hi in np.asarray(grid["window"], dtype=float)]


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
        tags: e.g. ``convex``, ``multimodal``, ``non-smooth``, ``quadratic``;
            ``ill-conditioned`` is added where L/μ ≥ :data:`ILL_CONDITIONED`.
        description: one line.
        examples_per_grad: examples one stochastic gradient processes (minibatch size).
        draw: optional hints for the report: ``window`` (per-axis ``(lo, hi)`` pairs where
            the interesting structure is), ``log`` (True: a log colour scale reads better) and
            ``axes`` (the names of the coordinates, e.g. ``["w", "b"]``; default x₁, x₂).
        hess: optional ``X (B, d) -> (B, d, d)``, the Hessian at each point (sharpness
            overlays); defaults to the constant ``hessian`` where one is given.
        L_global: True where ``L`` bounds the curvature on the whole domain, not just at x*.
        resolved: parameters the factory resolved that belong to the run's identity (e.g. the
            ``content_hash`` of a data file); the planner adds them to the problem's spec.
        test_f: optional ``X (B, d) -> (B,)``, a held-out loss (a model's test loss); the
            runner records it at every iterate, uncharged, as the trace's ``test_f``.
        test_acc: optional ``X (B, d) -> (B,)``, a held-out accuracy (the fraction of test
            examples a classifier labels correctly); recorded the same way as ``test_acc``.
        finite_differences: ``"central"`` or ``"forward"`` for a problem that gives ``f``
            alone: its gradient is then taken by finite differences of ``f``
            (:mod:`optbench.finite_differences`), and the oracle charges every f evaluation
            they make to ``n_f`` (:meth:`gradient_cost`). Not with ``grad``.
        coco: the problem's identity in a COCO suite, where it is one: ``{"suite": "bbob",
            "function": 3, "dimension": 5, "instance": 1}``. The COCO export then writes its
            runs as that suite's function and instance, which cocopp reads as its own.
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
        hess: Callable[[Array], Array] | None = None,
        L_global: bool | None = None,
        resolved: dict[str, Any] | None = None,
        test_f: Callable[[Array], Array] | None = None,
        test_acc: Callable[[Array], Array] | None = None,
        finite_differences: str | None = None,
        coco: dict[str, Any] | None = None,
    ):
        import numpy as np

        from .finite_differences import SCHEMES

        if int(dim) != dim or dim < 1:
            raise InvalidValueError(f"dim must be a whole number >= 1, got {dim}")
        self.dim = int(dim)
        self._f = f
        self._grad = grad
        self._value_and_grad = value_and_grad
        self.stochastic_grad = stochastic_grad
        self.lower, self.upper = _box(bounds, self.dim)
        self.x_star = (
            None if x_star is None else np.asarray(x_star, dtype=float).reshape(-1, self.dim)
        )
        self.f_star = None if f_star is None else float(f_star)
        self.L = None if L is None else float(L)
        self.mu = None if mu is None else float(mu)
        self.hessian = (
            None
            if hessian is None
            else np.asarray(hessian, dtype=float).reshape(self.dim, self.dim)
        )
        self._start = start
        self.tags = tuple(tags)
        if (self.L is not None and self.mu is not None and self.mu > 0
                and self.L / self.mu >= ILL_CONDITIONED and "ill-conditioned" not in self.tags):
            self.tags += ("ill-conditioned",)
        self.description = description
        self.examples_per_grad = examples_per_grad
        self.draw = dict(draw or {})
        self._hess = hess
        self.L_global = (self.hessian is not None) if L_global is None else bool(L_global)
        self.resolved = dict(resolved or {})
        self.test_f = test_f
        self.test_acc = test_acc
        if finite_differences is not None and finite_differences not in SCHEMES:
            raise InvalidValueError(
                f"finite_differences must be one of {list(SCHEMES)} or None, "
                f"got {finite_differences!r}"
            )
        if finite_differences is not None and (grad is not None or value_and_grad is not None):
            raise InvalidValueError(
                "finite_differences is for a problem without a gradient; this one gives grad"
            )
        self.finite_differences = finite_differences
        self.coco = None if coco is None else dict(coco)
        self.name: str = ""  # set by the registry when the problem is built from a spec
        self.params: dict[str, Any] = {}

    # -- evaluation ------------------------------------------------------------------------
    @property
    def has_gradient(self) -> bool:
        return (
            self._grad is not None
            or self._value_and_grad is not None
            or self.finite_differences is not None
        )

    def gradient_cost(self, with_value: bool = False) -> tuple[int, int]:
        """``(n_f, n_g)`` the oracle charges for one gradient at one point (and the value
        there too, with ``with_value``): ``(0, 1)`` or ``(1, 1)`` for an analytic gradient;
        a finite-difference gradient is the f evaluations it makes, all on ``n_f``
        (central: ``2d``, ``2d + 1`` with the value; forward: ``d + 1`` either way)."""
        if self.finite_differences is None:
            return (1 if with_value else 0), 1
        from .finite_differences import cost

        return cost(self.finite_differences, self.dim, with_value), 0

    @property
    def stochastic(self) -> bool:
        return self.stochastic_grad is not None

    def f(self, X: Array) -> Array:
        return self._f(X)

    def grad(self, X: Array) -> Array:
        if self.finite_differences is not None:
            from .finite_differences import gradient

            return gradient(self._f, X, self.finite_differences)[1]
        if self._grad is None:
            return self.value_and_grad(X)[1]
        return self._grad(X)

    def value_and_grad(self, X: Array) -> tuple[Array, Array]:
        if self._value_and_grad is not None:
            return self._value_and_grad(X)
        if self.finite_differences is not None:
            from .finite_differences import gradient

            return gradient(self._f, X, self.finite_differences, with_value=True)
        if self._grad is None:
            raise InvalidValueError(f"problem {self.name!r} has no gradient")
        return self._f(X), self._grad(X)

    @property
    def has_hessian(self) -> bool:
        return self._hess is not None or self.hessian is not None

    def hess(self, X: Array) -> Array:
        """Hessians ``(B, d, d)`` at the rows of ``X`` (analytic, or the constant one)."""
        import numpy as np

        X = np.asarray(X, dtype=float)
        if self._hess is not None:
            return np.asarray(self._hess(X), dtype=float).reshape(X.shape[0], self.dim, self.dim)
        if self.hessian is None:
            raise InvalidValueError(f"problem {self.name!r} has no Hessian")
        return np.broadcast_to(self.hessian, (X.shape[0], self.dim, self.dim)).copy()

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
            "description": self.description,
            "L_global": self.L_global,
            "examples_per_grad": self.examples_per_grad,
            "draw": {k: (arr(v) if k == "window" else v) for k, v in self.draw.items()},
            "resolved": dict(self.resolved),
            "has_test_loss": self.test_f is not None,
            "has_test_accuracy": self.test_acc is not None,
            "gradient": (
                None if not self.has_gradient
                else f"{self.finite_differences} differences" if self.finite_differences
                else "analytic"
            ),
            "coco": self.coco,
        }

    # -- drawing ---------------------------------------------------------------------------
    def window(self, window: Any = None) -> list[tuple[float, float]]:
        """Per-axis ``(lo, hi)`` of the plotting window: ``window``, else ``draw["window"]``,
        else the domain."""
        import numpy as np

        w = window if window is not None else self.draw.get("window")
        if w is None:
            return [(float(a), float(b)) for a, b in zip(self.lower, self.upper, strict=True)]
        arr = np.asarray(w, dtype=float)
        pairs = arr.reshape(-1, 2) if arr.size == 2 * self.dim else None
        if pairs is None or not np.all(pairs[:, 0] < pairs[:, 1]):
            raise InvalidValueError(
                f"window must be {self.dim} pair(s) (lo, hi) with lo < hi, got {arr.tolist()}"
            )
        return [(float(a), float(b)) for a, b in pairs]

    def landscape(self, n: int = 200, window: Any = None):
        """The loss on a grid, for drawing.

        Args:
            n: points per axis.
            window: per-axis ``(lo, hi)`` pairs (for 1-D also a bare ``(lo, hi)``); default
                ``draw["window"]``, else the domain.

        Returns:
            1-D: ``(xs, fs)``, each ``(n,)``. 2-D: ``(X1, X2, F)``, each ``(n, n)`` with
            ``X1[i, j]`` the first coordinate (``numpy.meshgrid`` order). The minimizers to
            mark are ``x_star``.

        Raises:
            InvalidValueError: for a problem of dimension 3 or more.
        """
        import numpy as np

        if self.dim > 2:
            raise InvalidValueError(
                f"landscape draws 1-D and 2-D problems only; "
                f"problem {self.name!r} has dim={self.dim}"
            )
        if int(n) != n or n < 2:
            raise InvalidValueError(f"n must be a whole number >= 2, got {n}")
        axes = [np.linspace(lo, hi, int(n)) for lo, hi in self.window(window)]
        if self.dim == 1:
            return axes[0], self._f_chunked(axes[0][:, None])
        X1, X2 = np.meshgrid(*axes)
        F = self._f_chunked(np.column_stack([X1.ravel(), X2.ravel()]))
        return X1, X2, F.reshape(X1.shape)

    def stored_landscape(self) -> dict[str, Any] | None:
        """The landscape a store keeps with the problem (None for dimension 3 or more): the
        loss over :meth:`window` on a grid fine enough for the report to zoom into
        (:data:`LANDSCAPE_POINTS` per axis) and f at the minimizers.

        ``window`` is the ``(d, 2)`` box, gridded by ``numpy.linspace`` on each axis
        (:func:`landscape_axes`); ``f`` is ``(n,)`` in 1-D and ``(n, n)`` in 2-D (row ``i``
        at the second axis' ``i``-th point, as :meth:`landscape`), stored as float32 above
        ``offset`` (float64, the least finite value), so that some 160 KB hold a 2-D grid
        without losing the small gaps near the minimum.
        """
        import numpy as np

        if self.dim > 2:
            return None
        grid = self.landscape(LANDSCAPE_POINTS[self.dim])
        f = np.asarray(grid[-1], dtype=float)
        finite = f[np.isfinite(f)]
        offset = float(finite.min()) if finite.size else 0.0
        out: dict[str, Any] = {
            "window": np.asarray(self.window(), dtype=float),
            "offset": np.float64(offset),
            "f": (f - offset).astype(np.float32),
        }
        if self.x_star is not None:
            out["f_x_star"] = self._f_chunked(self.x_star)
        return out

    def _f_chunked(self, X: Array, chunk: int = 8192) -> Array:
        # a data problem evaluates (rows, n_examples) at once: chunks keep memory bounded
        import numpy as np

        with np.errstate(all="ignore"):
            return np.concatenate(
                [
                    np.asarray(self.f(X[i : i + chunk]), dtype=float)
                    for i in range(0, X.shape[0], chunk)
                ]
            )

    def __repr__(self) -> str:
        return f"Problem({self.name or '?'}, dim={self.dim})"
