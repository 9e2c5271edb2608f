"""Report assembly: stores in, one self-contained HTML file out.

The report reads only stores, so it re-renders without rerunning. Its sections are
plug-ins (:func:`optbench.register_section`); each receives a :class:`Context`
(:mod:`optbench.report.context`) and returns a :class:`Section` (or None to stay out),
its body built with the helpers of :mod:`optbench.report.html`: figures as SVG data URIs, tables
with a CSV download link, every string from a plug-in, a spec or a store escaped; the page
needs no network. Figures and deferred blocks are drawn in worker processes meanwhile
(:mod:`optbench.report.pool`).

With several stores (*sources*, :mod:`optbench.report.context`) the page opens with the
comparison against the baseline, and the verdicts are also written beside the page as
``<page>.comparison.json`` and ``<page>.comparison.csv`` (:func:`verdict_paths`).

A store written by ``optbench tune`` has a tuning record beside it
(``<store>.tuning.json``); the report then compares the tuned winners, one per optimizer
family (:attr:`Context.compare`), and shows the tuning sweep in its own section.

Sections import :class:`Context`, :class:`Section` and the HTML helpers from here; the
statistics they show from :mod:`optbench.stats`.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .. import registry
from ..errors import StoreError
from . import pool
from .context import Context, read_context
from .html import esc, figure_html, note_html, plain, prose, table_html
from .pool import deferred_html

__all__ = [
    "Context",
    "Section",
    "deferred_html",
    "esc",
    "figure_html",
    "note_html",
    "plain",
    "prose",
    "table_html",
    "verdict_paths",
    "write_report",
]


@dataclass
class Section:
    """One part of the report. ``body`` is trusted HTML built with the helpers here.

    ``toc`` lists ``(anchor, title)`` sub-entries for the side navigation (e.g. one per
    problem); the anchors must be ids present in ``body``.
    """

    title: str
    body: str
    anchor: str = ""
    order: int = 100
    toc: list[tuple[str, str]] = field(default_factory=list)


def build_sections(ctx: Context, progress: Callable[[str], None] | None = None) -> list[Section]:
    """Every registered section drawn from ``ctx``, in page order (built in that order too,
    but for the ``early`` ones, built first); ``progress`` (if given) is called with
    ``"section i/n NAME"`` before each one."""
    import warnings

    sections: list[tuple[tuple[int, str], Section]] = []
    # built early sections first (their jobs keep the workers busy), placed by their order
    entries = sorted(
        registry.entries("section"),
        key=lambda e: (not e.meta.get("early", False), e.meta.get("order", 100), e.name),
    )
    for i, entry in enumerate(entries, 1):
        if progress is not None:
            progress(f"section {i}/{len(entries)} {entry.name}")
        try:
            with warnings.catch_warnings():
                # an empty group's median is nan and shows as '—': numpy's warning about it
                # is not a failure of the section
                warnings.simplefilter("ignore", RuntimeWarning)
                section = entry.factory(ctx)
        except StoreError:  # a damaged store is the input's fault: one line, not a section
            raise
        except Exception as exc:  # one broken section must not take the report down
            section = Section(
                entry.name,
                f"<p class='error'>This section failed: {esc(type(exc).__name__)}: {esc(exc)}</p>",
            )
        if section is None:
            continue
        section.anchor = section.anchor or entry.name
        section.order = entry.meta.get("order", 100)
        sections.append(((section.order, entry.name), section))
    return [s for _, s in sorted(sections, key=lambda pair: pair[0])]


def verdict_paths(html_path: str | os.PathLike) -> tuple[Path, Path]:
    """Where the comparison's verdicts go beside a page: ``(JSON, CSV)``."""
    page = Path(html_path)
    stem = page.name[: -len(page.suffix)] if page.suffix else page.name
    return page.with_name(f"{stem}.comparison.json"), page.with_name(f"{stem}.comparison.csv")


