"""The lesson's 1-D quadratic: ½·h·(x − c)², the regimes of gradient descent in one line."""

from __future__ import annotations

from optbench import Problem, register_problem


@register_problem("quadratic-1d", tags=("convex", "quadratic", "smooth", "unimodal"))
def quadratic_1d(h: float = 2.0, c: float = 1.5) -> Problem:
    """½·h·(x − c)²: gradient descent is monotone below lr = 1/h, oscillates up to 2/h, then diverges."""
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h}")
    return Problem(
        dim=1,
        f=lambda X: 0.5 * h * (X[:, 0] - c) ** 2,
        grad=lambda X: h * (X - c),
        bounds=([c - 10.0], [c + 10.0]),
        x_star=[[c]],
        f_star=0.0,
        L=h,
        mu=h,
        hessian=[[h]],
        tags=("convex", "quadratic", "smooth", "unimodal"),
    )
