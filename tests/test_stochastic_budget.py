"""Stochastic problems run to their budget: no stop rule reads the progress of the noisy
iterates (``stalled``, ``cycle``) unless ``noisy_stops`` turns it on, and ``converged`` means
the full-data gap went below ``tol``. The README's tutorial step 3 quotes numbers that the
lesson's test (``tests/test_lesson.py``) recomputes from the same command."""

from __future__ import annotations

import numpy as np
import pytest

import optbench
from optbench.errors import UsageError
from optbench.plan import make_plan
from optbench.runner import run_batch

MINIBATCH = "linear-regression[standardize=true,batch_size=10,noise=2]"


def _statuses(problem, optimizer, budget=2000, seeds=3, **kw):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget, **kw)
    return [r for b in plan.batches for r in run_batch(b)]


def test_noisy_stops_turns_the_stall_rule_back_on():
    runs = _statuses(MINIBATCH, "gd[lr=0.5/L]")
    assert {r.status for r in runs} == {"budget"}
    runs = _statuses(MINIBATCH, "gd[lr=0.5/L]", noisy_stops=True)
    assert {r.status for r in runs} == {"stalled"}
    assert all(r.summary.n_g < 2000 for r in runs)


def test_noisy_quadratic_runs_to_its_budget():
    runs = _statuses("noisy-quadratic", "gd[lr=0.5/L]", budget=1500, seeds=5)
    # a noisy iterate may pass within tol of x* (its gap ½·h·x² ≤ 1e-8): that is converged
    assert {r.status for r in runs} <= {"budget", "converged"}
    assert "budget" in {r.status for r in runs}
    for r in runs:
        if r.status == "budget":
            assert r.summary.n_g == 1500
        else:
            assert r.metrics["gap_best"] <= 1e-8


def test_deterministic_problems_still_stall_and_keep_their_ids():
    # random search on the line fit stalls (README step 1): the option changes nothing there
    runs = _statuses("linear-regression", "random-search", budget=500, seeds=4)
    assert "stalled" in {r.status for r in runs}
    a = make_plan(["quadratic-1d"], ["gd"], seeds=2)
    b = make_plan(["quadratic-1d"], ["gd"], seeds=2, noisy_stops=True)
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    a = make_plan([MINIBATCH], ["gd"], seeds=2)
    b = make_plan([MINIBATCH], ["gd"], seeds=2, noisy_stops=True)
    assert not {r.run_id for r in a.runs} & {r.run_id for r in b.runs}


def test_converged_reads_the_full_data_gap():
    """A converged run's last iterate is within tol of f* on the full data (recomputed here
    from the data by numpy's least squares), and no earlier stored iterate was."""
    rng = np.random.default_rng(0)  # the data, as problems/linear_regression.py makes them
    x = rng.uniform(0.0, 2.0, 100)
    y = 3.0 * x + 2.0 + 2.0 * rng.standard_normal(100)
    x = (x - x.mean()) / x.std()
    A = np.column_stack([x, np.ones(100)])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]

    def gap(th):
        th = np.asarray(th, dtype=float).reshape(-1, 2)
        return np.mean((th @ A.T - y) ** 2, axis=1) - np.mean((A @ theta - y) ** 2)

    tol = 2e-4  # budget 500: traces of 501 iterates, stored whole
    plan = make_plan([MINIBATCH], ["gd[lr=0.5/L]"], seeds=8, budget=500, tol=tol)
    runs = [r for b in plan.batches for r in run_batch(b)]
    conv = [r for r in runs if r.status == "converged"]
    assert conv and len(conv) < len(runs)  # some runs pass within tol, some never do
    for r in runs:
        g = gap(r.trace["x"])
        if r.status == "converged":
            assert g[-1] <= tol * (1 + 1e-9) and (g[:-1] > tol).all()
        else:
            assert r.status == "budget" and (g > tol).all()


def test_the_option_is_checked_and_reaches_the_cli(tmp_path, cli):
    with pytest.raises(UsageError, match="noisy_stops must be true or false"):
        optbench.run({"problems": [MINIBATCH], "optimizers": ["gd"], "noisy_stops": "yes"},
                     out=tmp_path / "a", report=False)
    res = cli("run", "-p", MINIBATCH, "-o", "gd[lr=0.5/L]", "--seeds", "2", "--budget", "1000",
              "--noisy-stops", "--no-report", "--quiet", "--out", str(tmp_path / "b"))
    assert res.returncode == 0, res.stderr
    assert set(optbench.load(tmp_path / "b").status) == {"stalled"}
