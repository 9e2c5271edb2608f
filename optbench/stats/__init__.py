"""Statistics across runs, public for the report's sections (built-in and plug-in).

* :mod:`~optbench.stats.convention`: which runs count, the runtime of a run that met a
  target, and what a run that did not is charged.
* :mod:`~optbench.stats.average_runtime`: success rates, aRT, its bootstrap and simulated restarts.
* :mod:`~optbench.stats.profiles`: runtime ECDFs, performance and data profiles.
* :mod:`~optbench.stats.significance`: the Friedman test with Nemenyi's critical difference,
  each optimizer against a reference with Holm's correction, the smallest p a design can reach.
* :mod:`~optbench.stats.comparison`: runs of several stores paired on (problem, optimizer,
  seed), or across optimizers on (problem, seed) between stores of different optimizers,
  with bootstrap intervals and a verdict per pairing.
* :mod:`~optbench.stats.tuning_curves`: the expected best criterion among k tuning trials
  (:func:`expected_best`, Dodge et al.'s closed form) and its bootstrap band.
* :mod:`~optbench.stats.curves`: per-problem best-so-far curves read from the stores
  (:func:`problem_data`), from which runtimes and values at fixed budgets follow.

The definitions are in ``docs/methodology.md``.
"""

from __future__ import annotations

from .._lazy import lazy_exports

# imported on first use, so that importing a section (``optbench list``) does not load numpy
_EXPORTS = {
    "BOOTSTRAP_SAMPLES": "average_runtime",
    "art": "average_runtime",
    "art_table": "average_runtime",
    "bootstrap_art": "average_runtime",
    "simulated_restarts": "average_runtime",
    "CONVENTION": "convention",
    "NOT_RUN": "convention",
    "charged": "convention",
    "counted": "convention",
    "counts": "convention",
    "group_rng": "convention",
    "hit_column": "convention",
    "hit_costs": "convention",
    "runtimes": "convention",
    "expected_best": "tuning_curves",
    "expected_best_band": "tuning_curves",
    "median_best": "tuning_curves",
    "ProblemData": "curves",
    "compared": "curves",
    "problem_data": "curves",
    "InstanceCosts": "profiles",
    "cost_matrix": "profiles",
    "data_profile": "profiles",
    "data_profile_matrix": "profiles",
    "ecdf": "profiles",
    "instance_matrix": "profiles",
    "performance_profile": "profiles",
    "performance_profile_matrix": "profiles",
    "performance_ratios": "profiles",
    "profile_area": "profiles",
    "runtime_ecdf": "profiles",
    "Friedman": "significance",
    "cd_diagram": "significance",
    "combined_scores": "significance",
    "compare_samples": "significance",
    "friedman_nemenyi": "significance",
    "holm": "significance",
    "min_pvalue": "significance",
    "seeds_needed": "significance",
    "tests_against_reference": "significance",
    "tests_caption": "significance",
    "Comparison": "comparison",
    "compare_sources": "comparison",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(
    __name__, {k: f".{m}" for k, m in _EXPORTS.items()}, globals(), __all__
)
