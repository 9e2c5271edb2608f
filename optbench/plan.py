"""The planner: specs in, runs with their identities out, grouped into batches.

Every run is fully resolved (defaults filled in, ``k/L`` turned into numbers, ints given to
float parameters made floats) and named by ``run_id``, a hash of its canonical JSON. The
split into batches depends on the plan alone — never on ``--jobs``, the executor or a
resume — so the same spec always gives the same stored numbers.

A spec's ``sweeps`` (:mod:`optbench.sweeps`) are further cross products planned after the
main one with the same seeds and budget rules; a run planned twice runs once, and the plan
says which runs and labels only a sweep planned.

Runs go into one batch when they share the problem (all its parameters), the optimizer,
every non-real hyperparameter and the run limits; real-valued hyperparameters and seeds may
differ, so a learning-rate sweep over many seeds is one vectorized batch.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import registry
from .errors import InvalidValueError, UsageError
from .spec import (
    DISPLAY_DIGITS,
    PerL,
    Spec,
    Tuned,
    canonical,
    count,
    display_number,
    expand,
    format_spec,
    format_value,
    parse,
)

__all__ = ["Batch", "Plan", "RunSpec", "build_problem", "make_plan", "start_point", "DEFAULT_TOL"]

DEFAULT_TOL = 1e-8
DEFAULT_MAX_RUNS = 1_000_000  # a 100,000-run sweep is a feature; a billion is a typo
MAX_BATCH_RUNS = 1024
MAX_BATCH_FLOATS = 1_000_000  # B * (max_iter + 1) * max(d, 4) recorded floats: 1,024 runs of 100
# updates, 250 of 1,000 (a batch's arrays are a few of these: tens of MB)


@dataclass(frozen=True)
class RunSpec:
    """One fully resolved run."""

    run_id: str
    problem: Spec
    optimizer: Spec
    seed: int
    budget: int | None
    max_iter: int
    tol: float
    timeout: float | None = None
    label: str = ""  # the optimizer as the user wrote it (1.5/L kept), for tables and legends
    noisy_stops: bool = False  # stochastic problems: stop as stalled/cycle too (off: budget)

    def identity(self) -> dict[str, Any]:
        return _identity(
            self.problem,
            self.optimizer,
            self.seed,
            self.budget,
            self.max_iter,
            self.tol,
            self.noisy_stops,
        )


@dataclass
class Batch:
    """Runs executed together: one problem, one optimizer, one set of structural choices."""

    index: int
    runs: list[RunSpec]
    batchable: bool
    plugins: tuple[str, ...] = ()

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]


@dataclass
class Plan:
    runs: list[RunSpec]
    batches: list[Batch]
    skipped: list[tuple[RunSpec, str]] = field(default_factory=list)
    # run_id of each run planned only by a sweep (:mod:`optbench.sweeps`), not by the main
    # problems x optimizers
    sweep_ids: set[str] = field(default_factory=set)
    # (problem label, optimizer label) of the main product and of the sweeps, in order
    main_pairs: list[tuple[str, str]] = field(default_factory=list)
    sweep_pairs: list[tuple[str, str]] = field(default_factory=list)

    def labels(self) -> dict[str, dict[str, list[str]]]:
        """The session's record of its labels (:func:`optbench.sweeps.labels_record`)."""
        from .sweeps import labels_record

        return labels_record(self.main_pairs, self.sweep_pairs)


def _entry_hash(kind: str, name: str) -> str | None:
    return registry.get(kind, name).source_hash


def _identity(
    problem: Spec,
    optimizer: Spec,
    seed: int,
    budget: int | None,
    max_iter: int,
    tol: float,
    noisy_stops: bool = False,
) -> dict[str, Any]:
    # noisy_stops enters the identity only when set: every other run keeps its run_id
    extra = {"noisy_stops": True} if noisy_stops else {}
    return {
        **extra,
        "problem": canonical(problem),
        "problem_source": _entry_hash("problem", problem.name),
        "optimizer": canonical(optimizer),
        "optimizer_source": _entry_hash("optimizer", optimizer.name),
        "seed": seed,
        "budget": budget,
        "max_iter": max_iter,
        "tol": tol,
        "cost_model": "n_f+n_g",
    }


