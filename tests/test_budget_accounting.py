"""Evaluations spent inside an update the budget interrupts are recorded: the run's charge
(``n_f``, ``n_g``) and its trace's last point equal what a direct loop of the real library
spends under the same budget (torch's LBFGS, cma, scipy's Nelder-Mead)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from optbench.plan import build_problem, make_plan, start_point
from optbench.runner import run_batch

BUDGET = 55


def _one(problem: str, optimizer: str, budget: int = BUDGET):
    plan = make_plan([problem], [optimizer], seeds=1, budget=budget, tol=0.0)
    (run,) = plan.runs
    (res,) = [r for b in plan.batches for r in run_batch(b)]
    prob = build_problem(run.problem)
    return res, prob, start_point(prob, run.problem, run.seed)


def _charged(res) -> int:
    """The stored charge, checked against the trace's last point."""
    tr = res.trace
    assert res.summary.n_f == tr["n_f"][-1] and res.summary.n_g == tr["n_g"][-1]
    return res.summary.n_f + res.summary.n_g


class Spent(Exception):
    pass


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_torch_lbfgs_charges_the_closure_calls_of_an_interrupted_step():
    import torch

    res, prob, x0 = _one("rosenbrock", "torch[cls=torch.optim.LBFGS,lr=1,max_iter=20]")
    # the direct loop: every closure call is one f and one gradient
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([p], lr=1, max_iter=20)
    used = 0

    def closure():
        nonlocal used
        if used + 2 > BUDGET:
            raise Spent
        used += 2
        x = p.detach().numpy().reshape(1, -1)
        f, g = prob.value_and_grad(x)
        p.grad = torch.from_numpy(np.array(g, dtype=float).reshape(-1))
        return torch.tensor(float(f[0]), dtype=torch.float64)

    with pytest.raises(Spent):
        for _ in range(100):
            opt.step(closure)
    assert used == 54  # 27 closure calls; the first step() made 20 of them
    assert res.status == "budget"
    assert res.summary.n_f == res.summary.n_g == used // 2
    assert _charged(res) == used
    # the last point is the iterate after the last completed step(), at the full charge
    np.testing.assert_array_equal(res.trace["x"][-1], res.trace["x"][-2])


@pytest.mark.skipif(importlib.util.find_spec("cma") is None, reason="needs cma")
def test_cma_charges_a_partly_evaluated_generation():
    import cma

    res, prob, x0 = _one("rosenbrock", "cma[sigma0=0.3,popsize=10]")
    es = cma.CMAEvolutionStrategy(x0, 0.3, {"popsize": 10, "verbose": -9, "seed": 1})
    used = 0
    with pytest.raises(Spent):
        while True:
            X = es.ask()
            F = []
            for x in X:
                if used + 1 > BUDGET:
                    raise Spent
                used += 1
                F.append(float(prob.f(np.asarray(x).reshape(1, -1))[0]))
            es.tell(X, F)
    assert used == 55  # five generations and 5 points of the sixth
    assert res.status == "budget"
    assert _charged(res) == used == res.summary.n_f
    assert res.summary.n_iter == 6  # five told generations and the interrupted one
    # the incumbent is the best of the told generations: the untold points do not move it
    np.testing.assert_array_equal(res.trace["x"][-1], res.trace["x"][-2])
    assert res.trace["f"][-1] == res.trace["f"][-2]


@pytest.mark.parametrize("optimizer,method", [("scipy-nelder-mead[bounded=false]", "Nelder-Mead"),
                                              ("scipy-powell[bounded=false]", "Powell")])
def test_scipy_owned_loop_charges_evaluations_after_its_last_report(optimizer, method):
    from scipy.optimize import minimize

    res, prob, x0 = _one("rosenbrock", optimizer)
    used = 0

    def f(x):
        nonlocal used
        if used + 1 > BUDGET:
            raise Spent
        used += 1
        return float(prob.f(np.asarray(x, dtype=float).reshape(1, -1))[0])

    with pytest.raises(Spent):
        minimize(f, x0, method=method, options={"maxiter": 10**9, "maxfev": 10**9})
    assert used == BUDGET
    assert res.status == "budget"
    assert _charged(res) == used


def test_a_run_refused_at_its_first_evaluation_of_an_update_gets_no_extra_point():
    # gradient descent is refused before it spends anything in the update: nothing to add
    res, _, _ = _one("rosenbrock", "gd[lr=1e-4]", budget=7)
    assert res.status == "budget"
    assert _charged(res) == 7 and res.summary.n_iter == 7
