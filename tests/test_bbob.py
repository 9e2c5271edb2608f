"""The bbob problems against cocoex itself: values, f* (read from cocoex's own logger), x*,
finite-difference gradients and what they are charged, reproducibility across executors, and
the COCO export post-processed by plain ``python -m cocopp``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

cocoex = pytest.importorskip("cocoex",
                             reason="cocoex is not installed (pip install 'optbench[coco]')")

import optbench  # noqa: E402
from optbench.errors import UsageError  # noqa: E402
from optbench.export import export  # noqa: E402
from optbench.oracle import Oracle  # noqa: E402
from optbench.store import Store  # noqa: E402
from tests.conftest import fork_cli, without_clock  # noqa: E402

# (function, dimension, instance): every group of the suite, every dimension, old and new
# instances
CASES = [(1, 2, 1), (3, 5, 1), (7, 3, 2), (8, 10, 3), (12, 20, 71), (15, 3, 7), (20, 20, 2),
         (21, 5, 5), (24, 40, 80)]


def _cocoex_problem(f: int, dim: int, instance: int):
    """A freshly built problem of cocoex's own bbob suite (no optbench code involved)."""
    suite = cocoex.Suite("bbob", f"instances: {instance}",
                         f"function_indices: {f} dimensions: {dim}")
    return suite, suite.get_problem_by_function_dimension_instance(f, dim, instance)


def _spec(f: int, dim: int, instance: int) -> str:
    return f"bbob[f={f},dim={dim},instance={instance}]"


@pytest.mark.parametrize("case", CASES, ids=lambda c: "f{}-d{}-i{}".format(*c))
def test_values_and_domain_equal_cocoex(case):
    problem = optbench.make_problem(_spec(*case))
    suite, theirs = _cocoex_problem(*case)
    rng = np.random.default_rng(sum(case))
    X = np.vstack([rng.uniform(-5, 5, (20, case[1])), rng.uniform(-8, 8, (5, case[1]))])
    np.testing.assert_array_equal(problem.f(X), [theirs(x) for x in X])  # bit for bit
    np.testing.assert_array_equal(problem.lower, theirs.lower_bounds)
    np.testing.assert_array_equal(problem.upper, theirs.upper_bounds)
    assert problem.dim == theirs.dimension
    theirs.free()


@pytest.mark.parametrize("case", [(1, 2, 1), (3, 5, 1), (20, 3, 2), (5, 5, 3)],
                         ids=lambda c: "f{}-d{}-i{}".format(*c))
def test_f_star_is_the_fopt_cocoex_logs_and_the_gap_at_x_star_is_zero(case, tmp_path,
                                                                      monkeypatch):
    """cocoex's bbob logger writes Fopt in each data file's header: the truth f* is read
    from, independently of the best_value() the problem uses."""
    problem = optbench.make_problem(_spec(*case))
    monkeypatch.chdir(tmp_path)
    suite, theirs = _cocoex_problem(*case)
    observer = cocoex.Observer("bbob", "result_folder: fopt")
    theirs.observe_with(observer)
    theirs(np.zeros(case[1]))
    theirs.free()
    del observer
    (dat,) = Path(tmp_path, "exdata").rglob("*.dat")
    header = dat.read_text().splitlines()[0]
    fopt = float(header.split("Fopt (")[1].split(")")[0])
    assert problem.f_star == fopt
    if case[0] == 5:  # the linear slope is minimal on a whole region: no single x*
        assert problem.x_star is None
        return
    gap = problem.f(problem.x_star) - problem.f_star
    assert abs(gap[0]) <= 4 * np.finfo(float).eps * abs(fopt)  # 0, f20 within rounding


@pytest.mark.parametrize("scheme,rtol", [("central", 1e-8), ("forward", 1e-6)])
def test_finite_difference_gradient_equals_the_sphere_s_analytic_one(scheme, rtol):
    """f1 is ‖x − x*‖² + f*: its gradient is 2(x − x*)."""
    problem = optbench.make_problem(f"bbob[f=1,dim=10,instance=3,gradient={scheme}]")
    X = np.random.default_rng(1).uniform(-5, 5, (6, 10))
    exact = 2 * (X - problem.x_star[0])
    np.testing.assert_allclose(problem.grad(X), exact, rtol=rtol, atol=rtol)
    f, g = problem.value_and_grad(X)
    np.testing.assert_array_equal(f, problem.f(X))
    np.testing.assert_allclose(g, exact, rtol=rtol, atol=rtol)


def test_finite_differences_of_rosenbrock_equal_its_closed_form_gradient():
    """The engine's finite differences on a problem of its own, against the closed form."""
    rosen = optbench.make_problem("rosenbrock[d=4]")
    fd = optbench.Problem(dim=4, f=rosen.f, bounds=(rosen.lower, rosen.upper),
                          finite_differences="central")
    X = np.random.default_rng(2).uniform(-2, 2, (5, 4))
    np.testing.assert_allclose(fd.grad(X), rosen.grad(X), rtol=1e-7)


