"""The theory overlay's two fallbacks against independent truth.

Where a run's schedule cannot be rebuilt (a schedule that reads the gap, such as
reduce-on-plateau), the overlay continues the run with the rate it ran at when that rate
never changed (the constant-rate fallback), and otherwise follows the recorded rates, zero
past the run's end (the recorded-rates path). Each is checked against closed forms (GD on a
quadratic: overshoot 100(ηL − 1) %, divergence when |1 − ηL|^t outgrows the test) and against
paths computed here, by hand with numpy and with torch's own SGD and ReduceLROnPlateau.

The learning-rate section's predicted-against-observed table (``theory-<key>.csv``) and its
1/L and 2/L lines are read back from what the section writes and draws.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.plan import build_problem, make_plan, resolve_problem
from optbench.runner import run_batch
from optbench.spec import parse

PLATEAU_NEVER = "reduce-on-plateau(patience=100000)"  # the rate never changes in these runs


def _run(problem: str, optimizer: str, budget: int, seeds: int = 1):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget, tol=1e-8)
    by_id = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return [by_id[r.run_id] for r in plan.runs]


def _problem(name: str):
    return build_problem(resolve_problem(parse(name)))


def _diverged_at(e: np.ndarray, A: np.ndarray) -> int | None:
    """The first t at which the runner's divergence test fires on an error path ``(T+1, d)``
    of ½ eᵀAe (f* = 0): gap_t > 1e6·max(gap_0, 1e-16) or dist_t > 1e3·max(dist_0, 1)."""
    gap = 0.5 * np.einsum("ti,ij,tj->t", e, A, e)
    dist = np.linalg.norm(e, axis=1)
    fired = (gap > 1e6 * max(gap[0], 1e-16)) | (dist > 1e3 * max(dist[0], 1.0))
    fired[0] = False
    return int(np.argmax(fired)) if fired.any() else None


def _overshoot(e: np.ndarray) -> float:
    """100·max_t(−⟨e_t, u⟩)/‖e_0‖, u = e_0/‖e_0‖ (0 if it never passes x*)."""
    n0 = np.linalg.norm(e[0])
    return 100 * max(0.0, float(np.max(-(e @ (e[0] / n0)))) / n0)


def _settle(e: np.ndarray, delta: float) -> int | None:
    """The first t with ‖e_s‖ ≤ δ‖e_0‖ for every later s on the path given."""
    out = np.flatnonzero(np.linalg.norm(e, axis=1) > delta * np.linalg.norm(e[0]))
    if out.size and out[-1] == len(e) - 1:
        return None
    return int(out[-1]) + 1 if out.size else 0


# -- the constant-rate fallback ---------------------------------------------------------------


@pytest.mark.parametrize("eta_l", [0.6, 1.5, 1.9])
def test_constant_fallback_gd_overshoot_is_eta_l_minus_one(eta_l):
    # quadratic-1d, h = L = 2: a schedule the overlay cannot rebuild, whose rate never moved;
    # the budget stops the run after 3 updates, the prediction is the whole path
    (r,) = _run("quadratic-1d", f"gd[lr={eta_l / 2!r},schedule={PLATEAU_NEVER}]", budget=3)
    lr = np.asarray(r.trace["lr"], dtype=float)
    assert r.status == "budget" and np.all(lr == eta_l / 2)
    m = r.metrics
    assert m["th_po"] == pytest.approx(100 * max(0.0, eta_l - 1), rel=1e-12, abs=1e-12)
    assert m["th_rate_x"] == pytest.approx(abs(1 - eta_l), rel=1e-12)
    assert m["th_div_iter"] is None
    for delta, key in ((0.02, "th_settle_2"), (0.05, "th_settle_5")):
        assert m[key] == math.ceil(math.log(delta) / math.log(abs(1 - eta_l)))


def test_constant_fallback_gd_in_n_d_is_the_path_of_i_minus_eta_a():
    name = "ill-conditioned-quadratic[d=3,kappa=10]"
    p = _problem(name)
    A, L = np.asarray(p.hessian, dtype=float), float(p.L)
    rs = _run(name, f"gd[lr=1.8/L,schedule={PLATEAU_NEVER}]", budget=4, seeds=3)
    eta = 1.8 / L
    M = np.eye(3) - eta * A
    for r in rs:
        e = [np.asarray(r.trace["x"][0], dtype=float) - p.x_star[0]]
        for _ in range(4000):
            e.append(M @ e[-1])
        e = np.array(e)
        assert r.metrics["th_po"] == pytest.approx(_overshoot(e), rel=1e-9, abs=1e-9)
        assert r.metrics["th_settle_2"] == _settle(e, 0.02) > r.summary.n_iter
        lam = np.linalg.eigvalsh(A)
        assert r.metrics["th_rate_x"] == pytest.approx(np.max(np.abs(1 - eta * lam)), rel=1e-12)
        assert r.metrics["th_regime"] == "oscillating-convergent"


def _torch_heavy_ball(x0, A, x_star, lr, beta, T):
    """x_0 … x_T of torch.optim.SGD(momentum=β) on ½(x − x*)ᵀA(x − x*), in float64."""
    import torch

    A_t = torch.tensor(A, dtype=torch.float64)
    xs_t = torch.tensor(x_star, dtype=torch.float64)
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([x], lr=lr, momentum=beta)
    out = [x.detach().clone().numpy()]
    for _ in range(T):
        opt.zero_grad()
        d = x - xs_t
        (0.5 * d @ A_t @ d).backward()
        opt.step()
        out.append(x.detach().clone().numpy())
    return np.array(out)


def test_constant_fallback_heavy_ball_is_torchs_sgd_continued():
    name = "ill-conditioned-quadratic[d=3,kappa=10]"
    p = _problem(name)
    A, L = np.asarray(p.hessian, dtype=float), float(p.L)
    beta, eta = 0.6, 1.2 / L
    (r,) = _run(name, f"momentum[lr=1.2/L,momentum={beta},schedule={PLATEAU_NEVER}]", budget=5)
    assert r.status == "budget"
    x = _torch_heavy_ball(np.asarray(r.trace["x"][0], float), A, p.x_star[0], eta, beta, 600)
    e = x - p.x_star[0]
    m = r.metrics
    assert m["th_po"] == pytest.approx(_overshoot(e), rel=1e-9, abs=1e-9)
    assert m["th_settle_2"] == _settle(e, 0.02) > r.summary.n_iter
    assert m["th_settle_5"] == _settle(e, 0.05)
    poles = [np.roots([1.0, -(1 + beta - eta * lam), beta]) for lam in np.diag(A)]
    assert m["th_rate_x"] == pytest.approx(np.max(np.abs(poles)), rel=1e-9)
    assert m["th_div_iter"] is None


def test_constant_fallback_heavy_ball_divergence_step():
    # ηL = 3.5 with β = 0.5: the top direction's poles lie outside the unit circle; the run
    # stops at its budget long before the divergence test would fire
    name = "ill-conditioned-quadratic[d=3,kappa=10]"
    p = _problem(name)
    A, L = np.asarray(p.hessian, dtype=float), float(p.L)
    (r,) = _run(name, f"momentum[lr=3.5/L,momentum=0.5,schedule={PLATEAU_NEVER}]", budget=3)
    x = _torch_heavy_ball(np.asarray(r.trace["x"][0], float), A, p.x_star[0], 3.5 / L, 0.5, 400)
    t_div = _diverged_at(x - p.x_star[0], A)
    assert t_div is not None and t_div > r.summary.n_iter
    assert r.metrics["th_div_iter"] == t_div
    assert r.metrics["th_po"] is None


# -- the recorded-rates path ------------------------------------------------------------------


def _plateau_gd(x0, A, x_star, lr, patience, factor, end):
    """GD for ``end`` updates with torch's ReduceLROnPlateau fed the gap f − f* of each new
    iterate (the rate of update t ≥ 1 has seen x_1 … x_t): the rates, and the error path
    that follows them and stays put after the run's end (the rates are zero there)."""
    import torch

    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=factor, patience=patience)
    e = [np.asarray(x0, float) - x_star]
    rates = []
    for t in range(end):
        if t >= 1:
            sched.step(float(0.5 * e[-1] @ A @ e[-1]))
        eta = opt.param_groups[0]["lr"]
        rates.append(eta)
        e.append(e[-1] - eta * (A @ e[-1]))
    e += [e[-1]] * 300
    return np.array(rates), np.array(e)


