"""Named suites: the default (what ``optbench run`` with no arguments runs), ``ml`` and
``scaling``.

The default suite's main cross product: the lesson's problems (a 1-D quadratic; the line
fit in (w, b) on raw and on standardized features, and on standardized features with
minibatch gradients of 10 points) and a few harder ones (log-cosh, a tilted double well,
Rosenbrock's valley), against random search, gradient descent with constant and decaying
rates, heavy-ball momentum, Adam and a scipy baseline, over ten seeds. Learning rates are
given in units of 1/L, so one sweep shows every regime where the curvature is known: too
small is slow (0.05/L), monotone (0.5/L), oscillating (1.5/L, 1.9/L: closer to 2/L
overshoots more and settles later) and divergent (2.5/L). On the minibatch problem a
constant rate stalls at the floor its gradient noise sets, and the same rate with a cosine
decay settles below it. Every optimizer runs on every problem: the per-problem figures,
tables and tests compare them.

Its sweeps (:data:`DEFAULT_SWEEPS`, :mod:`optbench.sweeps`) add dense data only where the
lesson draws it, with the same seeds and budget: gradient descent at 12 rates from 0.05/L
to 2.2/L on the quadratic and on the standardized line fit (the learning-rate slider and
the regimes on the rate axis); heavy ball on the quadratic over an lr × β grid (7 rates
from 0.25/L to 3/L by β in {0, 0.3, 0.5, 0.7, 0.9}: the momentum phase diagram); and on
the minibatch problem the constant rate against step, inverse-time and exponential decay
beside the cosine of the main product. Labels that only a sweep runs stay out of the
per-problem tests against the best.

Ten seeds is enough for the report's own tests: with ten optimizers, each tested against a
problem's best (nine tests, Holm-corrected), the signed-rank test on ten paired seeds can
reach p = 9·2/2¹⁰ ≈ 0.018 < 0.05; the sweeps' labels are not among those tests (35 more on
the quadratic could never reach 0.05).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import NotRequired, TypedDict


class Sweep(TypedDict):
    """A cross product run beside a suite's main one (:mod:`optbench.sweeps`)."""

    problems: list[str]
    optimizers: list[str]


class Suite(TypedDict):
    """A named suite: the spec keys :func:`optbench.run` reads from it."""

    problems: list[str]
    optimizers: list[str]
    seeds: int
    budget: int
    budgets: NotRequired[dict[str, int]]  # per problem spec as written; others get budget
    sweeps: NotRequired[list[Sweep]]  # extra cross products, only where they are needed


RATE_SWEEP = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 1.9, 2, 2.2)
"""The default suite's rates for gradient descent, in units of 1/L: slow, monotone, one
step (1/L), overshooting, oscillating, at the edge (2/L) and divergent."""
MOMENTUM_RATES = (0.25, 0.5, 1, 1.5, 2, 2.5, 3)
"""Heavy ball's rates in the default suite's lr × β grid, in units of 1/L (on a quadratic
it converges for lr < 2(1 + β)/L: up to 3.8/L at β = 0.9)."""
MOMENTUM_BETAS = (0, 0.3, 0.5, 0.7, 0.9)
MINIBATCH_SCHEDULES = ("step(step_size=100,gamma=0.3)", "inverse-time(decay_steps=20)",
                       "exponential(gamma=0.99)")
"""Decays set against the constant rate on the minibatch problem (cosine is in the main
product)."""


def _per_l(values) -> str:
    return "[" + ",".join(f"{v:g}/L" for v in values) + "]"


DEFAULT_SWEEPS: list[Sweep] = [
    {
        "problems": ["quadratic-1d", "linear-regression[standardize=true]"],
        "optimizers": [f"gd[lr={_per_l(RATE_SWEEP)}]"],
    },
    {
        "problems": ["quadratic-1d"],
        "optimizers": [f"momentum[lr={_per_l(MOMENTUM_RATES)},"
                       f"momentum=[{','.join(f'{b:g}' for b in MOMENTUM_BETAS)}]]"],
    },
    {
        "problems": ["linear-regression[standardize=true,batch_size=10]"],
        "optimizers": ["gd[lr=0.5/L]", "gd[lr=0.5/L,schedule=cosine(T=400)]",
                       *(f"gd[lr=0.5/L,schedule={s}]" for s in MINIBATCH_SCHEDULES)],
    },
]


DEFAULT_SUITE: Suite = {
    "problems": [
        "quadratic-1d",
        "linear-regression",
        "linear-regression[standardize=true]",
        "linear-regression[standardize=true,batch_size=10]",
        "log-cosh",
        "tilted-double-well",
        "rosenbrock",
    ],
    "optimizers": [
        "random-search",
        "gd[lr=[0.05/L,0.5/L,1.5/L,1.9/L,2.5/L]]",
        "gd[lr=0.5/L,schedule=cosine(T=400)]",
        "momentum[lr=0.5/L,momentum=0.5]",
        "adam[lr=0.05]",
        "scipy-bfgs",
    ],
    "seeds": 10,
    "budget": 400,
    "sweeps": DEFAULT_SWEEPS,
}


