"""BBOB, COCO's 24 noiseless functions, evaluated by COCO's own library (``cocoex``).

``bbob[f=3,dim=5,instance=1]`` is function 3 (Rastrigin) of COCO's ``bbob`` suite in 5-D,
instance 1: every value is the one ``cocoex`` computes (its C code, through
``cocoex.BareProblem``, which evaluates exactly what ``cocoex.Suite("bbob", "", "")``'s
problem of the same function, dimension and instance does). ``f*`` and ``x*`` are cocoex's
own (``best_value()``, ``best_parameter()``); ``f(x*) = f*`` exactly, but on f20
(Schwefel), where it falls below f* by a rounding error (about 2e-15). On f5 (linear slope)
and f7 (step ellipsoid) the minimum is reached on a whole region, so no single x* is given
and the x-space metrics are left out there.

The functions give f alone: the gradient is taken by finite differences
(:mod:`optbench.finite_differences`; ``gradient=central`` by default, or ``forward``), and
every f evaluation it makes is charged to the run, so a gradient costs ``2·dim`` evaluations
(central) or ``dim + 1`` (forward). Start points are uniform in COCO's domain [−5, 5]^dim.
On f1 (the sphere ‖x − x*‖² + f*) the curvature is known, L = mu = 2, so learning rates such
as ``lr=0.5/L`` work there.

A cocoex problem is a C object: it is not pickled and not shared between processes. Each
process builds its own, from (function, dimension, instance), the first time it evaluates,
so the same spec gives the same values in the driver, a worker child or a Dask worker.
``optbench export --format coco`` writes runs on these problems as a genuine ``bbob``
experiment, which ``python -m cocopp`` post-processes as it does COCO's own data.
"""

from __future__ import annotations

import os
from typing import Any

from optbench import Problem, check, register_problem
from optbench.extras import MissingExtraError, require

from ._common import whole

SUITE = "bbob"
DIMENSIONS = (2, 3, 5, 10, 20, 40)  # the dimensions of COCO's bbob suite
BOUND = 5.0  # COCO's domain (its lower_bounds and upper_bounds): [-5, 5]^dim
WHAT = "bbob"

# (name, tags): COCO's five groups: separable (1-5), low or moderate conditioning (6-9),
# high conditioning and unimodal (10-14), multimodal with adequate (15-19) and with weak
# (20-24) global structure
FUNCTIONS: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("sphere", ("separable", "unimodal", "smooth", "convex", "quadratic")),
    2: ("separable ellipsoidal", ("separable", "unimodal", "smooth")),
    3: ("Rastrigin", ("separable", "multimodal")),
    4: ("Büche-Rastrigin", ("separable", "multimodal")),
    5: ("linear slope", ("separable", "unimodal")),
    6: ("attractive sector", ("moderate-conditioning", "unimodal")),
    7: ("step ellipsoidal", ("moderate-conditioning", "unimodal", "non-smooth")),
    8: ("Rosenbrock, original", ("moderate-conditioning", "smooth")),
    9: ("Rosenbrock, rotated", ("moderate-conditioning", "smooth")),
    10: ("ellipsoidal", ("ill-conditioned", "unimodal", "smooth")),
    11: ("discus", ("ill-conditioned", "unimodal", "smooth")),
    12: ("bent cigar", ("ill-conditioned", "unimodal", "smooth")),
    13: ("sharp ridge", ("ill-conditioned", "unimodal", "non-smooth")),
    14: ("different powers", ("ill-conditioned", "unimodal")),
    15: ("Rastrigin, rotated", ("multimodal",)),
    16: ("Weierstrass", ("multimodal", "non-smooth")),
    17: ("Schaffers F7", ("multimodal",)),
    18: ("Schaffers F7, moderately ill-conditioned", ("multimodal",)),
    19: ("composite Griewank-Rosenbrock F8F2", ("multimodal",)),
    20: ("Schwefel x·sin(x)", ("multimodal", "weak-structure")),
    21: ("Gallagher's Gaussian 101-me peaks", ("multimodal", "weak-structure")),
    22: ("Gallagher's Gaussian 21-hi peaks", ("multimodal", "weak-structure")),
    23: ("Katsuura", ("multimodal", "weak-structure", "non-smooth")),
    24: ("Lunacek bi-Rastrigin", ("multimodal", "weak-structure")),
}
ON_A_REGION = (5, 7)  # functions whose minimum is reached on a region, not at one x*


