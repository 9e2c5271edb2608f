"""Named suites: the default (what ``optbench run`` with no arguments runs) and ``ml``.

The lesson's problems (a 1-D quadratic; the line fit in (w, b) on raw and on standardized
features) and a few harder ones (log-cosh, a tilted double well, Rosenbrock's valley),
against random search, gradient descent with a constant and a decaying rate, heavy-ball
momentum, Adam and a scipy baseline, over ten seeds. Learning rates are given in units of
1/L, so one sweep shows the monotone (0.5/L), oscillating (1.5/L) and divergent (2.5/L)
regimes on every problem whose curvature is known.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict


class Suite(TypedDict):
    """A named suite: the spec keys :func:`optbench.run` reads from it."""

    problems: list[str]
    optimizers: list[str]
    seeds: int
    budget: int


DEFAULT_SUITE: Suite = {
    "problems": [
        "quadratic-1d",
        "linear-regression",
        "linear-regression[standardize=true]",
        "log-cosh",
        "tilted-double-well",
        "rosenbrock",
    ],
    "optimizers": [
        "random-search",
        "gd[lr=[0.5/L,1.5/L,2.5/L]]",
        "gd[lr=1.5/L,schedule=cosine(T=400)]",
        "momentum[lr=0.5/L,momentum=0.5]",
        "adam[lr=0.05]",
        "scipy-bfgs",
    ],
    "seeds": 10,
    "budget": 400,
}


def ml_suite() -> Suite:
    """``optbench run --suite ml``: the small-ML tier (logistic and softmax regression, a
    one-hidden-layer MLP; minibatch gradients, test loss recorded) against the usual
    gradient baselines, and ``torch.optim.AdamW`` through the torch adapter where torch is
    installed. Rates are plain numbers: the MLP has no curvature constant L."""
    import importlib.util

    optimizers = [
        "gd[lr=[0.1,0.5]]",
        "momentum[lr=0.05,momentum=0.9]",
        "adam[lr=[0.001,0.01]]",
        "adamw[lr=0.01,weight_decay=0.01]",
    ]
    if importlib.util.find_spec("torch") is not None:
        optimizers.append("torch[cls=torch.optim.AdamW,lr=0.01,weight_decay=0.01]")
    return {
        "problems": ["logistic-regression", "softmax-regression", "mlp"],
        "optimizers": optimizers,
        "seeds": 5,
        "budget": 500,
    }


SUITES: dict[str, Callable[[], Suite]] = {"default": DEFAULT_SUITE.copy, "ml": ml_suite}
