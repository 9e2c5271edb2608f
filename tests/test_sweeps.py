"""Sweeps: extra cross products of a spec, run beside its main problems x optimizers
(:mod:`optbench.sweeps`).

Truth: plans of each cross product made on their own (the union of their run ids, the
labels of their runs), the spec strings counted by hand, and the signed-rank test's
exact smallest p (2/2^10 at ten seeds) for the statistics.
"""

from __future__ import annotations

import json
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import fork_cli

MAIN_P = ["quadratic-1d", "log-cosh"]
MAIN_O = ["gd[lr=[0.05/L,1/L]]", "adam[lr=0.05]"]  # 3 labels on each problem
SWEEP_Q = {"problems": ["quadratic-1d"],
           "optimizers": ["gd[lr=[0.05/L,0.5/L,1/L]]",  # 0.05/L and 1/L are main runs too
                          "momentum[lr=[0.5/L,1/L,1.5/L,2/L,2.5/L],"
                          "momentum=[0,0.3,0.5,0.7,0.9]]"]}  # 1 + 25 sweep-only labels
SWEEP_R = {"problems": ["rosenbrock"], "optimizers": ["gd[lr=0.5/L]"]}
SEEDS, BUDGET = 10, 60

SPEC = f"""
problems = {json.dumps(MAIN_P)}
optimizers = {json.dumps(MAIN_O)}
seeds = {SEEDS}
budget = {BUDGET}
budgets = {{ "rosenbrock" = 40 }}

[[sweeps]]
problems = {json.dumps(SWEEP_Q["problems"])}
optimizers = {json.dumps(SWEEP_Q["optimizers"])}

[[sweeps]]
problems = {json.dumps(SWEEP_R["problems"])}
optimizers = {json.dumps(SWEEP_R["optimizers"])}
"""


def _plan(problems, optimizers, budget=BUDGET):
    from optbench.plan import make_plan

    return make_plan(problems, optimizers, seeds=SEEDS, budget=budget)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The spec run with its sweeps (from TOML, by the CLI), the same main product alone,
    and the first store's bundle."""
    tmp = tmp_path_factory.mktemp("sweeps")
    spec = tmp / "spec.toml"
    spec.write_text(SPEC)
    swept, alone = tmp / "swept", tmp / "alone"
    res = fork_cli("run", str(spec), "--out", str(swept), "--no-report", "--quiet")
    assert res.returncode == 0, res.stderr
    res = fork_cli("run", *[a for p in MAIN_P for a in ("-p", p)],
                  *[a for o in MAIN_O for a in ("-o", o)], "--seeds", str(SEEDS),
                  "--budget", str(BUDGET), "--out", str(alone), "--no-report", "--quiet")
    assert res.returncode == 0, res.stderr
    bundle = tmp / "b.zip"
    res = fork_cli("export", "--format", "bundle", "--db", str(swept / "results.sqlite"),
                  "--dest", str(bundle))
    assert res.returncode == 0, res.stderr
    return tmp, swept / "results.sqlite", alone / "results.sqlite", bundle


def test_a_plan_with_sweeps_is_the_union_of_its_cross_products():
    from optbench.plan import make_plan

    main = _plan(MAIN_P, MAIN_O)
    q = _plan(SWEEP_Q["problems"], SWEEP_Q["optimizers"])
    r = _plan(SWEEP_R["problems"], SWEEP_R["optimizers"], budget=40)
    plan = make_plan(MAIN_P, MAIN_O, seeds=SEEDS, budget=BUDGET,
                     budgets={"rosenbrock": 40}, sweeps=[SWEEP_Q, SWEEP_R])
    ids = [x.run_id for x in plan.runs]
    assert len(ids) == len(set(ids))  # deduplicated by run id
    main_ids = {x.run_id for x in main.runs}
    swept = {x.run_id for x in q.runs} | {x.run_id for x in r.runs}
    assert set(ids) == main_ids | swept
    # by hand: 2 x 3 main settings, 3 + 25 on the quadratic (2 shared), 1 on rosenbrock
    assert len(ids) == SEEDS * (2 * 3 + 26 + 1)
    assert plan.sweep_ids == swept - main_ids
    assert ids[: len(main.runs)] == [x.run_id for x in main.runs]  # the main runs first
    assert {x.budget for x in plan.runs if x.problem.name == "rosenbrock"} == {40}
    assert {x.run_id for b in plan.batches for x in b.runs} == set(ids)
    # the record of labels: every main pairing, and the sweeps' minus those
    record = plan.labels()
    assert record["main"] == {p: ["gd[lr=0.05/L]", "gd[lr=1/L]", "adam[lr=0.05]"]
                              for p in MAIN_P}
    q_labels = list(dict.fromkeys(x.label for x in q.runs))
    assert record["sweeps"]["quadratic-1d"] == [lab for lab in q_labels
                                                if lab not in ("gd[lr=0.05/L]", "gd[lr=1/L]")]
    assert len(record["sweeps"]["quadratic-1d"]) == 26
    assert record["sweeps"]["rosenbrock"] == ["gd[lr=0.5/L]"]


