"""The update rules and options added beside Adam, checked per step against real torch.optim
(torch called directly, in float64, with torch.nn.utils.clip_grad_norm_ for ``clip_norm``),
and Lion against the published algorithm. The torch comparisons need the torch extra."""

from __future__ import annotations

import numpy as np
import pytest

from optbench.plan import build_problem, make_plan
from optbench.runner import run_batch
from tests.conftest import needs

needs_torch = needs("torch")

TORCH_CLASS = {"gd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adam": "Adam",
               "adagrad": "Adagrad", "rmsprop": "RMSprop", "adamw": "AdamW", "nadam": "NAdam",
               "radam": "RAdam", "adamax": "Adamax", "adadelta": "Adadelta"}


def _run(problem, spec, seeds=2, budget=40):
    plan = make_plan([problem], [spec], seeds=seeds, budget=budget, tol=0.0)
    results = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return [(run, results[run.run_id]) for run in plan.runs]


def _torch_kwargs(name: str, params: dict) -> dict:
    """optbench's parameters under torch's names (the rules share their defaults' names)."""
    kw = {k: v for k, v in params.items() if k not in ("schedule", "clip_norm")}
    if "beta1" in kw:
        kw["betas"] = (kw.pop("beta1"), kw.pop("beta2"))
    if name == "nesterov":
        kw["nesterov"] = True
    return kw


def _torch_trajectory(name, params, problem, x0, n, scheduler=None):
    import torch

    klass = getattr(torch.optim, TORCH_CLASS[name])
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch's scalar state (NAdam's μ product) too
    try:
        opt = klass([p], **_torch_kwargs(name, params))
        sched = scheduler(opt) if scheduler else None
        xs = [p.detach().numpy().copy()]
        for _ in range(n):
            opt.zero_grad()
            p.grad = torch.from_numpy(problem.grad(p.detach().numpy()[None])[0].copy())
            if params.get("clip_norm") is not None:
                torch.nn.utils.clip_grad_norm_([p], params["clip_norm"])
            opt.step()
            if sched:
                sched.step()
            xs.append(p.detach().numpy().copy())
    finally:
        torch.set_default_dtype(saved)
    return np.array(xs)


CASES = [
    "gd[lr=[0.0003,0.001],weight_decay=[0.0,0.5]]",
    "momentum[lr=0.001,momentum=0.9,dampening=0.1,weight_decay=0.05,clip_norm=[1.0,50.0]]",
    "nesterov[lr=0.001,momentum=0.8,weight_decay=0.1,clip_norm=3.0]",
    "adam[lr=[0.01,0.05],weight_decay=[0.0,0.1],clip_norm=2.0]",
    "adagrad[lr=0.5,weight_decay=0.01,clip_norm=5.0]",
    "rmsprop[lr=0.01,momentum=0.5,centered=true,weight_decay=0.01,clip_norm=0.5]",
    "adamw[lr=[0.01,0.05],weight_decay=[0.0,0.1]]",
    "adamw[lr=0.05,amsgrad=true,clip_norm=1.0]",
    "nadam[lr=[0.002,0.02],momentum_decay=[0.004,0.04]]",
    "nadam[lr=0.02,weight_decay=0.1,decoupled_weight_decay=[false,true],clip_norm=1.0]",
    "radam[lr=[0.0001,0.0005],beta2=[0.9,0.999]]",
    "radam[lr=0.05,weight_decay=0.1,decoupled_weight_decay=[false,true],clip_norm=10.0]",
    "adamax[lr=[0.002,0.05],beta1=[0.0,0.9],weight_decay=0.01]",
    "adamax[lr=0.05,clip_norm=1.0]",
    "adadelta",
    "adadelta[lr=[0.5,2.0],rho=[0.5,0.95],eps=1e-4,weight_decay=0.01,clip_norm=1.0]",
]


