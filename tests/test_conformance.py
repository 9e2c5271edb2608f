"""The conformance suite (optbench.testing) over the whole registry, and proof that it can fail."""

from __future__ import annotations

import pytest

from optbench import registry
from optbench.testing import check_optimizer, check_problem, check_registered, check_schedule
from tests.conftest import ROOT


def _failures(checks):
    return [(what, detail) for what, ok, detail in checks if not ok]


@pytest.mark.parametrize("name", registry.names("optimizer"))
def test_every_registered_optimizer_conforms(name):
    checks = check_optimizer(name)
    missing = [d for _, d in _failures(checks) if "pip install 'optbench[" in d]
    if missing:  # an adapter whose optional library is not installed
        pytest.skip(missing[0])
    assert not _failures(checks)
    what = " ".join(w for w, _, _ in checks)
    assert "goes downhill on quadratic-1d" in what and "goes downhill on linear-regression" in what
    if registry.get("optimizer", name).is_batchable({}):
        assert "a batch equals its runs one at a time" in what


@pytest.mark.parametrize("name", registry.names("schedule"))
def test_every_registered_schedule_conforms(name):
    assert not _failures(check_schedule(name))


@pytest.mark.parametrize("name", registry.names("problem"))
def test_every_registered_problem_passes_the_light_checks(name):
    assert not _failures(check_problem(name))


def test_a_spec_with_a_schedule_and_per_L_rate_conforms():
    assert not _failures(check_optimizer("adam[lr=0.5/L,schedule=warmup(W=3,then=cosine(T=50))]"))


BROKEN = '''
import numpy as np
from optbench import Optimizer, Problem, register_optimizer, register_problem

@register_optimizer("sneaky-gd", batchable=True)
def sneaky(lr: float = 0.1):
    """Reads the gradient behind the oracle's back: nothing is counted."""
    def step(x, state, oracle, t):
        return x - lr * oracle.problem.grad(x), state
    return Optimizer(step=step)

@register_optimizer("moody-gd", batchable=True)
def moody(lr: float = 0.1):
    """Draws from numpy's global generator, so a seed does not fix the run."""
    def step(x, state, oracle, t):
        return x - lr * np.random.uniform(0.5, 1.5) * oracle.grad(x), state
    return Optimizer(step=step)

@register_optimizer("uphill-gd", batchable=True)
def uphill(lr: float = 0.1):
    """Climbs."""
    def step(x, state, oracle, t):
        return x + lr * oracle.grad(x), state
    return Optimizer(step=step)

@register_optimizer("coupled-gd", batchable=True)
def coupled(lr: float = 0.1):
    """Steps every run with the batch's mean gradient: a batch is not its runs one at a time."""
    def step(x, state, oracle, t):
        g = oracle.grad(x)
        return x - lr * g.mean(axis=0, keepdims=True), state
    return Optimizer(step=step)

@register_optimizer("greedy-loop", needs=("gradient",), batchable=False)
def greedy():
    """Owns its loop and ignores BudgetExhausted by evaluating the problem directly."""
    def run(x0, oracle, callback):
        x = x0
        for _ in range(500):
            x = x - 0.1 * oracle.problem.grad(x[None])[0]
            callback(x)
        return "done"
    return Optimizer(run=run)

@register_problem("wrong-gradient")
def wrong():
    return Problem(dim=1, f=lambda X: X[:, 0] ** 2, grad=lambda X: 3 * X, bounds=([-1], [1]),
                   x_star=[[0.0]], f_star=0.0)

@register_problem("wrong-minimum")
def wrong_min():
    return Problem(dim=1, f=lambda X: (X[:, 0] - 0.5) ** 2, grad=lambda X: 2 * (X - 0.5),
                   bounds=([-1], [1]), x_star=[[0.0]], f_star=0.0)

@register_problem("needs-a-size")
def sized(size: int):
    return Problem(dim=size, f=lambda X: (X ** 2).sum(axis=1), grad=lambda X: 2 * X,
                   bounds=([-1] * size, [1] * size), x_star=[[0.0] * size], f_star=0.0)
'''


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    path = tmp_path_factory.mktemp("broken") / "broken_plugin.py"
    path.write_text(BROKEN)
    registry.load_plugin(str(path))
    return path


