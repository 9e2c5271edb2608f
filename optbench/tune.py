"""The fair-comparison protocol: tune each optimizer family's learning rate, then compare winners.

For every problem and every optimizer *family* (a spec without ``lr``, e.g. ``gd`` or
``gd[schedule=cosine(T=200)]``):

1. **Tuning.** Sweep the learning rate over a grid — in units of 1/L where the problem's L
   is known (``k/L``, the same grid spans problems whose L ranges from 1 to thousands),
   else an absolute log grid (DeepOBS: 36 values from 1e-5 to 1e2) — on the tuning seeds.
2. **Selection.** Pick the grid value with the best declared criterion, the median over the
   tuning seeds of either ``aulg`` (area under log10 of the best-so-far gap per
   evaluation of the budget; lower is better) or ``final-gap`` (f(x_T) − f_ref). Runs
   that diverged, went non-finite, errored or timed out score +∞. Ties go to the smaller
   rate. A winner on the edge of the grid is flagged: widen the grid.
3. **Final runs.** Rerun each winner on fresh seeds, disjoint from the tuning seeds, with
   every family on the same seeds (so on the same start points: paired by seed).
   Families without a learning rate (random search, scipy) are baselines: final runs only.

Both phases go into one store (``OUT/results.sqlite``); which run belongs to which phase,
the grid, the criterion and the winners are recorded in ``OUT/results.tuning.json`` next to
it (:func:`optbench.store.tuning_path`). The report then states the protocol and compares
the tuned winners, one per family.

Example:
    >>> from optbench.tune import tune
    >>> res = tune(["quadratic-1d"], ["gd", "gd[schedule=cosine(T=100)]", "scipy-bfgs"],
    ...            tuning_seeds=3, seeds=15, budget=200, out="tuned")    # doctest: +SKIP
    >>> [(w["family"], w["label"]) for w in res.winners]                  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import registry
from .errors import UsageError
from .thresholds import gap_floor

__all__ = ["CRITERIA", "DEFAULT_GRID", "DEFAULT_GRID_L", "TuneResult", "parse_grid", "tune"]

# k in lr = k/L: 2^(i/2) for i = -12..4, i.e. 1/64 … 4, with 1 and 2 (the thresholds) on it
DEFAULT_GRID_L = tuple(float(f"{2 ** (i / 2):.3g}") for i in range(-12, 5))
# DeepOBS's suggested protocol: 36 log-spaced rates from 1e-5 to 1e2
DEFAULT_GRID = tuple(float(f"{10 ** (-5 + 7 * i / 35):.3g}") for i in range(36))
CRITERIA = {
    "aulg": (
        "median over the tuning seeds of the area under log10 of the best-so-far gap "
        "per evaluation of the budget (lower is better)"
    ),
    "final-gap": "median over the tuning seeds of the final gap f(x_T) − f_ref (lower is better)",
}
FAILED = ("diverged", "non-finite", "error", "timeout")
FINAL_SEED_START = 1000
PROTOCOL = "optbench-tune/1"


@dataclass
class TuneResult:
    """What :func:`tune` returns."""

    db: Path
    record: Path  # the tuning record (JSON) next to the store
    winners: list[dict[str, Any]]
    report: Path | None


def parse_grid(text: str | Iterable[float]) -> tuple[float, ...]:
    """A grid from spec syntax (``log(0.01,4,9)``, ``[0.1,0.5,1]``, ``0.5``) or numbers."""
    from .spec import PerL, Sweep, parse

    if not isinstance(text, str):
        values = [float(v) for v in text]
    else:
        try:
            v = parse(f"grid[v={text}]").params["v"]
        except UsageError as exc:
            raise UsageError(
                f"cannot read the grid {text!r}: {exc}; expected e.g. "
                "'log(0.01,4,9)' or '[0.25,0.5,1]'"
            ) from None
        items = v.values if isinstance(v, Sweep) else (v if isinstance(v, list) else [v])
        values = []
        for item in items:
            item = item.k if isinstance(item, PerL) else item
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise UsageError(f"the grid {text!r} must hold numbers, got {item!r}")
            values.append(float(item))
    if not values or any(not (v > 0) or not math.isfinite(v) for v in values):
        raise UsageError(f"a learning-rate grid needs positive finite values, got {list(values)}")
    return tuple(sorted(set(values)))


def _family_spec(text: str):
    from .spec import parse

    spec = parse(text)
    entry = registry.get("optimizer", spec.name)
    if "lr" in spec.params:
        raise UsageError(
            f"optimizer family {text!r} sets lr, which the protocol tunes; "
            f"give it without lr, e.g. {spec.name!r}"
        )
    return spec, "lr" in entry.params


def _with_lr(spec, value, per_L: bool) -> str:
    from .spec import PerL, Spec, format_spec

    return format_spec(Spec(spec.name, {**spec.params, "lr": PerL(value) if per_L else value}))


def _score(
    criterion: str,
    status: str,
    trace: dict | None,
    f_ref: float,
    budget: int | None,
    max_iter: int | None,
    metric: float | None,
) -> float:
    """One run's criterion value (lower is better; +inf for a failed run)."""
    import numpy as np

    from .stats.convention import NOT_RUN

    if status in FAILED or status in NOT_RUN or trace is None or not len(trace["f"]):
        return math.inf
    floor = gap_floor(f_ref)
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.where(np.isfinite(trace["f"]), trace["f"] - f_ref, np.inf)
    if criterion == "final-gap":
        return float(max(gap[-1], 0.0))
    if metric is not None and math.isfinite(metric):
        return float(metric)  # the worker's AULG, computed on the full trace
    from .metrics.convergence import aulg

    best = np.minimum.accumulate(gap)[:, None]
    with np.errstate(divide="ignore"):
        lg = np.log10(np.maximum(best, floor))
    cost = (trace["n_f"] + trace["n_g"])[:, None]
    iters = np.asarray(trace.get("t", np.arange(len(gap))), dtype=float)[:, None]
    last = np.array([len(gap) - 1])
    area = aulg(lg, cost, iters, last, np.array([0]), budget, max_iter)
    return math.inf if area is None else float(area[0])


