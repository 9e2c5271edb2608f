"""The theory mapping is declared when an optimizer registers (optbench.theory_mapping): a
plug-in whose hyperparameters have other names gets the theory through its mapping, and a
wrong mapping is refused at registration with one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from optbench import Optimizer, make_schedule, registry
from optbench.errors import PluginError
from optbench.metrics import METRICS
from optbench.plan import make_plan
from optbench.runner import run_batch
from optbench.theory_mapping import theory_mapping
from tests.conftest import fork_cli

TH = [k for k in METRICS if k.startswith("th_")]


# heavy ball as torch.optim.SGD computes it, every hyperparameter renamed
@registry.register_optimizer(
    "renamed-heavy-ball", batchable=True,
    theory=dict(model="heavy-ball", lr="eta", beta="mu", schedule="decay",
                off=("l2", "tau", "max_norm")),
)
def renamed_heavy_ball(eta: float = 1e-3, mu: float = 0.9, tau: float = 0.0,
                       decay: str = "constant", l2: float = 0.0,
                       max_norm: float | None = None) -> Optimizer:
    rate = make_schedule(decay, eta, momentum=True)

    def step(x, state, oracle, t):
        lr = rate(t, oracle.gap)
        g = oracle.grad(x)
        if max_norm is not None:
            g = g * np.minimum(1.0, max_norm / (np.linalg.norm(g, axis=1, keepdims=True) + 1e-6))
        g = g + l2 * x
        b = g if state is None else mu * state["b"] + (1 - tau) * g
        return x - lr * b, {"b": b, "lr": lr}

    return Optimizer(step=step)


def _th(problem: str, optimizer: str, budget: int = 60):
    plan = make_plan([problem], [optimizer], seeds=2, budget=budget, tol=1e-8)
    by_id = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return [{k: by_id[r.run_id].metrics[k] for k in TH} for r in plan.runs]


def _heavy_ball_po(eta_h: float, beta: float, T: int = 2000) -> float:
    """PO (%) of heavy ball's 1-D error path from its recurrence
    ``q_{t+1} = (1 + β − ηh)q_t − βq_{t−1}``, ``q_1 = (1 − ηh)q_0``."""
    q = [1.0, 1.0 - eta_h]
    for _ in range(T):
        q.append((1 + beta - eta_h) * q[-1] - beta * q[-2])
    return 100 * max(0.0, -min(q))


@pytest.mark.parametrize(
    "problem,builtin,renamed",
    [
        ("quadratic-1d", "momentum[lr=[0.2,0.5],momentum=[0.5,0.9]]",
         "renamed-heavy-ball[eta=[0.2,0.5],mu=[0.5,0.9]]"),
        ("ill-conditioned-quadratic[kappa=10,rotate=true]",
         "momentum[lr=0.5/L,momentum=0.7,schedule=cosine(T=40)]",
         "renamed-heavy-ball[eta=0.5/L,mu=0.7,decay=cosine(T=40)]"),
        ("quadratic-1d", "momentum[lr=0.2,momentum=0.5,weight_decay=[0,0.1],dampening=[0,0.3]]",
         "renamed-heavy-ball[eta=0.2,mu=0.5,l2=[0,0.1],tau=[0,0.3]]"),
    ],
)
def test_a_renamed_plugin_gets_the_builtin_theory(problem, builtin, renamed):
    want, got = _th(problem, builtin), _th(problem, renamed)
    assert got == want
    assert any(m["th_po"] is not None for m in got)  # the theory applied, and the same
    if "l2" in renamed:  # weight decay or dampening on (3 of 4 settings, 2 seeds): no theory
        assert sum(m["th_po"] is None for m in got) == 6


def test_the_renamed_plugin_matches_the_closed_form():
    # quadratic-1d has h = 2: ηh = 0.8, β = 0.5
    (m, _) = _th("quadratic-1d", "renamed-heavy-ball[eta=0.4,mu=0.5]")
    assert m["th_po"] == pytest.approx(_heavy_ball_po(0.8, 0.5), rel=1e-9)
    assert m["th_rate_x"] == pytest.approx(max(abs(np.roots([1.0, -(1.5 - 0.8), 0.5]))), rel=1e-9)


def test_the_mapping_is_plain_data_in_the_registry():
    th = registry.optimizer_meta("renamed-heavy-ball")["theory"]
    assert json.loads(json.dumps(th)) == th == {
        "model": "heavy-ball", "lr": "eta", "beta": "mu", "schedule": "decay",
        "off": ["l2", "tau", "max_norm"],
    }
    assert registry.optimizer_meta("momentum")["theory"]["beta"] == "momentum"
    assert registry.optimizer_meta("adam")["theory"] is None


PARAMS = ["lr", "momentum", "schedule", "weight_decay"]


@pytest.mark.parametrize(
    "theory,says",
    [
        (dict(model="heavy-ball", lr="lr", beta="mu"), "'mu', which is not one of its"),
        (dict(model="gd", lr="rate"), "'rate', which is not one of its"),
        (dict(model="gd", lr="lr", off=("clip_norm",)), "'clip_norm', which is not one of its"),
        (dict(model="polyak", lr="lr"), "model must be one of ['gd', 'heavy-ball', 'nesterov']"),
        (dict(model="heavy-ball", lr="lr"), "needs beta"),
        (dict(model="gd", lr="lr", beta="momentum"), "beta must not be given"),
        (dict(model="gd"), "needs lr"),
        (dict(model="gd", lr="lr", momentum="momentum"), "unknown keys ['momentum']"),
        (dict(model="gd", lr="lr", off="weight_decay"), "off must be a list"),
        (dict(model="gd", lr="lr", schedule="lr"), "two parts"),
        ("heavy-ball", "must name its hyperparameters"),
    ],
)
def test_a_bad_mapping_is_one_line(theory, says):
    with pytest.raises(PluginError) as exc:
        theory_mapping("mine", theory, PARAMS)
    assert says in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith("optimizer 'mine': theory")


def test_a_bad_mapping_is_refused_when_the_plugin_registers(tmp_path):
    plugin = tmp_path / "bad_theory.py"
    plugin.write_text(
        "from optbench import Optimizer, register_optimizer\n"
        "@register_optimizer('bad-theory', batchable=True,\n"
        "                    theory=dict(model='heavy-ball', lr='lr', beta='momentum'))\n"
        "def bad_theory(lr: float = 0.1, mu: float = 0.9):\n"
        "    return Optimizer(step=lambda x, s, o, t: (x - lr * o.grad(x), s))\n"
    )
    r = fork_cli("run", "--plugin", str(plugin), "-p", "quadratic-1d", "-o", "bad-theory",
                "--seeds", "1", "--budget", "10", "--out", str(tmp_path / "out"), "--no-report")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "'bad-theory'" in lines[0] and "'momentum', which is not one of its" in lines[0]
    assert not (tmp_path / "out" / "results.sqlite").exists()


def test_the_readme_example_registers_its_mapping():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index('```python\n@register_optimizer("my-heavy-ball"')
    code = readme[start + len("```python\n") : readme.index("```", start + 3)]
    exec(code, {"register_optimizer": registry.register_optimizer})  # noqa: S102
    assert registry.optimizer_meta("my-heavy-ball")["theory"] == {
        "model": "heavy-ball", "lr": "step_size", "beta": "mu", "schedule": "decay",
        "off": ["l2"],
    }
