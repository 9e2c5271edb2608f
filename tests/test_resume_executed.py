"""Resume runs only what is missing: checked by what was *executed*, not by what was stored.

``Store.write`` silently skips runs the store holds, so "(N new)" and ``Results.added`` stay
right even when every batch is run again. These tests count the runs that actually started:
a plug-in optimizer appends one line per run it starts to a log file (its ``log``
parameter, or ``$OPTBENCH_EXECUTED_LOG`` for the command line, whose workers inherit the
environment), and :func:`optbench.run`'s progress callback reports the runs it executes.
Resume works batch by batch: a batch with a missing run is run again whole.
"""

from __future__ import annotations

from pathlib import Path

import optbench

LOG_VAR = "OPTBENCH_EXECUTED_LOG"

EXECUTED_PLUGIN = '''
import os

from optbench import Optimizer, register_optimizer


@register_optimizer("logged-gd", needs=("gradient",), batchable=True)
def logged_gd(lr: float = 0.1, log: str = ""):
    """GD that appends one line per run it starts to the file ``log`` (default: the file
    named by $OPTBENCH_EXECUTED_LOG, if set)."""
    def step(x, state, oracle, t):
        path = log or os.environ.get("OPTBENCH_EXECUTED_LOG")
        if t == 0 and path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("".join(f"{row.tolist()}\\n" for row in x))
        return x - lr * oracle.grad(x), {"lr": lr}
    return Optimizer(step=step)
'''


def executed_plugin(folder: Path) -> Path:
    """Write the logging plug-in into ``folder``; its path for ``--plugin``/``plugins=``."""
    path = folder / "executed_plugin.py"
    path.write_text(EXECUTED_PLUGIN, encoding="utf-8")
    return path


def executed(log: Path) -> int:
    """How many runs were started since the log was last read; the log is emptied."""
    if not log.exists():
        return 0
    n = len(log.read_text(encoding="utf-8").splitlines())
    log.unlink()
    return n


class Progress:
    """A progress callback that keeps the runs :func:`optbench.run` said it executed."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    @property
    def executed(self) -> int:
        done, total = self.calls[-1]
        assert done == total
        return done


def test_a_rerun_executes_only_the_batches_with_missing_runs(tmp_path):
    plugin, log = executed_plugin(tmp_path), tmp_path / "executed.log"
    spec = f'logged-gd[lr=0.1,log="{log}"]'

    def run(problems, seeds):
        progress = Progress()
        res = optbench.run(problems=problems, optimizers=[spec], seeds=seeds, budget=20,
                           out=tmp_path / "out", plugins=[str(plugin)], report=False,
                           progress=progress)
        return res, progress

    res, progress = run(["quadratic-1d"], 2)
    assert res.added == 2 and executed(log) == 2 == progress.executed
    # the same command again: everything is stored, nothing runs
    res, progress = run(["quadratic-1d"], 2)
    assert res.added == 0 and executed(log) == 0 == progress.executed
    # a second problem: only its batch runs
    res, progress = run(["quadratic-1d", "quadratic-1d[h=3]"], 2)
    assert res.added == 2 and executed(log) == 2 == progress.executed
    # a third seed: each problem's batch has a missing run and is run again whole
    res, progress = run(["quadratic-1d", "quadratic-1d[h=3]"], 3)
    assert res.added == 2 and executed(log) == 6 == progress.executed
    assert len(optbench.load(tmp_path / "out")) == 6


def test_retry_failed_executes_the_failed_runs_only(tmp_path):
    # one stored run marked as an error row, as a crashed worker leaves it: --retry-failed
    # reruns that run alone, and nothing else
    import sqlite3
    from contextlib import closing

    plugin, log = executed_plugin(tmp_path), tmp_path / "executed.log"
    spec = dict(problems=["quadratic-1d", "quadratic-1d[h=3]"],
                optimizers=[f'logged-gd[lr=0.1,log="{log}"]'], seeds=2, budget=20,
                out=tmp_path / "out", plugins=[str(plugin)], report=False)
    first = optbench.run(**spec)
    assert executed(log) == 4
    victim = first.run_ids[0]
    with closing(sqlite3.connect(first.db)) as conn, conn:
        conn.execute("UPDATE runs SET status='error' WHERE run_id=?", (victim,))
    progress = Progress()
    optbench.run(**spec, retry_failed=True, progress=progress)
    assert executed(log) == 1 == progress.executed
    assert optbench.load(first.db).set_index("run_id").status[victim] != "error"
