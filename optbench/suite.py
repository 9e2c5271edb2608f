"""Named suites: the default (what ``optbench run`` with no arguments runs), ``ml`` and
``scaling``.

The lesson's problems (a 1-D quadratic; the line fit in (w, b) on raw and on standardized
features, and on standardized features with minibatch gradients of 10 points) and a few
harder ones (log-cosh, a tilted double well, Rosenbrock's valley), against random search,
gradient descent with constant and decaying rates, heavy-ball momentum, Adam and a scipy
baseline, over ten seeds. Learning rates are given in units of 1/L, so one sweep shows
every regime where the curvature is known: too small is slow (0.05/L), monotone (0.5/L),
oscillating (1.5/L, 1.9/L: closer to 2/L overshoots more and settles later) and divergent
(2.5/L). On the minibatch problem a constant rate stalls at the floor its gradient noise
sets, and the same rate with a cosine decay settles below it.

Ten seeds is enough for the report's own tests: with ten optimizers, each tested against a
problem's best (nine tests, Holm-corrected), the signed-rank test on ten paired seeds can
reach p = 9·2/2¹⁰ ≈ 0.018 < 0.05.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import NotRequired, TypedDict


class Suite(TypedDict):
    """A named suite: the spec keys :func:`optbench.run` reads from it."""

    problems: list[str]
    optimizers: list[str]
    seeds: int
    budget: int
    budgets: NotRequired[dict[str, int]]  # per problem spec as written; others get budget


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
    "default": DEFAULT_SUITE.copy,
    "ml": ml_suite,
    "scaling": scaling_suite,
}
