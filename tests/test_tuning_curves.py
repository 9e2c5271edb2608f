"""expected_best against the definition: every sequence of k draws from the K trials
enumerated (exact), ties and failed trials included."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optbench.stats import expected_best, expected_best_band, median_best


def _enumerate(values, k, minimize=True, stat=np.mean):
    best = [min(d) if minimize else max(d) for d in itertools.product(values, repeat=k)]
    return stat(best)


@pytest.mark.parametrize("minimize", [True, False])
@pytest.mark.parametrize(
    "values",
    [[3.0, 1.0, 2.0], [0.5, 0.5, 2.0, -1.0], [4.0, 4.0, 4.0], [7.0], [1.5, -2.0, 3.25, 0.0, 9.0]],
)
def test_expected_best_equals_the_mean_over_every_draw(values, minimize):
    for k in range(1, 5):
        assert expected_best(values, k, minimize) == pytest.approx(
            _enumerate(values, k, minimize), rel=1e-12, abs=1e-12
        )
    ks = np.array([1, 2, 3, 4])
    np.testing.assert_allclose(
        expected_best(values, ks, minimize),
        [_enumerate(values, k, minimize) for k in ks],
        rtol=1e-12, atol=1e-12,
    )


def test_one_trial_is_the_mean_and_many_trials_the_best():
    v = np.random.default_rng(3).normal(size=12)
    assert expected_best(v, 1) == pytest.approx(v.mean(), rel=1e-12)
    assert expected_best(v, 5000) == pytest.approx(v.min(), rel=1e-9)
    assert expected_best(v, 5000, minimize=False) == pytest.approx(v.max(), rel=1e-9)
    curve = expected_best(v, np.arange(1, 30))
    assert np.all(np.diff(curve) <= 1e-15)  # more trials never hurt


def test_failed_trials_make_the_mean_infinite_but_not_the_median():
    v = [1.0, 2.0, np.inf]
    assert expected_best(v, 3) == np.inf
    # the median best of k draws, enumerated
    for k in range(1, 5):
        assert median_best(v, k) == _enumerate(v, k, stat=lambda b: np.sort(b)[(len(b) - 1) // 2])
    assert median_best([np.inf, np.inf, 1.0], 1) == np.inf
    assert median_best([np.inf, np.inf, 1.0], 2) == 1.0  # 1 - (2/3)^2 = 5/9 >= 1/2


def test_the_band_holds_the_curve_and_closes_on_equal_trials():
    v = np.random.default_rng(0).lognormal(size=16)
    ks = np.array([1, 2, 4, 8, 16])
    lo, hi = expected_best_band(v, ks, n_boot=400)
    mid = expected_best(v, ks)
    assert np.all(lo <= mid + 1e-12) and np.all(mid <= hi + 1e-12) and np.all(hi > lo)
    lo, hi = expected_best_band([2.0] * 6, ks)
    np.testing.assert_allclose(lo, 2.0, rtol=1e-12)
    np.testing.assert_allclose(hi, 2.0, rtol=1e-12)


@pytest.mark.parametrize(
    "values, k, match",
    [([], 1, "at least one"), ([1.0, np.nan], 1, "nan"), ([1.0], 0, "at least 1"),
     ([1.0], 1.5, "whole")],
)
def test_bad_input_says_what_was_expected(values, k, match):
    with pytest.raises(ValueError, match=match):
        expected_best(values, k)
