"""Least squares in (w, b): lstsq, curvature, one-step GD, minibatch noise, CSV files.

Truth: numpy.linalg.lstsq and eigvalsh on designs the tests build themselves (the CSV files
are written here, so X and y are known without the problem), the noise-floor formula
and the runner itself through make_plan/run_batch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from optbench import registry
from optbench.errors import InvalidValueError
from optbench.oracle import RunRNG
from optbench.plan import build_problem, make_plan
from optbench.runner import run_batch


def plan_problem(text: str):
    spec = make_plan([text], ["gd"], seeds=1, budget=1).runs[0].problem
    return build_problem(spec)


def run(problem: str, optimizer: str, seeds: int, budget: int):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget)
    return [r for b in plan.batches for r in run_batch(b)], build_problem(plan.runs[0].problem)


def write_csv(path: Path, header: list[str], rows) -> str:
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return str(path)


@pytest.fixture
def data(tmp_path):
    """A CSV of 40 rows: an id column, features a, b and target y = 1.5a − 0.5b + 3 + noise."""
    rng = np.random.default_rng(9)
    a, b = rng.uniform(0, 4, 40), rng.normal(1, 2, 40)
    y = 1.5 * a - 0.5 * b + 3 + rng.normal(0, 0.3, 40)
    rows = [(f"r{i}", float(a[i]), float(b[i]), float(y[i])) for i in range(40)]
    return write_csv(tmp_path / "d.csv", ["id", "a", "b", "y"], rows), np.column_stack([a, b]), y


def check_least_squares(p, X, y):
    n = len(y)
    A = np.column_stack([X, np.ones(n)])
    theta, *_ = np.linalg.lstsq(A, y, rcond=None)
    np.testing.assert_allclose(p.x_star[0], theta, rtol=1e-10, atol=1e-12)
    assert p.f_star == pytest.approx(np.mean((A @ theta - y) ** 2), rel=1e-12)
    eig = np.linalg.eigvalsh(A.T @ A)
    assert p.L == pytest.approx(2 * eig[-1] / n, rel=1e-12)
    assert p.mu == pytest.approx(2 * eig[0] / n, rel=1e-10)
    np.testing.assert_allclose(p.hessian, 2 / n * A.T @ A, rtol=1e-12, atol=1e-14 * p.L)
    T = np.random.default_rng(0).normal(theta, 3.0, (5, len(theta)))
    np.testing.assert_allclose(p.f(T), np.mean((T @ A.T - y) ** 2, axis=1), rtol=1e-12)
    np.testing.assert_allclose(p.grad(T), 2 / n * (T @ A.T - y) @ A, rtol=1e-10, atol=1e-12)


def test_csv_problem_is_the_least_squares_fit_of_the_file(data):
    path, X, y = data
    check_least_squares(
        plan_problem(f'linear-regression-csv[path="{path}",features=[a,b],target=y]'), X, y
    )
    check_least_squares(
        plan_problem(f'linear-regression-csv[path="{path}",features=[b],target=a]'),
        X[:, 1:],
        X[:, 0],
    )
    Xs = (X - X.mean(0)) / X.std(0)
    check_least_squares(
        plan_problem(
            f'linear-regression-csv[path="{path}",features=[a,b],target=y,standardize=true]'
        ),
        Xs,
        y,
    )


def test_nd_problem_is_least_squares_and_exact_without_noise():
    rng = np.random.default_rng(4)
    w = rng.uniform(-3.0, 3.0, 3)  # the documented draw: weights, then X, then noise
    X = rng.uniform(0.0, 2.0, (200, 3))
    y = X @ w + 2.0 + rng.standard_normal(200)
    check_least_squares(plan_problem("linear-regression-nd[data_seed=4]"), X, y)
    p = plan_problem("linear-regression-nd[p=2,weights=[1.5,-4],intercept=0.5,noise=0,n=30]")
    np.testing.assert_allclose(p.x_star[0], [1.5, -4, 0.5], rtol=1e-12)
    assert p.f_star == pytest.approx(0, abs=1e-24)


@pytest.mark.parametrize(
    "problem",
    [
        "linear-regression[standardize=true]",
        "linear-regression[standardize=true,noise=4,n=37,slope=-2]",
    ],
)
def test_gd_at_one_over_L_on_standardized_features_lands_in_one_step(problem):
    results, p = run(problem, "gd[lr=1/L]", seeds=3, budget=20)
    assert p.L == pytest.approx(2.0, rel=1e-12)  # X̃ᵀX̃/n = I
    for r in results:
        assert r.status == "converged" and r.summary.n_iter == 1
        np.testing.assert_allclose(r.summary.x_final, p.x_star[0], rtol=1e-12, atol=1e-12)


def test_one_step_on_a_standardized_csv_feature(data):
    path, X, y = data
    results, p = run(
        f'linear-regression-csv[path="{path}",features=[a],target=y,standardize=true]',
        "gd[lr=1/L]",
        seeds=2,
        budget=20,
    )
    a = (X[:, 0] - X[:, 0].mean()) / X[:, 0].std()
    theta, *_ = np.linalg.lstsq(np.column_stack([a, np.ones(len(y))]), y, rcond=None)
    for r in results:
        assert r.status == "converged" and r.summary.n_iter == 1
        np.testing.assert_allclose(r.summary.x_final, theta, rtol=1e-12)


# -- minibatch gradients ------------------------------------------------------------------------


def test_minibatch_gradient_is_unbiased():
    p = plan_problem("linear-regression[batch_size=7,noise=2]")
    theta = p.x_star + np.array([[0.8, -1.3]])
    M = 4000
    X = np.repeat(theta, M, axis=0)
    G = p.stochastic_grad(X, RunRNG([np.random.default_rng(s) for s in range(M)]))
    full = p.grad(theta)[0]
    # the mean of M independent draws is within 5 standard errors of the full gradient
    # (probability of a false alarm below 1e-6 per component; the seeds are fixed anyway)
    se = G.std(axis=0, ddof=1) / np.sqrt(M)
    assert np.all(np.abs(G.mean(axis=0) - full) < 5 * se)
    assert np.all(G.std(axis=0) > 0.05 * np.abs(full))  # and it really is noisy


def test_a_minibatch_of_all_examples_is_the_full_gradient():
    p = plan_problem("linear-regression[batch_size=100]")
    T = np.random.default_rng(1).uniform(p.lower, p.upper, (4, 2))
    G = p.stochastic_grad(T, RunRNG([np.random.default_rng(s) for s in range(4)]))
    np.testing.assert_allclose(G, p.grad(T), rtol=1e-10, atol=1e-12)
    assert p.examples_per_grad == 100
    assert plan_problem("linear-regression[batch_size=7]").examples_per_grad == 7


def _minibatch_noise(n: int, k: int) -> float:
    """tr Cov of the size-k minibatch gradient at θ* of the default standardized line data."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2, n)
    y = 3 * x + 2 + rng.standard_normal(n)
    A = np.column_stack([(x - x.mean()) / x.std(), np.ones(n)])
    theta, *_ = np.linalg.lstsq(A, y, rcond=None)
    G = 2 * A * (A @ theta - y)[:, None]  # per-example gradients; their mean is 0 at θ*
    return float(np.trace(G.T @ G / n)) / k * (n - k) / (n - 1)  # sampling without replacement


