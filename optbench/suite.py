"""The default suite: what ``optbench run`` with no arguments runs.

The lesson's problems and a few harder ones, against random search, gradient descent with
a constant and a decaying rate, and a scipy baseline, over enough seeds for the statistics.
Learning rates are given in units of 1/L where L is known, so one sweep shows the monotone
(0.5/L), oscillating (1.5/L) and divergent (2.5/L) regimes on every quadratic.
"""

from __future__ import annotations

DEFAULT_SUITE = {
    "problems": [
        "quadratic-1d",
        "linear-regression",
        "linear-regression[standardize=true]",
    ],
    "optimizers": [
        "random-search",
        "gd[lr=[0.5/L,1.5/L,2.5/L]]",
        "gd[lr=1.5/L,schedule=cosine(T=200)]",
        "scipy-bfgs",
    ],
    "seeds": 10,
    "budget": 400,
}
