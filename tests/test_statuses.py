"""The iteration limit: a run that reaches ``max_iter`` updates with evaluations to spare
stops with status ``max-iter`` (the last of the statuses in ``docs/methodology.md``), after
exactly ``max_iter`` updates, where a hand-written loop of the same updates ends; when the
budget runs out at the same update, ``budget`` (earlier in the order) wins."""

from __future__ import annotations

import numpy as np
import pytest

import optbench
from optbench.plan import build_problem, make_plan, resolve_problem, start_point
from optbench.runner import run_batch
from optbench.spec import parse


def _run(optimizer: str, *, budget: int, max_iter: int, seeds: int = 2):
    plan = make_plan(["rosenbrock"], [optimizer], seeds=seeds, budget=budget, max_iter=max_iter,
                     tol=0.0)
    results = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return [(run, results[run.run_id]) for run in plan.runs]


def _rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    """∇ of 100 (y − x²)² + (1 − x)², written out."""
    a, b = x
    return np.array([-400.0 * a * (b - a * a) - 2.0 * (1.0 - a), 200.0 * (b - a * a)])


def test_a_stepped_run_stops_at_max_iter_where_a_hand_loop_ends():
    lr, n = 1e-3, 7  # 7 small steps on the banana valley: far from converging or stalling
    runs = _run(f"gd[lr={lr}]", budget=1000, max_iter=n)
    problem = build_problem(resolve_problem(parse("rosenbrock")))
    assert len(runs) == 2
    for run, r in runs:
        assert r.status == "max-iter", (r.status, r.message)
        assert r.summary.n_iter == n
        assert r.summary.n_g == n and r.summary.n_f == 0  # 7 of 1000 evaluations spent
        x = start_point(problem, run.problem, run.seed)
        for _ in range(n):
            x = x - lr * _rosenbrock_grad(x)
        np.testing.assert_allclose(r.summary.x_final, x, rtol=1e-12)


def test_a_run_that_owns_its_loop_stops_at_max_iter():
    import scipy.optimize

    [(run, r)] = _run("scipy-bfgs", budget=1000, max_iter=5, seeds=1)
    assert r.status == "max-iter", (r.status, r.message)
    assert r.summary.n_iter == 5
    # scipy's own BFGS, stopped after 5 iterations, is where the run stopped
    problem = build_problem(resolve_problem(parse("rosenbrock")))
    x0 = start_point(problem, run.problem, run.seed)
    direct = scipy.optimize.minimize(
        lambda x: float(problem.f(x[None])[0]), x0, jac=lambda x: problem.grad(x[None])[0],
        method="BFGS", options={"maxiter": 5, "gtol": 0.0},
    )
    assert direct.nit == 5
    np.testing.assert_allclose(r.summary.x_final, direct.x, rtol=1e-9)


@pytest.mark.parametrize("max_iter", [7, 8])
def test_the_budget_wins_when_both_limits_are_met(max_iter):
    # gd spends one gradient per update: 7 evaluations end the 7th update
    for _, r in _run("gd[lr=0.001]", budget=7, max_iter=max_iter):
        assert r.status == "budget", (r.status, r.message)
        assert r.summary.n_iter == 7


def test_max_iter_is_stored_and_loaded(tmp_path):
    res = optbench.run(problems="rosenbrock", optimizers="gd[lr=0.001]", seeds=2, budget=1000,
                       max_iter=7, tol=0.0, out=tmp_path / "out", report=False)
    frame = optbench.load(res.db)
    assert frame.status.tolist() == ["max-iter", "max-iter"]
    assert frame.n_iter.astype(int).tolist() == [7, 7]
    assert frame.max_iter.astype(int).tolist() == [7, 7]
