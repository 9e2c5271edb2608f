"""Across-run statistics against hand computations on hand-made frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optbench import stats as agg


def frame(rows):
    cols = [
        "problem_key",
        "label",
        "seed",
        "status",
        "evals",
        "hit_cost_1e-1",
        "hit_cost_1e-2",
        "rel_hit_cost_1e-3",
    ]
    return pd.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


NAN = float("nan")
RUNS = frame(
    [
        # problem, solver, seed, status, evals, hit 1e-1, hit 1e-2, rel 1e-3
        ("P1", "A", 0, "converged", 50, 10, 20, 15),
        ("P1", "A", 1, "budget", 100, NAN, NAN, NAN),
        ("P1", "A", 2, "stalled", 60, 30, NAN, 40),
        ("P1", "A", 3, "diverged", 80, NAN, NAN, NAN),
        ("P1", "A", 4, "skipped", NAN, NAN, NAN, NAN),
        ("P2", "A", 0, "converged", 12, 5, NAN, 6),
        ("P2", "A", 1, "converged", 9, 7, 9, 8),
    ]
)


def coco_art(hits, used):
    """aRT as COCO writes it: (Σ RT of successes + Σ evaluations of failures) / #successes."""
    s = [h for h in hits if not math.isnan(h)]
    f = [u for h, u in zip(hits, used, strict=True) if math.isnan(h)]
    return (sum(s) + sum(f)) / len(s) if s else math.inf


def test_art_and_success_rate_by_hand():
    table = agg.art_table(RUNS, targets=(1e-1, 1e-2), seed=1)
    row = table[(table.problem_key == "P1") & (table.target == 1e-1)].iloc[0]
    assert (
        row.runs == 4 and row.successes == 2 and row.success_rate == 0.5
    )  # the skipped run is not a run
    assert row.aRT == (10 + 100 + 30 + 80) / 2 == coco_art([10, NAN, 30, NAN], [50, 100, 60, 80])
    row = table[(table.problem_key == "P1") & (table.target == 1e-2)].iloc[0]
    assert row.aRT == 260 and row.successes == 1
    row = table[(table.problem_key == "P2") & (table.target == 1e-2)].iloc[0]
    assert row.aRT == (9 + 12) / 1
    assert agg.art([NAN, NAN], [5, 6]) == math.inf


def test_art_of_arrays_is_cocos_definition():
    rt = [10.0, math.inf, 30.0, math.inf]
    used = [50.0, 100.0, 60.0, 200.0]
    assert agg.art(rt, used) == (10 + 30 + 100 + 200) / 2
    assert agg.art([math.inf], [5.0]) == math.inf
    assert math.isnan(agg.art([], []))  # no run: undefined, not "never solved"


CONVENTION = frame(
    [
        ("Q", "A", 0, "converged", 0, 0, NAN, 0),  # the start point was already within 1e-1
        ("Q", "A", 1, "diverged", 40, 25, NAN, NAN),  # met 1e-1 at 25, then diverged
        ("Q", "A", 2, "error", NAN, NAN, NAN, NAN),  # raised: no trace, no counters
        ("Q", "A", 3, "timeout", 70, NAN, NAN, NAN),
        ("Q", "A", 4, "non-finite", 9, NAN, NAN, NAN),
        ("Q", "A", 5, "skipped", NAN, NAN, NAN, NAN),  # never ran
    ]
)


def test_the_convention_by_hand():
    table = agg.art_table(CONVENTION, targets=(1e-1, 1e-2), percentiles=(10, 90))
    loose, tight = table.iloc[0], table.iloc[1]
    # five runs count (all but the skipped one); costs count from 1: the hit at 0 evaluations
    # is runtime 1, and the error row without counters is charged 1
    assert (loose.runs, loose.successes, loose.success_rate) == (5, 2, 0.4)
    assert loose.aRT == (1 + 25 + 1 + 70 + 9) / 2
    assert loose.aRT == coco_art([1, 25, NAN, NAN, NAN], [1, 40, 1, 70, 9])
    assert loose.median_unsuccessful == 9  # of 1, 70, 9
    assert tight.successes == 0 and tight.aRT == math.inf
    assert tight.median_unsuccessful == 9  # of 1 (0 used, charged 1), 40, 1, 70, 9
    assert tight.restart_p10 == tight.restart_p90 == math.inf  # a restart never succeeds
    # every simulated restart ends in a success: at 1 or 25 plus whole failures of 1, 70, 9
    assert loose.restart_p10 in {1, 25} and loose.restart_p90 >= loose.restart_p10
    np.testing.assert_array_equal(
        agg.runtimes([0, 0.5, 3, NAN, math.inf]), [1, 1, 3, math.inf, math.inf]
    )
    np.testing.assert_array_equal(agg.charged([0, NAN, 7]), [1, 1, 7])


def test_bootstrap_of_two_runs_has_the_exact_distribution():
    # one success at 10, one failure that used 30:
    # resamples {S,S} → 10 (¼), {S,F} → 40 (½), {F,F} → inf (¼)
    q = agg.bootstrap_art([10, NAN], [10, 30], samples=4000, percentiles=(10, 50, 90), rng=3)
    assert q.tolist() == [10.0, 40.0, math.inf]