def test_constant_lr_stalls_at_the_noise_floor_and_decay_settles_lower():
    problem, eta, k = "linear-regression[standardize=true,batch_size=20]", 0.25, 20
    const, p = run(problem, f"gd[lr={eta}]", seeds=12, budget=1500)
    decay, _ = run(problem, f"gd[lr={eta},schedule=exponential(gamma=0.99)]", seeds=12, budget=1500)
    # the noise floor with H = 2I: E gap = η·tr Σ / (2(2 − η·h)), measured after the transient
    floor = eta * _minibatch_noise(100, k) / (2 * (2 - 2 * eta))
    tail = np.concatenate([r.trace["f"][60:] - p.f_star for r in const])
    assert 0.85 < tail.mean() / floor < 1.2
    final_const = np.mean([r.trace["f"][-1] - p.f_star for r in const])
    final_decay = np.mean([r.trace["f"][-1] - p.f_star for r in decay])
    assert final_const > 0.3 * floor
    assert final_decay < 0.25 * floor


def test_noisy_quadratic_floor_matches_the_reference_formula():
    # g = h·x + σξ, constant η: E gap = η σ² / (2(2 − η h)) = 0.02778 for η = 0.1, h = 2, σ = 1
    results, p = run("noisy-quadratic", "gd[lr=0.1]", seeds=16, budget=1500)
    tail = np.concatenate([r.trace["f"][60:] for r in results])
    assert tail.mean() == pytest.approx(0.1 / (2 * (2 - 0.2)), rel=0.15)
    decay, _ = run(
        "noisy-quadratic", "gd[lr=0.1,schedule=exponential(gamma=0.995)]", seeds=16, budget=1500
    )
    assert np.mean([r.trace["f"][-1] for r in decay]) < 0.3 * tail.mean()