@needs_torch
@pytest.mark.parametrize("problem", ["linear-regression", "rosenbrock"])
@pytest.mark.parametrize("spec", CASES)
def test_trajectory_equals_torch_optim_per_step(problem, spec):
    for run, res in _run(problem, spec):
        n = res.summary.n_iter
        assert n >= 2
        name, params = run.optimizer.name, dict(run.optimizer.params)
        expected = _torch_trajectory(name, params, build_problem(run.problem),
                                     res.trace["x"][0], n)
        np.testing.assert_allclose(res.trace["x"], expected, rtol=1e-11, atol=1e-13)
        np.testing.assert_array_equal(res.trace["n_g"], np.arange(n + 1))


@needs_torch
def test_adamw_with_a_schedule_equals_torch_with_its_scheduler():
    import torch

    for run, res in _run("rosenbrock", "adamw[lr=0.05,weight_decay=0.1,schedule=cosine(T=15)]"):
        expected = _torch_trajectory(
            "adamw", dict(lr=0.05, weight_decay=0.1), build_problem(run.problem),
            res.trace["x"][0], res.summary.n_iter,
            lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=15))
        np.testing.assert_allclose(res.trace["x"], expected, rtol=1e-11, atol=1e-13)


def lion_by_the_paper(x, grad, n, lr, beta1, beta2, wd):
    """Chen et al. 2023, Algorithm 2 (Lion), transcribed."""
    m, xs = np.zeros_like(x), [x]
    for _ in range(n):
        g = grad(x)
        c = beta1 * m + (1 - beta1) * g
        x = x - lr * (np.sign(c) + wd * x)
        m = beta2 * m + (1 - beta2) * g
        xs.append(x)
    return np.array(xs)


@pytest.mark.parametrize(
    "spec", ["lion", "lion[lr=[0.001,0.01],beta1=[0.5,0.9],weight_decay=[0.0,0.3]]"])
def test_lion_follows_the_published_algorithm(spec):
    for run, res in _run("rosenbrock", spec):
        p = dict(run.optimizer.params)
        problem = build_problem(run.problem)
        expected = lion_by_the_paper(res.trace["x"][0], lambda x, pr=problem: pr.grad(x[None])[0],
                                     res.summary.n_iter, p["lr"], p["beta1"], p["beta2"],
                                     p["weight_decay"])
        np.testing.assert_allclose(res.trace["x"], expected, rtol=1e-13, atol=1e-15)
        steps = np.abs(np.diff(res.trace["x"], axis=0))
        if p["weight_decay"] == 0:  # every coordinate moves by exactly lr (or not at all)
            assert np.all((np.isclose(steps, p["lr"], rtol=1e-9)) | (steps == 0))


def test_clipping_bounds_every_step_of_gd():
    # gd with clip_norm c moves at most lr·c, and exactly lr·c where ‖g‖ > c
    for run, res in _run("rosenbrock", "gd[lr=0.001,clip_norm=5.0]", budget=20):
        problem = build_problem(run.problem)
        x = res.trace["x"]
        g = problem.grad(x[:-1])
        steps = np.linalg.norm(np.diff(x, axis=0), axis=1)
        gn = np.linalg.norm(g, axis=1)
        expected = 0.001 * np.where(gn > 5.0, 5.0 * gn / (gn + 1e-6), gn)
        np.testing.assert_allclose(steps, expected, rtol=1e-12)


@pytest.mark.parametrize("spec,says", [
    ("adamw[weight_decay=-1]", "weight_decay must be >= 0"),
    ("gd[clip_norm=0]", "clip_norm must be > 0"),
    ("radam[beta2=1]", "beta2 must be in [0, 1)"),
    ("adadelta[rho=2]", "rho must be in [0, 1]"),
    ("gd[schedule=one-cycle(T=20,cycle_momentum=true)]",
     "schedule 'one-cycle' cycles the momentum (cycle_momentum=true), but this optimizer has no"),
    ("adagrad[schedule=cyclic(cycle_momentum=true)]", "set cycle_momentum=false"),
])
def test_bad_values_are_refused_before_any_run(cli, tmp_path, spec, says):
    proc = cli("run", "-p", "quadratic-1d", "-o", spec, "--budget", "5", "--out", str(tmp_path))
    assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr
