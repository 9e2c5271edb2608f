"""Lists inside nested specs (``sequential(schedules=[..., multistep(milestones=[10,30])])``)
are values of the nested spec's sequence parameters, not sweeps: checked against torch's
SequentialLR/MultiStepLR stepped as torch users step them, through the parser, the planner
and a stored run."""

from __future__ import annotations

import numpy as np

import optbench
from optbench import make_schedule
from optbench.plan import _expand
from optbench.spec import Spec, count, parse
from tests.conftest import Lazy, needs

pytestmark = needs("torch")
torch = Lazy("torch")  # imported by the first test that uses it (tests/conftest.py)
S = Lazy("torch.optim.lr_scheduler")
from tests.test_schedules_torch import _torch_rates  # noqa: E402

NESTED = "sequential(schedules=[constant,multistep(milestones=[10,30],gamma=0.5)],milestones=[5])"


def _torch_nested(lr, n):
    return _torch_rates(
        lambda o: S.SequentialLR(
            o, [S.LambdaLR(o, lambda e: 1.0), S.MultiStepLR(o, milestones=[10, 30], gamma=0.5)],
            milestones=[5]),
        lr, n)


def test_nested_list_is_one_value_in_the_planner():
    spec = parse(f"gd[lr=0.005,schedule={NESTED}]")
    specs = _expand("optimizer", spec)
    assert len(specs) == 1
    from optbench import registry

    assert count(spec, registry.literal_lists("optimizer", "gd")) == 1
    sched = specs[0].params["schedule"]
    assert sched.params["milestones"] == [5]
    first, second = sched.params["schedules"]
    assert first == "constant"
    assert second == Spec("multistep", {"milestones": [10, 30], "gamma": 0.5})


def test_nested_list_schedule_equals_torch_sequential_multistep():
    got = np.asarray(make_schedule(NESTED, 0.005)(np.arange(60)), dtype=float)
    np.testing.assert_allclose(got, _torch_nested(0.005, 60), rtol=1e-12)


def test_sweep_inside_a_nested_spec_of_a_literal_list_still_sweeps():
    spec = parse("gd[lr=0.1,schedule=sequential(schedules=[constant,cosine(T=[10,20])],"
                 "milestones=[5])]")
    specs = _expand("optimizer", spec)
    from optbench import registry

    assert count(spec, registry.literal_lists("optimizer", "gd")) == 2
    Ts = [s.params["schedule"].params["schedules"][1].params["T"] for s in specs]
    assert Ts == [10, 20]


def test_stored_run_uses_the_nested_schedule(tmp_path):
    n = 60
    res = optbench.run(problems=["quadratic-1d"], optimizers=[f"gd[lr=0.005,schedule={NESTED}]"],
                       seeds=1, budget=n, tol=0, out=tmp_path, report=False)
    runs = res.runs
    assert list(runs["status"]) != ["error"], runs["message"].tolist()
    trace = optbench.load_trace(tmp_path, runs["run_id"].iloc[0])
    lr = np.asarray(trace["lr"], dtype=float)
    np.testing.assert_allclose(lr, _torch_nested(0.005, len(lr)), rtol=1e-12)
    # and the iterates are gradient descent with those rates on ½·2·(x − 1.5)²
    x = np.asarray(trace["x"], dtype=float).reshape(len(trace["f"]), -1)[:, 0]
    direct = [x[0]]
    for eta in lr:
        direct.append(direct[-1] - eta * 2.0 * (direct[-1] - 1.5))
    np.testing.assert_allclose(x, direct, rtol=1e-12, atol=1e-15)
