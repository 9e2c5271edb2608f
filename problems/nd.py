"""Classic smooth n-D test functions; constants checked in tests/test_problems_reference.py.

Rosenbrock's curved valley, Beale's plateaus, Booth (a plain quadratic), Himmelblau's four
global minima, and a quadratic whose condition number and rotation are parameters. Each
carries its analytic gradient and Hessian; ``L``/``mu`` are the Hessian's extreme
eigenvalues at the minimizers (exact everywhere for the quadratics).
"""

from __future__ import annotations

from optbench import Problem, check, register_problem

from ._common import curvature, scale, whole


def _sum_of_squares_hess(J, r, R2):
    """``2 Σ_k (J_k J_kᵀ + r_k ∇²r_k)`` for residuals r (B, K), Jacobians J (B, K, d), ∇²r (B, K,
    d, d).
    """
    import numpy as np

    return 2 * (np.einsum("bki,bkj->bij", J, J) + np.einsum("bk,bkij->bij", r, R2))


# memory: the d x d Hessian at x* (for L and mu) and its diagonal work array
@register_problem("rosenbrock", tags=("non-convex", "smooth", "unimodal"),
                  memory=lambda d: 16 * d * d)
def rosenbrock(d: int = 2) -> Problem:
    """Rosenbrock's banana valley Σ 100(x_{i+1} − x_i²)² + (1 − x_i)² on [−2.048, 2.048]^d;
    κ(∇²f(x*)) = 2508 for d = 2.
    """
    import numpy as np

    d = whole("d", d, 2)

    def f(X):
        return np.sum(100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1.0 - X[:, :-1]) ** 2, axis=1)

    def grad(X):
        a, b = X[:, :-1], X[:, 1:]
        t = b - a**2
        g = np.zeros_like(X)
        g[:, :-1] = -400.0 * a * t - 2.0 * (1.0 - a)
        g[:, 1:] += 200.0 * t
        return g

    def hess(X):
        B = X.shape[0]
        H = np.zeros((B, d, d))
        i = np.arange(d - 1)
        diag = np.zeros((B, d))
        diag[:, :-1] = 1200.0 * X[:, :-1] ** 2 - 400.0 * X[:, 1:] + 2.0
        diag[:, 1:] += 200.0
        H[:, np.arange(d), np.arange(d)] = diag
        H[:, i, i + 1] = H[:, i + 1, i] = -400.0 * X[:, :-1]
        return H

    ones = np.ones((1, d))
    L, mu = curvature(hess(ones)[0])
    tags = ("non-convex", "smooth", "unimodal" if d < 4 else "multimodal")
    return Problem(dim=d, f=f, grad=grad, hess=hess, bounds=(np.full(d, -2.048), np.full(d, 2.048)),
                   x_star=ones, f_star=0.0, L=L, mu=mu, tags=tags,
                   draw={"window": [(-2.0, 2.0), (-1.0, 3.0)], "log": True} if d == 2 else {})


@register_problem("beale", tags=("non-convex", "smooth", "unimodal"))
def beale() -> Problem:
    """Beale on [−4.5, 4.5]²: flat plateaus and steep walls around the minimum (3, 0.5); κ(∇²f(x*))
    = 162.
    """
    import numpy as np

    c = np.array([1.5, 2.25, 2.625])
    k = np.arange(1, 4)

    def residuals(X):
        x, y = X[:, :1], X[:, 1:]
        return c - x + x * y**k, x, y

    def f(X):
        return np.sum(residuals(X)[0] ** 2, axis=1)

    def jac(x, y):
        return np.stack([y**k - 1, k * x * y ** (k - 1)], axis=2)  # (B, 3, 2)

    def grad(X):
        r, x, y = residuals(X)
        return 2 * np.einsum("bk,bki->bi", r, jac(x, y))

    def hess(X):
        r, x, y = residuals(X)
        R2 = np.zeros((X.shape[0], 3, 2, 2))
        R2[:, :, 0, 1] = R2[:, :, 1, 0] = k * y ** (k - 1)
        R2[:, :, 1, 1] = k * (k - 1) * x * y ** np.maximum(k - 2, 0)
        return _sum_of_squares_hess(jac(x, y), r, R2)

    x_star = np.array([[3.0, 0.5]])
    L, mu = curvature(hess(x_star)[0])
    return Problem(dim=2, f=f, grad=grad, hess=hess, bounds=([-4.5, -4.5], [4.5, 4.5]),
                   x_star=x_star, f_star=0.0, L=L, mu=mu,
                   tags=("non-convex", "smooth", "unimodal"), draw={"log": True})


