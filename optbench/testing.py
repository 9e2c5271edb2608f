"""The conformance suite: what every optimizer and problem must do, for built-ins and plug-ins.

Each check returns a list of ``(description, ok, detail)``. From the command line,
``optbench check my_plugin.py`` runs them on everything the plug-in registers. From pytest::

    from optbench import registry
    from optbench.testing import check_optimizer, check_problem

    def test_my_optimizer_conforms():
        registry.load_plugin("my_plugin.py")          # or import the module that registers it
        checks = check_optimizer("my-gd[lr=0.05]")
        failed = [(what, detail) for what, ok, detail in checks if not ok]
        assert not failed

    def test_my_problem_conforms():
        registry.load_plugin("my_plugin.py")
        assert all(ok for _, ok, _ in check_problem("my-bowl"))

The optimizer suite runs it through the real planner and runner on convex quadratics
(``quadratic-1d`` and ``linear-regression[standardize=true]`` unless told otherwise) and
checks: it builds; iterates have the right shape and no run errors; evaluations are
counted (counters never decrease, every update costs at least one evaluation, the trace
agrees with the summary); the budget is never exceeded, also when tight; it goes downhill;
a seed gives bit-identical results; and, for a batchable optimizer, a batch with per-run
hyperparameters equals its runs one at a time (relative tolerance 1e-12, with an absolute
floor of 1e-13 times the start's magnitude); and ``step`` returns a new array rather than
updating the ``x`` it is handed (it is handed a read-only one).

The problem suite checks shapes and finite values, the gradient against central
differences, and what the problem declares about its minimum: f(x*) = f*, a zero gradient
at x*, and L and mu equal to the largest and smallest curvature at x* (eigenvalues of its
Hessian there, else of a finite-difference Hessian).

Every check is bounded in time (``timeout`` seconds, 30 by default; on POSIX, in the main
thread) and any exception it meets is its failure: a broken or hanging plug-in gives FAIL
lines, never a crash or a hung ``optbench check``. The bound here is an interrupt, which
code that swallows every exception can ignore; ``optbench check`` runs the checks in a
child process, told each check as it starts (:data:`on_step`), and stops the child when a
check runs past the runs' kill limit or the command past its ``--deadline``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import registry
from .errors import OptbenchError
from .optimizer import Optimizer, make_schedule
from .plan import (
    Batch,
    build_problem,
    make_plan,
    resolve_optimizer,
    resolve_problem,
    run_seed,
    start_point,
)
from .runner import run_batch
from .spec import Spec, expand, parse

__all__ = ["DEFAULT_PROBLEMS", "check_optimizer", "check_problem", "check_registered",
           "check_schedule"]

DEFAULT_PROBLEMS = ("quadratic-1d", "linear-regression[standardize=true]")
Check = tuple[str, bool, str]
SEEDS = 3
BUDGET = 120
TIGHT_BUDGET = 7
CHECK_TIMEOUT = 30.0  # seconds per check: a hanging plug-in is a FAIL line, not a hung check


class _CheckTimeout(BaseException):
    """Raised into a check that overran its time (a BaseException, so that no ``except
    Exception`` in the runner or the plug-in turns it into something else)."""


@contextlib.contextmanager
def _deadline(seconds: float | None):
    """Interrupt the body after ``seconds`` (main thread on POSIX; elsewhere unbounded)."""
    if (
        not seconds
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def overrun(signum, frame):
        raise _CheckTimeout

    previous = signal.signal(signal.SIGALRM, overrun)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


on_step: Callable[[str], None] | None = None  # told each check as it starts (optbench check)


def _guard(what: str, fn: Callable[[], Any], timeout: float | None) -> tuple[Any, Check | None]:
    """``(fn(), None)``, or ``(None, a FAIL check)`` when it raises or overruns ``timeout``."""
    if on_step is not None:
        on_step(what)
    try:
        with _deadline(timeout):
            return fn(), None
    except _CheckTimeout:
        return None, (what, False, f"did not finish within {timeout:g} s (does it hang?)")
    except SystemExit as exc:  # plug-in code may not end the check
        return None, (what, False, f"it called sys.exit({exc.code!r})")
    except Exception as exc:  # noqa: BLE001 — a broken plug-in is a failed check, not a crash
        return None, (what, False, f"{type(exc).__name__}: {exc}")


def _checked(what: str, fn: Callable[[], Check], timeout: float | None) -> Check:
    result, fail = _guard(what, fn, timeout)
    return fail if fail is not None else result


def _first(kind: str, spec: str | Spec) -> Spec:
    """The first expansion of a spec (a sweep is checked at its first value)."""
    parsed = parse(spec)
    registry.get(kind, parsed.name)
    return expand(parsed)[0]


def _missing(kind: str, spec: Spec) -> list[Check]:
    """A component whose required parameters the spec leaves out cannot be checked by name."""
    entry = registry.get(kind, spec.name)
    missing = [n for n, p in entry.params.items() if p.required and n not in spec.params]
    if not missing:
        return []
    return [("not checked", True, f"it needs {', '.join(missing)}: check a full spec, "
             f"e.g. {spec.name}[{missing[0]}=...]")]


def _run_plan(plan) -> dict[str, Any]:
    return {r.run_id: r for b in plan.batches for r in run_batch(b)}


def check_optimizer(
    name_or_spec: str | Spec,
    problems: Sequence[str] | None = None,
    timeout: float | None = CHECK_TIMEOUT,
) -> list[Check]:
    """Run the optimizer conformance suite on one optimizer (a name or a spec string).

    Each check that raises, or runs longer than ``timeout`` seconds, is a failed check.
    """
    out: list[Check] = []
    problems = list(problems or DEFAULT_PROBLEMS)
    for problem in problems:  # a bad problem is the caller's mistake, not the optimizer's
        registry.get("problem", parse(problem).name)
    spec = _first("optimizer", name_or_spec)  # a name the registry does not know: the caller's
    if skip := _missing("optimizer", spec):
        return skip
    entry = registry.get("optimizer", spec.name)

    def build():
        L = build_problem(resolve_problem(parse(problems[0]))).L  # for lr=1.5/L
        return entry.build(**resolve_optimizer(spec, L).params)

    built, fail = _guard("builds from its spec", build, timeout)
    if fail is not None:
        return [fail]
    ok = isinstance(built, Optimizer) and ((built.step is None) != (built.run is None))
    out.append(("builds an Optimizer with either step or run", ok,
                "" if ok else f"the factory returned {built!r}"))
    if not ok:
        return out
    for problem in problems:
        out.extend(_check_on(spec, entry, problem, timeout))
    return out


def _check_on(spec: Spec, entry: registry.Entry, problem: str, timeout: float | None
              ) -> list[Check]:
    where = f"on {problem}"

    def planned():
        try:
            return make_plan([problem], [spec], seeds=SEEDS, budget=BUDGET, tol=0.0)
        except OptbenchError as exc:
            return exc

    plan, fail = _guard(f"plans {where}", planned, timeout)
    if fail is not None:
        return [fail]
    if isinstance(plan, OptbenchError):
        return [(f"plans {where}", False, str(plan))]
    if plan.skipped:
        return [(f"runs {where}", True, f"skipped: {plan.skipped[0][1]}")]
    what = f"runs without error {where}"
    results, fail = _guard(what, lambda: _run_plan(plan), timeout)
    if fail is not None:
        return [fail]
    runs = [results[r.run_id] for r in plan.runs]
    errors = [f"{r.status}: {r.message}" for r in runs if r.status in ("error", "timeout")]
    out = [(what, not errors, "; ".join(dict.fromkeys(errors)))]
    if errors:
        return out
    d = build_problem(plan.runs[0].problem).dim
    out.append(_checked(f"iterates have shape (B, {d}) {where}",
                        lambda: _shapes(runs, d, where), timeout))
    out.append(_checked(f"evaluations are counted and within the budget {where}",
                        lambda: _counting(runs, BUDGET, where), timeout))
    out.append(_checked(f"goes downhill {where}", lambda: _downhill(runs, where), timeout))
    out.append(_checked(f"is deterministic for a seed {where}",
                        lambda: _deterministic(plan, results, where), timeout))
    out.append(_checked(f"stops within a budget of {TIGHT_BUDGET} evaluations {where}",
                        lambda: _tight_budget(spec, problem, where), timeout))
    if entry.is_batchable(plan.runs[0].optimizer.params):
        out.append(_checked(f"a batch equals its runs one at a time {where}",
                            lambda: _batch_equals_single(spec, problem, where), timeout))
    what = f"returns a new array from step, never updating x in place {where}"
    out.append(_checked(what, lambda: _not_in_place(plan, entry, what), timeout))
    return out


def _not_in_place(plan, entry: registry.Entry, what: str) -> Check:
    """Hand ``step`` a read-only ``x``: an optimizer that writes into it (``x -= lr * g``)
    would make every recorded iterate the last one."""
    from .oracle import Oracle, RunRNG

    runs = plan.runs if entry.meta["batchable"] else plan.runs[:1]
    problem = build_problem(runs[0].problem)
    optimizer = entry.build(**runs[0].optimizer.params)
    if optimizer.step is None:
        return (what, True, "not applicable: it owns its loop (run)")
    x0 = np.stack([start_point(problem, r.problem, r.seed) for r in runs])
    oracle = Oracle(problem, len(runs), BUDGET, RunRNG.from_seeds([run_seed(r.run_id)
                                                                   for r in runs]))
    state = optimizer.init(x0.copy()) if optimizer.init is not None else None
    x = x0.copy()
    x.flags.writeable = False
    try:
        with np.errstate(all="ignore"):
            optimizer.step(x, state, oracle, 0)
    except ValueError as exc:
        if "read-only" in str(exc):
            return (what, False, "step writes into the x it is given (as in x -= lr * g); "
                    "return a new array instead (x = x - lr * g)")
        raise
    return (what, True, "")


def _shapes(runs, d: int, where: str) -> Check:
    bad = []
    for r in runs:
        n, tr = r.summary.n_iter, r.trace
        if tr["f"].shape != (n + 1,) or tr["n_f"].shape != (n + 1,) or tr["lr"].shape != (n,):
            bad.append(f"trace lengths {tr['f'].shape}, {tr['lr'].shape} for {n} updates")
        if "x" in tr and tr["x"].shape != (n + 1, d):
            bad.append(f"x has shape {tr['x'].shape}, expected {(n + 1, d)}")
    return (f"iterates have shape (B, {d}) {where}", not bad, "; ".join(bad))


def _counting(runs, budget: int, where: str) -> Check:
    bad = []
    for r in runs:
        tr, s = r.trace, r.summary
        cost = tr["n_f"] + tr["n_g"]
        if tr["n_f"][0] != 0 or tr["n_g"][0] != 0:
            bad.append("counters do not start at 0")
        if np.any(np.diff(tr["n_f"]) < 0) or np.any(np.diff(tr["n_g"]) < 0):
            bad.append("a counter decreases")
        if np.any(np.diff(cost) < 1):
            t = int(np.flatnonzero(np.diff(cost) < 1)[0])
            bad.append(f"update {t} cost no evaluation (does it evaluate outside the oracle?)")
        if (int(tr["n_f"][-1]), int(tr["n_g"][-1])) != (s.n_f, s.n_g):
            bad.append("the trace's final counters differ from the summary")
        if s.evals > budget:
            bad.append(f"cost {s.evals} exceeds the budget {budget}")
    detail = "; ".join(dict.fromkeys(bad))
    return (f"evaluations are counted and within the budget {where}", not bad, detail)


def _downhill(runs, where: str) -> Check:
    bad = []
    for r in runs:
        f = r.trace["f"]
        if r.status in ("diverged", "non-finite"):
            bad.append(f"a run ended {r.status}: {r.message}")
        elif not np.nanmin(f) < f[0]:
            bad.append(f"best f {np.nanmin(f):.6g} is not below f(x0) = {f[0]:.6g}")
    return (f"goes downhill {where}", not bad, "; ".join(bad))


def _same(a, b) -> str:
    if a.status != b.status or a.summary.n_iter != b.summary.n_iter:
        return (f"status/updates {a.status}/{a.summary.n_iter} "
                f"vs {b.status}/{b.summary.n_iter}")
    for key in ("n_f", "n_g"):
        if not np.array_equal(a.trace[key], b.trace[key]):
            return f"{key} differs"
    return ""


def _deterministic(plan, results, where: str) -> Check:
    again = _run_plan(plan)
    bad = []
    for run in plan.runs:
        a, b = results[run.run_id], again[run.run_id]
        diff = _same(a, b)
        for key in ("x", "f"):
            if not diff and key in a.trace and not np.array_equal(a.trace[key], b.trace[key],
                                                                  equal_nan=True):
                diff = f"{key} differs"
        if diff:
            bad.append(f"seed {run.seed}: {diff}")
    return (f"is deterministic for a seed {where}", not bad, "; ".join(bad))


def _tight_budget(spec: Spec, problem: str, where: str) -> Check:
    plan = make_plan([problem], [spec], seeds=2, budget=TIGHT_BUDGET, tol=0.0)
    bad = []
    for r in _run_plan(plan).values():
        cost = r.summary.evals or 0
        if r.status == "error":
            bad.append(f"error: {r.message}")
        elif cost > TIGHT_BUDGET:
            bad.append(f"cost {cost} > {TIGHT_BUDGET}")
    return (f"stops within a budget of {TIGHT_BUDGET} evaluations {where}", not bad, "; ".join(bad))


def _variant(spec: Spec, L: float | None) -> Spec:
    """The spec with every positive real hyperparameter scaled by 0.9 (per-run columns)."""
    resolved = resolve_optimizer(spec, L)
    params = {k: (0.9 * v if isinstance(v, float) and np.isfinite(v) and v > 0 else v)
              for k, v in resolved.params.items()}
    return Spec(spec.name, params)


def _batch_equals_single(spec: Spec, problem: str, where: str) -> Check:
    what = f"a batch equals its runs one at a time {where}"
    L = build_problem(resolve_problem(parse(problem))).L
    try:
        plan = make_plan([problem], [spec, _variant(spec, L)], seeds=2, budget=BUDGET, tol=0.0)
    except OptbenchError:  # scaled values out of range: vary the seed only
        plan = make_plan([problem], [spec], seeds=4, budget=BUDGET, tol=0.0)
    bad = []
    for batch in plan.batches:
        together = {r.run_id: r for r in run_batch(batch)}
        for run in batch.runs:
            (alone,) = run_batch(Batch(0, [run], batch.batchable))
            both = together[run.run_id]
            diff = _same(alone, both)
            for key in ("x", "f"):
                if diff or alone.trace is None or both.trace is None or key not in alone.trace:
                    continue
                a, b = alone.trace[key], both.trace[key]
                # rounding (e.g. numpy's pow on a column vs Python's on a float) is relative to
                # the magnitudes the run computes with, not to a value that shrinks towards 0
                scale = max(1.0, float(np.max(np.abs(a[0]))))
                if not np.allclose(a, b, rtol=1e-12, atol=1e-13 * scale, equal_nan=True):
                    diff = f"{key} differs beyond rtol 1e-12"
            if diff:
                bad.append(f"{run.optimizer} seed {run.seed}: {diff}")
    if max(len(b.runs) for b in plan.batches) < 2:
        bad.append("the planner did not batch its runs")
    return (what, not bad, "; ".join(bad))


def check_problem(name_or_spec: str | Spec, n_points: int = 6,
                  timeout: float | None = CHECK_TIMEOUT) -> list[Check]:
    """Checks of a problem: shapes, finite values, gradient vs central differences, and what
    it declares about its minimum: f(x*) = f*, x* stationary, and L and mu the extreme
    curvatures at x* (from its Hessian where it has one, else finite differences)."""
    spec = _first("problem", name_or_spec)  # a name the registry does not know: the caller's
    if skip := _missing("problem", spec):
        return skip
    p, fail = _guard("builds from its spec", lambda: build_problem(resolve_problem(spec)),
                     timeout)
    if fail is not None:
        return [fail]
    out: list[Check] = [("builds", True, f"dim {p.dim}")]
    X = np.random.default_rng(12345).uniform(p.lower, p.upper, (n_points, p.dim))

    def values() -> Check:
        with np.errstate(all="ignore"):
            f = np.asarray(p.f(X), dtype=float)
        ok = f.shape == (n_points,) and bool(np.all(np.isfinite(f)))
        return ("f maps (B, d) to finite (B,)", ok, "" if ok else f"shape {f.shape}, values {f}")

    out.append(_checked("f maps (B, d) to finite (B,)", values, timeout))
    if not out[-1][1]:
        return out

    def starts() -> Check:
        x0 = p.sample_start(np.random.default_rng(0))
        ok = x0.shape == (p.dim,) and bool(np.all(np.isfinite(x0)))
        return ("start points have shape (d,)", ok, "" if ok else f"shape {x0.shape}")

    out.append(_checked("start points have shape (d,)", starts, timeout))
    if p.has_gradient and out[-1][1]:
        what = "gradient matches central differences (and value_and_grad)"
        out.append(_checked(what, lambda: _gradient(p, X), timeout))
    if p.x_star is not None and p.f_star is not None:
        def minimum() -> Check:
            fx = np.asarray(p.f(p.x_star), dtype=float)
            tol = 1e-8 * max(1.0, abs(p.f_star))
            ok = bool(np.all(np.abs(fx - p.f_star) <= tol))
            return ("f(x*) = f*", ok, "" if ok else f"f(x*) = {fx}, f* = {p.f_star}")

        out.append(_checked("f(x*) = f*", minimum, timeout))
        inside = bool(np.all((p.x_star >= p.lower) & (p.x_star <= p.upper)))
        out.append(("x* lies in the domain", inside, ""))
    else:
        out.append(("x* and f*", True, "unknown: x-space metrics are not applicable"))
    if p.x_star is not None:
        out.append(_checked("x* is stationary (gradient 0 there)", lambda: _stationary(p),
                            timeout))
        if p.L is not None or p.mu is not None:
            out.append(_checked("declared L and mu are the curvatures at x*",
                                lambda: _curvature(p), timeout))
    elif p.L is not None or p.mu is not None:
        out.append(("declared L and mu", True, "not checked: x* is unknown"))
    return out


def _fd_step(X):
    return 1e-6 * np.maximum(1.0, np.abs(X))


def _fd_gradient(p, X):
    """Central differences of ``f``, step ``_fd_step(X)``."""
    h = _fd_step(X)
    G = np.empty_like(X)
    for j in range(p.dim):
        E = np.zeros_like(X)
        E[:, j] = h[:, j]
        G[:, j] = (np.asarray(p.f(X + E)) - np.asarray(p.f(X - E))) / (2 * h[:, j])
    return G


def _hessians(p, X) -> tuple[np.ndarray, str]:
    """Hessians ``(k, d, d)`` at the rows of ``X``: analytic where the problem has them, else
    central differences of the gradient (of ``f`` without one)."""
    if p.has_hessian:
        return np.asarray(p.hess(X), dtype=float), "its Hessian"
    grad = p.grad if p.has_gradient else (lambda Y: _fd_gradient(p, Y))
    h = 1e-4 * np.maximum(1.0, np.abs(X))
    H = np.empty((X.shape[0], p.dim, p.dim))
    for j in range(p.dim):
        E = np.zeros_like(X)
        E[:, j] = h[:, j]
        H[:, :, j] = (np.asarray(grad(X + E)) - np.asarray(grad(X - E))) / (2 * h[:, j : j + 1])
    return H, "finite differences" + ("" if p.has_gradient else " of f")


def _stationary(p) -> Check:
    what = "x* is stationary (gradient 0 there)"
    xs = p.x_star
    on_edge = np.any(np.isclose(xs, p.lower) | np.isclose(xs, p.upper), axis=1)
    with np.errstate(all="ignore"):
        G = np.asarray(p.grad(xs) if p.has_gradient else _fd_gradient(p, xs), dtype=float)
        H, _ = _hessians(p, xs)
    # a minimizer given to rounding, |δ| ~ ε|x*|, leaves a gradient of about |H|·ε|x*|
    scale = np.max(np.abs(H), axis=(1, 2)) * np.maximum(1.0, np.max(np.abs(xs), axis=1))
    tol = (1e-7 if p.has_gradient else 1e-4) * np.maximum(1.0, scale)
    size = np.max(np.abs(G), axis=1)
    bad = [f"|grad f(x*)| = {size[i]:.3g} at x* = {xs[i].tolist()}"
           for i in range(len(xs)) if not on_edge[i] and not size[i] <= tol[i]]
    return (what, not bad, "; ".join(bad))


def _curvature(p) -> Check:
    what = "declared L and mu are the curvatures at x*"
    with np.errstate(all="ignore"):
        H, how = _hessians(p, p.x_star)
    eig = np.linalg.eigvalsh(0.5 * (H + np.swapaxes(H, 1, 2)))
    true = {"L": float(eig.max()), "mu": float(eig.min())}  # over every minimizer
    rtol = 1e-6 if how == "its Hessian" else 1e-3
    bad = []
    for name, declared in (("L", p.L), ("mu", p.mu)):
        if declared is None:
            continue
        ok = abs(declared - true[name]) <= rtol * max(abs(true["L"]), 1e-12)
        if not ok:
            bad.append(f"{name} = {declared:.6g} is declared, {how} at x* gives {true[name]:.6g}")
    return (what, not bad, "; ".join(bad) or f"L = {true['L']:.6g}, mu = {true['mu']:.6g} ({how})")


def _gradient(p, X) -> Check:
    with np.errstate(all="ignore"):
        f = np.asarray(p.f(X), dtype=float)
        g = np.asarray(p.grad(X), dtype=float)
        if g.shape != X.shape or not np.all(np.isfinite(g)):
            return ("grad maps (B, d) to finite (B, d)", False, f"shape {g.shape}")
        h = _fd_step(X)
        fd = _fd_gradient(p, X)
        fv, gv = p.value_and_grad(X)
    # central differences: truncation O(h²), round-off O(eps·|f|/h)
    tol = 1e-5 * (1 + np.abs(g)) + 1e-9 * np.abs(f)[:, None] / h
    worst = float(np.max(np.abs(g - fd) - tol))
    ok = (worst <= 0 and np.allclose(fv, f, rtol=1e-12)
          and np.allclose(gv, g, rtol=1e-12, atol=1e-300))
    return ("gradient matches central differences (and value_and_grad)", bool(ok),
            "" if ok else f"max |g − fd| − tol = {worst:.3g}")


def check_schedule(name_or_spec: str | Spec, timeout: float | None = CHECK_TIMEOUT
                   ) -> list[Check]:
    """A schedule builds, gives finite rates >= 0, and a column of base rates gives each run's own.

    Stateful schedules (reduce-on-plateau) are fed a slowly improving gap.
    """
    spec = _first("schedule", name_or_spec)  # a name the registry does not know: the caller's
    if skip := _missing("schedule", spec):
        return skip
    _, fail = _guard("builds from its spec", lambda: make_schedule(spec, 0.1), timeout)
    if fail is not None:
        return [fail]
    rates, fail = _guard("gives rates", lambda: _rates(spec), timeout)
    return [fail] if fail is not None else rates


def _rates(spec: Spec) -> list[Check]:
    lrs = np.array([[0.1], [0.03]])
    gaps = np.linspace(1.0, 1e-3, 60)[:, None] * np.array([1.0, 2.0])  # a slowly improving gap
    batch = make_schedule(spec, lrs)
    singles = [make_schedule(spec, float(v)) for v in lrs[:, 0]]
    bad_value, bad_batch = [], []
    for t in range(60):
        together = np.asarray(batch(t, gaps[t]), dtype=float).reshape(-1, 1)
        together = np.broadcast_to(together, (2, 1))
        for b, single in enumerate(singles):
            alone = float(np.asarray(single(t, gaps[t, b : b + 1]), dtype=float).reshape(-1)[0])
            if not (np.isfinite(alone) and alone >= 0):
                bad_value.append(f"η({t}) = {alone}")
            if not np.isclose(together[b, 0], alone, rtol=1e-12, atol=0):
                bad_batch.append(f"η({t}) = {together[b, 0]} in a batch, {alone} alone")
    return [("builds", True, ""),
            ("rates are finite and >= 0", not bad_value, "; ".join(bad_value[:3])),
            ("a column of base rates gives each run its own rates", not bad_batch,
             "; ".join(bad_batch[:3]))]


def check_registered(kind: str, name: str, problems: Sequence[str] | None = None,
                     timeout: float | None = CHECK_TIMEOUT) -> Iterator[tuple[str, bool]]:
    """``(line, ok)`` for each check of a registered component (what ``optbench check`` prints)."""
    if kind == "optimizer":
        checks = check_optimizer(name, problems, timeout)
    elif kind == "problem":
        checks = check_problem(name, timeout=timeout)
    elif kind == "schedule":
        checks = check_schedule(name, timeout)
    else:
        checks = [("no conformance checks for this kind", True, "")]
    for what, ok, detail in checks:
        yield (f"{what}: {detail}" if detail else what), ok
