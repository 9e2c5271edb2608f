"""Metrics against closed forms on quadratics, hand-made trajectories, the reference's numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optbench import Problem, registry
from optbench.metrics import INT_KEYS, METRICS, batch_metrics, cycle_period
from optbench.plan import Batch, make_plan
from optbench.runner import BatchTrace, run_batch

L = 2.0
GRID = [0.05, 0.3, 0.4, 0.7, 0.93, 1.07, 1.3, 1.5, 1.7, 1.9, 1.97]  # η·L, off ceiling boundaries


# -- helpers ---------------------------------------------------------------------------------


def make_trace(
    x, f, *, end=None, f_star=0.0, x_star=(0.0,), lr=None, n_f=None, n_g=None
) -> BatchTrace:
    """A BatchTrace from arrays: x (T+1, B) or (T+1, B, d), f (T+1, B)."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[..., None]
    n, B, d = x.shape
    f = np.asarray(f, dtype=float)
    steps = np.broadcast_to(np.arange(n)[:, None], (n, B)).astype(np.int64)
    return BatchTrace(
        x=x,
        f=f,
        gnorm=np.full((n, B), np.nan),
        n_f=np.zeros((n, B), np.int64) if n_f is None else np.asarray(n_f),
        n_g=steps.copy() if n_g is None else np.asarray(n_g),
        lr=np.full((n - 1, B), np.nan) if lr is None else np.asarray(lr, dtype=float),
        time=np.arange(n, dtype=float),
        end=np.full(B, n - 1) if end is None else np.asarray(end),
        f_star=f_star,
        x_star=None if x_star is None else np.asarray(x_star, float).reshape(-1, d),
    )


def quadratic(lam, x_star=None, f_star=0.0) -> Problem:
    lam = np.asarray(lam, dtype=float)
    d = lam.size
    xs = np.zeros(d) if x_star is None else np.asarray(x_star, dtype=float)
    return Problem(
        dim=d,
        f=lambda X: 0.5 * np.sum(lam * (X - xs) ** 2, axis=1) + f_star,
        grad=lambda X: lam * (X - xs),
        bounds=(xs - 10, xs + 10),
        x_star=[xs],
        f_star=f_star,
        L=lam.max(),
        mu=lam.min(),
        hessian=np.diag(lam),
    )


def gd_1d(eta_ls, T, x0=1.0):
    """GD on (L/2)x², x* = 0, one run per η·L, by the recursion itself."""
    lr = np.asarray(eta_ls, dtype=float) / L
    x = np.empty((T + 1, lr.size))
    x[0] = x0
    for t in range(T):
        x[t + 1] = x[t] - lr * (L * x[t])
    return make_trace(x, 0.5 * L * x**2, lr=np.tile(lr, (T, 1)))


def run(problem: str, optimizer: str, seeds=1, budget=200, tol=1e-8, max_iter=None):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget, tol=tol, max_iter=max_iter)
    by_id = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return [by_id[r.run_id] for r in plan.runs], plan


def plugin(tmp_path, name: str, source: str) -> None:
    path = tmp_path / f"{name.replace('-', '_')}.py"
    path.write_text("import numpy as np\nfrom optbench import Problem, register_problem\n" + source)
    registry.load_plugin(str(path))


def ceil_settle(eta_l: float, delta: float) -> int:
    return 1 if eta_l == 1.0 else math.ceil(math.log(delta) / math.log(abs(1 - eta_l)))


# -- closed forms on the 1-D quadratic ----------------------------------------------------------


@pytest.mark.parametrize("eta_l", GRID + [1.0, 2.0])
def test_gd_on_a_quadratic_matches_the_closed_forms(eta_l):
    T = 200
    trace = gd_1d([eta_l], T)
    (m,) = batch_metrics(trace, quadratic([L]), ["budget"], "gd")
    po = 100 * max(0.0, eta_l - 1)
    assert m["po"] == pytest.approx(po, rel=1e-12, abs=1e-12)
    assert m["po1"] == pytest.approx(po, rel=1e-12, abs=1e-12)
    assert m["n_cross"] == (T if 1 < eta_l <= 2 else 0)
    assert m["sc_rate"] == (1.0 if 1 < eta_l <= 2 else 0.0)
    assert m["zz_cos_mean"] == (None if eta_l == 1 else -1.0 if eta_l > 1 else 1.0)
    assert m["n_up"] == 0  # f decreases monotonically for every η < 2/L (and is constant at 2/L)
    assert m["us"] == 0
    if eta_l < 2:
        assert m["t_settle_2"] == ceil_settle(eta_l, 0.02)
        assert m["t_settle_5"] == ceil_settle(eta_l, 0.05)
        assert m["cycle_period"] is None
    else:
        assert m["t_settle_2"] is None and m["cycle_period"] == 2
    if eta_l > 1:
        assert m["t_peak"] == 1 and m["t_rise"] == 0
    elif eta_l < 1:
        t_a = [math.ceil(math.log(1 - a) / math.log(1 - eta_l)) for a in (0.1, 0.9)]
        assert m["t_rise"] == t_a[1] - t_a[0]
    e = np.abs(trace.x[:, 0, 0])
    if eta_l not in (1.0, 2.0):
        n_win = int(np.sum((e > 1e-7) & (e < 0.1)))
        assert m["rate_x"] == (pytest.approx(abs(1 - eta_l), rel=1e-9) if n_win >= 5 else None)
        gap = 0.5 * L * e**2
        n_win = int(np.sum((gap > 1e-13) & (gap < 0.1 * gap[0])))
        assert m["rate_f"] == (pytest.approx((1 - eta_l) ** 2, rel=1e-9) if n_win >= 5 else None)
    # theory beside it
    # by the factor 1 − ηL (docs/metrics.md#the-theory-of-the-quadratic): positive, zero,
    # in (−1, 0), exactly −1
    expected = {1.0: "one-step", 2.0: "period-2"}.get(
        eta_l, "monotone" if eta_l < 1 else "oscillating-convergent"
    )
    assert m["th_regime"] == expected
    assert m["th_po"] == pytest.approx(po, rel=1e-12, abs=1e-12)
    assert m["th_rate_x"] == pytest.approx(abs(1 - eta_l), rel=1e-12, abs=1e-15)
    assert m["th_rate_f"] == pytest.approx((1 - eta_l) ** 2, rel=1e-12, abs=1e-15)
    assert m["th_settle_2"] == (ceil_settle(eta_l, 0.02) if eta_l < 2 else None)
    assert m["th_div_iter"] is None


