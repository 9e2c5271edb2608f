"""Report sections share data through typed properties of the context, computed on first
use: a section that needs the profiles or the clocks gets them whether or not the section
that used to compute them ran first, and what two sections share is computed once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import optbench
from optbench import registry
from optbench.report.context import Context, read_context
from optbench.stats import profiles as profiles_module

pytestmark = pytest.mark.xdist_group("report_context")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    out = tmp_path_factory.mktemp("ctx")
    optbench.run(
        problems=["quadratic-1d", "booth", "log-cosh"],
        optimizers=["gd[lr=0.1]", "momentum[lr=0.05,momentum=0.5]", "adam[lr=0.05]"],
        seeds=3, budget=150, out=out, report=False,
    )
    return out / "results.sqlite"


def _section(name: str, ctx: Context):
    """One section rendered as the report renders it (numpy's empty-median warnings off)."""
    registry.load_builtins("section")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return registry.get("section", name).factory(ctx)


def _ranking(body: str) -> str:
    return body[body.index("id='stats-ranking'"):]


def _counting(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = profiles_module.instance_matrix

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(profiles_module, "instance_matrix", counted)
    return calls


def test_statistics_alone_equals_statistics_after_aggregated(db, monkeypatch):
    calls = _counting(monkeypatch)
    alone = read_context([db])
    body_alone = _section("statistics", alone).body
    assert "This section failed" not in body_alone and len(calls) == 1

    both = read_context([db])
    assert "This section failed" not in _section("aggregated", both).body
    body_after = _section("statistics", both).body
    assert len(calls) == 2  # once per context: statistics reused what aggregated computed
    assert _ranking(body_alone) == _ranking(body_after)
    a, b = alone.profiles, both.profiles
    assert a.costs.keys() == b.costs.keys() and a.missing == b.missing == 0
    for tau in a.costs:
        np.testing.assert_array_equal(a.costs[tau], b.costs[tau])
    np.testing.assert_array_equal(a.dims, b.dims)
    assert not hasattr(alone, "cache")  # no untyped string-key cache left


def test_profiles_are_the_art_of_each_instance(db):
    # each (problem, seed) instance has one run per solver: its cost is that run's evaluations
    # to the relative target where it met it (the stored rel_hit_cost column), else inf
    ctx = read_context([db])
    frame = optbench.load(db)
    costs, dims, _ = ctx.profiles
    assert ctx.solvers == ["gd[lr=0.1]", "momentum[lr=0.05,momentum=0.5]", "adam[lr=0.05]"]
    instances = sorted({(k, s) for k, s in zip(frame.problem_key, frame.seed, strict=True)})
    assert len(dims) == len(instances) == 9
    for tau, M in costs.items():
        col = f"rel_hit_cost_{optbench.metrics.target_key(tau)}"
        for i, (key, seed) in enumerate(instances):
            for j, label in enumerate(ctx.solvers):
                (hit,) = frame.loc[(frame.problem_key == key) & (frame.seed == seed)
                                   & (frame.label == label), col]
                want = np.inf if not np.isfinite(hit) else max(float(hit), 1.0)
                assert M[i, j] == want, (tau, key, seed, label)


def test_clocks_are_each_runs_stored_batch_clock(db):
    ctx = read_context([db])
    clocks = ctx.clocks
    assert clocks is ctx.clocks and set(clocks) == set(ctx.runs.run_id)
    for rid in ctx.runs.run_id:
        stored = optbench.load_trace(db, rid)
        t, time = clocks[rid]
        np.testing.assert_array_equal(time, stored["time"])
        np.testing.assert_array_equal(t, stored.get("t", np.arange(len(stored["time"]))))
