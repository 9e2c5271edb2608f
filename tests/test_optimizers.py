"""Optimizers against hand-written recursions (PyTorch's update rules), scipy called directly,
and the runner's counting rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

import optbench
from optbench import registry
from optbench.plan import build_problem, make_plan, run_seed, start_point
from optbench.runner import run_batch

PLUGIN = '''
import numpy as np
from optbench import Problem, register_problem

@register_problem("rosen-no-fstar")
def rosen():
    from scipy.optimize import rosen, rosen_der
    return Problem(dim=2, f=lambda X: np.array([rosen(x) for x in X]),
                   grad=lambda X: np.array([rosen_der(x) for x in X]), bounds=([-2, -1], [2, 3]))

@register_problem("quad-no-fstar")
def quad():
    H = np.array([[3.0, 1.0], [1.0, 0.5]])
    c = np.array([1.0, -2.0])
    return Problem(dim=2, f=lambda X: 0.5 * np.einsum("bi,ij,bj->b", X - c, H, X - c),
                   grad=lambda X: (X - c) @ H, bounds=([-5, -5], [5, 5]), hessian=H)

@register_problem("wavy-no-fstar")
def wavy():
    return Problem(dim=1, f=lambda X: X[:, 0] ** 2 + 3 * np.sin(5 * X[:, 0]),
                   grad=lambda X: 2 * X + 15 * np.cos(5 * X), bounds=([-3], [3]))
'''


@pytest.fixture(scope="module", autouse=True)
def plugin(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugins") / "test_problems_no_fstar.py"
    path.write_text(PLUGIN)
    registry.load_plugin(str(path))


def _run(problem, optimizer, seeds=2, budget=60, tol=0.0):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget, tol=tol)
    results = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return [(run, results[run.run_id]) for run in plan.runs]


def _problem(run):
    return build_problem(run.problem)


def _fns(p):
    """Scalar f and gradient of a problem, for the hand-written recursions."""
    return (lambda x: float(p.f(x[None])[0])), (lambda x: p.grad(x[None])[0])


# -- hand-written recursions: torch.optim's update rules --------------------------------------

def torch_sgd(x, grad, lr, n, momentum=0.0, dampening=0.0, nesterov=False, schedule=None):
    xs, lrs, buf = [x], [], None
    for t in range(n):
        eta = lr if schedule is None else schedule(t)
        g = grad(x)
        if momentum != 0:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        x = x - eta * g
        xs.append(x)
        lrs.append(eta)
    return np.array(xs), np.array(lrs)


def torch_adagrad(x, grad, lr, n, lr_decay=0.0, init=0.0, eps=1e-10):
    xs, s = [x], np.full_like(x, init)
    for step in range(1, n + 1):
        g = grad(x)
        clr = lr / (1 + (step - 1) * lr_decay)
        s = s + g * g
        x = x - clr * g / (np.sqrt(s) + eps)
        xs.append(x)
    return np.array(xs)


def torch_rmsprop(x, grad, lr, n, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
    xs, sq, gavg, buf = [x], np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for _ in range(n):
        g = grad(x)
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            gavg = gavg + (1 - alpha) * (g - gavg)  # lerp
            avg = np.sqrt(sq - gavg * gavg) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            x = x - lr * buf
        else:
            x = x - lr * g / avg
        xs.append(x)
    return np.array(xs)


def torch_adam(x, grad, lr, n, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False):
    xs, m, v, vmax = [x], np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for step in range(1, n + 1):
        g = grad(x)
        m = m + (1 - beta1) * (g - m)  # lerp, as torch writes it
        v = beta2 * v + (1 - beta2) * g * g
        bc1, bc2 = 1 - beta1**step, 1 - beta2**step
        if amsgrad:
            vmax = np.maximum(vmax, v)
            denom = np.sqrt(vmax) / math.sqrt(bc2) + eps
        else:
            denom = np.sqrt(v) / math.sqrt(bc2) + eps
        x = x - (lr / bc1) * m / denom
        xs.append(x)
    return np.array(xs)


CASES = [
    ("gd[lr=[0.05,0.2]]", lambda x, g, p, n: torch_sgd(x, g, p["lr"], n)[0]),
    ("gd[lr=0.2,schedule=cosine(T=20,eta_min=0.01)]",
     lambda x, g, p, n: torch_sgd(x, g, 0.2, n, schedule=lambda t: 0.01 + 0.19 * (1 + math.cos(math.pi * t / 20)) / 2)[0]),
    ("momentum[lr=[0.01,0.03],momentum=[0.5,0.9],dampening=0.1]",
     lambda x, g, p, n: torch_sgd(x, g, p["lr"], n, momentum=p["momentum"], dampening=0.1)[0]),
    ("nesterov[lr=[0.01,0.03],momentum=[0.5,0.95]]",
     lambda x, g, p, n: torch_sgd(x, g, p["lr"], n, momentum=p["momentum"], nesterov=True)[0]),
    ("nesterov[lr=0.02,momentum=0.9,schedule=step(step_size=5,gamma=0.5)]",
     lambda x, g, p, n: torch_sgd(x, g, 0.02, n, momentum=0.9, nesterov=True, schedule=lambda t: 0.02 * 0.5 ** (t // 5))[0]),
    ("adagrad[lr=[0.5,2.0],lr_decay=[0.0,0.05],initial_accumulator_value=0.1]",
     lambda x, g, p, n: torch_adagrad(x, g, p["lr"], n, lr_decay=p["lr_decay"], init=0.1)),
    ("adagrad", lambda x, g, p, n: torch_adagrad(x, g, 1e-2, n)),
    ("rmsprop[lr=[0.01,0.1],alpha=[0.9,0.99]]",
     lambda x, g, p, n: torch_rmsprop(x, g, p["lr"], n, alpha=p["alpha"])),
    ("rmsprop[lr=0.01,momentum=[0.0,0.8],centered=true]",
     lambda x, g, p, n: torch_rmsprop(x, g, 0.01, n, momentum=p["momentum"], centered=True)),
    ("adam[lr=[0.01,0.3],beta1=[0.0,0.8],beta2=[0.9,0.999]]",
     lambda x, g, p, n: torch_adam(x, g, p["lr"], n, beta1=p["beta1"], beta2=p["beta2"])),
    ("adam[lr=0.1,amsgrad=true,eps=1e-3]",
     lambda x, g, p, n: torch_adam(x, g, 0.1, n, eps=1e-3, amsgrad=True)),
]


@pytest.mark.parametrize("problem", ["linear-regression", "quadratic-1d"])
@pytest.mark.parametrize("spec,recursion", CASES, ids=[c[0] for c in CASES])
def test_trajectory_equals_the_torch_recursion(problem, spec, recursion):
    runs = _run(problem, spec, seeds=2, budget=60)
    for run, res in runs:
        _, grad = _fns(_problem(run))
        n = res.summary.n_iter
        expected = recursion(res.trace["x"][0], grad, dict(run.optimizer.params), n)
        np.testing.assert_allclose(res.trace["x"], expected, rtol=1e-12, atol=1e-14)
        assert res.trace["n_g"].tolist() == list(range(n + 1)) and res.trace["n_f"].max() == 0


def test_gd_records_the_rate_it_used():
    for _, res in _run("quadratic-1d", "gd[lr=0.3,schedule=exponential(gamma=0.9)]", budget=30):
        np.testing.assert_allclose(res.trace["lr"], 0.3 * 0.9 ** np.arange(len(res.trace["lr"])), rtol=1e-15)


def test_adam_first_step_is_lr_times_the_sign_of_the_gradient():
    # m̂_1 = g, √v̂_1 = |g|: the first step is lr·g/(|g| + eps) whatever the curvature
    for problem in ("quadratic-1d", "quadratic-1d[h=1000]", "linear-regression"):
        for run, res in _run(problem, "adam[lr=0.01]", budget=3):
            x0, x1 = res.trace["x"][0], res.trace["x"][1]
            g = _problem(run).grad(x0[None])[0]
            np.testing.assert_allclose(x1 - x0, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12)


# -- Armijo backtracking: every trial counted --------------------------------------------------

def armijo_by_hand(x, f, grad, n_updates, lr=1.0, c=1e-4, rho=0.5, budget=math.inf):
    """Nocedal & Wright Alg. 3.1 from eta = lr, spending at most ``budget`` evaluations.

    Returns the iterates and the counters n_f, n_g after each completed update; an update
    whose search the budget cuts short is not completed, but what it evaluated is spent: it
    ends the record with the unchanged iterate at the full charge.
    """
    xs, nfs, ngs = [x], [0], [0]
    if budget < 2:
        return np.array(xs), nfs, ngs
    fx, g = f(x), grad(x)
    nf = ng = 1
    for k in range(n_updates):
        if k > 0:
            if nf + ng + 1 > budget:
                break
            g, ng = grad(x), ng + 1
        eta = lr
        while True:
            if nf + ng + 1 > budget:
                if nf + ng > nfs[-1] + ngs[-1]:
                    xs.append(x)
                    nfs.append(nf)
                    ngs.append(ng)
                return np.array(xs), nfs, ngs
            trial = x - eta * g
            ft, nf = f(trial), nf + 1
            if ft <= fx - c * eta * (g @ g):
                break
            eta *= rho
        x, fx = trial, ft
        xs.append(x)
        nfs.append(nf)
        ngs.append(ng)
    return np.array(xs), nfs, ngs


def test_armijo_counts_every_trial_and_a_batch_charges_each_run_its_own_trials():
    runs = _run("linear-regression", "armijo[lr=[1.0,0.3],rho=[0.5,0.8]]", seeds=2, budget=400)
    trials_per_update = set()
    for run, res in runs:
        prm, n = run.optimizer.params, res.summary.n_iter
        xs, nfs, ngs = armijo_by_hand(res.trace["x"][0], *_fns(_problem(run)), n,
                                      lr=prm["lr"], rho=prm["rho"], budget=400)
        np.testing.assert_allclose(res.trace["x"], xs, rtol=1e-12)
        assert res.trace["n_f"].tolist() == nfs and res.trace["n_g"].tolist() == ngs
        trials_per_update |= set(np.diff(nfs[1:]).tolist())  # f evaluations of updates 1, 2, ...
    assert len(trials_per_update) > 1  # runs of one batch needed different numbers of trials


def test_armijo_stops_inside_a_line_search_at_the_budget():
    for budget in (5, 9, 17):
        for run, res in _run("linear-regression", "armijo[lr=1.0,rho=0.5]", seeds=2, budget=budget):
            xs, nfs, ngs = armijo_by_hand(res.trace["x"][0], *_fns(_problem(run)), 10**6, budget=budget)
            assert res.status == "budget"
            assert res.summary.n_f + res.summary.n_g <= budget
            np.testing.assert_allclose(res.trace["x"], xs, rtol=1e-12)


def test_armijo_lands_on_the_minimum_of_a_standardized_regression_in_one_update():
    # H = 2I: eta = 1 overshoots to the mirror point (f unchanged, rejected), eta = 1/2 = 1/L lands
    for _, res in _run("linear-regression[standardize=true]", "armijo", budget=50, tol=1e-8):
        assert res.status == "converged" and res.summary.n_iter == 1
        assert res.trace["n_f"].tolist() == [0, 3] and res.trace["lr"].tolist() == [0.5]


# -- Polyak --------------------------------------------------------------------------------------

def test_polyak_halves_the_distance_on_a_1d_quadratic():
    for _, res in _run("quadratic-1d", "polyak", budget=40):
        e = res.trace["x"][:, 0] - 1.5
        # x carries ~1e-16 absolute round-off (x* = 1.5), so compare e to that floor
        np.testing.assert_allclose(e, e[0] * 0.5 ** np.arange(len(e)), rtol=1e-12, atol=1e-15)
        assert res.trace["n_f"][-1] == res.trace["n_g"][-1] == len(e) - 1


def test_polyak_on_regression_matches_its_formula():
    for run, res in _run("linear-regression", "polyak[c=2,max_lr=0.05]", budget=60):
        p = _problem(run)
        x = res.trace["x"][0]
        for t in range(res.summary.n_iter):
            g = p.grad(x[None])[0]
            eta = min((p.f(x[None])[0] - p.f_star) / (2 * g @ g), 0.05)
            assert res.trace["lr"][t] == pytest.approx(eta, rel=1e-12)
            x = x - eta * g
            np.testing.assert_allclose(res.trace["x"][t + 1], x, rtol=1e-12)


def test_polyak_is_skipped_where_f_star_is_unknown():
    plan = make_plan(["quad-no-fstar", "quadratic-1d"], ["polyak"], seeds=2, budget=10)
    assert len(plan.skipped) == 2
    assert all(run.problem.name == "quad-no-fstar" and "f_star" in why for run, why in plan.skipped)


# -- random search -------------------------------------------------------------------------------

def test_local_random_search_follows_its_own_generator():
    for run, res in _run("quadratic-1d", "random-search-local[sigma=[0.05,0.2]]", seeds=2, budget=40):
        p, sigma = _problem(run), run.optimizer.params["sigma"]
        rng = np.random.default_rng(run_seed(run.run_id))
        x = res.trace["x"][0]
        fx = p.f(x[None])[0]
        for t in range(res.summary.n_iter):
            cand = np.clip(x + sigma * (p.upper - p.lower) * rng.standard_normal(1), p.lower, p.upper)
            fc = p.f(cand[None])[0]
            if fc < fx:
                x, fx = cand, fc
            np.testing.assert_array_equal(res.trace["x"][t + 1], x)
        assert res.trace["n_f"].tolist() == [0] + list(range(2, res.summary.n_iter + 2))


# -- scipy: the adapter against direct calls ------------------------------------------------------

SCIPY = {
    "scipy-bfgs": ("BFGS", True, False, {}),
    "scipy-lbfgsb": ("L-BFGS-B", True, True, {}),
    "scipy-cg": ("CG", True, False, {}),
    "scipy-newton-cg": ("Newton-CG", True, False, {}),
    "scipy-nelder-mead": ("Nelder-Mead", False, True, {"maxiter": 10**9, "maxfev": 10**9}),
    "scipy-powell": ("Powell", False, True, {"maxiter": 10**9, "maxfev": 10**9}),
    "scipy-tnc": ("TNC", True, True, {"maxfun": 10**9}),
    "scipy-trust-constr": ("trust-constr", True, True, {}),
}


@pytest.mark.parametrize("problem", ["rosen-no-fstar", "quad-no-fstar"])
@pytest.mark.parametrize("name", list(SCIPY))
def test_scipy_variant_equals_a_direct_scipy_call(problem, name):

    method, uses_grad, bounded, options = SCIPY[name]
    for run, res in _run(problem, name, seeds=2, budget=100_000):
        p = _problem(run)
        direct, calls, seen = _direct_scipy(p, start_point(p, run.problem, run.seed), method, uses_grad,
                                            bounded, options)
        assert res.status == "stalled" and res.message.startswith(str(direct.message))
        np.testing.assert_allclose(res.summary.x_final, direct.x, rtol=1e-12, atol=1e-15)
        assert res.summary.n_f == direct.nfev == calls["f"]
        assert res.summary.n_g == calls["g"] == (direct.njev if "njev" in direct else calls["g"])
        # every recorded iterate is one scipy reported, in order
        idx = [next(i for i, s in enumerate(seen) if np.array_equal(s, xr)) for xr in res.trace["x"][1:]]
        assert idx == sorted(idx)


@pytest.mark.parametrize("name", ["scipy-bfgs", "scipy-lbfgsb", "scipy-nelder-mead"])
def test_scipy_on_a_known_optimum_equals_scipy_only_with_tol_zero(name):
    # rosenbrock knows f* = 0: with tol = 0 the runner never stops scipy, with the default
    # tol it stops at the first iterate scipy reports with f − f* ≤ tol
    method, uses_grad, bounded, options = SCIPY[name]
    for tol in (0.0, 1e-8):
        for run, res in _run("rosenbrock", name, seeds=2, budget=100_000, tol=tol):
            p = _problem(run)
            x0 = start_point(p, run.problem, run.seed)
            direct, calls, seen = _direct_scipy(p, x0, method, uses_grad, bounded, options)
            if tol == 0.0:
                assert res.status == "stalled"
                np.testing.assert_allclose(res.summary.x_final, direct.x, rtol=1e-12, atol=1e-15)
                assert res.summary.n_f == direct.nfev
            else:
                f, _ = _fns(p)
                first = next(x for x in seen if f(x) - p.f_star <= tol)
                assert res.status == "converged"
                np.testing.assert_array_equal(res.summary.x_final, first)
                assert res.summary.n_f < direct.nfev  # scipy alone goes on


def _direct_scipy(p, x0, method, uses_grad, bounded, options):
    """scipy.optimize.minimize on the problem, counting calls and collecting the callback's x."""
    import warnings

    from scipy.optimize import Bounds, minimize

    calls, seen = {"f": 0, "g": 0}, []
    f, grad = _fns(p)

    def fun(x):
        calls["f"] += 1
        return f(x)

    def jac(x):
        calls["g"] += 1
        return grad(x)

    kw = {"jac": jac} if uses_grad else {}
    if bounded:
        kw["bounds"] = Bounds(p.lower, p.upper)
    if method == "Newton-CG" and p.hessian is not None:
        kw["hessp"] = lambda x, v: p.hessian @ v
    with warnings.catch_warnings():  # the adapter records scipy's warnings in its message
        warnings.simplefilter("ignore")
        direct = minimize(fun, x0, method=method, options=options,
                          callback=lambda xk, *a: seen.append(np.array(getattr(xk, "x", xk))), **kw)
    return direct, calls, seen


