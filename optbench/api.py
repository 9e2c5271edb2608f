"""The Python API: ``optbench.run`` and ``optbench.load``.

The command line is a thin layer over these two functions, so a script or a notebook gets
exactly what ``optbench run`` does::

    import optbench
    res = optbench.run(problems=["quadratic-1d"], optimizers=["gd[lr=log(1e-2,1,5)]"], seeds=5)
    res.runs.groupby("label").status.value_counts()
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import registry, settings
from .errors import StoreError, UsageError

__all__ = ["Results", "load", "load_spec", "load_trace", "make_problem", "run"]

DEFAULT_OUT = "optbench-results"
DEFAULT_TUNE_OUT = "optbench-tune"  # optbench tune's own: never merged into the run store
DB_NAME = "results.sqlite"
REPORT_NAME = "report.html"


@dataclass
class Results:
    """What :func:`run` returns: the store, the report, and the runs of this spec."""

    db: Path
    report: Path | None
    added: int  # runs computed by this call (the rest were already stored)
    run_ids: list[str]
    statuses: dict[str, int]  # status -> count over this spec's runs
    stale: int = 0  # runs kept from another results version (see ``recompute``)
    # problem label -> why its landscape is not stored (its f failed on the grid)
    landscape_failures: dict[str, str] = field(default_factory=dict)

    @property
    def n_missing(self) -> int:
        """Runs asked for that the store does not hold (an executor that lost them)."""
        return len(self.run_ids) - sum(self.statuses.values())

    @property
    def runs(self):
        """One pandas row per run of this spec (loaded on first use)."""
        if not hasattr(self, "_runs"):
            frame = load(self.db)
            order = {rid: i for i, rid in enumerate(self.run_ids)}
            frame = frame[frame.run_id.isin(order)]
            self._runs = frame.sort_values("run_id", key=lambda s: s.map(order)).reset_index(
                drop=True
            )
        return self._runs

    @property
    def n_failed(self) -> int:
        """Runs that ended in ``error`` or ``timeout``."""
        return self.statuses.get("error", 0) + self.statuses.get("timeout", 0)

    def _repr_html_(self) -> str:
        """In a notebook: the store, the report, and a compact summary of the runs."""
        import html

        from .notebook import summary_html

        report = (f" · report: <a href='{html.escape(self.report.as_posix())}'>"
                  f"{html.escape(str(self.report))}</a>" if self.report else "")
        return (
            f"<div><p>store: {html.escape(str(self.db))}{report} · {self.added} runs computed "
            f"now, {len(self.run_ids) - self.added} already stored</p>"
            + summary_html(self.runs, "runs of this spec") + "</div>"
        )


def load_spec(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML spec file (the same strings as on the command line)."""
    import tomllib  # only here: a run named by options alone does not pay for it

    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"spec file {str(p)!r} does not exist; expected a TOML file such as examples/sweep.toml"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read spec file {str(p)!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"spec file {str(p)!r} is not valid TOML: {exc}") from None
    where = f"spec file {str(p)!r}: "
    settings.check_keys(data, where)
    settings.check(data, where)
    return data


def _cannot_write(target: Path, exc: OSError, kept: str = "") -> UsageError:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UsageError(f"disk full: cannot write the report {str(target)!r}{kept}")
    return UsageError(f"cannot write the report {str(target)!r}: {exc.strerror or exc}{kept}")


