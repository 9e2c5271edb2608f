"""The scaling suite: named tunings resolved from L and μ, per-problem budgets, Nesterov's
predicted rate, the double-pole rate fit, and measured rates against the closed forms on a
real (small-κ) run of the suite's quadratics, read back through the Scaling section."""

from __future__ import annotations

import math

import numpy as np
import pytest

import optbench
from optbench import theory
from optbench.errors import SpecError, UsageError
from optbench.plan import build_problem, make_plan, resolve_problem
from optbench.spec import format_spec, parse
from optbench.suite import SCALING_OPTIMIZERS, scaling_budget, scaling_suite
from tests.conftest import fork_cli

KAPPAS = (10, 100)
DIMS = (2, 10)
BOUNDS = {"gd": 0.05, "gd-opt": 0.05, "hb": 0.10, "nesterov": 0.10}


def closed_rate(kind: str, kappa: float) -> float:
    """The textbook rates, written out here rather than read from optbench."""
    s = math.sqrt(kappa)
    return {
        "gd": 1 - 1 / kappa,
        "gd-opt": (kappa - 1) / (kappa + 1),
        "hb": (s - 1) / (s + 1),
        "nesterov": 1 - 1 / s,
    }[kind]


def kind_of(label: str) -> str | None:
    return {
        "gd[lr=1/L]": "gd",
        "gd[lr=gd-opt]": "gd-opt",
        "momentum[lr=hb-opt,momentum=hb-opt]": "hb",
        "nesterov[lr=nesterov-opt,momentum=nesterov-opt]": "nesterov",
    }.get(label)


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory):
    """The suite's quadratics and predicted families at κ ∈ {10, 100}, d ∈ {2, 10}, each κ
    at the suite's own budget; a real run into a store."""
    out = tmp_path_factory.mktemp("scaling")
    problems = [f"ill-conditioned-quadratic[kappa={k},d=[2,10]]" for k in KAPPAS]
    optbench.run(
        {"budgets": {p: scaling_budget(k) for p, k in zip(problems, KAPPAS, strict=True)}},
        problems=problems,
        optimizers=[o for o in SCALING_OPTIMIZERS if kind_of(o)],
        seeds=2,
        out=out,
        report=False,
    )
    return out / "results.sqlite"


def test_named_tunings_resolve_from_the_problems_eigenvalues():
    spec = parse("ill-conditioned-quadratic[kappa=300,d=4,rotate=true]")
    problem = build_problem(resolve_problem(spec))
    lam = np.linalg.eigvalsh(np.asarray(problem.hessian))
    L, mu = lam.max(), lam.min()
    r = (math.sqrt(L / mu) - 1) / (math.sqrt(L / mu) + 1)
    plan = make_plan([format_spec(spec)], SCALING_OPTIMIZERS[:4], budget=5)
    got = {run.label: dict(run.optimizer.params) for run in plan.runs}
    assert got["gd[lr=1/L]"]["lr"] == pytest.approx(1 / L, rel=1e-12)
    assert got["gd[lr=gd-opt]"]["lr"] == pytest.approx(2 / (L + mu), rel=1e-12)
    hb = got["momentum[lr=hb-opt,momentum=hb-opt]"]
    assert hb["lr"] == pytest.approx(4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, rel=1e-12)
    assert hb["momentum"] == pytest.approx(r * r, rel=1e-12)
    nag = got["nesterov[lr=nesterov-opt,momentum=nesterov-opt]"]
    assert nag["lr"] == pytest.approx(1 / L, rel=1e-12)
    assert nag["momentum"] == pytest.approx(r, rel=1e-12)


def test_named_tunings_read_back_as_written():
    text = "momentum[lr=hb-opt,momentum=hb-opt]"
    assert format_spec(parse(text)) == text
    # a word that is not a tuning stays a word (a string value)
    assert parse("gd[schedule=cosine]").params["schedule"] == "cosine"


