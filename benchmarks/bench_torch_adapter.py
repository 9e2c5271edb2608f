"""The torch adapter's per-step cost against calling torch directly in a loop (target ≤ 1.5×).

Both sides run ``torch.optim.Adam(lr=0.01)`` in float64 on ``rosenbrock[d=10]`` for
``ITERS`` updates, with the same numpy gradient:

* direct: what a torch user writes — one tensor, and per update ``f, g =
  problem.value_and_grad(x)`` (the loss is logged, as every training loop does),
  ``p.grad = g``, ``opt.step()``, the loss appended to a list;
* adapter: ``make_plan`` + ``run_batch`` of ``torch[cls=torch.optim.Adam,lr=0.01]`` (the
  runner records x, f, the gradient norm and the counters at every iterate, judges the
  statuses live and computes the run's metrics at the end).

``RUNS`` runs go through each side (one batch for the adapter, a loop of loops directly),
and both are checked to reach the same iterates before anything is timed.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("torch")

PROBLEM = "rosenbrock[d=10]"
SPEC = "torch[cls=torch.optim.Adam,lr=0.01]"
ITERS = 500
RUNS = 8
TARGET = 1.5


def _plan():
    from optbench.plan import make_plan

    return make_plan([PROBLEM], [SPEC], seeds=RUNS, budget=None, max_iter=ITERS, tol=0.0)


def _adapter():
    from optbench.runner import run_batch

    return [res for batch in _plan().batches for res in run_batch(batch)]


def _direct(problem, x0s):
    import torch

    finals = []
    for x0 in x0s:
        p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([p], lr=0.01)
        losses = []
        for _ in range(ITERS):
            f, g = problem.value_and_grad(p.detach().numpy()[None])
            losses.append(float(f[0]))
            p.grad = torch.from_numpy(g[0])
            opt.step()
        finals.append(p.detach().numpy().copy())
    return np.array(finals)


def _best_of(fn, repeats=3):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def test_adapter_overhead_per_step(benchmark, tools):
    from optbench.plan import build_problem, start_point

    plan = _plan()
    problem = build_problem(plan.runs[0].problem)
    results = _adapter()
    x0s = [start_point(problem, r.problem, r.seed) for r in plan.runs]
    finals = _direct(problem, x0s)
    np.testing.assert_allclose([r.summary["x_final"][:10] for r in results], finals, rtol=1e-12)

    load = tools.wait_for_quiet()
    direct = _best_of(lambda: _direct(problem, x0s))
    benchmark.pedantic(_adapter, rounds=3, iterations=1)
    adapter = min(benchmark.stats.stats.data)
    ratio = adapter / direct
    per_step = {"adapter_us": 1e6 * adapter / (RUNS * ITERS),
                "direct_us": 1e6 * direct / (RUNS * ITERS), "ratio": ratio,
                **load}
    benchmark.extra_info.update(per_step)
    print(f"\ntorch adapter: {per_step['adapter_us']:.1f} µs/step, torch directly "
          f"{per_step['direct_us']:.1f} µs/step: {ratio:.2f}× (target ≤ {TARGET}×)")
    assert ratio <= TARGET
