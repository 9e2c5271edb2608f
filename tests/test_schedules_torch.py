"""Schedules against torch.optim.lr_scheduler stepped as torch users step it, and cycled
momentum against torch's optimizers driven by OneCycleLR/CyclicLR. Needs the torch extra."""

from __future__ import annotations

import numpy as np
import pytest

from optbench import make_schedule
from tests.conftest import Lazy, needs
from tests.test_update_rules import _run, _torch_trajectory, build_problem

pytestmark = needs("torch")
torch = Lazy("torch")  # imported by the first test that uses it (tests/conftest.py)
sched = Lazy("torch.optim.lr_scheduler")


def _torch_rates(make, lr=0.1, n=60):
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    s = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(n - 1):
        opt.step()
        s.step()
        out.append(opt.param_groups[0]["lr"])
    return np.array(out)


CASES = [
    ("step(step_size=7,gamma=1.2)", lambda o: sched.StepLR(o, step_size=7, gamma=1.2)),
    ("exponential(gamma=1.05)", lambda o: sched.ExponentialLR(o, gamma=1.05)),
    ("multistep(milestones=[40,10,10,25],gamma=0.5)",
     lambda o: sched.MultiStepLR(o, milestones=[40, 10, 10, 25], gamma=0.5)),
    ("multistep(milestones=[30,5],gamma=3)",
     lambda o: sched.MultiStepLR(o, milestones=[30, 5], gamma=3)),
    ("constant-lr", lambda o: sched.ConstantLR(o)),
    ("constant-lr(factor=0.1,T=12)", lambda o: sched.ConstantLR(o, factor=0.1, total_iters=12)),
    ("sequential(schedules=[constant-lr(factor=0.1,T=5),cosine(T=20)],milestones=[5])",
     lambda o: sched.SequentialLR(o, [sched.ConstantLR(o, factor=0.1, total_iters=5),
                                      sched.CosineAnnealingLR(o, T_max=20)], milestones=[5])),
    ("sequential(schedules=[linear(start_factor=0.2,end_factor=1,T=8),exponential(gamma=0.9),"
     "step(step_size=4,gamma=0.5)],milestones=[8,30])",
     lambda o: sched.SequentialLR(o, [sched.LinearLR(o, start_factor=0.2, end_factor=1.0,
                                                     total_iters=8),
                                      sched.ExponentialLR(o, gamma=0.9),
                                      sched.StepLR(o, step_size=4, gamma=0.5)],
                                  milestones=[8, 30])),
]


@pytest.mark.parametrize("spec,make", CASES, ids=[c[0] for c in CASES])
def test_rate_equals_torch_scheduler_stepped(spec, make):
    got = np.asarray(make_schedule(spec, 0.1)(np.arange(60)), dtype=float)
    np.testing.assert_allclose(got, _torch_rates(make), rtol=1e-12)


def test_one_cycle_at_T_never_negative_where_torch_extrapolates():
    T = 20
    expected = _torch_rates(lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=T,
                                                      anneal_strategy="linear"), n=T + 1)
    ours = make_schedule(f"one-cycle(T={T},anneal_strategy=linear)", 0.1)
    got = np.array([ours(t) for t in range(T + 1)])
    np.testing.assert_allclose(got[:T], expected[:T], rtol=1e-12, atol=1e-15)
    assert expected[T] < 0 and got[T] == pytest.approx(0.1 / 25 / 1e4, rel=1e-12)


MOMENTUM_CASES = [
    ("momentum[lr=0.001,momentum=0.9,schedule=one-cycle(T=30,cycle_momentum=true)]",
     dict(lr=0.001, momentum=0.9),
     lambda o: sched.OneCycleLR(o, max_lr=0.001, total_steps=30)),
    ("nesterov[lr=0.001,momentum=0.9,schedule=one-cycle(T=30,cycle_momentum=true,"
     "three_phase=true,base_momentum=0.7,max_momentum=0.9)]",
     dict(lr=0.001, momentum=0.9),
     lambda o: sched.OneCycleLR(o, max_lr=0.001, total_steps=30, three_phase=True,
                                base_momentum=0.7, max_momentum=0.9)),
    ("adam[lr=0.05,schedule=one-cycle(T=30,cycle_momentum=true,anneal_strategy=linear)]",
     dict(lr=0.05), lambda o: sched.OneCycleLR(o, max_lr=0.05, total_steps=30,
                                                anneal_strategy="linear")),
    ("adamw[lr=0.05,schedule=cyclic(base_lr=0.005,step_size_up=5,cycle_momentum=true)]",
     dict(lr=0.05), lambda o: sched.CyclicLR(o, base_lr=0.005, max_lr=0.05, step_size_up=5)),
    ("rmsprop[lr=0.01,momentum=0.5,schedule=cyclic(base_lr=0.001,step_size_up=4,"
     "cycle_momentum=true,mode=triangular2)]",
     dict(lr=0.01, momentum=0.5),
     lambda o: sched.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=4, mode="triangular2")),
    ("nadam[lr=0.02,schedule=one-cycle(T=30,cycle_momentum=true)]",
     dict(lr=0.02), lambda o: sched.OneCycleLR(o, max_lr=0.02, total_steps=30)),
]


@pytest.mark.parametrize("spec,params,make", MOMENTUM_CASES, ids=[c[0] for c in MOMENTUM_CASES])
def test_cycled_momentum_equals_torch(spec, params, make):
    for run, res in _run("rosenbrock", spec, budget=30):
        name = run.optimizer.name
        expected = _torch_trajectory(name, params, build_problem(run.problem), res.trace["x"][0],
                                     res.summary.n_iter, make)
        np.testing.assert_allclose(res.trace["x"], expected, rtol=1e-11, atol=1e-13)
