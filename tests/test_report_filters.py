"""The report's -p/-o filters match a spec however its parameters are ordered or its
numbers spelled, and nothing else."""

from __future__ import annotations

import pandas as pd
import pytest

from optbench.errors import UsageError
from optbench.report.context import select_runs

RUNS = pd.DataFrame({
    "problem": ["linear-regression", "linear-regression", "quadratic-1d"],
    "problem_label": ["linear-regression[noise=2,standardize=true]",
                      "linear-regression[noise=1,standardize=true]", "quadratic-1d"],
    "optimizer": ["gd", "gd", "gd"],
    "label": ["gd[lr=0.05,schedule=power(p=1,tau=20)]", "gd[lr=0.05]", "gd[lr=0.05]"],
})


def test_a_problem_spec_matches_in_any_parameter_order():
    got = select_runs(RUNS, {}, problems=["linear-regression[standardize=true,noise=2]"])
    assert list(got.problem_label) == ["linear-regression[noise=2,standardize=true]"]


def test_nested_parameters_match_in_any_order_too():
    got = select_runs(RUNS, {}, optimizers=["gd[schedule=power(tau=20,p=1),lr=5e-2]"])
    assert list(got.label) == ["gd[lr=0.05,schedule=power(p=1,tau=20)]"]


def test_another_value_still_matches_nothing():
    with pytest.raises(UsageError, match="matches no run"):
        select_runs(RUNS, {}, problems=["linear-regression[standardize=true,noise=3]"])