def _eig_flip_rate(eta, lam):
    """sc_rate_eig by the closed form: GD multiplies the error along v_i by
    ``1 − ηλ_i`` each step, so that direction's steps alternate in sign every step when the
    factor is negative and never when it is positive; a zero factor lands in one step, and
    what follows is round-off that does not count. Mean over the directions that keep moving."""
    factors = 1 - eta * np.asarray(lam)
    moving = factors != 0
    return float(np.mean(factors[moving] < 0))


@pytest.mark.parametrize("eta_l", [0.5, 1.0, 1.5])
def test_eigenbasis_sign_changes_on_linear_regression_follow_the_closed_form(eta_l):
    from optbench.plan import build_problem
    from optbench.spec import parse

    lam = np.linalg.eigvalsh(build_problem(parse("linear-regression")).hessian)
    eta = eta_l / float(lam[-1])
    assert _eig_flip_rate(eta, lam) == {0.5: 0.0, 1.0: 0.0, 1.5: 0.5}[eta_l]
    # tol=0 runs on into round-off, where the converged directions' steps are noise
    results, _ = run("linear-regression", f"gd[lr={eta!r}]", seeds=3, budget=3000, tol=0.0)
    for r in results:
        assert r.metrics["sc_rate_eig"] == _eig_flip_rate(eta, lam)


@pytest.mark.parametrize("eta_l", [0.5, 1.0, 1.5, 1.9])
def test_eigenbasis_sign_changes_far_from_the_origin(eta_l):
    # a rotated 3-D quadratic with x* at ~1e3: its iterates' round-off is ~1e-13 and GD is
    # run by the recursion itself until every direction has converged into it
    lam = np.array([0.1, 0.8, 2.0])
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))
    H = Q @ np.diag(lam) @ Q.T
    xs = np.array([1000.0, -700.0, 300.0])
    eta = eta_l / lam[-1]
    T = 2000
    x = np.empty((T + 1, 1, 3))
    x[0, 0] = xs + np.array([1.0, 2.0, -1.5])
    for t in range(T):
        x[t + 1, 0] = x[t, 0] - eta * (H @ (x[t, 0] - xs))
    f = 0.5 * np.einsum("tbi,ij,tbj->tb", x - xs, H, x - xs)
    problem = Problem(
        dim=3,
        f=lambda X: 0.5 * np.einsum("bi,ij,bj->b", X - xs, H, X - xs),
        grad=lambda X: (X - xs) @ H,
        bounds=(xs - 10, xs + 10),
        x_star=[xs],
        f_star=0.0,
        L=2.0,
        mu=0.1,
        hessian=H,
    )
    (m,) = batch_metrics(make_trace(x, f, x_star=xs), problem, ["budget"], "gd")
    assert m["sc_rate_eig"] == _eig_flip_rate(eta, lam)


def test_tail_and_steady_state_by_hand():
    T = 120
    trace = gd_1d([0.5], T, x0=2.0)
    (m,) = batch_metrics(trace, quadratic([L]), ["budget"], "gd")
    W = max(10, math.ceil(0.1 * (T + 1)))
    e = 2.0 * 0.5 ** np.arange(T + 1)
    tail = e[-W:]
    assert m["e_ss"] == pytest.approx(tail.mean(), rel=1e-12)
    assert m["e_ss_gap"] == pytest.approx(np.mean(0.5 * L * tail**2), rel=1e-12)
    assert m["tail_amp_x"] == pytest.approx(np.max(np.abs(tail - tail.mean())) / 2.0, rel=1e-12)
    f = 0.5 * L * tail**2
    assert m["tail_amp_f"] == pytest.approx((f.max() - f.min()) / 2, rel=1e-12)
    assert m["straightness"] == pytest.approx(1.0, rel=1e-14)
    assert m["dist_final"] == pytest.approx(e[-1], rel=1e-12)


# -- runs through the real runner: divergence, period 2, settling ---------------------------------


def test_divergence_at_2_2_is_predicted_and_po1_is_120():
    results, _ = run("quadratic-1d", "gd[lr=2.2/L]", seeds=3, budget=1000)
    for r in results:
        m = r.metrics
        assert r.status == "diverged" and r.summary.n_iter == 38
        assert m["th_div_iter"] == 38 and m["th_regime"] == "divergent"
        assert m["po1"] == pytest.approx(120.0, rel=1e-12) and m["th_po1"] == pytest.approx(
            120.0, rel=1e-12
        )
        assert m["po"] is None and m["th_po"] is None
        assert m["t_settle_2"] is None and m["rate_x"] is None
        assert m["n_up"] == 38  # every step of a divergent GD raises the loss


def test_gd_at_two_over_L_ends_in_a_period_two_cycle():
    results, _ = run("quadratic-1d", "gd[lr=2/L]", seeds=2, budget=500)
    for r in results:
        m = r.metrics
        assert r.status == "cycle" and "period-2" in r.message
        assert m["cycle_period"] == 2 and m["th_regime"] == "period-2"
        assert m["po"] == pytest.approx(100.0, rel=1e-12) and m["th_po"] == pytest.approx(
            100.0, rel=1e-12
        )
        assert m["tail_amp_x"] == pytest.approx(1.0, rel=1e-9)  # x_t = x* ± e_0 forever


