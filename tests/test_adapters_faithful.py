"""The adapters follow the real libraries: a torch optimizer that replaces ``p.data`` is
followed (as torch.optim.SGD on the same run), a wrong-shaped or complex parameter is an
error row; optax's GradientTransformationExtraArgs (``optax.lbfgs``) equals a hand loop of
optax, every evaluation its line search makes charged; an ask/tell object drawing from
numpy's global generator gives the same run alone, in a batch and on a rerun."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from optbench.plan import build_problem, make_plan, start_point
from optbench.runner import run_batch
from tests.conftest import needs

needs_torch = needs("torch")
needs_optax = needs("optax")

MODULE = "faithful_plugins_a"
NP_MODULE = "faithful_np_plugins_a"
PLUGINS = '''
import numpy as np
import torch


class ReplacingSGD(torch.optim.Optimizer):
    """Plain SGD that gives p a new tensor instead of updating it in place."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.data = p.data - group["lr"] * p.grad


class ReplacingClosureSGD(torch.optim.Optimizer):
    """SGD whose step needs a closure (as LBFGS) and gives p a new tensor."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, {"lr": lr})

    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        with torch.no_grad():
            for p in self.param_groups[0]["params"]:
                p.data = p.data - self.param_groups[0]["lr"] * p.grad
        return loss


class Reshaping(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for p in self.param_groups[0]["params"]:
            p.data = torch.zeros(p.numel() + 1, dtype=p.dtype)


class Complexifying(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for p in self.param_groups[0]["params"]:
            p.data = (p.data - self.param_groups[0]["lr"] * p.grad).to(torch.complex128) * 1j


class GlobalES:
    """A (1+1)-ES that draws from numpy's global generator, as many libraries do."""

    def __init__(self, x0, sigma=0.3):
        self.x, self.f, self.sigma = np.asarray(x0, float), np.inf, sigma

    def ask(self):
        return self.x + self.sigma * np.random.standard_normal((4, self.x.size))

    def tell(self, points, values):
        i = int(np.argmin(values))
        if values[i] < self.f:
            self.x, self.f = np.asarray(points[i]), values[i]