def tune(
    problems: Iterable[str] | None = None,
    families: Iterable[str] | None = None,
    *,
    grid_L: Iterable[float] | str = DEFAULT_GRID_L,
    grid: Iterable[float] | str = DEFAULT_GRID,
    criterion: str = "aulg",
    tuning_seeds: int = 5,
    seeds: int = 15,
    final_seed_start: int = FINAL_SEED_START,
    budget: int | None = 1000,
    max_iter: int | None = None,
    tol: float | None = None,
    out: str | os.PathLike | None = None,
    executor: str = "serial",
    jobs: int | None = None,
    plugins: Iterable[str] = (),
    report: bool = True,
    progress: Callable[[int, int], None] | None = None,
    anonymous: bool = False,
) -> TuneResult:
    """Tune every family's learning rate per problem, rerun the winners on fresh seeds.

    Args:
        problems: problem specs; families: optimizer specs without ``lr``. With neither,
            the default suite's problems and families.
        grid_L: multiples k of 1/L (used where L is known); grid: absolute rates (elsewhere).
        criterion: ``aulg`` or ``final-gap`` (see :data:`CRITERIA`).
        tuning_seeds: seeds ``0..tuning_seeds-1`` for the sweep; seeds: final seeds
            ``final_seed_start..`` (must not overlap).
        budget, max_iter, tol: per run, as for :func:`optbench.run`.
        out: output folder (default ``optbench-tune``, its own: tuning never merges into the
            run store of ``optbench run`` unless ``out`` names that folder); report: write
            ``OUT/report.html``.
        anonymous: store no host name (see :func:`optbench.run`).

    Returns:
        :class:`TuneResult` with the store, the record and the winners.
    """
    from .api import DB_NAME, DEFAULT_TUNE_OUT, REPORT_NAME
    from .plan import DEFAULT_TOL, _expand, build_problem, problem_key, resolve_problem
    from .spec import format_spec, parse
    from .store import Store, write_tuning

    problems, families = prepare(problems, families, criterion=criterion,
                                 tuning_seeds=tuning_seeds, seeds=seeds,
                                 final_seed_start=final_seed_start, plugins=plugins)
    grid_L, grid = parse_grid(grid_L), parse_grid(grid)
    tol = DEFAULT_TOL if tol is None else tol
    fams = [(f, *_family_spec(f)) for f in families]
    tunable = [(f, s) for f, s, has_lr in fams if has_lr]
    baselines = [f for f, _, has_lr in fams if not has_lr]
    tseeds = list(range(tuning_seeds))
    fseeds = list(range(final_seed_start, final_seed_start + seeds))
    out_dir = Path(out if out is not None else DEFAULT_TUNE_OUT)
    db = out_dir / DB_NAME

    run_on = phase_runner("optbench tune", out_dir=out_dir, budget=budget, max_iter=max_iter,
                          tol=tol, executor=executor, jobs=jobs, plugins=plugins,
                          progress=progress, anonymous=anonymous)

    pspecs = [format_spec(p) for text in problems for p in _expand("problem", parse(text))]
    results, winners, tuning_ids, final_ids = [], [], [], []
    final_families: dict[str, list[str]] = {}
    tuning = []  # per problem: (ptext, problem, key, per_L, values, cells)
    for ptext in pspecs:
        pres = resolve_problem(parse(ptext))
        problem = build_problem(pres)
        per_L = problem.L is not None and problem.L > 0
        values = grid_L if per_L else grid
        texts = {(fam, v): _with_lr(spec, v, per_L) for fam, spec in tunable for v in values}
        cells = {}  # (family, value) -> (spec text, run ids)
        if texts:
            run_ids = run_on(ptext, list(texts.values()), tseeds, "tuning")
            ids = _ids_per_spec(run_ids, list(texts.values()), len(tseeds))
            cells = {k: (t, i) for (k, t), i in zip(texts.items(), ids, strict=True)}
            tuning_ids.extend(run_ids)
        tuning.append((ptext, problem, problem_key(pres), per_L, values, cells))
    with Store(db, create=True) as store:  # the tuning runs of every problem, read once
        rows = {r["run_id"]: r for r in store.runs()}
        traces = {i: store.trace(i) for i in tuning_ids}
    for ptext, problem, key, per_L, values, cells in tuning:
        f_ref = reference_value(problem, [i for _, ids in cells.values() for i in ids], rows)
        finals = []
        for fam, _spec in tunable:
            scores = [cell_score(criterion, cells[(fam, v)][1], rows, traces, f_ref)
                      for v in values]
            best = min(range(len(values)), key=lambda j: (scores[j], values[j]))
            lr = values[best] / problem.L if per_L else values[best]
            win = {
                "problem": ptext,
                "problem_key": key,
                "family": fam,
                "label": cells[(fam, values[best])][0],
                "grid_kind": "per-L" if per_L else "absolute",
                "value": values[best],
                "lr": lr,
                "score": _finite(scores[best]),
                "edge": best in (0, len(values) - 1) and len(values) > 1,
            }
            winners.append(win)
            results.append(
                {
                    **{k: win[k] for k in ("problem", "problem_key", "family", "grid_kind")},
                    "values": list(values),
                    "scores": [_finite(s) for s in scores],
                    "winner": values[best],
                }
            )
            finals.append((fam, cells[(fam, values[best])][0]))
        finals += [(b, b) for b in baselines]
        run_ids = run_on(ptext, [t for _, t in finals], fseeds, "final runs")
        ids = _ids_per_spec(run_ids, [t for _, t in finals], len(fseeds))
        for (fam, _text), fam_ids in zip(finals, ids, strict=True):
            final_families.setdefault(fam, []).extend(fam_ids)
            final_ids.extend(fam_ids)

    record = {
        "protocol": PROTOCOL,
        "criterion": criterion,
        "criterion_text": CRITERIA[criterion],
        "grid_L": list(grid_L),
        "grid": list(grid),
        "tuning_seeds": tseeds,
        "final_seeds": fseeds,
        "budget": budget,
        "max_iter": max_iter,
        "tol": tol,
        "problems": pspecs,
        "families": [f for f, _ in tunable],
        "baselines": baselines,
        "results": results,
        "winners": winners,
        "tuning_run_ids": tuning_ids,
        "final_run_ids": final_ids,
        "final_families": final_families,
    }
    path = write_tuning(db, record)
    report_path = None
    if report:
        from .report import write_report

        report_path = write_report([db], out_dir / REPORT_NAME)
    return TuneResult(db, path, winners, report_path)