def test_settling_time_eight_at_0_4():
    results, _ = run("quadratic-1d", "gd[lr=0.4/L]", seeds=3, budget=300)
    for r in results:
        assert r.metrics["t_settle_2"] == 8 == r.metrics["th_settle_2"]
        assert r.metrics["th_settle_5"] == ceil_settle(0.4, 0.05) == r.metrics["t_settle_5"]
        assert r.status == "converged"


def test_lr_sweep_batch_equals_its_runs_alone():
    _, plan = run("quadratic-1d", "gd[lr=[0.4/L,1.9/L,2/L,2.2/L]]", seeds=2, budget=300, tol=0.0)
    for batch in plan.batches:
        together = {r.run_id: r for r in run_batch(batch)}
        for spec in batch.runs:
            (alone,) = run_batch(Batch(0, [spec], batch.batchable))
            both = together[spec.run_id]
            assert alone.status == both.status
            for k in METRICS:
                a, b = alone.metrics[k], both.metrics[k]
                assert (a is None) == (b is None), k
                if "hit_time_" in k:  # the batch's clock, not the run's: it differs alone
                    continue
                if isinstance(a, float):
                    assert a == pytest.approx(b, rel=1e-12, abs=1e-300), k
                else:
                    assert a == b, k


def test_decaying_oscillation_is_not_a_cycle():
    # (−0.97)^t scaled so that over the tail window every lag-2 difference is below 1e-9
    # while every step exceeds it; a limit cycle keeps its amplitude, this one does not
    T = 600
    W = max(10, math.ceil(0.1 * (T + 1)))
    e0 = 1.5e-8 / 0.97 ** (T + 1 - W)
    x = e0 * (-0.97) ** np.arange(T + 1)
    w = x[-W:]
    assert np.all(np.abs(w[2:] - w[:-2]) <= 1e-9) and np.all(np.abs(np.diff(w)) > 1e-9)
    (m,) = batch_metrics(
        make_trace(x[:, None], 0.5 * L * x[:, None] ** 2), quadratic([L]), ["max-iter"]
    )
    assert m["cycle_period"] is None


def test_cycle_period_three_and_fixed_point():
    orbit = np.array([0.3, -1.2, 2.5])
    x3 = np.tile(orbit, 20)[:, None, None]
    fixed = np.full((60, 1, 1), 0.7)
    both = np.concatenate([x3, fixed], axis=1)
    assert cycle_period(both).tolist() == [3, 0]


# -- non-quadratic cases (docs/metrics.md#the-theory-of-the-quadratic) ---------------------


def _need(name: str, tmp_path, source: str) -> str:
    if name in registry.names("problem"):
        return name
    local = f"tm-{name}"
    plugin(tmp_path, local, source.replace("NAME", local))
    return local


def test_log_cosh_with_lr_3_settles_on_a_stable_two_cycle(tmp_path):
    name = _need(
        "log-cosh",
        tmp_path,
        (
            "@register_problem('NAME')\n"
            "def p(c: float = 1.0):\n"
            "    return Problem(dim=1, f=lambda X: np.log(np.cosh(X[:, 0] - c)),\n"
            "                   grad=lambda X: np.tanh(X - c),\n"
            "                   bounds=([c - 10], [c + 10]), x_star=[[c]], f_star=0.0, L=1.0)\n"
        ),
    )
    results, _ = run(name, "gd[lr=3]", seeds=4, budget=2000)
    for r in results:
        assert r.status == "cycle" and r.metrics["cycle_period"] == 2
        x = r.trace["x"][-2:, 0]
        # 2·x_c = 3·tanh(x_c), x_c = 1.287839455
        np.testing.assert_allclose(np.sort(x - 1.0), [-1.287839455, 1.287839455], atol=1e-8)
        assert r.metrics["n_cross"] >= 1 and r.metrics["sc_rate"] > 0.5


def test_absolute_value_with_fixed_lr_cycles_between_0_1_and_minus_0_2(tmp_path):
    plugin(
        tmp_path,
        "tm-abs-from-one",
        (
            "@register_problem('tm-abs-from-one')\n"
            "def p():\n"
            "    return Problem(dim=1, f=lambda X: np.abs(X[:, 0]), grad=np.sign,\n"
            "                   bounds=([-2.0], [2.0]),\n"
            "                   x_star=[[0.0]], f_star=0.0, start=lambda rng: [1.0])\n"
        ),
    )
    (r,), _ = run("tm-abs-from-one", "gd[lr=0.3]", budget=500)
    assert r.status == "cycle" and r.metrics["cycle_period"] == 2
    np.testing.assert_allclose(sorted(r.trace["x"][-2:, 0]), [-0.2, 0.1], atol=1e-12)
    assert r.summary.n_iter < 30  # caught early, not left to run into the budget
    name = _need(
        "absolute-value",
        tmp_path,
        (
            "@register_problem('NAME')\n"
            "def p():\n"
            "    return Problem(dim=1, f=lambda X: np.abs(X[:, 0]), grad=np.sign,\n"
            "                   bounds=([-2.0], [2.0]),\n"
            "                   x_star=[[0.0]], f_star=0.0)\n"
        ),
    )
    results, _ = run(name, "gd[lr=0.05]", seeds=3, budget=3000)
    assert all(r.status == "cycle" and r.metrics["cycle_period"] == 2 for r in results)


