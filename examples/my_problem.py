"""A custom problem plug-in: a tilted bowl ½·a·x₁² + ½·b·x₂² + tilt·x₁ with its known optimum.

optbench run --plugin examples/my_problem.py -p "tilted-bowl[a=10]" -o "gd[lr=1.5/L]" -o scipy-bfgs
"""

from __future__ import annotations

from optbench import Problem, register_problem


@register_problem("tilted-bowl", tags=("convex", "quadratic", "smooth", "unimodal"))
def tilted_bowl(a: float = 4.0, b: float = 1.0, tilt: float = 1.0) -> Problem:
    """An axis-aligned 2-D quadratic bowl, tilted along x₁: minimum at (−tilt/a, 0)."""
    import numpy as np

    if not (a > 0 and b > 0):
        raise ValueError(f"a and b must be > 0, got a={a}, b={b}")
    H = np.diag([a, b])
    x_star = np.array([-tilt / a, 0.0])
    return Problem(
        dim=2,
        f=lambda X: 0.5 * a * X[:, 0] ** 2 + 0.5 * b * X[:, 1] ** 2 + tilt * X[:, 0],
        grad=lambda X: X * np.array([a, b]) + np.array([tilt, 0.0]),
        bounds=([-5.0, -5.0], [5.0, 5.0]),
        x_star=[x_star],
        f_star=-0.5 * tilt**2 / a,
        L=max(a, b),
        mu=min(a, b),
        hessian=H,
        tags=("convex", "quadratic", "smooth", "unimodal"),
    )
