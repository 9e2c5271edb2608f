"""The whole command against the floor, and sweeps of 100,000 runs.

Target 1 (whole command): ``optbench run -p "linear-regression[n=200]" -o
"gd[lr=log(1e-3,0.1,20)]" --seeds 500 --max-iter 100 --no-report``, 10,000 runs of 100
updates, as a fresh process, against ``numpy_sweep.py`` (the same arithmetic as one (B, 2)
array, every trace kept in memory), both with BLAS on one thread, alternated, median of
``ROUNDS``; the ratio is judged on CPU seconds (user + system of the process, which other
jobs on a shared machine inflate far less than the wall time); the wall-clock ratio is
recorded beside it. The ratio's target is not met (benchmarks/README.md): a miss is an
xfail that gives the measured ratio, neither a failure nor a silent pass. The marginal cost
per run is the slope between 2,000 and 10,000 runs (100 and 500 seeds), for both sides. The
store's size per run is read from the 10,000-run store.

Target 2 (100,000 runs, 200 rates × 500 seeds): wall and CPU time, disk, peak RSS of the
command; then ``optbench report`` on that store: time and peak RSS.
"""

from __future__ import annotations

import statistics
import sys

import pytest

PROBLEM = "linear-regression[n=200]"
ROUNDS = 3
RATIO_TARGET, RATIO_STRETCH = 2.0, 1.5
MARGINAL_MS = 0.2
KB_PER_RUN = 5.0


def _command(tools, n_lr: int, seeds: int, out) -> list[str]:
    return [*tools.cli, "run", "-p", PROBLEM, "-o", f"gd[lr=log(1e-3,0.1,{n_lr})]", "--seeds",
            str(seeds), "--budget", "1000", "--max-iter", "100", "--no-report", "--quiet",
            "--fresh", "--out", str(out)]


def _script(tools, n_lr: int, seeds: int) -> list[str]:
    return [sys.executable, str(tools.root / "benchmarks" / "numpy_sweep.py"), str(n_lr),
            str(seeds), "100"]


def _measure(tools, args) -> tuple[float, float, float]:
    wall, rss, proc = tools.run_measured(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return wall, proc.cpu_s, rss


def test_whole_command_against_vectorized_numpy(benchmark, tools, tmp_path):
    quiet = tools.wait_for_quiet()
    sizes = {"2k": (20, 100), "10k": (20, 500)}
    runs: dict[str, list[tuple[float, float, float]]] = {}

    def measure():
        for _ in range(ROUNDS):
            for name, (n_lr, seeds) in sizes.items():
                runs.setdefault(f"cmd_{name}", []).append(
                    _measure(tools, _command(tools, n_lr, seeds, tmp_path / name)))
                runs.setdefault(f"np_{name}", []).append(_measure(tools, _script(tools, n_lr,
                                                                                  seeds)))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    med = {k: (statistics.median(w for w, _, _ in v), statistics.median(c for _, c, _ in v),
               max(r for _, _, r in v)) for k, v in runs.items()}
    files = [p for p in (tmp_path / "10k").iterdir() if p.name.startswith("results.sqlite")]
    kb_per_run = sum(p.stat().st_size for p in files) / 1024 / 10_000
    ratio_cpu = med["cmd_10k"][1] / med["np_10k"][1]
    ratio_wall = med["cmd_10k"][0] / med["np_10k"][0]
    marginal_cmd = (med["cmd_10k"][1] - med["cmd_2k"][1]) / 8000 * 1e3
    marginal_np = (med["np_10k"][1] - med["np_2k"][1]) / 8000 * 1e3
    tools.report(benchmark, cmd_10k_wall_s=med["cmd_10k"][0], cmd_10k_cpu_s=med["cmd_10k"][1],
                 np_10k_wall_s=med["np_10k"][0], np_10k_cpu_s=med["np_10k"][1],
                 cmd_2k_cpu_s=med["cmd_2k"][1], np_2k_cpu_s=med["np_2k"][1],
                 ratio_cpu=ratio_cpu, ratio_wall=ratio_wall,
                 marginal_ms_per_run=marginal_cmd, marginal_ms_per_run_numpy=marginal_np,
                 cmd_peak_rss_mb=med["cmd_10k"][2], kb_per_run=kb_per_run,
                 busy_cpus_after=round(tools.busy_cpus(), 2), **quiet)
    assert kb_per_run <= KB_PER_RUN, f"{kb_per_run:.1f} KB per run"
    assert marginal_cmd <= MARGINAL_MS, f"{marginal_cmd:.2f} ms per run at the margin"
    if ratio_cpu > RATIO_TARGET:
        # a known miss, reported with its figure (benchmarks/README.md records 3.5-9.0x: the
        # metrics computed per run cost about twice the script on their own)
        pytest.xfail(f"whole command {ratio_cpu:.1f}× the numpy script in CPU s "
                     f"({ratio_wall:.1f}× wall), target {RATIO_TARGET:g}×")


SWEEP_S, SWEEP_GB, SWEEP_RSS_MB = 30.0, 0.5, 500.0
REPORT_S, REPORT_RSS_MB = 30.0, 2048.0


@pytest.mark.slow
def test_hundred_thousand_runs_and_their_report(benchmark, tools, tmp_path):
    quiet = tools.wait_for_quiet()
    out = tmp_path / "sweep"
    measured = {}

    def sweep():
        measured["run"] = _measure(tools, _command(tools, 200, 500, out))
        measured["report"] = _measure(
            tools, [*tools.cli, "report", "--out", str(out)])

    benchmark.pedantic(sweep, rounds=1, iterations=1)
    files = [p for p in out.iterdir() if p.name.startswith("results.sqlite")]
    gb = sum(p.stat().st_size for p in files) / 2**30
    (wall, cpu, rss), (rwall, rcpu, rrss) = measured["run"], measured["report"]
    tools.report(benchmark, run_wall_s=wall, run_cpu_s=cpu, run_peak_rss_mb=rss, store_gb=gb,
                 report_wall_s=rwall, report_cpu_s=rcpu, report_peak_rss_mb=rrss,
                 busy_cpus_after=round(tools.busy_cpus(), 2), **quiet)
    assert gb <= SWEEP_GB and rss < SWEEP_RSS_MB and rrss < REPORT_RSS_MB
    assert cpu <= SWEEP_S, f"100,000 runs took {cpu:.0f} CPU s"
    assert rcpu <= REPORT_S, f"their report took {rcpu:.0f} CPU s"