def test_quartic_critical_radius(tmp_path):
    plugin(
        tmp_path,
        "tm-quartic-from",
        (
            "@register_problem('tm-quartic-from')\n"
            "def p(x0: float = 7.0):\n"
            "    return Problem(dim=1, f=lambda X: X[:, 0] ** 4, grad=lambda X: 4 * X**3,\n"
            "                   bounds=([-8.0], [8.0]),\n"
            "                   x_star=[[0.0]], f_star=0.0, start=lambda rng: [x0])\n"
        ),
    )
    # 1/√(2η) = 7.07 at η = 0.01
    (inside,), _ = run("tm-quartic-from[x0=7.0]", "gd[lr=0.01]", budget=400)
    (outside,), _ = run("tm-quartic-from[x0=7.2]", "gd[lr=0.01]", budget=400)
    assert inside.status not in ("diverged", "non-finite", "cycle")
    assert abs(inside.trace["x"][-1, 0]) < 0.5
    assert inside.metrics["po1"] == pytest.approx(100 * (4 * 0.01 * 7.0**2 - 1), rel=1e-12)  # 96 %
    assert inside.metrics["po1"] == pytest.approx(96.0, rel=1e-12)
    assert outside.status == "diverged"
    assert outside.metrics["po"] is None and outside.metrics["po1"] > 96


# -- momentum theory, samplers, unknown optimum ----------------------------------------------------


def _heavy_ball_closed_form(eta_lam, beta, T=2000):
    """Heavy ball's error along one eigen-direction from the characteristic roots: with
    ``q_{t+1} = (1 + β − ηλ)q_t − βq_{t−1}``, ``q_1 = (1 − ηλ)q_0``, the error is
    ``q_t = c₁z₁ᵗ + c₂z₂ᵗ`` for the roots of ``z² − (1 + β − ηλ)z + β`` (distinct here)."""
    z1, z2 = np.roots([1.0, -(1 + beta - eta_lam), beta]).astype(complex)
    q0, q1 = 1.0, 1.0 - eta_lam
    c2 = (q1 - z1 * q0) / (z2 - z1)
    c1 = q0 - c2
    t = np.arange(T + 1)
    return (c1 * z1**t + c2 * z2**t).real


def _po_and_settling(q, delta=0.02):
    """PO (%) and the first t after which |q| stays within δ·|q_0|, on a 1-D error path."""
    po = 100 * max(0.0, float(np.max(-q)) / q[0])
    outside = np.flatnonzero(np.abs(q) > delta * abs(q[0]))
    return po, int(outside[-1]) + 1


@pytest.mark.parametrize(
    "beta,lr_h,budget",
    [(0.5, 1.0, 200), (0.9, 1.0, 30), (0.9, 0.2, 30), (0.5, 2.5, 30), (0.7, 0.05, 30)],
)
def test_heavy_ball_theory_is_the_closed_form_whatever_the_run_did(beta, lr_h, budget):
    # quadratic-1d is ½·2·(x − 1.5)²: at ηh = 1 heavy ball lands on x* after one update and
    # the run stops there, but the momentum carries the modelled path on past x*
    h = 2.0
    (r,), _ = run("quadratic-1d", f"momentum[lr={lr_h / h!r},momentum={beta}]", budget=budget)
    po, settle = _po_and_settling(_heavy_ball_closed_form(lr_h, beta))
    assert r.metrics["th_po"] == pytest.approx(po, rel=1e-9, abs=1e-9)
    assert r.metrics["th_settle_2"] == settle
    if (beta, lr_h) == (0.5, 1.0):
        assert r.status == "converged" and r.summary.n_iter == 1
        assert (po, settle) == (pytest.approx(50.0), 11)  # q = 1, 0, −β, ...: PO = 100β


def test_heavy_ball_theory_in_the_eigenbasis_of_linear_regression():
    from optbench.plan import build_problem
    from optbench.spec import parse

    problem = build_problem(parse("linear-regression"))
    lam, V = np.linalg.eigh(problem.hessian)
    Lr = float(lam[-1])
    beta = 0.5
    for eta_l in (0.3, 1.0):
        (r,), _ = run(
            "linear-regression", f"momentum[lr={eta_l / Lr!r},momentum={beta}]", budget=40
        )
        e0 = np.asarray(r.trace["x"][0], dtype=float).reshape(-1) - problem.x_star[0]
        q0 = V.T @ e0
        # each eigen-direction by its own roots, then back to x: e_t = Σ_i q_{i,t} v_i
        q = np.stack(
            [q0[i] * _heavy_ball_closed_form(eta_l * lam[i] / Lr, beta) for i in (0, 1)]
        )
        e = (V @ q).T
        u = e0 / np.linalg.norm(e0)
        po = 100 * max(0.0, float(np.max(-(e @ u)))) / np.linalg.norm(e0)
        dist = np.linalg.norm(e, axis=1)
        settle = int(np.flatnonzero(dist > 0.02 * dist[0])[-1]) + 1
        assert r.metrics["th_po"] == pytest.approx(po, rel=1e-9, abs=1e-9)
        assert r.metrics["th_settle_2"] == settle
        roots = [np.roots([1.0, -(1 + beta - eta_l * lam_i / Lr), beta]) for lam_i in lam]
        assert r.metrics["th_rate_x"] == pytest.approx(np.max(np.abs(roots)), rel=1e-9)


def test_scheduled_gd_theory_continues_the_schedule_past_the_run():
    # exponential decay from ηh = 1.9 on quadratic-1d: the error is Π_s (1 − η_0γ^s·h), and
    # a 6-evaluation budget ends the run long before the path settles
    h, gamma = 2.0, 0.97
    spec = f"gd[lr={1.9 / h!r},schedule=exponential(gamma={gamma})]"
    (r,), _ = run("quadratic-1d", spec, budget=6)
    assert r.status == "budget"
    q = np.cumprod(np.r_[1.0, [1 - 1.9 * gamma**s for s in range(3000)]])
    po, settle = _po_and_settling(q)
    assert r.metrics["th_po"] == pytest.approx(po, rel=1e-9)
    assert r.metrics["th_settle_2"] == settle > r.summary.n_iter