def test_bootstrap_equals_averaging_every_resample_drawn():
    # each resample's aRT written out draw by draw, from the same generator; evaluation
    # counts (whole numbers) and a fractional case, which takes the gathering path
    rng = np.random.default_rng(11)
    for frac in (0.0, 0.25):
        n = 37
        rt = rng.integers(1, 10**6, (n, 3)) + frac
        rt[rng.random((n, 3)) < 0.5] = math.inf
        used = rng.integers(1, 10**6, n).astype(float)
        got = agg.bootstrap_art(rt, used, samples=250, percentiles=(5, 50, 95), rng=4)
        idx = np.random.default_rng(4).integers(0, n, (250, n))
        want = np.empty((250, 3))
        for s in range(250):
            for j in range(3):
                ok = [math.isfinite(rt[i, j]) for i in idx[s]]
                cost = sum(rt[i, j] if good else used[i] for i, good in zip(idx[s], ok))
                want[s, j] = cost / sum(ok) if any(ok) else math.inf
        q = np.percentile(want, [5, 50, 95], axis=0, method="inverted_cdf")
        np.testing.assert_allclose(got, q, rtol=1e-15 if frac else 0)
        np.testing.assert_allclose(
            agg.bootstrap_art(rt[:, 1], used, 250, (5, 50, 95), 4), q[:, 1], rtol=1e-15 if frac else 0
        )


def test_bootstrap_is_seeded_per_group():
    full = agg.art_table(RUNS, targets=(1e-1,), seed=7)
    alone = agg.art_table(RUNS[RUNS.problem_key == "P1"], targets=(1e-1,), seed=7)
    cols = [c for c in full if c.startswith("aRT_p")]
    assert (
        full[full.problem_key == "P1"][cols].to_numpy().tolist() == alone[cols].to_numpy().tolist()
    )
    again = agg.art_table(RUNS, targets=(1e-1,), seed=7)
    pd.testing.assert_frame_equal(full, again)
    p10, p50, p90 = full[full.problem_key == "P1"][["aRT_p10", "aRT_p50", "aRT_p90"]].iloc[0]
    assert p10 <= p50 <= p90 and p10 >= 30  # no resample of these runs beats all-success at 10, 30


@pytest.mark.parametrize(
    "hits, used",
    [([10, NAN, 30, NAN], [50, 100, 60, 80]), ([10, NAN, 30, NAN, NAN], [50, 100, 60, 200, 150])],
)
def test_simulated_restarts_average_to_art(hits, used):
    # E[simulated RT] = mean(successes) + (1 − p)/p · mean(failures) = aRT exactly
    rt = agg.simulated_restarts(hits, used, samples=200_000, rng=0)
    assert rt.mean() == pytest.approx(coco_art(hits, used), abs=4 * rt.std() / math.sqrt(rt.size))
    assert rt.min() >= 10
    assert set(np.unique(rt[rt < 40])) <= {10.0, 30.0}  # no failure drawn: a success's own runtime
    assert np.all(np.isinf(agg.simulated_restarts([NAN], [5], samples=10)))


def test_ecdf_weighs_each_pair_equally():
    x, y = agg.ecdf([np.array([1.0, np.inf]), np.array([2.0, 3.0, 4.0, np.inf])])
    np.testing.assert_allclose(x, [1, 2, 3, 4])
    np.testing.assert_allclose(y, [0.25, 0.375, 0.5, 0.625])
    # a pair without runs, or one beyond the list, stays in the denominator; ties merge
    x, y = agg.ecdf([np.array([2.0, 2.0]), np.array([])], pairs=4)
    assert x.tolist() == [2.0] and y.tolist() == [0.25]


def test_runtime_ecdf_by_hand():
    ecdf = agg.runtime_ecdf(RUNS, targets=(1e-1, 1e-2))
    a = ecdf[ecdf.label == "A"]
    # 4 (problem, target) pairs; P1 pairs have 4 runs (1/16 each), P2 pairs 2 runs (1/8 each)
    assert a.cost.tolist() == [5, 7, 9, 10, 20, 30]
    np.testing.assert_allclose(
        a.fraction, [1 / 8, 2 / 8, 3 / 8, 7 / 16, 8 / 16, 9 / 16], rtol=1e-15
    )
    assert (a.pairs == 4).all()
    scaled = agg.runtime_ecdf(RUNS.assign(dim=2.0), targets=(1e-1, 1e-2), scale="dim")
    np.testing.assert_allclose(scaled.cost, a.cost / 2)
    # B ran P2 only: P1's two pairs stay in its denominator, unsolved
    with_b = pd.concat([RUNS, frame([("P2", "B", 0, "converged", 4, 3, 4, 3)])])
    b = agg.runtime_ecdf(with_b, targets=(1e-1, 1e-2))
    b = b[b.label == "B"]
    assert b.cost.tolist() == [3, 4] and b.fraction.tolist() == [1 / 4, 2 / 4]
    assert (b.pairs == 4).all()


