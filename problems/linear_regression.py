"""The lesson's problem: fit ŷ = Xw + b by minimizing the mean squared error, in θ = (w, b).

The loss is a quadratic in θ: with the design X̃ = [X, 1], MSE(θ) = ‖X̃θ − y‖²/n, gradient
(2/n)X̃ᵀ(X̃θ − y), constant Hessian H = (2/n)X̃ᵀX̃ (bias column included), so L and mu are
the extreme eigenvalues of H and θ* is the least-squares solution (``numpy.linalg.lstsq``;
the normal equations would square the condition number). f* is the residual MSE, not 0
with noisy data.

``batch_size`` turns the gradient into a minibatch one: each run draws ``batch_size``
examples without replacement from its own generator at every gradient, an unbiased
estimate of the full gradient whose noise keeps a constant learning rate from settling.
"""

from __future__ import annotations

from typing import cast

from optbench import Problem, check, register_problem

from ._common import curvature, magnitude, scale, whole

_TAGS = ("convex", "quadratic", "smooth", "unimodal")


def make_least_squares(
    A, y, batch_size: int | None = None, axes: list[str] | None = None, **kwargs
) -> Problem:
    """The MSE problem of a design ``A`` (n, d) — bias column included — and targets ``y``;
    ``axes`` names the coordinates in the report's contour plot (d = 2).

    Raises:
        ValueError: ``batch_size`` outside ``[1, n]``, or a design without full column rank
            (then the minimizers are a whole line or plane, not a point).
    """
    import numpy as np

    A = np.ascontiguousarray(A, dtype=float)
    y = np.ascontiguousarray(y, dtype=float)
    n, d = A.shape
    if batch_size is not None:
        batch_size = whole("batch_size", batch_size, 1, n)
    theta, _, rank, _ = np.linalg.lstsq(A, y, rcond=None)
    if rank < d:
        raise ValueError(f"the features must be linearly independent and non-constant (the design "
                         f"[X, 1] needs rank {d}), got rank {rank}: the minimizer is not unique")
    f_star = float(np.mean((A @ theta - y) ** 2))
    # MSE(θ) = f* + ‖A(θ − θ*)‖²/n = f* + ‖R(θ − θ*)‖²/n with A = QR, because the residual at
    # θ* is orthogonal to A's columns. Evaluated this way f costs O(d²) instead of O(n·d)
    # and never rounds below f* (a sum of squares added to f*), so gaps are never negative.
    # numpy's stubs type every mode's result as QRResult; mode="r" returns R alone
    R = cast("np.ndarray", np.linalg.qr(A, mode="r"))
    H = 2.0 / n * (R.T @ R)
    H = 0.5 * (H + H.T)
    L, mu = curvature(H)
    radius = max(10.0, 2.0 * float(np.max(np.abs(theta))))

    def f(X):
        return f_star + np.sum(((X - theta) @ R.T) ** 2, axis=1) / n

    def value_and_grad(X):
        D = X - theta
        return f_star + np.sum((D @ R.T) ** 2, axis=1) / n, D @ H

    stochastic_grad = None
    tags = list(kwargs.pop("tags", _TAGS))
    if batch_size is not None:
        k = batch_size

        def stochastic_grad(X, rng):
            # rng is the RunRNG of these rows: each run draws its own minibatch
            idx = np.stack([g.choice(n, size=k, replace=False) for g in rng.generators])
            Ai = A[idx]  # (B, k, d)
            r = np.einsum("bkd,bd->bk", Ai, X) - y[idx]
            return (2.0 / k) * np.einsum("bkd,bk->bd", Ai, r)

        tags.append("stochastic")
    draw = {"log": True} if axes is None else {"log": True, "axes": list(axes)}
    return Problem(
        dim=d,
        f=f,
        grad=lambda X: value_and_grad(X)[1],
        value_and_grad=value_and_grad,
        stochastic_grad=stochastic_grad,
        bounds=(theta - radius, theta + radius),
        x_star=[theta],
        f_star=f_star,
        L=L,
        mu=mu,
        hessian=H,
        examples_per_grad=batch_size if batch_size is not None else n,
        tags=tags,
        draw=draw if d <= 2 else {},
        **kwargs,
    )