def digest(obj: Any, n: int = 16) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


_SEED = "\x00seed\x00"  # a placeholder no spec holds


def _seed_digest(shared: dict[str, Any]):
    """``seed -> digest({**shared, "seed": seed})``, the JSON of everything but the seed
    written once (a sweep's pairing has hundreds of seeds)."""
    text = json.dumps({**shared, "seed": _SEED}, sort_keys=True, separators=(",", ":"),
                      allow_nan=False)
    mark = json.dumps(_SEED)
    if text.count(mark) != 1:
        return lambda seed: digest({**shared, "seed": seed})
    head, tail = text.split(mark)

    def ident(seed: int) -> str:
        if type(seed) is not int:
            return digest({**shared, "seed": seed})
        return hashlib.sha256(f"{head}{seed}{tail}".encode()).hexdigest()[:16]

    return ident


def _expand(kind: str, spec: Spec) -> list[Spec]:
    registry.get(kind, spec.name).check_params(spec.params)
    return expand(spec, registry.literal_lists(kind, spec.name))


def count_runs(problems, optimizers, seeds: int | list[int]) -> tuple[int, int, int]:
    """``(problem settings, optimizer settings, seeds)`` of a spec, counted without expanding
    it: their product bounds the number of runs (duplicates aside)."""
    n_p = sum(count(s, registry.literal_lists("problem", s.name)) for s in map(parse, problems))
    n_o = sum(count(s, registry.literal_lists("optimizer", s.name)) for s in map(parse, optimizers))
    n_s = seeds if isinstance(seeds, int) else len(seeds)
    return n_p, n_o, n_s


def check_size(problems, optimizers, seeds: int | list[int], max_runs: int) -> int:
    """The number of runs a spec asks for; a one-line error above ``max_runs``."""
    n_p, n_o, n_s = count_runs(problems, optimizers, seeds)
    n = n_p * n_o * n_s
    if n > max_runs:
        raise InvalidValueError(
            f"this spec asks for {n:,} runs ({n_p:,} problem settings x {n_o:,} optimizer "
            f"settings x {n_s:,} seeds), more than the limit of {max_runs:,} runs; "
            "narrow the sweep, or raise the limit with --max-runs (max_runs in TOML)"
        )
    return n