@pytest.mark.parametrize(
    ("problem", "optimizer", "needle"),
    [
        ("mlp", "gd[lr=gd-opt]", "strong-convexity constant μ"),
        ("ackley", "momentum[lr=hb-opt,momentum=hb-opt]", "strong-convexity constant μ"),
        ("quadratic-1d", "momentum[lr=0.1,dampening=hb-opt]", "sets lr and momentum only"),
    ],
)
def test_a_tuning_the_problem_cannot_resolve_is_refused_in_one_line(problem, optimizer, needle):
    with pytest.raises(SpecError) as err:
        make_plan([problem], [optimizer], budget=5)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_a_problem_with_L_but_no_mu_refuses_the_tunings_and_keeps_k_over_L(tmp_path):
    from optbench import registry

    plugin = tmp_path / "no_mu_problem.py"
    plugin.write_text(
        "from optbench import Problem, register_problem\n"
        "@register_problem('scaling-bowl-without-mu')\n"
        "def bowl():\n"
        "    return Problem(dim=1, f=lambda X: X[:, 0] ** 2, grad=lambda X: 2 * X,\n"
        "                   bounds=([-3.0], [3.0]), x_star=[[0.0]], f_star=0.0, L=2.0)\n"
    )
    registry.load_plugin(str(plugin))
    with pytest.raises(SpecError, match="strong-convexity constant μ"):
        make_plan(["scaling-bowl-without-mu"], ["gd[lr=gd-opt]"], budget=5)
    (run,) = make_plan(["scaling-bowl-without-mu"], ["gd[lr=1/L]"], budget=5).runs
    assert run.optimizer.params["lr"] == 0.5


def test_the_command_line_refuses_it_with_exit_2_and_no_traceback(tmp_path):
    proc = fork_cli("run", "-p", "ackley", "-o", "nesterov[lr=nesterov-opt,momentum=0.5]",
                   "--out", str(tmp_path / "o"), "--no-report", "--quiet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nesterov-opt" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "results.sqlite").exists()


def test_per_problem_budgets_and_iteration_limits():
    plan = make_plan(
        ["quadratic-1d", "ill-conditioned-quadratic[kappa=[10,20]]"],
        ["gd"],
        budget=7,
        budgets={"ill-conditioned-quadratic[kappa=[10,20]]": 30},
    )
    got = {(r.problem.name, r.budget, r.max_iter) for r in plan.runs}
    assert got == {("quadratic-1d", 7, 7), ("ill-conditioned-quadratic", 30, 30)}
    with pytest.raises(UsageError, match="not one of the problems"):
        make_plan(["quadratic-1d"], ["gd"], budget=7, budgets={"rosenbrock": 30})


def test_the_suite_sizes_each_kappa_for_gd_to_reach_1e_6():
    suite = scaling_suite()
    for k in (10, 100, 1000, 10_000):
        key = f"ill-conditioned-quadratic[kappa={k},d=[2,10,100]]"
        assert suite["budgets"][key] == math.ceil(k * math.log(1e6))
    assert suite["budget"] == max(suite["budgets"].values())
    assert set(suite["budgets"]) == set(suite["problems"])


