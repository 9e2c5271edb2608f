"""Shared fixtures: a temporary output folder and a helper to run the real CLI; under
pytest-xdist, the tests that share an expensive fixture are kept on one worker."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

# One BLAS and OpenMP thread per test process, set before numpy loads (the xdist workers
# inherit it from the controller that loads this file first): xdist runs one process per
# core, and a BLAS that starts a thread per core in each oversubscribes the machine, its
# threads spinning as they wait for work (the suite took a fifth longer). The tests of the
# pinning itself set or clear these variables for the processes they start.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib  # noqa: E402 — after the pinning: it imports numpy
import pytest  # noqa: E402

matplotlib.use("Agg")

# Bytecode is written and read, as an installed wheel has it: most tests start `optbench` in a
# child process, and a machine that sets PYTHONDONTWRITEBYTECODE would otherwise compile the
# whole package from source in every one of them (0.43 s against 0.26 s for a one-run command).
# The bytecode goes to one cache folder outside the tree, shared by the test workers (Python
# writes it atomically), so the folders the tests look into hold only what optbench wrote. It
# is kept on disk, in the system's temporary folder, from one run of the suite to the next (an
# xdist worker inherits the folder its controller chose).
PYCACHE = f"optbench-tests-pycache-{os.getuid()}"
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
if os.path.basename(os.environ.get("PYTHONPYCACHEPREFIX", "")) != PYCACHE:
    os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), PYCACHE)
sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
sys.dont_write_bytecode = False

# The tests' scratch folders (tmp_path, and the temporary files of the processes they start)
# go to a memory file system where one is mounted with room to spare, unless TMPDIR says
# where: SQLite syncs every commit to disk (3 ms each here, thousands of commits in the
# suite), which on a tmpfs costs nothing; no test is about the disk's durability. pytest
# keeps the folders of failed tests only (pyproject.toml: tmp_path_retention_policy).
SCRATCH_MIN_FREE = 4 << 30  # bytes: a whole run writes a few hundred MB


def _memory_scratch(folder: str = "/dev/shm") -> str | None:
    if "TMPDIR" in os.environ or not os.access(folder, os.W_OK | os.X_OK):
        return None
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return folder if st.f_bavail * st.f_frsize >= SCRATCH_MIN_FREE else None


if (_scratch := _memory_scratch()) is not None:
    os.environ["TMPDIR"] = _scratch
    tempfile.tempdir = None  # read TMPDIR again
_ENVIRON_AT_START = dict(os.environ)  # before any test changes it: the forked CLI's server

ROOT = Path(__file__).resolve().parents[1]
# the built-in report sections, in page order (their anchors)
REPORT_SECTIONS = ("momentum", "setup", "summary", "per-problem", "learning-rate", "aggregated",
                   "statistics", "run-status")


def without_clock(values):
    """A run's summary or metrics (a dict, a typed Summary, or JSON) without what depends on
    the batch it ran in and the machine's clock: the batch size and the first hits' clock
    times. Runs compared across executors, batchings or retries agree on everything else,
    bit for bit."""
    import json

    if isinstance(values, str):
        values = json.loads(values)
    if hasattr(values, "as_dict"):
        values = values.as_dict()
    return {k: v for k, v in values.items()
            if k != "batch_size" and not k.startswith(("hit_time_", "rel_hit_time_"))}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "results"


def _cli_env() -> dict[str, str]:
    return dict(os.environ, PYTHONWARNINGS="ignore", COLUMNS="200")


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``optbench ARGS`` in a subprocess, exactly as a user types it."""
    return subprocess.run([sys.executable, "-m", "optbench.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=_cli_env(), timeout=timeout)


_zygote = None


def fork_cli(*args: str, cwd: Path | None = None, timeout: float = 300,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``run_cli`` in a forked copy of a process that has imported the CLI
    (tests/cli_zygote.py), one per test process: for the many calls about what the CLI says
    or does, not about how a new interpreter starts it (those keep ``run_cli``). The child's
    environment is the one ``run_cli`` would give it now (a test's ``monkeypatch.setenv``
    included), plus ``env``."""
    global _zygote
    if _zygote is None:
        from tests.cli_zygote import Zygote

        _zygote = Zygote(dict(_ENVIRON_AT_START, PYTHONWARNINGS="ignore", COLUMNS="200"),
                         Path(tempfile.mkdtemp(prefix="optbench-cli-zygote-")))
    now, started = _cli_env(), _zygote.env
    changed = {k: v for k, v in now.items() if started.get(k) != v}
    return _zygote.run(*args, cwd=cwd, timeout=timeout, env={**changed, **(env or {})},
                       unset=tuple(k for k in started if k not in now))


def pytest_sessionfinish(session):
    global _zygote
    _close_chromium()
    if _zygote is not None:
        import shutil

        _zygote.close()
        shutil.rmtree(_zygote.folder, ignore_errors=True)
        _zygote = None


class Lazy:
    """A module imported at its first attribute. A test file that names torch this way does
    not load it (2 s a process) when each xdist worker collects the file; only the worker
    that runs the torch group (LIBRARY_GROUPS) does. (To patch the module, patch it by
    name: ``monkeypatch.setattr("sklearn.datasets.load_wine", ...)``.)"""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        import importlib

        return getattr(importlib.import_module(self._name), attr)


def needs(module: str):
    """Skip where the extra that provides ``module`` is not installed (without importing it)."""
    import importlib.util

    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"the {module} extra is not installed")


_chromium = None  # (playwright, browser): this test process's headless Chromium


def browser_tab(chromium_path: str, args: list[str], **options):
    """A new browser context (``options``: viewport and the like) in this test process's one
    headless Chromium, launched at the first call: a context is as isolated as a new browser
    (its own cookies, storage and cache), without the second or two that starting
    playwright's driver and Chromium costs. Closing the context closes its pages."""
    global _chromium
    if _chromium is None or not _chromium[1].is_connected():
        from playwright.sync_api import sync_playwright

        if _chromium is not None:
            _chromium[0].stop()
        driver = sync_playwright().start()
        _chromium = (driver, driver.chromium.launch(executable_path=chromium_path, args=args))
    return _chromium[1].new_context(**options)


def _close_chromium() -> None:
    global _chromium
    if _chromium is not None:
        driver, browser = _chromium
        _chromium = None
        try:
            browser.close()
        finally:
            driver.stop()


@pytest.fixture(scope="session")
def forked_cli():
    """:func:`fork_cli` as a fixture."""
    return fork_cli


@pytest.fixture
def cli():
    return fork_cli


# Module-scoped fixtures that cost many seconds (each runs the CLI or a suite, then a report),
# by test module. Under `--dist loadgroup` the tests that use one are kept on one worker, so
# it is built once rather than once per worker; other tests spread one by one. (A cheap
# fixture shared by many tests is better rebuilt on each worker than serialized on one.)
SHARED_FIXTURES = {
    "test_browser": ("page_html", "comparison_html"),
    "test_bundle": ("made",),
    "test_compare_across": ("stores",),
    "test_compare_stores": ("stores",),
    "test_export": ("default_suite_postprocessed",),
    "test_figures_interactive": ("store",),
    "test_hostile_travel": ("stores",),
    "test_lesson": ("lesson",),
    "test_lesson_page": ("lesson",),
    "test_lesson_regimes": ("store",),
    "test_momentum_section": ("store",),
    "test_per_problem_figures": ("made",),
    "test_references": ("fresh",),
    "test_relayout": ("page",),
    "test_report": ("report",),
    "test_sweeps": ("stores",),
    "test_tables_browser": ("page",),
    "test_tune": ("tuned",),
    "test_tune_trials": ("tuned",),
    "test_tuning_sections": ("tuned",),
}


# The long units of work, longest first: the modules whose shared fixture makes one group
# (SHARED_FIXTURES) of many seconds, and those holding a single test of many seconds (mypy,
# a wheel build, cocopp, a Dask cluster). They are handed to the workers first, so that the
# short tests fill in behind them and both workers finish together, instead of one worker
# starting a long group near the end while the other runs out of work. (pytest-xdist would
# otherwise hand out the groups by their number of tests, whatever they cost.) The rest keep
# their order, behind them.
LONG_FIRST = ("test_types", "test_export", "test_references", "test_bundle",
              "test_tables_browser", "test_browser", "test_sweeps", "test_hostile_travel",
              "test_compare_stores", "test_report", "test_conformance", "test_cli", "test_faults",
              "test_reliability", "test_adapters_faithful", "test_lesson_page",
              "test_per_problem_figures", "test_figures_interactive", "test_lesson_regimes",
              "test_momentum_section", "test_small_ml", "test_wallclock", "test_optax_adapter",
              "test_check_bounded", "test_tune_trials", "test_tuning_sections", "test_lesson",
              "test_compare_across", "test_tune", "test_relayout", "test_bad_input")


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # optional: -p no:xdist has no such hook
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: a worker per core, and one more. A tenth of the suite's time is tests that
    wait (out a kill limit, a deadline, a Dask cluster; the ``waits`` mark); they take turns
    on one worker, and the extra worker keeps the cores busy meanwhile. On this 2-core
    machine: about 50 core-seconds idle with two workers, 5 with three, for the same CPU.
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still sets the number, as pytest-xdist reads it."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity else os.cpu_count() or 1
    return cores + 1


# The tests that load JAX, torch or scikit-learn take turns on one worker per library: each
# costs seconds a process to import and to compile (JAX's jit, torch's dynamo on a first
# optimizer), which one worker pays once and three workers would pay three times
# (test_optax_adapter with test_update_rules: 20 CPU-s in one process, 42 spread over three
# workers). A test is in a group by its module, or by the library's name in its own
# (test_conformance's [optax]).
LIBRARY_GROUPS = (
    ("jax", ("test_optax_adapter",), "optax"),
    ("sklearn", ("test_datasets",), "sklearn"),
    ("torch", ("test_torch_adapter", "test_torch_device", "test_schedules_torch",
               "test_schedule_edges", "test_spec_nested", "test_update_rules",
               "test_adapters_faithful"), "torch"),
)


def _library_group(item) -> str | None:
    for group, modules, word in LIBRARY_GROUPS:
        if _module_name(item) in modules or word in item.name:
            return group
    return None


def pytest_configure(config):
    if getattr(config.option, "loadscopereorder", None):  # --dist loadgroup: LONG_FIRST's order
        config.option.loadscopereorder = False


def _module_name(item) -> str:
    module = getattr(item, "module", None)
    return module.__name__.rpartition(".")[2] if module else ""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("xdist"):  # -p no:xdist: one process, no groups
        return
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    # the tests that mostly wait first (below), then the library groups, then LONG_FIRST's
    # order; stable
    def order(item) -> int:
        if item.get_closest_marker("waits"):
            return -2
        if _library_group(item) is not None:
            return -1
        return rank.get(_module_name(item), len(rank))

    items.sort(key=order)
    # the tests that mostly wait (out a kill limit, a deadline, a Dask cluster) take turns on
    # one worker, from the start: two of them at once would leave cores idle, while one
    # overlaps the other workers' computing (pytest_xdist_auto_num_workers). Their turns take
    # 1.5 minutes, so many workers share them out: one queue per three workers.
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    queues = max(1, workers // 3)
    waiting = 0
    for item in items:
        if item.get_closest_marker("waits"):
            item.add_marker(pytest.mark.xdist_group(f"waits-{waiting % queues}"))
            waiting += 1
            continue
        if (group := _library_group(item)) is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            continue
        shared = SHARED_FIXTURES.get(_module_name(item), ())
        for name in shared:
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}::{name}"))
                break
