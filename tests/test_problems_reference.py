"""The catalog against independently derived constants (stated per test) and against scipy.

Each constant below is copied from the reference (re-derived there by global search and local
polish), so a typo in a problem's declared x*, f* or formula fails here; the conformance
suite in test_problems.py checks every problem's internal consistency.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq, minimize, rosen, rosen_der, rosen_hess

from optbench.errors import InvalidValueError
from optbench.plan import build_problem, resolve_problem
from optbench.spec import parse


def P(text: str):
    return build_problem(resolve_problem(parse(text)))


def f1(p, x: float) -> float:
    return float(p.f(np.array([[x]]))[0])


# -- 1-D --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, x_star, f_star",
    [
        ("tilted-double-well", -1.035578714088854, -0.305428483743916),
        ("gramacy-lee", 0.548563444527605, -0.869011134989500),
        ("forrester", 0.757248757841856, -6.02074005576708),
        ("ill-scaled-quadratic", 1.5, 0.0),
        ("quartic", 0.0, 0.0),
        ("absolute-value", 0.0, 0.0),
        ("huber", 0.0, 0.0),
        ("rastrigin-1d", 0.0, 0.0),
        ("ackley-1d", 0.0, 0.0),
        ("plateau-well", 0.0, 0.0),
        ("asymmetric-valley", 0.0, 0.0),
        ("log-cosh", 1.0, 0.0),
        ("noisy-quadratic", 0.0, 0.0),
    ],
)
def test_one_d_minimizers_are_the_references(name, x_star, f_star):
    p = P(name)
    assert p.x_star.tolist() == [[x_star]]
    assert p.f_star == f_star
    assert f1(p, x_star) == pytest.approx(f_star, abs=1e-13)


@pytest.mark.parametrize(
    "name, domain",
    [
        ("ill-scaled-quadratic", (-8.5, 11.5)),
        ("quartic", (-2, 2)),
        ("absolute-value", (-2, 2)),
        ("huber", (-5, 5)),
        ("tilted-double-well", (-2, 2)),
        ("gramacy-lee", (0.5, 2.5)),
        ("forrester", (0, 1)),
        ("rastrigin-1d", (-5.12, 5.12)),
        ("ackley-1d", (-32.768, 32.768)),
        ("plateau-well", (-5, 5)),
        ("asymmetric-valley", (-4, 2)),
        ("log-cosh", (-10, 10)),
        ("noisy-quadratic", (-5, 5)),
    ],
)
def test_one_d_domains_are_the_references(name, domain):
    p = P(name)
    assert (p.lower[0], p.upper[0]) == domain


def test_the_local_minima_and_maxima_the_reference_lists():
    dw, fo = P("tilted-double-well"), P("forrester")
    for p, x, f in [
        (dw, 0.960149555519, 0.294146481028),
        (fo, 0.142589189325, -0.986325406321),
        (fo, 0.524077477342, 0.986325406321),
        (dw, 0.07542916, None),
    ]:
        root = brentq(
            lambda t, p=p: float(p.grad(np.array([[t]]))[0, 0]), x - 1e-3, x + 1e-3, xtol=1e-14
        )
        assert root == pytest.approx(x, abs=1e-8)
        if f is not None:
            assert f1(p, x) == pytest.approx(f, abs=1e-11)


@pytest.mark.parametrize(
    "name, curvature",
    [
        ("tilted-double-well", 8.869),
        ("gramacy-lee", 899.8),
        ("forrester", 1068),
        ("rastrigin-1d", 2 + 40 * np.pi**2),
        ("plateau-well", 16.0),
        ("asymmetric-valley", 4.0),
        ("ill-scaled-quadratic", 100.0),
        ("huber", 1.0),
        ("log-cosh", 1.0),
        ("noisy-quadratic", 2.0),
    ],
)
def test_one_d_curvature_at_the_minimum(name, curvature):
    p = P(name)
    assert p.L == pytest.approx(curvature, rel=5e-4)
    x = p.x_star[0, 0]
    h = 1e-4
    second = (f1(p, x + h) - 2 * f1(p, x) + f1(p, x - h)) / h**2  # from f alone
    assert second == pytest.approx(curvature, rel=1e-3)


def test_one_d_formulas_at_a_few_points():
    x = np.array([0.3, 1.7, -1.2])
    X = x[:, None]
    np.testing.assert_allclose(P("huber[delta=1]").f(X), [0.045, 1.2, 0.7], rtol=1e-14)
    np.testing.assert_allclose(P("log-cosh").f(X), np.log(np.cosh(x - 1)), rtol=1e-12)
    np.testing.assert_allclose(P("asymmetric-valley").f(X), np.exp(2 * x) - 2 * x - 1, rtol=1e-12)
    np.testing.assert_allclose(
        P("plateau-well").f(X), 1 - np.exp(-(x**2) / (2 * 0.25**2)), rtol=1e-12
    )
    np.testing.assert_allclose(
        P("rastrigin-1d").f(X), 10 + x**2 - 10 * np.cos(2 * np.pi * x), rtol=1e-12
    )
    ackley = -20 * np.exp(-0.2 * np.abs(x)) - np.exp(np.cos(2 * np.pi * x)) + 20 + np.e
    np.testing.assert_allclose(P("ackley-1d").f(X), ackley, rtol=1e-12)
    np.testing.assert_allclose(
        P("gramacy-lee").f(X[1:2]), np.sin(17 * np.pi) / 3.4 + 0.7**4, rtol=1e-12
    )
    # log-cosh stays finite where cosh overflows: log cosh u = |u| − log 2 + O(e^{−2|u|})
    big = P("log-cosh").f(np.array([[1e6], [-1e6]]))
    np.testing.assert_allclose(big, [1e6 - 1 - np.log(2), 1e6 + 1 - np.log(2)], rtol=1e-15)
    # the slopes of the plateau: |f'| <= 0.0054 for |x| >= 1 (sigma = 0.25)
    g = P("plateau-well").grad(np.linspace(1, 5, 1000)[:, None])
    assert np.abs(g).max() == pytest.approx(0.0054, abs=5e-5)
    # the cliff of the asymmetric valley: f''(2) = 4e⁴ ≈ 218
    assert P("asymmetric-valley").hess(np.array([[2.0]]))[0, 0, 0] == pytest.approx(4 * np.e**4)


def test_ackley_is_exactly_zero_at_its_minimum_and_never_below():
    for text in ("ackley-1d", "ackley[d=2]", "ackley[d=7]"):
        p = P(text)
        assert p.f(p.x_star)[0] == 0.0
        X = np.random.default_rng(0).uniform(-1e-8, 1e-8, (100, p.dim))
        assert np.all(p.f(X) >= 0)


# -- n-D --------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 5, 10])
def test_rosenbrock_agrees_with_scipy(d):
    p = P(f"rosenbrock[d={d}]")
    X = np.random.default_rng(d).uniform(-2, 2, (5, d))
    np.testing.assert_allclose(p.f(X), [rosen(x) for x in X], rtol=1e-13)
    np.testing.assert_allclose(p.grad(X), [rosen_der(x) for x in X], rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(p.hess(X), [rosen_hess(x) for x in X], rtol=1e-12, atol=1e-10)
    np.testing.assert_array_equal(p.x_star, np.ones((1, d)))


@pytest.mark.parametrize(
    "d, stable_lr, kappa", [(2, 0.0019968, 2508), (5, 0.0012127, 3316), (10, 0.0011345, 3535)]
)
def test_rosenbrock_curvature_is_the_references(d, stable_lr, kappa):
    p = P(f"rosenbrock[d={d}]")
    assert 2 / p.L == pytest.approx(stable_lr, rel=1e-4)
    assert p.L / p.mu == pytest.approx(kappa, rel=5e-4)


def test_rosenbrock_d5_second_local_minimum_lies_above_f_star():
    p = P("rosenbrock[d=5]")
    x0 = [-0.962051, 0.935739, 0.880714, 0.777878, 0.605094]
    res = minimize(
        lambda x: p.f(x[None])[0],
        x0,
        jac=lambda x: p.grad(x[None])[0],
        method="BFGS",
        options={"gtol": 1e-10},
    )
    assert res.fun == pytest.approx(3.930839, abs=1e-6)
    np.testing.assert_allclose(res.x, x0, atol=1e-5)


def test_himmelblau_has_the_four_reference_minima():
    p = P("himmelblau")
    ref = [
        (3.0, 2.0),
        (-2.805118086952745, 3.131312518250573),
        (-3.779310253377747, -3.283185991286170),
        (3.584428340330492, -1.848126526964404),
    ]
    assert sorted(map(tuple, p.x_star.tolist())) == sorted(ref)
    np.testing.assert_allclose(p.f(p.x_star), 0, atol=1e-24)
    eig = np.linalg.eigvalsh(p.hess(np.array([[3.0, 2.0]]))[0])
    np.testing.assert_allclose(eig, [25.72, 82.28], rtol=1e-3)
    assert 2 / eig.max() == pytest.approx(0.0243, rel=2e-3)


def test_beale_and_booth_are_the_references():
    beale = P("beale")
    assert beale.x_star.tolist() == [[3.0, 0.5]] and beale.f_star == 0.0
    assert (beale.L, beale.mu) == pytest.approx((48.98, 0.3015), rel=2e-4)
    x, y = 1.3, -0.7
    expected = (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2
    assert beale.f(np.array([[x, y]]))[0] == pytest.approx(expected, rel=1e-14)
    booth = P("booth")
    np.testing.assert_array_equal(booth.hessian, [[10, 8], [8, 10]])
    assert booth.x_star.tolist() == [[1.0, 3.0]] and (booth.L, booth.mu) == (18.0, 2.0)
    assert booth.f(np.array([[x, y]]))[0] == pytest.approx(
        (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2
    )


@pytest.mark.parametrize("d", [1, 2, 5])
def test_styblinski_tang_uses_the_corrected_constant(d):
    p = P(f"styblinski-tang[d={d}]")
    assert p.f_star == pytest.approx(-39.16616570377141 * d, rel=1e-15)
    assert p.f_star < -39.166 * d  # not the −39.16599·d that circulates (problems/nd_multimodal.py)
    np.testing.assert_array_equal(p.x_star, np.full((1, d), -2.903534027771177))
    # the per-axis minimum, found independently of the declared x*
    xi = brentq(lambda t: 0.5 * (4 * t**3 - 32 * t + 5), -3.5, -2.5, xtol=1e-15)
    assert xi == pytest.approx(-2.903534027771177, abs=1e-12)
    assert p.f(np.full((1, d), xi))[0] == pytest.approx(-39.16616570377141 * d, rel=1e-14)
    assert 2 / p.L == pytest.approx(0.0578, rel=1e-3)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_rastrigin_and_ackley_formulas(d):
    X = np.random.default_rng(d).uniform(-3, 3, (4, d))
    r = P(f"rastrigin[d={d}]")
    np.testing.assert_allclose(
        r.f(X), 10 * d + np.sum(X**2 - 10 * np.cos(2 * np.pi * X), axis=1), rtol=1e-12
    )
    a = P(f"ackley[d={d}]")
    expected = (
        -20 * np.exp(-0.2 * np.sqrt(np.mean(X**2, axis=1)))
        - np.exp(np.mean(np.cos(2 * np.pi * X), axis=1))
        + 20
        + np.e
    )
    np.testing.assert_allclose(a.f(X), expected, rtol=1e-12)
    assert (r.lower[0], r.upper[0], a.lower[0], a.upper[0]) == (-5.12, 5.12, -32.768, 32.768)


@pytest.mark.parametrize("d, rotate", [(2, False), (6, False), (6, True)])
def test_ill_conditioned_quadratic_has_the_designed_spectrum(d, rotate):
    p = P(
        f"ill-conditioned-quadratic[d={d},kappa=1000,rotate={str(rotate).lower()},rotation_seed=4]"
    )
    lam = 1000.0 ** (np.arange(d) / (d - 1))
    np.testing.assert_allclose(np.linalg.eigvalsh(p.hessian), lam, rtol=1e-12)
    assert (p.L, p.mu) == (1000.0, 1.0)
    np.testing.assert_array_equal(p.x_star, np.ones((1, d)))
    off = p.hessian - np.diag(np.diag(p.hessian))
    assert (np.abs(off).max() > 1.0) == rotate
    if rotate:  # the seed decides the rotation
        q = P(f"ill-conditioned-quadratic[d={d},rotate=true,rotation_seed=5]")
        assert not np.allclose(p.hessian, q.hessian)


# -- bad input: one line naming the parameter, the value and what is allowed ---------------------


@pytest.mark.parametrize(
    "text, words",
    [
        ("rosenbrock[d=1]", ["d must be", ">= 2", "got 1"]),
        ("rosenbrock[d=2.5]", ["d must be", "got 2.5"]),
        ("rastrigin[d=0]", ["d must be", "got 0"]),
        ("styblinski-tang[d=-3]", ["d must be", "got -3"]),
        ("noisy-quadratic[noise=-1]", ["noise must be >= 0", "got -1"]),
        ("linear-regression[noise=-0.5]", ["noise must be >= 0", "got -0.5"]),
        ("ill-conditioned-quadratic[kappa=0.5]", ["kappa must be in [1, 1e100]", "got 0.5"]),
        ("ill-conditioned-quadratic[d=1]", ["d must be", "got 1"]),
        ("huber[delta=0]", ["delta must be in (0, 1e100]", "got 0"]),
        ("asymmetric-valley[a=-1]", ["a must be in [1e-100, 1e100]", "got -1"]),
        ("plateau-well[sigma=9]", ["sigma must be in (0, 2.5]", "got 9"]),
        ("ill-scaled-quadratic[h=-100]", ["h must be in (0, 1e100]", "got -100"]),
        ("linear-regression[batch_size=0]", ["batch_size must be", "[1, 100]", "got 0"]),
        ("linear-regression[batch_size=101]", ["batch_size must be", "[1, 100]", "got 101"]),
        ("linear-regression-nd[p=2,weights=[1,2,3]]", ["weights must be", "p = 2", "[1, 2, 3]"]),
        ("linear-regression-nd[p=3,n=3]", ["n must be", ">= 4", "got 3"]),
        ("linear-regression[x_low=2,x_high=1]", ["x_high must be > x_low", "got 1"]),
    ],
)
def test_bad_values_give_one_line_naming_the_parameter(text, words):
    with pytest.raises(InvalidValueError) as info:
        from optbench.plan import make_plan

        make_plan([text], ["gd"], seeds=1, budget=1)
    message = str(info.value)
    assert message.startswith(f"problem {parse(text).name!r}: ")
    assert "\n" not in message
    for word in words:
        assert word in message


def test_landscape_takes_an_explicit_window_and_refuses_a_bad_one():
    p = P("rosenbrock")
    X1, X2, F = p.landscape(n=3, window=[(0, 1), (-1, 1)])
    np.testing.assert_array_equal(X1[0], [0, 0.5, 1])
    np.testing.assert_array_equal(X2[:, 0], [-1, 0, 1])
    assert F[1, 2] == rosen([1.0, 0.0])
    xs, fs = P("quartic").landscape(n=5, window=(-1, 1))
    np.testing.assert_array_equal(fs, [1, 0.0625, 0, 0.0625, 1])
    with pytest.raises(InvalidValueError, match="window must be 2 pair"):
        p.landscape(window=[(1, 0), (0, 1)])
    with pytest.raises(InvalidValueError, match="1-D and 2-D"):
        P("rosenbrock[d=3]").landscape()


def test_list_problems_json_shows_the_catalog(cli):
    import json

    from optbench import registry

    r = cli("list", "problems", "--json")
    assert r.returncode == 0, r.stderr
    listed = {e["name"]: e for e in json.loads(r.stdout)}
    builtin = {e.name for e in registry.entries("problem") if e.origin == "builtin"}
    assert builtin <= set(listed)  # (plug-ins other tests load may be listed too)
    listed = {k: v for k, v in listed.items() if k in builtin}
    for e in listed.values():
        assert len(e["description"]) > 20
        if "error" in e:  # a problem that needs a parameter, or an extra not installed (bbob)
            assert any(p["required"] for p in e["params"]) or "pip install" in e["error"], e[
                "error"]
        elif e["name"] == "mlp":  # a neural network: no known minimum
            assert e["dim"] >= 1 and e["f_star"] is None and "ml" in e["tags"]
        else:
            assert e["dim"] >= 1 and e["f_star"] is not None and e["x_star"]
    assert listed["styblinski-tang"]["f_star"] == pytest.approx(-39.16616570377141 * 2, rel=1e-15)