def write_report(
    dbs: list[str | os.PathLike],
    html_path: str | os.PathLike,
    problems: list[str] | None = None,
    optimizers: list[str] | None = None,
    workers: int | None = None,
    *,
    names: list[str | None] | None = None,
    baseline: str | None = None,
    x_axis: str = "evals",
    check: Callable[[Context], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Render the report of one or several stores into one HTML file.

    Args:
        names: a name per store (its *source*); default: the store's folder (or file stem
            where folders coincide).
        baseline: the source the others are compared against (default: the first). With
            several sources the verdicts are written beside the page (:func:`verdict_paths`).
        workers: processes that save figures while the sections draw, started at once
            (default: one per further core, up to 4, started only for a page large enough
            to repay their start-up: more than 200 runs or 12 figures and blocks; 0 saves
            every figure in this process). The file is the same either way.
        x_axis: the cost axis of the convergence and ECDF figures: ``evals`` (n_f + n_g)
            or ``time``, the batch clock in seconds (``docs/methodology.md#wall-clock-time``).
        check: called with the :class:`Context` once the stores are read, before anything
            is drawn or written; an error it raises stops the report with no file written
            (``optbench report`` refuses a comparison that pairs nothing this way).
        progress: called with a short line at each step once the stores are read and
            checked: each section (``"section 3/14 per-problem"``), the figures left to the
            workers, writing the file (``optbench report`` shows it on stderr).
    """
    from .timing import check_axis

    check_axis(x_axis)
    # Keep SVG ids stable so the same stores give the same file; text stays text (small).
    style = {
        "svg.hashsalt": "optbench",
        "svg.fonttype": "none",
        "font.size": 9,
        "axes.titlesize": 10,
        "legend.fontsize": 7.5,
        "axes.spines.top": False,
        "axes.spines.right": False,
        # a fixed title position: placing it automatically measures every tick label again
        "axes.titley": 1.0,
    }
    # what every worker imports, imported before they start: a forked worker has it already
    import matplotlib
    import pandas  # noqa: F401

    matplotlib.use("Agg")
    # an explicit number starts first, the default once the stores are known to be large:
    # a subprocess worker imports matplotlib while the stores are read
    renderer = pool.start(workers, fork=True)
    if renderer is not None and _stored_runs(dbs) > pool.START_RUNS:
        renderer.start()
    try:
        return _write(dbs, html_path, problems, optimizers, style, renderer, names, baseline,
                      x_axis, check, progress or _silent)
    finally:
        if renderer is not None:
            renderer.close()


def _stored_runs(dbs) -> int:
    """How many runs the stores hold, counted without reading them (0 where a file cannot
    be counted: reading it will say why)."""
    import sqlite3

    from ..store import Store

    total = 0
    for db in dbs:
        try:
            with Store(db) as store:
                total += int(store.conn.execute("SELECT count(*) FROM runs").fetchone()[0])
        except (StoreError, sqlite3.Error, OSError, ValueError):
            continue
    return total


def _silent(line: str) -> None:
    pass


def _write(dbs, html_path, problems, optimizers, style, renderer, names, baseline,
           x_axis="evals", check=None, progress=_silent) -> Path:
    import matplotlib
    from jinja2 import Environment, PackageLoader, select_autoescape

    paths = [Path(p) for p in dbs]
    ctx = read_context(paths, problems, optimizers, names=names, baseline=baseline, x_axis=x_axis)
    if check is not None:
        check(ctx)
    if renderer is not None and len(ctx.runs) > pool.START_RUNS:
        renderer.start()
    with pool.using(renderer), matplotlib.rc_context(style):
        sections = build_sections(ctx, progress)
    if renderer is not None:
        progress("finishing the figures")
    with matplotlib.rc_context(style):  # the jobs no worker ran, run here
        jobs = renderer.finish() if renderer is not None else []
    env = Environment(loader=PackageLoader("optbench", "templates"), autoescape=select_autoescape())
    from .. import __version__
    from . import vega

    # a figure drawn by a report worker is in its job's HTML, not yet in the section's body
    interactive = any(vega.uses_vega(html) for html in [*(s.body for s in sections), *jobs])
    page = env.get_template("report.html").render(
        sections=sections,
        vega_js=vega.javascript() if interactive else "",
        vega_embed=vega.EMBED_SCRIPT if interactive else "",
        version=__version__,
        n_runs=len(ctx.runs),
        stores=[
            f"{name} ({p})" + (" — baseline" if len(paths) > 1 and name == ctx.baseline else "")
            for name, p in zip(ctx.sources, paths, strict=True)
        ],
        date=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        machine=f"{platform.node()} · {platform.machine()} · Python {platform.python_version()}",
        results_note=_results_note(ctx.runs),
    )
    if jobs:
        page = renderer.fill(page, jobs)
    out = Path(html_path)
    progress(f"writing {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if ctx.comparison is not None:
        as_json, as_csv = verdict_paths(out)
        ctx.comparison.write_json(as_json)
        ctx.comparison.write_csv(as_csv)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out


def _results_note(runs) -> str:
    """A warning when the runs compared come from different results versions (an older
    optbench's numbers beside this one's), else ""."""
    from ..store import RESULTS_VERSION

    if "results_version" not in runs or not len(runs):
        return ""
    found = sorted({int(v) for v in runs.results_version.dropna()})
    if len(found) < 2:
        return ""
    return (
        f"These runs come from results versions {', '.join(map(str, found))} (this optbench "
        f"computes version {RESULTS_VERSION}): a difference between runs of different versions "
        "may be a change in optbench, not in the optimizers. 'optbench run --recompute' "
        "recomputes the older runs."
    )