@pytest.mark.parametrize(
    "name,spec",
    [
        # ηh = 2: the gap stands still, the plateau cuts the rate to 1.4/h and the run converges
        ("quadratic-1d", "gd[lr=1.0,schedule=reduce-on-plateau(patience=3,factor=0.7)]"),
        # the budget ends the run with the top direction still bouncing
        ("ill-conditioned-quadratic[d=3,kappa=10]",
         "gd[lr=0.2,schedule=reduce-on-plateau(patience=2,factor=0.8)]"),
        # ηL = 3, cut by 0.95 after each bad update: a large overshoot, then it converges
        ("ill-conditioned-quadratic[d=3,kappa=10]",
         "gd[lr=0.3,schedule=reduce-on-plateau(patience=0,factor=0.95)]"),
    ],
)
def test_recorded_rates_path_is_the_hand_computed_one(name, spec):
    p = _problem(name)
    A = np.atleast_2d(np.asarray(p.hessian, dtype=float))
    parsed = parse(spec)
    sched = parsed.params["schedule"]
    (r,) = _run(name, spec, budget=60)
    end = r.summary.n_iter
    rates, e = _plateau_gd(np.asarray(r.trace["x"][0], float), A, p.x_star[0],
                           float(parsed.params["lr"]), int(sched.params["patience"]),
                           float(sched.params["factor"]), end)
    assert len(set(rates)) > 1  # the rate was cut: neither closed form nor constant fallback
    np.testing.assert_allclose(np.asarray(r.trace["lr"], float)[:end], rates, rtol=1e-12)
    m = r.metrics
    assert m["th_po"] == pytest.approx(_overshoot(e), rel=1e-9, abs=1e-9)
    assert m["th_settle_2"] == _settle(e, 0.02)
    assert m["th_settle_5"] == _settle(e, 0.05)
    assert m["th_div_iter"] == _diverged_at(e, A)
    assert m["th_regime"] is None and m["th_rate_x"] is None  # no constant rate to speak of


