"""Theory for quadratics against hand-written recursions, np.roots and the reference's numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optbench import theory

L = 4.0
# η·L grid; 1 and 2 are separate cases, values on a ceiling boundary of the settling formula avoided
GRID = [0.05, 0.3, 0.4, 0.7, 0.93, 1.07, 1.3, 1.5, 1.7, 1.9, 1.97]


def _gd_1d(eta_l: float, T: int, e0: float = 1.0) -> np.ndarray:
    e = [e0]
    for _ in range(T):
        e.append(e[-1] - (eta_l / L) * L * e[-1])
    return np.array(e)


def _first_settled(e: np.ndarray, delta: float) -> int | None:
    ok = np.abs(e) <= delta * abs(e[0])
    for t in range(len(e)):
        if ok[t:].all():
            return t
    return None


@pytest.mark.parametrize(
    "eta_l,expected",
    [
        (0.3, "monotone"),
        (0.999, "monotone"),
        (1.0, "one-step"),
        (1.0 + 1e-14, "one-step"),
        (1.5, "oscillating-convergent"),
        (2.0, "period-2"),
        (2.0 - 1e-13, "period-2"),
        (2.0001, "divergent"),
        (2.2, "divergent"),
    ],
)
def test_regime(eta_l, expected):
    assert theory.regime(eta_l / L, L) == expected


def test_regime_is_vectorized():
    out = theory.regime(np.array([0.5, 1.0, 1.5, 2.0, 3.0]) / L, L)
    assert list(out) == list(theory.REGIMES)


@pytest.mark.parametrize("eta_l", GRID + [1.0, 2.0])
def test_predicted_overshoot_matches_the_recursion(eta_l):
    e = _gd_1d(eta_l, 50)
    measured = 100 * max(0.0, np.max(-e) / e[0])  # e_t crosses to −e past x*
    assert theory.predicted_po(eta_l / L, L) == pytest.approx(measured, rel=1e-12, abs=1e-12)
    assert theory.predicted_po(eta_l / L, L) == pytest.approx(
        100 * max(0, eta_l - 1), rel=1e-12, abs=1e-12
    )


def test_overshoot_beyond_two_is_undefined_but_the_first_peak_is_finite():
    assert math.isnan(theory.predicted_po(2.2 / L, L))
    assert theory.predicted_po1(2.2 / L, L) == pytest.approx(120.0, rel=1e-12)
    e = _gd_1d(2.2, 3)
    assert 100 * (-e[1] / e[0]) == pytest.approx(120.0, rel=1e-12)


@pytest.mark.parametrize("eta_l", GRID + [1.0])
@pytest.mark.parametrize("delta", [0.02, 0.05])
def test_settling_time_matches_the_recursion(eta_l, delta):
    if eta_l != 1.0:
        x = math.log(delta) / math.log(abs(1 - eta_l))
        if abs(x - round(x)) < 1e-6:
            pytest.skip("on a ceiling boundary: rounding decides")
    e = _gd_1d(eta_l, 400)
    assert theory.settling_time(eta_l / L, L, delta) == _first_settled(e, delta)


def test_settling_time_reference_value_and_no_settling_at_two():
    assert theory.settling_time(0.4 / L, L, 0.02) == 8  # ⌈ln 0.02 / ln 0.6⌉ = ⌈7.66⌉
    assert theory.settling_time(2.0 / L, L, 0.02) == math.inf
    assert theory.settling_time(2.5 / L, L, 0.02) == math.inf
    with pytest.raises(ValueError, match="delta must be in"):
        theory.settling_time(0.1, L, 1.5)


def _c8_divergence_step(eta_l: float, dist0: float, h: float = 2.0) -> int:
    """Apply the runner's divergence test to a hand-simulated 1-D quadratic ½h·e²."""
    e, gap0 = dist0, 0.5 * h * dist0**2
    for t in range(1, 10_000):
        e = e - (eta_l / h) * h * e
        if 0.5 * h * e * e > 1e6 * max(gap0, 1e-16) or abs(e) > 1e3 * max(dist0, 1.0):
            return t
    raise AssertionError("no divergence")


