"""Resampling a stored landscape for a zoomed panel (optbench.report.figures.resample):
exact on quadratics over the whole grid, through the grid values, close to scipy's cubic
spline on a curved valley, and linear where the grid holds non-finite values."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RectBivariateSpline

from optbench.report.figures import resample

X = np.linspace(-2.0, 3.0, 41)
Y = np.linspace(-1.0, 1.0, 31)
XA = np.linspace(-2.0, 3.0, 97)  # edges included: the end condition matters there
YA = np.linspace(-1.0, 1.0, 83)


def _both(F, cubic=True):
    return resample(resample(F, Y, YA, 0, cubic), X, XA, 1, cubic)


def _on(fn, xs, ys):
    gx, gy = np.meshgrid(xs, ys)
    return fn(gx, gy)


def quadratic(x, y):
    return 1.3 * x * x - 0.7 * x * y + 2 * y * y + x - 3 * y + 0.5


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def test_a_bivariate_quadratic_is_reproduced_exactly_edges_included():
    got = _both(_on(quadratic, X, Y))
    np.testing.assert_allclose(got, _on(quadratic, XA, YA), rtol=0, atol=1e-12)


def test_grid_points_keep_the_stored_values():
    F = _on(rosenbrock, X, Y)
    np.testing.assert_allclose(resample(resample(F, Y, Y, 0), X, X, 1), F, rtol=1e-14)


def test_a_curved_valley_is_close_to_the_cubic_spline_and_third_order():
    F = _on(rosenbrock, X, Y)
    spline = RectBivariateSpline(Y, X, F)(YA, XA)
    truth = _on(rosenbrock, XA, YA)
    err = np.abs(_both(F) - truth).max()
    assert err < 2e-4 * np.ptp(F)
    assert np.abs(_both(F) - spline).max() < 2e-4 * np.ptp(F)
    # halving the step cuts the error about eightfold (third order), not fourfold (linear)
    x2, y2 = np.linspace(-2, 3, 81), np.linspace(-1, 1, 61)
    fine = resample(resample(_on(rosenbrock, x2, y2), y2, YA, 0), x2, XA, 1)
    assert np.abs(fine - truth).max() < err / 6


def test_non_finite_values_are_interpolated_linearly_and_stay_local():
    F = _on(quadratic, X, Y)
    F[10, 20] = np.inf
    got = _both(F, cubic=False)
    assert np.isfinite(got).mean() > 0.95  # only the cells beside the bad value
    linear = resample(resample(_on(quadratic, X, Y), Y, YA, 0, False), X, XA, 1, False)
    far = np.isfinite(got)
    np.testing.assert_allclose(got[far], linear[far])
    # linear interpolation of a quadratic errs by about h²/8 times its curvature
    assert np.abs(linear - _on(quadratic, XA, YA)).max() > 1e-4