def machine_memory() -> int | None:
    """The machine's physical memory in bytes (None where the system does not say)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def check_memory(spec: Spec, available: int | None = None) -> None:
    """Refuse a problem whose parameters need more memory than the machine has, before it
    is built, from the estimate its registration declares (``memory=``)."""
    entry = registry.get("problem", spec.name)
    estimate = entry.meta.get("memory")
    available = machine_memory() if available is None else available
    if estimate is None or available is None:
        return
    try:
        need = float(estimate(**dict(spec.params)))
    except (ValueError, TypeError, ArithmeticError):
        return  # a bad value: the factory's own checks name it
    if need > available:
        raise InvalidValueError(
            f"problem {problem_label(spec.name, dict(spec.params))} needs about {format_bytes(need)} of memory, more "
            f"than this machine has ({format_bytes(available)}); choose smaller parameters"
        )


def _resolve_value(value: Any, L: float | None, what: str, mu: float | None = None) -> Any:
    if isinstance(value, PerL):
        return value.resolve(L, what)
    if isinstance(value, Tuned):
        return value.resolve(L, mu, what)
    if isinstance(value, Spec):
        return _resolve_nested(value, L, mu)
    if isinstance(value, list):
        return [_resolve_value(v, L, what, mu) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidValueError(f"{what} must be a finite number, got {value}")
    return value


def _resolve_nested(spec: Spec, L: float | None, mu: float | None = None) -> Spec:
    """A nested spec (a schedule): defaults filled in, ``k/L`` and named tunings resolved."""
    if spec.dotted:  # a library object by import path: its own code checks its arguments
        return Spec(
            spec.name,
            {k: _resolve_value(v, L, f"{spec.name}.{k}", mu) for k, v in spec.params.items()},
        )
    entry = registry.get("schedule", spec.name)
    params = entry.resolve(dict(spec.params))
    return Spec(
        spec.name, {k: _resolve_value(v, L, f"{spec.name}.{k}", mu) for k, v in params.items()}
    )


def resolve_optimizer(spec: Spec, L: float | None, mu: float | None = None) -> Spec:
    """Defaults filled in, ``k/L`` resolved from the problem's L and the named tunings
    (``hb-opt``, ``gd-opt``, ``nesterov-opt``: :data:`optbench.spec.TUNINGS`) from its L
    and μ."""
    entry = registry.get("optimizer", spec.name)
    params = entry.resolve(dict(spec.params))
    resolved = {k: _resolve_value(v, L, f"{spec.name}.{k}", mu) for k, v in params.items()}
    # a string naming a schedule is the same run as the spec with no parameters
    for k, v in resolved.items():
        if k == "schedule" and isinstance(v, str):
            resolved[k] = _resolve_nested(parse(v), L, mu)
    return Spec(spec.name, resolved)


def resolve_problem(spec: Spec) -> Spec:
    entry = registry.get("problem", spec.name)
    params = entry.resolve(dict(spec.params))
    return Spec(
        spec.name, {k: _resolve_value(v, None, f"{spec.name}.{k}") for k, v in params.items()}
    )


_PROBLEM_CACHE: dict[str, Any] = {}


def build_problem(spec: Spec):
    """Build (and cache per process) the problem of a resolved spec."""
    key = digest(canonical(spec))
    problem = _PROBLEM_CACHE.get(key)
    if problem is None:
        entry = registry.get("problem", spec.name)
        problem = entry.build(**dict(spec.params))
        problem.name, problem.params = spec.name, dict(spec.params)
        if not problem.description:
            problem.description = entry.description
        if len(_PROBLEM_CACHE) > 64:
            _PROBLEM_CACHE.clear()
        _PROBLEM_CACHE[key] = problem
    return problem


def start_point(problem, problem_spec: Spec, seed: int):
    """The start point of ``seed`` on a problem: it depends on (problem, seed) alone."""
    import numpy as np

    try:  # kept with the problem object (built once, cached), so a rebuilt problem redraws
        starts = problem.__dict__.setdefault("_optbench_starts", {})
    except AttributeError:
        starts = {}
    key = (_spec_text(problem_spec), seed)
    x0 = starts.get(key)
    if x0 is None:
        # the digest of {"problem": canonical(spec), "seed": seed, "use": "start"}, its JSON
        # written out from the spec's text (what digest() writes, key by key)
        text = f'{{"problem":{key[0]},"seed":{json.dumps(seed)},"use":"start"}}'
        s = int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)
        x0 = problem.sample_start(np.random.default_rng(s))
        if len(starts) >= 4096:
            starts.clear()
        starts[key] = x0
    return np.array(x0, copy=True)


_SPECS: dict[int, tuple[Spec, str, str]] = {}  # id(spec) -> (spec, canonical JSON, its key)


def _spec_text(spec: Spec) -> str:
    """``canonical(spec)`` as :func:`digest` writes it, worked out once per spec object (a
    plan shares one object between the runs of a setting; specs are never changed)."""
    return _spec_entry(spec)[1]


def _spec_entry(spec: Spec) -> tuple[Spec, str, str]:
    """``(spec, its canonical JSON, its problem key)``, cached per spec object."""
    hit = _SPECS.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit
    text = json.dumps(canonical(spec), sort_keys=True, separators=(",", ":"), allow_nan=False)
    if len(_SPECS) >= 4096:
        _SPECS.clear()
    entry = _SPECS[id(spec)] = (spec, text, hashlib.sha256(text.encode()).hexdigest()[:12])
    return entry


def run_seed(run_id: str) -> int:
    """The seed of a run's own random stream (random search, stochastic gradients)."""
    return int(run_id, 16)


def _batch_key(run: RunSpec, batchable: bool) -> Any:
    if not batchable:
        return ("single", run.run_id)
    entry = registry.get("optimizer", run.optimizer.name)
    return (
        digest(canonical(run.problem)),
        run.optimizer.name,
        run.budget,
        run.max_iter,
        run.tol,
        run.timeout,
        run.noisy_stops,
        _structure(run.optimizer.params, entry.params),
    )


