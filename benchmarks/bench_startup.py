"""Target 3: ``optbench --help`` answers in under 0.3 s; a one-run command costs at most
2.5× (stretch 2×) a Python process that imports numpy.

Timed as a user sees it — a fresh interpreter running the console script's module — best of
several tries, beside the floor of a bare ``python -c pass`` on the same machine, and with
the imports it pays for listed (``-X importtime``), so a regression names its culprit.

The one-run command (``optbench run -p quadratic-1d -o gd --seeds 1 --no-report``, a new
store each time) is timed in a user's environment (BLAS threads not pinned) with bytecode
cached, as an installed wheel has it: the environment's ``PYTHONDONTWRITEBYTECODE`` is
dropped and ``PYTHONPYCACHEPREFIX`` points at a folder of this session, filled by a first
untimed run of each command. The command and
``python -c "import numpy"`` alternate; the ratio is judged on the median CPU seconds of
each process tree (user + system, ``os.wait4``: the driver, its fork server and the worker
child it forked), which other jobs on a shared machine inflate far less than the wall time;
the ratio of the best wall times is recorded beside it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

TARGET_S = 0.3
TRIES = 7
ONE_RUN_TARGET, ONE_RUN_STRETCH = 2.5, 2.0
ONE_RUN_ROUNDS = 15
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _importtime_top(n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` most expensive top-level imports of ``optbench --help`` (cumulative ms)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "optbench.cli", "--help"],
                       capture_output=True, text=True)
    rows = []
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum_us, name = line.split(":", 1)[1].split("|")
        if not name.startswith("  "):  # top level: one space after the bar, no nesting
            rows.append((name.strip(), int(cum_us) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:n]


def test_help_starts_fast(benchmark, tools):
    quiet = tools.wait_for_quiet()
    env = tools.pinned_env()

    def best(args: list[str]) -> float:
        times = []
        for _ in range(TRIES):
            wall, _, proc = tools.run_measured(args, env=env)
            assert proc.returncode == 0, proc.stderr[-1000:]
            times.append(wall)
        return min(times)

    def help_once() -> None:
        _, _, proc = tools.run_measured([*tools.cli, "--help"], env=env)
        assert proc.returncode == 0, proc.stderr[-1000:]

    floor = best([sys.executable, "-c", "pass"])
    benchmark.pedantic(help_once, rounds=TRIES, iterations=1, warmup_rounds=1)
    result = {"help": benchmark.stats.stats.min}
    list_s = best([*tools.cli, "list"])
    tools.report(benchmark, help_s=result["help"], list_s=list_s, python_floor_s=floor,
                 target_s=TARGET_S, top_imports_ms=_importtime_top(), **quiet)
    assert result["help"] < TARGET_S, f"optbench --help took {result['help']:.3f} s"


def test_one_run_command_against_importing_numpy(benchmark, tools, tmp_path):
    quiet = tools.wait_for_quiet()
    # a user's environment: BLAS not pinned (numpy then starts its thread pool, and the
    # command pins BLAS itself), bytecode cached as an install has it
    env = {k: v for k, v in tools.pinned_env().items()
           if k not in ("PYTHONDONTWRITEBYTECODE", *BLAS_VARS)}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    numpy = [sys.executable, "-c", "import numpy"]

    def one_run(i) -> list[str]:
        return [*tools.cli, "run", "-p", "quadratic-1d", "-o", "gd", "--seeds", "1",
                "--no-report", "--quiet", "--out", str(tmp_path / f"out-{i}")]

    def measure(args) -> tuple[float, float]:
        wall, _, proc = tools.run_measured(args, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return wall, proc.cpu_s

    measure(numpy)  # bytecode written once, then read as an install has it
    measure(one_run("warm"))
    times: dict[str, list[tuple[float, float]]] = {"numpy": [], "one_run": []}

    def rounds() -> None:
        for i in range(ONE_RUN_ROUNDS):
            times["numpy"].append(measure(numpy))
            times["one_run"].append(measure(one_run(i)))

    benchmark.pedantic(rounds, rounds=1, iterations=1)
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    wall = {k: min(w for w, _ in v) for k, v in times.items()}
    ratio_cpu = cpu["one_run"] / cpu["numpy"]
    tools.report(benchmark, one_run_cpu_s=cpu["one_run"], numpy_cpu_s=cpu["numpy"],
                 one_run_best_wall_s=wall["one_run"], numpy_best_wall_s=wall["numpy"],
                 ratio_cpu=ratio_cpu, ratio_best_wall=wall["one_run"] / wall["numpy"],
                 target=ONE_RUN_TARGET, stretch=ONE_RUN_STRETCH,
                 busy_cpus_after=round(tools.busy_cpus(), 2), **quiet)
    assert ratio_cpu <= ONE_RUN_TARGET, f"one run costs {ratio_cpu:.2f}× importing numpy"
