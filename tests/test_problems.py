"""Conformance of every registered problem against independent truth.

The cases come from the registry, so a newly added problem is checked without a new test:
each is built with default parameters (problems with a required parameter are covered by
the explicit cases below), plus d = 2 and d = 5 where it takes a dimension ``d``, plus a few
structural variants. Truth comes from central differences, scipy's L-BFGS-B and dense
grids, never from the problem's own declarations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import minimize

from optbench import registry
from optbench.errors import InvalidValueError
from optbench.oracle import RunRNG
from optbench.plan import build_problem, make_plan, start_point

CSV = "@CSV"  # replaced by the path of a small CSV written for the session


def _cases() -> list[str]:
    out: list[str] = []
    for name in registry.names("problem"):
        params = registry.get("problem", name).params
        if any(p.required for p in params.values()):
            continue
        if "ml" in registry.get("problem", name).meta["tags"]:
            continue  # hundreds of dimensions, no f* for the MLP: tests/test_small_ml.py
        out.append(name)
        if "d" in params:
            out += [f"{name}[d=2]", f"{name}[d=5]"]
    out += [
        "ill-conditioned-quadratic[d=4,rotate=true,rotation_seed=3]",
        "linear-regression[standardize=true]",
        "linear-regression[batch_size=10]",
        "linear-regression-nd[standardize=true,p=2]",
        f"linear-regression-csv[path={CSV},features=[a,b],target=y]",
        f"linear-regression-csv[path={CSV},features=[a],standardize=true,batch_size=4]",
    ]
    return list(dict.fromkeys(out))


CASES = _cases()


@pytest.fixture(scope="session")
def csv_path(tmp_path_factory) -> str:
    rng = np.random.default_rng(5)
    n = 30
    a, b = rng.uniform(0, 4, n), rng.normal(1, 2, n)
    y = 1.5 * a - 0.5 * b + 3 + rng.normal(0, 0.3, n)
    path = tmp_path_factory.mktemp("data") / "data.csv"
    lines = ["id,a,b,y"] + [
        f"row{i},{float(a[i])!r},{float(b[i])!r},{float(y[i])!r}" for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def problem(request, csv_path):
    text = request.param.replace(CSV, f'"{csv_path}"')
    # the planner resolves a spec exactly as a run would (list parameters taken literally)
    spec = make_plan([text], ["gd"], seeds=1, budget=1).runs[0].problem
    return build_problem(spec), spec


def _points(p, k: int, seed: int = 0) -> np.ndarray:
    """Random points in the domain, away from the kinks (at the minimizers) of non-smooth ones."""
    X = np.random.default_rng(seed).uniform(p.lower, p.upper, (4 * k, p.dim))
    if "non-smooth" in p.tags and p.x_star is not None:
        gap = np.min(np.abs(X[:, None, :] - p.x_star[None]), axis=(1, 2))
        X = X[gap > 1e-3]
    return X[:k]


def _scale(p, X) -> float:
    return max(1.0, float(np.max(np.abs(p.f(X)))))


def _central(fun, X, h):
    out = []
    for j in range(X.shape[1]):
        E = np.zeros_like(X)
        E[:, j] = h[:, j]
        out.append(
            (fun(X + E) - fun(X - E)) / (2 * h[:, j].reshape((-1,) + (1,) * (fun(X).ndim - 1)))
        )
    return np.stack(out, axis=-1)


def _fun(p):
    return lambda x: float(p.f(np.asarray(x, dtype=float)[None])[0])


def _jac(p):
    return lambda x: p.grad(np.asarray(x, dtype=float)[None])[0]


parametrized = pytest.mark.parametrize("problem", CASES, indirect=True)


@parametrized
def test_gradient_matches_central_differences(problem):
    p, _ = problem
    X = _points(p, 8)
    h = 1e-6 * np.maximum(1.0, np.abs(X))
    # rounding in the difference is about eps·|f|/h ≈ 1e-10·|f|: 1000x margin
    np.testing.assert_allclose(p.grad(X), _central(p.f, X, h), rtol=1e-6, atol=1e-7 * _scale(p, X))


@parametrized
def test_hessian_matches_differences_of_the_gradient(problem):
    p, _ = problem
    if not p.has_hessian:
        pytest.skip("no Hessian declared")
    X = _points(p, 6, seed=1)
    h = 1e-6 * np.maximum(1.0, np.abs(X))
    H = p.hess(X)
    np.testing.assert_allclose(H, np.swapaxes(H, 1, 2), rtol=0, atol=1e-12 * np.abs(H).max())
    gscale = max(1.0, float(np.abs(p.grad(X)).max()))
    # a gradient taken by finite differences (bbob) is itself accurate to about 1e-10: its
    # differences over h = 1e-6 to about 1e-4
    rtol = 1e-3 if p.finite_differences else 1e-5
    np.testing.assert_allclose(H, _central(p.grad, X, h), rtol=rtol, atol=rtol / 10 * gscale)


@parametrized
def test_minimizers_reach_f_star_with_zero_gradient(problem):
    p, _ = problem
    assert p.x_star is not None and p.f_star is not None
    assert np.all((p.x_star >= p.lower) & (p.x_star <= p.upper)), "a minimizer outside the domain"
    tol = 1e-10 * max(1.0, abs(p.f_star))
    np.testing.assert_allclose(p.f(p.x_star), p.f_star, rtol=0, atol=tol)
    if "non-smooth" not in p.tags:
        scale = max(1.0, p.L or 1.0)
        np.testing.assert_allclose(p.grad(p.x_star), 0.0, atol=1e-11 * scale)


@parametrized
def test_curvature_constants_are_the_hessian_at_the_minimizers(problem):
    p, _ = problem
    if p.L is None or not p.has_hessian:
        pytest.skip("no curvature or no Hessian declared")
    eig = np.linalg.eigvalsh(p.hess(p.x_star))
    assert p.L == pytest.approx(eig.max(), rel=1e-9)
    assert p.mu == pytest.approx(eig.min(), rel=1e-9, abs=1e-12 * p.L)
    if p.hessian is not None:  # a quadratic: f = f* + ½(x − x*)ᵀH(x − x*) everywhere
        X = _points(p, 5, seed=2)
        D = X - p.x_star[0]
        expected = p.f_star + 0.5 * np.einsum("bi,ij,bj->b", D, p.hessian, D)
        np.testing.assert_allclose(p.f(X), expected, rtol=1e-10, atol=1e-12 * _scale(p, X))


@parametrized
def test_no_search_finds_a_value_below_f_star(problem):
    p, _ = problem
    tol = 1e-9 * max(1.0, abs(p.f_star))
    rng = np.random.default_rng(11)
    bounds = list(zip(p.lower, p.upper, strict=True))
    best = np.inf
    # 30 random starts; in 1-D and 2-D a dense grid searches too, so 8 are enough there
    for x0 in rng.uniform(p.lower, p.upper, (30 if p.dim > 2 else 8, p.dim)):
        res = minimize(_fun(p), x0, jac=_jac(p), method="L-BFGS-B", bounds=bounds)
        best = min(best, res.fun)
    if p.dim <= 2:
        n = 200_001 if p.dim == 1 else 501
        axes = [np.linspace(lo, hi, n) for lo, hi in bounds]
        grid = np.stack([g.ravel() for g in np.meshgrid(*axes)], axis=1)
        values = p.f(grid)
        best = min(best, float(values.min()))
        for x0 in grid[np.argsort(values)[:5]]:  # polish the best grid points
            best = min(
                best, minimize(_fun(p), x0, jac=_jac(p), method="L-BFGS-B", bounds=bounds).fun
            )
    assert best >= p.f_star - tol
    if "multimodal" not in p.tags:  # a unimodal problem: the multistart finds f* itself
        assert best <= p.f_star + 1e-5 * max(1.0, abs(p.f_star))


@parametrized
def test_start_points_are_in_the_domain_and_reproducible(problem):
    p, spec = problem
    starts = np.stack([p.sample_start(np.random.default_rng(s)) for s in range(50)])
    assert starts.shape == (50, p.dim)
    assert np.all((starts >= p.lower) & (starts <= p.upper))
    again = np.stack([p.sample_start(np.random.default_rng(s)) for s in range(50)])
    np.testing.assert_array_equal(starts, again)
    assert len({tuple(s) for s in starts}) == 50
    np.testing.assert_array_equal(start_point(p, spec, 3), start_point(p, spec, 3))


@parametrized
def test_a_batch_equals_row_by_row_evaluation(problem):
    p, _ = problem
    X = _points(p, 7, seed=3)
    rows = [slice(i, i + 1) for i in range(len(X))]
    np.testing.assert_allclose(p.f(X), np.concatenate([p.f(X[r]) for r in rows]), rtol=1e-12)
    np.testing.assert_allclose(
        p.grad(X), np.concatenate([p.grad(X[r]) for r in rows]), rtol=1e-12, atol=1e-14
    )
    f, g = p.value_and_grad(X)
    np.testing.assert_allclose(f, p.f(X), rtol=1e-12)
    np.testing.assert_allclose(g, p.grad(X), rtol=1e-12, atol=1e-14)
    if p.has_hessian:
        np.testing.assert_allclose(
            p.hess(X), np.concatenate([p.hess(X[r]) for r in rows]), rtol=1e-12, atol=1e-14
        )
    if p.stochastic:
        seeds = range(100, 100 + len(X))
        batch = p.stochastic_grad(X, RunRNG([np.random.default_rng(s) for s in seeds]))
        single = [
            p.stochastic_grad(X[r], RunRNG([np.random.default_rng(s)]))
            for r, s in zip(rows, seeds, strict=True)
        ]
        np.testing.assert_allclose(batch, np.concatenate(single), rtol=1e-12, atol=1e-14)
        assert not np.allclose(batch, p.grad(X)), "a stochastic gradient without noise"


@parametrized
def test_info_is_complete_and_json_ready(problem):
    p, _ = problem
    info = json.loads(json.dumps(p.info()))
    assert info["dim"] == p.dim
    tags = set(info["tags"])
    assert len(tags & {"convex", "non-convex"}) == 1
    assert len(tags & {"unimodal", "multimodal"}) == 1
    assert len(tags & {"smooth", "non-smooth"}) == 1
    assert ("stochastic" in tags) == p.stochastic
    assert ("quadratic" in tags) == (p.hessian is not None)
    if p.x_star is not None and len(p.x_star) > 1:
        assert "multimodal" in tags
    entry = registry.get("problem", p.name)
    assert len(p.description or entry.description) > 20


@parametrized
def test_landscape_grids_the_window(problem):
    p, _ = problem
    if p.dim > 2:
        with pytest.raises(InvalidValueError, match="1-D and 2-D"):
            p.landscape()
        return
    window = p.window()
    lo, hi = np.array(window).T
    if p.dim == 1:
        xs, fs = p.landscape(n=101)
        assert xs.shape == fs.shape == (101,)
        assert xs[0] == lo[0] and xs[-1] == hi[0]
        np.testing.assert_allclose(fs, p.f(xs[:, None]), rtol=1e-12)
    else:
        X1, X2, F = p.landscape(n=41)
        assert X1.shape == X2.shape == F.shape == (41, 41)
        assert (X1.min(), X1.max(), X2.min(), X2.max()) == (lo[0], hi[0], lo[1], hi[1])
        i, j = 7, 30
        assert F[i, j] == pytest.approx(p.f(np.array([[X1[i, j], X2[i, j]]]))[0], rel=1e-12)
    if "window" in p.draw:
        assert window == [tuple(w) for w in p.draw["window"]]
    else:
        assert window == list(zip(p.lower.tolist(), p.upper.tolist(), strict=True))
