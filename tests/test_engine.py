"""The engine against independent truth: closed forms, lstsq, scipy, finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import optbench
from optbench import registry
from optbench.oracle import Oracle
from optbench.plan import Batch, build_problem, make_plan, resolve_problem, start_point
from optbench.runner import run_batch
from optbench.spec import Spec, parse


def _run(problem: str, optimizer: str, seeds=1, budget=200, max_iter=None, tol=1e-8):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget, max_iter=max_iter, tol=tol)
    results = [r for b in plan.batches for r in run_batch(b)]
    return plan, {r.run_id: r for r in results}


def _central_diff(problem, X, h=1e-6):
    g = np.zeros_like(X)
    for j in range(X.shape[1]):
        E = np.zeros_like(X)
        E[:, j] = h
        g[:, j] = (problem.f(X + E) - problem.f(X - E)) / (2 * h)
    return g


# -- gradient descent on the 1-D quadratic: x_t - x* = (1 - lr L)^t (x_0 - x*) ---------------


@pytest.mark.parametrize("lr_L", [0.3, 0.9, 1.0, 1.4, 1.9])
def test_gd_on_quadratic_matches_the_closed_form(lr_L):
    h, c = 2.0, 1.5
    plan, res = _run("quadratic-1d", f"gd[lr={lr_L}/L]", seeds=3, budget=60, tol=0.0)
    for run in plan.runs:
        r = res[run.run_id]
        x = r.trace["x"][:, 0]
        t = np.arange(len(x))
        expected = c + (1 - lr_L) ** t * (x[0] - c)
        np.testing.assert_allclose(x, expected, rtol=1e-12, atol=1e-15 * abs(x[0] - c) + 1e-300)
        assert r.trace["lr"] == pytest.approx(np.full(len(x) - 1, lr_L / h), rel=1e-15)
        if lr_L == 1.0:
            assert x[1] == c  # one step lands on x* (a Newton step)
        assert r.status in ("stalled", "budget", "converged", "max-iter")


def test_gd_divergence_is_detected_at_the_predicted_step():
    # |e_t| = 1.2^t |e_0|; gap_t = gap_0 * 1.44^t passes 1e6 * gap_0 at t = ceil(ln 1e6 / ln 1.44) = 38
    plan, res = _run("quadratic-1d", "gd[lr=2.2/L]", seeds=4, budget=1000)
    for run in plan.runs:
        r = res[run.run_id]
        assert r.status == "diverged"
        assert r.summary.n_iter == int(np.ceil(np.log(1e6) / np.log(1.44)))
        x = r.trace["x"][:, 0]
        np.testing.assert_allclose(x - 1.5, (-1.2) ** np.arange(len(x)) * (x[0] - 1.5), rtol=1e-12)


def test_period_two_at_lr_two_over_L_never_converges():
    plan, res = _run("quadratic-1d", "gd[lr=2/L]", seeds=1, budget=50)
    r = res[plan.runs[0].run_id]
    x = r.trace["x"][:, 0]
    np.testing.assert_allclose(x[2:], x[:-2], rtol=0, atol=1e-12)
    assert r.status == "cycle"  # a period-2 orbit (docs/methodology.md#run-statuses)


# -- linear regression ----------------------------------------------------------------------


@pytest.mark.parametrize("params", ["", "[standardize=true]", "[noise=3,n=40,slope=-1]"])
def test_linear_regression_optimum_is_lstsq(params):
    spec = resolve_problem(parse("linear-regression" + params))
    p = build_problem(spec)
    rng = np.random.default_rng(int(spec.params["data_seed"]))
    n = int(spec.params["n"])
    x = rng.uniform(spec.params["x_low"], spec.params["x_high"], n)
    y = (
        spec.params["slope"] * x
        + spec.params["intercept"]
        + spec.params["noise"] * rng.standard_normal(n)
    )
    if spec.params["standardize"]:
        x = (x - x.mean()) / x.std()
    A = np.column_stack([x, np.ones(n)])
    theta, *_ = np.linalg.lstsq(A, y, rcond=None)
    np.testing.assert_allclose(p.x_star[0], theta, rtol=1e-12)
    assert p.f_star == pytest.approx(np.mean((A @ theta - y) ** 2), rel=1e-12)
    H = 2 / n * A.T @ A
    assert p.L == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-12)
    np.testing.assert_allclose(p.grad(p.x_star), 0, atol=1e-10)


@pytest.mark.parametrize(
    "name", ["quadratic-1d", "linear-regression", "linear-regression[standardize=true]"]
)
def test_gradients_match_central_differences(name):
    p = build_problem(resolve_problem(parse(name)))
    X = np.random.default_rng(1).uniform(p.lower, p.upper, (6, p.dim))
    np.testing.assert_allclose(p.grad(X), _central_diff(p, X), rtol=1e-6, atol=1e-6)
    f, g = p.value_and_grad(X)
    np.testing.assert_allclose(f, p.f(X), rtol=1e-14)
    np.testing.assert_allclose(g, p.grad(X), rtol=1e-14)


def test_standardized_regression_gd_at_one_over_L_lands_in_one_step():
    plan, res = _run("linear-regression[standardize=true]", "gd[lr=1/L]", seeds=2, budget=10)
    for run in plan.runs:
        r = res[run.run_id]
        assert r.status == "converged" and r.summary.n_iter == 1


# -- scipy baseline -------------------------------------------------------------------------


def test_scipy_baseline_matches_a_direct_scipy_call():
    from scipy.optimize import minimize

    plan, res = _run("linear-regression", "scipy-bfgs", seeds=3, budget=10_000, tol=0.0)
    for run in plan.runs:
        r = res[run.run_id]
        p = build_problem(run.problem)
        x0 = start_point(p, run.problem, run.seed)
        direct = minimize(
            lambda x: p.f(x[None])[0],
            x0,
            jac=lambda x: p.grad(x[None])[0],
            method="BFGS",
            options={"gtol": 1e-5},
        )
        assert r.summary.n_f == direct.nfev
        assert r.summary.n_g == direct.njev
        np.testing.assert_allclose(r.summary.x_final, direct.x, rtol=1e-12)
        np.testing.assert_allclose(direct.x, p.x_star[0], rtol=1e-4)
        # scipy stops by itself; at its last iterate the gap may round to <= 0 (= tol)
        assert r.status == "converged" or (r.status == "stalled" and "success" in r.message.lower())


def test_scipy_baseline_stops_at_its_budget():
    plan, res = _run("linear-regression", "scipy-bfgs", seeds=1, budget=7, tol=0.0)
    r = res[plan.runs[0].run_id]
    assert r.status == "budget"
    assert r.summary.n_f + r.summary.n_g <= 7


# -- oracle: counts and budgets ---------------------------------------------------------------


def test_oracle_counts_and_freezes_a_run_mid_batch():
    p = build_problem(resolve_problem(Spec("quadratic-1d", {})))
    oracle = Oracle(p, 3, budget=np.array([5, 2, 3]))
    X = np.zeros((3, 1))
    oracle.grad(X)
    oracle.f(X)
    assert oracle.n_g.tolist() == [1, 1, 1] and oracle.n_f.tolist() == [1, 1, 1]
    f, g = oracle.value_and_grad(X)  # costs 2: runs 1 (2 left: 0) and 2 (1 left) are refused
    assert oracle.active.tolist() == [True, False, False]
    assert np.isnan(f[1:]).all() and np.isfinite(f[0])
    assert oracle.cost.tolist() == [4, 2, 2]
    oracle.f(X)
    oracle.f(X)  # run 0 now at 5: refused
    assert oracle.cost.tolist() == [5, 2, 2]
    assert oracle.exhausted.tolist() == [True, True, True]


def test_budget_is_exact_for_gd_and_random_search():
    for opt, per_step in (("gd[lr=0.01]", 1), ("random-search", None)):
        plan, res = _run("quadratic-1d", opt, seeds=3, budget=37, tol=0.0)
        for run in plan.runs:
            r = res[run.run_id]
            cost = r.summary.n_f + r.summary.n_g
            # tol = 0 and 37 evaluations: none of these runs can converge or stall first
            assert r.status == "budget" and cost == 37
            if per_step:
                assert r.summary.n_g == r.summary.n_iter and r.summary.n_f == 0


def test_a_batch_equals_its_runs_one_at_a_time():
    plan = make_plan(
        ["linear-regression"], ["gd[lr=[0.5/L,1.5/L,1.9/L]]", "random-search"], seeds=4, budget=150
    )
    assert any(len(b.runs) > 1 for b in plan.batches)
    for batch in plan.batches:
        together = {r.run_id: r for r in run_batch(batch)}
        for run in batch.runs:
            (alone,) = run_batch(Batch(0, [run], batch.batchable))
            both = together[run.run_id]
            assert alone.status == both.status and alone.summary.n_iter == both.summary.n_iter
            np.testing.assert_allclose(alone.trace["f"], both.trace["f"], rtol=1e-12, atol=1e-300)
            np.testing.assert_allclose(alone.trace["x"], both.trace["x"], rtol=1e-12)
            assert (alone.trace["n_g"] == both.trace["n_g"]).all()


def test_a_run_that_raises_is_one_error_row(tmp_path):
    plugin = tmp_path / "fragile.py"
    plugin.write_text(
        "import numpy as np\n"
        "from optbench import Optimizer, register_optimizer\n"
        "@register_optimizer('fragile-gd', batchable=True)\n"
        "def fragile(lr: float = 0.1):\n"
        "    def step(x, state, oracle, t):\n"
        "        if t == 3 and np.any(np.asarray(lr) == 0.3):\n"
        "            raise RuntimeError('boom')\n"
        "        return x - lr * oracle.grad(x), state\n"
        "    return Optimizer(step=step)\n"
    )
    registry.load_plugin(str(plugin))
    plan = make_plan(
        ["quadratic-1d"], ["fragile-gd[lr=[0.1,0.3,0.2]]"], seeds=2, budget=30, tol=0.0
    )
    assert len(plan.batches) == 1
    results = run_batch(plan.batches[0])
    by_lr = {}
    for run, res in zip(
        plan.batches[0].runs,
        sorted(results, key=lambda r: plan.batches[0].run_ids.index(r.run_id)),
        strict=True,
    ):
        by_lr.setdefault(run.optimizer.params["lr"], []).append(res)
    assert [r.status for r in by_lr[0.3]] == ["error", "error"]
    assert all("boom" in r.message for r in by_lr[0.3])
    assert all(r.status != "error" for lr in (0.1, 0.2) for r in by_lr[lr])


def test_non_finite_freezes_only_its_own_run(tmp_path):
    plugin = tmp_path / "nanopt.py"
    plugin.write_text(
        "import numpy as np\n"
        "from optbench import Optimizer, register_optimizer\n"
        "@register_optimizer('nan-at-5', batchable=True)\n"
        "def nan_at_5(lr: float = 0.1):\n"
        "    def step(x, state, oracle, t):\n"
        "        y = x - lr * oracle.grad(x)\n"
        "        return np.where((t == 5) & (np.asarray(lr) > 0.15), np.nan, y), state\n"
        "    return Optimizer(step=step)\n"
    )
    registry.load_plugin(str(plugin))
    plan = make_plan(["quadratic-1d"], ["nan-at-5[lr=[0.1,0.2]]"], seeds=1, budget=40, tol=0.0)
    results = {r.run_id: r for r in run_batch(plan.batches[0])}
    statuses = {run.optimizer.params["lr"]: results[run.run_id] for run in plan.runs}
    assert statuses[0.2].status == "non-finite" and statuses[0.2].summary.n_iter == 6
    assert statuses[0.1].status != "non-finite" and statuses[0.1].summary.n_iter > 6


def test_pairing_without_a_gradient_is_skipped_with_a_reason(tmp_path):
    plugin = tmp_path / "nograd.py"
    plugin.write_text(
        "from optbench import Problem, register_problem\n"
        "@register_problem('abs-no-grad')\n"
        "def abs_no_grad():\n"
        "    return Problem(dim=1, f=lambda X: abs(X[:, 0]), bounds=([-1], [1]), x_star=[[0]], f_star=0)\n"
    )
    registry.load_plugin(str(plugin))
    plan = make_plan(["abs-no-grad"], ["gd", "random-search"], seeds=2, budget=20)
    assert len(plan.skipped) == 2
    assert all("gradient" in why for _, why in plan.skipped)
    assert all(r.optimizer.name == "random-search" for b in plan.batches for r in b.runs)


# -- planner and identity -------------------------------------------------------------------


def test_run_identity_is_stable_and_sensitive():
    a = make_plan(["quadratic-1d"], ["gd[lr=0.1]"], seeds=3)
    b = make_plan(["quadratic-1d[h=2.0,c=1.5]"], ["gd[lr=0.1,schedule=constant]"], seeds=3)
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]  # defaults filled in
    base = a.runs[0].run_id
    for problems, optimizers, kw in [
        (["quadratic-1d[h=3]"], ["gd[lr=0.1]"], {}),
        (["quadratic-1d"], ["gd[lr=0.11]"], {}),
        (["quadratic-1d"], ["gd[lr=0.1,schedule=cosine(T=10)]"], {}),
        (["quadratic-1d"], ["gd[lr=0.1]"], {"budget": 999}),
        (["quadratic-1d"], ["gd[lr=0.1]"], {"max_iter": 5}),
        (["quadratic-1d"], ["gd[lr=0.1]"], {"tol": 1e-6}),
    ]:
        other = make_plan(problems, optimizers, seeds=1, **kw)
        assert other.runs[0].run_id != base
    assert len({r.run_id for r in a.runs}) == 3


def test_integer_and_float_spellings_are_one_run():
    a = make_plan(["quadratic-1d[h=2]"], ["gd[lr=1]"], seeds=1)
    b = make_plan(["quadratic-1d[h=2.0]"], ["gd[lr=1.0]"], seeds=1)
    assert a.runs[0].run_id == b.runs[0].run_id


def test_start_points_depend_on_problem_and_seed_only():
    plan = make_plan(
        ["quadratic-1d"], ["gd[lr=0.1]", "random-search", "scipy-bfgs"], seeds=2, budget=5
    )
    res = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    starts = {}
    for run in plan.runs:
        starts.setdefault(run.seed, set()).add(float(res[run.run_id].trace["x"][0, 0]))
    assert all(len(s) == 1 for s in starts.values())
    assert starts[0] != starts[1]


def test_batches_depend_on_the_plan_alone(monkeypatch):
    specs = (["quadratic-1d", "linear-regression"], ["gd[lr=log(1e-3,1,5)]", "scipy-bfgs"])
    a = make_plan(*specs, seeds=3, budget=60)
    gd_batches = [x for x in a.batches if x.runs[0].optimizer.name == "gd"]
    assert [len(x.runs) for x in gd_batches] == [15, 15]  # a sweep over seeds is one batch
    # a plan cut into batches of at most 4 runs has the same runs, and each run the same
    # stored numbers, as the one that vectorizes the whole sweep
    monkeypatch.setattr("optbench.plan.MAX_BATCH_RUNS", 4)
    b = make_plan(*specs, seeds=3, budget=60)
    assert max(len(x.runs) for x in b.batches) <= 4 < 15
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    results_a = {r.run_id: r for x in a.batches for r in run_batch(x)}
    results_b = {r.run_id: r for x in b.batches for r in run_batch(x)}
    for rid, ra in results_a.items():
        rb = results_b[rid]
        assert (ra.status, ra.summary.n_iter) == (rb.status, rb.summary.n_iter)
        np.testing.assert_array_equal(ra.trace["f"], rb.trace["f"])
        np.testing.assert_array_equal(ra.trace["x"], rb.trace["x"])


def test_invalid_values_are_one_line_errors():
    with pytest.raises(optbench.InvalidValueError, match="lr must be > 0, got -1"):
        make_plan(["quadratic-1d"], ["gd[lr=-1]"])
    with pytest.raises(optbench.InvalidValueError, match="no parameter 'lrr'; did you mean 'lr'"):
        make_plan(["quadratic-1d"], ["gd[lrr=1]"])
    with pytest.raises(optbench.UnknownNameError, match="did you mean 'quadratic-1d'"):
        make_plan(["quadratic-1"], ["gd"])
    with pytest.raises(optbench.InvalidValueError, match="seeds must be at least 1"):
        make_plan(["quadratic-1d"], ["gd"], seeds=0)


def test_a_plug_in_executor_runs_the_batches_and_the_cli_offers_it(tmp_path):
    import subprocess
    import sys

    plugin = tmp_path / "backwards.py"
    plugin.write_text(
        "from optbench import register_executor\n"
        "from optbench.executors import run_batch_guarded\n\n"
        "@register_executor('backwards')\n"
        "def backwards(batches, jobs=None, scheduler=None):\n"
        "    for batch in reversed(batches):\n"
        "        yield batch, run_batch_guarded(batch)\n"
    )
    spec = dict(problems=["quadratic-1d"], optimizers=["gd[lr=[0.1,0.5]]"], seeds=2, budget=30)
    ours = optbench.run(**spec, out=tmp_path / "a", report=False, plugins=[str(plugin)],
                        executor="backwards").runs
    serial = optbench.run(**spec, out=tmp_path / "b", report=False).runs
    assert len(ours) == 4
    a, b = (r.sort_values("run_id").reset_index(drop=True) for r in (ours, serial))
    assert a.run_id.tolist() == b.run_id.tolist()
    np.testing.assert_array_equal(a.f_best.to_numpy(), b.f_best.to_numpy())
    assert "backwards" in registry.names("executor")
    r = subprocess.run(
        [sys.executable, "-m", "optbench.cli", "run", "--help"], capture_output=True, text=True
    )
    assert "--executor [dask|process|serial]" in r.stdout, r.stdout[-800:]
