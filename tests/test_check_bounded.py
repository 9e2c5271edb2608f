"""``optbench check`` is bounded and checks adapters: a check whose code ignores the
interrupt (an owned loop that swallows every exception), a plug-in whose import never
returns, and a whole command past ``--deadline`` each end in one line naming what was
stopped; a spec of a registered component (a torch class, an ask/tell factory) is checked
like a plug-in's optimizer, end to end through the CLI."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

FINE = '''
from optbench import Optimizer, register_optimizer

@register_optimizer("fine", batchable=True)
def fine(lr: float = 0.1):
    return Optimizer(step=lambda x, state, oracle, t: (x - lr * oracle.grad(x), state))
'''

SWALLOWER = '''
import time
import numpy as np
from optbench import Optimizer, register_optimizer

@register_optimizer("swallower")
def swallower(lr: float = 0.1):
    def run(x0, oracle, callback):  # owns its loop and never lets an exception out
        x = np.array(x0, dtype=float)
        while True:
            # two tries: Python takes signals on a loop's back-edge, and once the budget is
            # spent every step raises, so the loop runs through its back-edge all the time;
            # the inner loop's back-edge lies inside the outer try, and the outer one is
            # reached only after that try caught the one alarm (a spent budget's steps
            # sleep a little, so that the hang does not keep a core busy)
            try:
                while True:
                    try:
                        x = x - lr * oracle.scalar_grad(x)
                        callback(x)
                    except BaseException:
                        time.sleep(0.01)
            except BaseException:
                pass
    return Optimizer(run=run)
'''

FACTORIES = '''
import numpy as np

class Search:
    """Best of six points around the incumbent (shift 0), or around a far point (shift 50)."""
    def __init__(self, x0, seed, shift):
        self.x, self.rng, self.shift = np.asarray(x0, float), np.random.default_rng(seed), shift
    def ask(self):
        return self.x + self.shift + 0.3 * self.rng.standard_normal((6, self.x.size))
    def tell(self, points, values):
        if self.shift == 0:
            self.x = np.asarray(points)[int(np.argmin(values))]

def good(x0, seed=0):
    return Search(x0, seed, 0.0)

def lost(x0, seed=0):
    return Search(x0, seed, 50.0)
'''


def optbench(*args: str, cwd: Path, timeout: float = 90) -> tuple[subprocess.CompletedProcess,
                                                                   float]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "optbench.cli", *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=timeout)
    return r, time.monotonic() - t0


@pytest.mark.waits
def test_a_check_that_swallows_the_interrupt_is_stopped_at_its_kill_limit(tmp_path):
    (tmp_path / "swallow.py").write_text(FINE + SWALLOWER)
    r, _ = optbench("check", "swallow.py", "--problem", "quadratic-1d", "--timeout", "3",
                    cwd=tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert "PASS  optimizer fine: goes downhill on quadratic-1d" in lines  # checked before it
    # the child's alarm at 3 s is swallowed; the parent stops it at 1.5 × 3 + 2 s
    assert lines[-1] == (
        "FAIL  optimizer swallower: runs without error on quadratic-1d: it did not finish "
        "within 6.5 s (--timeout 3) and was stopped: does it hang and ignore the interrupt?; "
        "the checks after it did not run")
    assert r.stderr.strip() == "optbench: the checks did not finish"
    assert "\x00" not in r.stdout


@pytest.mark.waits
def test_the_whole_command_is_bounded_by_its_deadline(tmp_path):
    (tmp_path / "swallow.py").write_text(SWALLOWER)
    r, elapsed = optbench("check", "swallow.py", "--problem", "quadratic-1d", "--timeout", "60",
                          "--deadline", "8", cwd=tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    last = r.stdout.splitlines()[-1]
    assert last.startswith("FAIL  optimizer swallower: ")  # in its runs, or before on a busy day
    assert last.endswith(": the checks did not finish within --deadline 8 s; the checks "
                         "after it did not run")
    assert elapsed < 80  # well before the check's own kill limit (92 s)


@pytest.mark.waits
def test_a_plug_in_whose_import_never_returns_is_one_line(tmp_path):
    (tmp_path / "stuck.py").write_text("import time\nwhile True:\n    time.sleep(1)\n")
    r, _ = optbench("check", "stuck.py", "--timeout", "1", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [
        "optbench: error: importing the plug-in 'stuck.py': it did not finish within 3.5 s "
        "(--timeout 1) and was stopped: does its import hang?"]


def test_an_ask_tell_factory_is_checked_by_spec(tmp_path):
    """The checks run on the adapter's spec: a factory that searches passes every check, one
    that evaluates only far from the start fails "goes downhill"."""
    (tmp_path / "searches.py").write_text(FACTORIES)
    r, _ = optbench("check", "ask-tell[factory=searches.good]", "--problem", "quadratic-1d",
                    cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    name = "optimizer ask-tell[factory=searches.good]"
    for what in ("runs without error", "goes downhill", "is deterministic for a seed",
                 "a batch equals its runs one at a time"):
        assert f"PASS  {name}: {what} on quadratic-1d" in lines
    assert all(line.startswith("PASS  ") for line in lines)
    r, _ = optbench("check", "ask-tell[factory=searches.lost]", "--problem", "quadratic-1d",
                    cwd=tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    failed = [line for line in r.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and failed[0].startswith(
        "FAIL  optimizer ask-tell[factory=searches.lost]: goes downhill on quadratic-1d: best f ")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_a_torch_class_is_checked_by_spec(tmp_path):
    spec = "torch[cls=torch.optim.SGD,lr=0.1]"
    r, _ = optbench("check", spec, "--problem", "quadratic-1d", "--timeout", "120",
                    cwd=tmp_path, timeout=300)  # torch's import is slow on a busy machine
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert f"PASS  optimizer {spec}: builds an Optimizer with either step or run" in lines
    assert f"PASS  optimizer {spec}: goes downhill on quadratic-1d" in lines
    assert len(lines) >= 8 and all(line.startswith("PASS  ") for line in lines)


def test_an_unknown_spec_is_one_line(tmp_path):
    r, _ = optbench("check", "gdd[lr=0.1]", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [
        "optbench: error: cannot check 'gdd[lr=0.1]': unknown optimizer 'gdd'; did you mean "
        "'gd'?; expected a plug-in (a .py file or a module name) or a spec of a registered "
        "optimizer, problem or schedule"]
