"""The ``optbench`` command: a thin layer over the Python API.

Exit codes: 0 the command did its job (diverging is a result, not a failure);
3 some runs ended in ``error`` or ``timeout``; 2 bad usage or input (one line on stderr,
the traceback only with ``--debug``); 1 an unexpected internal failure.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

import click

from .errors import OptbenchError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_RUN_FAILURES = 0, 1, 2, 3
EXIT_WORSE = 4  # optbench report --fail-on worse: a pairing got worse than the baseline
KIND_NAMES = {
    "problems": "problem",
    "optimizers": "optimizer",
    "schedules": "schedule",
    "sections": "section",
}


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """One line for optbench's own errors, a traceback only with --debug."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.get("debug", False)
        try:
            return func(*args, **kwargs)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except OptbenchError as exc:
            if debug:
                raise
            click.echo(f"optbench: error: {_one_line(exc)}", err=True)
            sys.exit(EXIT_USAGE)
        except BrokenPipeError:  # `optbench ... | head`: the reader left, nothing went wrong
            sys.stderr = None
            sys.exit(EXIT_OK)
        except KeyboardInterrupt:
            click.echo(
                "optbench: interrupted; every finished batch is stored, rerun to resume", err=True
            )
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 — an internal failure still gets one line
            if debug:
                raise
            click.echo(
                f"optbench: internal error: {type(exc).__name__}: {_one_line(exc)} "
                "(rerun with --debug for the traceback)",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)

    return wrapper


def _one_line(exc: BaseException) -> str:
    """An error's text on one line: a line break that came from a store or a spec (a
    problem label, a file name) is shown as ``\\n``."""
    return str(exc).replace("\r", "\\r").replace("\n", "\\n")


debug_option = click.option("--debug", is_flag=True, help="Show the traceback of an error.")


class ExecutorName(click.ParamType):
    """An executor's name; the help lists the registered ones. A plug-in's executor is known
    only once its plug-in is loaded, so the name is checked when the batches run."""

    name = "executor"

    def get_metavar(self, param, ctx=None) -> str:  # noqa: ARG002 — click's signature
        from .registry import names

        return "[" + "|".join(names("executor")) + "]"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="optbench", message="optbench %(version)s")
def cli() -> None:
    """optbench: benchmark optimizers — convergence, overshoot and oscillation.

    \b
    optbench run                      the default suite, then the report
    optbench run -p quadratic-1d -o "gd[lr=[0.5/L,1.5/L,2.5/L]]" --seeds 10
    optbench list problems            what is registered
    optbench report --out DIR         re-render the report from a store
    """


def _start_fork_server() -> None:
    """Worker children are forked from a server started now, before the progress bar or a
    Dask client starts a thread (see :mod:`optbench.worker`)."""
    from .worker import start_fork_server

    start_fork_server()


def _check_options(**values: Any) -> None:
    """Every option value checked before anything runs or is written (one line if bad)."""
    from .settings import check

    check(values, option_names=True)


