"""Wall-clock as a cost axis: ``hit_time_*`` metrics against the recorded clock, the
report's time axis, the per-update overhead table and its warnings."""

from __future__ import annotations

import base64
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optbench
from optbench.metrics import REL_TARGETS, TARGETS, target_key
from optbench.plan import make_plan
from optbench.runner import run_batch
from optbench.store import THIN_ABOVE

H, C = 2.0, 1.5  # quadratic-1d: ½·h·(x − c)², f* = 0


def _run(problem, optimizers, seeds=2, budget=200, tol=0.0):
    plan = make_plan([problem], optimizers, seeds=seeds, budget=budget, tol=tol)
    by_id = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return plan, [by_id[r.run_id] for r in plan.runs]


def _first_hit(f, thr):
    """The first t with min_{s≤t} f_s ≤ thr, by a plain loop (None: never)."""
    best = math.inf
    for t, v in enumerate(f):
        if math.isfinite(v):
            best = min(best, v)
        if best <= thr:
            return t
    return None


def test_hit_time_is_the_clock_at_the_first_hit_of_an_unthinned_run():
    # 0.3/L converges, 2.1/L diverges (never hits), 1e-3/L hits only the loose targets
    _, results = _run("quadratic-1d", ["gd[lr=[0.3/L,2.1/L,1e-3/L]]"], seeds=2, budget=150)
    seen_hit = seen_never = 0
    for res in results:
        tr, m = res.trace, res.metrics
        assert len(tr["f"]) <= THIN_ABOVE and np.array_equal(tr["t"], np.arange(len(tr["f"])))
        gap = tr["f"] - 0.0
        cost = tr["n_f"] + tr["n_g"]
        for eps in TARGETS:
            k = target_key(eps)
            t = _first_hit(gap, eps)
            if t is None:
                seen_never += 1
                assert m[f"hit_time_{k}"] is None and m[f"hit_cost_{k}"] is None
                continue
            seen_hit += 1
            assert m[f"hit_iter_{k}"] == t
            assert m[f"hit_cost_{k}"] == cost[t]  # the same iterate as the cost
            assert m[f"hit_time_{k}"] == tr["time"][t]
            assert m[f"hit_time_{k}"] <= tr["time"][-1]
        for tau in REL_TARGETS:
            k = target_key(tau)
            t = _first_hit(gap, tau * gap[0])
            got = m[f"rel_hit_time_{k}"]
            assert (got is None) == (t is None)
            if t is not None:
                assert got == tr["time"][t] == tr["time"][m[f"rel_hit_iter_{k}"]]
    assert seen_hit and seen_never


def test_hit_time_is_exact_on_a_thinned_trace_and_never_after_its_last_time(tmp_path):
    lr, budget = 0.005, 2000
    res = optbench.run(problems=["quadratic-1d"], optimizers=[f"gd[lr={lr}]", "gd[lr=0.3/L]"],
                       seeds=2, budget=budget, tol=0.0, out=tmp_path / "r", report=False)
    frame = res.runs
    thinned = 0
    for _, run in frame.iterrows():
        tr = optbench.load_trace(tmp_path / "r", run["run_id"])
        n = int(run["n_iter"]) + 1
        thinned += len(tr["f"]) < n
        # the stored metric is the clock at the first hit, which thinning keeps
        x0 = float(np.asarray(tr["x"]).reshape(len(tr["f"]), -1)[0, 0])
        step = float(run["hp.lr"])
        x, gaps = x0, []
        for _ in range(n):  # a direct loop of the same descent gives the hit iterates
            gaps.append(0.5 * H * (x - C) ** 2)
            x = x - step * H * (x - C)
        for eps in TARGETS:
            k = target_key(eps)
            t = _first_hit(gaps, eps)
            got = run[f"hit_time_{k}"]
            if t is None:
                assert got is None or math.isnan(got)
                continue
            assert got <= tr["time"][-1]
            (row,) = np.flatnonzero(tr["t"] == t)
            assert got == tr["time"][row]
            assert run[f"hit_cost_{k}"] == tr["n_f"][row] + tr["n_g"][row]
    assert thinned >= 2


