"""The ask/tell adapters: a user's object by import path, and CMA-ES through the ``cma``
package (those tests need the cma extra and skip without it), each against the same object
driven directly, with every evaluation counted."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from optbench.plan import build_problem, make_plan, run_seed
from optbench.runner import run_batch
from optbench.testing import check_optimizer
from tests.conftest import needs

needs_cma = needs("cma")

TOY = '''
import numpy as np

class PatternSearch:
    """Compass search: asks x ± s·e_i (2d points), moves to the best if better, else halves s."""

    def __init__(self, x0, step=0.5):
        self.x, self.s, self.f = np.asarray(x0, float), step, np.inf

    def ask(self):
        d = self.x.size
        return np.concatenate([self.x + self.s * np.eye(d), self.x - self.s * np.eye(d)])

    def tell(self, points, values):
        i = int(np.argmin(values))
        if values[i] < self.f:
            self.x, self.f = np.asarray(points[i]), values[i]
        else:
            self.s /= 2


class OnePlusOne:
    """A (1+1)-ES with a fixed step, one point per ask, seeded."""

    def __init__(self, x0, seed, sigma=0.3):
        self.x, self.f, self.sigma = np.asarray(x0, float), np.inf, sigma
        self.rng = np.random.default_rng(seed)

    def ask(self):
        return self.x + self.sigma * self.rng.standard_normal(self.x.size)

    def tell(self, point, value):
        if value < self.f:
            self.x, self.f = np.asarray(point), value
'''


@pytest.fixture(scope="module", autouse=True)
def toy_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("asktell")
    (folder / "toy_es.py").write_text(TOY)
    sys.path.insert(0, str(folder))
    yield
    sys.path.remove(str(folder))
    sys.modules.pop("toy_es", None)


def _run(problem, spec, seeds=2, budget=60):
    plan = make_plan([problem], [spec], seeds=seeds, budget=budget, tol=0.0)
    results = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return [(run, results[run.run_id]) for run in plan.runs]


def _drive(obj, f, x0, budget, lam):
    """The object driven directly: incumbents and evaluation counts per whole generation."""
    best_x, best_f, used = np.asarray(x0, float), np.inf, 0
    xs, counts = [best_x], [0]
    while used + lam <= budget:
        pts = np.atleast_2d(obj.ask())
        values = [float(f(p)) for p in pts]
        used += len(pts)
        obj.tell(pts[0] if lam == 1 else list(pts), values[0] if lam == 1 else values)
        i = int(np.argmin(values))
        if values[i] < best_f:
            best_x, best_f = pts[i], values[i]
        xs.append(best_x)
        counts.append(used)
    return np.array(xs), counts


def test_a_users_ask_tell_object_runs_as_driven_directly():
    for run, res in _run("rosenbrock", "ask-tell[factory=toy_es.PatternSearch,step=[0.25,1.0]]"):
        import toy_es

        problem = build_problem(run.problem)
        x0 = res.trace["x"][0]
        xs, counts = _drive(toy_es.PatternSearch(x0, step=run.optimizer.params["step"]),
                            lambda p, pr=problem: pr.f(p[None])[0], x0, 60, 4)
        np.testing.assert_array_equal(res.trace["x"], xs)
        assert res.trace["n_f"].tolist() == counts and res.trace["n_g"].max() == 0


def test_one_point_asks_get_the_run_seed_and_conform():
    for run, res in _run("booth", "ask-tell[factory=toy_es.OnePlusOne,sigma=0.5]"):
        import toy_es

        problem = build_problem(run.problem)
        seed = int(np.random.default_rng(run_seed(run.run_id)).integers(1, 2**31 - 1))
        x0 = res.trace["x"][0]
        xs, counts = _drive(toy_es.OnePlusOne(x0, seed, sigma=0.5),
                            lambda p, pr=problem: pr.f(p[None])[0], x0, 60, 1)
        np.testing.assert_array_equal(res.trace["x"], xs)
        assert res.trace["n_f"].tolist() == counts
    checks = check_optimizer("ask-tell[factory=toy_es.OnePlusOne,sigma=0.5]")
    assert not [(w, d) for w, ok, d in checks if not ok]


@needs_cma
def test_cma_runs_as_cma_driven_directly_every_point_charged():
    import cma

    for run, res in _run("rosenbrock", "cma[sigma0=[0.3,1.0]]", budget=120):
        problem = build_problem(run.problem)
        seed = int(np.random.default_rng(run_seed(run.run_id)).integers(1, 2**31 - 1))
        x0 = res.trace["x"][0]
        gen = np.random.default_rng(seed)  # the adapter gives cma the run's own generator
        es = cma.CMAEvolutionStrategy(x0, run.optimizer.params["sigma0"], {
            "seed": seed, "verbose": -9, "randn": lambda *shape, g=gen: g.standard_normal(shape),
            "bounds": [list(problem.lower), list(problem.upper)]})
        xs, counts = _drive(es, lambda p, pr=problem: pr.f(np.asarray(p)[None])[0], x0, 120,
                            es.popsize)
        np.testing.assert_array_equal(res.trace["x"], xs)
        assert res.trace["n_f"].tolist() == counts and es.popsize == 6


@needs_cma
def test_cma_converges_where_gradient_free_baselines_do_and_conforms():
    for _, res in _run("booth", "cma", seeds=3, budget=1500):
        assert res.status == "converged"
    checks = check_optimizer("cma")
    assert not [(w, d) for w, ok, d in checks if not ok]


@pytest.mark.parametrize("spec,says", [
    ("ask-tell[factory=toy_es.Nothing]", "cannot import 'toy_es.Nothing'"),
    ("ask-tell[factory=notdotted]", "must be an import path"),
    ("ask-tell[step=-1]", "step must be > 0, got -1"),
])
def test_bad_factories_fail_before_any_run(cli, tmp_path, spec, says):
    proc = cli("run", "-p", "booth", "-o", spec, "--budget", "5", "--out", str(tmp_path))
    assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr


@needs_cma
@pytest.mark.parametrize("spec,says", [
    ("cma[popsize=1]", "popsize must be a whole number >= 2"),
    ("cma[sigma0=0]", "sigma0 must be > 0"),
])
def test_bad_cma_values_fail_at_plan_time(spec, says):
    from optbench.errors import UsageError

    with pytest.raises(UsageError, match=says):
        make_plan(["booth"], [spec], budget=5)


def test_without_cma_the_error_names_the_pip_install(tmp_path):
    probe = (
        "import sys\n"
        "sys.modules['cma'] = None  # as if the extra were not installed\n"
        "from optbench.cli import main\n"
        f"main(['run', '-p', 'booth', '-o', 'cma', '--budget', '5', '--out', {str(tmp_path)!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"), timeout=120)
    assert proc.returncode == 2
    assert "pip install 'optbench[cma]'" in proc.stderr and "Traceback" not in proc.stderr