def check_report_target(target: str | os.PathLike) -> None:
    """A one-line error, before any work, for a report path that cannot be written."""
    target = Path(target)
    if target.is_dir():
        raise UsageError(
            f"cannot write the report {str(target)!r}: it is a folder; expected a file path "
            "(move the folder aside, give another --html, or --no-report)"
        )
    probe = target.with_name(target.name + ".tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(probe, "a"):
            pass
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    if probe.stat().st_size == 0:
        probe.unlink()


def write_report_file(
    dbs: Sequence[str | os.PathLike],
    target: str | os.PathLike,
    problems: list[str] | None = None,
    optimizers: list[str] | None = None,
    **options: Any,
) -> Path:
    """:func:`optbench.report.write_report` (``options``: its ``names``, ``baseline``,
    ``x_axis``, ``check`` and ``progress``), with a failure to write the file as one line
    that says the stores are untouched."""
    from .report import write_report

    try:
        return write_report(list(dbs), target, problems, optimizers, **options)
    except OSError as exc:
        stores = ", ".join(repr(str(d)) for d in dbs)
        raise _cannot_write(Path(target), exc, f"; every run is kept in {stores}") from None


def _move_aside(db: Path) -> Path | None:
    if not db.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = db.with_name(f"{db.stem}.{stamp}{db.suffix}")
    n = 1
    while target.exists():
        target = db.with_name(f"{db.stem}.{stamp}-{n}{db.suffix}")
        n += 1
    for suffix in ("-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    db.rename(target)
    return target


def make_problem(spec: str | Any):
    """Build the problem a spec names, as a run would: ``make_problem("quadratic-1d")``,
    ``make_problem("bbob[f=3,dim=5,instance=1]")``.

    Every parameter not given takes its default. Each call builds a new
    :class:`~optbench.problem.Problem` (no cache shared with runs in this process).

    Args:
        spec: one problem spec (a string or a parsed :class:`~optbench.spec.Spec`); a sweep
            such as ``bbob[f=[1,2]]`` names several problems and is refused.

    Raises:
        UsageError: a spec that does not parse, an unknown name, a sweep, or a parameter
            value the problem refuses (one line, e.g. ``problem 'bbob': f must be a whole
            number in [1, 24], got 25``).
    """
    from .plan import resolve_problem
    from .spec import count, format_spec, parse

    parsed = parse(spec)
    entry = registry.get("problem", parsed.name)
    n = count(parsed, registry.literal_lists("problem", parsed.name))
    if n != 1:
        raise UsageError(
            f"make_problem builds one problem, but {format_spec(parsed)!r} is a sweep of {n}; "
            "give one value per parameter"
        )
    resolved = resolve_problem(parsed)
    problem = entry.build(**dict(resolved.params))
    problem.name, problem.params = resolved.name, dict(resolved.params)
    if not problem.description:
        problem.description = entry.description
    return problem


def _spec_list(specs: str | Iterable[str] | None) -> list[str]:
    """One spec string is one spec, not a sequence of letters."""
    if specs is None:
        return []
    return [specs] if isinstance(specs, str) else list(specs)


def run(
    spec: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    problems: str | Iterable[str] | None = None,
    optimizers: str | Iterable[str] | None = None,
    sweeps: Iterable[Mapping[str, Any]] | None = None,
    seeds: int | list[int] | None = None,
    budget: int | None = None,
    max_iter: int | None = None,
    tol: float | None = None,
    timeout: float | None = None,
    noisy_stops: bool | None = None,
    out: str | os.PathLike | None = None,
    executor: str | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    max_runs: int | None = None,
    plugins: str | Iterable[str] = (),
    fresh: bool = False,
    retry_failed: bool = False,
    recompute: bool = False,
    report: bool = True,
    progress: Callable[[int, int], None] | None = None,
    report_progress: Callable[[str], None] | None = None,
    command: str = "optbench.run",
    anonymous: bool | None = None,
) -> Results:
    """Run a benchmark into a store and (optionally) write the report.

    Args:
        spec: a TOML spec path or a dict with the same keys; keyword arguments override it.
        problems, optimizers: a spec string or a list of them; with neither given, the
            default suite.
        sweeps: extra cross products run beside problems x optimizers, each a mapping
            ``{"problems": [...], "optimizers": [...]}`` with the same seeds and budget
            rules (:mod:`optbench.sweeps`); they replace the spec's ``sweeps`` (``[]``: none).
        seeds: a count or a list of seeds. budget: evaluations per run (``n_f + n_g``); it
            replaces the spec's per-problem ``budgets`` (a table problem spec -> budget).
        noisy_stops: on a stochastic problem (minibatch or noisy gradients), also end runs
            as ``stalled`` or ``cycle``; by default they run to their budget (or converge:
            full-data gap below ``tol``). Also ``noisy_stops = true`` in a spec file.
        out: the output folder (``optbench-results``); the store is ``out/results.sqlite``.
        executor: ``serial`` (the default), ``process`` or ``dask``, with ``jobs`` workers.
        max_runs: refuse a spec that asks for more runs (default 1,000,000).
        fresh: move an existing store aside (never deleted) and start a new one.
        retry_failed: rerun this spec's stored ``error`` and ``timeout`` runs, each alone;
            a new row replaces the old one, which moves to the ``superseded`` table.
        recompute: rerun the runs the store holds from another results version
            (:data:`optbench.store.RESULTS_VERSION`); their old rows are kept in the store's
            ``superseded`` table. Without it they are kept and counted in ``Results.stale``.
        report: write ``out/report.html``.
        progress: ``progress(runs_done, runs_total)`` after each finished batch.
        report_progress: called with a short line at each step of the report
            (:func:`optbench.report.write_report`'s ``progress``).
        anonymous: store no host name and the command without its folder (``optbench run
            ...``, not ``/home/me/.venv/bin/optbench run ...``), so that reports shared from
            the store say nothing about the machine, and plug-in files by name and sha256
            alone; versions are kept (:mod:`optbench.environment`). Also
            ``anonymous = true`` in a spec file.

    Returns:
        :class:`Results` with one DataFrame row per run of this spec.
    """
    from . import environment, suite
    from .executors import check_executor, close_worker, execute
    from .plan import DEFAULT_MAX_RUNS, Batch, component_records, make_plan, run_records
    from .runner import skipped_result
    from .store import RESULTS_VERSION, Store, anonymized, exclusive

    data: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        data = dict(spec)
        settings.check_keys(data, "spec: ")
        settings.check(data, "spec: ")
    elif spec is not None:
        data = load_spec(spec)
    given = {
        "seeds": seeds,
        "budget": budget,
        "max_iter": max_iter,
        "max_runs": max_runs,
        "tol": tol,
        "noisy_stops": noisy_stops,
        "timeout": timeout,
        "out": None if out is None else str(out),
        "executor": executor,
        "jobs": jobs,
        "scheduler": scheduler,
    }
    settings.check(given)
    if sweeps is not None:
        sweeps = list(sweeps)
        settings.check({"sweeps": sweeps})
    plugins = [plugins] if isinstance(plugins, str) else plugins
    for plugin in [*data.get("plugins", []), *plugins]:
        registry.load_plugin(str(plugin))
    plugin_list = tuple(str(p) for p in [*data.get("plugins", []), *plugins])
    problem_specs = _spec_list(problems) or _spec_list(data.get("problems"))
    optimizer_specs = _spec_list(optimizers) or _spec_list(data.get("optimizers"))
    if not problem_specs and not optimizer_specs:
        if sweeps if sweeps is not None else data.get("sweeps"):
            raise UsageError(
                "sweeps add to a main problems x optimizers, and this spec names none; give "
                "problems and optimizers too, or no sweeps for the default suite"
            )
        defaults = suite.DEFAULT_SUITE
        problem_specs, optimizer_specs = defaults["problems"], defaults["optimizers"]
        data = {**defaults, **data}
    elif not problem_specs or not optimizer_specs:
        missing = "problem (-p)" if not problem_specs else "optimizer (-o)"
        raise UsageError(
            f"no {missing} given; name at least one, or give neither for the default suite"
        )

    def pick(value, key, default):
        return value if value is not None else data.get(key, default)

    from .sweeps import normalize

    sweep_blocks = normalize(pick(sweeps, "sweeps", None))

    executor = pick(executor, "executor", "serial")
    check_executor(executor)
    jobs = pick(jobs, "jobs", None)
    scheduler = pick(scheduler, "scheduler", None)
    if scheduler and executor != "dask":
        raise UsageError("a scheduler address goes with the dask executor (--executor dask)")
    plan = make_plan(
        problem_specs,
        optimizer_specs,
        seeds=pick(seeds, "seeds", 5),
        budget=pick(budget, "budget", 1000),
        max_iter=pick(max_iter, "max_iter", None),
        tol=pick(tol, "tol", 1e-8),
        timeout=pick(timeout, "timeout", None),
        noisy_stops=bool(pick(noisy_stops, "noisy_stops", False)),
        plugins=plugin_list,
        max_runs=pick(max_runs, "max_runs", DEFAULT_MAX_RUNS),
        # a budget given here replaces the spec's per-problem budgets
        budgets=data.get("budgets") if budget is None else None,
        sweeps=sweep_blocks,
    )
    out_dir = Path(out if out is not None else data.get("out", DEFAULT_OUT))
    db = out_dir / DB_NAME
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"--out {str(out_dir)!r} is a file; expected a folder")
        if fresh:
            _move_aside(db)
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK):
            raise PermissionError(f"{str(out_dir)!r} is not writable")
    except OSError as exc:
        raise UsageError(
            f"cannot write to the output folder {str(out_dir)!r}: {exc.strerror or exc}"
        ) from None
    if report:
        check_report_target(out_dir / REPORT_NAME)
    added = 0
    anonymous = bool(pick(anonymous, "anonymous", False))
    # two --recompute runs at once take turns: the second keeps the first's fresh rows
    env = environment.capture(
        [*problem_specs, *(p for b in sweep_blocks for p in b["problems"])],
        [*optimizer_specs, *(o for b in sweep_blocks for o in b["optimizers"])],
        plugin_list, anonymous,
    )
    with exclusive(db) if recompute else contextlib.nullcontext(), Store(db, create=True) as store:
        # recorded with the first write: a run that stops before it (a store found damaged,
        # an executor that cannot start) leaves the store as it was
        store.add_session(
            command,
            {
                "problems": list(problem_specs),
                "optimizers": list(optimizer_specs),
                "seeds": pick(seeds, "seeds", 5),
                "budget": pick(budget, "budget", 1000),
                "max_iter": pick(max_iter, "max_iter", None),
                # with the above, all a run's identity holds: a bundle's spec.toml reruns it
                "tol": pick(tol, "tol", 1e-8),
                "noisy_stops": bool(pick(noisy_stops, "noisy_stops", False)),
                "budgets": data.get("budgets") if budget is None else None,
                "plugins": [anonymized(p) if anonymous else p for p in plugin_list],
                # the sweeps (rerun by a bundle's spec.toml), and the labels of the main
                # product and those only a sweep ran (kept out of the per-problem tests)
                **({"sweeps": sweep_blocks} if sweep_blocks else {}),
                "labels": plan.labels(),
            },
            anonymous=anonymous,
            defer=True,
            environment=environment.stored(env),
        )
        existing = store.existing_ids()
        retry: set[str] = set()
        if retry_failed:
            retry = store.failed_ids() & {r.run_id for r in plan.runs}
            existing -= retry
        stale = {
            rid
            for rid, v in store.results_versions(r.run_id for r in plan.runs).items()
            if v != RESULTS_VERSION
        }
        if recompute:
            existing -= stale
        skipped = [
            (r, skipped_result(r, why)) for r, why in plan.skipped if r.run_id not in existing
        ]
        todo = []
        for b in plan.batches:
            if any(rid in retry for rid in b.run_ids):  # alone: a hang costs one run only
                todo += [Batch(b.index, [r], b.batchable, b.plugins) for r in b.runs
                         if r.run_id in retry]
                if any(rid not in existing and rid not in retry for rid in b.run_ids):
                    todo.append(b)
            elif any(rid not in existing for rid in b.run_ids):
                todo.append(b)
        # the info of each problem whose runs this writes: its code (f on the landscape's
        # grid above all) runs in a worker child, under the runs' guard
        infos, landscape_failures = _problem_infos(
            [r.problem for r, _ in skipped] + [b.runs[0].problem for b in todo],
            _plan_timeout(plan), plugin_list,
        )
        if executor != "serial" and not (executor == "process" and (jobs or 1) == 1):
            close_worker()  # the batches run in the executor's own workers
        # what the report shows of each optimizer and schedule, recorded with the runs
        components = component_records([r for r, _ in skipped] + [r for b in todo for r in b.runs])
        if anonymous:  # a plug-in file's origin is its path: its name alone
            components = {k: {**info, "origin": anonymized(str(info.get("origin", "")))}
                          for k, info in components.items()}
        if skipped:
            added += store.write(
                run_records(skipped), infos, anonymous=anonymous,
                replace=stale if recompute else (), components=components,
            )
        total = sum(len(b.runs) for b in todo)
        done = 0
        if progress:
            progress(0, total)
        for batch, results in execute(todo, executor, jobs, scheduler):
            by_id = {r.run_id: r for r in batch.runs}
            store.supersede([res.run_id for res in results if res.run_id in retry])
            added += store.write(
                run_records([(by_id[res.run_id], res) for res in results]),
                infos,
                batch.index,
                anonymous,
                replace=stale if recompute else (),
                components=components,
            )
            done += len(batch.runs)
            if progress:
                progress(done, total)
        if skipped:  # after the runs: an executor that cannot start leaves no trace
            added += store.write(
                run_records(skipped), infos, anonymous=anonymous,
                replace=stale if recompute else (), components=components,
            )
        store.record_session()  # when nothing was written (every run stored already)
        statuses = store.status_counts([r.run_id for r in plan.runs])
    report_path = None
    if report:
        report_path = write_report_file([db], out_dir / REPORT_NAME, progress=report_progress)
    return Results(
        db, report_path, added, [r.run_id for r in plan.runs], statuses,
        0 if recompute else len(stale), landscape_failures,
    )


