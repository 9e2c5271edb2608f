"""Notebook display: optbench.load's frame and optbench.run's Results show a compact HTML
summary whose counts are those of the runs, and the frame is a DataFrame otherwise."""

from __future__ import annotations

import re

import pandas as pd

import optbench


def test_load_and_results_show_a_compact_summary(tmp_path):
    res = optbench.run(problems=["quadratic-1d", "linear-regression[standardize=true]"],
                       optimizers=["gd[lr=[0.5/L,2.5/L]]"], seeds=3, budget=30,
                       out=tmp_path, report=False)
    frame = optbench.load(tmp_path)
    assert isinstance(frame, pd.DataFrame)
    page = frame._repr_html_()
    assert f"{len(frame)} runs" in page and len(frame) == 12
    assert "2 problems" in page and "2 optimizer settings" in page
    assert "linear-regression[standardize=true]" in page  # the variant, not just the name
    n_div = int((frame.status == "diverged").sum())
    assert n_div == 6 and f"diverged {n_div}" in page
    assert len(re.findall(r"<tr><td", page)) == 4  # one row per (problem, optimizer)
    assert len(page) < 5000  # compact: not 100 columns of 12 rows
    # what is derived from it is an ordinary frame, shown as pandas shows frames
    sub = frame[frame.seed == 0]
    assert type(sub) is pd.DataFrame and len(sub) == 4
    shown = res._repr_html_()
    assert "12 runs" in shown and str(res.db) in shown