def test_the_runs_of_a_batch_share_one_clock_and_seconds_is_each_ones_share():
    plan, results = _run("quadratic-1d", ["gd[lr=[0.1/L,0.9/L,1.9/L]]"], seeds=2, budget=80)
    (batch,) = plan.batches
    times = [r.trace["time"] for r in results]
    longest = max(times, key=len)
    for t in times:  # every run's clock is a prefix of the batch's
        np.testing.assert_array_equal(t, longest[: len(t)])
    assert len({r.seconds for r in results}) == 1
    # the share: the batch's whole wall time (its clock and more) over its runs
    assert results[0].seconds * len(batch.runs) >= longest[-1]


# -- the report on the batch clock -------------------------------------------------------------

PAUSE = 0.002  # seconds the slow optimizer sleeps in every update (once per batch step)

SLOW = f'''
import time
from optbench import Optimizer, register_optimizer


@register_optimizer("wallclock-slow-gd", needs=("gradient",), batchable=True)
def slow_gd(lr: float = 0.1):
    def step(x, state, oracle, t):
        time.sleep({PAUSE})
        return x - lr * oracle.grad(x), state

    return Optimizer(step=step)
'''


@pytest.fixture(scope="module")
def timed_store(tmp_path_factory):
    """gd and a gd that sleeps PAUSE per update, 2 seeds each (batches of 2), on one problem;
    then one more gd run alone (a batch of 1) in a copy of the store."""
    import shutil

    root = tmp_path_factory.mktemp("timed")
    plugin = root / "slow_plugin.py"
    plugin.write_text(SLOW)
    optbench.run(problems=["quadratic-1d"],
                 optimizers=["gd[lr=0.05]", "wallclock-slow-gd[lr=0.05]"], seeds=2, budget=30,
                 tol=0.0, plugins=[str(plugin)], out=root / "one", report=False)
    db = root / "one" / "results.sqlite"
    (root / "mixed").mkdir()
    mixed = root / "mixed" / "results.sqlite"
    shutil.copy(db, mixed)
    optbench.run(problems=["quadratic-1d"], optimizers=["gd[lr=0.02]"], seeds=1, budget=30,
                 tol=0.0, out=root / "mixed", report=False)
    return db, mixed


def test_the_overhead_table_sees_a_slow_update_against_gd_measured_the_same_way(timed_store):
    from optbench.report.context import read_context
    from optbench.report.timing import overhead_frame

    db, _ = timed_store
    frame = overhead_frame(read_context([db])).set_index("optimizer")
    slow, gd = frame.loc["wallclock-slow-gd[lr=0.05]"], frame.loc["gd[lr=0.05]"]
    assert slow["batch sizes"] == gd["batch sizes"] == "2"
    # each batch step sleeps PAUSE for its 2 runs: each run is charged at least half of it
    assert slow["µs per update"] >= 0.95 * PAUSE / 2 * 1e6
    assert gd["× gd"] == 1.0
    assert slow["× gd"] > 3  # a GD update here costs some 0.1 ms for the batch, not 2 ms
    # and it is the batch clock's median step, shared by the batch's 2 runs (one clock)
    runs = optbench.load(db)
    rid = runs.run_id[runs.label == "wallclock-slow-gd[lr=0.05]"].iloc[0]
    clock = optbench.load_trace(db, rid)["time"]
    assert slow["µs per update"] == pytest.approx(np.median(np.diff(clock)) / 2 * 1e6, rel=1e-9)


def test_time_axis_runtimes_are_the_clock_at_the_first_hit(timed_store):
    from optbench.report.context import read_context
    from optbench.report.timing import TimeData, on_time
    from optbench.stats.curves import compared

    db, _ = timed_store
    ctx = read_context([db], x_axis="time")
    (data,) = compared(ctx).values()
    timed = on_time(ctx, data)
    assert isinstance(timed, TimeData)
    targets = [1e0, 1e-1, 1e-8, 10 ** -0.5]  # 10^-0.5: no stored column, read off the trace
    rt = timed.runtimes(targets)
    for i, rid in enumerate(timed.runs.run_id):
        tr = optbench.load_trace(db, rid)
        for j, eps in enumerate(targets):
            t = _first_hit(tr["f"], eps)
            assert rt[i, j] == (np.inf if t is None else tr["time"][t])
    assert np.isfinite(rt).any() and np.isinf(rt).any()


