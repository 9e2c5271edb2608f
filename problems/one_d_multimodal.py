"""Multimodal 1-D losses with verified global minima; minima checked in tests/test_problems_reference.py.

The constants were re-derived numerically by the reference (dense grid plus local polish);
the domains are the original papers' (a popular mirror's wider domains make these minima
non-global). 1-D Rastrigin and Ackley live with their n-D versions.
"""

from __future__ import annotations

from optbench import register_problem

from ._common import problem_1d

_TAGS = ("non-convex", "smooth", "multimodal")


@register_problem("tilted-double-well", tags=_TAGS)
def tilted_double_well():
    """(x² − 1)² + 0.3x on [−2, 2]: a global well at −1.0356, a local one at 0.9601 behind a hump
    at 0.0754.
    """
    return problem_1d(
        lambda x: (x**2 - 1) ** 2 + 0.3 * x,
        lambda x: 4 * x * (x**2 - 1) + 0.3,
        (-2.0, 2.0), [-1.035578714088854], -0.305428483743916,
        d2f=lambda x: 12 * x**2 - 4, tags=_TAGS,
    )


@register_problem("gramacy-lee", tags=_TAGS)
def gramacy_lee():
    """Gramacy & Lee (2012): sin(10πx)/(2x) + (x − 1)⁴ on [0.5, 2.5], 9 interior local minima,
    f''(x*) ≈ 900.
    """
    import numpy as np

    k = 10 * np.pi

    def f(x):
        return np.sin(k * x) / (2 * x) + (x - 1) ** 4

    def df(x):
        return (k * x * np.cos(k * x) - np.sin(k * x)) / (2 * x**2) + 4 * (x - 1) ** 3

    def d2f(x):
        s, c = np.sin(k * x), np.cos(k * x)
        return -(k**2) * s / (2 * x) - (k * x * c - s) / x**3 + 12 * (x - 1) ** 2

    return problem_1d(f, df, (0.5, 2.5), [0.548563444527605], -0.869011134989500, d2f=d2f,
                      tags=_TAGS)


@register_problem("forrester", tags=_TAGS)
def forrester():
    """Forrester et al. (2008): (6x − 2)²·sin(12x − 4) on [0, 1], a local minimum at 0.1426 and the
    global one at 0.7572.
    """
    import numpy as np

    def f(x):
        return (6 * x - 2) ** 2 * np.sin(12 * x - 4)

    def df(x):
        u = 6 * x - 2
        return 12 * u * np.sin(2 * u) + 12 * u**2 * np.cos(2 * u)

    def d2f(x):
        u = 6 * x - 2
        s, c = np.sin(2 * u), np.cos(2 * u)
        return 36 * (2 * s + 8 * u * c - 4 * u**2 * s)

    return problem_1d(f, df, (0.0, 1.0), [0.757248757841856], -6.02074005576708, d2f=d2f,
                      tags=_TAGS)
