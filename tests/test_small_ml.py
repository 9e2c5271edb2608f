"""The small-ML tier against finite differences, closed forms and an independent solve, and
the held-out loss the runner records per iterate."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy.optimize import minimize

from optbench import registry
from optbench.plan import build_problem, make_plan, resolve_problem
from optbench.runner import run_batch
from optbench.spec import parse

ML = ["logistic-regression", "softmax-regression", "mlp"]


def _problem(spec):
    return build_problem(resolve_problem(parse(spec)))


@pytest.mark.parametrize("spec", [*ML, "mlp[hidden=3,l2=0]", "logistic-regression[l2=1]"])
def test_gradient_equals_central_differences(spec):
    p = _problem(spec)
    rng = np.random.default_rng(1)
    X = rng.normal(0.0, 0.5, (3, p.dim))
    f, g = p.value_and_grad(X)
    np.testing.assert_allclose(f, p.f(X), rtol=1e-15)
    for _ in range(4):  # directional derivatives along random directions
        v = rng.standard_normal(p.dim)
        h = 1e-5
        fd = (p.f(X + h * v) - p.f(X - h * v)) / (2 * h)
        np.testing.assert_allclose(g @ v, fd, rtol=1e-6, atol=1e-9)


def test_binary_logistic_loss_sees_only_the_logit_gap():
    # θ = (W (p×2), b (2)) as two logits; binary cross-entropy depends on their difference
    # alone, so adding the same weights and bias to both logits changes only the L2 term
    p = _problem("logistic-regression[p=3,n_train=50,l2=0.1,batch_size=none]")
    X = np.random.default_rng(2).standard_normal((2, p.dim))
    shift = np.zeros_like(X)
    shift[:, :6] = np.repeat(np.random.default_rng(3).standard_normal((2, 3)), 2, axis=1)
    shift[:, 6:] = 0.7
    penalty = 0.05 * (np.sum((X + shift) ** 2, axis=1) - np.sum(X**2, axis=1))
    np.testing.assert_allclose(p.f(X + shift) - p.f(X), penalty, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spec,method", [("logistic-regression", "BFGS"),
                                         ("softmax-regression[n_train=100]", "L-BFGS-B")])
def test_the_minimum_against_an_independent_solve(spec, method):
    p = _problem(spec)
    x_star = p.x_star[0]
    assert np.linalg.norm(p.grad(x_star[None])[0]) < 1e-10

    def fg(t):
        f, g = p.value_and_grad(t[None])
        return float(f[0]), g[0]

    start = np.random.default_rng(4).normal(0, 1, p.dim)
    options = {"gtol": 1e-11, "maxiter": 20000}
    if method == "L-BFGS-B":
        options.update(ftol=0.0, maxcor=50)
    res = minimize(fg, start, jac=True, method=method, options=options)
    assert res.fun >= p.f_star - 1e-13
    assert res.fun - p.f_star < 1e-11
    np.testing.assert_allclose(res.x, x_star, atol=1e-5)


def test_curvature_constants_are_the_hessian_extremes_at_the_minimum():
    p = _problem("logistic-regression[p=4]")
    x = p.x_star[0]
    h = 1e-6
    H = np.stack([(p.grad((x + h * e)[None])[0] - p.grad((x - h * e)[None])[0]) / (2 * h)
                  for e in np.eye(p.dim)])
    eig = np.linalg.eigvalsh(0.5 * (H + H.T))
    assert p.L == pytest.approx(eig[-1], rel=1e-6) and p.mu == pytest.approx(eig[0], rel=1e-5)


def test_full_batch_minibatch_is_the_gradient_and_small_ones_average_to_it():
    from optbench.oracle import RunRNG

    p_full = _problem("logistic-regression[n_train=60,batch_size=60]")
    X = np.random.default_rng(5).normal(0, 0.3, (2, p_full.dim))
    np.testing.assert_allclose(p_full.stochastic_grad(X, RunRNG.from_seeds([1, 2])),
                               p_full.grad(X), rtol=1e-10, atol=1e-14)
    p = _problem("mlp[batch_size=8]")
    x = np.random.default_rng(6).normal(0, 0.5, (1, p.dim))
    n = 3000  # one point in 3000 rows, each row drawing its own minibatch
    draws = p.stochastic_grad(np.repeat(x, n, axis=0), RunRNG.from_seeds(range(n)))
    se = draws.std(axis=0) / np.sqrt(len(draws)) + 1e-12
    z = np.abs(draws.mean(axis=0) - p.grad(x)[0]) / se
    assert np.mean(z < 4) > 0.99  # unbiased: the mean is within 4 standard errors


PLUGIN = '''
import numpy as np
from optbench import Problem, register_problem

@register_problem("bowl-with-test-loss")
def bowl():
    return Problem(dim=1, f=lambda X: X[:, 0] ** 2, grad=lambda X: 2 * X, bounds=([-2], [2]),
                   test_f=lambda X: (X[:, 0] - 1.0) ** 2, x_star=[[0.0]], f_star=0.0)
'''


def test_the_runner_records_the_held_out_loss_at_every_iterate(tmp_path):
    path = tmp_path / "bowl_test_loss.py"
    path.write_text(PLUGIN)
    registry.load_plugin(str(path))
    plan = make_plan(["bowl-with-test-loss"], ["gd[lr=[0.1,0.3]]"], seeds=2, budget=15, tol=0.0)
    results = [r for b in plan.batches for r in run_batch(b)]
    for res in results:
        x = res.trace["x"][:, 0]
        np.testing.assert_allclose(res.trace["test_f"], (x - 1.0) ** 2, rtol=1e-15)
        assert res.trace["n_f"].max() == 0  # recording it is never charged


@pytest.mark.parametrize("spec", ML)
def test_ml_problems_run_with_test_loss_and_data_hash(spec):
    plan = make_plan([spec], ["adam[lr=0.01]"], seeds=2, budget=25, tol=1e-8)
    assert plan.runs[0].problem.params["content_hash"]  # the data are part of run identity
    for res in [r for b in plan.batches for r in run_batch(b)]:
        assert res.status == "budget"
        tf = res.trace["test_f"]
        assert tf.shape == res.trace["f"].shape and np.all(np.isfinite(tf))
        assert tf[-1] < tf[0]  # training lowers the held-out loss too (early on)


def test_a_wrong_content_hash_is_refused_with_one_line(cli, tmp_path):
    proc = cli("run", "-p", "mlp[content_hash='0123456789abcdef']", "-o", "gd", "--budget", "5",
               "--out", str(tmp_path))
    assert proc.returncode == 2 and "content_hash '0123456789abcdef' does not match" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_different_data_are_different_problems():
    a = _problem("logistic-regression").resolved["content_hash"]
    b = _problem("logistic-regression[data_seed=1]").resolved["content_hash"]
    assert a != b


def test_the_ml_suite_runs_from_the_cli(cli, tmp_path):
    # one worker: torch and its compiler's modules load once (not in each of two workers)
    proc = cli("run", "--suite", "ml", "--seeds", "1", "--budget", "20", "--no-report",
               "--executor", "serial", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stdout.split("runs")[1].split("\n")[0]
    if importlib.util.find_spec("sklearn") is not None:  # the real datasets, said in one line
        assert proc.stdout.splitlines()[0].startswith(
            "optbench: --suite ml runs scikit-learn's real datasets: ")
    bad = cli("run", "--suite", "ml", "-p", "mlp", "--out", str(tmp_path))
    assert bad.returncode == 2 and "--suite replaces SPEC, -p and -o" in bad.stderr


@pytest.mark.parametrize("spec", ML)
def test_start_points_are_in_the_domain_and_reproducible(spec):
    p = _problem(spec)
    starts = np.stack([p.sample_start(np.random.default_rng(s)) for s in range(20)])
    assert np.all((starts >= p.lower) & (starts <= p.upper))
    again = np.stack([p.sample_start(np.random.default_rng(s)) for s in range(20)])
    np.testing.assert_array_equal(starts, again)
    assert len({tuple(s) for s in starts}) == 20


@pytest.mark.parametrize("spec", ML)
def test_a_batch_equals_row_by_row_evaluation(spec):
    p = _problem(spec)
    X = np.random.default_rng(8).normal(0, 0.5, (4, p.dim))
    f, g = p.value_and_grad(X)
    rows = [p.value_and_grad(X[i : i + 1]) for i in range(4)]
    np.testing.assert_allclose(f, [r[0][0] for r in rows], rtol=1e-12)
    np.testing.assert_allclose(g, np.stack([r[1][0] for r in rows]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p.test_f(X), [p.test_f(X[i : i + 1])[0] for i in range(4)],
                               rtol=1e-12)


def test_the_held_out_loss_and_accuracy_are_stored_loaded_and_exported(tmp_path):
    import pandas as pd

    import optbench
    from optbench.export import export

    res = optbench.run(problems=["mlp[n_train=50,n_test=40]"], optimizers=["adam[lr=0.05]"],
                       seeds=2, budget=12, out=tmp_path / "out", report=False)
    paths = export(tmp_path / "out" / "results.sqlite", "csv", tmp_path / "csv")
    traces = pd.read_csv([p for p in paths if p.name == "traces.csv"][0])
    for rid in res.run_ids:
        tr = optbench.load_trace(tmp_path / "out", rid)
        assert len(tr["test_f"]) == len(tr["f"]) == 13
        np.testing.assert_allclose(traces[traces.run_id == rid]["test_f"], tr["test_f"],
                                   rtol=1e-15)
        acc = tr["test_acc"]  # a fraction of the 40 test examples, at every iterate
        assert len(acc) == 13 and np.all((acc >= 0) & (acc <= 1))
        np.testing.assert_allclose(acc * 40, np.round(acc * 40), atol=1e-9)
        np.testing.assert_array_equal(traces[traces.run_id == rid]["test_acc"], acc)


def test_the_report_sets_test_loss_beside_training_loss(tmp_path):
    import base64
    import io
    import re

    import pandas as pd

    import optbench

    res = optbench.run(problems=["mlp[n_train=50,n_test=40]", "quadratic-1d"],
                       optimizers=["adam[lr=0.05]", "gd[lr=0.2]"], seeds=2, budget=12,
                       out=tmp_path / "out")
    html = res.report.read_text()
    assert '<section id="held-out-loss">' in html
    links = re.findall(r"download='held-out-([0-9a-f]+)\.csv' href='data:text/csv;charset=utf-8;"
                       r"base64,([^']+)'", html)
    assert len(links) == 1  # the quadratic records no test loss: no table for it
    table = pd.read_csv(io.BytesIO(base64.b64decode(links[0][1])))
    runs = res.runs[res.runs.problem.str.startswith("mlp")]
    for label, g in runs.groupby("label"):
        traces = [optbench.load_trace(tmp_path / "out", rid) for rid in g.run_id]
        row = table[table.optimizer == label].iloc[0]
        assert row["runs"] == 2
        assert row["final test loss"] == pytest.approx(
            np.median([t["test_f"][-1] for t in traces]), rel=1e-12)
        assert row["best test loss"] == pytest.approx(
            np.median([t["test_f"].min() for t in traces]), rel=1e-12)
        assert row["final training loss"] == pytest.approx(
            np.median([t["f"][-1] for t in traces]), rel=1e-12)
