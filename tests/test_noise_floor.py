"""Noise floors: the smoothed loss the runner stores (against pandas' EMA), the predicted
floor of noisy-quadratic (against a long direct simulation of its recursion, and against
the floor optbench's own runs reach), and the report's noise-floor figure and table."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.noise import EMA_WINDOW, ema, predicted_floor
from optbench.plan import make_plan
from optbench.runner import run_batch


def _simulated_floor(eta: float, h: float, sigma: float, chains: int = 20_000,
                     burn: int = 400, steps: int = 400, seed: int = 1) -> tuple[float, float]:
    """Mean of ½·h·x² over chains and steps of x ← x − η(h·x + σ·ξ) after a burn-in, and
    its standard error (steps thinned to every 20th, nearly independent draws)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(chains)
    vals = []
    for t in range(burn + steps):
        x = x - eta * (h * x + sigma * rng.standard_normal(chains))
        if t >= burn and (t - burn) % 20 == 0:
            vals.append(0.5 * h * x**2)
    v = np.concatenate(vals)
    return float(v.mean()), float(v.std() / np.sqrt(v.size))


@pytest.mark.parametrize("eta,h,sigma", [(0.25, 2.0, 1.0), (0.8, 2.0, 0.5), (0.05, 5.0, 3.0),
                                         (0.35, 5.0, 1.0)])
def test_predicted_floor_matches_a_direct_simulation(eta, h, sigma):
    pred = predicted_floor("noisy-quadratic", {"h": h, "noise": sigma}, "gd", {"lr": eta})
    mean, se = _simulated_floor(eta, h, sigma)
    assert abs(pred - mean) < 4 * se, (pred, mean, se)
    assert abs(pred - mean) < 0.03 * mean


def test_predicted_floor_only_where_the_theory_holds():
    assert predicted_floor("noisy-quadratic", {}, "gd", {"lr": 0.25}) == pytest.approx(
        0.25 / (2 * (2 - 0.5)))  # defaults h = 2, noise = 1
    assert predicted_floor("noisy-quadratic", {}, "gd",
                           {"lr": 0.25, "schedule": "power(tau=20,p=1)"}) is None
    assert predicted_floor("noisy-quadratic", {}, "gd", {"lr": 0.25, "clip_norm": 1.0}) is None
    assert predicted_floor("noisy-quadratic", {}, "momentum", {"lr": 0.25}) is None
    assert predicted_floor("noisy-quadratic", {}, "gd", {"lr": 1.0}) is None  # ηh = 2: no floor
    assert predicted_floor("linear-regression", {"batch_size": 10}, "gd", {"lr": 0.1}) is None