@pytest.mark.parametrize("scheme", ["central", "forward"])
def test_every_evaluation_a_gradient_makes_is_charged_to_n_f(scheme):
    d, B = 5, 3
    calls = []
    base = optbench.make_problem(f"bbob[f=2,dim={d},instance=1]")

    def counted(X):
        calls.append(len(X))
        return base.f(X)

    problem = optbench.Problem(dim=d, f=counted, bounds=(base.lower, base.upper),
                               finite_differences=scheme)
    per_grad = 2 * d if scheme == "central" else d + 1
    with_value = 2 * d + 1 if scheme == "central" else d + 1
    assert problem.gradient_cost() == (per_grad, 0)
    assert problem.gradient_cost(with_value=True) == (with_value, 0)
    oracle = Oracle(problem, B, budget=per_grad + with_value + 1)
    X = np.random.default_rng(3).uniform(-5, 5, (B, d))
    oracle.grad(X)
    assert sum(calls) == B * per_grad  # what the oracle charged is what f was asked for
    np.testing.assert_array_equal(oracle.n_f, per_grad)
    np.testing.assert_array_equal(oracle.n_g, 0)
    oracle.value_and_grad(X + 1)
    assert sum(calls) == B * (per_grad + with_value)
    np.testing.assert_array_equal(oracle.n_f, per_grad + with_value)
    # one evaluation left: the next gradient is refused, uncharged
    assert np.isnan(oracle.grad(X)).all() and oracle.exhausted.all()
    np.testing.assert_array_equal(oracle.n_f, per_grad + with_value)
    assert sum(calls) == B * (per_grad + with_value)


def test_a_gd_run_on_bbob_pays_2d_evaluations_per_step(tmp_path):
    res = optbench.run(problems=["bbob[f=1,dim=5]"], optimizers=["gd[lr=0.1]"], seeds=1,
                       budget=100, out=tmp_path, report=False)
    run = res.runs.iloc[0]
    assert (run["status"], run["n_f"], run["n_g"], run["n_iter"]) == ("budget", 100, 0, 10)
    trace = optbench.load_trace(tmp_path, run["run_id"])
    np.testing.assert_array_equal(np.diff(trace["n_f"]), 10)


def _stored(db) -> tuple[list, dict]:
    with Store(db) as s:
        rows = sorted((r["run_id"], r["status"], without_clock(r["summary"]),
                       without_clock(r["metrics"])) for r in s.runs())
        traces = {rid: {k: np.asarray(v) for k, v in tr.items() if k != "time"}
                  for rid, tr in s.traces([r[0] for r in rows])}
    return rows, traces


def test_runs_on_bbob_are_the_same_whichever_executor_runs_them(tmp_path):
    spec = dict(problems=["bbob[f=[1,8],dim=3,instance=[1,2]]"],
                optimizers=["gd[lr=0.01]", "adam[lr=0.1]"], seeds=2, budget=120, report=False)
    serial = optbench.run(**spec, out=tmp_path / "serial", executor="serial")
    process = optbench.run(**spec, out=tmp_path / "process", executor="process", jobs=2)
    rows_s, traces_s = _stored(serial.db)
    rows_p, traces_p = _stored(process.db)
    assert len(rows_s) == 16 and rows_s == rows_p
    for rid, tr in traces_s.items():
        for key, value in tr.items():
            np.testing.assert_array_equal(value, traces_p[rid][key], err_msg=f"{rid} {key}")


def test_a_bbob_problem_pickles_as_its_identity_and_evaluates_the_same():
    import pickle

    problem = optbench.make_problem("bbob[f=17,dim=5,instance=4]")
    X = np.random.default_rng(4).uniform(-5, 5, (4, 5))
    before = problem.f(X)
    copy = pickle.loads(pickle.dumps(problem))
    assert copy._f._bare is None  # rebuilt on first use, not carried
    np.testing.assert_array_equal(copy.f(X), before)