def test_the_report_warns_when_times_come_from_several_batch_sizes_or_machines(
    timed_store, tmp_path
):
    import shutil
    import sqlite3
    from contextlib import closing

    from optbench.report.context import read_context
    from optbench.report.timing import clock_warning

    db, mixed = timed_store
    assert clock_warning(read_context([db])) == ""  # one machine, one batch size
    text = clock_warning(read_context([mixed]))
    assert "batches of 1, 2 runs" in text and "class='note warning'" in text
    other = tmp_path / "hosts.sqlite"
    shutil.copy(db, other)
    with closing(sqlite3.connect(other)) as conn, conn:
        conn.execute("UPDATE runs SET host = 'elsewhere' WHERE rowid = (SELECT min(rowid) "
                     "FROM runs)")
    text = clock_warning(read_context([other]))
    assert "2 machines" in text and "elsewhere" in text


def test_report_x_axis_time_draws_seconds_from_the_cli(timed_store, tmp_path, cli):
    _, mixed = timed_store
    page = tmp_path / "time.html"
    r = cli("report", "--db", str(mixed), "--x-axis", "time", "--html", str(page))
    assert r.returncode == 0, r.stderr
    html = page.read_text(encoding="utf-8")
    assert "This section failed" not in html
    found = re.findall(r"data:image/svg\+xml;base64,([^\"]+)", html)
    svgs = [base64.b64decode(d).decode() for d in found]
    # interactive figures are Vega-Lite specs, their axis titles in the JSON
    svgs += re.findall(r"class='vega-spec'>(.*?)</script>", html, re.S)
    # the convergence panel and the ECDF on seconds, the overhead table and its warning
    assert sum("seconds (batch clock)" in svg for svg in svgs) >= 2
    assert not any("evaluations / dimension" in svg for svg in svgs)
    assert not any("evaluations (n_f + n_g)" in svg for svg in svgs)
    assert "Wall-clock time" in html and "per-update-time.csv" in html
    assert "batches of 1, 2 runs" in html
    bad = cli("report", "--db", str(mixed), "--x-axis", "wallclock", "--html", str(page))
    assert bad.returncode == 2 and "'wallclock' is not one of" in bad.stderr


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=40),
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=0, max_value=2**31 - 1),
)
def test_hit_time_never_passes_a_runs_last_time_on_any_trace(n, B, seed):
    """Random batches (runs ending at different updates, a clock with uneven steps, values
    that jump about and go non-finite): every hit_time is the clock at hit_iter, at most the
    clock at the run's own last iterate, and None exactly where hit_cost is."""
    from optbench.metrics.batch import batch_metrics
    from optbench.runner import BatchTrace

    rng = np.random.default_rng(seed)
    f = 10.0 ** rng.uniform(-10, 2, size=(n, B))
    f[rng.random((n, B)) < 0.05] = np.nan
    end = rng.integers(0, n, size=B)
    clock = np.cumsum(rng.exponential(1e-3, size=n))
    trace = BatchTrace(
        x=rng.normal(size=(n, B, 1)), f=f, gnorm=np.full((n, B), np.nan),
        n_f=np.zeros((n, B), np.int64), n_g=np.tile(np.arange(n)[:, None], (1, B)),
        lr=np.full((n - 1, B), np.nan), time=clock, end=end, f_star=0.0, x_star=None,
    )
    problem = optbench.Problem(dim=1, f=lambda X: X[:, 0] ** 2, bounds=([-1.0], [1.0]),
                               f_star=0.0)
    for b, m in enumerate(batch_metrics(trace, problem, ["budget"] * B)):
        for eps in TARGETS:
            k = target_key(eps)
            t = _first_hit(f[: end[b] + 1, b], eps)
            assert (m[f"hit_time_{k}"] is None) == (m[f"hit_cost_{k}"] is None) == (t is None)
            if t is not None:
                assert m[f"hit_time_{k}"] == clock[t] <= clock[end[b]]