def test_random_search_has_no_dynamics_metrics():
    results, _ = run("quadratic-1d", "random-search", seeds=3, budget=100)
    dynamics = [
        "po",
        "po1",
        "us",
        "n_cross",
        "t_rise",
        "t_peak",
        "t_settle_2",
        "t_settle_5",
        "sc_rate",
        "grad_rev",
        "zz_cos_mean",
        "n_up",
        "ascent_ratio",
        "tail_amp_x",
        "tail_amp_f",
        "cycle_period",
        "straightness",
        "th_regime",
        "th_po",
    ]
    for r in results:
        assert all(r.metrics[k] is None for k in dynamics)
        assert r.metrics["gap_best"] is not None and r.metrics["dist_final"] is not None


def test_without_f_star_and_x_star_targets_use_the_runs_best():
    f = np.array([[10.0], [6.0], [7.0], [2.2], [2.0]])  # f_L = 2: gap_L = 8, 4, 5, 0.2, 0
    x = np.array([[3.0], [1.0], [2.0], [0.5], [0.1]])
    prob = Problem(dim=1, f=lambda X: X[:, 0] ** 2, grad=lambda X: 2 * X, bounds=([-5.0], [5.0]))
    (m,) = batch_metrics(make_trace(x, f, f_star=None, x_star=None), prob, ["budget"], "gd")
    assert m["rel_hit_iter_1e-1"] == 3 and m["rel_hit_iter_1e-3"] == 4
    assert m["hit_iter_1e-1"] is None and m["gap_final"] is None and m["aulg"] is None
    assert m["dist_final"] is None and m["po"] is None and m["e_ss"] is None
    assert m["n_up"] == 1 and m["sc_rate"] == pytest.approx(2 / 3)  # steps −2, +1, −1.5, −0.4


# -- hand-made trajectories ------------------------------------------------------------------


def test_targets_stay_times_and_costs_by_hand():
    gap = np.array([1.0, 0.5, 0.05, 0.2, 0.001, 0.002])
    x = np.sqrt(gap)[:, None]
    n_g = np.array([0, 3, 5, 9, 10, 14])[:, None]
    n_f = np.array([0, 1, 1, 1, 2, 2])[:, None]
    (m,) = batch_metrics(
        make_trace(x, gap[:, None], n_f=n_f, n_g=n_g), quadratic([2.0]), ["budget"], budget=20
    )
    assert (m["hit_iter_1e-1"], m["hit_cost_1e-1"]) == (2, 6)
    assert (m["hit_iter_1e-2"], m["hit_cost_1e-2"]) == (4, 12)
    assert m["hit_iter_1e-3"] == 4 and m["hit_iter_1e-4"] is None
    assert m["stay_iter_1e-1"] == 4 and m["stay_iter_1e-2"] == 4 and m["stay_iter_1e-3"] is None
    assert (
        m["rel_hit_iter_1e-1"] == 2
        and m["rel_hit_iter_1e-3"] == 4
        and m["rel_hit_iter_1e-5"] is None
    )
    assert m["gap_final"] == 0.002 and m["gap_best"] == 0.001
    # AULG on the cost axis: the incumbent as a step function of cost, frozen to the budget
    best = np.minimum.accumulate(gap)
    cost = (n_f + n_g)[:, 0]
    area = sum(math.log10(best[t]) * (cost[t + 1] - cost[t]) for t in range(5)) + math.log10(
        best[5]
    ) * (20 - cost[5])
    assert m["aulg"] == pytest.approx(area / 20, rel=1e-12)
    (m,) = batch_metrics(make_trace(x, gap[:, None]), quadratic([2.0]), ["budget"], max_iter=8)
    expected = (sum(math.log10(b) for b in best) + 2 * math.log10(best[-1])) / 8  # t = 0..7
    assert m["aulg"] == pytest.approx(expected, rel=1e-12)


def test_zigzag_cross_track_and_straightness_by_hand():
    x = np.array([[4.0, 1.0], [2.0, -1.0], [1.0, 0.5], [0.5, -0.25], [0.0, 0.0]])
    f = 0.5 * np.sum(x**2, axis=1)
    (m,) = batch_metrics(
        make_trace(x[:, None, :], f[:, None], x_star=(0.0, 0.0)),
        quadratic([1.0, 1.0]),
        ["budget"],
        "gd",
    )
    s = np.diff(x, axis=0)
    cos = [s[t] @ s[t + 1] / np.linalg.norm(s[t]) / np.linalg.norm(s[t + 1]) for t in range(3)]
    assert m["zz_cos_mean"] == pytest.approx(np.mean(cos), rel=1e-12)
    assert m["zz_reversals"] == pytest.approx(np.mean(np.array(cos) < -0.5))
    flips = np.mean(
        [np.mean(s[t] * s[t + 1] < 0) for t in range(3)]
    )  # per coordinate, then averaged
    assert m["sc_rate"] == pytest.approx(flips, rel=1e-12)
    u = x[0] / np.linalg.norm(x[0])
    r = [np.linalg.norm(p - (p @ u) * u) for p in x]
    assert m["cross_track"] == pytest.approx(max(r) / np.linalg.norm(x[0]), rel=1e-12)
    assert m["straightness"] == pytest.approx(
        np.linalg.norm(x[-1] - x[0]) / np.sum(np.linalg.norm(s, axis=1))
    )
    g = x  # ∇ of ½‖x‖²
    dots = [g[t] @ g[t + 1] for t in range(4)]
    assert m["grad_rev"] == pytest.approx(np.mean(np.array(dots) < 0))
    assert m["grad_sbar"] == pytest.approx(np.mean(dots), rel=1e-12)