# -- CSV identity and bad input ------------------------------------------------------------------


def test_csv_content_hash_pins_the_data(data, tmp_path):
    path, _, _ = data
    digest = "sha256-" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    p = plan_problem(f'linear-regression-csv[path="{path}",features=[a,b]]')
    assert p.resolved == {"content_hash": digest}
    assert p.info()["resolved"] == {"content_hash": digest}
    pinned = plan_problem(
        f'linear-regression-csv[path="{path}",features=[a,b],content_hash={digest}]'
    )
    np.testing.assert_array_equal(pinned.x_star, p.x_star)
    Path(path).write_text(Path(path).read_text().replace("r0,", "r0,1"), encoding="utf-8")
    # the factory itself (the planner caches built problems per process)
    entry = registry.get("problem", "linear-regression-csv")
    with pytest.raises(
        InvalidValueError, match="content_hash must be the SHA-256 .* the file changed"
    ):
        entry.build(path=path, features=["a", "b"], content_hash=digest)
    changed = entry.build(path=path, features=["a", "b"])
    assert changed.resolved["content_hash"] not in (digest, None)
    assert (
        changed.resolved["content_hash"]
        == "sha256-" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    )


BAD_CSV = {
    "non-numeric": (
        ["x", "y"],
        [(1, 2), (2, "abc"), (3, 4)],
        "",
        ["must hold numbers", "'abc'", "'y'", "line 3"],
    ),
    "missing value": (
        ["x", "y"],
        [(1, 2), ("", 3), (3, 4)],
        "",
        ["no missing values", "'x'", "line 3"],
    ),
    "NA": (["x", "y"], [(1, 2), ("NA", 3), (3, 4)], "", ["no missing values", "'NA'"]),
    "infinite": (["x", "y"], [(1, 2), ("inf", 3), (3, 4)], "", ["finite numbers", "'inf'"]),
    "ragged": (["x", "y"], [(1, 2), (2,), (3, 4)], "", ["2 cells on every row", "got 1 on line 3"]),
    "too few rows": (
        ["x", "z", "y"],
        [(1, 0, 2), (2, 5, 3)],
        "",
        ["at least 3 data rows", "got 2"],
    ),
    "unknown feature": (
        ["x", "y"],
        [(1, 2), (2, 3)],
        ",features=[q]",
        ["features must name", "columns: x, y", "['q']"],
    ),
    "unknown target": (
        ["x", "y"],
        [(1, 2), (2, 3)],
        ",target=w",
        ["target must name a column", "columns: x, y", "'w'"],
    ),
    "target as feature": (
        ["x", "y"],
        [(1, 2), (2, 3)],
        ",features=[x,y],target=y",
        ["must not include the target"],
    ),
    "collinear": (
        ["x", "z", "y"],
        [(1, 2, 1), (2, 4, 3), (3, 6, 2), (4, 8, 5)],
        "",
        ["linearly independent", "rank 3"],
    ),
    "constant": (["x", "y"], [(1, 2), (1, 3), (1, 4)], ",standardize=true", ["must vary", "['x']"]),
    "header only": (["x", "y"], [], "", ["at least 2 data rows", "got 0"]),
    "repeated column": (
        ["x", "x", "y"],
        [(1, 2, 3), (2, 3, 4)],
        "",
        ["distinct column names", "x"],
    ),
    "batch too large": (
        ["x", "y"],
        [(1, 2), (2, 3), (3, 5)],
        ",batch_size=4",
        ["batch_size must be", "[1, 3]", "got 4"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_files_give_one_line(case, tmp_path):
    header, rows, extra, words = BAD_CSV[case]
    path = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(InvalidValueError) as info:
        plan_problem(f'linear-regression-csv[path="{path}"{extra}]')
    message = str(info.value)
    assert message.startswith("problem 'linear-regression-csv': ") and "\n" not in message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("what", ["missing", "folder", "empty", "binary"])
def test_unreadable_csv_paths_give_one_line(what, tmp_path):
    path = {"missing": tmp_path / "nope.csv", "folder": tmp_path}.get(what, tmp_path / "f.csv")
    if what == "empty":
        path.write_text("")
    if what == "binary":
        path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InvalidValueError) as info:
        plan_problem(f'linear-regression-csv[path="{path}"]')
    message = str(info.value)
    assert "\n" not in message and "path must name" in message and repr(str(path)) in message
