"""Comparing stores of different optimizers: a source that shares no optimizer label with
the baseline is paired across optimizers on (problem, seed), each pairing named "A vs B"
(the source's label, then the baseline's), with the same verdict rule as identical labels.

The stores hold gradient descent on ``quadratic-1d`` (½·h·(x − c)², h = L = 2, c = 1.5)
at two step sizes. GD with lr = k/L contracts x − c by (1 − k) per step, so the gap after t
steps is (x₀ − c)²·(1 − k)^(2t): the first t with gap ≤ 1e-6 is the run's hitting cost
(one gradient per step). That closed form, from the stored start point, is the truth the
paired values are checked against; the p-value is scipy's Wilcoxon signed-rank test on
them. Eight seeds: the exact two-sided signed-rank test of n pairs cannot go below 2/2ⁿ,
so five seeds (p ≥ 1/16) could never give a verdict at α = 0.05.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import optbench
from optbench.stats.comparison import compare_sources, start_key

SEEDS = 8
SMALL = {"problems": "quadratic-1d", "budget": 300, "report": False}
SLOW, FAST, MID = "gd[lr=0.05/L]", "gd[lr=0.5/L]", "gd[lr=0.25/L]"

# one problem under one name and parameters, in two versions that draw different starts
SHIFTED = '''
from optbench import Problem, register_problem


@register_problem("shifted-bowl")
def shifted_bowl() -> Problem:
    """½·x², started {shift} to the right of a uniform draw in [-4, 4]."""
    import numpy as np

    return Problem(dim=1, f=lambda X: 0.5 * X[:, 0] ** 2, grad=lambda X: X.copy(),
                   bounds=([-10.0], [10.0]), x_star=[np.zeros(1)], f_star=0.0, L=1.0, mu=1.0,
                   start=lambda rng: rng.uniform(-4.0, 4.0, 1) + {shift})
'''


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """Made once: GD slow, fast, both fast rates in one store, seeds no other store has,
    another problem; and the plug-in problem in two versions (different start points)."""
    from tests.conftest import fork_cli

    root = tmp_path_factory.mktemp("across")
    made = {
        "slow": dict(optimizers=SLOW, seeds=SEEDS),
        "fast": dict(optimizers=FAST, seeds=SEEDS),
        "two": dict(optimizers=[FAST, MID], seeds=SEEDS),
        "later": dict(optimizers=FAST, seeds=[20, 21, 22]),
    }
    for name, spec in made.items():
        optbench.run(**SMALL, **spec, out=root / name)
    optbench.run(problems="rosenbrock", optimizers="gd[lr=0.001]", seeds=SEEDS, budget=50,
                 report=False, out=root / "rosen")
    for name, shift, lr in (("start-a", 0.0, 0.1), ("start-a2", 0.0, 0.2), ("start-b", 1.0, 0.2)):
        plugin = root / f"shifted_{name}.py"
        plugin.write_text(SHIFTED.format(shift=shift))
        res = fork_cli("run", "--plugin", str(plugin), "-p", "shifted-bowl", "-o", f"gd[lr={lr}]",
                      "--seeds", "6", "--budget", "200", "--out", str(root / name),
                      "--no-report", "--quiet")
        assert res.returncode == 0, res.stderr
    return {name: root / name / "results.sqlite" for name in
            [*made, "rosen", "start-a", "start-a2", "start-b"]}


def _report(out: Path, base: tuple[str, Path], new: tuple[str, Path], *args: str):
    from click.testing import CliRunner

    from optbench.cli import cli

    return CliRunner().invoke(cli, ["report", "--db", f"{base[0]}={base[1]}",
                                    "--db", f"{new[0]}={new[1]}", "--html", str(out), *args])


def _verdicts(html: Path) -> dict:
    return json.loads(html.with_name(f"{html.stem}.comparison.json").read_text())


def _hits(db: Path, k: float) -> pd.Series:
    """Per seed, the closed-form hitting cost of GD with lr = k/L from the stored start."""
    runs = optbench.load(db)
    out = {}
    for rid, seed in zip(runs.run_id, runs.seed, strict=True):
        x0 = float(optbench.load_trace(db, rid)["x"][0, 0])
        gap0, t = (x0 - 1.5) ** 2, 0
        while gap0 * (1 - k) ** (2 * t) > 1e-6:
            t += 1
        out[int(seed)] = t
    return pd.Series(out).sort_index()


@pytest.fixture(scope="module")
def slow_vs_fast(stores, tmp_path_factory):
    """``report --fail-on worse`` of the slow store against the fast one, run once."""
    html = tmp_path_factory.mktemp("slow-vs-fast") / "cmp.html"
    r = _report(html, ("base", stores["fast"]), ("new", stores["slow"]), "--fail-on", "worse")
    return r, html


def test_a_slower_optimizer_is_worse_than_a_faster_baseline_and_named_a_vs_b(slow_vs_fast):
    r, html = slow_vs_fast
    assert r.exit_code == 4, (r.exit_code, r.stderr)
    name = f"{SLOW} vs {FAST}"
    # the console line names the pairing
    assert f"1 pairing got worse than base: quadratic-1d {name} (new)" in r.stderr
    data = _verdicts(html)
    assert data["paired_across_optimizers"] == ["new"]
    (v,) = data["verdicts"]
    assert (v["label"], v["label_new"], v["label_base"]) == (name, SLOW, FAST)
    assert (v["verdict"], v["verdict_text"], v["n"]) == ("worse", "worse (aRT)", SEEDS)
    assert not data["not_comparable"] and not data["only_in_one_source"]
    csv = pd.read_csv(html.with_name("cmp.comparison.csv"))
    assert csv[["label", "verdict"]].values.tolist() == [[name, "worse"]]
    page = html.read_text(encoding="utf-8")
    section = page[page.index('<section id="comparison"'):]
    section = section[: section.index("</section>")]
    assert name in section and "shares no optimizer with the baseline base" in section


def test_the_paired_values_and_p_value_match_the_closed_form_and_scipy(stores, slow_vs_fast):
    (v,) = _verdicts(slow_vs_fast[1])["verdicts"]
    fast, slow = _hits(stores["fast"], 0.5), _hits(stores["slow"], 0.05)
    assert list(fast.index) == list(slow.index) == list(range(SEEDS))
    # every run reached 1e-6, so aRT is the mean hitting cost, paired seed by seed
    assert v["success_base"] == v["success_new"] == 1.0
    assert v["aRT_base"] == pytest.approx(fast.mean(), rel=1e-12)
    assert v["aRT_new"] == pytest.approx(slow.mean(), rel=1e-12)
    assert v["aRT_ratio"] == pytest.approx(slow.sum() / fast.sum(), rel=1e-12)
    expected = stats.wilcoxon(slow.to_numpy() - fast.to_numpy()).pvalue
    assert v["p_aRT"] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(2 / 2**SEEDS)  # every seed slower: the exact test's floor


def test_reversed_the_faster_optimizer_is_better_and_passes_the_gate(stores, tmp_path):
    html = tmp_path / "cmp.html"
    r = _report(html, ("base", stores["slow"]), ("new", stores["fast"]), "--fail-on", "worse")
    assert r.exit_code == 0, r.stderr
    (v,) = _verdicts(html)["verdicts"]
    assert (v["label"], v["verdict"]) == (f"{FAST} vs {SLOW}", "better")
    assert v["aRT_ratio"] < 0.2


def test_each_optimizer_pairs_with_each_of_the_baseline(stores):
    frame = pd.concat([optbench.load(stores["two"]).assign(source="base"),
                       optbench.load(stores["slow"]).assign(source="new")], ignore_index=True)
    cmp = compare_sources(frame)
    assert cmp.crossed == ("new",)
    got = dict(zip(cmp.verdicts.label, cmp.verdicts.verdict, strict=True))
    assert got == {f"{SLOW} vs {FAST}": "worse", f"{SLOW} vs {MID}": "worse"}
    assert set(cmp.verdicts.n) == {SEEDS}


def test_a_shared_label_pairs_only_with_itself(stores):
    frame = pd.concat([optbench.load(stores["two"]).assign(source="base"),
                       optbench.load(stores["fast"]).assign(source="new")], ignore_index=True)
    cmp = compare_sources(frame)
    assert cmp.crossed == ()
    assert cmp.verdicts[["label", "verdict"]].values.tolist() == [[FAST, "no detectable change"]]
    assert cmp.only_in_one[["label", "source"]].values.tolist() == [[MID, "base"]]


def test_the_stored_start_point_is_read_for_every_run(stores):
    from optbench.report.context import read_context, start_points

    ctx = read_context([stores["fast"], stores["slow"]])
    starts = start_points(ctx.runs)
    by_source = {name: dict(zip(g.seed, (starts[i] for i in g.index), strict=True))
                 for name, g in ctx.runs.groupby("source")}
    for seed in range(SEEDS):  # same problem and seed: the same x0, whatever the optimizer
        assert by_source["fast"][seed] == by_source["slow"][seed]
        assert by_source["fast"][seed][0] == "x"
    assert len({s[1] for s in by_source["fast"].values()}) == SEEDS
    # where the trace keeps no iterates, f(x0) stands for the start
    assert start_key({"f": np.array([3.0, 1.0]), "gnorm": np.ones(2)}) == ("f", (3.0,))
    assert start_key(None) is None


def test_runs_whose_start_points_differ_are_not_compared(stores, tmp_path):
    from optbench.report.context import read_context

    # the control: the same plug-in version, another step size, pairs and gets a verdict
    (v,) = read_context([stores["start-a"], stores["start-a2"]]).comparison.verdicts.itertuples()
    assert (v.label, v.n) == ("gd[lr=0.2] vs gd[lr=0.1]", 6)
    # the plug-in changed how it draws the start: the same problem and seeds, other starts
    for gate in ([], ["--fail-on", "worse"]):
        r = _report(tmp_path / "cmp.html", ("a", stores["start-a"]), ("b", stores["start-b"]),
                    *gate)
        assert r.exit_code == 2, (r.exit_code, r.stderr)
        (line,) = [s for s in r.stderr.splitlines() if s.strip()]
        assert line.startswith("optbench: error: b compared with nothing in the baseline a")
        assert ("not comparable: b: shifted-bowl gd[lr=0.2] vs gd[lr=0.1] start points differ"
                in line)
        assert not list(tmp_path.iterdir())  # refused before any page or verdict is written


def test_start_points_that_differ_for_some_seeds_leave_them_out():
    def rows(source, label, hits, starts):
        return [{"source": source, "problem_key": "p", "label": label, "seed": s,
                 "status": "converged", "evals": 300.0, "budget": 300, "max_iter": 300,
                 "tol": 1e-8, "hit_cost_1e-6": h, "gap_final": 1e-9, "start": st}
                for s, (h, st) in enumerate(zip(hits, starts, strict=True))]

    x0 = [("x", (float(s),)) for s in range(10)]
    moved = x0[:7] + [("x", (s + 1e-6,)) for s in (7.0, 8.0, 9.0)]
    frame = pd.DataFrame(rows("base", "fast", [10.0 + s for s in range(10)], x0)
                         + rows("new", "slow", [40.0 + s for s in range(10)], moved))
    cmp = compare_sources(frame)
    (v,) = cmp.verdicts.itertuples()
    assert (v.label, v.n, v.verdict) == ("slow vs fast", 7, "worse")
    assert v.note == "3 seeds not comparable (start points differ)"
    nc = cmp.not_comparable.iloc[0]
    assert (nc.differs, nc.seeds) == ("start points differ", [7, 8, 9])
    # a start within rounding of the other is the same start; none stored is not checked
    near = x0[:7] + [("x", (s * (1 + 1e-13),)) for s in (7.0, 8.0, 9.0)]
    unknown = [None] * 10
    for starts, note in ((near, ""), (unknown, "start point not stored for 10 seeds: not checked")):
        frame = pd.DataFrame(rows("base", "fast", [10.0 + s for s in range(10)], x0)
                             + rows("new", "slow", [40.0 + s for s in range(10)], starts))
        (v,) = compare_sources(frame).verdicts.itertuples()
        assert (v.n, v.verdict, v.note) == (10, "worse", note)


@pytest.mark.parametrize("other", ["rosen", "later"])
def test_nothing_in_common_is_exit_2_with_one_line(stores, tmp_path, other):
    holds = {"rosen": f"new holds {SEEDS} runs: rosenbrock gd[lr=0.001] (seeds 0–7, budget 50)",
             "later": "new holds 3 runs: quadratic-1d gd[lr=0.5/L] (seeds 20–22, budget 300)"}
    r = _report(tmp_path / "cmp.html", ("base", stores["slow"]), ("new", stores[other]))
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    (line,) = [s for s in r.stderr.splitlines() if s.strip()]
    assert line.startswith("optbench: error: new compared with nothing in the baseline base")
    assert f"base holds {SEEDS} runs: quadratic-1d {SLOW} (seeds 0–7, budget 300)" in line
    assert holds[other] in line
    assert "Traceback" not in r.stderr and not list(tmp_path.iterdir())


def test_a_copy_still_pairs_label_for_label(stores, tmp_path):
    from optbench.report.context import read_context

    (tmp_path / "copy").mkdir()
    shutil.copy(stores["slow"], tmp_path / "copy" / "results.sqlite")
    cmp = read_context([stores["slow"], tmp_path / "copy" / "results.sqlite"]).comparison
    assert cmp.crossed == ()
    (v,) = cmp.verdicts.itertuples()
    assert (v.label, v.label_base, v.label_new) == (SLOW, SLOW, SLOW)
    assert (v.n, v.verdict, v.aRT_ratio, v.note) == (SEEDS, "no detectable change", 1.0, "")
