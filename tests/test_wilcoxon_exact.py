"""The signed-rank p-value of optbench.stats.significance against scipy.stats.wilcoxon (the
p-values the report gave before the exact null was counted here) and against a plain
enumeration of the 2ⁿ sign flips, on tied, untied and zero-holding samples, every
alternative."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from optbench.stats import significance as sig

ALTERNATIVES = ("two-sided", "less", "greater")


def _sample(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """Differences of one kind: ``untied`` (continuous), ``tied`` (a few integer levels,
    no zero), ``zeros`` (integer levels with 0 among them), ``scores`` (COCO-like combined
    scores: failures share a floor value, so many differences are 0 or equal)."""
    if kind == "untied":
        return rng.normal(size=n)
    if kind == "tied":
        return rng.choice([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0], size=n) * 0.25
    if kind == "zeros":
        return rng.integers(-2, 3, size=n).astype(float)
    a = np.where(rng.random(n) < 0.4, -2.0, 1.0 + rng.integers(0, 3, n) * 0.5)
    b = np.where(rng.random(n) < 0.4, -2.0, 1.0 + rng.integers(0, 3, n) * 0.5)
    return a - b


def _enumerated(d: np.ndarray, alternative: str) -> float:
    """The permutation p-value by brute force: R⁺ over every sign vector of ``d``."""
    nz = d[d != 0]
    if not nz.size:
        return 1.0
    ranks = stats.rankdata(np.abs(nz))
    signs = np.array(list(itertools.product((0.0, 1.0), repeat=nz.size)))
    null = signs @ ranks
    observed = ranks[nz > 0].sum()
    less, greater = np.mean(null <= observed), np.mean(null >= observed)
    return min(1.0, {"less": less, "greater": greater,
                     "two-sided": 2 * min(less, greater)}[alternative])


def _scipy(d: np.ndarray, alternative: str) -> float:
    return float(stats.wilcoxon(d, alternative=alternative).pvalue)


def test_equals_scipy_on_random_small_samples():
    """Today's p-values (scipy's permutation test on ties and zeros, its exact distribution
    otherwise) to 1e-12: 84 samples of 1 to 7 differences, every alternative. scipy's
    permutation test evaluates 2ⁿ statistics one by one, so larger n are checked below."""
    rng = np.random.default_rng(20261207)
    checked = 0
    for n in range(1, 8):
        for kind in ("untied", "tied", "zeros", "scores"):
            for _ in range(3):
                d = _sample(rng, n, kind)
                if not np.any(d):  # scipy gives NaN; compare_samples never asks
                    continue
                for alt in ALTERNATIVES:
                    assert sig.signed_rank_pvalue(d, alt) == pytest.approx(
                        _scipy(d, alt), abs=1e-12, rel=0), (d, alt)
                checked += 1
    assert checked >= 75


@pytest.mark.parametrize("n", [10, sig.EXACT_SIGN_FLIPS])
def test_equals_scipy_up_to_the_largest_exact_n(n):
    """At the usual 10 seeds and at the largest n scipy enumerates (one sample each: its
    permutation test is slow there); the enumeration test below covers every n."""
    d = _sample(np.random.default_rng(n), n, "scores")
    assert np.any(d == 0) or len(np.unique(np.abs(d))) < n  # scipy's permutation path
    assert sig.signed_rank_pvalue(d) == pytest.approx(_scipy(d, "two-sided"), abs=1e-12, rel=0)


def test_equals_the_enumerated_sign_flips():
    """400 samples up to the largest exact n against brute-force enumeration."""
    rng = np.random.default_rng(7)
    for i in range(400):
        n = 1 + i % sig.EXACT_SIGN_FLIPS
        d = _sample(rng, n, ("untied", "tied", "zeros", "scores")[i % 4])
        alt = ALTERNATIVES[i % 3]
        assert sig.signed_rank_pvalue(d, alt) == pytest.approx(
            _enumerated(d, alt), abs=1e-12, rel=0), (d, alt)


@pytest.mark.parametrize("n", [14, 20, 50, 60])
@pytest.mark.parametrize("kind", ["untied", "zeros", "scores"])
def test_larger_samples_follow_scipy(n, kind):
    """Beyond 13 differences scipy leaves the permutation test (normal approximation on
    ties and zeros, its exact distribution up to 50 untied): the same numbers here."""
    d = _sample(np.random.default_rng(n), n, kind)
    for alt in ALTERNATIVES:
        assert sig.signed_rank_pvalue(d, alt) == pytest.approx(_scipy(d, alt), abs=1e-12, rel=0)


def test_the_smallest_p_is_the_design_minimum_and_all_ties_give_one():
    for n in range(1, sig.EXACT_SIGN_FLIPS + 1):
        assert sig.signed_rank_pvalue(np.full(n, 1.5)) == sig.min_pvalue("signed-rank", n)
        assert sig.signed_rank_pvalue(np.full(n, -1.5), "less") == 0.5**n
    d = np.array([1.0, -1.0, 2.0, -2.0])  # symmetric: R⁺ at the centre
    assert sig.signed_rank_pvalue(d) == 1.0


def test_compare_samples_uses_it_and_matches_scipy():
    rng = np.random.default_rng(3)
    a = np.round(rng.normal(size=10), 1)
    b = a.copy()
    b[:7] += np.array([0.5, 0.5, 0.5, 1.0, -0.5, 1.0, 0.5])  # ties, and three zeros
    res = sig.compare_samples(a, b, paired=True)
    assert res["p"] == pytest.approx(_scipy(a - b, "two-sided"), abs=1e-12, rel=0)


def test_a_bad_alternative_says_what_was_expected():
    with pytest.raises(ValueError, match="alternative must be 'two-sided', 'less' or"):
        sig.signed_rank_pvalue([1.0, 2.0], "both")
