"""Wall-clock as a cost axis: ``hit_time_*`` metrics against the recorded clock, the
report's time axis, the per-update overhead table and its warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest

import optbench
from optbench.metrics import REL_TARGETS, TARGETS, target_key
from optbench.plan import make_plan
from optbench.runner import run_batch
from optbench.store import THIN_ABOVE

H, C = 2.0, 1.5  # quadratic-1d: ½·h·(x − c)², f* = 0


def _run(problem, optimizers, seeds=2, budget=200, tol=0.0):
    plan = make_plan([problem], optimizers, seeds=seeds, budget=budget, tol=tol)
    by_id = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return plan, [by_id[r.run_id] for r in plan.runs]


def _first_hit(f, thr):
    """The first t with min_{s≤t} f_s ≤ thr, by a plain loop (None: never)."""
    best = math.inf
    for t, v in enumerate(f):
        if math.isfinite(v):
            best = min(best, v)
        if best <= thr:
            return t
    return None


def test_hit_time_is_the_clock_at_the_first_hit_of_an_unthinned_run():
    # 0.3/L converges, 2.1/L diverges (never hits), 1e-3/L hits only the loose targets
    _, results = _run("quadratic-1d", ["gd[lr=[0.3/L,2.1/L,1e-3/L]]"], seeds=2, budget=150)
    seen_hit = seen_never = 0
    for res in results:
        tr, m = res.trace, res.metrics
        assert len(tr["f"]) <= THIN_ABOVE and np.array_equal(tr["t"], np.arange(len(tr["f"])))
        gap = tr["f"] - 0.0
        cost = tr["n_f"] + tr["n_g"]
        for eps in TARGETS:
            k = target_key(eps)
            t = _first_hit(gap, eps)
            if t is None:
                seen_never += 1
                assert m[f"hit_time_{k}"] is None and m[f"hit_cost_{k}"] is None
                continue
            seen_hit += 1
            assert m[f"hit_iter_{k}"] == t
            assert m[f"hit_cost_{k}"] == cost[t]  # the same iterate as the cost
            assert m[f"hit_time_{k}"] == tr["time"][t]
            assert m[f"hit_time_{k}"] <= tr["time"][-1]
        for tau in REL_TARGETS:
            k = target_key(tau)
            t = _first_hit(gap, tau * gap[0])
            got = m[f"rel_hit_time_{k}"]
            assert (got is None) == (t is None)
            if t is not None:
                assert got == tr["time"][t] == tr["time"][m[f"rel_hit_iter_{k}"]]
    assert seen_hit and seen_never


def test_hit_time_is_exact_on_a_thinned_trace_and_never_after_its_last_time(tmp_path):
    lr, budget = 0.005, 2000
    res = optbench.run(problems=["quadratic-1d"], optimizers=[f"gd[lr={lr}]", "gd[lr=0.3/L]"],
                       seeds=2, budget=budget, tol=0.0, out=tmp_path / "r", report=False)
    frame = res.runs
    thinned = 0
    for _, run in frame.iterrows():
        tr = optbench.load_trace(tmp_path / "r", run["run_id"])
        n = int(run["n_iter"]) + 1
        thinned += len(tr["f"]) < n
        # the stored metric is the clock at the first hit, which thinning keeps
        x0 = float(np.asarray(tr["x"]).reshape(len(tr["f"]), -1)[0, 0])
        step = float(run["hp.lr"])
        x, gaps = x0, []
        for _ in range(n):  # a direct loop of the same descent gives the hit iterates
            gaps.append(0.5 * H * (x - C) ** 2)
            x = x - step * H * (x - C)
        for eps in TARGETS:
            k = target_key(eps)
            t = _first_hit(gaps, eps)
            got = run[f"hit_time_{k}"]
            if t is None:
                assert got is None or math.isnan(got)
                continue
            assert got <= tr["time"][-1]
            (row,) = np.flatnonzero(tr["t"] == t)
            assert got == tr["time"][row]
            assert run[f"hit_cost_{k}"] == tr["n_f"][row] + tr["n_g"][row]
    assert thinned >= 2


def test_the_runs_of_a_batch_share_one_clock_and_seconds_is_each_ones_share():
    plan, results = _run("quadratic-1d", ["gd[lr=[0.1/L,0.9/L,1.9/L]]"], seeds=2, budget=80)
    (batch,) = plan.batches
    times = [r.trace["time"] for r in results]
    longest = max(times, key=len)
    for t in times:  # every run's clock is a prefix of the batch's
        np.testing.assert_array_equal(t, longest[: len(t)])
    assert len({r.seconds for r in results}) == 1
    # the share: the batch's whole wall time (its clock and more) over its runs
    assert results[0].seconds * len(batch.runs) >= longest[-1]