def test_the_store_holds_the_sweeps_and_which_labels_only_they_ran(stores):
    import optbench
    from optbench.store import Store
    from optbench.sweeps import sweep_only

    _, db, _, _ = stores
    with Store(db) as s:
        sessions = s.sessions()
    assert len(sessions) == 1
    spec = json.loads(sessions[0]["spec"])
    assert spec["sweeps"] == [SWEEP_Q, SWEEP_R]
    runs = optbench.load(db)
    plan = _plan(MAIN_P, MAIN_O)
    main_pairs = {(p, lab) for p in MAIN_P for lab in ("gd[lr=0.05/L]", "gd[lr=1/L]",
                                                        "adam[lr=0.05]")}
    stored_pairs = set(zip(runs.problem_label, runs.label, strict=True))
    only = {(p, lab) for _, p, lab in sweep_only(sessions)}
    assert only == stored_pairs - main_pairs and len(only) == 27
    assert set(runs.run_id) >= {x.run_id for x in plan.runs}
    assert len(runs) == SEEDS * 33


def test_the_bundles_spec_reruns_the_sweeps_exactly(stores, tmp_path):
    import optbench
    from optbench.api import load_spec

    _, db, _, bundle = stores
    with zipfile.ZipFile(bundle) as zf:
        text = zf.read("spec.toml").decode()
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    assert tomllib.loads(text)["sweeps"] == [SWEEP_Q, SWEEP_R]
    load_spec(spec)  # what optbench run accepts
    res = fork_cli("run", str(spec), "--out", str(tmp_path / "again"), "--no-report", "--quiet")
    assert res.returncode == 0, res.stderr
    assert sorted(optbench.load(tmp_path / "again").run_id) == sorted(optbench.load(db).run_id)


def _tests(db):
    from optbench.report.context import read_context

    from optbench.reports.statistics import per_problem_tests

    return per_problem_tests(read_context([Path(db)]))


def test_sweep_only_labels_stay_out_of_the_per_problem_holm_family(stores):
    """With a 26-label sweep stored on the quadratic, its family is still the main suite's
    labels, and the difference that is significant without the sweep stays so."""
    _, swept, alone, _ = stores
    with_sweep, without = _tests(swept), _tests(alone)
    n_main = 3  # MAIN_O's labels, counted by hand: gd at 0.05/L and 1/L, adam
    for frame in (with_sweep, without):
        quad = frame[frame.problem == "quadratic-1d"]
        assert len(quad) == n_main - 1 and set(quad.m) == {n_main - 1}
    cols = ["problem", "reference", "label", "p", "m", "p_holm", "significant"]
    key = ["problem", "label"]
    a = with_sweep[cols].sort_values(key).reset_index(drop=True)
    b = without[cols].sort_values(key).reset_index(drop=True)
    assert a.equals(b)
    # gd at 1/L solves the quadratic in one step, 0.05/L never within 60 evaluations: every
    # seed differs the same way, the signed-rank p is 2/2^10, Holm over 2 tests 4/1024
    row = a[(a.problem == "quadratic-1d") & (a.label == "gd[lr=0.05/L]")].iloc[0]
    assert row.reference == "gd[lr=1/L]"
    assert row.p == pytest.approx(2 / 1024) and row.p_holm == pytest.approx(4 / 1024)
    assert bool(row.significant)


def test_the_statistics_section_says_the_sweeps_are_left_out(stores):
    from optbench.report.context import read_context

    from optbench.reports.statistics import _sweep_note

    _, swept, alone, _ = stores
    note = _sweep_note(read_context([swept]))
    assert "26 on quadratic-1d" in note and "1 on rosenbrock" in note and "left out" in note
    assert _sweep_note(read_context([alone])) == ""


