"""Fast paths against the plain computation they replace: aRT of many targets at once
(optbench.stats.average_runtime.art_columns) equals the
one-target aRT applied column by column, with failures, NaN and infinite costs, and no runs;
the learning-rate table's most common word is pandas' mode."""

from __future__ import annotations

import numpy as np
import pytest

from optbench.stats.average_runtime import art, art_columns


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_each_column_equals_art(n):
    rng = np.random.default_rng(n)
    hits = rng.uniform(0.2, 500, (n, 6))
    hits[rng.random((n, 6)) < 0.4] = np.inf
    hits[rng.random((n, 6)) < 0.1] = np.nan
    hits[:, 5] = np.inf  # a target no run reached
    used = rng.uniform(0, 800, n)
    if n:
        used[0] = np.nan  # charged at least 1, as art charges it
    got = art_columns(hits, used)
    want = np.array([art(hits[:, j], used) for j in range(6)])
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert np.array_equal(np.isinf(got), np.isinf(want))
    assert np.array_equal(np.isnan(got), np.isnan(want))


@pytest.mark.parametrize("values", [["b", "a", "b", "a"], ["overshoot", "monotone", "monotone"],
                                    ["x"], ["c", "b", "a"]])
def test_the_learning_rate_tables_mode_is_pandas_mode(values):
    import pandas as pd

    from optbench.reports.learning_rate import _mode

    assert _mode(values) == pd.Series(values).mode().iloc[0]
