"""optbench.stats.significance against published values, definitions and scipy's exact
distributions (enumerated by brute force)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optbench.stats import significance as sig

# Demšar (2006), JMLR 7:1-30, Table 5(a): Nemenyi's q_α for k = 2..10
Q_005 = (1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164)
Q_010 = (1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920)

# Demšar (2006), Table 6: ranks (1 = best) of C4.5, C4.5+m, C4.5+cf, C4.5+m+cf on 14 data
# sets; published average ranks 3.143, 2.000, 2.893, 1.964; χ²_F = 9.28 and F_F = 3.69
# (no tie correction), CD = 1.25 at α = 0.05 and 1.12 at α = 0.10.
DEMSAR_RANKS = np.array(
    [
        [4, 1, 2, 3],
        [1, 4, 3, 2],
        [4, 3, 2, 1],
        [4, 2, 3, 1],
        [4, 1, 3, 2],
        [1, 2.5, 4, 2.5],  # iris: a tie of two
        [3, 1, 4, 2],
        [2.5, 1, 4, 2.5],  # lung cancer: a tie of two
        [4, 1, 2, 3],
        [2.5, 2.5, 2.5, 2.5],  # mushroom: all four tied
        [4, 3, 1, 2],
        [3, 1, 4, 2],
        [4, 3, 2, 1],
        [3, 2, 4, 1],
    ]
)
DEMSAR_LABELS = ("C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf")


@pytest.mark.parametrize("alpha, table", [(0.05, Q_005), (0.10, Q_010)])
def test_nemenyi_q_matches_demsar_table(alpha, table):
    for k, q in zip(range(2, 11), table, strict=True):
        assert sig.nemenyi_q(k, alpha) == pytest.approx(q, abs=1.1e-3)


def test_demsar_worked_example():
    art = pd.DataFrame(DEMSAR_RANKS, columns=DEMSAR_LABELS)
    res = sig.friedman_nemenyi(art)
    assert res.n == 14 and res.k == 4 and not res.dropped
    np.testing.assert_allclose(res.average_ranks, [3.143, 2.000, 2.893, 1.964], atol=5e-4)
    # scipy corrects χ²_F for ties; undo it with the textbook factor to get Demšar's 9.28
    ties = [2, 2, 4]  # sizes of the tied groups in the table
    c = 1 - sum(t**3 - t for t in ties) / (14 * 4 * (4**2 - 1))
    assert res.statistic * c == pytest.approx(9.28, abs=5e-3)
    f, p = sig.iman_davenport(9.28, 14, 4)
    assert f == pytest.approx(3.69, abs=5e-3)
    assert stats.f.ppf(0.95, 3, 39) == pytest.approx(2.85, abs=5e-3) and p < 0.05
    assert res.cd == pytest.approx(1.25, abs=5e-3)
    # the paper: C4.5+m+cf vs C4.5 (1.179 apart) is not significant at 0.05, is at 0.10
    assert not res.differ("C4.5", "C4.5+m+cf")
    res10 = sig.friedman_nemenyi(art, alpha=0.10)
    assert res10.cd == pytest.approx(1.12, abs=5e-3)
    assert res10.differ("C4.5", "C4.5+m+cf")
    assert res.cliques == (("C4.5+m+cf", "C4.5+m", "C4.5+cf", "C4.5"),)
    assert res10.cliques == (("C4.5+m+cf", "C4.5+m", "C4.5+cf"), ("C4.5+cf", "C4.5"))


def test_friedman_statistic_is_the_textbook_formula_without_ties():
    rng = np.random.default_rng(3)
    n, k = 12, 5
    art = rng.lognormal(size=(n, k))
    res = sig.friedman_nemenyi(pd.DataFrame(art))
    r = np.argsort(np.argsort(art, axis=1), axis=1) + 1.0  # untied ranks
    R = r.mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(R**2) - k * (k + 1) ** 2 / 4)
    assert res.statistic == pytest.approx(chi2, rel=1e-12)
    assert res.pvalue == pytest.approx(stats.chi2.sf(chi2, k - 1), rel=1e-10)
    assert res.f_statistic == pytest.approx((n - 1) * chi2 / (n * (k - 1) - chi2), rel=1e-12)


def test_cliques_and_nemenyi_pvalues_agree_with_the_critical_difference():
    rng = np.random.default_rng(7)
    for _ in range(20):
        k, n = int(rng.integers(3, 9)), int(rng.integers(5, 30))
        art = rng.lognormal(rng.normal(0, 1, k)[None, :], 1.0, size=(n, k))
        labels = [f"o{i}" for i in range(k)]
        res = sig.friedman_nemenyi(pd.DataFrame(art, columns=labels))
        p = sig.nemenyi_pvalues(res.average_ranks, res.n, labels)
        for a, b in itertools.combinations(range(k), 2):
            gap = abs(res.average_ranks[a] - res.average_ranks[b])
            together = any(labels[a] in c and labels[b] in c for c in res.cliques)
            assert together == (gap < res.cd)
            assert (p.iloc[a, b] < res.alpha) == (gap >= res.cd)


def test_problem_ranks_break_art_ties_by_gap():
    art = np.array([[np.inf, np.inf, 10.0], [5.0, 5.0, 5.0]])
    gap = np.array([[1e-2, 1e-4, 1.0], [np.nan, 1e-3, 1e-3]])
    np.testing.assert_array_equal(sig.problem_ranks(art, gap), [[3, 2, 1], [3, 1.5, 1.5]])


def test_friedman_leaves_out_problems_where_not_all_ran():
    art = pd.DataFrame({"a": [1.0, 2.0, 3.0, np.nan], "b": [2.0, 1.0, 4.0, 1.0],
                        "c": [3.0, 3.0, 5.0, 2.0]}, index=["p1", "p2", "p3", "p4"])
    res = sig.friedman_nemenyi(art)
    assert res.problems == ("p1", "p2", "p3") and res.dropped == ("p4",)
    assert "1 problems left out" in res.caption()


def test_holm_matches_the_sequential_procedure():
    rng = np.random.default_rng(0)
    for _ in range(200):
        m = int(rng.integers(1, 12))
        p = rng.uniform(0, 0.2, m) ** 2
        adj = sig.holm(p)
        for alpha in (0.01, 0.05, 0.1):
            reject = np.zeros(m, bool)
            for i, j in enumerate(np.argsort(p, kind="stable")):  # Holm (1979)
                if p[j] > alpha / (m - i):
                    break
                reject[j] = True
            np.testing.assert_array_equal(adj <= alpha, reject)


@pytest.mark.parametrize("n", range(1, 11))
def test_signed_rank_min_p_is_scipys_exact_minimum(n):
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
    d = signs * np.arange(1, n + 1)  # every sign pattern of untied differences
    p = stats.wilcoxon(d, axis=1, method="exact").pvalue
    assert sig.min_pvalue("signed-rank", n) == pytest.approx(p.min(), rel=1e-12, abs=0)
    assert sig.min_pvalue("signed-rank", n) == pytest.approx(min(1.0, 2 / 2**n), rel=1e-12)


@pytest.mark.parametrize("n1, n2", [(1, 4), (2, 3), (3, 3), (4, 5), (3, 8), (2, 12)])
def test_rank_sum_min_p_is_scipys_exact_minimum(n1, n2):
    values = np.arange(n1 + n2, dtype=float)
    splits = list(itertools.combinations(range(n1 + n2), n1))
    a = np.array([values[list(s)] for s in splits])
    b = np.array([np.delete(values, list(s)) for s in splits])
    p = stats.mannwhitneyu(a, b, axis=1).pvalue  # scipy's default choice (exact here)
    assert sig.min_pvalue("rank-sum", n1, n2) == pytest.approx(p.min(), rel=1e-12, abs=0)
    assert sig.min_pvalue("rank-sum", n1, n2) == pytest.approx(
        min(1.0, 2 / math.comb(n1 + n2, n1)), rel=1e-12)


@pytest.mark.parametrize("n1, n2", [(9, 9), (10, 12), (30, 25)])
def test_rank_sum_min_p_in_scipys_asymptotic_regime(n1, n2):
    a, b = np.arange(n1) + 100.0, np.arange(n2, dtype=float)  # a beats every b
    assert sig.min_pvalue("rank-sum", n1, n2) == pytest.approx(
        stats.mannwhitneyu(a, b).pvalue, rel=1e-9, abs=0)


@pytest.mark.parametrize("n", [51, 80])
def test_signed_rank_min_p_in_scipys_asymptotic_regime(n):
    d = np.arange(1.0, n + 1)
    expected = stats.wilcoxon(d).pvalue
    assert sig.min_pvalue("signed-rank", n) == pytest.approx(expected, rel=1e-9, abs=0)


def test_seeds_needed():
    # 168 tests at α = 0.05 on paired seeds: 168·2/2^12 = 0.082, 168·2/2^13 = 0.041
    assert sig.seeds_needed("signed-rank", 168) == 13
    assert sig.seeds_needed("signed-rank", 1) == 6  # 2/2^5 = 0.0625, 2/2^6 = 0.031
    n = sig.seeds_needed("rank-sum", 168)
    assert 168 * sig.min_pvalue("rank-sum", n, n) < 0.05
    assert all(168 * sig.min_pvalue("rank-sum", i, i) < 0.05 for i in range(n, 200))
    assert 168 * sig.min_pvalue("rank-sum", n - 1, n - 1) >= 0.05


def _frame(scores: dict[str, list[tuple[float, float]]], seeds=None, problem="quadratic-1d"):
    """Runs from ``label -> [(hit cost at 1e-6 or nan, final gap), ...]``, seeds 0.."""
    rows = []
    for label, runs in scores.items():
        for i, (hit, gap) in enumerate(runs):
            rows.append({"problem_key": problem, "label": label,
                         "seed": i if seeds is None else seeds[label][i], "status": "budget",
                         "evals": 200.0, "hit_cost_1e-6": hit, "gap_final": gap})
    return pd.DataFrame(rows)


def test_ten_successes_against_none_over_ten_paired_seeds_is_significant():
    frame = _frame({"gd": [(40.0 + i, 1e-9) for i in range(10)],
                    "slow": [(np.nan, 1e-2 * (i + 1)) for i in range(10)]})
    out = sig.tests_against_reference(frame)
    assert len(out) == 1
    row = out.iloc[0]
    assert row.reference == "gd" and row.label == "slow" and row.test == "signed-rank"
    assert row.p == pytest.approx(2 / 2**10) and row.significant and row.verdict == "worse"
    assert row.can_reach and row.effect == -1.0


def test_an_all_equal_pair_is_not_significant():
    runs = [(50.0, 1e-9)] * 10
    out = sig.tests_against_reference(_frame({"a": runs, "b": runs}))
    row = out.iloc[0]
    assert row.p == 1.0 and row.p_holm == 1.0 and not row.significant
    assert row.verdict == "no difference found"


def test_unpaired_seeds_use_rank_sum_and_a_baseline_is_the_reference():
    frame = _frame({"base": [(np.nan, 1.0)] * 5, "new": [(30.0, 1e-9)] * 6},
                   seeds={"base": [0, 1, 2, 3, 4], "new": [10, 11, 12, 13, 14, 15]})
    row = sig.tests_against_reference(frame, reference="base").iloc[0]
    assert row.reference == "base" and row.label == "new" and row.test == "rank-sum"
    assert row.p == pytest.approx(stats.mannwhitneyu([1] * 6, [0] * 5).pvalue)
    assert row.effect == 1.0 and row.verdict == "better"


def test_a_design_that_cannot_reach_alpha_says_so():
    # 9 optimizers against the best on 4 paired seeds: 8 · 2/2^4 = 1 ≥ 0.05
    frame = _frame({f"o{i}": [(10.0 * (i + 1), 1e-9)] * 4 for i in range(9)})
    out = sig.tests_against_reference(frame)
    assert len(out) == 8 and (out.m == 8).all() and (out.reference == "o0").all()
    assert (out.min_p == 2 / 2**4).all() and (out.min_p_holm == 1.0).all()
    assert not out.can_reach.any()
    assert (out.seeds_needed == 9).all()  # 8·2/2^8 = 0.0625, 8·2/2^9 = 0.031
    assert out.verdict.str.startswith("cannot reach α=0.05 at 4 seeds").all()


def test_combined_scores_order_successes_before_failures():
    s = sig.combined_scores([10, 100, np.inf, np.inf, np.inf], [0, 0, 1e-3, 1.0, np.nan], 1e-6)
    assert list(np.argsort(-s)) == [0, 1, 2, 3, 4]
    assert s[1] >= 1 > 0 >= s[2]


def test_cd_diagram_draws_every_label_without_overlapping_text():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    labels = ["gd[lr=0.5/L]", "gd[lr=1.5/L,schedule=cosine(T=400)]", "adam", "momentum",
              "random-search", "scipy[method=BFGS]", "gd[lr=0.01]"]
    rng = np.random.default_rng(1)
    art = 10 ** (np.array([2, 3, 1, 2.5, 7, 1.5, 5.0]) / 2 + rng.normal(0, 0.6, (20, 7)))
    res = sig.friedman_nemenyi(pd.DataFrame(art, columns=labels))
    fig = sig.cd_diagram(res, title="aRT ranks at 1e-6")
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_text()]
    for lab in labels:
        assert sum(lab in t.get_text() for t in texts) == 1
    boxes = [t.get_window_extent(renderer) for t in texts]
    fig_box = fig.bbox
    for b in boxes:
        assert fig_box.x0 <= b.x0 and b.x1 <= fig_box.x1 and fig_box.y0 <= b.y0
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    bars = [ln for ln in ax.lines if ln.get_gid() == "cd-clique"]
    assert len(bars) == len(res.cliques) >= 1
    assert any(f"CD = {res.cd:.2f}" == t.get_text() for t in texts)


def test_bad_input_says_what_was_expected():
    with pytest.raises(ValueError, match="at least 2 problems"):
        sig.friedman_nemenyi(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}))
    with pytest.raises(ValueError, match="rank-sum"):
        sig.min_pvalue("t-test", 3, 3)


def test_two_optimizers_get_a_critical_difference_but_no_friedman_statistic():
    art = pd.DataFrame({"a": [1.0, 2.0, 3.0, 1.0], "b": [2.0, 1.0, 4.0, 3.0]})
    res = sig.friedman_nemenyi(art)
    assert np.isnan(res.statistic) and "at least 3 optimizers" in res.caption()
    assert res.cd == pytest.approx(1.960 * math.sqrt(2 * 3 / (6 * 4)), abs=1e-3)
    np.testing.assert_allclose(res.average_ranks, [1.25, 1.75])


def test_the_caption_states_the_test_the_smallest_p_and_the_seeds_needed():
    frame = _frame({f"o{i}": [(10.0 * (i + 1), 1e-9)] * 4 for i in range(9)})
    text = sig.tests_caption(sig.tests_against_reference(frame))
    assert "8 signed-rank tests" in text and "m = 8" in text
    assert f"{2 / 2**4:.2g}" in text  # 2/2^4 with 4 paired seeds
    assert "8 of 8 tests cannot reach α = 0.05" in text and "9 seeds would be needed" in text
    ok = sig.tests_caption(sig.tests_against_reference(
        _frame({"a": [(40.0, 1e-9)] * 10, "b": [(np.nan, 1e-2)] * 10})))
    assert "cannot reach" not in ok and f"{2 / 2**10:.2g}" in ok
    assert sig.tests_caption(sig.tests_against_reference(_frame({"a": [(1.0, 0.0)]}))) == (
        "No problem has two optimizers with runs: no tests.")