def prepare(problems, families, *, criterion: str, tuning_seeds: int, seeds: int,
            final_seed_start: int, plugins: Iterable[str]) -> tuple[list[str], list[str]]:
    """What both protocols check first: plug-ins loaded, the criterion and seeds valid,
    the problems and families given (neither: the default suite's, lr stripped)."""
    from . import suite
    from .spec import format_spec, parse

    for plugin in plugins:
        registry.load_plugin(str(plugin))
    if criterion not in CRITERIA:
        raise UsageError(f"criterion must be one of {sorted(CRITERIA)}, got {criterion!r}")
    if tuning_seeds < 1 or seeds < 1:
        raise UsageError(
            f"tuning seeds and final seeds must be >= 1, got {tuning_seeds} and {seeds}"
        )
    if final_seed_start < tuning_seeds:
        raise UsageError(
            f"final seeds start at {final_seed_start}, inside the tuning seeds "
            f"0..{tuning_seeds - 1}; they must be fresh"
        )
    problems = list(problems or [])
    families = list(families or [])
    if not problems and not families:
        problems = list(suite.DEFAULT_SUITE["problems"])
        families = list(
            dict.fromkeys(
                format_spec(_strip_lr(parse(o))) for o in suite.DEFAULT_SUITE["optimizers"]
            )
        )
    elif not problems or not families:
        raise UsageError(
            f"no {'problem (-p)' if not problems else 'optimizer family (-o)'} given; "
            "name at least one, or give neither for the default suite"
        )
    return problems, families