def test_ema_is_pandas_ewm():
    f = np.random.default_rng(3).standard_normal((500, 4)).cumsum(axis=0)
    want = pd.DataFrame(f).ewm(span=EMA_WINDOW, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(ema(f), want, rtol=1e-12, atol=1e-12)


def _runs(problem, optimizers, seeds, budget, **kw):
    plan = make_plan([problem], optimizers, seeds=seeds, budget=budget, **kw)
    return [r for b in plan.batches for r in run_batch(b)]


def test_runner_stores_the_smoothed_loss_of_stochastic_runs_only():
    (run,) = _runs("noisy-quadratic", ["gd[lr=0.5/L]"], 1, 300, tol=0.0)
    tr = run.trace  # 301 iterates: stored whole
    assert len(tr["f"]) == 301
    want = pd.Series(tr["f"]).ewm(span=EMA_WINDOW, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(tr["f_ema"], want, rtol=1e-12)
    (det,) = _runs("quadratic-1d", ["gd[lr=0.5/L]"], 1, 50)
    assert "f_ema" not in det.trace


def test_noisy_quadratic_runs_reach_the_predicted_floor():
    """optbench's own gd runs at 0.5/L = 0.25 (tol 0: no chance pass ends one) settle at
    η·σ²/(2(2 − η·h)) = 1/12; their tail means (e_ss_gap) and smoothed loss agree with it."""
    runs = _runs("noisy-quadratic", ["gd[lr=0.5/L]"], 10, 2000, tol=0.0)
    assert {r.status for r in runs} == {"budget"}
    pred = predicted_floor("noisy-quadratic", {}, "gd", {"lr": 0.25})
    ess = np.array([r.metrics["e_ss_gap"] for r in runs])
    assert abs(ess.mean() - pred) < 0.1 * pred, (ess.mean(), pred)
    late = np.concatenate([r.trace["f_ema"][r.trace["t"] >= 1000] for r in runs])
    assert abs(late.mean() - pred) < 0.15 * pred, (late.mean(), pred)


def _csv(html: str, name: str) -> pd.DataFrame:
    m = re.search(rf"download='{re.escape(name)}' href='data:text/csv;charset=utf-8;base64,"
                  r"([^']+)'", html)
    assert m, name
    return pd.read_csv(io.StringIO(base64.b64decode(m[1]).decode()))


@pytest.fixture(scope="module")
def noisy_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("noise")
    optbench.run(problems=["noisy-quadratic[noise=2]", "quadratic-1d"],
                 optimizers=["gd[lr=0.5/L]", "gd[lr=0.5/L,schedule=power(tau=20,p=1)]"],
                 seeds=4, budget=400, tol=0.0, out=out, report=False)
    return out


def test_report_tables_measured_and_predicted_floors(noisy_store, monkeypatch):
    from optbench.report.context import read_context
    from optbench.reports import per_problem as section

    # the per-problem view as the report builds it, its other figures left out (speed)
    monkeypatch.setattr(section, "problem_block", lambda data, *more: "")
    html = section.per_problem(read_context([noisy_store / "results.sqlite"])).body
    runs = optbench.load(noisy_store)
    nq = runs[runs.problem == "noisy-quadratic"]
    key = nq.problem_key.iloc[0]
    table = _csv(html, f"noise-floors-{key}.csv").set_index("optimizer")
    for lab, g in nq.groupby("label"):
        assert table.loc[lab, "e_ss_gap_median"] == pytest.approx(g.e_ss_gap.median(), rel=1e-9)
        assert table.loc[lab, "runs"] == len(g)
    # η = 0.5/L = 0.25, h = 2, σ = 2: η·σ²/(2(2 − η·h)) = 1/3
    assert table.loc["gd[lr=0.5/L]", "predicted_floor"] == pytest.approx(1 / 3)
    assert np.isnan(table.loc["gd[lr=0.5/L,schedule=power(tau=20,p=1)]", "predicted_floor"])
    # the figure sits under its heading; a deterministic problem has none
    det = runs[runs.problem == "quadratic-1d"].problem_key.iloc[0]
    assert re.search(rf"<h4 id='noise-{key}'>Noise floors</h4><figure><img src=\"data:image/svg",
                     html)
    assert f"noise-{det}" not in html


def test_smoothed_curves_are_the_median_over_seeds():
    """The figure's median curve: at each grid point, numpy's median over the runs of their
    stored f_ema − f_ref, interpolated at that iteration."""
    from optbench.report.noise import smoothed_curves

    rng = np.random.default_rng(0)
    fake = [{"label": "a", "t": np.arange(0, 101, dtype=float),
             "f_ema": 1.0 + rng.random(101)} for _ in range(5)]
    payload = {"runs": fake, "f_ref": 1.0, "labels": ["a"]}
    grid, curves = smoothed_curves(payload)
    q1, med, q3, n = curves["a"]
    gaps = np.stack([np.interp(grid, r["t"], r["f_ema"] - 1.0) for r in fake])
    np.testing.assert_allclose(med, np.median(gaps, axis=0))
    np.testing.assert_allclose(q1, np.percentile(gaps, 25, axis=0))
    assert n == 5 and grid[0] == 1 and grid[-1] == 100
