"""The tuning protocol: the winner is the one the criterion's closed form picks, the final
seeds are fresh and shared by every family, both phases are stored and recorded."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import optbench
from optbench.errors import UsageError
from optbench.plan import build_problem, resolve_problem, start_point
from optbench.spec import parse
from optbench.tune import DEFAULT_GRID, DEFAULT_GRID_L, parse_grid, tune

from .conftest import fork_cli

GRID = (0.25, 0.5, 1.0, 1.5)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "out"
    res = tune(
        ["quadratic-1d"],
        ["gd", "random-search"],
        grid_L=GRID,
        criterion="aulg",
        tuning_seeds=3,
        seeds=4,
        budget=30,
        tol=0.0,
        out=out,
        report=True,
    )
    return res, json.loads(res.record.read_text())


def _closed_form_aulg(k: float, seed: int, budget: int = 30) -> float:
    # GD on ½h(x−c)² with lr = k/h: gap_t = (h/2)(1−k)^(2t) e0², one gradient per update, so
    # the best gap on the cost axis is gap_t on [t, t+1): AULG = mean of log10 gap_t, t < budget
    spec = resolve_problem(parse("quadratic-1d"))
    e0 = start_point(build_problem(spec), spec, seed)[0] - 1.5
    t = np.arange(budget)
    gap = np.maximum((1 - k) ** (2 * t) * e0**2, 1e-16)  # h/2 = 1, floor 1e-16 (f* = 0)
    return float(np.mean(np.log10(gap)))


def test_scores_are_the_closed_form_and_the_winner_is_one_over_L(tuned):
    res, record = tuned
    (result,) = record["results"]
    assert result["values"] == list(GRID) and result["grid_kind"] == "per-L"
    for k, score in zip(GRID, result["scores"], strict=True):
        expected = float(np.median([_closed_form_aulg(k, s) for s in range(3)]))
        assert score == pytest.approx(expected, rel=1e-9, abs=1e-9)
    (win,) = res.winners
    assert (win["family"], win["value"], win["lr"]) == ("gd", 1.0, 0.5)  # lr = 1/L lands on x*
    assert win["label"] == "gd[lr=1.0/L]" and not win["edge"]


def test_both_phases_are_stored_and_final_seeds_are_fresh_and_shared(tuned):
    res, record = tuned
    runs = optbench.load(res.db)
    phase = {
        **dict.fromkeys(record["tuning_run_ids"], "tuning"),
        **dict.fromkeys(record["final_run_ids"], "final"),
    }
    assert set(runs.run_id) == set(phase)
    tuning = runs[runs.run_id.isin(record["tuning_run_ids"])]
    final = runs[runs.run_id.isin(record["final_run_ids"])]
    assert len(tuning) == len(GRID) * 3 and set(tuning.seed) == {0, 1, 2}
    assert len(final) == 2 * 4 and set(final.seed) == {1000, 1001, 1002, 1003}
    assert not set(tuning.seed) & set(final.seed)
    assert set(final[final.optimizer == "gd"]["hp.lr"]) == {0.5}
    for fam in ("gd", "random-search"):  # paired: every family on the same final seeds
        ids = record["final_families"][fam]
        assert sorted(runs[runs.run_id.isin(ids)].seed) == [1000, 1001, 1002, 1003]


def test_report_states_the_protocol_and_compares_families(tuned):
    res, record = tuned
    html = res.report.read_text()
    assert '<section id="tuning">' in html and "median over the tuning seeds" in html
    assert "gd[lr=1.0/L]" in html
    # the aggregated views compare one solver per family, not the grid points
    import base64
    import io
    import re

    import pandas as pd

    m = re.search(r"download='ranking.csv' href='data:text/csv;charset=utf-8;base64,([^']+)'", html)
    ranking = pd.read_csv(io.StringIO(base64.b64decode(m.group(1)).decode()))
    assert sorted(ranking.solver) == ["gd", "random-search"]


def test_final_gap_criterion_and_unknown_L_use_the_absolute_grid(tmp_path):
    res = tune(
        ["quadratic-1d", "absolute-value"],
        ["gd"],
        grid_L=(0.5, 1.0, 1.9),
        grid="[0.01,0.1,0.3]",
        criterion="final-gap",
        tuning_seeds=2,
        seeds=2,
        budget=20,
        tol=0.0,
        out=tmp_path,
        report=False,
    )
    quad, absval = res.winners
    assert quad["value"] == 1.0 and quad["score"] == 0.0  # one step of 1/L lands on x*
    assert absval["grid_kind"] == "absolute" and absval["label"] == f"gd[lr={absval['lr']}]"
    record = json.loads(res.record.read_text())
    scores = record["results"][1]["scores"]
    assert absval["score"] == min(s for s in scores if s is not None)
    assert res.report is None


def test_bad_input_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="sets lr"):
        tune(["quadratic-1d"], ["gd[lr=0.1]"], out=tmp_path)
    with pytest.raises(UsageError, match="fresh"):
        tune(["quadratic-1d"], ["gd"], tuning_seeds=5, final_seed_start=3, out=tmp_path)
    with pytest.raises(UsageError, match="criterion"):
        tune(["quadratic-1d"], ["gd"], criterion="best", out=tmp_path)
    with pytest.raises(UsageError, match="positive"):
        parse_grid("[0.1,-1]")


def test_grids():
    assert parse_grid("log(0.01,1,3)") == pytest.approx((0.01, 0.1, 1.0))
    assert parse_grid("[1/L,0.5/L]") == (0.5, 1.0)
    assert 1.0 in DEFAULT_GRID_L and 2.0 in DEFAULT_GRID_L and len(DEFAULT_GRID_L) == 17
    assert len(DEFAULT_GRID) == 36 and DEFAULT_GRID[0] == 1e-5 and DEFAULT_GRID[-1] == 100.0
    steps = zip(DEFAULT_GRID, DEFAULT_GRID[1:], strict=False)
    assert all(math.isclose(b / a, 10**0.2, rel_tol=0.01) for a, b in steps)


def test_cli_tune(tmp_path):
    res = fork_cli(
        "tune",
        "-p",
        "quadratic-1d",
        "-o",
        "gd",
        "--grid-L",
        "[0.5,1,1.5]",
        "--tuning-seeds",
        "2",
        "--seeds",
        "2",
        "--budget",
        "20",
        "--out",
        str(tmp_path),
        "--no-report",
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    record = json.loads((tmp_path / "results.tuning.json").read_text())
    assert record["winners"][0]["family"] == "gd" and record["criterion"] == "aulg"
    bad = fork_cli("tune", "-p", "quadratic-1d", "-o", "gd[lr=1]", "--out", str(tmp_path))
    assert bad.returncode == 2 and "sets lr" in bad.stderr


def test_tune_writes_to_its_own_folder_not_the_run_store(tmp_path):
    from tests.conftest import fork_cli

    res = fork_cli("run", "-p", "quadratic-1d", "-o", "gd[lr=0.5/L]", "--seeds", "2",
                  "--budget", "20", "--no-report", "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    before = optbench.load(tmp_path / "optbench-results" / "results.sqlite")
    res = fork_cli("tune", "-p", "quadratic-1d", "-o", "gd", "--grid-L", "[0.5,1]",
                  "--tuning-seeds", "2", "--seeds", "2", "--budget", "20", "--no-report",
                  "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    after = optbench.load(tmp_path / "optbench-results" / "results.sqlite")
    assert sorted(after.run_id) == sorted(before.run_id)  # nothing merged into the run store
    tuned = optbench.load(tmp_path / "optbench-tune" / "results.sqlite")
    assert len(tuned) == 2 * 2 + 2  # two rates on two tuning seeds, the winner on two seeds
    from optbench.store import tuning_path

    assert tuning_path(tmp_path / "optbench-tune" / "results.sqlite").exists()
    assert not tuning_path(tmp_path / "optbench-results" / "results.sqlite").exists()


def test_aulg_of_a_stored_trace_is_the_step_integral():
    """Without f*, tune scores the stored (possibly thinned) trace with the metric's AULG:
    the incumbent's log10 gap as a step function, by hand."""
    from optbench.tune import _score

    f = np.array([4.0, 1.0, 0.01])
    trace = {"f": f, "n_f": np.array([1, 2, 3]), "n_g": np.array([0, 0, 0]),
             "t": np.array([0, 2, 3])}
    lg = np.log10(f)
    # budget 5 evaluations: lg0 on [0, 2), lg1 on [2, 3), lg2 on [3, 5]
    by_cost = _score("aulg", "max_iter", trace, 0.0, 5, None, None)
    assert by_cost == pytest.approx((2 * lg[0] + lg[1] + 2 * lg[2]) / 5)
    # no budget, 4 iterations: the thinned rows hold from t = 0, 2, 3 to the next, then to 4
    by_iter = _score("aulg", "max_iter", trace, 0.0, None, 4, None)
    assert by_iter == pytest.approx((2 * lg[0] + lg[1] + lg[2]) / 4)