def test_newton_cg_uses_the_constant_hessian_where_known():
    # with H given, no gradient is spent on finite-difference Hessian products
    (_, with_h), = _run("quad-no-fstar", "scipy-newton-cg", seeds=1, budget=10_000)
    (_, without), = _run("rosen-no-fstar", "scipy-newton-cg", seeds=1, budget=10_000)
    assert with_h.summary.n_g == with_h.summary.n_f
    assert without.summary.n_g > without.summary.n_f


@pytest.mark.parametrize("name", list(SCIPY) + ["scipy-multistart"])
def test_scipy_variants_stop_at_the_budget(name):
    for _, res in _run("rosen-no-fstar", name, seeds=2, budget=11):
        assert res.status == "budget"
        assert res.summary.n_f + res.summary.n_g <= 11


def multistart_by_hand(p, x, rng, budget):
    """L-BFGS-B from x, then from uniform draws of rng, until the budget; (best f, starts)."""
    from scipy.optimize import Bounds, minimize

    class Spent(Exception):
        pass

    cost, best, starts = [0], [math.inf], 0
    f, grad = _fns(p)

    def charged(fn):
        def call(x):
            if cost[0] + 1 > budget:
                raise Spent
            cost[0] += 1
            return fn(x)
        return call

    def cb(intermediate_result):
        best[0] = min(best[0], intermediate_result.fun)

    try:
        while True:
            r = minimize(charged(f), x, jac=charged(grad), method="L-BFGS-B", bounds=Bounds(p.lower, p.upper),
                         callback=cb)
            best[0] = min(best[0], r.fun)
            starts += 1
            x = rng.uniform(p.lower, p.upper, (1,))
    except Spent:
        return best[0], starts


