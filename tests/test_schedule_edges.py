"""Edges of schedule and problem parameters: constant-lr's T against real torch, a schedule
that cycles the momentum nested in warmup/sequential, and problem parameters whose size
would overflow f or its gradient (refused in one line giving the valid range)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import optbench
from optbench import make_schedule
from optbench.errors import UsageError
from optbench.plan import build_problem, resolve_problem
from optbench.spec import parse
from tests.conftest import Lazy, needs

pytestmark = needs("torch")
torch = Lazy("torch")  # imported by the first test that uses it (tests/conftest.py)
S = Lazy("torch.optim.lr_scheduler")
from tests.test_schedules_torch import _torch_rates as torch_rates  # noqa: E402


def _torch_rates(make, lr=0.1, n=8):
    return torch_rates(make, lr=lr, n=n)


@pytest.mark.parametrize("T", [1, 2, 3])
def test_constant_lr_small_T_equals_torch_stepped(T):
    got = np.asarray(make_schedule(f"constant-lr(factor=0.5,T={T})", 0.1)(np.arange(8)), float)
    expected = _torch_rates(lambda o: S.ConstantLR(o, factor=0.5, total_iters=T))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_constant_lr_T0_is_refused_because_torch_has_no_one_answer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's SequentialLR warns about step(epoch)
        alone = _torch_rates(lambda o: S.ConstantLR(o, factor=0.5, total_iters=0))
        later = _torch_rates(lambda o: S.SequentialLR(
            o, [S.ExponentialLR(o, gamma=1.0), S.ConstantLR(o, factor=0.5, total_iters=0)],
            milestones=[3]))
    assert np.all(alone == 0.05) and np.all(later[3:] == 0.1)  # factor for ever, or never
    with pytest.raises(ValueError) as err:
        make_schedule("constant-lr(factor=0.5,T=0)", 0.1)
    msg = str(err.value)
    assert "\n" not in msg and "T must be a whole number >= 1" in msg


CYCLER = "one-cycle(T=40,cycle_momentum=true)"


@pytest.mark.parametrize("schedule", [
    f"warmup(W=5,then={CYCLER})",
    f"sequential(schedules=[constant,{CYCLER}],milestones=[5])",
    f"warmup(W=5,then=sequential(schedules=[constant,{CYCLER}],milestones=[5]))",
])
@pytest.mark.parametrize("optimizer", ["momentum[lr=0.01,momentum=0.9", "gd[lr=0.01"])
def test_nested_momentum_cycle_is_refused_for_being_nested(tmp_path, schedule, optimizer):
    with pytest.raises(UsageError) as err:
        optbench.run(problems=["quadratic-1d"], optimizers=[f"{optimizer},schedule={schedule}]"],
                     seeds=1, budget=20, out=tmp_path, report=False)
    msg = str(err.value)
    assert "\n" not in msg and "nested in" in msg and "cycle_momentum=false" in msg
    assert "has no momentum" not in msg
    # the same schedule at the top level still drives the momentum optimizer's momentum
    if optimizer.startswith("momentum"):
        res = optbench.run(problems=["quadratic-1d"],
                           optimizers=[f"{optimizer},schedule={CYCLER}]"], seeds=1, budget=20,
                           out=tmp_path / "top", report=False)
        assert res.runs.status.iloc[0] != "error"


@pytest.mark.parametrize("spec,name,valid", [
    ("ill-conditioned-quadratic[kappa=1e308]", "kappa", "[1, 1e100]"),
    ("ill-conditioned-quadratic[d=5,kappa=1e160]", "kappa", "[1, 1e100]"),
    ("quadratic-1d[h=1e200]", "h", "(0, 1e100]"),
    ("quadratic-1d[c=1e300]", "c", "[-1e15, 1e15]"),
    ("noisy-quadratic[noise=1e300]", "noise", "[0, 1e100]"),
    ("linear-regression[noise=1e300]", "noise", "[0, 1e100]"),
    ("huber[delta=1e300]", "delta", "(0, 1e100]"),
    ("asymmetric-valley[a=1e300]", "a", "[1e-100, 1e100]"),
    ("plateau-well[sigma=1e-300]", "sigma", "[1e-50, 2.5]"),
    ("linear-regression[slope=1e300]", "slope", "[-1e100, 1e100]"),
    ("logistic-regression[l2=1e300]", "l2", "(0, 1e100]"),
])
def test_overflowing_problem_parameter_is_refused_with_its_range(spec, name, valid):
    with pytest.raises(UsageError) as err:
        build_problem(resolve_problem(parse(spec)))
    msg = str(err.value)
    assert "\n" not in msg and f"{name} must be in {valid}" in msg


def test_kappa_1e308_stores_nothing(tmp_path):
    with pytest.raises(UsageError, match=r"kappa must be in \[1, 1e100\]"):
        optbench.run(problems=["ill-conditioned-quadratic[kappa=1e308]"], optimizers=["gd"],
                     seeds=1, budget=10, out=tmp_path / "out", report=False)
    assert not (tmp_path / "out" / "results.sqlite").exists()


@pytest.mark.parametrize("d,rotate", [(2, False), (6, True)])
def test_largest_kappa_is_finite_over_the_domain(d, rotate):
    kappa = 1e100
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning anywhere
        p = build_problem(resolve_problem(parse(
            f"ill-conditioned-quadratic[d={d},kappa={kappa},rotate={str(rotate).lower()}]")))
        corners = np.vstack([p.lower, p.upper])
        f, g = p.f(corners), p.grad(corners)
        gn = np.linalg.norm(g, axis=1)
    # at x = -5 the error is e = -6·1: ½·Σ λ_i·36 unrotated, λ_i = κ^(i/(d−1)); rotated,
    # between λ_min and λ_max times ½‖e‖²
    if not rotate:
        expected = 0.5 * 36 * sum(kappa ** (i / (d - 1)) for i in range(d))
        assert math.isclose(f[0], expected, rel_tol=1e-9)
    assert np.all(np.isfinite(f)) and 0.5 * 36 * d <= f[0] <= 0.5 * 36 * d * kappa * (1 + 1e-12)
    assert np.all(np.isfinite(gn)) and np.all(gn < 1e200)
