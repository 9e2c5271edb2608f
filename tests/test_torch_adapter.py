"""The torch adapter against optbench's own update rules and against torch called directly.

Needs the ``torch`` extra (``pip install 'optbench[torch]'``); without it these tests skip,
except the one that checks the missing-extra message.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from optbench.plan import build_problem, make_plan
from optbench.runner import run_batch
from optbench.testing import check_optimizer
from tests.conftest import needs

needs_torch = needs("torch")


def _run(problem, optimizer, seeds=2, budget=40):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget, tol=0.0)
    results = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return plan, [results[r.run_id] for r in plan.runs]


# the same update rule, spelled natively and through torch.optim (torch's names and defaults)
PAIRS = [
    ("adam[lr=[0.01,0.3],beta1=[0.0,0.8],beta2=0.99]",
     "torch[cls=torch.optim.Adam,lr=[0.01,0.3],betas=[[0.0,0.99],[0.8,0.99]]]"),
    ("adam[lr=0.1,amsgrad=true,eps=1e-3]",
     "torch[cls=torch.optim.Adam,lr=0.1,amsgrad=true,eps=1e-3]"),
    ("momentum[lr=[0.01,0.03],momentum=0.9,dampening=0.1]",
     "torch[cls=torch.optim.SGD,lr=[0.01,0.03],momentum=0.9,dampening=0.1]"),
    ("nesterov[lr=[0.01,0.03],momentum=0.9]",
     "torch[cls=torch.optim.SGD,lr=[0.01,0.03],momentum=0.9,nesterov=true]"),
    ("rmsprop[lr=[0.01,0.1],alpha=0.9,momentum=0.5,centered=true]",
     "torch[cls=torch.optim.RMSprop,lr=[0.01,0.1],alpha=0.9,momentum=0.5,centered=true]"),
    ("adagrad[lr=[0.5,2.0],lr_decay=0.05,initial_accumulator_value=0.1]",
     "torch[cls=torch.optim.Adagrad,lr=[0.5,2.0],lr_decay=0.05,initial_accumulator_value=0.1]"),
    ("gd[lr=0.05,schedule=one-cycle(T=40)]",
     "torch[cls=torch.optim.SGD,lr=0.05,momentum=0,scheduler="
     "torch.optim.lr_scheduler.OneCycleLR(max_lr=0.05,total_steps=40,cycle_momentum=false)]"),
    ("gd[lr=0.05,schedule=cosine(T=15,eta_min=0.001)]",
     "torch[cls=torch.optim.SGD,lr=0.05,scheduler="
     "torch.optim.lr_scheduler.CosineAnnealingLR(T_max=15,eta_min=0.001)]"),
]


@needs_torch
@pytest.mark.parametrize("problem", ["linear-regression", "rosenbrock"])
@pytest.mark.parametrize("native,adapted", PAIRS, ids=[p[0] for p in PAIRS])
def test_torch_optim_reproduces_the_native_rule_per_step(problem, native, adapted):
    _, ours = _run(problem, native)
    _, theirs = _run(problem, adapted)
    assert len(ours) == len(theirs) >= 2
    for a, b in zip(ours, theirs, strict=True):
        assert a.status == b.status and a.summary.n_iter == b.summary.n_iter > 0
        # torch evaluates in another order (lerp, addcdiv): rounding differs, not the rule
        np.testing.assert_allclose(b.trace["x"], a.trace["x"], rtol=1e-11, atol=1e-13)
        if not native.startswith("adagrad"):  # optbench records AdaGrad's rate after lr_decay
            np.testing.assert_allclose(b.trace["lr"], a.trace["lr"], rtol=1e-14)
        np.testing.assert_array_equal(b.trace["n_g"], a.trace["n_g"])
        np.testing.assert_array_equal(b.trace["n_f"], a.trace["n_f"])


@needs_torch
def test_a_batch_equals_its_runs_one_at_a_time_and_conforms():
    checks = check_optimizer(
        "torch[cls=torch.optim.AdamW,lr=[0.01,0.05],weight_decay=[0.0,0.1]]")
    failed = [(what, detail) for what, ok, detail in checks if not ok]
    assert not failed and any("one at a time" in what for what, _, _ in checks)


@needs_torch
def nadam_loop(x0, n_iter: int, **kwargs) -> np.ndarray:
    """torch.optim.NAdam's iterates on rosenbrock over ``n_iter`` updates, in a plain loop
    (float64 throughout, NAdam's momentum product too)."""
    import torch

    problem = build_problem(make_plan(["rosenbrock"], ["gd"]).runs[0].problem)
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        opt = torch.optim.NAdam([p], **kwargs)
        xs = [p.detach().numpy().copy()]
        for _ in range(n_iter):
            opt.zero_grad()
            p.grad = torch.from_numpy(problem.grad(p.detach().numpy()[None])[0].copy())
            opt.step()
            xs.append(p.detach().numpy().copy())
    finally:
        torch.set_default_dtype(saved)
    return np.array(xs)


def test_trajectory_equals_torch_in_a_plain_loop():
    _, results = _run("rosenbrock", "torch[cls=torch.optim.NAdam,lr=0.02,weight_decay=0.01]",
                      seeds=1, budget=30)
    res = results[0]
    xs = nadam_loop(res.trace["x"][0], res.summary.n_iter, lr=0.02, weight_decay=0.01)
    np.testing.assert_array_equal(res.trace["x"], xs)


@needs_torch
def test_lbfgs_runs_alone_and_every_closure_evaluation_is_charged():
    import torch

    plan, results = _run("rosenbrock", "torch[cls=torch.optim.LBFGS,lr=1,max_iter=3]",
                         seeds=2, budget=60)
    assert [len(b.runs) for b in plan.batches] == [1, 1]
    problem = build_problem(plan.runs[0].problem)
    for res in results:
        p = torch.tensor(res.trace["x"][0], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([p], lr=1, max_iter=3)
        calls = [0]

        def closure(p=p, calls=calls):
            calls[0] += 1
            x = p.detach().numpy()[None]
            p.grad = torch.from_numpy(problem.grad(x)[0].copy())
            return torch.tensor(problem.f(x)[0], dtype=torch.float64)

        xs, charged = [p.detach().numpy().copy()], [0]
        for _ in range(res.summary.n_iter):
            opt.step(closure)
            xs.append(p.detach().numpy().copy())
            charged.append(calls[0])
        np.testing.assert_array_equal(res.trace["x"], np.array(xs))
        # each closure call is one f and one gradient
        np.testing.assert_array_equal(res.trace["n_f"], charged)
        np.testing.assert_array_equal(res.trace["n_g"], charged)
        assert res.summary.n_f + res.summary.n_g <= 60


@needs_torch
def test_reduce_on_plateau_is_stepped_with_the_charged_training_loss():
    spec = ("torch[cls=torch.optim.SGD,lr=0.002,scheduler="
            "torch.optim.lr_scheduler.ReduceLROnPlateau(patience=1,factor=0.5,threshold=0.5)]")
    _, results = _run("rosenbrock", spec, seeds=1, budget=80)
    tr = results[0].trace
    n = results[0].summary.n_iter
    np.testing.assert_array_equal(tr["n_f"], np.arange(n + 1))  # one loss per update
    lr, best, bad = 0.002, np.inf, 0
    for t in range(n):  # torch's rule: cut by factor after `patience` updates without a gain
        assert tr["lr"][t] == pytest.approx(lr, rel=1e-15)
        f = tr["f"][t]
        if f < best * (1 - 0.5):
            best, bad = f, 0
        else:
            bad += 1
        if bad > 1:
            if lr - lr * 0.5 > 1e-8:  # torch's eps: smaller cuts are ignored
                lr = lr * 0.5
            bad = 0
    assert tr["lr"][-1] < 0.002  # the schedule did cut


@needs_torch
@pytest.mark.parametrize("spec,says", [
    ("torch[cls=torch.optim.Adamx]", "cannot import 'torch.optim.Adamx'"),
    ("torch[cls=numpy.linalg.norm]", "torch.optim.Optimizer subclass"),
    ("torch[cls=torch.optim.Adam,betas=0.9]", "optimizer 'torch'"),
    ("torch[cls=torch.optim.SGD,scheduler=torch.optim.lr_scheduler.StepLR(gamma=0.5)]",
     "step_size"),
])
def test_bad_torch_specs_fail_at_plan_time_with_one_line(spec, says):
    from optbench.errors import UsageError

    with pytest.raises(UsageError) as err:
        make_plan(["quadratic-1d"], [spec], budget=5)
    assert says in str(err.value) and "\n" not in str(err.value)


@needs_torch
def test_a_bad_torch_spec_exits_2_from_the_cli(cli, tmp_path):
    proc = cli("run", "-p", "quadratic-1d", "-o", "torch[cls=torch.optim.Adamx]", "--budget", "5",
               "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_without_torch_the_error_names_the_pip_install(tmp_path):
    probe = (
        "import sys\n"
        "sys.modules['torch'] = None  # as if the extra were not installed\n"
        "from optbench.cli import main\n"
        f"main(['run', '-p', 'quadratic-1d', '-o', 'torch[cls=torch.optim.Adam]',"
        f" '--budget', '5', '--out', {str(tmp_path)!r}])\n"
    )
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 2
    assert "pip install 'optbench[torch]'" in proc.stderr and "Traceback" not in proc.stderr