def test_loss_increases_and_ascent_ratio_by_hand():
    f = np.array([5.0, 3.0, 4.0, 1.0, 1.5, 1.5 + 1e-13, 0.5])
    x = np.sqrt(f)[:, None]
    (m,) = batch_metrics(make_trace(x, f[:, None]), quadratic([2.0]), ["budget"])
    assert m["n_up"] == 2  # the 1e-13 rise is below the 1e-12 tolerance
    assert m["up_frac"] == pytest.approx(2 / 6)
    assert m["ascent_ratio"] == pytest.approx((1.0 + 0.5 + 1e-13) / (5.0 - 0.5), rel=1e-12)


def test_overshoot_undershoot_and_first_peak_by_hand():
    # x* = 0, x0 = 1: wrong way first (undershoot), then past x* twice with different peaks
    x = np.array([1.0, 1.3, -0.2, -0.5, 0.1, -0.7, 0.05])
    (m,) = batch_metrics(make_trace(x[:, None], x[:, None] ** 2), quadratic([2.0]), ["budget"])
    assert m["us"] == pytest.approx(30.0)
    assert m["po1"] == pytest.approx(50.0)  # first stretch past x*: −0.2, −0.5
    assert m["po"] == pytest.approx(70.0)
    assert m["n_cross"] == 4 and m["t_peak"] == 5
    assert m["t_rise"] == 0  # p jumps from −0.3 to 1.2 in one update


def test_runs_of_different_lengths_in_one_batch_equal_the_runs_alone():
    rng = np.random.default_rng(7)
    T, B = 60, 5
    x = np.cumsum(rng.standard_normal((T + 1, B, 2)), axis=0)
    f = 0.5 * np.sum(x**2, axis=2)
    end = np.array([60, 3, 17, 0, 44])
    prob = quadratic([1.0, 1.0])
    lr = np.full((T, B), 0.3)
    together = batch_metrics(
        make_trace(x, f, end=end, x_star=(0.0, 0.0), lr=lr), prob, ["budget"] * B, "gd", budget=100
    )
    for b in range(B):
        e = end[b] + 1
        (alone,) = batch_metrics(
            make_trace(
                x[:e, b : b + 1], f[:e, b : b + 1], x_star=(0.0, 0.0), lr=lr[: e - 1, b : b + 1]
            ),
            prob,
            ["budget"],
            "gd",
            budget=100,
        )
        for k in METRICS:
            a, c = alone[k], together[b][k]
            assert (a is None) == (c is None), (b, k)
            assert a == (pytest.approx(c, rel=1e-12) if isinstance(a, float) else c), (b, k)


def test_every_key_is_documented_and_json_ready():
    trace = gd_1d([0.5, 1.5, 2.0], 50)
    rows = batch_metrics(trace, quadratic([L]), ["budget", "budget", "cycle"], "gd")
    for m in rows:
        assert list(m) == list(METRICS)
        for k, v in m.items():
            assert v is None or isinstance(v, str | float | int), k
            if k in INT_KEYS and v is not None:
                assert type(v) is int, k
            if isinstance(v, float):
                assert not math.isnan(v), k
    assert all(isinstance(d, str) and d for d in METRICS.values())


# -- properties on random trajectories -------------------------------------------------------


@st.composite
def trajectories(draw):
    """Integer-valued trajectories scaled by 1/16, so translations by integers are exact."""
    T = draw(st.integers(1, 30))
    B = draw(st.integers(1, 3))
    d = draw(st.integers(1, 3))
    ints = st.integers(-200, 200)
    x = (
        np.array(
            draw(st.lists(ints, min_size=(T + 1) * B * d, max_size=(T + 1) * B * d)), dtype=float
        ).reshape(T + 1, B, d)
        / 16
    )
    gaps = (
        np.array(
            draw(st.lists(st.integers(1, 400), min_size=(T + 1) * B, max_size=(T + 1) * B)),
            dtype=float,
        ).reshape(T + 1, B)
        / 16
    )
    end = np.array(draw(st.lists(st.integers(0, T), min_size=B, max_size=B)))
    return x, gaps, end


def _linear(d: int, shift) -> Problem:
    s = np.asarray(shift, dtype=float)
    return Problem(
        dim=d,
        f=lambda X: np.sum(X, axis=1),
        grad=lambda X: X - s,
        bounds=(s - 99, s + 99),
        x_star=[s],
        f_star=0.0,
    )


@settings(max_examples=60, deadline=None)
@given(trajectories(), st.integers(-5, 5), st.integers(-300, 300))
def test_translation_of_x_and_f_star_changes_nothing(traj, dx, df):
    x, gaps, end = traj
    B, d = x.shape[1], x.shape[2]
    shift = np.full(d, float(dx))
    a = batch_metrics(
        make_trace(x, gaps, end=end, x_star=np.zeros(d)),
        _linear(d, np.zeros(d)),
        ["budget"] * B,
        "gd",
        budget=50,
    )
    b = batch_metrics(
        make_trace(x + shift, gaps + df, end=end, f_star=float(df), x_star=shift),
        _linear(d, shift),
        ["budget"] * B,
        "gd",
        budget=50,
    )
    for j, (ra, rb, e) in enumerate(zip(a, b, end, strict=True)):
        for k in METRICS:
            va, vb = ra[k], rb[k]
            if k == "ascent_ratio" and gaps[0, j] <= gaps[: e + 1, j].min():
                continue  # no descent: the ratio divides by the floor, which scales with |f*|
            if isinstance(va, float) and vb is not None:
                assert va == pytest.approx(vb, rel=1e-9, abs=1e-12), k
            else:
                assert va == vb, k