class _Progress:
    """A progress bar on a terminal, a plain log line otherwise, nothing with --quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.bar: tuple[Progress, TaskID] | None = None  # the bar and its one task
        self.last = -1
        self.t0 = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.tty:
            if self.bar is None:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )

                bar = Progress(
                    TextColumn("runs"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    TextColumn("ETA"),
                    TimeRemainingColumn(),
                    transient=True,
                )
                bar.start()
                self.bar = (bar, bar.add_task("run", total=total))
            bar, task = self.bar
            bar.update(task, completed=done)
            if done >= total:
                self.close()
        else:
            step = max(1, total // 10)
            if done == total or done // step != self.last:
                self.last = done // step
                click.echo(
                    f"optbench: {done}/{total} runs ({time.monotonic() - self.t0:.1f} s)", err=True
                )

    def close(self) -> None:
        if self.bar is not None:
            self.bar[0].stop()
            self.bar = None


class _ReportProgress:
    """The report's current step on stderr: one line rewritten in place on a terminal
    (cleared when the report is written), a plain line per step otherwise (a log), nothing
    with --quiet."""

    def __init__(self, quiet: bool, stream=None):
        self.quiet = quiet
        self.stream = stream
        self.shown = False  # a line on the terminal waits to be cleared

    def _out(self):
        return self.stream if self.stream is not None else sys.stderr

    def __call__(self, step: str) -> None:
        out = self._out()
        if self.quiet or out is None:  # None: Python started without a stderr
            return
        line = f"report: {step}"
        try:
            if out.isatty():
                import shutil

                width = shutil.get_terminal_size().columns - 1  # a wrapped line cannot be rewritten
                out.write("\r\x1b[K" + line[:width])
                self.shown = True
            else:
                out.write(line + "\n")
            out.flush()
        except (OSError, ValueError):  # stderr closed or gone: the report goes on without it
            self.quiet = True

    def close(self) -> None:
        out = self._out()
        if self.shown and out is not None:
            self.shown = False
            try:
                out.write("\r\x1b[K")
                out.flush()
            except (OSError, ValueError):
                pass


@cli.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-p",
    "--problem",
    "problems",
    multiple=True,
    metavar="PROBLEM",
    help="A problem spec, e.g. quadratic-1d or 'linear-regression[noise=2]'. Repeatable.",
)
@click.option(
    "-o",
    "--optimizer",
    "optimizers",
    multiple=True,
    metavar="OPTIMIZER",
    help="An optimizer spec, e.g. 'gd[lr=log(1e-3,1,7)]'. Repeatable.",
)
@click.option(
    "--suite",
    "suite_name",
    type=click.Choice(["default", "ml", "scaling"]),
    help="A named suite instead of SPEC, -p and -o (ml: the small-ML problems; scaling: "
    "measured against predicted linear rates across condition number and dimension).",
)
@click.option("--seeds", type=int, help="Seeds per pairing (0..N-1). [default: 5]")
@click.option("--budget", type=int, help="Evaluations (n_f + n_g) per run. [default: 1000]")
@click.option("--max-iter", type=int, help="Iterations per run. [default: the budget]")
@click.option(
    "--timeout",
    type=float,
    help="Wall-clock seconds per run before it times out (the runs of a batch step together "
    "and share them); one that stops calling the oracle is killed at 1.5 S + 2 s. "
    "[default: none]",
)
@click.option(
    "--max-runs",
    type=int,
    help="Refuse a spec that asks for more runs than this. [default: 1,000,000]",
)
@click.option(
    "--noisy-stops",
    is_flag=True,
    default=None,
    help="On stochastic problems (minibatch or noisy gradients) also end runs as stalled or "
    "cycle; by default they use their budget (also: noisy_stops = true in a spec file).",
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Output folder. [default: optbench-results]"
)
@click.option("--jobs", type=int, help="Worker processes (process and dask executors).")
@click.option(
    "--executor",
    type=ExecutorName(),
    help="Where runs execute. [default: serial]",
)
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler address (tcp://host:port).")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="FILE_OR_MODULE",
    help="A plug-in .py file or module that registers problems or optimizers. Repeatable.",
)
@click.option("--fresh", is_flag=True, help="Move the existing store aside and start a new one.")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Rerun the stored error and timeout runs of this spec, each alone; the old rows "
    "move to the store's superseded table.",
)
@click.option(
    "--recompute",
    is_flag=True,
    help="Rerun the stored runs of another results version (older optbench numbers); "
    "their old rows move to the store's superseded table.",
)
@click.option("--no-report", is_flag=True, help="Do not write report.html.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option(
    "--anonymous",
    is_flag=True,
    default=None,
    help="Store no host name, the command without its folders and plug-in files by name and "
    "hash; versions are kept (also: anonymous = true in a spec file).",
)
@debug_option
@_guarded
def run(
    spec,
    problems,
    optimizers,
    suite_name,
    seeds,
    budget,
    max_iter,
    timeout,
    max_runs,
    noisy_stops,
    out,
    jobs,
    executor,
    scheduler,
    plugins,
    fresh,
    retry_failed,
    recompute,
    no_report,
    quiet,
    anonymous,
    debug,
) -> None:
    """Run a benchmark (the default suite with no SPEC, -p or -o) and write the report.

    Runs already in the store are kept and not rerun (resume is the default).
    """
    from .api import run as api_run

    _check_options(
        seeds=seeds,
        budget=budget,
        max_iter=max_iter,
        max_runs=max_runs,
        timeout=timeout,
        jobs=jobs,
        out=out,
    )
    if scheduler and executor not in (None, "dask"):
        raise click.UsageError("--scheduler goes with --executor dask")
    if suite_name is not None:
        if spec or problems or optimizers:
            raise click.UsageError("--suite replaces SPEC, -p and -o; give one or the other")
        from .suite import SUITES, ml_problems_note

        spec = SUITES[suite_name]()
        if suite_name == "ml":
            click.echo(ml_problems_note())
    _start_fork_server()
    progress = _Progress(quiet)
    report_progress = _ReportProgress(quiet)
    try:
        res = api_run(
            spec,
            problems=problems or None,
            optimizers=optimizers or None,
            seeds=seeds,
            budget=budget,
            max_iter=max_iter,
            timeout=timeout,
            max_runs=max_runs,
            noisy_stops=noisy_stops,
            out=out,
            executor=executor,
            jobs=jobs,
            scheduler=scheduler,
            plugins=plugins,
            fresh=fresh,
            retry_failed=retry_failed,
            recompute=recompute,
            report=not no_report,
            progress=progress,
            report_progress=report_progress,
            command=" ".join(sys.argv),
            anonymous=anonymous,
        )
    finally:
        progress.close()
        report_progress.close()
    if res.stale:
        from .store import RESULTS_VERSION

        click.echo(
            f"optbench: {res.stale} runs were kept from another results version than this "
            f"optbench's ({RESULTS_VERSION}): their numbers may differ from a rerun "
            "(--recompute reruns them)",
            err=True,
        )
    if not quiet:
        counts = sorted(res.statuses.items(), key=lambda kv: -kv[1])
        summary = ", ".join(f"{n} {s}" for s, n in counts)
        stored = len(res.run_ids) - res.n_missing
        click.echo(f"{stored} of {len(res.run_ids)} runs stored ({res.added} new): {summary}")
        click.echo(f"store:  {res.db}")
        if res.report is not None:
            click.echo(f"report: {res.report}")
    for problem, why in res.landscape_failures.items():
        click.echo(
            f"optbench: no landscape stored for problem {problem!r}: computing it failed "
            f"({why}); its runs are stored",
            err=True,
        )
    if res.n_missing:  # whatever plug-in code did, a run asked for and not stored is a failure
        click.echo(
            f"optbench: {res.n_missing} of the {len(res.run_ids)} runs asked for were not "
            "stored; rerun to compute them",
            err=True,
        )
        sys.exit(EXIT_RUN_FAILURES)
    if res.n_failed:
        click.echo(
            f"optbench: {res.n_failed} runs ended in error or timeout "
            "(their messages are in the store and the report)",
            err=True,
        )
        sys.exit(EXIT_RUN_FAILURES)
    if res.landscape_failures:
        sys.exit(EXIT_RUN_FAILURES)


@cli.command()
@click.option(
    "--out", type=click.Path(file_okay=False), help="Output folder holding results.sqlite."
)
@click.option(
    "--db",
    "dbs",
    multiple=True,
    metavar="[NAME=]PATH",
    help="A store file, optionally named (default name: its folder). Repeat to compare "
    "stores: each is a source, never pooled with another.",
)
@click.option(
    "--baseline",
    metavar="NAME",
    help="The source the others are compared against. [default: the first --db]",
)
@click.option(
    "--fail-on",
    type=click.Choice(["worse"]),
    help=f"Exit with status {EXIT_WORSE} when any pairing got worse than the baseline.",
)
@click.option(
    "--html", type=click.Path(dir_okay=False), help="The report file. [default: OUT/report.html]"
)
@click.option("-p", "--problem", "problems", multiple=True, help="Only these problems.")
@click.option("-o", "--optimizer", "optimizers", multiple=True, help="Only these optimizers.")
@click.option("--plugin", "plugins", multiple=True, help="Plug-ins whose report sections to use.")
@click.option(
    "--x-axis",
    "x_axis",
    type=click.Choice(["evals", "time"]),
    default="evals",
    show_default=True,
    help="The cost axis of the convergence and ECDF figures: evaluations (n_f + n_g) or the "
    "batch clock in seconds (see docs/methodology.md, Wall-clock time).",
)
@click.option("--quiet", is_flag=True, help="No progress output (the step being drawn, on stderr).")
@debug_option
@_guarded
def report(out, dbs, baseline, fail_on, html, problems, optimizers, plugins, x_axis, quiet,
           debug) -> None:
    """Re-render the HTML report from one or several stores (no rerun).

    With several --db the page opens with a Comparison against the baseline, and the
    verdicts are written beside it (REPORT.comparison.json and .csv). A store that shares
    no optimizer with the baseline is paired across optimizers ("A vs B") on the problems
    and seeds both hold. Exit status: 0, or 4 with --fail-on worse when some pairing got
    worse; 2 for bad input, or when nothing pairs at all.
    """
    import json
    from pathlib import Path

    from .worker import pin_blas

    # Before numpy and pandas load, so that they start no thread and the report's worker
    # can be forked (optbench.report.pool): BLAS on one thread, and no background thread
    # for pyarrow's allocator (jemalloc's background purging, of no use to a short process)
    pin_blas()
    os.environ.setdefault("JE_ARROW_MALLOC_CONF", "background_thread:false")
    from .api import DB_NAME, DEFAULT_OUT, REPORT_NAME, check_report_target, write_report_file
    from .bundle import is_bundle
    from .registry import load_plugin
    from .report import verdict_paths
    from .store import Store

    if out and dbs:
        raise click.UsageError("give --out or --db, not both")
    for plugin in plugins:
        load_plugin(plugin)
    folder = Path(out or DEFAULT_OUT)
    names, paths = [], []
    for d in dbs:
        name, path = _named_db(d)
        names.append(name)
        paths.append(path)
    if not paths:
        names, paths = [None], [folder / DB_NAME]
    if baseline is not None and len(paths) < 2:
        raise click.UsageError("--baseline needs at least two --db stores to compare")
    if fail_on and len(paths) < 2:
        raise click.UsageError("--fail-on needs at least two --db stores to compare")
    for p in paths:
        Store(p).close()  # a clear error for a missing or foreign file
    if len(dbs) > 1:
        _refuse_same_store(dbs, paths)
    idle: list[str] = []

    def refuse_idle(ctx) -> None:  # before anything is written
        line = _compared_with_nothing(ctx)
        if line is None:
            return
        others = [s for s in ctx.sources if s != ctx.baseline]
        if fail_on or len(idle_sources(ctx)) == len(others):
            raise OptbenchError(line)  # nothing pairs at all, or a gate that compares nothing
        idle.append(line)

    # beside the first store; never beside a bundle (nor into the package's references)
    home = folder if not dbs or is_bundle(paths[0]) else paths[0].parent
    target = Path(html) if html else home / REPORT_NAME
    check_report_target(target)
    progress = _ReportProgress(quiet)
    try:
        written = write_report_file(
            paths,
            target,
            list(problems) or None,
            list(optimizers) or None,
            names=names,
            baseline=baseline,
            x_axis=x_axis,
            check=refuse_idle if len(paths) > 1 else None,
            progress=progress,
        )
    finally:
        progress.close()
    click.echo(f"report: {written}")
    if len(paths) < 2:
        return
    differ = _environments_differ(paths, names)
    if differ:
        click.echo(f"optbench: warning: {differ}", err=True)
    as_json, as_csv = verdict_paths(written)
    result = json.loads(as_json.read_text(encoding="utf-8")) if as_json.exists() else None
    if result is not None:
        click.echo(f"verdicts: {as_json}, {as_csv}")
    for line in idle:
        click.echo(f"optbench: warning: {line}", err=True)
    if result is None:
        return
    verdicts = result["verdicts"]
    worse = [v for v in verdicts if v["verdict"] == "worse"]
    if worse:
        click.echo(
            f"{len(worse)} pairing{'s' * (len(worse) != 1)} got worse than "
            f"{verdicts[0]['baseline']}: "
            + "; ".join(
                f"{v.get('problem_label', v['problem_key'])} {v['label']} ({v['source']})"
                for v in worse[:5]
            )
            + (" …" if len(worse) > 5 else ""),
            err=True,
        )
        if fail_on == "worse":
            sys.exit(EXIT_WORSE)


def _environments_differ(paths, names) -> str | None:
    """One line naming what differs between the sources' recorded environments, or None."""
    from .environment import difference_note
    from .report.context import source_names
    from .store import Store

    sessions = []
    for name, path in zip(source_names(paths, names), paths, strict=True):
        with Store(path) as store:
            sessions += [{**row, "source": name} for row in store.sessions()]
    return difference_note(sessions)


