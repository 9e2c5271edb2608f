"""The environment a session records (optbench.environment): the versions, checked against
the installed metadata; the CPU, against os and /proc/cpuinfo; BLAS, against threadpoolctl;
a plug-in file, against its sha256. The store keeps it in the session's versions JSON, an
old session without it still renders, Setup shows it, and two sources whose environments
differ are flagged in the report and on stderr."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sqlite3
from importlib.metadata import version
from pathlib import Path

import pytest

from optbench import environment
from optbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "my_optimizer.py"


def _installed(dist: str) -> bool:
    try:
        version(dist)
    except Exception:  # noqa: BLE001
        return False
    return True


def test_capture_records_the_installed_versions_and_only_the_extras_used():
    import optbench

    env = environment.capture(["quadratic-1d"], ["gd[lr=0.1,schedule=cosine(T=10)]"])
    vers = env["versions"]
    for dist in ("numpy", "scipy", "pandas"):
        assert vers[dist] == version(dist)
    assert vers["python"] == platform.python_version()
    assert vers["optbench"] == optbench.__version__
    # gd uses none of the extras: none is recorded
    assert not {"torch", "optax", "jax", "cma", "coco-experiment", "scikit-learn"} & set(vers)


@pytest.mark.parametrize(
    ("optimizer", "dists"),
    [
        ("torch[cls=torch.optim.Adam]", ("torch",)),
        ("optax[opt=adam]", ("optax", "jax")),
        ("cma", ("cma",)),
        # a library named by an import path in a parameter (ask_tell.py itself never names
        # scikit-learn; capture reads the spec and builds nothing)
        ("ask-tell[cls=sklearn.dummy.DummyRegressor]", ("scikit-learn",)),
    ],
)
def test_capture_records_the_extras_a_component_uses(optimizer, dists):
    for dist in dists:
        if not _installed(dist):
            pytest.skip(f"{dist} is not installed")
    vers = environment.capture(["quadratic-1d"], [optimizer])["versions"]
    for dist in dists:
        assert vers[dist] == version(dist)
    assert ("torch" in vers) == ("torch" in dists)


def test_capture_records_the_platform_the_cpu_and_its_cores():
    env = environment.capture()
    plat = env["platform"]
    assert (plat["system"], plat["release"], plat["machine"]) == (
        platform.system(), platform.release(), platform.machine())
    if platform.processor() in ("", "unknown"):  # composed without asking for it on Linux
        assert plat["platform"] == platform.platform()
    cpu = env["cpu"]
    assert cpu["count"] == os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        assert cpu["available"] == len(os.sched_getaffinity(0))
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        if names:
            assert cpu["model"] == names[0]


def test_capture_records_blas_as_threadpoolctl_sees_it(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import numpy  # noqa: F401 - its BLAS is loaded

    env = environment.capture()
    truth = threadpoolctl.threadpool_info()
    assert env["blas_source"] == "threadpoolctl"
    assert [(b["internal_api"], b["version"], b["num_threads"], b["filepath"])
            for b in env["blas"]] == [
        (t["internal_api"], t["version"], t["num_threads"], t["filepath"]) for t in truth
    ]
    # the thread variables as the runs' workers get them: the driver's, else 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    threads = environment.capture()["threads"]
    assert threads["OMP_NUM_THREADS"] == "3" and threads["MKL_NUM_THREADS"] == "1"
    # without threadpoolctl: numpy's build configuration names the library
    monkeypatch.setitem(__import__("sys").modules, "threadpoolctl", None)
    env = environment.capture()
    assert env["blas_source"] == "numpy build config"
    import numpy as np

    built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert env["blas"][0]["internal_api"] == built["name"]
    assert env["blas"][0]["version"] == built["version"]


def test_a_plugin_file_is_recorded_by_its_sha256(tmp_path):
    plugin = tmp_path / "deep" / "my_optimizer.py"
    plugin.parent.mkdir()
    shutil.copy(PLUGIN, plugin)
    truth = hashlib.sha256(plugin.read_bytes()).hexdigest()
    (named,) = environment.capture(plugins=[str(plugin)])["plugins"]
    assert named == {"plugin": str(plugin), "file": "my_optimizer.py", "sha256": truth}
    (anon,) = environment.capture(plugins=[str(plugin)], anonymous=True)["plugins"]
    assert anon == {"plugin": "my_optimizer.py", "file": "my_optimizer.py", "sha256": truth}
    plugin.write_text(plugin.read_text() + "\n# changed\n")
    (changed,) = environment.capture(plugins=[str(plugin)])["plugins"]
    assert changed["sha256"] == hashlib.sha256(plugin.read_bytes()).hexdigest() != truth


def test_the_store_round_trips_the_environment(tmp_path):
    env = environment.capture(["quadratic-1d"], ["gd"], [str(PLUGIN)])
    with Store(tmp_path / "results.sqlite", create=True) as store:
        store.add_session("optbench run", {"problems": ["quadratic-1d"]},
                          environment=environment.stored(env))
        (session,) = store.sessions()
    assert environment.from_session(session) == json.loads(json.dumps(env))
    # the versions stay flat at the top of the column, as sessions always stored them
    flat = json.loads(session["versions"])
    assert flat["numpy"] == version("numpy") and flat["pandas"] == version("pandas")


def _run(out: Path, anonymous: bool):
    import optbench

    return optbench.run(problems="quadratic-1d", optimizers="clipped-gd", seeds=1,
                        budget=40, out=out, plugins=[str(PLUGIN)], report=False,
                        anonymous=anonymous)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two stores of one small run each, written through optbench.run: plain and anonymous."""
    tmp = tmp_path_factory.mktemp("environment")
    return {anonymous: _run(tmp / ("anon" if anonymous else "plain"), anonymous).db
            for anonymous in (False, True)}


