"""The Statistics section's design: the default suite runs enough seeds for its own
per-problem tests (each optimizer against the best, Holm within the problem) to be able to
reach α, by the exact signed-rank minimum 2/2ⁿ (checked against scipy in
tests/test_significance.py)."""

from __future__ import annotations

from optbench.spec import expand, parse
from optbench.stats.significance import ALPHA, min_pvalue, seeds_needed
from optbench.suite import DEFAULT_SUITE


def test_the_default_suite_can_find_a_difference():
    k = sum(len(expand(parse(s))) for s in DEFAULT_SUITE["optimizers"])
    m = k - 1  # tests per problem: each optimizer against the best
    n = DEFAULT_SUITE["seeds"]
    assert m * min_pvalue("signed-rank", n) < ALPHA
    assert n >= seeds_needed("signed-rank", m)