def idle_sources(ctx) -> list[str]:
    """The sources compared with nothing in the baseline (:meth:`Comparison.idle`; every
    other source where there is no comparison at all, e.g. an empty store)."""
    cmp = ctx.comparison
    others = [s for s in ctx.sources if s != ctx.baseline]
    if cmp is None:
        return others
    idle = set(cmp.idle())
    return [s for s in others if s in idle or s not in cmp.sources]  # (an empty store)


def _compared_with_nothing(ctx) -> str | None:
    """One line when some source is compared with nothing in the baseline: it shares no
    problem and seed with it (and no optimizer, where the two share optimizer labels) at
    the same budget, max_iter, tol and start point (the report's -p/-o applied), or it is
    empty; the line lists what each source holds. None when every source has a run to
    pair."""
    idle = idle_sources(ctx)
    if not idle:
        return None
    base = ctx.baseline
    cmp = ctx.comparison
    why = []
    if cmp is not None and len(cmp.not_comparable):
        nc = cmp.not_comparable[cmp.not_comparable["source"].isin(idle)]
        why = [f"{r['source']}: {r['problem_label']} {r['label']} {r['differs']}"
               for r in nc.drop_duplicates(["source", "problem_key", "label"]).to_dict("records")]
    runs = ctx.runs
    held = "; ".join(f"{name} holds {_holdings(_source_runs(runs, name))}"
                     for name in ctx.sources)
    return (
        f"{', '.join(idle)} compared with nothing in the baseline {base}: no run pairs "
        "with one of the same problem and seed (and optimizer, where the two stores share "
        "one) at the same budget, max_iter, tol and start point"
        + (f" (not comparable: {'; '.join(why[:3])}{' …' if len(why) > 3 else ''})"
           if why else "")
        + f"; {held}"
    )


