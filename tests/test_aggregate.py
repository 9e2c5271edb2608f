"""Across-run statistics against hand computations on hand-made frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optbench import aggregate as agg


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


def test_bootstrap_of_two_runs_has_the_exact_distribution():
    # one success at 10, one failure that used 30:
    # resamples {S,S} → 10 (¼), {S,F} → 40 (½), {F,F} → inf (¼)
    q = agg.bootstrap_art([10, NAN], [10, 30], samples=4000, percentiles=(10, 50, 90), rng=3)
    assert q.tolist() == [10.0, 40.0, math.inf]


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


def test_simulated_restarts_average_to_art():
    hits, used = [10, NAN, 30, NAN], [50, 100, 60, 80]
    rt = agg.simulated_restarts(hits, used, samples=200_000, rng=0)
    assert rt.mean() == pytest.approx(coco_art(hits, used), abs=4 * rt.std() / math.sqrt(rt.size))
    assert set(np.unique(rt[rt < 40])) <= {10.0, 30.0}  # no failure drawn: a success's own runtime
    assert np.all(np.isinf(agg.simulated_restarts([NAN], [5], samples=10)))


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