@pytest.mark.parametrize("name,failing", [
    ("sneaky-gd", "evaluations are counted"),
    ("moody-gd", "is deterministic for a seed"),
    ("uphill-gd", "goes downhill"),
    ("coupled-gd", "a batch equals its runs one at a time"),
    ("greedy-loop", "evaluations are counted"),
])
def test_the_suite_catches_a_broken_optimizer(broken, name, failing):
    failed = [what for what, _ in _failures(check_optimizer(name))]
    assert any(failing in w for w in failed), failed


@pytest.mark.parametrize("name,failing", [
    ("wrong-gradient", ["gradient matches"]),
    # x* = 0 for (x - 0.5)²: neither the minimum value nor a zero of the gradient
    ("wrong-minimum", ["f(x*) = f*", "x* is stationary"]),
])
def test_the_suite_catches_a_broken_problem(broken, name, failing):
    failed = [what for what, _ in _failures(check_problem(name))]
    assert len(failed) == len(failing)
    assert all(any(w.startswith(f) for w in failed) for f in failing), failed


LOG_COSH = """
import numpy as np
from optbench import Problem, register_problem

for declared in (0.5, 1.0, 1.5):
    register_problem(f"log-cosh-declared-{declared}")(
        lambda declared=declared: Problem(
            dim=1, f=lambda X: np.log(np.cosh(X[:, 0])), grad=np.tanh, bounds=([-3.0], [3.0]),
            x_star=[[0.0]], f_star=0.0, L=declared, mu=declared))
"""


@pytest.fixture(scope="module")
def log_cosh(tmp_path_factory):
    path = tmp_path_factory.mktemp("log_cosh") / "log_cosh_plugin.py"
    path.write_text(LOG_COSH)
    registry.load_plugin(str(path))


@pytest.mark.parametrize("declared, ok", [(1.0, True), (1.5, False), (0.5, False)])
def test_declared_curvature_is_checked_without_a_hessian(log_cosh, declared, ok):
    """log cosh has f''(0) = 1/cosh²(0) = 1; with no Hessian given, check finds it by finite
    differences of the gradient tanh."""
    checks = {what: (passed, detail)
              for what, passed, detail in check_problem(f"log-cosh-declared-{declared}")}
    passed, detail = checks["declared L and mu are the curvatures at x*"]
    assert passed is ok, detail
    assert checks["x* is stationary (gradient 0 there)"][0]
    if not ok:
        assert f"L = {declared:.6g} is declared, finite differences at x* gives 1" in detail


def test_check_registered_yields_lines_for_every_kind():
    lines = list(check_registered("optimizer", "gd", problems=["quadratic-1d"]))
    assert lines and all(ok for _, ok in lines) and all(isinstance(line, str) for line, _ in lines)
    assert any("quadratic-1d" in line for line, _ in lines)
    assert all(ok for _, ok in check_registered("schedule", "cosine"))
    assert all(ok for _, ok in check_registered("problem", "quadratic-1d"))
    assert list(check_registered("section", "anything")) == [("no conformance checks for this kind", True)]


def test_a_problem_that_needs_a_parameter_is_reported_not_failed(broken):
    ((line, ok),) = check_registered("problem", "needs-a-size")
    assert ok and line.startswith("not checked: it needs size")
    assert not _failures(check_problem("needs-a-size[size=3]"))


def test_optbench_check_on_the_example_plugin_passes(cli):
    res = cli("check", str(ROOT / "examples" / "my_optimizer.py"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS  optimizer clipped-gd: goes downhill on quadratic-1d" in res.stdout
    assert "FAIL" not in res.stdout


def test_optbench_check_fails_a_broken_plugin(cli, broken):
    res = cli("check", str(broken), "--problem", "quadratic-1d")
    assert res.returncode != 0
    assert "FAIL  optimizer sneaky-gd: evaluations are counted" in res.stdout
    assert "PASS  optimizer uphill-gd: iterates have shape" in res.stdout
