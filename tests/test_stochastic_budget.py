"""Stochastic problems run to their budget: no stop rule reads the progress of the noisy
iterates (``stalled``, ``cycle``) unless ``noisy_stops`` turns it on, and ``converged`` means
the full-data gap went below ``tol``. The README's tutorial step 3 quotes numbers that the
test here recomputes from the same command."""

from __future__ import annotations

import re
import shlex

import numpy as np
import pytest

import optbench
from optbench.errors import UsageError
from optbench.plan import make_plan
from optbench.runner import run_batch

from .conftest import ROOT

MINIBATCH = "linear-regression[standardize=true,batch_size=10,noise=2]"


def _step3() -> tuple[dict, str]:
    """The README's step-3 command (as options for :func:`optbench.run`) and its paragraph."""
    text = (ROOT / "README.md").read_text()
    start = text.index("**3. Minibatches")
    block = text[start : text.index("## ", start)]
    command = block.split("```bash", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    words = shlex.split(command)
    assert words[:2] == ["optbench", "run"]
    opts: dict = {"problems": [], "optimizers": []}
    it = iter(words[2:])
    for w in it:
        if w == "-p":
            opts["problems"].append(next(it))
        elif w == "-o":
            opts["optimizers"].append(next(it))
        elif w in ("--seeds", "--budget"):
            opts[w[2:]] = int(next(it))
        elif w == "--out":
            next(it)
        else:
            raise AssertionError(f"the test does not know option {w!r} of step 3")
    return opts, block.split("```", 2)[2]


@pytest.fixture(scope="module")
def step3(tmp_path_factory):
    opts, paragraph = _step3()
    out = tmp_path_factory.mktemp("sgd")
    optbench.run(**opts, out=out, report=False)
    return opts, " ".join(paragraph.split()), optbench.load(out)


def _agrees(stated: str, value: float) -> bool:
    """``value`` printed to the precision of ``stated`` (its significant digits) reads the same."""
    digits = len(stated.replace(".", "").lstrip("0")) or 1
    return float(f"{value:.{digits}g}") == float(stated)


def test_minibatch_runs_use_their_budget(step3):
    opts, _, runs = step3
    assert len(runs) == opts["seeds"] * len(opts["optimizers"])
    # nothing stops a run on the noisy problem but its budget, or a full-data gap below tol
    assert set(runs.status) <= {"budget", "converged"}, runs.status.value_counts()
    at_budget = runs[runs.status == "budget"]
    assert (at_budget.evals == opts["budget"]).all()
    conv = runs[runs.status == "converged"]
    assert (conv.gap_best <= conv.tol).all()


def test_readme_step3_numbers_are_measured(step3):
    """Every number of the step-3 paragraph, recomputed from the same command's runs."""
    _, text, runs = step3
    const, power, expo = (
        runs[runs.label == lab]
        for lab in (
            "gd[lr=0.5/L]",
            "gd[lr=0.5/L,schedule=power(tau=20,p=1)]",
            "gd[lr=0.5/L,schedule=exponential(gamma=0.995)]",
        )
    )
    num = r"(\d+(?:\.\d+)?)"
    m = re.search(rf"steady-state gap \(.*?\) stays near {num}, its final gap {num}", text)
    assert m, text
    assert _agrees(m[1], const.e_ss_gap.median()), (m[1], const.e_ss_gap.median())
    assert _agrees(m[2], const.gap_final.median()), (m[2], const.gap_final.median())
    m = re.search(rf"down to {num}, about (\d+) times lower; exponential decay to {num}", text)
    assert m, text
    assert _agrees(m[1], power.e_ss_gap.median())
    ratio = const.e_ss_gap.median() / power.e_ss_gap.median()
    assert float(f"{ratio:.1g}") == float(m[2]), (m[2], ratio)  # "about": one digit
    assert _agrees(m[3], expo.e_ss_gap.median()), (m[3], expo.e_ss_gap.median())
    m = re.search(r"so (\d+) of the (\d+) runs use all (\d+) evaluations and one `power` run "
                  r"ends `converged` after (\d+)", text)
    assert m, text
    at_budget = runs[runs.evals == int(m[3])]
    assert (int(m[1]), int(m[2])) == (len(at_budget), len(runs))
    conv = power[power.status == "converged"]
    assert len(conv) == 1 and len(runs[runs.status == "converged"]) == 1
    assert int(conv.evals.iloc[0]) == int(m[4])


def _statuses(problem, optimizer, budget=2000, seeds=3, **kw):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget, **kw)
    return [r for b in plan.batches for r in run_batch(b)]


