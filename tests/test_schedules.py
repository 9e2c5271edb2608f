"""Schedules against the step-by-step recursions of PyTorch's schedulers (chained forms).

torch is not installed: the recursions below transcribe what ``scheduler.step()`` does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import optbench
from optbench import make_schedule
from optbench.plan import make_plan
from optbench.runner import run_batch
from optbench.spec import Spec

TS = range(0, 420)


def _values(spec, lr=0.1, ts=TS):
    eta = make_schedule(spec, lr)
    return np.array([float(np.asarray(eta(t)).reshape(-1)[0]) for t in ts])


def _cos_anneal(start, end, q):
    return end + (start - end) * (1 + math.cos(math.pi * q)) / 2


# -- recursions, one per schedule -----------------------------------------------------------------
# Each rule is the chained form ``scheduler.step()`` applies (PyTorch's get_lr: the new rate
# from the previous one and the epoch), or for the optax/keras-only schedules a recursion
# derived here from their definition, never the closed form the implementation evaluates.


def _chain(lr0, rule, n=len(TS)):
    """Rates for t = 0..n-1: ``lr0`` then ``rule(t, previous rate)``."""
    out = [lr0]
    for t in range(1, n):
        out.append(rule(t, out[-1]))
    return out


def _step_lr(step_size, gamma):  # StepLR.get_lr
    return lambda t, lr: lr * gamma if t % step_size == 0 else lr


def _multistep_lr(milestones, gamma):  # MultiStepLR.get_lr: gamma ** (count of t in milestones)
    return lambda t, lr: lr * gamma ** milestones.count(t)


def _polynomial_lr(T, power):  # PolynomialLR.get_lr
    return lambda t, lr: lr if t > T else lr * ((1 - t / T) / (1 - (t - 1) / T)) ** power


def _linear_lr(start, end, T):  # LinearLR.get_lr (the first rate is lr0 * start)
    return lambda t, lr: lr if t > T else lr * (1 + (end - start) / (T * start + (t - 1) * (end - start)))


def _sequential(W, first, then):  # SequentialLR: `then` restarts from its own t = 0 at W
    def rates(lr0, n=len(TS)):
        head = first(lr0, W)
        return head + then(lr0, n - W)

    return rates


RECURSIONS = {
    "constant": lambda lr0: _chain(lr0, lambda t, lr: lr),
    "step(step_size=7,gamma=0.5)": lambda lr0: _chain(lr0, _step_lr(7, 0.5)),
    "multistep(milestones=[5,5,40,300],gamma=0.3)":
        lambda lr0: _chain(lr0, _multistep_lr([5, 5, 40, 300], 0.3)),
    "exponential(gamma=0.97)": lambda lr0: _chain(lr0, lambda t, lr: lr * 0.97),
    # 1/η grows by decay_rate/(decay_steps·η0) per update (at each multiple of decay_steps
    # with staircase)
    "inverse-time(decay_rate=0.5,decay_steps=4)":
        lambda lr0: _chain(lr0, lambda t, lr: 1 / (1 / lr + 0.5 / (4 * lr0))),
    "inverse-time(decay_rate=0.5,decay_steps=4,staircase=true)":
        lambda lr0: _chain(lr0, lambda t, lr: 1 / (1 / lr + 0.5 / lr0) if t % 4 == 0 else lr),
    # η_t/η_{t−1} = ((τ + t − 1)/(τ + t))^p
    "power(tau=3,p=0.6)": lambda lr0: _chain(lr0, lambda t, lr: lr * ((3 + t - 1) / (3 + t)) ** 0.6),
    "polynomial(T=50,power=2)": lambda lr0: _chain(lr0, _polynomial_lr(50, 2)),
    "linear(start_factor=0.25,end_factor=0.75,T=30)":
        lambda lr0: _chain(0.25 * lr0, _linear_lr(0.25, 0.75, 30)),
    "warmup(W=8,start_factor=0.2,then=exponential(gamma=0.9))": lambda lr0: _sequential(
        8,
        lambda lr, n: _chain(0.2 * lr, _linear_lr(0.2, 1.0, 8), n),
        lambda lr, n: _chain(lr, lambda t, x: x * 0.9, n),
    )(lr0),
}


@pytest.mark.parametrize("spec", list(RECURSIONS))
def test_schedule_equals_the_step_by_step_recursion(spec):
    np.testing.assert_allclose(_values(spec), RECURSIONS[spec](0.1), rtol=1e-11, atol=1e-18)


def test_boundaries_of_the_piecewise_schedules():
    assert _values("step(step_size=7,gamma=0.5)", 1.0, [6, 7, 13, 14]).tolist() == [1, 0.5, 0.5, 0.25]
    # a repeated milestone cuts twice, at the milestone itself (bisect_right)
    assert _values("multistep(milestones=[5,5,9],gamma=0.5)", 1.0, [4, 5, 8, 9]).tolist() == [1, 0.25, 0.25, 0.125]
    assert _values("polynomial(T=10)", 1.0, [10, 11, 500]).tolist() == [0, 0, 0]
    assert _values("linear(T=10)", 1.0, [0, 5, 10, 99]).tolist() == [1, 0.5, 0, 0]


def test_cosine_is_not_clamped_after_T():
    # PyTorch CosineAnnealingLR: period 2T, back at eta_0 at t = 2T (optax would stay at the floor)
    v = _values("cosine(T=10)", 1.0, [0, 5, 10, 15, 20, 30, 40])
    np.testing.assert_allclose(v, [1, 0.5, 0, 0.5, 1, 0, 1], atol=1e-15)


def test_cosine_matches_torchs_recursive_form():
    """CosineAnnealingLR.get_lr(), the chained form scheduler.step() uses, for 5 periods."""
    base, T, eta_min = 0.3, 17, 0.02
    lr, lrs = base, [base]
    for e in range(1, 5 * 2 * T):
        if (e - 1 - T) % (2 * T) == 0:
            lr = lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
        else:
            lr = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - eta_min) + eta_min
        lrs.append(lr)
    np.testing.assert_allclose(_values(f"cosine(T={T},eta_min={eta_min})", base, range(len(lrs))), lrs,
                               rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("T_0,T_mult", [(10, 1), (3, 2), (5, 3), (1, 10)])
def test_warm_restarts_match_torchs_step_recursion(T_0, T_mult):
    """CosineAnnealingWarmRestarts.step() without an epoch: T_cur += 1, restart at T_i."""
    base, eta_min = 0.2, 0.005
    t_cur, t_i, lrs = 0, T_0, []
    for _ in range(400):
        lrs.append(eta_min + (base - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
        t_cur += 1
        if t_cur >= t_i:
            t_cur, t_i = t_cur - t_i, t_i * T_mult
    got = _values(f"cosine-warm-restarts(T_0={T_0},T_mult={T_mult},eta_min={eta_min})", base, range(400))
    np.testing.assert_allclose(got, lrs, rtol=1e-14)
    # and the SGDR closed form of the reference (k from the logarithm) where it is exact
    if T_mult == 2:
        for t in range(T_0, 400):
            k = int(math.log2(t / T_0 + 1))
            t_cur, t_i = t - T_0 * (2**k - 1), T_0 * 2**k
            assert got[t] == pytest.approx(_cos_anneal(base, eta_min, t_cur / t_i), rel=1e-14)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_matches_the_reference_phases(strategy, three_phase):
    N, pct, div, final_div, peak = 57, 0.25, 10.0, 100.0, 0.8
    initial, floor = peak / div, peak / div / final_div
    a = pct * N - 1

    def anneal(s, e, q):
        return _cos_anneal(s, e, q) if strategy == "cos" else s + (e - s) * q

    def expected(t):
        if t > N:
            return floor  # optbench holds the floor where PyTorch raises
        if t <= a:
            return anneal(initial, peak, t / a)
        if not three_phase:
            return anneal(peak, floor, (t - a) / (N - 1 - a))
        b = 2 * pct * N - 2
        if t <= b:
            return anneal(peak, initial, (t - a) / (b - a))
        return anneal(initial, floor, (t - b) / (N - 1 - b))

    spec = (f"one-cycle(T={N},pct_start={pct},anneal_strategy={strategy},div_factor={div},"
            f"final_div_factor={final_div},three_phase={str(three_phase).lower()})")
    ts = range(0, N + 10)
    # at t = N the reference extrapolates the last phase: below the final rate when linear
    # (here negative), which optbench never goes under
    reference = [max(expected(t), floor) for t in ts]
    if strategy == "linear":
        assert expected(N) < 0
    np.testing.assert_allclose(_values(spec, peak, ts), reference, rtol=1e-13)
    assert _values(spec, peak, [0])[0] == pytest.approx(initial, rel=1e-15)
    assert _values(spec, peak, [N - 1])[0] == pytest.approx(floor, rel=1e-12)


def test_one_cycle_peaks_at_pct_start_T_minus_one():
    v = _values("one-cycle(T=100)", 1.0, range(100))
    assert int(np.argmax(v)) == 29 and v[29] == pytest.approx(1.0, rel=1e-15)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_matches_clr(mode):
    base, peak, up, down, gamma = 0.01, 0.5, 4, 6, 0.97
    N = up + down

    def expected(t):
        cycle = math.floor(1 + t / N)
        x = 1 + t / N - cycle
        r = up / N
        h = x / r if x <= r else (x - 1) / (r - 1)
        s = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**t}[mode]
        return base + (peak - base) * h * s

    spec = f"cyclic(base_lr={base},step_size_up={up},step_size_down={down},mode={mode},gamma={gamma})"
    np.testing.assert_allclose(_values(spec, peak, TS), [expected(t) for t in TS], rtol=1e-13)


def test_cyclic_triangle_by_hand():
    v = _values("cyclic(base_lr=0,step_size_up=2)", 1.0, range(9))
    np.testing.assert_allclose(v, [0, 0.5, 1, 0.5, 0, 0.5, 1, 0.5, 0], atol=1e-15)
    v2 = _values("cyclic(base_lr=0,step_size_up=2,mode=triangular2)", 1.0, [2, 6, 10])
    np.testing.assert_allclose(v2, [1, 0.5, 0.25])


# -- reduce on plateau -------------------------------------------------------------------------

class TorchPlateau:
    """ReduceLROnPlateau(mode='min') step(metric), transcribed for one run."""

    def __init__(self, lr, factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        self.lr, self.factor, self.patience, self.threshold = lr, factor, patience, threshold
        self.mode, self.cooldown, self.min_lr, self.eps = threshold_mode, cooldown, min_lr, eps
        self.best, self.bad, self.cooldown_counter = math.inf, 0, 0

    def step(self, m):
        better = m < self.best * (1 - self.threshold) if self.mode == "rel" else m < self.best - self.threshold
        if better:
            self.best, self.bad = m, 0
        else:
            self.bad += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.bad = 0
        if self.bad > self.patience:
            new = max(self.lr * self.factor, self.min_lr)
            if self.lr - new > self.eps:
                self.lr = new
            self.cooldown_counter, self.bad = self.cooldown, 0


@pytest.mark.parametrize("params", [
    {},
    {"factor": 0.5, "patience": 2, "cooldown": 3},
    {"factor": 0.5, "patience": 0, "threshold": 0.05, "threshold_mode": "abs", "min_lr": 0.02},
    {"factor": 0.3, "patience": 1, "eps": 0.05},
])
def test_plateau_matches_torch_per_run(params):
    rng = np.random.default_rng(3)
    B, n = 4, 150
    # gaps that improve, stall and wobble differently in each run
    gaps = np.abs(np.cumsum(rng.normal(0, 1, (n, B)), axis=0)) + rng.uniform(0, 1, (n, B))
    gaps[60:90] = gaps[59]
    lrs = np.array([[0.4], [0.1], [0.2], [1.0]])
    spec = Spec("reduce-on-plateau", params)
    together = make_schedule(spec, lrs)
    torch = [TorchPlateau(float(lrs[b, 0]), **params) for b in range(B)]
    for t in range(n):
        if t > 0:  # scheduler.step(metric) after update t-1 sees the gap at x_t
            for b in range(B):
                torch[b].step(gaps[t, b])
        got = together(t, gaps[t])
        assert got.shape == (B, 1)
        np.testing.assert_allclose(got[:, 0], [s.lr for s in torch], rtol=1e-15)
        np.testing.assert_allclose(together(t, gaps[t]), got)  # asking twice does not step twice


def test_plateau_through_gd_on_a_period_two_orbit():
    """GD at lr = 2/L bounces with a constant gap: the rate is cut after patience + 1 bad updates."""
    patience, factor = 3, 0.5
    plan = make_plan(["quadratic-1d"],
                     [f"gd[lr=1.0,schedule=reduce-on-plateau(patience={patience},factor={factor})]"],
                     seeds=1, budget=40, tol=0.0)
    (r,) = run_batch(plan.batches[0])
    x = r.trace["x"][:, 0]
    h, c = 2.0, 1.5
    sched, xs, lrs = TorchPlateau(1.0, factor=factor, patience=patience), [x[0]], []
    for t in range(len(x) - 1):
        if t > 0:
            sched.step(0.5 * h * (xs[-1] - c) ** 2)
        lrs.append(sched.lr)
        xs.append(xs[-1] - sched.lr * h * (xs[-1] - c))
    np.testing.assert_allclose(r.trace["lr"], lrs, rtol=1e-15)
    np.testing.assert_allclose(x, xs, rtol=1e-12)
    assert lrs[: patience + 2] == [1.0] * (patience + 2) and lrs[patience + 2] == 0.5


def test_plateau_without_f_star_is_an_error_row(tmp_path):
    plugin = tmp_path / "nofstar.py"
    plugin.write_text(
        "from optbench import Problem, register_problem\n"
        "@register_problem('bowl-no-fstar')\n"
        "def bowl():\n"
        "    return Problem(dim=1, f=lambda X: X[:, 0] ** 2, grad=lambda X: 2 * X, bounds=([-1], [1]))\n")
    optbench.load_plugin(str(plugin))
    plan = make_plan(["bowl-no-fstar"], ["gd[schedule=reduce-on-plateau]"], seeds=1, budget=10)
    (r,) = run_batch(plan.batches[0])
    assert r.status == "error" and "f* is unknown" in r.message


# -- through the runner: per-run base rates and parameters --------------------------------------

def test_gd_records_the_scheduled_rate_of_every_run():
    plan = make_plan(["linear-regression"], ["gd[lr=[0.01,0.02,0.04],schedule=warmup(W=4,then=step(step_size=3,gamma=0.5))]"],
                     seeds=2, budget=30, tol=0.0)
    assert len(plan.batches) == 1
    results = {r.run_id: r for r in run_batch(plan.batches[0])}
    for run in plan.runs:
        lr = run.optimizer.params["lr"]
        trace = results[run.run_id].trace["lr"]
        expected = [lr * (0.1 + 0.9 * t / 4) if t < 4 else lr * 0.5 ** ((t - 4) // 3) for t in range(len(trace))]
        np.testing.assert_allclose(trace, expected, rtol=1e-15)


@pytest.mark.parametrize("spec", [
    Spec("cosine", {"T": 30, "eta_min": np.array([[0.0], [0.01], [0.02]])}),
    Spec("one-cycle", {"T": 40, "pct_start": np.array([[0.2], [0.3], [0.5]])}),
    Spec("cyclic", {"base_lr": np.array([[0.0], [0.01], [0.05]]), "mode": "exp_range", "gamma": np.array([[0.9], [0.95], [1.0]])}),
    Spec("warmup", {"W": 5, "start_factor": np.array([[0.0], [0.5], [1.0]]), "then": Spec("exponential", {"gamma": np.array([[0.5], [0.9], [0.99]])})}),
])
def test_per_run_parameter_columns_equal_scalar_schedules(spec):
    lrs = np.array([[0.1], [0.2], [0.3]])
    batch = make_schedule(spec, lrs)
    for b in range(3):
        one = Spec(spec.name, {k: (v[b, 0] if isinstance(v, np.ndarray) else
                                   Spec(v.name, {kk: vv[b, 0] if isinstance(vv, np.ndarray) else vv for kk, vv in v.params.items()}) if isinstance(v, Spec) else v)
                               for k, v in spec.params.items()})
        single = make_schedule(one, float(lrs[b, 0]))
        for t in range(60):
            assert np.asarray(batch(t))[b, 0] == pytest.approx(float(single(t)), rel=1e-14, abs=1e-300)


# -- bad input: one line naming the component, the parameter, the value and the range ------------

@pytest.mark.parametrize("schedule,message", [
    ("step(step_size=0)", "schedule 'step': step_size must be a whole number >= 1, got 0"),
    ("step(gamma=-1.5)", r"schedule 'step': gamma must be > 0, got -1.5"),
    ("multistep(milestones=[-1,3])", "each milestone must be a whole number >= 0, got -1"),
    ("exponential(gamma=0)", r"gamma must be > 0, got 0.0"),
    ("cosine(T=0)", "schedule 'cosine': T must be a whole number >= 1, got 0"),
    ("cosine(T=2.5)", "schedule .cosine.: T must be a whole number.*, got 2.5"),
    ("cosine(eta_min=-1)", "eta_min must be >= 0, got -1.0"),
    ("polynomial(power=-2)", "power must be > 0, got -2.0"),
    ("linear(start_factor=0)", r"start_factor must be in \(0, 1\], got 0.0"),
    ("power(tau=0)", "tau must be > 0, got 0.0"),
    ("inverse-time(decay_steps=0)", "decay_steps must be > 0, got 0.0"),
    ("cosine-warm-restarts(T_mult=0)", "T_mult must be a whole number >= 1, got 0"),
    ("warmup(W=0)", "W must be a whole number >= 1, got 0"),
    ("warmup(then=cosine(T=0))", "T must be a whole number >= 1, got 0"),
    ("warmup(then=cosin)", "unknown schedule 'cosin'; did you mean 'cosine'"),
    ("one-cycle(pct_start=1.5)", r"pct_start must be in \(0, 1\), got 1.5"),
    ("one-cycle(T=10,pct_start=0.05)", r"pct_start must be > 1/T = 0.1 \(the rise needs an update\), got 0.05"),
    ("one-cycle(anneal_strategy=cubic)", "anneal_strategy must be 'cos' or 'linear', got 'cubic'"),
    ("cyclic(mode=sawtooth)", "mode must be 'triangular', 'triangular2' or 'exp_range', got 'sawtooth'"),
    ("cyclic(base_lr=-0.1)", "base_lr must be >= 0, got -0.1"),
    ("reduce-on-plateau(factor=2)", r"factor must be in \(0, 1\), got 2.0"),
    ("reduce-on-plateau(patience=-1)", "patience must be a whole number >= 0, got -1"),
    ("reduce-on-plateau(threshold_mode=relative)", "threshold_mode must be 'rel' or 'abs', got 'relative'"),
])
def test_nonsense_schedule_parameters_are_one_line_errors(schedule, message):
    with pytest.raises(optbench.InvalidValueError, match=message) as info:
        make_plan(["quadratic-1d"], [f"gd[lr=0.1,schedule={schedule}]"])
    assert "\n" not in str(info.value)


def test_unknown_schedule_names_suggest_the_close_ones():
    with pytest.raises(optbench.UnknownNameError, match="unknown schedule 'cosin'; did you mean 'cosine'"):
        make_plan(["quadratic-1d"], ["gd[schedule=cosin]"])
    with pytest.raises(optbench.UnknownNameError, match="unknown schedule 'onecycle'"):
        make_plan(["quadratic-1d"], ["adam[schedule=onecycle(T=10)]"])
    with pytest.raises(optbench.InvalidValueError, match="schedule 'cosine' has no parameter 'T_max'"):
        make_plan(["quadratic-1d"], ["gd[schedule=cosine(T_max=10)]"])


def test_every_schedule_is_listed():
    from optbench import registry

    names = registry.names("schedule")
    for required in ("constant", "step", "multistep", "exponential", "inverse-time", "power", "polynomial",
                     "linear", "cosine", "cosine-warm-restarts", "warmup", "one-cycle", "cyclic",
                     "reduce-on-plateau"):
        assert required in names