def _source_runs(runs, name: str):
    """One source's runs, labelled as its store wrote them."""
    if not len(runs):
        return runs
    mine = runs[runs["source"] == name]
    return mine.assign(label=mine["spec_label"]) if "spec_label" in mine else mine


def _holdings(runs) -> str:
    """What a store holds (its run frame), in a few words: its runs per (problem,
    optimizer), and which were not run (skipped: never compared) and why."""
    from .stats.convention import NOT_RUN

    if not len(runs):
        return "no runs"
    groups = []
    for (problem, label), g in runs.groupby(["problem_label", "label"], sort=False):
        seeds = sorted(int(s) for s in g["seed"].unique())
        span = f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"{seeds[0]}"
        budgets = ", ".join(f"{b:g}" if isinstance(b, float) else str(b)
                            for b in dict.fromkeys(g["budget"]))  # 20.0 where a store is empty
        not_run = g[g["status"].isin(NOT_RUN)] if "status" in g else g.iloc[:0]
        if len(not_run):  # never compared: say so, with why (the first reason)
            first = str(not_run["message"].iloc[0]) if "message" in not_run else ""
            budgets += (f", {'all' if len(not_run) == len(g) else len(not_run)} "
                        f"{'/'.join(dict.fromkeys(not_run['status']))}"
                        + (f": {first}" if first else ""))
        groups.append(f"{problem} {label} (seeds {span}, budget {budgets})")
    more = f", … ({len(groups)} in all)" if len(groups) > 3 else ""
    return f"{len(runs)} run{'s' * (len(runs) != 1)}: " + ", ".join(groups[:3]) + more


def _refuse_same_store(texts, paths) -> None:
    """Two --db naming one file (also spelt differently, or through a link): a store
    compared with itself shows nothing, so it is refused."""
    seen: list[tuple[str, Any]] = []
    for text, p in zip(texts, paths, strict=True):
        for other_text, other in seen:
            if os.path.samefile(p, other):
                raise click.BadParameter(
                    f"{other_text!r} and {text!r} are the same store: comparing a store with "
                    "itself shows nothing; expected two different stores",
                    param_hint="--db",
                )
        seen.append((text, p))


