"""The ``ill-conditioned`` tag: on every built-in problem whose condition number κ = L/μ at
x* is at least 100, and on ill-conditioned-quadratic; κ itself checked against the
eigenvalues of a finite-difference Hessian at x*."""

from __future__ import annotations

import numpy as np
import pytest

from optbench import registry
from optbench.plan import build_problem, resolve_problem
from optbench.problem import ILL_CONDITIONED
from optbench.spec import parse


def _built():
    registry.load_builtins("problem")
    for entry in registry.entries("problem"):
        try:
            yield entry.name, build_problem(resolve_problem(parse(entry.name)))
        except Exception:  # noqa: BLE001 — needs an argument (a CSV file): not built here
            continue


def test_the_tag_follows_the_condition_number():
    tagged = set()
    for name, p in _built():
        kappa = p.L / p.mu if p.L is not None and p.mu else None
        ill = "ill-conditioned" in p.tags
        assert ill == (kappa is not None and kappa >= ILL_CONDITIONED
                       or name == "ill-conditioned-quadratic"), name
        tagged |= {name} if ill else set()
    assert {"rosenbrock", "ill-conditioned-quadratic"} <= tagged
    assert not {"quadratic-1d", "linear-regression", "booth"} & tagged


@pytest.mark.parametrize("name", ["rosenbrock", "beale", "booth"])
def test_kappa_at_x_star_is_the_hessians(name):
    p = build_problem(resolve_problem(parse(name)))
    x = np.asarray(p.x_star, dtype=float).ravel()
    h = 1e-5
    E = np.eye(p.dim)
    H = (p.grad(x + h * E) - p.grad(x - h * E)) / (2 * h)  # row i: the gradient moved along e_i
    eig = np.linalg.eigvalsh((H + H.T) / 2)
    assert eig.max() / eig.min() == pytest.approx(p.L / p.mu, rel=1e-4)