def test_recorded_rates_path_that_diverges():
    # ηL = 3 on the top direction, cut by 0.97 after every 2 bad updates: still above 2/L
    # when the error has grown a thousand-fold; the hand-computed path says where the
    # divergence test fires
    name = "ill-conditioned-quadratic[d=3,kappa=10]"
    p = _problem(name)
    A = np.asarray(p.hessian, dtype=float)
    spec = "gd[lr=0.3,schedule=reduce-on-plateau(patience=1,factor=0.97)]"
    (r,) = _run(name, spec, budget=60)
    end = r.summary.n_iter
    rates, e = _plateau_gd(np.asarray(r.trace["x"][0], float), A, p.x_star[0], 0.3, 1, 0.97,
                           end)
    assert len(set(rates)) > 1
    t_div = _diverged_at(e, A)
    assert t_div is not None
    assert r.metrics["th_div_iter"] == t_div
    assert r.metrics["th_po"] is None and r.metrics["th_settle_2"] is None


# -- the report's predicted-against-observed table and its 1/L and 2/L lines ------------------
# The runs stop after 5 updates, before any of them settles: the observed settling times are
# ∞ ("not settled"), while the theory's, of the whole path, are finite, so a table that
# showed the observation under "(theory)" fails here.

PROBLEM = "ill-conditioned-quadratic[d=2,kappa=10]"
ETA_L = (0.5, 1.5, 2.5)


@pytest.fixture(scope="module")
def lr_section(tmp_path_factory):
    from optbench.report.context import read_context
    from optbench.reports.learning_rate import learning_rate

    tmp = tmp_path_factory.mktemp("theory-report")
    lrs = ",".join(f"{k}/L" for k in ETA_L)
    res = optbench.run(problems=[PROBLEM], optimizers=[f"gd[lr=[{lrs}]]"], seeds=3, budget=5,
                       out=tmp / "out", report=False)
    ctx = read_context([res.db])
    section = learning_rate(ctx)
    specs = [json.loads(s) for s in re.findall(
        r"<script type='application/json' class='vega-spec'>(.*?)</script>", section.body, re.S)]
    return res.db, ctx, section, specs


