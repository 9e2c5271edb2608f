"""Target 3: ``optbench --help`` answers in under 0.3 s.

Timed as a user sees it — a fresh interpreter running the console script's module — best of
several tries, beside the floor of a bare ``python -c pass`` on the same machine, and with
the imports it pays for listed (``-X importtime``), so a regression names its culprit.
"""

from __future__ import annotations

import subprocess
import sys

TARGET_S = 0.3
TRIES = 7


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