def standardized(X):
    """Columns scaled to mean 0 and population std 1 (X̃ᵀX̃/n = I for one feature)."""
    return (X - X.mean(axis=0)) / X.std(axis=0)


# memory: the data, the design [x, 1] and the copies lstsq and QR make: about ten floats a row
@register_problem("linear-regression", tags=_TAGS, memory=lambda n, **_: 80 * n)
def linear_regression(slope: float = 3.0, intercept: float = 2.0, noise: float = 1.0, n: int = 100,
                      x_low: float = 0.0, x_high: float = 2.0, data_seed: int = 0,
                      standardize: bool = False, batch_size: int | None = None) -> Problem:
    """The lesson's line fit in (w, b): n points of y = slope·x + intercept + N(0, noise²), x ~
    U(x_low, x_high).
    """
    import numpy as np

    check("noise", noise, noise >= 0, ">= 0")
    scale("noise", noise, zero=True)
    for name, v in (("slope", slope), ("intercept", intercept), ("x_low", x_low),
                    ("x_high", x_high)):
        magnitude(name, v)  # the data and their squares (the loss) stay finite
    n = whole("n", n, 2)
    check("x_high", x_high, x_high > x_low, f"> x_low = {x_low}")
    rng = np.random.default_rng(whole("data_seed", data_seed, 0))
    x = rng.uniform(x_low, x_high, n)
    y = slope * x + intercept + noise * rng.standard_normal(n)
    if standardize:
        x = (x - x.mean()) / x.std()
    A = np.column_stack([x, np.ones(n)])
    what = "the lesson's line fit in (w, b)" + (" on standardized x" if standardize else "")
    if batch_size is not None:
        what += f", minibatch gradients of {batch_size}"
    return make_least_squares(A, y, batch_size, axes=["w", "b"], description=what)


@register_problem("linear-regression-nd", tags=_TAGS, memory=lambda n, p, **_: 48 * n * (p + 1))
def linear_regression_nd(p: int = 3, weights: list[float] | None = None, intercept: float = 2.0,
                         noise: float = 1.0, n: int = 200, x_low: float = 0.0, x_high: float = 2.0,
                         data_seed: int = 0, standardize: bool = False,
                         batch_size: int | None = None) -> Problem:
    """Multi-feature least squares in (w₁..w_p, b): y = X·weights + intercept + N(0, noise²),
    weights ~ U(−3, 3) from data_seed unless given.
    """
    import numpy as np

    p = whole("p", p, 1)
    check("noise", noise, noise >= 0, ">= 0")
    scale("noise", noise, zero=True)
    for name, v in (("intercept", intercept), ("x_low", x_low), ("x_high", x_high)):
        magnitude(name, v)  # the data and their squares (the loss) stay finite
    n = whole("n", n, p + 1)
    check("x_high", x_high, x_high > x_low, f"> x_low = {x_low}")
    rng = np.random.default_rng(whole("data_seed", data_seed, 0))
    if weights is None:
        w = rng.uniform(-3.0, 3.0, p)
    else:
        w = np.asarray(weights, dtype=float).reshape(-1)
        check("weights", weights, w.shape == (p,) and bool(np.all(np.abs(w) <= 1e100)),
              f"a list of p = {p} numbers in [-1e100, 1e100] (larger ones overflow the loss)")
    X = rng.uniform(x_low, x_high, (n, p))
    y = X @ w + intercept + noise * rng.standard_normal(n)
    if standardize:
        X = standardized(X)
    A = np.column_stack([X, np.ones(n)])
    what = f"least squares with {p} features in (w, b)" + (", standardized" if standardize else "")
    return make_least_squares(A, y, batch_size, description=what)