def _curvature():
    """The problem, and its Hessian by central differences of its gradient."""
    p = build_problem(resolve_problem(parse(PROBLEM)))
    x, h = np.array([[0.3, -0.7]]), 1e-4
    H = np.column_stack([(p.grad(x + h * e) - p.grad(x - h * e))[0] / (2 * h)
                         for e in np.eye(2)])
    return p, 0.5 * (H + H.T)


def _theory_csv(section) -> pd.DataFrame:
    m = re.search(r"download='theory-[^']+\.csv' href='data:text/csv;charset=utf-8;base64,"
                  r"([^']+)'", section.body)
    assert m, "no theory-<key>.csv link in the learning-rate section"
    return pd.read_csv(io.StringIO(base64.b64decode(m.group(1)).decode()))


def test_the_theory_columns_are_the_closed_forms_not_the_observation(lr_section):
    db, ctx, section, _ = lr_section
    p, H = _curvature()
    lam, V = np.linalg.eigh(H)
    L = float(lam[-1])
    frame = _theory_csv(section)
    runs = optbench.load(db)
    assert len(frame) == len(ETA_L)
    for k, (_, row) in zip(ETA_L, frame.sort_values("η·L").iterrows(), strict=True):
        assert row["η·L"] == pytest.approx(k, rel=1e-9)
        eta = k / L
        expected_regime = {0.5: "monotone", 1.5: "oscillating-convergent", 2.5: "divergent"}[k]
        assert row["th_regime (theory)"] == expected_regime
        # per seed, the whole path e_t = (I − ηH)^t e_0, in H's eigenbasis
        sub = runs[np.isclose(runs["hp.lr"].astype(float), eta)]
        assert len(sub) == 3
        po, settle = [], []
        for run_id in sub.run_id:
            if abs(1 - eta * L) > 1:
                continue  # diverges: no overshoot and no settling time
            e0 = np.asarray(ctx.trace(run_id)["x"][0], dtype=float) - p.x_star[0]
            t = np.arange(3000)[:, None]
            e = ((V.T @ e0) * (1 - eta * lam) ** t) @ V.T
            u = e0 / np.linalg.norm(e0)
            po.append(100 * max(0.0, float(np.max(-(e @ u)))) / np.linalg.norm(e0))
            dist = np.linalg.norm(e, axis=1)
            settle.append(int(np.flatnonzero(dist > 0.02 * dist[0])[-1]) + 1)
        if k == 2.5:
            assert math.isnan(row["th_po (theory)"]) and math.isnan(row["th_settle_2 (theory)"])
        else:
            assert row["th_po (theory)"] == pytest.approx(np.median(po), rel=1e-9, abs=1e-9)
            assert row["th_settle_2 (theory)"] == np.median(settle) > 5
        # the observation: 5 updates, none settled
        assert row["t_settle_2 (observed median)"] == np.inf
        assert row["not settled"] == 3


def test_the_one_over_l_and_two_over_l_lines_are_at_the_curvature(lr_section):
    _, _, _, specs = lr_section
    _, H = _curvature()
    lam = np.linalg.eigvalsh(H)
    mu, L = float(lam[0]), float(lam[-1])
    rules, labels = {}, {}

    def walk(node):
        if isinstance(node, dict):
            mark = node.get("mark")
            values = (node.get("data") or {}).get("values") if isinstance(node.get("data"),
                                                                           dict) else None
            if isinstance(mark, dict) and values and len(values) == 1 and "a" in values[0]:
                if mark.get("type") == "rule":
                    rules[tuple(mark.get("strokeDash", ()))] = values[0]["a"]
                elif mark.get("type") == "text":
                    labels[values[0]["t"]] = values[0]["a"]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    assert len(specs) == 1
    walk(specs[0])
    assert rules[(5, 3)] == pytest.approx(1 / L, rel=1e-6)  # the monotone limit
    assert rules[(2, 2)] == pytest.approx(2 / L, rel=1e-6)  # the stability limit
    assert rules[(6, 2, 1, 2)] == pytest.approx(2 / (mu + L), rel=1e-6)  # the best constant
    assert labels["1/L"] == pytest.approx(1 / L, rel=1e-6)
    assert labels["2/L"] == pytest.approx(2 / L, rel=1e-6)
