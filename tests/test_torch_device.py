"""The torch adapter's ``device=``: the CPU default is today's adapter bit for bit, a CUDA
GPU is used where one exists (synchronized before each update's time is read), and a
device that is unknown or absent is a one-line error at plan time."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from optbench.errors import UsageError
from optbench.metrics import METRICS
from optbench.plan import make_plan
from optbench.runner import run_batch
from tests.conftest import needs

pytestmark = needs("torch")


def _cuda() -> bool:
    """Whether torch is installed and sees a CUDA GPU (imported only when asked)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


needs_gpu = pytest.mark.skipif(  # a string: evaluated as the test starts, not as it is collected
    "not _cuda()",
    reason="no CUDA GPU here (torch.cuda.is_available() is False): the CUDA path is tested "
    "only where one exists",
)


def _run(problem, optimizer, seeds=2, budget=40):
    plan = make_plan([problem], [optimizer], seeds=seeds, budget=budget, tol=0.0)
    results = {r.run_id: r for b in plan.batches for r in run_batch(b)}
    return [results[r.run_id] for r in plan.runs]


SPECS = [
    "torch[cls=torch.optim.Adam,lr=[0.01,0.3]{}]",
    "torch[cls=torch.optim.SGD,lr=0.01,momentum=0.9,scheduler="
    "torch.optim.lr_scheduler.CosineAnnealingLR(T_max=15){}]",
    "torch[cls=torch.optim.LBFGS,lr=1,max_iter=3{}]",
]


@pytest.mark.parametrize("spec", SPECS, ids=["adam", "sgd-cosine", "lbfgs"])
def test_device_cpu_is_the_adapter_without_it_exactly(spec):
    before = _run("rosenbrock", spec.format(""))
    after = _run("rosenbrock", spec.format(",device=cpu"))
    assert len(before) == len(after) >= 2
    for a, b in zip(before, after, strict=True):
        assert a.status == b.status and a.summary.n_iter == b.summary.n_iter > 0
        for key in ("x", "f", "lr", "n_f", "n_g"):
            np.testing.assert_array_equal(b.trace[key], a.trace[key], err_msg=key)
        for k in METRICS:
            if "hit_time_" not in k:  # the clock, not a result
                assert a.metrics[k] == b.metrics[k] or a.metrics[k] != a.metrics[k], k


def test_device_cpu_equals_torch_in_a_plain_loop():
    from tests.test_torch_adapter import nadam_loop

    (res,) = _run("rosenbrock", "torch[cls=torch.optim.NAdam,lr=0.02,device=cpu]", seeds=1,
                  budget=30)
    xs = nadam_loop(res.trace["x"][0], res.summary.n_iter, lr=0.02)
    np.testing.assert_array_equal(res.trace["x"], xs)


@pytest.mark.parametrize("device,says", [
    ("tpu", "device must be 'cpu' or 'cuda'"),
    ("mps", "device must be 'cpu' or 'cuda'"),
    ('"cuda:99"', "is not available here"),
])
def test_an_unknown_or_absent_device_is_one_line_at_plan_time(device, says):
    if device.startswith("cuda") and _cuda():
        import torch

        device = f'"cuda:{torch.cuda.device_count()}"'
    with pytest.raises(UsageError) as err:
        make_plan(["quadratic-1d"], [f"torch[cls=torch.optim.SGD,device={device}]"], budget=5)
    assert says in str(err.value) and "\n" not in str(err.value)


@pytest.mark.skipif("_cuda()",
                    reason="a CUDA GPU is present: device=cuda is valid here")
def test_cuda_without_a_gpu_exits_2_with_one_line(cli, tmp_path):
    proc = cli("run", "-p", "quadratic-1d", "-o", "torch[cls=torch.optim.SGD,device=cuda]",
               "--budget", "5", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "not available here" in line and "device=cpu" in line
    assert not (tmp_path / "results.sqlite").exists()


def test_a_gpu_update_ends_with_torch_cuda_synchronize(monkeypatch):
    """The synchronizer the adapter calls at the end of each update on a GPU (and not on the
    CPU), checked without one: it is torch.cuda.synchronize on that device."""
    import torch

    from optimizers.torch_adapter import synchronizer

    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev=None: calls.append(dev))
    assert synchronizer(torch, torch.device("cpu")) is None
    sync = synchronizer(torch, torch.device("cuda:0"))
    assert sync is not None
    sync()
    assert calls == [torch.device("cuda:0")]


@needs_gpu
@pytest.mark.parametrize("spec", SPECS, ids=["adam", "sgd-cosine", "lbfgs"])
def test_cuda_reproduces_the_cpu_runs_and_synchronizes_every_update(spec, monkeypatch):
    import torch

    cpu = _run("rosenbrock", spec.format(""))
    real, calls = torch.cuda.synchronize, []

    def counted(dev=None):
        calls.append(dev)
        real(dev)

    monkeypatch.setattr(torch.cuda, "synchronize", counted)
    gpu = _run("rosenbrock", spec.format(",device=cuda"))
    for a, b in zip(cpu, gpu, strict=True):
        assert a.status == b.status and a.summary.n_iter == b.summary.n_iter
        np.testing.assert_allclose(b.trace["x"], a.trace["x"], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(b.trace["n_g"], a.trace["n_g"])
    # once per batch step (a batch steps until its last run ends), before its time is read
    assert len(calls) >= max(r.summary.n_iter for r in gpu) > 0