def _plan_timeout(plan) -> float | None:
    """The runs' cooperative deadline in seconds (one for the whole plan), or None."""
    return plan.runs[0].timeout if plan.runs else None


def _problem_infos(
    specs: Iterable[Any], timeout: float | None, plugins: tuple[str, ...]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``problem_key -> info`` (with its ``landscape``) for each problem, computed in the
    worker child like a run, and ``problem label -> why`` for each whose landscape could not
    be had (its runs go on; the store then holds no landscape for it)."""
    from .executors import _worker, portable
    from .plan import build_problem, label, problem_key, problem_label
    from .spec import canonical
    from .worker import ProblemInfo, problem_record

    specs = list(specs)
    infos: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for spec in specs:
        key = problem_key(spec)
        if key in infos:
            continue
        if not portable("problem", spec):  # registered in this process alone: built here
            p = build_problem(spec)
            infos[key] = {**problem_record(p), "landscape": p.stored_landscape()}
            continue
        info, grid, why = _worker().problem_info(ProblemInfo(spec, plugins), timeout)
        if info is None:  # what the planner built here, without running its f
            try:
                info = problem_record(build_problem(spec))
            except Exception:  # noqa: BLE001 — a problem's own info() failing: the essentials
                info = {"name": spec.name, "params": dict(spec.params)}
        infos[key] = {**info, "landscape": grid}
        if why:
            failed[label(spec)] = why
    for spec in specs:  # the label the report shows, as the registry gives it now
        info = infos[problem_key(spec)]
        info.setdefault("label", problem_label(spec.name, canonical(spec)["params"]))
    return infos, failed


def load(path: str | os.PathLike, traces: bool = False):
    """One tidy DataFrame, one row per run, from a store file, an output folder, a bundle
    (``FILE.zip``, :mod:`optbench.bundle`) or a built-in reference (``"reference:default"``).

    Columns: ``run_id``, ``problem``, ``problem_key``, ``problem_label``, ``optimizer``,
    ``label``, ``seed``, ``status``, ``message``, ``budget``, ``max_iter``, ``n_iter``,
    ``n_f``, ``n_g``, ``evals``, ``f_final``, ``f_best``, every metric, the hyperparameters as ``hp.<name>``
    and the problem parameters as ``pp.<name>``. With ``traces=True`` a ``trace`` column
    holds each run's arrays (see :func:`load_trace`). In a notebook it shows as a compact
    summary (:class:`optbench.notebook.RunFrame`); it is a pandas DataFrame otherwise.
    """
    from .notebook import RunFrame
    from .plan import read_labelled_runs

    p = Path(path)
    if p.is_dir():
        p = p / DB_NAME
    return RunFrame(read_labelled_runs(p, traces))


def load_trace(path: str | os.PathLike, run_id: str, frame: bool = False):
    """The recorded arrays of one run: ``f``, ``gnorm``, ``n_f``, ``n_g``, ``lr``, ``time``
    (and ``x`` for low dimension, ``test_f`` and ``test_acc`` for problems with a held-out
    loss and accuracy); index ``t`` is the iterate after ``t`` updates. ``path``: as for
    :func:`load` (a store, a folder, a bundle or ``reference:NAME``).

    ``lr`` has one entry per update (one fewer than the iterates) and ``x`` is 2-D, so with
    ``frame=True`` the trace comes as a tidy DataFrame instead, one row per iterate (the
    columns of ``traces.csv`` in the export, see :func:`optbench.export.trace_frame`).
    """
    from .store import Store

    p = Path(path)
    if p.is_dir():
        p = p / DB_NAME
    with Store(p) as store:
        trace = store.trace(run_id)
    if trace is None:
        raise StoreError(f"no trace for run {run_id!r} in {str(p)!r} (skipped runs have none)")
    if frame:
        from .export import trace_frame

        return trace_frame(trace)
    return trace