@settings(max_examples=60, deadline=None)
@given(trajectories())
def test_ranges(traj):
    x, gaps, end = traj
    B, d = x.shape[1], x.shape[2]
    for m, e in zip(
        batch_metrics(
            make_trace(x, gaps, end=end, x_star=np.zeros(d)),
            _linear(d, np.zeros(d)),
            ["budget"] * B,
            "gd",
        ),
        end,
        strict=True,
    ):
        for k in ("sc_rate", "grad_rev", "zz_reversals", "zz_right", "up_frac"):
            assert m[k] is None or 0 <= m[k] <= 1, k
        for k in ("po", "po1", "us", "cross_track", "tail_amp_x", "tail_amp_f", "ascent_ratio"):
            assert m[k] is None or m[k] >= 0, k
        assert m["zz_cos_mean"] is None or -1 - 1e-12 <= m["zz_cos_mean"] <= 1 + 1e-12
        assert m["straightness"] is None or 0 <= m["straightness"] <= 1 + 1e-12
        assert m["n_cross"] is None or 0 <= m["n_cross"] <= e
        assert m["po1"] is None or m["po1"] <= m["po"] + 1e-9
        hits = [m[f"hit_iter_{k}"] for k in ("1e-1", "1e-2")]
        assert m["stay_iter_1e-1"] is None or m["stay_iter_1e-1"] >= hits[0]
        if m["t_settle_2"] is not None:
            assert m["t_settle_5"] <= m["t_settle_2"] <= e


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 64), min_size=2, max_size=40), st.sampled_from([-1.0, 1.0]))
def test_monotone_approach_never_crosses(steps, side):
    # x_t walks from x0 towards x* = 0 without passing it
    remaining = 64 * len(steps) - np.cumsum([0] + steps)
    x = side * remaining.astype(float)[:, None] / 16
    (m,) = batch_metrics(make_trace(x, x**2 + 1), quadratic([2.0]), ["budget"], "gd")
    assert m["n_cross"] == 0 and m["po"] == 0 and m["po1"] == 0 and m["sc_rate"] in (0.0, None)


def test_gradient_reversals_recorded_live_match_a_hand_computation():
    from optbench.plan import build_problem

    results, plan = run("linear-regression", "gd[lr=[0.5/L,1.8/L]]", seeds=2, budget=60, tol=0.0)
    for spec, r in zip(plan.runs, results, strict=True):
        p = build_problem(spec.problem)
        g = p.grad(r.trace["x"])
        dots = np.sum(g[:-1] * g[1:], axis=1)
        assert r.metrics["grad_rev"] == pytest.approx(np.mean(dots < 0), abs=1e-15)
        assert r.metrics["grad_sbar"] == pytest.approx(np.mean(dots), rel=1e-9)


def test_a_non_finite_run_keeps_its_first_peak_and_json_clean_values():
    x = np.array([1.0, -1.5, 2.5, np.nan])
    f = np.array([1.0, 2.25, 6.25, np.nan])
    (m,) = batch_metrics(make_trace(x[:, None], f[:, None]), quadratic([2.0]), ["non-finite"], "gd")
    assert m["po"] is None and m["po1"] == pytest.approx(150.0)
    assert m["gap_final"] is None and m["gap_best"] == 1.0 and m["t_settle_2"] is None
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in m.values())


# -- per-cost rate and order, settling in f-space ---------------------------------------------


def test_rate_per_cost_equals_rate_per_update_at_one_evaluation_per_update():
    results, _ = run("quadratic-1d", "gd[lr=[0.3/L,0.5/L,1.5/L]]", seeds=1, budget=200, tol=0.0)
    for r, eta_l in zip(results, (0.3, 0.5, 1.5), strict=True):
        assert r.metrics["rate_f"] == pytest.approx((1 - eta_l) ** 2, rel=1e-9)
        assert r.metrics["rate_f_cost"] == pytest.approx((1 - eta_l) ** 2, rel=1e-9)
    trace = gd_1d(GRID, 200)  # n_g = t: one gradient per update
    rows = batch_metrics(trace, quadratic([L]), ["budget"] * len(GRID), "gd")
    for m, eta_l in zip(rows, GRID, strict=True):
        if m["rate_f"] is not None:
            assert m["rate_f_cost"] == pytest.approx((1 - eta_l) ** 2, rel=1e-9)


def test_rate_per_cost_at_two_evaluations_per_update_is_the_square_root():
    eta_ls = [0.3, 0.5, 1.4]
    T = 80
    trace = gd_1d(eta_ls, T)
    steps = np.broadcast_to(np.arange(T + 1)[:, None], (T + 1, len(eta_ls)))
    two = make_trace(trace.x, trace.f, n_f=steps + 1, n_g=steps.copy())  # f and g per update
    rows = batch_metrics(two, quadratic([L]), ["budget"] * len(eta_ls), "gd")
    for m, eta_l in zip(rows, eta_ls, strict=True):
        assert m["rate_f"] == pytest.approx((1 - eta_l) ** 2, rel=1e-9)
        assert m["rate_f_cost"] == pytest.approx(abs(1 - eta_l), rel=1e-9)


def test_rate_per_cost_is_none_where_the_cost_stands_still():
    T = 40
    trace = gd_1d([0.5], T)
    stuck = make_trace(trace.x, trace.f, n_g=np.zeros((T + 1, 1), np.int64))
    (m,) = batch_metrics(stuck, quadratic([L]), ["budget"], "gd")
    assert m["rate_f"] == pytest.approx(0.25, rel=1e-9) and m["rate_f_cost"] is None


def test_order_is_one_for_linear_convergence():
    trace = gd_1d([0.3, 0.5, 1.3, 1.7], 200)
    for m in batch_metrics(trace, quadratic([L]), ["budget"] * 4, "gd"):
        assert m["order_x"] == pytest.approx(1.0, abs=1e-9)