def test_noisy_stops_turns_the_stall_rule_back_on():
    runs = _statuses(MINIBATCH, "gd[lr=0.5/L]")
    assert {r.status for r in runs} == {"budget"}
    runs = _statuses(MINIBATCH, "gd[lr=0.5/L]", noisy_stops=True)
    assert {r.status for r in runs} == {"stalled"}
    assert all(r.summary["n_g"] < 2000 for r in runs)


def test_noisy_quadratic_runs_to_its_budget():
    runs = _statuses("noisy-quadratic", "gd[lr=0.5/L]", budget=1500, seeds=5)
    # a noisy iterate may pass within tol of x* (its gap ½·h·x² ≤ 1e-8): that is converged
    assert {r.status for r in runs} <= {"budget", "converged"}
    assert "budget" in {r.status for r in runs}
    for r in runs:
        if r.status == "budget":
            assert r.summary["n_g"] == 1500
        else:
            assert r.metrics["gap_best"] <= 1e-8


def test_deterministic_problems_still_stall_and_keep_their_ids():
    # random search on the line fit stalls (README step 1): the option changes nothing there
    runs = _statuses("linear-regression", "random-search", budget=500, seeds=4)
    assert "stalled" in {r.status for r in runs}
    a = make_plan(["quadratic-1d"], ["gd"], seeds=2)
    b = make_plan(["quadratic-1d"], ["gd"], seeds=2, noisy_stops=True)
    assert [r.run_id for r in a.runs] == [r.run_id for r in b.runs]
    a = make_plan([MINIBATCH], ["gd"], seeds=2)
    b = make_plan([MINIBATCH], ["gd"], seeds=2, noisy_stops=True)
    assert not {r.run_id for r in a.runs} & {r.run_id for r in b.runs}


def test_converged_reads_the_full_data_gap():
    """A converged run's last iterate is within tol of f* on the full data (recomputed here
    from the data by numpy's least squares), and no earlier stored iterate was."""
    rng = np.random.default_rng(0)  # the problem's data, as problems/linear_regression.py makes them
    x = rng.uniform(0.0, 2.0, 100)
    y = 3.0 * x + 2.0 + 2.0 * rng.standard_normal(100)
    x = (x - x.mean()) / x.std()
    A = np.column_stack([x, np.ones(100)])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]

    def gap(th):
        th = np.asarray(th, dtype=float).reshape(-1, 2)
        return np.mean((th @ A.T - y) ** 2, axis=1) - np.mean((A @ theta - y) ** 2)

    tol = 2e-4  # budget 500: traces of 501 iterates, stored whole
    plan = make_plan([MINIBATCH], ["gd[lr=0.5/L]"], seeds=8, budget=500, tol=tol)
    runs = [r for b in plan.batches for r in run_batch(b)]
    conv = [r for r in runs if r.status == "converged"]
    assert conv and len(conv) < len(runs)  # some runs pass within tol, some never do
    for r in runs:
        g = gap(r.trace["x"])
        if r.status == "converged":
            assert g[-1] <= tol * (1 + 1e-9) and (g[:-1] > tol).all()
        else:
            assert r.status == "budget" and (g > tol).all()


def test_the_option_is_checked_and_reaches_the_cli(tmp_path, cli):
    with pytest.raises(UsageError, match="noisy_stops must be true or false"):
        optbench.run({"problems": [MINIBATCH], "optimizers": ["gd"], "noisy_stops": "yes"},
                     out=tmp_path / "a", report=False)
    res = cli("run", "-p", MINIBATCH, "-o", "gd[lr=0.5/L]", "--seeds", "2", "--budget", "1000",
              "--noisy-stops", "--no-report", "--quiet", "--out", str(tmp_path / "b"))
    assert res.returncode == 0, res.stderr
    assert set(optbench.load(tmp_path / "b").status) == {"stalled"}
