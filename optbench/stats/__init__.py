"""Statistics across runs, public for the report's sections (built-in and plug-in).

* :mod:`~optbench.stats.convention`: which runs count, the runtime of a run that met a
  target, and what a run that did not is charged.
* :mod:`~optbench.stats.art`: success rates, aRT, its bootstrap and simulated restarts.
* :mod:`~optbench.stats.profiles`: runtime ECDFs, performance and data profiles.
* :mod:`~optbench.stats.rank_tests`: rank-sum and signed-rank tests, Holm's correction,
  average ranks.
* :mod:`~optbench.stats.curves`: per-problem best-so-far curves read from the stores
  (:func:`problem_data`), from which runtimes and values at fixed budgets follow.

The definitions are in ``docs/methodology.md``.
"""

from __future__ import annotations

from .art import BOOTSTRAP_SAMPLES, art, art_table, bootstrap_art, simulated_restarts
from .convention import (
    CONVENTION,
    NOT_RUN,
    charged,
    counted,
    group_rng,
    hit_column,
    hit_costs,
    runtimes,
)
from .curves import ProblemData, compared, problem_data
from .profiles import (
    cost_matrix,
    data_profile,
    data_profile_matrix,
    ecdf,
    performance_profile,
    performance_profile_matrix,
    performance_ratios,
    profile_area,
    runtime_ecdf,
)
from .rank_tests import average_ranks, combined_scores, holm, rank_biserial, run_tests

__all__ = [
    "BOOTSTRAP_SAMPLES",
    "CONVENTION",
    "NOT_RUN",
    "ProblemData",
    "art",
    "art_table",
    "average_ranks",
    "bootstrap_art",
    "charged",
    "combined_scores",
    "compared",
    "cost_matrix",
    "counted",
    "data_profile",
    "data_profile_matrix",
    "ecdf",
    "group_rng",
    "hit_column",
    "hit_costs",
    "holm",
    "performance_profile",
    "performance_profile_matrix",
    "performance_ratios",
    "problem_data",
    "profile_area",
    "rank_biserial",
    "run_tests",
    "runtime_ecdf",
    "runtimes",
    "simulated_restarts",
]
