"""The report's statistics without scipy.stats: ranks, Friedman's χ² and the studentized
range quantile of the critical difference, computed with numpy and scipy.special, equal
scipy.stats' own functions (the independent truth here)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from optbench.stats import significance as sig


@pytest.mark.parametrize("method", ["average", "dense"])
@pytest.mark.parametrize("shape", [(1,), (9,), (6, 4), (3, 11)])
def test_rankdata_equals_scipy_with_ties_and_infinities(method, shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 4, shape).astype(float)  # many ties
    a.reshape(-1)[::3] = np.inf
    got = sig.rankdata(a, method)
    assert got.shape == a.shape
    assert np.array_equal(got, stats.rankdata(a, method, axis=-1))


def test_rankdata_refuses_an_unknown_method():
    with pytest.raises(ValueError, match="'average' or 'dense'"):
        sig.rankdata([1.0, 2.0], "min")


@pytest.mark.parametrize(("n", "k", "levels"), [(5, 4, 3), (10, 8, 2), (3, 3, 9), (20, 12, 50)])
def test_friedman_chisquare_equals_scipy_tie_corrected(n, k, levels):
    rng = np.random.default_rng(n * k)
    ranks = sig.rankdata(rng.integers(0, levels, (n, k)).astype(float))
    chi2, p = sig.friedman_chisquare(ranks)
    ref = stats.friedmanchisquare(*ranks.T)
    assert chi2 == pytest.approx(ref.statistic, rel=1e-12, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-300)


def test_iman_davenport_pvalue_equals_scipy_f():
    f, p = sig.iman_davenport(7.3, 9, 5)
    assert f == pytest.approx(8 * 7.3 / (9 * 4 - 7.3))
    assert p == pytest.approx(stats.f.sf(f, 4, 32), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_nemenyi_q_equals_scipys_studentized_range(alpha):
    ks = range(2, 31)
    ours = np.array([sig.nemenyi_q(k, alpha) for k in ks])
    ref = np.array([stats.studentized_range.ppf(1 - alpha, k, np.inf) for k in ks])
    np.testing.assert_allclose(ours, ref / math.sqrt(2.0), rtol=1e-9)


@pytest.mark.parametrize("k", [2, 3, 7, 25])
def test_range_cdf_equals_scipy(k):
    q = np.linspace(0.05, 7.0, 40)
    np.testing.assert_allclose(
        sig.range_cdf(q, k), stats.studentized_range.cdf(q, k, np.inf), atol=1e-11
    )
    # k = 2: the range of two standard normals is |N(0, 2)|
    if k == 2:
        np.testing.assert_allclose(sig.range_cdf(q, 2), 2 * stats.norm.cdf(q / math.sqrt(2)) - 1,
                                   atol=1e-12)


def test_nemenyi_q_refuses_bad_alpha():
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        sig.nemenyi_q(4, 1.5)


def test_rankdata_of_nothing_is_nothing():
    assert sig.rankdata(np.array([])).shape == (0,)
    # every difference zero: every sign flip gives the same statistic
    assert sig.signed_rank_pvalue(np.zeros(5)) == 1.0
