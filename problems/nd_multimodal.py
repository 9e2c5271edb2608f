"""Multimodal test functions in any dimension, and their 1-D cuts.

Rastrigin (a bowl under an egg-crate), Ackley (a kinked funnel under ripples) and
Styblinski–Tang (2^d local minima; the true f* is −39.16616570377141·d, not the −39.16599·d
that circulates). Local optimizers find their global minima rarely.
"""

from __future__ import annotations

from optbench import Problem, register_problem

from ._common import whole

_SMOOTH = ("non-convex", "smooth", "multimodal")
_KINKED = ("non-convex", "non-smooth", "multimodal")
STYBLINSKI_TANG_X = -2.903534027771177
STYBLINSKI_TANG_F_PER_DIM = -39.16616570377141


def _rastrigin(d: int) -> Problem:
    import numpy as np

    two_pi = 2 * np.pi
    L = 2 + 40 * np.pi**2  # f'' per axis at 0, also its largest value anywhere

    def hess(X):
        H = np.zeros((X.shape[0], d, d))
        H[:, np.arange(d), np.arange(d)] = 2 + 40 * np.pi**2 * np.cos(two_pi * X)
        return H

    return Problem(
        dim=d,
        f=lambda X: 10.0 * d + np.sum(X**2 - 10.0 * np.cos(two_pi * X), axis=1),
        grad=lambda X: 2 * X + 20 * np.pi * np.sin(two_pi * X),
        hess=hess, bounds=(np.full(d, -5.12), np.full(d, 5.12)), x_star=np.zeros((1, d)),
        f_star=0.0, L=float(L), mu=float(L), L_global=True, tags=_SMOOTH,
    )


def _ackley(d: int) -> Problem:
    import numpy as np

    a, b, c = 20.0, 0.2, 2 * np.pi

    def parts(X):
        r = np.sqrt(np.sum(X**2, axis=1) / d)
        s = np.sum(np.cos(c * X), axis=1) / d
        return r, s

    def f(X):
        # a(1 − e^{−br}) + e(1 − e^{s−1}) with expm1: exactly 0 at x* and never below it
        r, s = parts(X)
        return -a * np.expm1(-b * r) - np.e * np.expm1(s - 1)

    def grad(X):
        r, s = parts(X)
        radial = np.divide(a * b * np.exp(-b * r), d * r, out=np.zeros_like(r), where=r > 0)
        return radial[:, None] * X + (c / d) * np.sin(c * X) * np.exp(s)[:, None]

    return Problem(dim=d, f=f, grad=grad, bounds=(np.full(d, -32.768), np.full(d, 32.768)),
                   x_star=np.zeros((1, d)), f_star=0.0, tags=_KINKED,
                   draw={"window": [(-5.0, 5.0)] * d} if d <= 2 else {})


def _styblinski_tang(d: int) -> Problem:
    import numpy as np

    def hess(X):
        H = np.zeros((X.shape[0], d, d))
        H[:, np.arange(d), np.arange(d)] = 6 * X**2 - 16
        return H

    x_star = np.full((1, d), STYBLINSKI_TANG_X)
    curv = float(6 * STYBLINSKI_TANG_X**2 - 16)
    return Problem(
        dim=d,
        f=lambda X: 0.5 * np.sum(X**4 - 16 * X**2 + 5 * X, axis=1),
        grad=lambda X: 0.5 * (4 * X**3 - 32 * X + 5),
        hess=hess, bounds=(np.full(d, -5.0), np.full(d, 5.0)), x_star=x_star,
        f_star=STYBLINSKI_TANG_F_PER_DIM * d, L=curv, mu=curv, tags=_SMOOTH,
    )


@register_problem("rastrigin", tags=_SMOOTH, memory=lambda d: 64 * d)
def rastrigin(d: int = 2) -> Problem:
    """Rastrigin 10d + Σ(x_i² − 10cos 2πx_i) on [−5.12, 5.12]^d: 11^d local minima on a grid,
    global at 0.
    """
    return _rastrigin(whole("d", d, 1))


@register_problem("rastrigin-1d", tags=_SMOOTH)
def rastrigin_1d() -> Problem:
    """1-D Rastrigin 10 + x² − 10cos 2πx on [−5.12, 5.12]: 11 local minima, f''(0) = 397 (stable lr
    < 0.005).
    """
    return _rastrigin(1)


@register_problem("ackley", tags=_KINKED, memory=lambda d: 64 * d)
def ackley(d: int = 2) -> Problem:
    """Ackley on [−32.768, 32.768]^d (a=20, b=0.2, c=2π): ripples on a funnel with a kink at the
    minimum 0.
    """
    return _ackley(whole("d", d, 1))


@register_problem("ackley-1d", tags=_KINKED)
def ackley_1d() -> Problem:
    """1-D Ackley on [−32.768, 32.768]: 65 local minima and a kink (slopes ±4) at the global
    minimum 0.
    """
    return _ackley(1)


@register_problem("styblinski-tang", tags=_SMOOTH, memory=lambda d: 64 * d)
def styblinski_tang(d: int = 2) -> Problem:
    """Styblinski–Tang ½Σ(x_i⁴ − 16x_i² + 5x_i) on [−5, 5]^d: 2^d local minima, f* =
    −39.16616570377141·d.
    """
    return _styblinski_tang(whole("d", d, 1))