def _named_db(text: str):
    """``NAME=PATH`` or ``PATH``: a path that exists as written wins over a name, and so
    does text whose part before ``=`` is a path (a name holds no ``/``). A PATH may be a
    bundle (``FILE.zip``) or ``reference:NAME``, a built-in reference, whose name is
    ``reference:NAME`` unless given."""
    from pathlib import Path

    from .bundle import REFERENCE, reference_path

    head = text.partition("=")[0]
    name: str | None = None
    path = text
    if "=" in text and not Path(text).exists() and not any(c in head for c in "/\\"):
        name, _, path = text.partition("=")
        if not name or not path:
            raise click.BadParameter(
                f"{text!r}: expected NAME=PATH with a non-empty name and path", param_hint="--db"
            )
    if path.startswith(REFERENCE) and not Path(path).exists():
        return name or path, reference_path(path[len(REFERENCE):])
    return name, Path(path)


@cli.command(name="list")
@click.argument("kind", required=False, metavar="[KIND]",
                type=click.Choice(sorted([*KIND_NAMES, "baselines"])))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--plugin", "plugins", multiple=True, help="Also list what these plug-ins register.")
@debug_option
@_guarded
def list_(kind, as_json, plugins, debug) -> None:
    """List registered problems, optimizers, schedules and report sections (all of them
    without KIND), or the built-in reference results (KIND baselines: --db reference:NAME)."""
    from . import registry

    if kind == "baselines":
        _list_baselines(as_json)
        return
    for plugin in plugins:
        registry.load_plugin(plugin)
    kinds = [kind] if kind else sorted(KIND_NAMES)
    if as_json:
        payload = {
            k: [_describe(KIND_NAMES[k], e) for e in registry.entries(KIND_NAMES[k])] for k in kinds
        }
        click.echo(json.dumps(payload[kind] if kind else payload, indent=2))
        return
    for k in kinds:
        click.echo(click.style(k, bold=True))
        for e in registry.entries(KIND_NAMES[k]):
            params = ", ".join(
                f"{p.name}={p.default!r}" if not p.required else p.name for p in e.params.values()
            )
            extra = ""
            if e.kind == "optimizer":
                extra = f"  needs: {', '.join(sorted(e.meta['needs'])) or 'nothing'}"
                extra += ", batchable" if e.meta["batchable"] is True else (
                    ", batchable per spec" if e.meta["batchable"] else "")
            click.echo(f"  {e.name}[{params}]" if params else f"  {e.name}")
            if e.description:
                click.echo(f"      {e.description}{extra}")


def _list_baselines(as_json: bool) -> None:
    """The built-in references: name, description, results version, what each holds."""
    from .bundle import REFERENCE, available_references
    from .store import RESULTS_VERSION

    refs = []
    for name, manifest in available_references().items():
        ref = manifest.get("reference") or {}
        version = manifest.get("results_version")
        refs.append({
            "name": REFERENCE + name,
            "description": ref.get("description", ""),
            "results_version": version,
            "current": version == RESULTS_VERSION,
            "optbench": manifest.get("optbench"),
            "holds": ref.get("holds", {}),
        })
    if as_json:
        click.echo(json.dumps(refs, indent=2))
        return
    click.echo(click.style("baselines", bold=True) + "  (--db reference:NAME, thinned traces)")
    for r in refs:
        holds = r["holds"]
        stale = "" if r["current"] else (f" — stale: this optbench computes results version "
                                         f"{RESULTS_VERSION}, so it is refused")
        click.echo(f"  {r['name']}  (results version {r['results_version']}, optbench "
                   f"{r['optbench']}){stale}")
        click.echo(f"      {r['description']}")
        if holds:
            seeds = holds.get("seeds") or [0]
            swept = holds.get("sweeps") or {}
            extra = (f" (and {swept['pairings']} pairings only in sweeps)"
                     if isinstance(swept, dict) and swept.get("pairings") else "")
            click.echo(
                f"      {holds.get('runs')} runs: {len(holds.get('problems', []))} problems x "
                f"{len(holds.get('optimizers', []))} optimizers{extra}, "
                f"seeds {seeds[0]}–{seeds[-1]}, "
                f"budget {', '.join(map(str, holds.get('budgets', [])))}"
            )
            click.echo(f"      optimizers: {', '.join(holds.get('optimizers', []))}")
            click.echo(f"      problems: {', '.join(holds.get('problems', []))}")


def _describe(kind: str, entry) -> dict[str, Any]:
    out = entry.describe()
    if kind == "problem":
        from .plan import build_problem, resolve_problem
        from .spec import Spec

        try:
            problem = build_problem(resolve_problem(Spec(entry.name, {})))
            info = problem.info()
            out.update({k: info[k] for k in ("dim", "domain", "x_star", "f_star", "L", "mu")})
            out["tags"] = sorted(set(out.get("tags", [])) | set(info["tags"]))
            out["description"] = out["description"] or problem.description
        except OptbenchError as exc:
            out["error"] = str(exc)
    return out