@pytest.mark.parametrize("eta_l", [2.05, 2.2, 2.7, 4.0])
@pytest.mark.parametrize("dist0", [0.01, 0.5, 3.0, 40.0])
def test_divergence_step_matches_the_c8_rule(eta_l, dist0):
    assert theory.divergence_iter(eta_l / 2.0, 2.0, dist0) == _c8_divergence_step(eta_l, dist0)


def test_divergence_step_reference_value():
    assert theory.divergence_iter(2.2 / 2.0, 2.0, 0.5) == 38  # first t with 1.2^(2t) > 1e6
    assert theory.divergence_iter(1.9 / 2.0, 2.0, 0.5) == math.inf


def test_error_path_of_a_schedule_matches_the_recursion():
    # η_t = 0.6·0.97^t on L = 4 grows ×3.3 until η_t < 2/L at t = 6
    lrs = 0.6 * 0.97 ** np.arange(80)
    q = theory.gd_error_path(lrs, [4.0], [1.0])[:, 0]
    x = [1.0]
    for eta in lrs:
        x.append(x[-1] - eta * 4.0 * x[-1])
    np.testing.assert_allclose(q, x, rtol=1e-13)
    assert int(np.argmax(np.abs(q))) == 6
    assert abs(q[6]) == pytest.approx(3.3, abs=0.05)
    assert all(lrs[t] > 2 / 4.0 for t in range(6)) and lrs[6] < 2 / 4.0


def test_error_path_in_n_d_matches_gradient_descent():
    rng = np.random.default_rng(3)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    A = Q @ np.diag([0.5, 2.0, 9.0]) @ Q.T
    lam, V = np.linalg.eigh(A)
    x0 = rng.standard_normal((2, 3))
    lrs = np.column_stack([np.full(40, 0.2), 0.21 * 0.95 ** np.arange(40)])  # two runs
    x = x0.copy()
    xs = [x]
    for t in range(40):
        x = x - lrs[t][:, None] * (x @ A.T)
        xs.append(x)
    q = theory.gd_error_path(lrs, lam, x0 @ V)
    np.testing.assert_allclose(q @ V.T, np.stack(xs), rtol=1e-10, atol=1e-14)
    gap = np.einsum("tbi,ij,tbj->tb", np.stack(xs), A, np.stack(xs)) / 2
    np.testing.assert_allclose(theory.gap_path(q, lam), gap, rtol=1e-10)


def test_rates_on_diag_1_100():
    # (κ−1)/(κ+1) = 99/101 = 0.980198 at η* = 2/(μ+L), 0.990000 at η = 1/L
    assert theory.gd_rate(2 / 101, [1.0, 100.0]) == pytest.approx(0.980198, abs=5e-7)
    assert theory.gd_rate(1 / 100, [1.0, 100.0]) == pytest.approx(0.99, rel=1e-14)
    assert theory.gd_rate(1 / 100, [1.0, 100.0]) == pytest.approx(99 / 100, rel=1e-14)


def test_constant_times_in_n_d_match_brute_force():
    lam = np.array([1.0, 7.0])
    q0 = np.array([[1.0, 2.0], [3.0, -0.5], [0.2, 0.2], [1.0, 1.0]])
    lr = np.array([0.1, 0.25, 0.3, 0.05])  # the third trips 2/λ_max: diverges
    (s2, s5), div = theory.gd_constant_times(lr, lam, q0)
    for b in range(4):
        rho = 1 - lr[b] * lam
        q = np.array([q0[b] * rho**t for t in range(3000)])
        dist = np.linalg.norm(q, axis=1)
        gap = 0.5 * (q**2 @ lam)
        for s, delta in ((s2, 0.02), (s5, 0.05)):
            expected = _first_settled(dist, delta)
            assert (s[b] if np.isfinite(s[b]) else None) == expected
        fired = np.flatnonzero((gap > 1e6 * max(gap[0], 1e-16)) | (dist > 1e3 * max(dist[0], 1.0)))
        assert (div[b] if np.isfinite(div[b]) else None) == (fired[0] if fired.size else None)
    assert np.isfinite(div[2]) and not np.isfinite(div[0])