def test_multistart_restarts_from_its_own_generator_and_shares_the_budget():
    budget = 150
    for run, res in _run("wavy-no-fstar", "scipy-multistart", seeds=2, budget=budget):
        p = _problem(run)
        best, starts = multistart_by_hand(p, start_point(p, run.problem, run.seed),
                                          np.random.default_rng(run_seed(run.run_id)), budget)
        assert starts >= 3  # the budget paid for several local runs
        assert res.status == "budget" and res.summary.n_f + res.summary.n_g <= budget
        assert np.min(res.trace["f"]) == pytest.approx(best, rel=1e-12)
        assert np.all(np.diff(res.trace["f"]) <= 0)  # the iterate is the incumbent


def test_multistart_without_a_gradient_pays_finite_differences_in_f(tmp_path):
    plugin = tmp_path / "fonly.py"
    plugin.write_text("from optbench import Problem, register_problem\n"
                      "@register_problem('bowl-f-only')\n"
                      "def bowl():\n"
                      "    return Problem(dim=2, f=lambda X: ((X - 0.3) ** 2).sum(axis=1), bounds=([-1, -1], [1, 1]))\n")
    registry.load_plugin(str(plugin))
    for _, res in _run("bowl-f-only", "scipy-multistart[max_starts=2]", seeds=1, budget=1000):
        assert res.summary.n_g == 0 and res.summary.n_f > 0
        assert res.status == "stalled" and res.message.startswith("2 starts done")
    plan = make_plan(["bowl-f-only"], ["scipy-bfgs", "scipy-nelder-mead"], seeds=1, budget=10)
    assert [run.optimizer.name for run, _ in plan.skipped] == ["scipy-bfgs"]