@cli.command()
@click.argument("target")
@click.option("--problem", "problems", multiple=True, help="Problems for an optimizer check.")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    help="Load this plug-in first (to check one of its components by spec).",
)
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds each check (and the plug-in's import) may take before it fails.",
)
@click.option(
    "--deadline",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds the whole command may take; checks still running then fail.",
)
@debug_option
@_guarded
def check(target, problems, plugins, timeout, deadline, debug) -> None:
    """Run the conformance suite on everything a plug-in registers, or on one spec.

    TARGET is a plug-in (a .py file or a module name) or a spec of a registered optimizer,
    problem or schedule, such as an adapter's: 'torch[cls=torch.optim.SGD,lr=0.1]',
    'ask-tell[factory=mypkg.make]', 'optax[fn=optax.adam,lr=0.1]'. Each check runs in a child
    process, stopped if it runs past its time even when its code ignores the interrupt.
    """
    _check_options(timeout=timeout)
    if not (0 < deadline < float("inf")):
        raise click.BadParameter(f"must be a number of seconds > 0, got {deadline:g}",
                                 param_hint="'--deadline'")
    if os.environ.get(_CHECK_CHILD) == "1":
        _check_here(target, problems, plugins, timeout)
    else:
        args = ["check", target, *(a for p in problems for a in ("--problem", p)),
                *(a for p in plugins for a in ("--plugin", p))]
        _check_in_child([*args, "--timeout", repr(timeout), *(["--debug"] if debug else [])],
                        target, timeout, deadline)


_CHECK_CHILD = "OPTBENCH_CHECK_CHILD"  # set in the child that runs a check's plug-in code
_MARK = "\x00"  # starts the child's lines meant for the parent, not the user
_ENDED = _MARK + "ended"  # printed when the child's Python exits, whatever its exit code
_COMPONENT = _MARK + "component "  # the component whose checks follow
_STEP = _MARK + "step "  # the check (or the import) that starts now


def _check_targets(target: str, plugins) -> list[tuple[str, str]]:
    """What ``optbench check TARGET`` checks: ``(kind, name or spec)`` pairs."""
    from pathlib import Path

    from . import registry
    from .errors import SpecError, UnknownNameError, UsageError
    from .spec import parse

    for plugin in plugins:
        registry.load_plugin(plugin)
    if target.endswith(".py") or Path(target).exists():
        return registry.load_plugin(target)
    registry.load_builtins()
    try:
        name = parse(target).name
    except SpecError:
        name = None
    unknown = None
    for kind in ("optimizer", "problem", "schedule"):
        try:
            registry.get(kind, name or "")
        except UnknownNameError as exc:
            unknown = unknown or exc
            continue
        return [(kind, target)]  # a registered component's spec (an adapter's, say)
    if name is not None and "[" in target and unknown is not None:  # a spec, not a module
        raise UsageError(f"cannot check {target!r}: {unknown}; expected a plug-in (a .py "
                         "file or a module name) or a spec of a registered optimizer, "
                         "problem or schedule")
    return registry.load_plugin(target)


def _check_here(target, problems, plugins, timeout) -> None:
    import atexit

    from . import registry, testing
    from .plan import resolve_problem
    from .spec import parse

    atexit.register(lambda: print(_ENDED, flush=True))  # not run on os._exit or a crash
    testing.on_step = lambda what: print(f"{_STEP}{what}", flush=True)
    registry.load_builtins()  # optbench's own catalog first: the plug-in's import is timed
    print(f"{_STEP}import", flush=True)
    registered = _check_targets(target, plugins)
    print(f"{_STEP}", flush=True)  # between checks
    for problem in problems:  # a problem to check on must exist before any check runs
        resolve_problem(parse(problem))
    failures = 0
    for kind, name in registered:
        click.echo(f"{_COMPONENT}{kind} {name}")
        for line, ok in testing.check_registered(kind, name, list(problems) or None, timeout):
            failures += not ok
            click.echo(f"{'PASS' if ok else 'FAIL'}  {kind} {name}: {line}")
    if failures:
        click.echo(f"optbench: {failures} checks failed", err=True)
        sys.exit(EXIT_RUN_FAILURES)