def _brute_overshoot(lr: float, lam: np.ndarray, q0: np.ndarray, T: int) -> tuple[float, float]:
    """po and po1 of constant-rate GD read off the path itself, t = 0..T (a plain loop)."""
    q = q0.astype(float).copy()
    u = q0 / np.linalg.norm(q0)
    rho = 1.0 - lr * lam
    top = first = 0.0
    seen = ended = False
    for _ in range(T + 1):
        c = float(q @ u) / np.linalg.norm(q0)
        top = max(top, -c)
        if c < 0 and not ended:
            seen, first = True, max(first, -c)
        elif seen:
            ended = True
        q = q * rho
    return 100 * top, 100 * first


def test_constant_gd_overshoot_in_1_d_is_eta_l_minus_one():
    # c_t = (1 − ηλ)^t: the largest −c_t is at t = 1, ηλ − 1 when 1 < ηλ < 2, else none
    eta_l = np.array(GRID)
    po, po1 = theory.gd_constant_overshoot(eta_l / L, [L], np.ones((len(GRID), 1)))
    expected = 100 * np.maximum(0.0, eta_l - 1.0)
    np.testing.assert_allclose(po, expected, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(po1, expected, rtol=1e-13, atol=1e-12)


def test_constant_gd_overshoot_in_n_d_matches_the_path():
    rng = np.random.default_rng(3)
    for _ in range(20):
        lam = np.sort(rng.uniform(0.1, 3.0, rng.integers(2, 4)))
        lr = rng.uniform(0.0, 2.0 / lam[-1], 6)
        q0 = rng.standard_normal((6, lam.size))
        po, po1 = theory.gd_constant_overshoot(lr, lam, q0)
        for b in range(6):
            want, want1 = _brute_overshoot(lr[b], lam, q0[b], 2000)
            assert po[b] == pytest.approx(want, rel=1e-10, abs=1e-10)
            assert po1[b] == pytest.approx(want1, rel=1e-10, abs=1e-10)


def test_constant_gd_overshoot_past_the_old_horizon():
    # −c_t = 0.4·(1 − 1e-5)^t − 0.6·(1 − 1e-4)^t at odd t: negative until t ≈ 4,500, largest
    # near t = ln(15)/9e-5 ≈ 30,090, long after the 16,384 updates a path used to be followed
    lam = np.array([1e-4, 2.0 - 1e-5])
    q0 = np.sqrt([[0.6, 0.4]])
    po, po1 = theory.gd_constant_overshoot([1.0], lam, q0, max_t=10**6)
    t = np.arange(1, 200_001, 2, dtype=float)
    neg_c = 0.4 * (1 - 1e-5) ** t - 0.6 * (1 - 1e-4) ** t
    assert 25_000 < t[np.argmax(neg_c)] < 35_000
    assert po[0] == pytest.approx(100 * neg_c.max(), rel=1e-9)
    # the first stretch below x* is one update long (every even t is above): the first odd
    # t at which 0.4·|ρ₁|^t overtakes 0.6·ρ₂^t
    # (a difference of two terms of about 40 %: compared to their rounding, not its own)
    assert po1[0] == pytest.approx(100 * neg_c[np.argmax(neg_c > 0)], abs=1e-9)
    assert 0 < po1[0] < 1e-2


def test_constant_gd_overshoot_edge_cases():
    # a zero start error is undefined; a diverging run has no po but a first peak
    po, po1 = theory.gd_constant_overshoot([0.1, 0.3], [7.0], [[0.0], [1.0]], skip=[False, True])
    assert np.isnan(po).all() and np.isnan(po1[0]) and po1[1] == pytest.approx(110.0)
    # on the stability edge (ηλ = 2) the path never decides: read up to max_t
    po, _ = theory.gd_constant_overshoot([1.0], [0.5, 2.0], [[1.0, 1.0]], max_t=501)
    want, _ = _brute_overshoot(1.0, np.array([0.5, 2.0]), np.array([1.0, 1.0]), 501)
    assert po[0] == pytest.approx(want, rel=1e-12)


# -- heavy ball ---------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 0.81, 0.95])
def test_heavy_ball_band_is_where_the_poles_are_complex(beta):
    lo, hi = theory.heavy_ball_band(beta)
    for r in np.linspace(1e-3, 2 * (1 + beta) - 1e-3, 157):
        z = np.roots([1.0, -(1 + beta - r), beta])
        complex_poles = abs(z[0].imag) > 1e-9
        inside = lo + 1e-9 < r < hi - 1e-9
        if abs(r - lo) > 1e-6 and abs(r - hi) > 1e-6:
            assert complex_poles == inside
        if inside:
            np.testing.assert_allclose(np.abs(z), math.sqrt(beta), rtol=1e-9)
        assert theory.heavy_ball_rate(r, [1.0], beta) == pytest.approx(
            np.max(np.abs(z)), rel=1e-7, abs=1e-7
        )


@pytest.mark.parametrize("beta", [0.25, 0.5, 0.9])
def test_heavy_ball_regime_against_the_poles(beta):
    lo, hi = theory.heavy_ball_band(beta)
    for r in np.linspace(0.01, 2 * (1 + beta) + 1.0, 101):
        if min(abs(r - lo), abs(r - hi), abs(r - 2 * (1 + beta))) < 1e-6:
            continue
        z = np.roots([1.0, -(1 + beta - r), beta])
        reg = theory.heavy_ball_regime(r, 1.0, beta)
        if np.max(np.abs(z)) > 1:
            assert reg == "divergent"
        elif abs(z[0].imag) > 1e-12:
            assert reg == "under-damped"
        elif np.all(z.real > 0):
            assert reg == "over-damped"
        else:
            assert reg == "oscillating-convergent"
    assert theory.heavy_ball_regime(2 * (1 + beta), 1.0, beta) == "period-2"
    assert theory.heavy_ball_regime(hi, 1.0, beta) == "critically-damped"


def test_heavy_ball_optimal_rate_for_kappa_100():
    mu, Lk = 1.0, 100.0
    eta = 4 / (math.sqrt(Lk) + math.sqrt(mu)) ** 2
    beta = ((10 - 1) / (10 + 1)) ** 2
    assert theory.heavy_ball_rate(eta, [mu, Lk], beta) == pytest.approx(9 / 11, rel=1e-6)


def test_heavy_ball_path_matches_the_pytorch_recursion():
    lam = np.array([0.7, 3.0])
    q0 = np.array([1.0, -2.0])
    lrs = 0.4 * 0.98 ** np.arange(60)
    beta = 0.6
    q, b, out = q0.copy(), None, [q0.copy()]
    for eta in lrs:
        g = lam * q
        b = g if b is None else beta * b + g  # torch.optim.SGD: b_1 = g_1
        q = q - eta * b
        out.append(q.copy())
    np.testing.assert_allclose(theory.heavy_ball_error_path(lrs, lam, q0, beta), out, rtol=1e-12)


def test_bad_values_are_value_errors():
    with pytest.raises(ValueError, match="lr must be > 0, got -0.1"):
        theory.regime(-0.1, 2.0)
    with pytest.raises(ValueError, match="L must be > 0"):
        theory.settling_time(0.1, 0.0)
    with pytest.raises(ValueError, match="beta must be in"):
        theory.heavy_ball_band(1.0)