def _session(db) -> dict:
    with Store(db) as store:
        (session,) = store.sessions()
    return session


def test_run_records_the_environment_and_anonymous_drops_host_and_paths(stores):
    plain, anon = _session(stores[False]), _session(stores[True])
    assert plain["host"] == platform.node() and anon["host"] == ""
    digest = hashlib.sha256(PLUGIN.read_bytes()).hexdigest()
    plain_env, anon_env = environment.from_session(plain), environment.from_session(anon)
    assert plain_env["plugins"] == [
        {"plugin": str(PLUGIN), "file": "my_optimizer.py", "sha256": digest}]
    assert anon_env["plugins"] == [
        {"plugin": "my_optimizer.py", "file": "my_optimizer.py", "sha256": digest}]
    # versions kept, paths and the host gone (the BLAS libraries' file paths too)
    assert anon_env["versions"] == plain_env["versions"]
    assert anon_env["versions"]["numpy"] == version("numpy")
    text = anon["versions"] + anon["command"] + anon["spec"]
    assert str(ROOT) not in text and str(Path.home()) not in text
    assert platform.node() not in anon["versions"]
    assert all("filepath" not in lib for lib in anon_env["blas"])
    assert anon_env["cpu"] == plain_env["cpu"] and anon_env["platform"] == plain_env["platform"]


def _setup_html(paths, names=None, compare=False) -> tuple[str, str]:
    """The Setup (and Comparison) sections' HTML, rendered from the stores alone."""
    from optbench.reports.comparison import comparison
    from optbench.reports.setup import setup

    from optbench.report.context import read_context

    ctx = read_context(list(paths), names=names)
    section = comparison(ctx) if compare else None
    return setup(ctx).body, section.body if section else ""


def test_setup_shows_the_environment(stores):
    body, _ = _setup_html([stores[False]])
    env = environment.from_session(_session(stores[False]))
    for fact in ("numpy", "pandas", "CPU", "cores", "BLAS", "OMP_NUM_THREADS",
                 "plug-in my_optimizer.py"):
        assert f'data-v="{fact}"' in body, fact
    for text in (version("numpy"), version("pandas"), env["cpu"]["model"],
                 f"sha256 {env['plugins'][0]['sha256'][:16]}"):
        assert text in body, text
    assert "class='note warning'" not in body


def test_an_old_session_without_an_environment_still_renders(stores, tmp_path):
    db = tmp_path / "old.sqlite"
    shutil.copy(stores[False], db)
    old = {"optbench": "0.0.9", "numpy": "1.26.4", "scipy": "1.11.1", "python": "3.11.0"}
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sessions SET versions=?", (json.dumps(old),))
    env = environment.from_session(_session(db))
    assert env == {"versions": old}
    body, _ = _setup_html([db])
    assert "1.26.4" in body and "0.0.9" in body
    for fact in ("OMP_NUM_THREADS", "CPU", "plug-in my_optimizer.py"):  # not recorded: not shown
        assert f'data-v="{fact}"' not in body, fact


def _doctored(src: Path, dest: Path) -> Path:
    """A copy of a store whose session says it ran with another numpy on another CPU."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest)
    with sqlite3.connect(dest) as conn:
        (raw,) = conn.execute("SELECT versions FROM sessions").fetchone()
        data = json.loads(raw)
        data["numpy"] = "1.26.0"
        data["environment"]["cpu"]["model"] = "Doctored CPU 9000"
        conn.execute("UPDATE sessions SET versions=?", (json.dumps(data),))
    return dest


def test_sources_whose_environments_differ_are_flagged(stores, tmp_path):
    base = stores[False]
    same = tmp_path / "same" / "results.sqlite"
    same.parent.mkdir()
    shutil.copy(base, same)
    other = _doctored(base, tmp_path / "other" / "results.sqlite")
    numpy = version("numpy")

    setup_body, _ = _setup_html([base, same], names=["base", "same"])
    assert "class='note warning'" not in setup_body

    setup_body, cmp_body = _setup_html([base, other], names=["base", "other"], compare=True)
    for body in (setup_body, cmp_body):
        assert "different environments" in body
        assert f"numpy {numpy} (base) vs 1.26.0 (other)" in body
        assert "CPU" in body and "Doctored CPU 9000 (other)" in body
    assert "<b>1.26.0</b>" in setup_body  # the differing cell is bold in the table
    # python, scipy, ... are the same in both: not named
    assert "scipy" not in environment.difference_note(
        [{**_session(base), "source": "base"}, {**_session(other), "source": "other"}])


def test_the_report_command_warns_on_stderr(stores, tmp_path, monkeypatch):
    """The one line of ``optbench report`` (the page itself is checked above: rendering it
    again here would only cost time, so the command writes a stand-in page)."""
    from click.testing import CliRunner

    import optbench.api
    from optbench.cli import cli

    def page(paths, target, *args, **kwargs):
        Path(target).write_text("<html></html>")
        return Path(target)

    monkeypatch.setattr(optbench.api, "write_report_file", page)
    other = _doctored(stores[False], tmp_path / "other" / "results.sqlite")
    same = tmp_path / "same" / "results.sqlite"
    same.parent.mkdir()
    shutil.copy(stores[False], same)

    def report(db):
        return CliRunner().invoke(cli, ["report", "--db", f"base={stores[False]}", "--db",
                                        f"new={db}", "--html", str(tmp_path / "cmp.html")])

    res = report(other)
    assert res.exit_code == 0, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("optbench: warning: the sources ran in different environments")
    assert f"numpy {version('numpy')} (base) vs 1.26.0 (new)" in lines[0]
    assert "CPU" in lines[0]
    res = report(same)
    assert res.exit_code == 0 and res.stderr == "", res.stderr