@pytest.mark.parametrize("kappa", [4.0, 10.0, 100.0, 1e4])
def test_nesterov_rate_is_the_spectral_radius_of_torchs_iteration(kappa):
    torch = pytest.importorskip("torch")
    L, mu = kappa, 1.0
    lr, beta = 1 / L, (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    lams = np.geomspace(mu, L, 7)
    radii = []
    for lam in lams:
        # one update of torch.optim.SGD(nesterov=True) on ½λx², from two independent
        # states (q, b): the columns of its iteration matrix
        cols = []
        for q0, b0 in ((1.0, 0.0), (0.0, 1.0)):
            x = torch.tensor([q0], dtype=torch.float64, requires_grad=True)
            opt = torch.optim.SGD([x], lr=lr, momentum=beta, nesterov=True)
            opt.state[x]["momentum_buffer"] = torch.tensor([b0], dtype=torch.float64)
            opt.zero_grad()
            (0.5 * lam * x**2).sum().backward()
            opt.step()
            cols.append([x.item(), opt.state[x]["momentum_buffer"].item()])
        M = np.array(cols).T
        np.testing.assert_allclose(M, theory.nesterov_matrix(lr, lam, beta), rtol=1e-12,
                                   atol=1e-15)
        radii.append(np.max(np.abs(np.linalg.eigvals(M))))
    assert max(radii) == pytest.approx(1 - 1 / math.sqrt(kappa), rel=1e-7)
    assert theory.nesterov_rate(lr, lams, beta) == pytest.approx(max(radii), rel=1e-7)


def _frame(small_suite):
    from optbench.report.context import read_context
    from optbench.reports.scaling import scaling_frame

    ctx = read_context([small_suite])
    return ctx, scaling_frame(ctx.runs, ctx.problems)


def test_measured_rates_meet_the_predicted_ones(small_suite):
    """The done-when: the median relative error in 1 − rate per family, GD ≤ 5 %, heavy
    ball and Nesterov ≤ 10 %, the measured rate being rate_x_pole of a real run."""
    ctx, _ = _frame(small_suite)
    runs = ctx.runs
    errs: dict[str, list[float]] = {k: [] for k in BOUNDS}
    for _, r in runs.iterrows():
        kind = kind_of(r.label)
        if kind is None:
            continue
        pred = closed_rate(kind, r["pp.kappa"])
        # the stored prediction is the closed form (every direction is in the start), to
        # the √ε a double root is computed to
        assert r.th_rate_x == pytest.approx(pred, rel=1e-6)
        errs[kind].append(abs((1 - r.rate_x_pole) - (1 - pred)) / (1 - pred))
    for kind, bound in BOUNDS.items():
        assert len(errs[kind]) == len(KAPPAS) * len(DIMS) * 2
        assert np.median(errs[kind]) <= bound, (kind, np.median(errs[kind]))


def test_the_double_pole_biases_the_plain_fit_and_not_rate_x_pole(small_suite):
    """dist ∝ t·ρ^t for heavy ball at its optimum: the plain fit reads a slower rate, by
    more than the bound; the fit with a ln t term does not."""
    ctx, _ = _frame(small_suite)
    hb = ctx.runs[ctx.runs.label == "momentum[lr=hb-opt,momentum=hb-opt]"]
    pred = np.array([closed_rate("hb", k) for k in hb["pp.kappa"]])
    plain = np.abs((1 - hb.rate_x.to_numpy()) - (1 - pred)) / (1 - pred)
    pole = np.abs((1 - hb.rate_x_pole.to_numpy()) - (1 - pred)) / (1 - pred)
    assert np.median(plain) > 0.05
    assert np.median(pole) < 0.02


def test_gd_at_1_over_L_reaches_1e_6_within_the_suites_budget(small_suite):
    ctx, _ = _frame(small_suite)
    gd = ctx.runs[ctx.runs.label == "gd[lr=1/L]"]
    assert len(gd) and gd["hit_iter_1e-6"].notna().all()
    assert (gd["hit_iter_1e-6"] <= gd.budget).all()


def test_the_scaling_section_reports_the_same_errors(small_suite):
    from optbench.reports.scaling import family_errors, scaling

    ctx, frame = _frame(small_suite)
    section = scaling(ctx)
    assert section is not None and section.title == "Scaling"
    table = family_errors(frame).set_index("family")
    runs = ctx.runs
    for fam, kind in (("GD, lr = 1/L", "gd"), ("heavy ball, optimal", "hb"),
                      ("Nesterov, standard", "nesterov")):
        sub = runs[runs.label.map(kind_of) == kind]
        pred = np.array([closed_rate(kind, k) for k in sub["pp.kappa"]])
        want = np.median(np.abs(pred - sub.rate_x_pole.to_numpy()) / (1 - pred))
        assert table.loc[fam, "median rel. error in 1 − rate"] == pytest.approx(want, rel=1e-9)
        assert table.loc[fam, "within"] == "yes"
    assert "docs/scaling.md" in section.body


def test_no_scaling_section_without_such_runs(tmp_path):
    from optbench.report.context import read_context
    from optbench.reports.scaling import scaling

    optbench.run(problems="quadratic-1d", optimizers="gd[lr=0.5/L]", seeds=1, budget=10,
                 out=tmp_path, report=False)
    assert scaling(read_context([tmp_path / "results.sqlite"])) is None


def test_heavy_ball_at_kappa_1e4_is_not_stalled_by_its_transient():
    """At κ = 10⁴ heavy ball's double pole keeps f above f_0 for some 300 updates (a direct
    loop of the recursion says when) before it converges: a long run's stall window is
    1/100 of its iteration limit, so the suite's budget lets it converge."""
    from optbench.plan import start_point
    from optbench.runner import run_batch

    plan = make_plan(["ill-conditioned-quadratic[kappa=10000,d=2]"],
                     ["momentum[lr=hb-opt,momentum=hb-opt]"], budget=scaling_budget(1e4))
    (run,) = plan.runs
    problem = build_problem(run.problem)
    x = start_point(problem, run.problem, run.seed)[None, :].astype(float)
    lr, beta = run.optimizer.params["lr"], run.optimizer.params["momentum"]
    f0, b, above = problem.f(x)[0], np.zeros_like(x), 0
    while problem.f(x)[0] >= f0 and above < 10_000:
        b = beta * b + problem.grad(x)
        x, above = x - lr * b, above + 1
    assert 200 < above < scaling_budget(1e4) // 100
    (res,) = run_batch(plan.batches[0])
    assert res.status == "converged", res.message
