"""1-D quadratics: the lesson's bowl, a stiff one, and one seen through a noisy gradient.

On ``½·h·(x − c)²`` gradient descent multiplies the error by ``1 − η·h`` each step: monotone
below η = 1/h, oscillating up to 2/h, divergent beyond
(``docs/metrics.md#the-theory-of-the-quadratic``).
"""

from __future__ import annotations

from optbench import Problem, check, register_problem

from ._common import magnitude, scale

_TAGS = ("convex", "quadratic", "smooth", "unimodal")


def _bowl(h: float, c: float, bounds: tuple[float, float], **kwargs) -> Problem:
    scale("h", h)
    # the domain c ± 10 must be resolvable: the spacing of floats near c well below 10
    magnitude("c", c, 1e15, "the domain c ± 10 must be resolvable in double precision")
    return Problem(
        dim=1,
        f=lambda X: 0.5 * h * (X[:, 0] - c) ** 2,
        grad=lambda X: h * (X - c),
        bounds=([bounds[0]], [bounds[1]]),
        x_star=[[c]],
        f_star=0.0,
        L=h,
        mu=h,
        hessian=[[h]],
        **kwargs,
    )


@register_problem("quadratic-1d", tags=_TAGS)
def quadratic_1d(h: float = 2.0, c: float = 1.5) -> Problem:
    """½·h·(x − c)²: gradient descent is monotone below lr = 1/h, oscillates up to 2/h, then
    diverges.
    """
    return _bowl(h, c, (c - 10.0, c + 10.0), tags=_TAGS)


@register_problem("ill-scaled-quadratic", tags=_TAGS)
def ill_scaled_quadratic(h: float = 100.0, c: float = 1.5) -> Problem:
    """½·h·(x − c)² with h = 100: the stable learning rate shrinks to below 2/h = 0.02."""
    return _bowl(h, c, (c - 10.0, c + 10.0), tags=_TAGS)


@register_problem("noisy-quadratic", tags=(*_TAGS, "stochastic"))
def noisy_quadratic(h: float = 2.0, noise: float = 1.0) -> Problem:
    """½·h·x² seen through g = h·x + noise·ξ: a constant rate stalls at E gap =
    η·noise²/(2(2−η·h)).
    """
    check("noise", noise, noise >= 0, ">= 0")
    scale("noise", noise, zero=True)

    def stochastic_grad(X, rng):
        # rng is the RunRNG of these rows: one N(0, 1) draw per run from its own generator
        return h * X + noise * rng.normal((X.shape[1],)).reshape(X.shape)

    return _bowl(h, 0.0, (-5.0, 5.0), stochastic_grad=stochastic_grad,
                 tags=(*_TAGS, "stochastic"), examples_per_grad=1)
