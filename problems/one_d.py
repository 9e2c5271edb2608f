"""1-D losses that break one assumption of the quadratic at a time.

Flat bottom (quartic), a kink (absolute value), bounded slopes (Huber, log-cosh), curvature
that grows on one side (asymmetric valley) and a vanishing gradient far away (plateau with a
narrow well). Each is unimodal with its minimum known exactly.
"""

from __future__ import annotations

from optbench import check, register_problem

from ._common import magnitude, problem_1d, scale


@register_problem("quartic", tags=("convex", "smooth", "unimodal"))
def quartic():
    """x⁴ on [−2, 2]: f''(0) = 0, so GD is sublinear; a fixed lr diverges from |x0| > 1/√(2·lr)."""
    return problem_1d(lambda x: x**4, lambda x: 4 * x**3, (-2.0, 2.0), [0.0], 0.0,
                      d2f=lambda x: 12 * x**2, tags=("convex", "smooth", "unimodal"), mu=0.0)


@register_problem("absolute-value", tags=("convex", "non-smooth", "unimodal"))
def absolute_value():
    """|x| on [−2, 2]: the subgradient is ±1 at every x ≠ 0, so a fixed lr ends in a 2-cycle; it
    needs lr → 0.
    """
    import numpy as np

    return problem_1d(np.abs, np.sign, (-2.0, 2.0), [0.0], 0.0,
                      tags=("convex", "non-smooth", "unimodal"))


@register_problem("huber", tags=("convex", "smooth", "unimodal"))
def huber(delta: float = 1.0):
    """Huber loss: x²/2 for |x| ≤ delta, linear beyond; C¹ only, L = 1, gradient bounded by delta.
    """
    import numpy as np

    scale("delta", delta)

    def f(x):
        a = np.abs(x)
        return np.where(a <= delta, 0.5 * x**2, delta * (a - 0.5 * delta))

    return problem_1d(f, lambda x: np.clip(x, -delta, delta), (-5.0, 5.0), [0.0], 0.0,
                      d2f=lambda x: (np.abs(x) <= delta).astype(float), L_global=True,
                      tags=("convex", "smooth", "unimodal"))


@register_problem("log-cosh", tags=("convex", "smooth", "unimodal"))
def log_cosh(c: float = 1.0):
    """log cosh(x − c) on [c − 11, c + 9]: L = 1 and |f'| < 1, so lr > 2 ends in a stable 2-cycle,
    not divergence.
    """
    import numpy as np

    magnitude("c", c, 1e15, "the domain [c - 11, c + 9] must be resolvable in double precision")

    def f(x):
        # log cosh u = |u| + log(1 + e^{-2|u|}) − log 2: no overflow of cosh for large |u|
        a = np.abs(x - c)
        return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)

    return problem_1d(f, lambda x: np.tanh(x - c), (c - 11.0, c + 9.0), [c], 0.0,
                      d2f=lambda x: 1.0 / np.cosh(x - c) ** 2, L_global=True,
                      tags=("convex", "smooth", "unimodal"))


@register_problem("asymmetric-valley", tags=("convex", "smooth", "unimodal"))
def asymmetric_valley(a: float = 2.0):
    """e^{ax} − ax − 1 on [−4, 2]·(2/a): curvature a² at x* = 0 but 218 at x = 2 — a cliff on the
    right, a ramp on the left.
    """
    import numpy as np

    # the domain is [−8/a, 4/a] and the curvature a²: both ends of the scale overflow
    scale("a", a, 1 / 1e100, why="the domain [-8/a, 4/a] and the curvature a^2 must be finite")
    return problem_1d(lambda x: np.expm1(a * x) - a * x, lambda x: a * np.expm1(a * x),
                      (-8.0 / a, 4.0 / a), [0.0], 0.0, d2f=lambda x: a * a * np.exp(a * x),
                      tags=("convex", "smooth", "unimodal"))


@register_problem("plateau-well", tags=("non-convex", "smooth", "unimodal"))
def plateau_well(sigma: float = 0.25):
    """1 − exp(−x²/(2σ²)) on [−5, 5]: a narrow well (f''(0) = 1/σ²) in a plateau where |f'| <
    0.0054 beyond |x| = 1.
    """
    import numpy as np

    check("sigma", sigma, 0 < sigma <= 2.5, "in (0, 2.5] (the well must fit in the domain [-5, 5])")
    scale("sigma", sigma, 1e-50, 2.5, "f''(0) = 1/sigma^2 and its derivative must be finite")
    s2 = sigma * sigma

    def df(x):
        return x / s2 * np.exp(-(x**2) / (2 * s2))

    return problem_1d(lambda x: -np.expm1(-(x**2) / (2 * s2)), df, (-5.0, 5.0), [0.0], 0.0,
                      d2f=lambda x: (1 / s2 - x**2 / s2**2) * np.exp(-(x**2) / (2 * s2)),
                      tags=("non-convex", "smooth", "unimodal"))