@register_problem("booth", tags=("convex", "quadratic", "smooth", "unimodal"))
def booth() -> Problem:
    """Booth (x₁ + 2x₂ − 7)² + (2x₁ + x₂ − 5)² on [−10, 10]²: a quadratic with Hessian eigenvalues
    2 and 18 (κ = 9).
    """
    import numpy as np

    A = np.array([[1.0, 2.0], [2.0, 1.0]])
    b = np.array([7.0, 5.0])

    def value_and_grad(X):
        r = X @ A.T - b
        return np.sum(r**2, axis=1), 2 * r @ A

    return Problem(dim=2, f=lambda X: value_and_grad(X)[0], grad=lambda X: value_and_grad(X)[1],
                   value_and_grad=value_and_grad, bounds=([-10.0, -10.0], [10.0, 10.0]),
                   x_star=[[1.0, 3.0]], f_star=0.0, L=18.0, mu=2.0, hessian=2 * A.T @ A,
                   tags=("convex", "quadratic", "smooth", "unimodal"), draw={"log": True})


HIMMELBLAU_MINIMA = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.283185991286170),
    (3.584428340330492, -1.848126526964404),
)


@register_problem("himmelblau", tags=("non-convex", "smooth", "multimodal"))
def himmelblau() -> Problem:
    """Himmelblau (x₁² + x₂ − 11)² + (x₁ + x₂² − 7)² on [−5, 5]²: four global minima with f = 0."""
    import numpy as np

    def parts(X):
        x, y = X[:, 0], X[:, 1]
        return x, y, x**2 + y - 11, x + y**2 - 7

    def f(X):
        _, _, r1, r2 = parts(X)
        return r1**2 + r2**2

    def grad(X):
        x, y, r1, r2 = parts(X)
        return np.column_stack([4 * x * r1 + 2 * r2, 2 * r1 + 4 * y * r2])

    def hess(X):
        x, y, r1, r2 = parts(X)
        one = np.ones_like(x)
        J = np.stack([np.stack([2 * x, one], 1), np.stack([one, 2 * y], 1)], axis=1)
        R2 = np.zeros((X.shape[0], 2, 2, 2))
        R2[:, 0, 0, 0] = R2[:, 1, 1, 1] = 2.0
        return _sum_of_squares_hess(J, np.column_stack([r1, r2]), R2)

    x_star = np.array(HIMMELBLAU_MINIMA)
    eig = np.linalg.eigvalsh(hess(x_star))
    return Problem(dim=2, f=f, grad=grad, hess=hess, bounds=([-5.0, -5.0], [5.0, 5.0]),
                   x_star=x_star, f_star=0.0, L=float(eig.max()), mu=float(eig.min()),
                   tags=("non-convex", "smooth", "multimodal"), draw={"log": True})


# memory: the d x d Hessian and, rotated, the Gaussian matrix and its QR factors
@register_problem("ill-conditioned-quadratic",
                  tags=("convex", "ill-conditioned", "quadratic", "smooth", "unimodal"),
                  memory=lambda d, **_: 40 * d * d)
def ill_conditioned_quadratic(d: int = 2, kappa: float = 1000.0, rotate: bool = False,
                              rotation_seed: int = 0) -> Problem:
    """½ Σ λ_i (x_i − 1)², λ_i = κ^((i−1)/(d−1)), on [−5, 5]^d; rotate=true turns the axes by a
    random orthogonal Q.
    """
    import numpy as np

    d = whole("d", d, 2)
    scale("kappa", kappa, 1.0, why="a condition number; larger ones overflow f or its gradient")
    lam = kappa ** (np.arange(d) / (d - 1))
    if rotate:
        # Haar-distributed Q: QR of a Gaussian matrix with the signs of R's diagonal fixed
        Z = np.random.default_rng(whole("rotation_seed", rotation_seed, 0)).standard_normal((d, d))
        Q, R = np.linalg.qr(Z)
        Q = Q * np.sign(np.diag(R))
        A = (Q * lam) @ Q.T
        A = 0.5 * (A + A.T)
    else:
        A = np.diag(lam)
    c = np.ones(d)

    def value_and_grad(X):
        G = (X - c) @ A
        return 0.5 * np.sum(G * (X - c), axis=1), G

    return Problem(dim=d, f=lambda X: value_and_grad(X)[0], grad=lambda X: (X - c) @ A,
                   value_and_grad=value_and_grad, bounds=(np.full(d, -5.0), np.full(d, 5.0)),
                   x_star=[c], f_star=0.0, L=float(kappa), mu=1.0, hessian=A,
                   tags=("convex", "quadratic", "smooth", "unimodal"),
                   draw={"log": True} if d == 2 else {})
