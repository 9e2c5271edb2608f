"""The README's lesson: every number it quotes, recomputed from the commands it shows.

The commands are read out of the README's own code blocks and run as a user runs them
(``--no-report`` added: the report does not change a stored number); each quoted number is
then computed from the store and looked up, as written, in the README's text.
"""

from __future__ import annotations

import math
import re
import shlex

import numpy as np
import pytest

import optbench
from optbench.store import Store

from .conftest import ROOT, fork_cli

README = (ROOT / "README.md").read_text()
LESSON = README[README.index("## The lesson") :]
LESSON = LESSON[: LESSON.index("\n## ", 3)]


def _commands() -> dict[str, list[str]]:
    """The lesson's ``optbench run`` commands, by their --out folder."""
    out = {}
    for block in re.findall(r"```bash\n(.*?)```", LESSON, flags=re.S):
        args = shlex.split(block.replace("\\\n", " "))
        assert args[:2] == ["optbench", "run"], block
        out[args[args.index("--out") + 1]] = args[1:]
    return out


def _prose() -> str:
    """The lesson's text with its line breaks undone, as a reader reads it."""
    return re.sub(r"\s+", " ", re.sub(r"```.*?```", "", LESSON, flags=re.S))


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("lesson")
    commands = _commands()
    assert sorted(commands) == ["lesson/fit", "lesson/lr", "lesson/sgd"]
    runs = {}
    for folder, args in commands.items():
        res = fork_cli(*args, "--no-report", "--quiet", cwd=cwd)
        assert res.returncode == 0, res.stderr
        with Store(cwd / folder / "results.sqlite") as store:
            f_star = {k: v["f_star"] for k, v in store.problem_info().items()}
        frame = optbench.load(cwd / folder)
        frame["f_star"] = frame.problem_key.map(f_star).astype(float)
        runs[folder.split("/")[1]] = frame
    return runs


def _says(text: str) -> None:
    assert text in _prose(), f"the README's lesson no longer says {text!r}"


def test_step_1_fit_the_line(lesson):
    runs = lesson["fit"]
    gd = runs[runs.optimizer == "gd"]
    assert (gd.status == "converged").all()
    hits = gd["hit_cost_1e-8"].astype(float)
    assert np.isfinite(hits).all()
    assert round(float(np.median(hits)), -2) == 300  # "about 300 gradient evaluations"
    _says("below 1e-8) in about 300 gradient evaluations in every seed")
    rs = runs[runs.optimizer == "random-search"]
    evals = int(np.median(rs.evals))
    gap = float(np.median(rs.f_best.astype(float) - rs.f_star))
    stalled = int((rs.status == "stalled").sum())
    _says(f"random search, after a median {evals} evaluations, is still a median {gap:.2f} above")
    _says(f"({stalled} of {len(rs)} runs `stalled`, the other {len(rs) - stalled} at the budget)")


def test_step_2_overshoot_and_divergence(lesson):
    runs = lesson["lr"]
    std = runs[runs["pp.standardize"].astype(bool)]
    raw = runs[~runs["pp.standardize"].astype(bool)]

    def of(frame, k):
        sel = frame[frame.label == f"gd[lr={k}/L]"]
        # 5 seeds: a label the command does not produce selects nothing, which would compare
        # an empty column and pass
        assert len(sel) == 5, f"gd[lr={k}/L]: {len(sel)} runs, labels {sorted(set(frame.label))}"
        return sel

    for k, po in (("0.5", 0), ("1", 0), ("1.5", 50), ("1.9", 90)):
        np.testing.assert_allclose(of(std, k).po.astype(float), po, atol=1e-9)
        assert po == pytest.approx(100 * (float(k) - 1) if float(k) > 1 else 0)
    _says("0 at 0.5/L and 1/L (which lands on the optimum in one step), 50 % at 1.5/L, 90 %")
    fast = of(std, "1.9")
    assert (fast.n_cross == fast.n_iter).all()  # a crossing at every step
    crossings = int(np.median(fast.n_cross))
    assert (fast.n_up == 0).all()
    (settle,) = set(fast.t_settle_2.astype(int))
    theory = math.ceil(math.log(0.02) / math.log(abs(1 - 1.9)))
    assert set(fast.th_settle_2.astype(int)) == {theory}
    _says(f"({crossings} crossings) yet the loss still falls monotonically (0 loss increases)")
    _says(f"within 2 % only after {settle} steps")
    _says(f"the theory's ⌈ln 0.02 / ln|1 − lr·L|⌉, also {theory}")
    over = of(std, "2.1")
    assert (over.status == "diverged").all() and (over.n_up == over.n_iter).all()
    (steps,) = set(over.n_iter.astype(int))
    _says(f"At 2.1/L every run `diverged`, the loss rising at each of its {steps} steps")
    slow = of(raw, "0.5")
    short = int((slow["hit_iter_1e-8"].isna()).sum())
    _says(f"0.5/L leaves {short} of {len(slow)} runs short of 1e-8 after 300 steps")


def test_step_3_minibatches(lesson):
    runs = lesson["sgd"]

    def median(label, column):
        sel = runs[runs.label == label]
        values = sel[column].astype(float) - (sel.f_star if column == "f_final" else 0.0)
        return float(np.median(values))

    const = "gd[lr=0.5/L]"
    power = "gd[lr=0.5/L,schedule=power(tau=20,p=1)]"
    expo = "gd[lr=0.5/L,schedule=exponential(gamma=0.995)]"
    ss_const, ss_power, ss_expo = (median(lab, "e_ss_gap") for lab in (const, power, expo))
    final_const = median(const, "f_final")
    _says(f"stays near {ss_const:.2g}, its final gap {final_const:.2g}.")
    _says(f"brings the steady-state gap down to {ss_power:.2g}")
    ratio = ss_const / ss_power
    _says(f"about {float(f'{ratio:.1g}'):.0f} times lower")  # to one significant digit
    _says(f"exponential decay to {ss_expo:.2g}.")
    # a stochastic problem: nothing but the budget or a full-data gap below tol ends a run
    assert set(runs.status) <= {"budget", "converged"}, runs.status.value_counts()
    budget = int(runs.budget.iloc[0])
    used = runs[runs.evals == budget]
    assert (runs[runs.status == "budget"].evals == budget).all()
    _says(f"so {len(used)} of the {len(runs)} runs use all {budget} evaluations")
    conv = runs[runs.status == "converged"]
    assert len(conv) == 1 and conv.label.iloc[0] == power
    assert float(conv.f_final.iloc[0] - conv.f_star.iloc[0]) <= float(conv.tol.iloc[0])
    _says(f"one `power` run ends `converged` after {int(conv.evals.iloc[0])}, its full-data "
          f"gap below `tol` = {float(conv.tol.iloc[0]):.0e}".replace("e-0", "e-"))