def _structure(params: Mapping[str, Any], decl: dict[str, registry.Param] | None) -> str:
    out = {}
    for k, v in params.items():
        is_float = decl[k].is_float if decl and k in decl else isinstance(v, float)
        if isinstance(v, Spec) and v.dotted:
            out[k] = canonical(v)
        elif isinstance(v, Spec):
            out[k] = [v.name, _structure(dict(v.params), registry.get("schedule", v.name).params)]
        elif is_float and isinstance(v, float):
            out[k] = "<float>"
        else:
            out[k] = canonical(v)
    return json.dumps(out, sort_keys=True)


def make_plan(
    problems,
    optimizers,
    seeds: int | list[int] = 1,
    budget: int | None = 1000,
    max_iter: int | None = None,
    tol: float = DEFAULT_TOL,
    timeout: float | None = None,
    plugins: tuple[str, ...] = (),
    max_runs: int = DEFAULT_MAX_RUNS,
    noisy_stops: bool = False,
    budgets: Mapping[str, int] | None = None,
    sweeps: Iterable[Mapping[str, Any]] | None = None,
) -> Plan:
    """Expand problem and optimizer specs over seeds into runs and batches.

    Args:
        problems, optimizers: spec strings or :class:`Spec` objects (sweeps allowed).
        seeds: a count ``N`` (seeds ``0..N-1``) or an explicit list.
        budget: evaluations per run (``n_f + n_g``), or None for no limit.
        max_iter: iterations per run; default: the budget (every step costs at least one).
        tol: the ``converged`` threshold on the best gap.
        noisy_stops: on a stochastic problem, also end runs as ``stalled`` or ``cycle``
            (by default such runs use their budget: ``docs/methodology.md#run-statuses``).
        max_runs: refuse (before expanding anything) a spec that asks for more runs.
        budgets: a budget per problem spec, keyed by the spec as written in ``problems``
            (every setting of its sweeps); the others get ``budget``. Without ``max_iter``
            a run's iteration limit is its own budget.
        sweeps: extra cross products ``{"problems": [...], "optimizers": [...]}`` planned
            after the main one with the same seeds and budget rules (``budgets`` may name
            their problems too); a run planned twice runs once, as the main product's when
            it is one (:mod:`optbench.sweeps`).
    """
    from .sweeps import check as check_sweeps, normalize

    check_sweeps(list(sweeps or []), "")
    sweep_blocks = normalize(sweeps)
    if isinstance(seeds, int) and seeds < 1:
        raise InvalidValueError(f"seeds must be at least 1, got {seeds}")
    if budget is not None and budget < 1:
        raise InvalidValueError(f"budget must be at least 1 evaluation, got {budget}")
    max_iter_given = max_iter is not None
    if max_iter is None:
        if budget is None:
            raise InvalidValueError(
                "give a budget or an iteration limit: with neither, runs never end"
            )
        max_iter = int(budget)
    if max_iter < 1:
        raise InvalidValueError(f"max-iter must be at least 1, got {max_iter}")
    if not (tol >= 0):
        raise InvalidValueError(f"tol must be >= 0, got {tol}")
    budgets = dict(budgets or {})
    written = list(dict.fromkeys([*map(str, problems),
                                  *(p for b in sweep_blocks for p in b["problems"])]))
    unknown = sorted(set(budgets) - set(written))
    if unknown:
        raise UsageError(
            f"budgets names {unknown[0]!r}, which is not one of the problems as written "
            f"({', '.join(written)})"
        )
    for text, b in budgets.items():
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise InvalidValueError(f"the budget of {text!r} must be at least 1 evaluation, got {b}")
    fixed_iter = max_iter if max_iter_given else None
    blocks = [(list(problems), list(optimizers)),
              *((b["problems"], b["optimizers"]) for b in sweep_blocks)]
    if sweep_blocks:  # the runs of every block together, counted before expanding any
        sizes = [count_runs(p, o, seeds) for p, o in blocks]
        n = sum(a * b * c for a, b, c in sizes)
        if n > max_runs:
            raise InvalidValueError(
                f"this spec asks for {n:,} runs ({sizes[0][0] * sizes[0][1] * sizes[0][2]:,} "
                f"in its main problems x optimizers, the rest in {len(sweep_blocks)} sweeps), "
                f"more than the limit of {max_runs:,} runs; narrow the sweeps, or raise the "
                "limit with --max-runs (max_runs in TOML)"
            )
    else:
        check_size(problems, optimizers, seeds, max_runs)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    problem_budget: dict[int, int | None] = {}  # id(expanded spec) -> its budget
    expanded: list[tuple[list[Spec], list[tuple[Spec, str]]]] = []
    for block_problems, block_optimizers in blocks:
        problem_specs = []
        for text in block_problems:
            for p in _expand("problem", parse(text)):
                problem_budget[id(p)] = budgets.get(str(text), budget)
                problem_specs.append(p)
        optimizer_specs = [o for text in block_optimizers for o in sweep_labels(parse(text))]
        if not problem_specs:
            raise UsageError("no problem given; name one with -p, e.g. -p quadratic-1d")
        if not optimizer_specs:
            raise UsageError("no optimizer given; name one with -o, e.g. -o gd")
        expanded.append((problem_specs, optimizer_specs))

    runs: list[RunSpec] = []
    skipped: list[tuple[RunSpec, str]] = []
    seen: set[str] = set()
    sweep_ids: set[str] = set()
    pairs: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])
    batches: dict[Any, list[RunSpec]] = {}
    batchable_of: dict[Any, bool] = {}
    for pspec in (p for ps, _ in expanded for p in ps):  # all of them before building any
        check_memory(resolve_problem(pspec))
    for block, (problem_specs, optimizer_specs) in enumerate(expanded):
        for pspec in problem_specs:
            p_budget = problem_budget[id(pspec)]
            p_iter = fixed_iter if fixed_iter is not None else int(p_budget or max_iter)
            pres = resolve_problem(pspec)
            problem = build_problem(pres)
            if getattr(
                problem, "resolved", None
            ):  # e.g. a data file's content hash: part of the identity
                pres = Spec(pres.name, {**pres.params, **problem.resolved})
                problem = build_problem(pres)  # the factory re-checks the file against the hash
            provides = problem.provides()
            p_label = problem_label(pres.name, canonical(pres)["params"])
            for ospec, run_label in optimizer_specs:
                pairs[block > 0].append((p_label, run_label))
                entry = registry.get("optimizer", ospec.name)
                ores = resolve_optimizer(ospec, problem.L, getattr(problem, "mu", None))
                _validate(entry, ores)
                missing = sorted(entry.meta["needs"] - provides)
                batchable = entry.is_batchable(ores.params)
                # all but the seed is shared by the pairing's runs: canonical forms, source
                # hashes, label and batch key are worked out once, not once per seed
                # the option changes nothing on a deterministic problem, nor its runs' identity
                noisy = bool(noisy_stops) and bool(getattr(problem, "stochastic", False))
                shared = _identity(pres, ores, 0, p_budget, p_iter, tol, noisy)
                shared_key = None
                if batchable and not missing:
                    shared_key = _batch_key(
                        RunSpec("", pres, ores, 0, p_budget, p_iter, tol, timeout, "", noisy), True
                    )
                ident = _seed_digest(shared)
                for seed in seed_list:
                    run = RunSpec(
                        ident(seed),
                        pres,
                        ores,
                        seed,
                        p_budget,
                        p_iter,
                        tol,
                        timeout,
                        run_label,
                        noisy,
                    )
                    if run.run_id in seen:
                        continue
                    seen.add(run.run_id)
                    runs.append(run)
                    if block:
                        sweep_ids.add(run.run_id)
                    if missing:
                        skipped.append(
                            (
                                run,
                                f"{ospec.name} needs {', '.join(missing)}, which "
                                f"{pspec.name} does not provide",
                            )
                        )
                        continue
                    key = shared_key if batchable else ("single", run.run_id)
                    batches.setdefault(key, []).append(run)
                    batchable_of[key] = batchable
    out: list[Batch] = []
    for key, members in batches.items():
        d = build_problem(members[0].problem).dim
        per_run = (members[0].max_iter + 1) * max(d, 4)
        cap = max(1, min(MAX_BATCH_RUNS, MAX_BATCH_FLOATS // per_run))
        for i in range(0, len(members), cap):
            out.append(Batch(len(out), members[i : i + cap], batchable_of[key], tuple(plugins)))
    return Plan(runs, out, skipped, sweep_ids, *pairs)


def _validate(entry: registry.Entry, spec: Spec) -> None:
    """Build the optimizer once with scalar values, so a bad value fails before any run."""
    try:
        params = {
            k: (make_sched_probe(v) if isinstance(v, Spec) and not v.dotted else v)
            for k, v in spec.params.items()
        }
    except InvalidValueError as exc:
        raise InvalidValueError(f"optimizer {entry.name!r}, {exc}") from None
    entry.build(**params)


def make_sched_probe(spec: Spec) -> Spec:
    """Check a nested schedule's values by building it with a unit base rate."""
    from .optimizer import make_schedule

    make_schedule(spec, 1.0, momentum=True)  # whether the optimizer has one: its own build
    return spec


def problem_key(spec: Spec) -> str:
    """A short stable key for a resolved problem (name and every parameter)."""
    return _spec_entry(spec)[2]


def label(spec: Spec, digits: dict[tuple[str, ...], int] | None = None) -> str:
    """A spec as written: every parameter it names (a value equal to the default
    included), ``k/L`` kept, schedules with their parameters (``cosine(T=100)``), numbers
    as written or rounded for display (:func:`optbench.spec.display_number`) to
    ``digits[path]`` significant digits, ``path`` the keys leading to the value."""
    return _label_text(spec, (), digits or {}, top=True)


def _label_text(value: Any, path: tuple[str, ...], digits, top: bool = False) -> str:
    if isinstance(value, Spec):
        inner = ",".join(f"{k}={_label_text(v, (*path, k), digits)}"
                         for k, v in value.params.items())
        if top:
            return f"{value.name}[{inner}]" if inner else value.name
        return f"{value.name}({inner})"
    if isinstance(value, PerL):
        return f"{display_number(value.k, digits.get(path))}/L"
    if isinstance(value, float):
        return display_number(value, digits.get(path))
    if isinstance(value, list | tuple):
        return "[" + ",".join(_label_text(v, path, digits) for v in value) + "]"
    return format_value(value)


def problem_label(name: str, params: dict[str, Any]) -> str:
    """A problem with the parameters that make it a variant (those not at their default):
    ``linear-regression[standardize=true]``; every parameter for a problem not registered
    now (a plug-in not loaded)."""
    try:
        declared = registry.get("problem", name).params
    except Exception:  # noqa: BLE001 — unknown here: show everything
        declared = {}
    shown = {k: v for k, v in params.items() if k not in declared or declared[k].default != v}
    return label(Spec(name, shown))


def sweep_labels(spec: Spec, kind: str = "optimizer") -> list[tuple[Spec, str]]:
    """The expanded specs of one written spec with their labels (:func:`label`): a swept
    number that needs rounding shows the fewest significant digits (at most 6) that tell
    the sweep's values apart, so ``lr=log(1e-3,1,7)`` reads 0.001, 0.003, 0.01, … 1."""
    expanded = _expand(kind, spec)
    values: dict[tuple[str, ...], set[float]] = {}
    for e in expanded:
        _numbers(e, (), values)
    digits = {path: _distinct_digits(vals) for path, vals in values.items() if len(vals) > 1}
    return [(e, label(e, digits)) for e in expanded]


def _numbers(value: Any, path: tuple[str, ...], out: dict) -> None:
    if isinstance(value, Spec):
        for k, v in value.params.items():
            _numbers(v, (*path, k), out)
    elif isinstance(value, PerL):
        out.setdefault(path, set()).add(float(value.k))
    elif isinstance(value, float):
        out.setdefault(path, set()).add(value)


def _distinct_digits(values: set[float]) -> int:
    """The fewest digits that tell the values apart; past :data:`DISPLAY_DIGITS` the exact
    values (two labels must never coincide)."""
    for d in range(1, DISPLAY_DIGITS + 1):
        if len({display_number(v, d) for v in values}) == len(values):
            return d
    return DISPLAY_DIGITS + 1


def describe_run(run: RunSpec) -> str:
    return f"{format_spec(run.problem)} × {format_spec(run.optimizer)} seed {run.seed}"


def run_records(rows: Iterable[tuple[RunSpec, Any]]) -> list[tuple[Any, Any]]:
    """``(RunRecord, result)`` of ``(RunSpec, result)`` pairs: each run as the store keeps
    it, its labels and full resolved parameters settled here, where the registry is (each
    distinct spec's parameters worked out once)."""
    from .store import RunRecord

    params: dict[int, dict[str, Any]] = {}

    def resolved(spec: Spec) -> dict[str, Any]:
        if id(spec) not in params:
            params[id(spec)] = canonical(spec)["params"]
        return params[id(spec)]

    return [
        (
            RunRecord(
                run.run_id,
                run.problem.name,
                problem_key(run.problem),
                resolved(run.problem),
                run.optimizer.name,
                run.label or label(run.optimizer),
                resolved(run.optimizer),
                run.seed,
                run.budget,
                run.max_iter,
                run.tol,
            ),
            res,
        )
        for run, res in rows
    ]


def component_records(runs: Iterable[RunSpec]) -> dict[tuple[str, str], dict[str, Any]]:
    """``(kind, name) -> info`` of the optimizers and schedules of ``runs``, as the registry
    describes them now: stored with the runs, so a report shows them without the plug-ins
    that registered them."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    seen: set[int] = set()
    for run in runs:
        if id(run.optimizer) in seen:
            continue
        seen.add(id(run.optimizer))
        todo: list[tuple[str, Spec]] = [("optimizer", run.optimizer)]
        while todo:
            kind, spec = todo.pop()
            if (kind, spec.name) not in out:
                out[kind, spec.name] = _component_info(kind, spec.name)
            todo += [("schedule", v) for v in spec.params.values()
                     if isinstance(v, Spec) and not v.dotted]
    return out


def _component_info(kind: str, name: str) -> dict[str, Any]:
    try:
        entry = registry.get(kind, name)
    except Exception:  # noqa: BLE001 — a name the registry does not know: nothing to say
        return {"description": "", "origin": "unknown"}
    info: dict[str, Any] = {"description": entry.description, "origin": entry.origin}
    if kind == "optimizer":
        meta = entry.meta
        batchable = meta.get("batchable", False)
        info["needs"] = sorted(meta.get("needs", ()))
        info["batchable"] = "depends on the spec" if callable(batchable) else bool(batchable)
        info["theory"] = meta.get("theory")
    if entry.source_hash:
        info["source_hash"] = entry.source_hash
    return info


def read_labelled_runs(path, traces: bool = False):
    """:func:`optbench.store.read_runs`, with the problem labels of a store written before
    they were recorded worked out from the registry (:func:`fill_problem_labels`)."""
    from .store import Store, read_runs

    runs = read_runs(path, traces)
    if len(runs) and runs["problem_label"].isna().any():
        with Store(path) as store:
            runs = fill_problem_labels(runs, store.problem_info())
    return runs


def fill_problem_labels(runs, infos: dict[str, dict[str, Any]]):
    """A run frame whose missing ``problem_label`` s (stores written before labels were
    recorded) are worked out from the registry now: the only place a reader still asks it."""
    if "problem_label" in runs and runs["problem_label"].notna().all():
        return runs
    labels = {}
    for key in runs["problem_key"].unique():
        info = infos.get(key, {})
        labels[key] = info.get("label") or problem_label(
            info.get("name", key), dict(info.get("params", {}))
        )
    if "problem_label" not in runs:
        return runs.assign(problem_label=runs["problem_key"].map(labels))
    return runs.assign(problem_label=runs["problem_label"].fillna(runs["problem_key"].map(labels)))


__all__ += [
    "component_records",
    "describe_run",
    "fill_problem_labels",
    "read_labelled_runs",
    "run_records",
    "digest",
    "label",
    "problem_key",
    "problem_label",
    "sweep_labels",
    "resolve_optimizer",
    "resolve_problem",
    "run_seed",
]
