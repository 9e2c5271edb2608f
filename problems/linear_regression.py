"""The lesson's problem: fit a line ŷ = w·x + b by minimizing the mean squared error.

The loss is a quadratic in θ = (w, b): with the design X̃ = [x, 1],
MSE(θ) = ‖X̃θ − y‖²/n, gradient (2/n)X̃ᵀ(X̃θ − y), constant Hessian H = (2/n)X̃ᵀX̃, so
L and mu are the extreme eigenvalues of H and θ* is the least-squares solution
(``numpy.linalg.lstsq``; the normal equations would square the condition number).
"""

from __future__ import annotations

from optbench import Problem, register_problem


def make_least_squares(A, y, **kwargs) -> Problem:
    """The MSE problem of a design matrix ``A`` (n, d) — bias column included — and targets y."""
    import numpy as np

    n, d = A.shape
    theta, *_ = np.linalg.lstsq(A, y, rcond=None)
    f_star = float(np.mean((A @ theta - y) ** 2))
    H = 2.0 / n * (A.T @ A)
    eig = np.linalg.eigvalsh(H)
    radius = max(10.0, 2.0 * float(np.max(np.abs(theta))))

    def value_and_grad(X):
        R = X @ A.T - y  # (B, n) residuals
        return np.mean(R**2, axis=1), (2.0 / n) * (R @ A)

    return Problem(
        dim=d,
        f=lambda X: np.mean((X @ A.T - y) ** 2, axis=1),
        grad=lambda X: (2.0 / n) * ((X @ A.T - y) @ A),
        value_and_grad=value_and_grad,
        bounds=(theta - radius, theta + radius),
        x_star=[theta],
        f_star=f_star,
        L=float(eig[-1]),
        mu=float(eig[0]),
        hessian=H,
        **kwargs,
    )


@register_problem("linear-regression", tags=("convex", "quadratic", "smooth", "unimodal"))
def linear_regression(slope: float = 3.0, intercept: float = 2.0, noise: float = 1.0, n: int = 100,
                      x_low: float = 0.0, x_high: float = 2.0, data_seed: int = 0,
                      standardize: bool = False) -> Problem:
    """Fit y = w·x + b to n points of y = slope·x + intercept + N(0, noise²), in θ = (w, b)."""
    import numpy as np

    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if n < 2:
        raise ValueError(f"n must be >= 2 (two parameters need two points), got {n}")
    if not x_high > x_low:
        raise ValueError(f"x_high must be > x_low, got x_low={x_low}, x_high={x_high}")
    rng = np.random.default_rng(data_seed)
    x = rng.uniform(x_low, x_high, n)
    y = slope * x + intercept + noise * rng.standard_normal(n)
    if standardize:
        x = (x - x.mean()) / x.std()
    A = np.column_stack([x, np.ones(n)])
    return make_least_squares(A, y, tags=("convex", "quadratic", "smooth", "unimodal"),
                              description="the lesson's line fit in (w, b)"
                              + (" on standardized x" if standardize else ""))