def test_the_default_suite_runs_its_sweeps_with_suite_default(tmp_path):
    """``--suite default`` (here with one seed and a small budget): its runs are the main
    product's and the sweeps', planned on their own."""
    import optbench
    from optbench.plan import make_plan
    from optbench.suite import DEFAULT_SUITE

    res = fork_cli("run", "--suite", "default", "--seeds", "1", "--budget", "20", "--out",
                  str(tmp_path), "--no-report", "--quiet")
    assert res.returncode == 0, res.stderr
    ids = {x.run_id for x in make_plan(DEFAULT_SUITE["problems"], DEFAULT_SUITE["optimizers"],
                                       seeds=1, budget=20).runs}
    for block in DEFAULT_SUITE["sweeps"]:
        ids |= {x.run_id for x in make_plan(block["problems"], block["optimizers"], seeds=1,
                                            budget=20).runs}
    assert set(optbench.load(tmp_path).run_id) == ids


def test_the_default_suites_sweeps_hold_the_lessons_data():
    """At least 12 rates from 0.05/L to 2.2/L on the quadratic and the line fit, heavy
    ball's lr x β grid on the quadratic, and decays against the constant rate on the
    minibatch problem."""
    from optbench.plan import make_plan
    from optbench.suite import DEFAULT_SUITE

    plan = make_plan(DEFAULT_SUITE["problems"], DEFAULT_SUITE["optimizers"], seeds=1,
                     budget=DEFAULT_SUITE["budget"], sweeps=DEFAULT_SUITE["sweeps"])
    by_problem: dict[str, dict[str, set]] = {}
    for run in plan.runs:
        p = by_problem.setdefault(run.problem.name + str(dict(run.problem.params).get(
            "batch_size")), {})
        p.setdefault(run.optimizer.name, set()).add(run.label)
    gd_q = {lab for lab in by_problem["quadratic-1dNone"]["gd"] if "schedule" not in lab}
    rates = sorted(float(lab.split("lr=")[1].split("/L")[0]) for lab in gd_q)
    assert len(rates) >= 12 and rates[0] == 0.05 and 2.2 in rates
    assert len(by_problem["quadratic-1dNone"]["momentum"]) == 35
    minibatch = by_problem["linear-regression10"]["gd"]
    assert sum("schedule" in lab for lab in minibatch) >= 3 and "gd[lr=0.5/L]" in minibatch


@pytest.mark.parametrize(
    "sweeps, says",
    [
        ('sweeps = "quadratic-1d"', "sweeps must be a list"),
        ('sweeps = [{ problems = ["quadratic-1d"], optimisers = ["gd"] }]',
         "sweeps[1] has the unknown key 'optimisers'"),
        ('sweeps = [{ problems = ["quadratic-1d"] }]', "sweeps[1] has no optimizers"),
        ('sweeps = [{ problems = [], optimizers = ["gd"] }]',
         "sweeps[1].problems must be a non-empty list of spec strings"),
        ('sweeps = [{ problems = ["quadratic-1d"], optimizers = ["gd"], seeds = 3 }]',
         "sweeps[1] has the unknown key 'seeds'"),
        ('sweeps = [3]', "sweeps[1] must be a table"),
    ],
)
def test_a_malformed_sweep_is_one_line_and_stores_nothing(tmp_path, sweeps, says):
    spec = tmp_path / "s.toml"
    spec.write_text('problems = ["quadratic-1d"]\noptimizers = ["gd"]\n' + sweeps + "\n")
    res = fork_cli("run", str(spec), "--out", str(tmp_path / "o"), "--no-report", "--quiet")
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr and says in lines[0], res.stderr
    assert not (tmp_path / "o" / "results.sqlite").exists()


def test_sweeps_without_a_main_product_and_unknown_budgets_are_refused(tmp_path):
    import optbench
    from optbench.errors import UsageError

    with pytest.raises(UsageError, match="sweeps add to a main problems x optimizers"):
        optbench.run({"sweeps": [SWEEP_R]}, out=tmp_path, report=False)
    with pytest.raises(UsageError, match="budgets names 'bbob'"):
        optbench.run({"problems": ["log-cosh"], "optimizers": ["gd"], "budgets": {"bbob": 3},
                      "sweeps": [SWEEP_R]}, out=tmp_path, report=False)
    with pytest.raises(UsageError, match="sweeps\\[1\\] has no problems"):
        optbench.run(problems="log-cosh", optimizers="gd", sweeps=[{"optimizers": ["gd"]}],
                     out=tmp_path, report=False)
    assert not (tmp_path / "results.sqlite").exists()