@pytest.mark.parametrize("spec,expected", [
    ("bbob[f=25]", "f must be a whole number in [1, 24], got 25"),
    ("bbob[f=3,dim=0]", "dim must be one of the bbob suite's dimensions [2, 3, 5, 10, 20, 40], "
                        "got 0"),
    ("bbob[instance=0]", "instance must be a whole number in [1, 2147483647], got 0"),
    ("bbob[gradient=backward]", "gradient must be central or forward"),
])
def test_a_bad_spec_is_one_line(spec, expected, tmp_path):
    with pytest.raises(UsageError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        optbench.make_problem(spec)
    r = fork_cli("run", "-p", spec, "-o", "gd", "--out", str(tmp_path / "r"), "--quiet")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip().count("\n") == 0 and expected in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_make_problem_refuses_a_sweep():
    with pytest.raises(UsageError, match="is a sweep of 2"):
        optbench.make_problem("bbob[f=[1,2]]")


def test_a_missing_cocoex_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cocoex", None)  # as if it were not installed
    with pytest.raises(UsageError) as err:
        optbench.make_problem("bbob[f=2,dim=3]")
    message = str(err.value)
    assert "\n" not in message and "pip install 'optbench[coco]'" in message, message


# the instances of cocoex's bbob suite (cocoex.Suite("bbob", "", "")), one of the sets cocopp
# checks an experiment against
INSTANCES = [*range(1, 6), *range(71, 81)]


@pytest.fixture(scope="module")
def bbob_export(tmp_path_factory):
    """gd on f1 in 2-D, the suite's 15 instances, one seed: a small bbob experiment."""
    base = tmp_path_factory.mktemp("bbob-export")
    instances = ",".join(map(str, INSTANCES))
    res = optbench.run(problems=[f"bbob[f=1,dim=2,instance=[{instances}]]"],
                       optimizers=["gd[lr=0.25/L]"], seeds=1, budget=80, out=base / "out",
                       report=False)
    export(res.db, "coco", base / "coco")
    return res, base / "coco"


def test_the_export_of_bbob_runs_is_a_bbob_experiment(bbob_export):
    res, folder = bbob_export
    mapping = json.loads((folder / "coco-map.json").read_text())
    assert mapping["suite"] == "bbob" and mapping["instances"] == INSTANCES
    suite = cocoex.Suite("bbob", "", "function_indices: 1 dimensions: 2")
    assert INSTANCES == [p.id_instance for p in suite]
    (alg,) = mapping["algorithms"]
    info = (folder / alg / "bbobexp_f1.info").read_text().splitlines()
    assert info[0].startswith("suite = 'bbob', funcId = 1, DIM = 2,")
    entries = info[2].split(", ")
    assert entries[0] == "data_f1/bbobexp_f1_DIM2.dat"
    assert [int(e.split(":")[0]) for e in entries[1:]] == INSTANCES  # COCO's instances
    # Δf is f − f* with cocoex's f* of each instance
    dat = (folder / alg / "data_f1" / "bbobexp_f1_DIM2.dat").read_text().split("%")[1:]
    keys = mapping["functions"]["1"]["problem_keys"]
    for block, instance, key in zip(dat, INSTANCES, keys, strict=True):
        assert mapping["problems"][key]["instance"] == instance
        run = res.runs[res.runs.problem_key == key].iloc[0]
        _, theirs = _cocoex_problem(1, 2, instance)
        trace = optbench.load_trace(res.db, run["run_id"])
        x0 = np.asarray(trace["x"]).reshape(len(trace["f"]), -1)[0]
        first = block.splitlines()[1].split()
        assert float(first[2]) == pytest.approx(theirs(x0) - optbench.make_problem(
            _spec(1, 2, instance)).f_star, rel=1e-9)
        theirs.free()


def test_a_store_with_bbob_and_own_problems_exports_two_experiments(tmp_path):
    res = optbench.run(problems=["bbob[f=1,dim=2]", "quadratic-1d"], optimizers=["gd[lr=0.1]"],
                       seeds=1, budget=30, out=tmp_path / "out", report=False)
    export(res.db, "coco", tmp_path / "coco")
    assert json.loads((tmp_path / "coco" / "coco-map.json").read_text())["parts"] == [
        "bbob", "optbench"]
    for suite in ("bbob", "optbench"):
        (info,) = (tmp_path / "coco" / suite).rglob("*.info")
        assert info.read_text().startswith(f"suite = '{suite}', funcId = 1, ")


@pytest.mark.slow
def test_plain_cocopp_post_processes_the_export_offline(bbob_export):
    _, folder = bbob_export
    (alg,) = json.loads((folder / "coco-map.json").read_text())["algorithms"]
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    # `python -m cocopp ALG` in a process of its own (nothing of optbench's registered), its
    # figures as SVG alone (it also writes each as PDF, which takes half its time)
    plain = ("import sys, cocopp; cocopp.genericsettings.figure_file_formats = ['svg']; "
             "cocopp.rungeneric.main(sys.argv[1:])")
    r = subprocess.run([sys.executable, "-c", plain, alg], cwd=folder, capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    assert "Data consistent" in r.stdout  # read as bbob data, by cocopp's own checks
    assert (folder / "ppdata" / "index.html").is_file()
    (out,) = [p for p in (folder / "ppdata").iterdir() if p.is_dir()]
    assert (out / "pprldmany_02D_noiselessall.svg").is_file() or any(out.rglob("*.svg"))
