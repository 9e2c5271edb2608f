"""Tuning by quasi-random trials (``optbench tune --trials K``): every hyperparameter of a
family's search space, at equal trial counts, with a defaults track and equal-budget tracks.

For every problem and every optimizer family with a search space
(:mod:`optbench.search_space`; declared when the optimizer registers, or given):

1. **Trials.** The first K points of the space's scrambled Halton sequence (fixed seed: the
   same K points for every family on every problem, on any executor and across resumes),
   each run on the tuning seeds and scored by the criterion (median over the tuning seeds,
   as in the grid protocol of :mod:`optbench.tune`; a failed run scores +∞). The family's
   default point runs on the tuning seeds too, scored the same way.
2. **Tracks.** For each tuning budget k in {0, 4, 16, K} ∩ [0, K], the family is represented
   by the best of its first k trials (ties to the earlier trial); k = 0 is the *defaults
   track*, the family at its declared default point (what a user gets without tuning).
3. **Final runs.** Every track's setting is rerun on fresh seeds, the same for every
   family (paired by start point); the K track is the tuned winner the report compares,
   and the smaller tracks let the report compare families at equal tuning budgets.

The record (``OUT/results.tuning.json``) keeps every trial (index, hyperparameters, label,
score), each track's label and run ids, the spaces and the defaults.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import registry
from .errors import SpecError, UsageError

__all__ = ["BUDGETS", "PROTOCOL", "family_space", "track_budgets", "tune_trials"]

PROTOCOL = "optbench-tune-trials/1"
BUDGETS = (0, 4, 16)  # the tuning budgets compared, with K itself
MAX_TRIALS = 10_000  # per family and problem: tuning curves flatten long before; more is a typo


def track_budgets(K: int) -> list[int]:
    """The tuning budgets whose tracks are rerun: {0, 4, 16, K} ∩ [0, K], ascending."""
    return sorted({k for k in (*BUDGETS, K) if 0 <= k <= K})


def family_space(text: str, spec, given: dict[str, Any] | None) -> dict[str, Any]:
    """The family's search space: the one given for it (by its spec as written or its
    optimizer's name), else the declared one; minus what the family's spec fixes."""
    from .search_space import parse_space

    entry = registry.get("optimizer", spec.name)
    params = list(entry.params)
    given = given or {}
    raw = given.get(text, given.get(spec.name, entry.meta.get("space") or None))
    try:
        space = parse_space(raw, params, where=f"the search space of {text!r}")
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    space = {k: d for k, d in space.items() if k not in spec.params}
    if not space:
        fixed = " (its spec fixes every one)" if raw else ""
        raise UsageError(
            f"optimizer family {text!r} has no hyperparameter to tune{fixed}; give a space, "
            f"e.g. --space \"{spec.name}:lr=log(1e-4, 0.1)\""
        )
    return space


def _value(v: Any) -> Any:
    """A trial's value as a spec value (a choice's text parsed, e.g. ``cosine(T=400)``)."""
    if isinstance(v, str):
        from .spec import parse

        return parse(f"v[v={v}]").params["v"]
    return v


def _spec_text(spec, params: dict[str, Any]) -> str:
    """The trial's spec, written as the store labels its runs."""
    from .plan import label
    from .spec import Spec

    return label(Spec(spec.name, {**spec.params, **{k: _value(v) for k, v in params.items()}}))


def _defaults_text(spec) -> str:
    entry = registry.get("optimizer", spec.name)
    declared = {k: v for k, v in (entry.meta.get("defaults") or {}).items() if k not in spec.params}
    return _spec_text(spec, declared)