def _check_in_child(args: list[str], target: str, timeout: float, deadline: float) -> None:
    """Run this very ``check`` command in a child process, its lines passed on as they come.

    Plug-in code that ends its process (``os._exit``, a crash, the OOM killer) then ends the
    child, and this process says which component's checks it cut short, as a failed check,
    instead of vanishing without a word. A check (or the plug-in's import) still running
    past the runs' kill limit of ``timeout`` (its code ignored the interrupt), or anything
    still running at ``deadline`` seconds, is stopped the same way.
    """
    import queue
    import signal
    import subprocess
    import threading

    from .worker import START_LIMIT, kill_limit

    from .importpath import child_env, command

    env = {**child_env(), _CHECK_CHILD: "1", "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    proc = subprocess.Popen(
        command("optbench.cli", *args), env=env, stdout=subprocess.PIPE,
        text=True, errors="replace",
    )
    assert proc.stdout is not None
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def read(out) -> None:
        for line in out:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, args=(proc.stdout,), daemon=True).start()
    current, ended, step = None, False, None
    limit, since = START_LIMIT, started  # the step's allowance, from when it started
    late = ""  # why the child was stopped, if it was
    try:
        while True:
            now = time.monotonic()
            wait = min(since + limit, started + deadline) - now
            try:
                line = lines.get(timeout=max(wait, 0.0))
            except queue.Empty:
                if time.monotonic() >= started + deadline:
                    late = f"the checks did not finish within --deadline {deadline:g} s"
                elif step == "import":
                    late = (f"it did not finish within {limit:g} s (--timeout {timeout:g}) and "
                            "was stopped: does its import hang?")
                else:
                    late = (f"it did not finish within {limit:g} s (--timeout {timeout:g}) and "
                            "was stopped: does it hang and ignore the interrupt?")
                proc.kill()
                break
            if line is None:
                break
            if line == _ENDED:
                ended = True
            elif line.startswith(_COMPONENT):
                current = line[len(_COMPONENT) :]
            elif line.startswith(_STEP):
                step = line[len(_STEP) :] or None
                limit, since = kill_limit(timeout), time.monotonic()
            elif not line.startswith(_MARK):
                click.echo(line)
        code = proc.wait()
    except KeyboardInterrupt:  # the child had the same Ctrl-C and says so itself
        sys.exit(proc.wait() or 130)
    if late and current is None:
        what = "importing the plug-in" if step == "import" else "loading"
        click.echo(f"optbench: error: {what} {target!r}: {late}", err=True)
        sys.exit(EXIT_USAGE)
    if late:
        click.echo(f"FAIL  {current}: {step or 'between checks'}: {late}; "
                   "the checks after it did not run")
        click.echo("optbench: the checks did not finish", err=True)
        sys.exit(EXIT_RUN_FAILURES)
    if ended:  # the child ended through Python: its exit code and messages are its own
        if code:
            sys.exit(code)
        return
    if code < 0 and -code in {s.value for s in signal.Signals}:
        how = f"was killed by signal {signal.Signals(-code).name}"
    else:
        how = f"exited with code {code}"
    if current is None:
        click.echo(f"optbench: error: the process loading the plug-in {how} (its code ended "
                   "the process while importing: os._exit or a crash)", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(
        f"FAIL  {current}: the process running its checks {how} (its code ended the "
        "process: os._exit, a crash or the OOM killer); the checks after it did not run"
    )
    click.echo("optbench: the checks did not finish", err=True)
    sys.exit(EXIT_RUN_FAILURES)


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet", "coco", "bundle"]), required=True,
    help="bundle: one FILE.zip with the store, its report, its specs (TOML), its environment "
    "and a manifest of checksums, which every command reads as a store.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="The store, a bundle (FILE.zip) or reference:NAME. "
    "[default: optbench-results/results.sqlite]",
)
@click.option(
    "--dest",
    type=click.Path(),
    help="Destination folder (for bundle: the FILE.zip). [default: next to the store; "
    "results.zip for bundle; under optbench-results/ for a bundle's export]",
)
@click.option(
    "--cost",
    type=click.Choice(["evals", "n_f", "n_g"]),
    default="evals",
    show_default=True,
    help="The counter written as COCO's evaluations (evals = n_f + n_g).",
)
@click.option(
    "--postprocess",
    is_flag=True,
    help="With --format coco: run cocopp's post-processing on every algorithm, into DEST/ppdata.",
)
@debug_option
@_guarded
def export(fmt, db, dest, cost, postprocess, debug) -> None:
    """Export runs and traces as tidy CSV, Parquet, or COCO's logging format."""
    from pathlib import Path

    from .api import DB_NAME, DEFAULT_OUT
    from .export import export as do_export

    if postprocess and fmt != "coco":
        raise click.UsageError(f"--postprocess goes with --format coco, got --format {fmt}")
    from .bundle import is_bundle

    path = Path(db) if db else Path(DEFAULT_OUT) / DB_NAME
    # nothing is written beside a bundle (nor into the package's references)
    home = Path(DEFAULT_OUT) if is_bundle(path) else path.parent
    default = home / ("results.zip" if fmt == "bundle" else f"export-{fmt}")
    out = Path(dest) if dest else default
    written = do_export(path, fmt, out, cost=cost)
    for w in written:
        click.echo(str(w))
    if postprocess:
        from .coco import LOG_NAME
        from .coco import postprocess as run_cocopp

        pp = run_cocopp(out, out / "ppdata")
        # one experiment, or one per suite (bbob/, optbench/) when the store held both
        pages = [pp / "index.html"]
        if not pages[0].exists():
            pages = sorted(pp.glob("*/index.html"))
        for page in pages:
            click.echo(f"cocopp: {page} (cocopp's messages: {page.parent / LOG_NAME})")