'''


@pytest.fixture(scope="module", autouse=True)
def plugin_modules(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    torch_part, numpy_part = PLUGINS.split("\n\nclass GlobalES")
    (folder / f"{MODULE}.py").write_text(torch_part)
    (folder / f"{NP_MODULE}.py").write_text("import numpy as np\n\nclass GlobalES" + numpy_part)
    sys.path.insert(0, str(folder))
    yield
    sys.path.remove(str(folder))
    sys.modules.pop(MODULE, None)
    sys.modules.pop(NP_MODULE, None)


def _run(problem, optimizer, seeds=1, budget=60, **kw):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget, tol=kw.pop("tol", 0.0),
                     **kw)
    results = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return [(run, results[run.run_id]) for run in plan.runs]


# -- item: the torch adapter reads the parameter back ------------------------------------------

@needs_torch
def test_an_optimizer_that_replaces_p_data_is_followed_as_sgd_is():
    (_, ours), = _run("quadratic-1d", f"torch[cls={MODULE}.ReplacingSGD,lr=0.3]", tol=1e-8)
    (_, sgd), = _run("quadratic-1d", "torch[cls=torch.optim.SGD,lr=0.3]", tol=1e-8)
    assert sgd.status == "converged"
    assert ours.status == sgd.status and ours.summary.n_iter == sgd.summary.n_iter
    np.testing.assert_allclose(ours.trace["x"], sgd.trace["x"], rtol=1e-12, atol=0)


@needs_torch
def test_a_closure_optimizer_that_replaces_p_data_is_followed():
    # one closure call (an f and a gradient) per update, at the point the optimizer left
    (_, ours), = _run("rosenbrock", f"torch[cls={MODULE}.ReplacingClosureSGD,lr=1e-3]", budget=41)
    (_, sgd), = _run("rosenbrock", "torch[cls=torch.optim.SGD,lr=1e-3]", budget=20)
    assert ours.summary.n_iter == sgd.summary.n_iter == 20
    np.testing.assert_allclose(ours.trace["x"], sgd.trace["x"], rtol=1e-12, atol=0)
    assert ours.trace["n_f"].tolist() == list(range(21)) == ours.trace["n_g"].tolist()


@needs_torch
def test_a_replacing_optimizer_in_a_batch_follows_each_run():
    ours = _run("rosenbrock", f"torch[cls={MODULE}.ReplacingSGD,lr=[1e-4,3e-4]]", seeds=2)
    sgd = _run("rosenbrock", "torch[cls=torch.optim.SGD,lr=[1e-4,3e-4]]", seeds=2)
    for (_, a), (_, b) in zip(ours, sgd, strict=True):
        assert a.summary.n_iter == b.summary.n_iter == 60
        np.testing.assert_allclose(a.trace["x"], b.trace["x"], rtol=1e-12, atol=0)


@needs_torch
@pytest.mark.parametrize("problem", ["rosenbrock", "quadratic-1d"])
@pytest.mark.parametrize("cls,says", [("Reshaping", "left the parameter with shape"),
                                      ("Complexifying", "made the parameter complex")])
def test_a_wrong_shaped_or_complex_parameter_is_an_error_row(problem, cls, says):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = _run(problem, f"torch[cls={MODULE}.{cls}]", seeds=2)
    assert not [w for w in caught if issubclass(w.category, np.exceptions.ComplexWarning)]
    for _, res in runs:
        assert res.status == "error", res
        assert says in res.message


def test_complex_iterates_from_a_step_are_an_error_row():
    from optbench import Optimizer, registry
    from optbench.registry import register_optimizer

    @register_optimizer("faithful-complex-gd-a", needs=("gradient",), batchable=True)
    def complex_gd(lr: float = 0.1):
        return Optimizer(step=lambda x, s, o, t: (x - lr * o.grad(x) + 0j, s))

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (_, res), = _run("quadratic-1d", "faithful-complex-gd-a")
    finally:
        registry._REGISTRY["optimizer"].pop("faithful-complex-gd-a", None)
    assert not [w for w in caught if issubclass(w.category, np.exceptions.ComplexWarning)]
    assert res.status == "error" and "complex iterates" in res.message


# -- item: optax's GradientTransformationExtraArgs (optax.lbfgs) ------------------------------

@needs_optax
def test_optax_lbfgs_equals_a_hand_loop_with_every_line_search_evaluation_charged():
    import jax
    import jax.numpy as jnp
    import optax

    jax.config.update("jax_enable_x64", True)
    (run, res), = _run("rosenbrock", "optax[fn=optax.lbfgs,lr=1]", budget=200)
    x0 = start_point(build_problem(run.problem), run.problem, run.seed)

    def fn(p):  # Rosenbrock (a = 1, b = 100), written in jax
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    np.testing.assert_allclose(float(fn(jnp.asarray(x0))), res.trace["f"][0], rtol=1e-14)
    # optax's documented loop: the value and gradient come from the line search's state
    tx = optax.lbfgs(learning_rate=1.0)
    params, state = jnp.asarray(x0), tx.init(jnp.asarray(x0))
    value_and_grad = optax.value_and_grad_from_state(fn)

    @jax.jit  # one compiled step (op by op, each primitive and branch compiles on its own)
    def step(params, state):
        value, grad = value_and_grad(params, state=state)
        updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=fn)
        return optax.apply_updates(params, updates), state

    xs, evals = [np.asarray(params)], [0]
    used = 1  # the start's value and gradient
    for _ in range(res.summary.n_iter):
        params, state = step(params, state)
        used += int(optax.tree.get(state, "num_linesearch_steps"))  # one value and grad each
        xs.append(np.asarray(params))
        evals.append(used)
    assert res.status == "converged"
    np.testing.assert_allclose(res.trace["x"], np.array(xs), rtol=1e-9, atol=1e-12)
    assert res.trace["n_f"].tolist() == evals and res.trace["n_g"].tolist() == evals

    # at a budget of 21 (10 value-and-gradient pairs) the run stops inside the line search
    # of the first update the hand loop needs more than 10 pairs for, having spent 10
    (_, cut), = _run("rosenbrock", "optax[fn=optax.lbfgs,lr=1]", budget=21)
    done = sum(e <= 10 for e in evals) - 1  # updates completed within 10 pairs
    assert evals[done] < 10 < evals[done + 1]  # the budget falls inside update done + 1
    assert cut.status == "budget"
    assert cut.summary.n_f == cut.summary.n_g == 10
    assert cut.trace["n_f"].tolist() == evals[: done + 1] + [10]
    np.testing.assert_allclose(cut.trace["x"][: done + 1], res.trace["x"][: done + 1], rtol=1e-14)


# -- item: an ask/tell object that draws from numpy's global generator -------------------------

def test_a_global_generator_object_gives_the_same_run_alone_in_a_batch_and_rerun():
    spec = f"ask-tell[factory={NP_MODULE}.GlobalES,sigma=0.5]"
    np.random.seed(12345)
    before = np.random.get_state()
    batch = {run.seed: res for run, res in _run("rosenbrock", spec, seeds=[0, 1, 2], budget=80)}
    after = np.random.get_state()  # the process's own global generator is left as it was
    assert after[2] == before[2] and np.array_equal(after[1], before[1])
    np.random.standard_normal(7)  # whatever else the process draws in between
    alone = {run.seed: res for run, res in _run("rosenbrock", spec, seeds=[1], budget=80)}
    again = {run.seed: res for run, res in _run("rosenbrock", spec, seeds=[0, 1, 2], budget=80)}
    for seed in (0, 1, 2):
        np.testing.assert_array_equal(again[seed].trace["x"], batch[seed].trace["x"])
    np.testing.assert_array_equal(alone[1].trace["x"], batch[1].trace["x"])
    assert alone[1].summary.n_iter == 20 and alone[1].trace["f"][-1] < alone[1].trace["f"][0]
    assert not np.array_equal(batch[0].trace["x"], batch[1].trace["x"])  # runs draw their own