def tune_trials(
    problems: Iterable[str] | None = None,
    families: Iterable[str] | None = None,
    *,
    trials: int,
    space: dict[str, Any] | None = None,
    criterion: str = "aulg",
    tuning_seeds: int = 5,
    seeds: int = 15,
    final_seed_start: int = 1000,
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
):
    """Tune every family's search space by ``trials`` quasi-random trials per problem, and
    rerun the tracks at tuning budgets 0, 4, 16 and ``trials`` on fresh seeds.

    Args:
        trials: K, the trials per family and problem.
        space: per family (its spec as given, or its optimizer's name) the space to tune
            instead of the declared one: ``{"lr": "log(1e-4, 0.1)", ...}`` or the text
            ``"lr=log(1e-4, 0.1); beta1=1-log(0.001, 0.5)"``.
        The others: as for :func:`optbench.tune.tune`.

    Returns:
        :class:`optbench.tune.TuneResult`; its winners are the K tracks.
    """
    from .plan import DEFAULT_TOL
    from .tune import prepare

    problems, families = prepare(problems, families, criterion=criterion,
                                 tuning_seeds=tuning_seeds, seeds=seeds,
                                 final_seed_start=final_seed_start, plugins=plugins)
    tol = DEFAULT_TOL if tol is None else tol
    from .api import DB_NAME, DEFAULT_TUNE_OUT, REPORT_NAME
    from .plan import _expand, build_problem, problem_key, resolve_problem
    from .search_space import TRIAL_SEED, space_text
    from .search_space import trials as draw
    from .spec import PerL, format_spec, format_value, parse
    from .store import Store, write_tuning
    from .tune import (
        CRITERIA,
        TuneResult,
        _family_spec,
        _finite,
        _ids_per_spec,
        cell_score,
        phase_runner,
        reference_value,
    )
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UsageError(f"--trials must be a whole number of at least 1, got {trials!r}")
    if trials > MAX_TRIALS:
        raise UsageError(f"--trials {trials:,} is more than the {MAX_TRIALS:,} trials per family "
                         "and problem a tuning can use; ask for fewer")
    fams = [(f, *_family_spec(f)) for f in families]
    baselines = [f for f, _, has_lr in fams if not has_lr]
    tunable = [(f, s, family_space(f, s, space)) for f, s, has_lr in fams if has_lr]
    for key in space or {}:
        if key not in {f for f, _, _ in tunable} | {s.name for _, s, _ in tunable}:
            raise UsageError(f"--space names {key!r}, which is none of the tuned families "
                             f"{[f for f, _, _ in tunable]}")
    tseeds = list(range(tuning_seeds))
    fseeds = list(range(final_seed_start, final_seed_start + seeds))
    out_dir = Path(out if out is not None else DEFAULT_TUNE_OUT)
    db = out_dir / DB_NAME
    ks = track_budgets(trials)

    run_on = phase_runner(f"optbench tune --trials {trials}", out_dir=out_dir, budget=budget,
                          max_iter=max_iter, tol=tol, executor=executor, jobs=jobs,
                          plugins=plugins, progress=progress, anonymous=anonymous)

    pspecs = [format_spec(p) for text in problems for p in _expand("problem", parse(text))]
    tuning_ids: list[str] = []
    # per problem: (ptext, problem, key, {family: [(params, text, run ids)]},
    #               {family: (defaults text, run ids)})
    planned: list[tuple[str, Any, str, dict[str, list[tuple[dict[str, Any], str, list[str]]]],
                        dict[str, tuple[str, list[str]]]]] = []
    for ptext in pspecs:
        pres = resolve_problem(parse(ptext))
        problem = build_problem(pres)
        L = problem.L if problem.L is not None and problem.L > 0 else None
        points: dict[str, list[tuple[dict[str, Any], str]]] = {}
        for fam, spec, fam_space in tunable:
            try:
                drawn = draw(fam_space, trials, L=L)
            except SpecError as exc:
                raise UsageError(f"{fam} on {ptext}: {exc}") from None
            points[fam] = [(p, _spec_text(spec, p)) for p in drawn]
        texts = [t for pts in points.values() for _, t in pts]
        if len(set(texts)) != len(texts):
            dup = next(t for t, n in Counter(texts).items() if n > 1)
            raise UsageError(f"two trials on {ptext} are the same setting ({dup}): the space "
                             "is too small for the trials asked; ask fewer or widen it")
        # the defaults run on the tuning seeds too, so that k = 0 is scored like a trial
        defaults = {f: _defaults_text(s) for f, s, _ in tunable}
        texts += [t for t in dict.fromkeys(defaults.values()) if t not in texts]
        by_text: dict[str, list[str]] = {}
        if texts:
            ids = run_on(ptext, texts, tseeds, "trials")
            tuning_ids.extend(ids)
            by_text = dict(zip(texts, _ids_per_spec(ids, texts, len(tseeds)), strict=True))
        with_ids = {f: [(p, t, by_text[t]) for p, t in pts] for f, pts in points.items()}
        planned.append((ptext, problem, problem_key(pres), with_ids,
                        {f: (t, by_text.get(t, [])) for f, t in defaults.items()}))

    with Store(db, create=True) as store:
        rows = {r["run_id"]: r for r in store.runs()}
        traces = {i: store.trace(i) for i in tuning_ids}

    results, winners, final_ids, budget_ids = [], [], [], []
    final_families: dict[str, list[str]] = {}
    for ptext, problem, key, trial_runs, default_runs in planned:
        f_ref = reference_value(
            problem, [i for pts in trial_runs.values() for *_, ids in pts for i in ids], rows)
        finals: list[tuple[str, str]] = []  # (family, spec text) to rerun, in order
        entries = []

        def score_of(ids: list[str], f_ref: float = f_ref) -> float:
            return cell_score(criterion, ids, rows, traces, f_ref)

        for fam, _, _ in tunable:
            scored: list[dict[str, Any]] = []
            for index, (params, text, ids) in enumerate(trial_runs[fam]):
                score = score_of(ids)
                scored.append({
                    "index": index,
                    "params": {k: format_value(v) if isinstance(v, PerL) else v
                               for k, v in params.items()},
                    "label": text,
                    "score": _finite(score),
                    "_score": score,
                })
            tracks: dict[int, dict[str, Any]] = {}
            for k in ks:
                if k == 0:
                    dtext, dids = default_runs[fam]
                    tracks[k] = {"label": dtext, "trial": None, "score": _finite(score_of(dids))}
                else:
                    best = min(scored[:k], key=lambda t: (t["_score"], t["index"]))
                    tracks[k] = {"label": best["label"], "trial": best["index"],
                                 "score": best["score"]}
            for t in scored:
                del t["_score"]
            entries.append((fam, scored, tracks))
            for k in ks:
                finals.append((fam, tracks[k]["label"]))
        finals += [(b, b) for b in baselines]
        unique = list(dict.fromkeys(t for _, t in finals))
        ids = run_on(ptext, unique, fseeds, "final runs") if unique else []
        by_text = dict(zip(unique, _ids_per_spec(ids, unique, len(fseeds)), strict=True))
        for fam, scored, tracks in entries:
            best = tracks[trials]
            win = next(t for t in scored if t["index"] == best["trial"])
            winners.append({
                "problem": ptext, "problem_key": key, "family": fam, "label": best["label"],
                "params": win["params"], "trial": best["trial"], "score": win["score"],
                "lr": _resolved_lr(win["params"], problem),
            })
            final_families.setdefault(fam, []).extend(by_text[best["label"]])
            final_ids.extend(by_text[best["label"]])
            for k in ks:
                if k != trials:
                    budget_ids.extend(by_text[tracks[k]["label"]])
            results.append({
                "problem": ptext, "problem_key": key, "family": fam,
                "trials": scored,
                "tracks": {str(k): {**tracks[k], "run_ids": by_text[tracks[k]["label"]]}
                           for k in ks},
            })
        for b in baselines:
            final_families.setdefault(b, []).extend(by_text[b])
            final_ids.extend(by_text[b])

    record = {
        "protocol": PROTOCOL,
        "mode": "trials",
        "trials": trials,
        "trial_seed": TRIAL_SEED,
        "budgets": ks,
        "criterion": criterion,
        "criterion_text": CRITERIA[criterion],
        "tuning_seeds": tseeds,
        "final_seeds": fseeds,
        "budget": budget,
        "max_iter": max_iter,
        "tol": tol,
        "problems": pspecs,
        "families": [f for f, _, _ in tunable],
        "spaces": {f: space_text(sp) for f, _, sp in tunable},
        "defaults": {f: _defaults_text(s) for f, s, _ in tunable},
        "defaults_notes": {f: registry.get("optimizer", s.name).meta.get("defaults_note", "")
                           for f, s, _ in tunable},
        "baselines": baselines,
        "results": results,
        "winners": winners,
        "tuning_run_ids": tuning_ids,
        "final_run_ids": list(dict.fromkeys(final_ids)),
        "budget_run_ids": [i for i in dict.fromkeys(budget_ids) if i not in set(final_ids)],
        "final_families": final_families,
    }
    path = write_tuning(db, record)
    report_path = None
    if report:
        from .report import write_report

        report_path = write_report([db], out_dir / REPORT_NAME)
    return TuneResult(db, path, winners, report_path)


def _resolved_lr(params: dict[str, Any], problem) -> float | None:
    """The winner's learning rate as a number (k/L resolved), or None without one."""
    lr = params.get("lr")
    if isinstance(lr, str) and lr.endswith("/L") and problem.L:
        return float(lr[:-2]) / problem.L
    return float(lr) if isinstance(lr, int | float) else None