def test_order_is_two_for_quadratic_convergence():
    e = [0.5]
    while e[-1] > 1e-300:
        e.append(e[-1] ** 2)  # e_{t+1} = e_t², down to 0 after underflow
    e = np.array(e + [0.0] * 3)
    (m,) = batch_metrics(make_trace(e[:, None], e[:, None] ** 2), quadratic([2.0]), ["budget"])
    assert m["order_x"] == pytest.approx(2.0, rel=1e-9)
    # q̂_t at every t by hand: ln e_t / ln e_{t−1} = 2 exactly for e_t = 0.5^(2^t)
    assert math.log(e[4] / e[3]) / math.log(e[3] / e[2]) == pytest.approx(2.0, rel=1e-12)


def test_order_by_hand_is_the_median_of_the_ratios():
    # dist: 1, 0.05, 0.02, 0.004, 0.002, 0.0001 → q̂ at t = 1..4 (all inside the window)
    d = np.array([1.0, 0.05, 0.02, 0.004, 0.002, 0.0001])
    q = [math.log(d[t + 1] / d[t]) / math.log(d[t] / d[t - 1]) for t in range(1, 5)]
    (m,) = batch_metrics(make_trace(d[:, None], d[:, None] ** 2), quadratic([2.0]), ["budget"])
    assert m["order_x"] == pytest.approx(float(np.median(q)), rel=1e-12)
    d = np.array([1.0, 0.5, 0.2, 0.05])
    (m,) = batch_metrics(make_trace(d[:, None], d[:, None] ** 2), quadratic([2.0]), ["budget"])
    assert m["order_x"] is None  # 0.05 is the only point in the window, and has no successor


@pytest.mark.parametrize("eta_l", GRID)
def test_f_space_settling_equals_x_space_settling_on_a_1d_quadratic(eta_l):
    (m,) = batch_metrics(gd_1d([eta_l], 200), quadratic([L]), ["budget"], "gd")
    for delta, k in ((0.02, "2"), (0.05, "5")):
        assert m[f"t_settle_f_{k}"] == m[f"t_settle_{k}"] == ceil_settle(eta_l, delta)


def test_f_space_settling_by_hand_and_when_undefined():
    # gap = 1, 0.5, 0.003, 0.0001, 0.002, 0.0002: 0.05²·gap_0 = 0.0025, 0.02²·gap_0 = 0.0004
    f = np.array([1.0, 0.5, 0.003, 0.0001, 0.002, 0.0002])[:, None]
    x = np.sqrt(f)
    (m,) = batch_metrics(make_trace(x, f), quadratic([2.0]), ["budget"], "gd")
    assert m["t_settle_f_5"] == 3 and m["t_settle_f_2"] == 5
    no_star = Problem(dim=1, f=lambda X: X[:, 0] ** 2, grad=lambda X: 2 * X, bounds=([-5.0], [5.0]))
    (m,) = batch_metrics(make_trace(x, f, f_star=None), no_star, ["budget"], "gd")
    assert m["t_settle_f_2"] is None and m["t_settle_f_5"] is None  # no f*
    (m,) = batch_metrics(make_trace(x, f), quadratic([2.0]), ["diverged"], "gd")
    assert m["t_settle_f_2"] is None  # stopped runs, as in x-space
    results, _ = run("quadratic-1d", "random-search", seeds=2, budget=100)
    assert all(r.metrics["t_settle_f_2"] is None for r in results)


def test_the_theory_leaves_out_weight_decay_and_clipping():
    # quadratic-1d with h = 2: the plain run at ηh = 1.5 overshoots by 50 % (closed form);
    # weight decay moves the minimiser and clipping is not linear: no prediction for them
    th = [k for k in METRICS if k.startswith("th_")]
    (plain,), _ = run("quadratic-1d", "gd[lr=0.75]", budget=40)
    assert plain.metrics["th_po"] == pytest.approx(50.0, rel=1e-12)
    assert plain.metrics["th_regime"] is not None
    for spec in ("gd[lr=0.75,weight_decay=0.1]", "gd[lr=0.75,clip_norm=0.5]",
                 "momentum[lr=0.2,momentum=0.5,weight_decay=0.1]"):
        (r,), _ = run("quadratic-1d", spec, budget=40)
        assert all(r.metrics[k] is None for k in th), spec
    # in one batch with plain runs, only the decayed ones are left out
    rs, _ = run("quadratic-1d", "gd[lr=0.75,weight_decay=[0.0,0.1]]", budget=40)
    assert [r.metrics["th_po"] is None for r in rs] == [False, True]


def test_predicted_paths_of_a_batch_equal_those_of_its_runs_alone():
    # runs that share their rates share one path per eigen-direction; each run's own start
    # only weighs it: the th_* values do not depend on which runs share a batch
    plan = make_plan(
        ["ill-conditioned-quadratic[d=3,kappa=3]"],
        ["gd[lr=[0.5/L,1.8/L],schedule=cosine(T=30)]", "momentum[lr=[0.2/L,1/L],momentum=0.7]"],
        seeds=4, budget=200, tol=1e-8,
    )
    th = [k for k in METRICS if k.startswith("th_")]
    seen = []
    for batch in plan.batches:
        together = run_batch(batch)
        seen += [(r.metrics["th_po"], r.metrics["th_settle_2"]) for r in together]
        for run, res in zip(batch.runs, together, strict=True):
            (alone,) = run_batch(Batch(batch.index, [run], batch.batchable, batch.plugins))
            for k in th:
                a, b = res.metrics[k], alone.metrics[k]
                assert (a is None) == (b is None), (run.label, k)
                if isinstance(a, float):
                    assert a == pytest.approx(b, rel=1e-12, abs=1e-12), (run.label, k)
                else:
                    assert a == b, (run.label, k)
    # it predicted: overshoot somewhere, and settling times that differ between the seeds
    assert len(seen) == 16 and max(p for p, _ in seen) > 10 and len({t for _, t in seen}) > 4
