"""aRT at a target is exact where the worker stored a hitting cost and refused, in one line
naming the stored targets, where it did not: never inf for runs that passed the target."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.errors import UsageError
from optbench.stats import art_table, cost_matrix, hit_costs

H, C = 2.0, 1.5  # quadratic-1d: ½·h·(x − c)²


def _frame():
    return pd.DataFrame({
        "problem_key": ["p"] * 3, "label": ["a"] * 3, "status": ["converged"] * 2 + ["budget"],
        "evals": [10, 20, 40], "hit_cost_1e-1": [3.0, 5.0, np.nan],
        "hit_cost_1e-2": [6.0, 9.0, np.nan],
    })


def test_art_at_stored_targets_is_hand_computed():
    table = art_table(_frame(), targets=(1e-1, 1e-2), samples=0)
    # two successes charged their hits, the failure what it used
    assert table.aRT.tolist() == [(3 + 5 + 40) / 2, (6 + 9 + 40) / 2]


@pytest.mark.parametrize("target", [10.0, 1e-3, 1.4e-1])
def test_unstored_target_is_refused_in_one_line(target):
    with pytest.raises(UsageError) as err:
        art_table(_frame(), targets=(target, 1e-1), samples=0)
    msg = str(err.value)
    assert "\n" not in msg and f"{target:g}" in msg and "1e-1, 1e-2" in msg


def test_a_frame_of_error_rows_only_met_no_target():
    frame = pd.DataFrame({"problem_key": ["p"], "label": ["a"], "status": ["error"],
                          "evals": [np.nan]})
    assert math.isinf(art_table(frame, targets=(1e-1,), samples=0).aRT[0])
    with pytest.raises(UsageError):
        hit_costs(frame, 10.0)


def test_stored_run_art_equals_a_direct_loop(tmp_path):
    lr, budget = 0.1, 60
    res = optbench.run(problems=["quadratic-1d"], optimizers=[f"gd[lr={lr}]"], seeds=3,
                       budget=budget, tol=0, out=tmp_path, report=False)
    frame = optbench.load(tmp_path)
    hits = {1e-1: [], 1e-4: []}
    for rid in frame.run_id:
        tr = optbench.load_trace(tmp_path, rid)
        x = float(np.asarray(tr["x"]).reshape(len(tr["f"]), -1)[0, 0])
        first = {}
        for t in range(budget + 1):  # gd: one gradient per update, so iterate t costs t
            gap = 0.5 * H * (x - C) ** 2
            for eps in hits:
                if eps not in first and gap <= eps:
                    first[eps] = max(t, 1)  # costs count from 1
            x -= lr * H * (x - C)
        for eps in hits:
            hits[eps].append(first[eps])
    table = art_table(frame, targets=(1e-1, 1e-4), samples=0)
    assert table.aRT.tolist() == [np.mean(hits[1e-1]), np.mean(hits[1e-4])]
    assert len(res.runs) == 3
    with pytest.raises(UsageError, match="stored targets are 1e-1, 1e-2"):
        art_table(frame, targets=(10.0, 1e-1))
    with pytest.raises(UsageError):
        cost_matrix(frame, 10.0)
