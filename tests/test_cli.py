"""The command line as a user meets it: run, select, sweep, list, plug in, report, errors.

What the CLI answers is asked of a forked copy of a process that has imported it (the
``forked_cli`` fixture); how it starts (``python -m``, the imports of ``--help``, an
installed entry point) is asked of a new interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import optbench
from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"


def test_run_selects_exactly_the_named_runs(out, forked_cli):
    r = forked_cli(
        "run",
        "-p",
        "quadratic-1d",
        "-o",
        "gd[lr=0.05]",
        "-o",
        "random-search",
        "--seeds",
        "10",
        "--budget",
        "200",
        "--out",
        str(out),
        cwd=out.parent,
    )
    assert r.returncode == 0, r.stderr
    assert (out / "results.sqlite").is_file() and (out / "report.html").is_file()
    df = optbench.load(out)
    assert len(df) == 20
    assert sorted(df.optimizer.unique()) == ["gd", "random-search"]
    assert sorted(df.seed.unique()) == list(range(10))
    assert (df.budget == 200).all()
    assert (df.evals <= 200).all()
    assert "20 of 20 runs stored (20 new)" in r.stdout


@pytest.mark.parametrize(
    "spec, lrs",
    [
        ("gd[lr=[0.01,0.1,0.5]]", [0.01, 0.1, 0.5]),
        ("gd[lr=log(1e-3,1,7)]", [10 ** (-3 + k / 2) for k in range(7)]),
        ("gd[lr=[0.5/L,1.5/L,2.5/L]]", [0.25, 0.75, 1.25]),  # quadratic-1d: L = h = 2
    ],
)
def test_sweeps_expand(out, forked_cli, spec, lrs):
    r = forked_cli(
        "run",
        "-p",
        "quadratic-1d",
        "-o",
        spec,
        "--seeds",
        "2",
        "--budget",
        "30",
        "--out",
        str(out),
        "--no-report",
        cwd=out.parent,
    )
    assert r.returncode == 0, r.stderr
    df = optbench.load(out)
    assert len(df) == 2 * len(lrs)
    assert sorted(df["hp.lr"].unique()) == pytest.approx(sorted(lrs), rel=1e-12)


def test_toml_spec_equals_the_flags(tmp_path, forked_cli):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'problems = ["quadratic-1d"]\noptimizers = ["gd[lr=[0.1,0.2]]", "random-search"]\n'
        "seeds = 3\nbudget = 40\n"
    )
    a, b = tmp_path / "a", tmp_path / "b"
    assert forked_cli("run", str(spec), "--out", str(a), "--no-report",
                      cwd=tmp_path).returncode == 0
    assert (
        forked_cli(
            "run",
            "-p",
            "quadratic-1d",
            "-o",
            "gd[lr=[0.1,0.2]]",
            "-o",
            "random-search",
            "--seeds",
            "3",
            "--budget",
            "40",
            "--out",
            str(b),
            "--no-report",
            cwd=tmp_path,
        ).returncode
        == 0
    )
    da, db = optbench.load(a), optbench.load(b)
    assert sorted(da.run_id) == sorted(db.run_id)
    merged = da.merge(db, on="run_id")
    assert (merged.f_final_x == merged.f_final_y).all()


def test_example_toml_runs(tmp_path, forked_cli):
    r = forked_cli(
        "run",
        str(EXAMPLES / "sweep.toml"),
        "--out",
        str(tmp_path / "o"),
        "--no-report",
        "--quiet",
        "--seeds",
        "2",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert len(optbench.load(tmp_path / "o")) > 0


def test_list_and_json(tmp_path, forked_cli):
    def call(*args):
        return forked_cli(*args, cwd=tmp_path)

    r = call("list")
    assert r.returncode == 0
    for word in ("problems", "optimizers", "schedules", "sections", "quadratic-1d", "gd", "cosine"):
        assert word in r.stdout
    problems = json.loads(call("list", "problems", "--json").stdout)
    quad = next(p for p in problems if p["name"] == "quadratic-1d")
    assert quad["dim"] == 1 and quad["f_star"] == 0.0 and quad["L"] == 2.0 and quad["mu"] == 2.0
    assert quad["x_star"] == [[1.5]] and quad["domain"] == [[-8.5], [11.5]]
    assert {"name": "h", "default": 2.0, "type": "float", "required": False} in quad["params"]
    assert "convex" in quad["tags"] and quad["description"]
    opts = json.loads(call("list", "optimizers", "--json").stdout)
    gd = next(o for o in opts if o["name"] == "gd")
    assert gd["needs"] == ["gradient"] and gd["batchable"] is True
    assert any(p["name"] == "lr" for p in gd["params"])
    for kind in ("schedules", "sections"):
        items = json.loads(call("list", kind, "--json").stdout)
        assert items and all({"name", "params", "description"} <= set(i) for i in items)


def test_plugin_file_registers_and_runs(out, forked_cli):
    r = forked_cli(
        "run",
        "--plugin",
        str(EXAMPLES / "my_optimizer.py"),
        "--plugin",
        str(EXAMPLES / "my_problem.py"),
        "-p",
        "tilted-bowl[a=10]",
        "-o",
        "clipped-gd[lr=0.9/L,max_step=0.5]",
        "--seeds",
        "3",
        "--budget",
        "300",
        "--out",
        str(out),
        "--no-report",
        cwd=out.parent,
    )
    assert r.returncode == 0, r.stderr
    df = optbench.load(out)
    assert len(df) == 3 and (df.status == "converged").all()
    x_final = df.x_final.iloc[0]
    assert x_final == pytest.approx(
        [-0.1, 0.0], abs=2e-4
    )  # x* = (-tilt/a, 0); gap 1e-8 ~ dist 1.4e-4


def test_installed_entry_point_plugins_are_found(tmp_path, out):
    """A package that declares an optbench.optimizers entry point, found through importlib.metadata."""
    site = tmp_path / "site"
    (site / "ext_opts").mkdir(parents=True)
    (site / "ext_opts" / "__init__.py").write_text(
        "from optbench import Optimizer, register_optimizer\n"
        "@register_optimizer('half-gd', batchable=True)\n"
        "def half_gd(lr: float = 0.5):\n"
        "    return Optimizer(step=lambda x, s, o, t: (x - lr * o.grad(x), s))\n"
    )
    dist = site / "ext_opts-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ext-opts\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[optbench.optimizers]\nhalf = ext_opts\n")
    broken = site / "broken-0.1.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (broken / "entry_points.txt").write_text("[optbench.problems]\nbad = no_such_module_xyz\n")
    env_path = str(site)
    code = (
        "import sys; sys.path.insert(0, %r); from optbench.cli import main; main(sys.argv[1:])"
        % env_path
    )
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "run",
            "-p",
            "quadratic-1d",
            "-o",
            "half-gd",
            "--seeds",
            "2",
            "--budget",
            "20",
            "--out",
            str(out),
            "--no-report",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "skipping the installed plug-in 'bad'" in r.stderr  # a warning, not a failure
    df = optbench.load(out)
    assert (df.optimizer == "half-gd").all() and (df.status == "converged").all()


def test_report_rerenders_from_the_store_alone(out, tmp_path, forked_cli):
    def call(*args):
        return forked_cli(*args, cwd=tmp_path)

    assert (
        call(
            "run",
            "-p",
            "quadratic-1d",
            "-o",
            "gd[lr=[0.2,0.7]]",
            "--seeds",
            "3",
            "--budget",
            "50",
            "--out",
            str(out),
            "--no-report",
        ).returncode
        == 0
    )
    assert not (out / "report.html").exists()
    r = call("report", "--out", str(out))
    assert r.returncode == 0, r.stderr
    page = (out / "report.html").read_text()
    assert 'id="summary"' in page and 'id="per-problem"' in page
    assert "class='vega-spec'>{" in page  # the figures, drawn from the store alone
    target = tmp_path / "elsewhere.html"
    r = call("report", "--db", str(out / "results.sqlite"), "--html", str(target))
    assert r.returncode == 0 and target.is_file()
    # nothing on the page is fetched: no source or link attribute names the network (the
    # inlined JavaScript holds URL strings such as the SVG namespace; the browser test
    # checks that no request leaves the page)
    import re

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)


def test_debug_shows_the_traceback(out, forked_cli):
    r = forked_cli("run", "-p", "quadratic-1", "-o", "gd", "--out", str(out), "--debug",
                   cwd=out.parent)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_rerun_adds_only_missing_runs_and_fresh_moves_aside(out, tmp_path, forked_cli):
    # counted by the runs that started (a plug-in logs each), not by "(N new)": the store
    # skips runs it holds, so the count of new rows is right even if everything reruns
    from tests.test_resume_executed import LOG_VAR, executed, executed_plugin

    log = tmp_path / "executed.log"

    def call(*args):
        return forked_cli(*args, cwd=tmp_path, env={LOG_VAR: str(log)})

    args = [
        "run",
        "--plugin",
        str(executed_plugin(tmp_path)),
        "-p",
        "quadratic-1d",
        "-o",
        "logged-gd[lr=0.1]",
        "--budget",
        "30",
        "--out",
        str(out),
        "--no-report",
    ]
    assert call(*args, "--seeds", "2").returncode == 0
    assert executed(log) == 2
    r = call(*args, "--seeds", "2")
    assert "2 of 2 runs stored (0 new)" in r.stdout and executed(log) == 0
    r = call(*args, "--seeds", "2", "-p", "quadratic-1d[h=3]")
    assert "4 of 4 runs stored (2 new)" in r.stdout and executed(log) == 2  # its batch only
    r = call(*args, "--seeds", "3")
    assert "3 of 3 runs stored (1 new)" in r.stdout
    assert executed(log) == 3  # the batch with the missing seed, run again whole
    r = call(*args, "--seeds", "3", "--fresh")
    assert "3 of 3 runs stored (3 new)" in r.stdout and executed(log) == 3
    moved = [
        p
        for p in out.iterdir()
        if p.name.startswith("results.") and p.name != "results.sqlite" and p.suffix == ".sqlite"
    ]
    assert len(moved) == 1 and len(optbench.load(moved[0])) == 5


def test_help_and_list_do_not_import_the_numeric_stack():
    code = (
        "import sys; from optbench.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'scipy', 'pandas', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    for args in (["--help"], ["list"], ["list", "optimizers"], ["run", "--help"]):
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        assert "HEAVY []" in r.stdout, (args, r.stdout[-300:], r.stderr[-500:])


def test_the_wheel_contains_the_catalogs_and_subpackages(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("optbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for pkg in (
        "optbench/problems/",
        "optbench/optimizers/",
        "optbench/reports/",
        "optbench/metrics/",
        "optbench/stats/",
        "optbench/report/",
    ):
        assert any(
            n.startswith(pkg) and n.endswith(".py") and "__init__" not in n for n in names
        ), pkg
    assert "optbench/templates/report.html" in names
    # the built-in reference results (optbench list baselines)
    assert {"optbench/references/default.zip", "optbench/references/torch-defaults.zip"} <= set(
        names)
    assert not any(n.startswith(("problems/", "optimizers/", "reports/")) for n in names)
    assert "optbench/__main__.py" in names  # python -m optbench
    # the metadata: the one version, the license file, only the dependencies the code imports
    from email.parser import Parser

    (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    meta = Parser().parsestr(zipfile.ZipFile(wheel).read(meta_name).decode())
    assert meta["Version"] == optbench.__version__
    assert meta["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    required = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert not any(r.startswith("seaborn") for r in required)
    classifiers = meta.get_all("Classifier")
    assert any(c.startswith("Programming Language :: Python :: 3.") for c in classifiers)


def test_python_dash_m_optbench_is_the_command_line():
    r = subprocess.run(
        [sys.executable, "-m", "optbench", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.strip() == f"optbench {optbench.__version__}"


def test_exit_code_when_runs_fail(out, tmp_path, forked_cli):
    plugin = tmp_path / "raiser.py"
    plugin.write_text(
        "from optbench import Optimizer, register_optimizer\n"
        "@register_optimizer('raiser', batchable=True)\n"
        "def raiser():\n"
        "    def step(x, s, o, t):\n"
        "        raise RuntimeError('this optimizer always fails')\n"
        "    return Optimizer(step=step)\n"
    )
    r = forked_cli(
        "run",
        "--plugin",
        str(plugin),
        "-p",
        "quadratic-1d",
        "-o",
        "raiser",
        "-o",
        "gd",
        "--seeds",
        "2",
        "--budget",
        "20",
        "--out",
        str(out),
        "--no-report",
        cwd=tmp_path,
    )
    assert r.returncode == 3
    df = optbench.load(out)
    assert (df[df.optimizer == "raiser"].status == "error").all()
    assert df[df.optimizer == "raiser"].message.str.contains("always fails").all()
    assert (df[df.optimizer == "gd"].status != "error").all()


def test_python_api_run_returns_results(out):
    res = optbench.run(
        problems=["quadratic-1d"],
        optimizers=["gd[lr=[0.5/L,1.5/L]]"],
        seeds=2,
        budget=40,
        out=out,
        report=False,
    )
    assert res.db == Path(out) / "results.sqlite" and res.report is None
    assert len(res.runs) == 4 and set(res.runs.label) == {"gd[lr=0.5/L]", "gd[lr=1.5/L]"}
    trace = optbench.load_trace(out, res.runs.run_id[0])
    assert trace["f"].shape[0] == res.runs.n_iter[0] + 1


def test_python_api_takes_one_spec_string(tmp_path):
    one = optbench.run(problems="quadratic-1d", optimizers="gd[lr=0.5/L]", seeds=2, budget=30,
                       out=tmp_path / "one", report=False)
    listed = optbench.run(problems=["quadratic-1d"], optimizers=["gd[lr=0.5/L]"], seeds=2,
                          budget=30, out=tmp_path / "listed", report=False)
    assert one.run_ids == listed.run_ids and len(one.run_ids) == 2


def _provenance(db):
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(db)) as conn:
        sessions = conn.execute("SELECT command, host FROM sessions").fetchall()
        hosts = {h for (h,) in conn.execute("SELECT host FROM runs")}
    return sessions, hosts


def test_anonymous_runs_store_no_host_and_no_command_folder(tmp_path, forked_cli):
    import platform

    def call(*args):
        return forked_cli(*args, cwd=tmp_path)

    args = ["run", "-p", "quadratic-1d", "-o", "gd", "--seeds", "1", "--budget", "5", "--no-report"]
    assert call(*args, "--out", str(tmp_path / "named")).returncode == 0
    ((command, host),) = _provenance(tmp_path / "named" / "results.sqlite")[0]
    assert host == platform.node()
    assert "/" in command.split(" ")[0]  # the program's full path, by default
    assert call(*args, "--anonymous", "--out", str(tmp_path / "anon")).returncode == 0
    sessions, hosts = _provenance(tmp_path / "anon" / "results.sqlite")
    ((command, host),) = sessions
    assert host == "" and hosts == {""}
    assert "/" not in command.split(" ")[0] and command.split(" ")[1:3] == ["run", "-p"]
    # the same from a spec file
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'problems = ["quadratic-1d"]\noptimizers = ["gd"]\nseeds = 1\nbudget = 5\n'
        "anonymous = true\n"
    )
    assert call("run", str(spec), "--no-report", "--out", str(tmp_path / "spec")).returncode == 0
    sessions, hosts = _provenance(tmp_path / "spec" / "results.sqlite")
    assert [h for _, h in sessions] == [""] and hosts == {""}
    spec.write_text('problems = ["quadratic-1d"]\noptimizers = ["gd"]\nanonymous = "yes"\n')
    res = call("run", str(spec), "--out", str(tmp_path / "bad"))
    assert res.returncode == 2 and "anonymous must be true or false" in res.stderr