def _bare(function: int, dim: int, instance: int):
    cocoex = require("cocoex", "coco", WHAT)
    bare = getattr(cocoex, "BareProblem", None)
    if bare is None:
        raise MissingExtraError(
            f"{WHAT} needs coco-experiment >= 2.8 (cocoex.BareProblem); "
            "run: pip install 'optbench[coco]'"
        )
    return bare(SUITE, function, dim, instance)


class BBOBFunction:
    """``X (B, d) -> (B,)``: one bbob function instance, built by cocoex in each process on
    first use. It pickles as its (function, dimension, instance) alone; a process that
    receives it, or inherits it through a fork, builds its own cocoex object."""

    def __init__(self, function: int, dim: int, instance: int):
        self.key = (function, dim, instance)
        self._bare: Any = None
        self._pid: int | None = None

    def __call__(self, X):
        import numpy as np

        X = np.ascontiguousarray(X, dtype=float)
        if X.shape[0] == 0:
            return np.zeros(0)
        if self._bare is None or self._pid != os.getpid():
            self._bare, self._pid = _bare(*self.key), os.getpid()
        return np.asarray(self._bare(X), dtype=float).reshape(X.shape[0])

    def __reduce__(self):
        return BBOBFunction, self.key

    def __repr__(self) -> str:
        f, d, i = self.key
        return f"BBOBFunction(f={f}, dim={d}, instance={i})"


def optimum(function: int, dim: int, instance: int):
    """``(x*, f*)`` as cocoex gives them (``best_parameter()``, ``best_value()``), from a
    cocoex object of their own (asking for x* marks a cocoex problem as tainted)."""
    import numpy as np

    probe = _bare(function, dim, instance)
    return np.asarray(probe.best_parameter(), dtype=float), float(probe.best_value())


@register_problem("bbob", tags=("bbob", "black-box"))
def bbob(f: int = 1, dim: int = 2, instance: int = 1, gradient: str = "central") -> Problem:
    """COCO's BBOB function f (1-24) in dim = 2, 3, 5, 10, 20 or 40, one instance, evaluated by
    cocoex (pip install 'optbench[coco]'); gradients by finite differences, each evaluation
    charged.
    """
    import numpy as np

    function = whole("f", f, 1, 24)
    check("dim", dim, not isinstance(dim, bool) and dim in DIMENSIONS,
          f"one of the bbob suite's dimensions {list(DIMENSIONS)}")
    dim = int(dim)
    instance = whole("instance", instance, 1, 2**31 - 1)  # a C int in cocoex
    check("gradient", gradient, gradient in ("central", "forward"),
          "central or forward (the finite differences the gradient is taken by)")
    x_star, f_star = optimum(function, dim, instance)
    name, tags = FUNCTIONS[function]
    quadratic = function == 1  # the sphere ||x - x*||^2 + f*: Hessian 2I everywhere
    return Problem(
        dim=dim,
        f=BBOBFunction(function, dim, instance),
        finite_differences=gradient,
        bounds=(np.full(dim, -BOUND), np.full(dim, BOUND)),
        x_star=None if function in ON_A_REGION else x_star[None, :],
        f_star=f_star,
        L=2.0 if quadratic else None,
        mu=2.0 if quadratic else None,
        hessian=2.0 * np.eye(dim) if quadratic else None,
        tags=("bbob", "black-box", *tags),
        description=f"BBOB f{function} ({name}) in {dim}-D, instance {instance}, by cocoex; "
        f"gradient by {gradient} differences ({2 * dim if gradient == 'central' else dim + 1} "
        "evaluations)",
        coco={"suite": SUITE, "function": function, "dimension": dim, "instance": instance},
    )
