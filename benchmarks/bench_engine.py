"""Target 1: a vectorized GD sweep costs at least 5× less per run than a plain numpy loop.

The sweep is the lesson's: GD on ``linear-regression[n=200]``, learning rates
``log(1e-3,0.1,20)`` × 5 seeds × 100 iterations, the loss recorded at every iterate. The
engine's cost is measured end to end — ``make_plan`` (expansion, resolution, run
identities) plus ``run_batch`` on every batch (recording, live statuses, metrics) — at the
base size and at 10× the runs; the *marginal* cost per run is the slope between the two,
so fixed costs (imports, building the problem) do not flatter either side.

The baseline is what a student would write: one run at a time, 100 iterations of
``r = A@θ − y; loss = mean(r²); g = 2/n·Aᵀr; θ −= lr·g``, the loss kept in an array. Both
sides are checked to compute the same losses before anything is timed.
"""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest

PROBLEM = "linear-regression[n=200]"
N_POINTS = 200
ITERS = 100
BASE = (20, 5)  # learning rates, seeds
TARGET = 5.0


def _optimizer(n_lr: int) -> str:
    return f"gd[lr=log(1e-3,0.1,{n_lr})]"


def _plan(n_lr: int, seeds: int):
    from optbench.plan import make_plan

    # tol = 0: every run takes all 100 iterations, exactly like the plain loop
    return make_plan([PROBLEM], [_optimizer(n_lr)], seeds=seeds, budget=None, max_iter=ITERS,
                     tol=0.0)


def _engine(n_lr: int, seeds: int) -> list:
    from optbench.runner import run_batch

    plan = _plan(n_lr, seeds)
    return [res for batch in plan.batches for res in run_batch(batch)]


def _data() -> tuple[np.ndarray, np.ndarray]:
    """The problem's data, made here the way the problem's docstring says (checked below)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 2.0, N_POINTS)
    y = 3.0 * x + 2.0 + rng.standard_normal(N_POINTS)
    return np.column_stack([x, np.ones(N_POINTS)]), y


def _plain_run(A: np.ndarray, y: np.ndarray, lr: float, theta0: np.ndarray) -> np.ndarray:
    n = A.shape[0]
    theta = theta0.copy()
    losses = np.empty(ITERS + 1)
    for t in range(ITERS):
        residual = A @ theta - y
        losses[t] = np.mean(residual**2)
        grad = (2.0 / n) * (A.T @ residual)
        theta -= lr * grad
    residual = A @ theta - y
    losses[ITERS] = np.mean(residual**2)
    return losses


def _runs(n_lr: int, seeds: int) -> list[tuple[str, float, np.ndarray]]:
    """(run_id, lr, start point) of every run of the sweep, as the engine draws them."""
    from optbench.plan import build_problem, start_point

    plan = _plan(n_lr, seeds)
    problem = build_problem(plan.runs[0].problem)
    return [(r.run_id, float(r.optimizer.params["lr"]), start_point(problem, r.problem, r.seed))
            for r in plan.runs]


def _collect() -> None:
    gc.collect()


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()  # no garbage left over from the previous round to pay for
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("scale", ["lr", "seeds"], ids=["200-learning-rates", "50-seeds"])
def test_gd_sweep_marginal_cost_per_run_vs_plain_numpy(benchmark, tools, scale):
    n_lr, seeds = BASE
    big = (n_lr * 10, seeds) if scale == "lr" else (n_lr, seeds * 10)
    quiet = tools.wait_for_quiet()
    A, y = _data()

    # the same arithmetic on both sides: the engine's recorded losses are the plain loop's
    small_runs = _runs(n_lr, seeds)
    by_id = {res.run_id: res for res in _engine(n_lr, seeds)}
    for run_id, lr, x0 in small_runs[:: len(small_runs) // 10]:
        np.testing.assert_allclose(by_id[run_id].trace["f"], _plain_run(A, y, lr, x0), rtol=1e-9)
        assert by_id[run_id].status == "max-iter"

    big_runs = _runs(*big)
    n_small, n_big = len(small_runs), len(big_runs)

    def plain(runs):
        for _, lr, x0 in runs:
            _plain_run(A, y, lr, x0)

    t_small = _best(lambda: _engine(n_lr, seeds), 7)
    benchmark.pedantic(lambda: _engine(*big), rounds=5, iterations=1, warmup_rounds=1,
                       setup=_collect)
    t_big = benchmark.stats.stats.min
    p_small = _best(lambda: plain(small_runs), 3)
    p_big = _best(lambda: plain(big_runs), 3)

    engine_marginal = (t_big - t_small) / (n_big - n_small)
    plain_marginal = (p_big - p_small) / (n_big - n_small)
    ratio = plain_marginal / engine_marginal
    tools.report(benchmark, runs_small=n_small, runs_big=n_big,
                 engine_small_s=t_small, engine_big_s=t_big, plain_small_s=p_small,
                 plain_big_s=p_big, engine_us_per_run=engine_marginal * 1e6,
                 plain_us_per_run=plain_marginal * 1e6, ratio=ratio, target=TARGET,
                 busy_cpus_after=round(tools.busy_cpus(), 2), **quiet)
    assert ratio >= TARGET, (f"the engine costs {engine_marginal * 1e6:.0f} µs per extra run, the "
                             f"plain loop {plain_marginal * 1e6:.0f} µs: {ratio:.2f}× < {TARGET}×")