@cli.command()
@click.option(
    "-p",
    "--problem",
    "problems",
    multiple=True,
    metavar="PROBLEM",
    help="A problem spec. Repeatable. [default: the default suite's]",
)
@click.option(
    "-o",
    "--optimizer",
    "families",
    multiple=True,
    metavar="FAMILY",
    help="An optimizer family without lr, e.g. gd or 'gd[schedule=cosine(T=200)]'; "
    "families without a learning rate are untuned baselines. Repeatable.",
)
@click.option(
    "--grid-L",
    "grid_l",
    metavar="GRID",
    help="Learning rates as multiples k of 1/L where L is known, e.g. "
    "'log(0.0156,4,17)'. [default: 2^(i/2), i=-12..4]",
)
@click.option(
    "--grid",
    metavar="GRID",
    help="Absolute learning rates where L is unknown. [default: log(1e-5,1e2,36), DeepOBS]",
)
@click.option(
    "--trials",
    type=int,
    metavar="K",
    help="Tune every hyperparameter of each family's search space by K quasi-random "
    "trials (scrambled Halton) instead of the learning-rate grid; the report then compares "
    "families at tuning budgets 0 (defaults), 4, 16 and K.",
)
@click.option(
    "--space",
    "spaces",
    multiple=True,
    metavar="FAMILY:SPACE",
    help="With --trials, the space to tune for a family instead of its declared one, e.g. "
    "'adam:lr=log(1e-4, 0.1); beta1=1-log(0.001, 0.5)'. Repeatable.",
)
@click.option(
    "--space-file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="With --trials, a TOML file of spaces: a table per family, a range per "
    "hyperparameter ([adam] lr = \"log(1e-4, 0.1)\"); --space entries win over it.",
)
@click.option(
    "--criterion",
    type=click.Choice(["aulg", "final-gap"]),
    default="aulg",
    show_default=True,
    help="How the winner is picked: median over tuning seeds.",
)
@click.option(
    "--tuning-seeds", type=int, default=5, show_default=True, help="Seeds 0..N-1 for the sweep."
)
@click.option(
    "--seeds",
    type=int,
    default=15,
    show_default=True,
    help="Fresh seeds (1000..) for the winners' final runs.",
)
@click.option(
    "--budget", type=int, default=1000, show_default=True, help="Evaluations (n_f + n_g) per run."
)
@click.option("--max-iter", type=int, help="Iterations per run. [default: the budget]")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Output folder. [default: optbench-tune, apart from optbench run's store]",
)
@click.option("--jobs", type=int, help="Worker processes (process and dask executors).")
@click.option(
    "--executor",
    type=ExecutorName(),
    default="serial",
    show_default=True,
)
@click.option(
    "--plugin", "plugins", multiple=True, metavar="FILE_OR_MODULE", help="A plug-in. Repeatable."
)
@click.option("--no-report", is_flag=True, help="Do not write report.html.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option("--anonymous", is_flag=True, help="Store no host name.")
@debug_option
@_guarded
def tune(
    problems,
    families,
    grid_l,
    grid,
    trials,
    spaces,
    space_file,
    criterion,
    tuning_seeds,
    seeds,
    budget,
    max_iter,
    out,
    jobs,
    executor,
    plugins,
    no_report,
    quiet,
    anonymous,
    debug,
) -> None:
    """Tune each family's learning rate per problem, then rerun the winners on fresh seeds.

    Both phases go into one store; OUT/results.tuning.json records the grid, the
    criterion, the seeds of each phase and the winners, and the report compares the tuned
    winners, one per family.
    """
    _check_options(seeds=seeds, budget=budget, max_iter=max_iter, jobs=jobs, out=out)
    if tuning_seeds < 1:
        raise click.BadParameter(
            f"must be at least 1, got {tuning_seeds}", param_hint="--tuning-seeds"
        )
    if trials is not None and trials < 1:
        raise click.BadParameter(f"must be at least 1, got {trials}", param_hint="--trials")
    if trials is not None and (grid_l or grid):
        raise click.BadParameter("--trials tunes a search space, not a grid; give one of them",
                                 param_hint="--grid")
    from .search_space import read_space_file

    space: dict = read_space_file(space_file) if space_file else {}
    for text in spaces:
        family, colon, body = text.partition(":")
        if not colon or not family.strip() or not body.strip():
            raise click.BadParameter(
                f"expected FAMILY:SPACE, e.g. 'adam:lr=log(1e-4, 0.1)', got {text!r}",
                param_hint="--space")
        space[family.strip()] = body.strip()
    _start_fork_server()
    from .tune import DEFAULT_GRID, DEFAULT_GRID_L
    from .tune import tune as do_tune
    from .tune_trials import tune_trials

    progress = _Progress(quiet)
    try:
        if trials is not None:
            res = tune_trials(
                problems or None, families or None, trials=trials, space=space or None,
                criterion=criterion, tuning_seeds=tuning_seeds, seeds=seeds, budget=budget,
                max_iter=max_iter, out=out, executor=executor, jobs=jobs, plugins=plugins,
                report=not no_report, progress=progress, anonymous=anonymous)
        elif space:
            from .errors import UsageError

            raise UsageError("--space goes with --trials: the grid tunes the learning rate "
                             "alone")
        else:
            res = do_tune(
                problems or None,
                families or None,
                grid_L=grid_l or DEFAULT_GRID_L,
                grid=grid or DEFAULT_GRID,
                criterion=criterion,
                tuning_seeds=tuning_seeds,
                seeds=seeds,
                budget=budget,
                max_iter=max_iter,
                out=out,
                executor=executor,
                jobs=jobs,
                plugins=plugins,
                report=not no_report,
                progress=progress,
                anonymous=anonymous,
            )
    finally:
        progress.close()
    if not quiet:
        for w in res.winners:
            edge = "  (edge of the grid: widen it)" if w.get("edge") else ""
            lr = f" (lr={w['lr']:.4g})" if w.get("lr") is not None else ""
            click.echo(f"{w['problem']}: {w['family']} -> {w['label']}{lr}{edge}")
        click.echo(f"store:  {res.db}")
        click.echo(f"record: {res.record}")
        if res.report is not None:
            click.echo(f"report: {res.report}")


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """Warnings on one line each, as optbench's errors are."""
    text = str(message)
    return (text if text.startswith("optbench:") else f"optbench: warning: {text}") + "\n"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    import warnings

    from .importpath import apply

    apply()  # the installed optbench first, the working folder last: docs/architecture.md
    warnings.formatwarning = _warning_line
    cli.main(args=argv, prog_name="optbench")


if __name__ == "__main__":
    main()