REAL_ML_PROBLEMS = [
    "logistic-regression[dataset=breast-cancer]",
    "softmax-regression[dataset=digits]",
    "mlp[dataset=wine]",
]
"""The ml suite's problems where scikit-learn (``optbench[data]``) is installed."""
SYNTHETIC_ML_PROBLEMS = ["logistic-regression", "softmax-regression", "mlp"]


def ml_suite() -> Suite:
    """``optbench run --suite ml``: the small-ML tier (logistic and softmax regression, a
    one-hidden-layer MLP; minibatch gradients, held-out loss and accuracy recorded) against
    the usual gradient baselines, and ``torch.optim.AdamW`` through the torch adapter where
    torch is installed. The problems are real datasets (:data:`REAL_ML_PROBLEMS`) where
    scikit-learn is installed, else the synthetic ones; :func:`ml_problems_note` says which.
    Rates are plain numbers: the MLP has no curvature constant L."""
    from .extras import installed

    optimizers = [
        "gd[lr=[0.1,0.5]]",
        "momentum[lr=0.05,momentum=0.9]",
        "adam[lr=[0.001,0.01]]",
        "adamw[lr=0.01,weight_decay=0.01]",
    ]
    if installed("torch"):
        optimizers.append("torch[cls=torch.optim.AdamW,lr=0.01,weight_decay=0.01]")
    real = installed("sklearn")
    return {
        "problems": list(REAL_ML_PROBLEMS if real else SYNTHETIC_ML_PROBLEMS),
        "optimizers": optimizers,
        "seeds": 5,
        "budget": 500,
    }


def ml_problems_note() -> str:
    """One line: which problems ``--suite ml`` runs, and why."""
    from .extras import installed

    if installed("sklearn"):
        return ("optbench: --suite ml runs scikit-learn's real datasets: "
                + ", ".join(REAL_ML_PROBLEMS))
    return ("optbench: --suite ml runs the synthetic data (scikit-learn is not installed; "
            "pip install 'optbench[data]' for the real datasets): "
            + ", ".join(SYNTHETIC_ML_PROBLEMS))


SCALING_KAPPAS = (10, 100, 1000, 10_000)
SCALING_DIMS = (2, 10, 100)
SCALING_TARGET = 1e-6  # the gap every budget is sized for GD at 1/L to reach
SCALING_OPTIMIZERS = [
    "gd[lr=1/L]",
    "gd[lr=gd-opt]",
    "momentum[lr=hb-opt,momentum=hb-opt]",
    "nesterov[lr=nesterov-opt,momentum=nesterov-opt]",
    "adam",
]
# measured only (no constant Hessian, so no predicted rate): the same optimizers across
# dimension on Rosenbrock's valley and full-batch logistic regression
SCALING_MEASURED = {
    "rosenbrock[d=[2,5,10]]": 5000,
    "logistic-regression[p=[5,20,50],batch_size=none]": 2000,
}


def scaling_budget(kappa: float) -> int:
    """Evaluations for GD at 1/L to reach a gap of 1e-6 on ``ill-conditioned-quadratic``:
    ``⌈κ·ln(1e6)⌉``. Its slowest direction (λ = μ = 1) shrinks by 1 − 1/κ per update, so
    its share of the gap by ``(1 − 1/κ)² ≈ e^(−2/κ)``: from at most 18 (a start in
    [−5, 5], x* = 1) the target takes at most ``κ·ln(1.8e7)/2 ≈ 8.4κ`` updates, within the
    budget (one gradient, one evaluation, per update)."""
    return math.ceil(kappa * math.log(1 / SCALING_TARGET))


def scaling_suite() -> Suite:
    """``optbench run --suite scaling``: measured against predicted linear rates across the
    condition number κ and the dimension d (``docs/scaling.md``).

    ``ill-conditioned-quadratic[kappa=κ,d=d]`` (eigenvalues from μ = 1 to L = κ) for κ in
    :data:`SCALING_KAPPAS` and d in :data:`SCALING_DIMS`, with GD at 1/L (rate 1 − 1/κ) and
    at 2/(L + μ) (rate (κ − 1)/(κ + 1)), heavy ball at its optimal tuning and Nesterov at
    its standard one (both (√κ − 1)/(√κ + 1) and 1 − 1/√κ, double poles), and Adam at its
    defaults (measured only). Each κ has the budget :func:`scaling_budget`; Rosenbrock and
    logistic regression across dimension are measured only.
    """
    budgets = {
        f"ill-conditioned-quadratic[kappa={k},d=[{','.join(map(str, SCALING_DIMS))}]]":
            scaling_budget(k)
        for k in SCALING_KAPPAS
    }
    budgets.update(SCALING_MEASURED)
    return {
        "problems": list(budgets),
        "optimizers": list(SCALING_OPTIMIZERS),
        "seeds": 2,
        "budget": max(budgets.values()),
        "budgets": budgets,
    }


SUITES: dict[str, Callable[[], Suite]] = {
    "default": lambda: copy.deepcopy(DEFAULT_SUITE),
    "ml": ml_suite,
    "scaling": scaling_suite,
}
