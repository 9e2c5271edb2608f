"""Named suites: the default (what ``optbench run`` with no arguments runs) and ``ml``.

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
    import importlib.util

    optimizers = [
        "gd[lr=[0.1,0.5]]",
        "momentum[lr=0.05,momentum=0.9]",
        "adam[lr=[0.001,0.01]]",
        "adamw[lr=0.01,weight_decay=0.01]",
    ]
    if importlib.util.find_spec("torch") is not None:
        optimizers.append("torch[cls=torch.optim.AdamW,lr=0.01,weight_decay=0.01]")
    real = _has_sklearn()
    return {
        "problems": list(REAL_ML_PROBLEMS if real else SYNTHETIC_ML_PROBLEMS),
        "optimizers": optimizers,
        "seeds": 5,
        "budget": 500,
    }


def _has_sklearn() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("sklearn") is not None
    except ValueError:  # sys.modules["sklearn"] is None: made unimportable on purpose
        return False


def ml_problems_note() -> str:
    """One line: which problems ``--suite ml`` runs, and why."""
    if _has_sklearn():
        return ("optbench: --suite ml runs scikit-learn's real datasets: "
                + ", ".join(REAL_ML_PROBLEMS))
    return ("optbench: --suite ml runs the synthetic data (scikit-learn is not installed; "
            "pip install 'optbench[data]' for the real datasets): "
            + ", ".join(SYNTHETIC_ML_PROBLEMS))


SUITES: dict[str, Callable[[], Suite]] = {"default": DEFAULT_SUITE.copy, "ml": ml_suite}