def phase_runner(prefix: str, *, out_dir, **common) -> Callable[..., list[str]]:
    """``run_on(problem, specs, seeds, phase)``: runs ``specs`` on one problem into the
    tuning store (``common``: budget, max_iter, tol, executor, jobs, plugins, progress,
    anonymous, as for :func:`optbench.run`) and returns the run ids, per spec then seed."""
    from .api import run

    def run_on(ptext: str, specs: list[str], on_seeds: list[int], phase: str) -> list[str]:
        return run(problems=[ptext], optimizers=specs, seeds=on_seeds,
                   command=f"{prefix}: {phase} on {ptext}", out=out_dir, report=False,
                   **common).run_ids

    return run_on


def reference_value(problem, ids: Iterable[str], rows: dict[str, Any]) -> float:
    """The value gaps are scored against: f*, else the best value the runs ``ids`` found."""
    if problem.f_star is not None:
        return problem.f_star
    finite = [rows[i]["summary"].f_best for i in ids if i in rows]
    finite = [f for f in finite if isinstance(f, float | int) and math.isfinite(f)]
    return min(finite) if finite else 0.0


def cell_score(criterion: str, ids: Iterable[str], rows: dict[str, Any],
               traces: dict[str, Any], f_ref: float) -> float:
    """One setting's criterion: the median over its stored runs ``ids`` (+∞ when none)."""
    return _median([
        _score(criterion, rows[i]["status"], traces.get(i), f_ref, rows[i]["budget"],
               rows[i]["max_iter"], _as_float(rows[i]["metrics"].get("aulg")))
        for i in ids if i in rows
    ])


def _ids_per_spec(run_ids: list[str], texts: list[str], seeds: int) -> list[list[str]]:
    """The run ids :func:`optbench.api.run` returned for one problem, split per optimizer
    spec (the plan orders them by spec, then seed)."""
    if len(run_ids) != len(texts) * seeds:
        raise UsageError(
            f"two of the optimizers {texts} are the same run (a family given twice, or the "
            "same learning rate spelled twice); name each once"
        )
    return [run_ids[k * seeds : (k + 1) * seeds] for k in range(len(texts))]


def _strip_lr(spec):
    from .spec import Spec

    return Spec(spec.name, {k: v for k, v in spec.params.items() if k != "lr"})


def _as_float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _median(values: list[float]) -> float:
    if not values:
        return math.inf
    s = sorted(values)
    n = len(s)
    mid = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return mid if mid == mid else math.inf  # inf + -inf is nan: treat as failed


def _finite(v: float) -> float | None:
    """JSON has no infinity: None stands for +inf (every seed failed)."""
    return v if math.isfinite(v) else None