# -- bad input: one line naming the optimizer, the parameter, the value and the valid range ------

@pytest.mark.parametrize("spec,message", [
    ("gd[lr=0]", "optimizer 'gd': lr must be > 0, got 0.0"),
    ("momentum[lr=-0.1]", "optimizer 'momentum': lr must be > 0, got -0.1"),
    ("momentum[momentum=1]", r"optimizer 'momentum': momentum must be in \[0, 1\), got 1.0"),
    ("momentum[momentum=-0.5]", r"momentum must be in \[0, 1\), got -0.5"),
    ("momentum[dampening=2]", r"dampening must be in \[0, 1\], got 2.0"),
    ("nesterov[momentum=0]", r"optimizer 'nesterov': momentum must be in \(0, 1\), got 0.0"),
    ("adam[lr=0]", "optimizer 'adam': lr must be > 0, got 0.0"),
    ("adam[beta1=1]", r"optimizer 'adam': beta1 must be in \[0, 1\), got 1.0"),
    ("adam[beta2=-0.1]", r"optimizer 'adam': beta2 must be in \[0, 1\), got -0.1"),
    ("adam[eps=-1e-8]", "optimizer 'adam': eps must be >= 0, got -1e-08"),
    ("adam[lr=[0.1,-0.1]]", "optimizer 'adam': lr must be > 0, got -0.1"),
    ("rmsprop[alpha=1.5]", r"optimizer 'rmsprop': alpha must be in \[0, 1\), got 1.5"),
    ("adagrad[lr_decay=-1]", "optimizer 'adagrad': lr_decay must be >= 0, got -1.0"),
    ("armijo[c=0]", r"optimizer 'armijo': c must be in \(0, 1\), got 0.0"),
    ("armijo[rho=1]", r"optimizer 'armijo': rho must be in \(0, 1\), got 1.0"),
    ("polyak[c=-1]", "optimizer 'polyak': c must be > 0, got -1.0"),
    ("random-search-local[sigma=0]", "optimizer 'random-search-local': sigma must be > 0, got 0.0"),
    ("scipy-bfgs[gtol=-1]", "optimizer 'scipy-bfgs': gtol must be > 0, got -1.0"),
    ("scipy-multistart[method=slsqp]", "optimizer 'scipy-multistart': method must be one of L-BFGS-B, BFGS, CG, Nelder-Mead, Powell, got 'slsqp'"),
    ("adam[schedule=cosine(T=0)]", "schedule 'cosine': T must be a whole number >= 1, got 0"),
])
def test_bad_hyperparameters_are_one_line_errors(spec, message):
    with pytest.raises(optbench.InvalidValueError, match=message) as info:
        make_plan(["quadratic-1d"], [spec])
    assert "\n" not in str(info.value)


def test_unknown_schedule_for_any_optimizer():
    for name in ("gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"):
        with pytest.raises(optbench.UnknownNameError, match="did you mean 'cosine'"):
            make_plan(["quadratic-1d"], [f"{name}[schedule=cosin]"])