def test_runtime_ecdf_with_restarts_reaches_the_solved_share():
    ecdf = agg.runtime_ecdf(RUNS, targets=(1e-1, 1e-2), restarts=500, seed=2)
    # every pair has a success, so with restarts every pair is eventually solved
    assert ecdf.fraction.iloc[-1] == pytest.approx(1.0, rel=1e-12)
    assert ecdf.cost.is_monotonic_increasing


PROFILE = frame(
    [
        ("p", "A", 1, "converged", 100, 10, NAN, 5),
        ("p", "B", 1, "converged", 100, 20, NAN, 8),
        ("p", "A", 2, "converged", 100, 30, NAN, 9),
        ("p", "B", 2, "converged", 100, 15, NAN, NAN),
        ("p", "A", 3, "budget", 100, NAN, NAN, 12),
        ("p", "B", 3, "converged", 100, 40, NAN, 3),
    ]
)


def test_performance_profile_by_hand():
    r = agg.performance_ratios(PROFILE, 1e-1)
    assert r["A"].tolist() == [1.0, 2.0, math.inf] and r["B"].tolist() == [2.0, 1.0, 1.0]
    prof = agg.performance_profile(PROFILE, 1e-1, taus=[1, 1.5, 2, 100])
    rho = {(s, t): v for s, t, v in prof.itertuples(index=False)}
    assert [rho["A", t] for t in (1, 1.5, 2, 100)] == [1 / 3, 1 / 3, 2 / 3, 2 / 3]
    assert [rho["B", t] for t in (1, 1.5, 2, 100)] == [2 / 3, 2 / 3, 1.0, 1.0]
    default = agg.performance_profile(PROFILE, 1e-1)
    assert sorted(default.tau.unique()) == [1.0, 2.0]


def test_cost_matrix_charges_failures_and_missing_solvers():
    t = agg.cost_matrix(PROFILE, 1e-1, solvers=["B", "A", "C"])
    assert list(t.columns) == ["B", "A", "C"]
    assert t["A"].tolist() == [10, 30, math.inf] and t["B"].tolist() == [20, 15, 40]
    assert np.isinf(t["C"]).all()  # C has no run: it failed every instance
    two = pd.concat([PROFILE, frame([("p", "A", 1, "budget", 70, NAN, NAN, NAN)])])
    assert agg.cost_matrix(two, 1e-1)["A"].iloc[0] == (10 + 70) / 1  # several runs: their aRT


def test_profile_matrices_by_hand():
    T = np.array([[1.0, 2.0], [4.0, 2.0], [np.inf, 3.0], [np.inf, np.inf]])
    rho = agg.performance_profile_matrix(T, [1.0, 2.0, 1.5])
    # ratios: p0 (1, 2), p1 (2, 1), p2 (inf, 1), p3 all failed
    np.testing.assert_allclose(rho, [[0.25, 0.5], [0.5, 0.75], [0.25, 0.5]])
    d = agg.data_profile_matrix(T, [0.5, 1.0, 2.0], dims=[1, 1, 2, 3])
    # t/(n+1): p0 (0.5, 1), p1 (2, 1), p2 (inf, 1), p3 (inf, inf)
    np.testing.assert_allclose(d, [[0.25, 0.0], [0.25, 0.75], [0.5, 0.75]])


def test_profile_area_by_hand():
    # ρ = 0.5 on [1, 2), 1 from 2 on: ∫_1^4 = 0.5 + 2 = 2.5, normalized by 3
    assert agg.profile_area([1.0, 2.0], [0.5, 1.0]) == pytest.approx(2.5 / 3, rel=1e-15)
    assert agg.profile_area([1.0, 2.0, 8.0], [0.5, 1.0, 1.0]) == pytest.approx(2.5 / 3, rel=1e-15)
    assert agg.profile_area([1.0], [1.0]) == 1.0


def test_data_profile_by_hand():
    prof = agg.data_profile(PROFILE, 1e-3, dims={"p": 1}, alphas=[2, 4, 6])
    d = {(s, a): v for s, a, v in prof.itertuples(index=False)}
    # costs / (n + 1): A 2.5, 4.5, 6; B 4, inf, 1.5
    assert [d["A", a] for a in (2, 4, 6)] == [0, 1 / 3, 1.0]
    assert [d["B", a] for a in (2, 4, 6)] == [1 / 3, 2 / 3, 2 / 3]


def test_a_real_store_round_trip(tmp_path):
    import optbench

    res = optbench.run(
        problems=["quadratic-1d"],
        optimizers=["gd[lr=[0.3/L,1.5/L]]", "random-search"],
        seeds=3,
        budget=60,
        out=tmp_path / "o",
        report=False,
    )
    runs = optbench.load(res.db)
    table = agg.art_table(runs, targets=(1e-4,))
    for (label, _), g in runs.groupby(["label", "problem_key"]):
        row = table[table.label == label].iloc[0]
        hits = g["hit_cost_1e-4"].to_numpy(dtype=float)
        assert row.aRT == coco_art(list(hits), list(g.evals)) or (
            math.isinf(row.aRT) and np.isnan(hits).all()
        )
        assert row.successes == int(np.isfinite(hits).sum())
