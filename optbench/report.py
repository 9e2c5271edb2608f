"""Report assembly: stores in, one self-contained HTML file out.

The report reads only stores, so it re-renders without rerunning. Its sections are
plug-ins (:func:`optbench.register_section`); each receives a :class:`Context` and returns
a :class:`Section` (or None to stay out). Figures are embedded as SVG data URIs (dense
layers rasterized inside them), tables carry a CSV download link as a data URI: the page
needs no network. Every string that comes from a plug-in, a spec or a store is escaped.
Figures and deferred blocks are drawn in worker processes meanwhile (:mod:`optbench.render`).

A store written by ``optbench tune`` has a tuning record beside it
(``<store>.tuning.json``); the report then compares the tuned winners, one per optimizer
family (:attr:`Context.compare`), and shows the tuning sweep in its own section.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import os
import platform
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from . import registry, render
from .render import deferred_html

__all__ = [
    "Context",
    "Section",
    "deferred_html",
    "esc",
    "figure_html",
    "note_html",
    "plain",
    "table_html",
    "tuning_path",
    "write_report",
]

_TRACE_CHUNK = 500  # traces read per SQL query when streaming


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


@dataclass
class Context:
    """What a section sees: the runs, the problems, and the traces on request.

    Attributes:
        runs: one pandas row per run (every run of the stores, failures included), with a
            ``store`` column, and ``phase`` (``tuning``/``final``/``""``) and ``solver``.
        problems: problem_key -> info (name, params, dim, domain, x_star, f_star, L, mu, ...).
        tuning: the tuning record (``optbench tune``) or None.
        cache: shared derived data, so sections do not recompute each other's work.
    """

    dbs: list[Path]
    runs: Any
    problems: dict[str, dict[str, Any]]
    sessions: list[dict[str, Any]] = field(default_factory=list)
    tuning: dict[str, Any] | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    _traces: dict[str, dict | None] = field(default_factory=dict)

    def trace(self, run_id: str) -> dict | None:
        """The arrays of one run (cached): f, gnorm, n_f, n_g, lr, time, and x for dim <= 3."""
        if run_id not in self._traces:
            from .store import Store

            store_path = self.runs.loc[self.runs.run_id == run_id, "store"].iloc[0]
            with Store(store_path) as s:
                self._traces[run_id] = s.trace(run_id)
        return self._traces[run_id]

    def traces(self, run_ids: Iterable[str]) -> dict[str, dict | None]:
        """Full traces of several runs, read in one pass over the store and cached."""
        ids = [r for r in run_ids if r not in self._traces]
        if ids:
            self._traces.update(self.iter_traces(ids))
        return {r: self._traces.get(r) for r in run_ids}

    def iter_traces(
        self,
        run_ids: Iterable[str],
        keys: Iterable[str] | None = None,
        full: Iterable[str] = (),
    ) -> Iterator[tuple[str, dict | None]]:
        """``(run_id, trace)`` for many runs, read in bulk and not cached (None: no trace).

        ``keys`` reads only those arrays (e.g. ``("f", "n_f", "n_g")``), which is most of
        the cost of a report over many runs. The runs in ``full`` are read whole in the same
        pass and cached for :meth:`traces` (the few a figure draws in full).
        """
        import numpy as np

        from .store import Store, unpack_trace

        wanted = None if keys is None else tuple(keys)
        full = set(full)

        def unpack(rid: str, data: bytes) -> dict:
            if rid in full:
                self._traces[rid] = unpack_trace(data)
                return self._traces[rid]
            if wanted is None:
                return unpack_trace(data)
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                return {k: z[k] for k in wanted if k in z.files}

        ids = list(run_ids)
        stores = dict(zip(self.runs.run_id, self.runs.store, strict=True))
        by_store: dict[str, list[str]] = {}
        for rid in ids:
            by_store.setdefault(stores[rid], []).append(rid)
        for path, members in by_store.items():
            with Store(path) as s:
                for i in range(0, len(members), _TRACE_CHUNK):
                    chunk = members[i : i + _TRACE_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    found = {
                        rid: data
                        for rid, data in s.conn.execute(
                            f"SELECT run_id, data FROM traces WHERE run_id IN ({marks})", chunk
                        )
                    }
                    for rid in chunk:
                        data = found.get(rid)
                        yield rid, (None if data is None else unpack(rid, data))

    @cached_property
    def problem_keys(self) -> list[str]:
        return list(dict.fromkeys(self.runs.problem_key))

    def problem_title(self, key: str) -> str:
        from .spec import Spec, format_spec

        info = self.problems.get(key, {})
        return format_spec(Spec(info.get("name", key), _nondefault(info)))

    @cached_property
    def compare(self):
        """The runs the comparison views use, with their ``solver`` name.

        Without a tuning record: every run, solver = the optimizer label. With one: the
        final-phase runs only, solver = the optimizer family (its tuned learning rate
        differs per problem), so the aggregated views compare one winner per family.
        """
        if self.tuning is None:
            return self.runs
        return self.runs[self.runs.phase == "final"].reset_index(drop=True)

    def f_ref(self, key: str) -> tuple[float | None, bool]:
        """``(reference value, known)``: f* when known, else the best value any run found."""
        import numpy as np

        f_star = self.problems.get(key, {}).get("f_star")
        if f_star is not None:
            return float(f_star), True
        best = self.runs.loc[self.runs.problem_key == key, "f_best"].astype(float)
        best = best[np.isfinite(best)]
        return (float(best.min()) if len(best) else None), False


def _nondefault(info: dict[str, Any]) -> dict[str, Any]:
    try:
        params = registry.get("problem", info["name"]).params
    except Exception:  # a problem from a plug-in not loaded now: show every parameter
        return dict(info.get("params", {}))
    return {
        k: v for k, v in info.get("params", {}).items() if k not in params or params[k].default != v
    }


def esc(text: Any) -> str:
    """Escape text from plug-ins, specs and stores for HTML."""
    return html.escape(str(text), quote=True)


def plain(text: Any) -> str:
    """Text for a matplotlib label or title: a ``$`` from a plug-in's name is a dollar sign,
    not the start of mathtext."""
    return str(text).replace("$", r"\$")


def note_html(text: str) -> str:
    """A muted note (e.g. why a table is left out)."""
    return f"<p class='note'>{esc(text)}</p>"


def figure_html(
    fig, alt: str, caption: str, dpi: int = 150, fmt: str = "svg", tight: bool = True
) -> str:
    """A matplotlib figure embedded as SVG (or PNG) with a caption; closes the figure.

    SVG keeps lines and text crisp at any zoom; artists drawn with ``rasterized=True``
    (dense layers such as individual runs) become one embedded image at ``dpi``, so a
    figure of thousands of runs stays small. No timestamp is written. ``tight=False``
    keeps the figure's own margins and saves a second layout pass (a figure laid out with
    ``subplots_adjust`` renders about twice as fast).

    Inside :func:`write_report` the figure is saved by a worker process while the sections
    draw the next ones (:mod:`optbench.render`): the image data is a placeholder until the
    page is written.
    """
    import matplotlib.pyplot as plt

    data = render.figure_data(fig, fmt, dpi, tight)
    plt.close(fig)
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{esc(alt)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def _cell(value: Any, float_format: str) -> tuple[str, str]:
    """Display text and sort key of one table cell."""
    if value is None:
        return "—", ""
    if isinstance(value, bool):
        return str(value), str(int(value))
    if isinstance(value, int | float) or hasattr(value, "dtype"):
        try:
            v = float(value)
        except (TypeError, ValueError):
            return str(value), str(value)
        if math.isnan(v):
            return "—", ""
        if math.isinf(v):
            return ("∞" if v > 0 else "−∞"), ("1e308" if v > 0 else "-1e308")
        if float(v).is_integer() and abs(v) < 1e15 and not isinstance(value, float):
            return str(int(v)), repr(v)
        return float_format.format(v), repr(v)
    return str(value), str(value)


def _is_numeric(column) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _numeric_text(text: str) -> bool:
    """Cells such as '10/10', '1.2e3 [1e3, 2e3]' or '—' align like numbers."""
    t = text.strip()
    return (
        not t
        or t[0] in "0123456789.−-+—∞["
        and not any(ch.isalpha() and ch not in "eE" for ch in t)
    )


def table_html(
    frame,
    caption: str,
    filename: str,
    float_format: str = "{:.3g}",
    *,
    csv=None,
    bold=None,
    sortable: bool = True,
) -> str:
    """A DataFrame as an escaped HTML table with a caption and a CSV download link.

    Args:
        csv: the frame offered for download, when it differs from the one shown (e.g. a
            tidy long table behind a pivoted display); default: ``frame``.
        bold: cells to emphasize, a set of ``(row position, column name)``.
        sortable: click a header to sort (a few lines of inline script, no network).
    """
    data = (frame if csv is None else csv).to_csv(index=False)
    link = "data:text/csv;charset=utf-8;base64," + base64.b64encode(data.encode()).decode()
    bold = bold or set()
    cols = list(frame.columns)
    # text columns read left-aligned and may wrap; numbers align right in tabular figures
    text_cols = {
        c
        for c in cols
        if not _is_numeric(frame[c])
        and any(isinstance(v, str) and not _numeric_text(v) for v in frame[c].tolist())
    }
    # long prose (descriptions, messages) gets room, so rows do not grow tall and narrow
    wide_cols = {
        c
        for c in text_cols
        if sum(len(str(v)) for v in frame[c].tolist()) > 40 * max(len(frame), 1)
    }
    head = "".join(
        f"<th class='t'>{esc(c)}</th>" if c in text_cols else f"<th>{esc(c)}</th>" for c in cols
    )
    rows = []
    for i, rec in enumerate(frame.itertuples(index=False, name=None)):
        cells = []
        for c, v in zip(cols, rec, strict=True):
            text, key = _cell(v, float_format)
            inner = f"<b>{esc(text)}</b>" if (i, c) in bold else esc(text)
            cls = (" class='t wide'" if c in wide_cols else " class='t'") if c in text_cols else ""
            cells.append(f'<td{cls} data-v="{esc(key)}">{inner}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cls = "data sortable" if sortable else "data"
    return (
        f"<div class='table'><p class='caption'>{esc(caption)} "
        f"<a class='csv' download='{esc(filename)}' href='{link}'>CSV</a></p>"
        f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f"</table></div>"
    )


def tuning_path(db: str | os.PathLike) -> Path:
    """Where ``optbench tune`` records its protocol for a store: ``<store>.tuning.json``."""
    p = Path(db)
    return p.with_name(p.stem + ".tuning.json")


def _read(dbs: list[Path]):
    import pandas as pd

    from .api import load
    from .store import Store

    frames, problems, sessions = [], {}, []
    for db in dbs:
        frame = load(db)
        frame["store"] = str(db)
        frames.append(frame)
        with Store(db) as s:
            problems.update(s.problem_info())
            sessions.extend(s.sessions())
    runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    runs = runs.drop_duplicates("run_id").reset_index(drop=True)
    return runs, problems, sessions


def _read_tuning(dbs: list[Path]) -> dict[str, Any] | None:
    """The tuning records beside the stores, merged (None when there is none)."""
    records = []
    for db in dbs:
        path = tuning_path(db)
        if path.is_file():
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # a damaged record: report the runs untuned rather than fail
    if not records:
        return None
    merged = dict(records[0])
    for key in ("winners", "tuning_run_ids", "final_run_ids"):
        merged[key] = [v for r in records for v in r.get(key, [])]
    return merged


def _mark_phases(runs, tuning: dict[str, Any] | None):
    """Add ``phase`` and ``solver`` columns (see :attr:`Context.compare`)."""
    runs = runs.copy()
    runs["phase"] = ""
    runs["solver"] = runs["label"] if "label" in runs else ""
    if tuning is None or not len(runs):
        return runs
    phase = {rid: "tuning" for rid in tuning.get("tuning_run_ids", [])}
    phase.update({rid: "final" for rid in tuning.get("final_run_ids", [])})
    runs["phase"] = runs.run_id.map(phase).fillna("")
    family = {rid: fam for fam, ids in tuning.get("final_families", {}).items() for rid in ids}
    runs["solver"] = runs.run_id.map(family).fillna(runs["label"])
    return runs


def build_sections(ctx: Context) -> list[Section]:
    import warnings

    sections = []
    for entry in sorted(
        registry.entries("section"), key=lambda e: (e.meta.get("order", 100), e.name)
    ):
        try:
            with warnings.catch_warnings():
                # an empty group's median is nan and shows as '—': numpy's warning about it
                # is not a failure of the section
                warnings.simplefilter("ignore", RuntimeWarning)
                section = entry.factory(ctx)
        except Exception as exc:  # one broken section must not take the report down
            section = Section(
                entry.name,
                f"<p class='error'>This section failed: {esc(type(exc).__name__)}: {esc(exc)}</p>",
            )
        if section is None:
            continue
        section.anchor = section.anchor or entry.name
        section.order = entry.meta.get("order", 100)
        sections.append(section)
    return sections


def write_report(
    dbs: list[str | os.PathLike],
    html_path: str | os.PathLike,
    problems: list[str] | None = None,
    optimizers: list[str] | None = None,
    workers: int | None = None,
) -> Path:
    """Render the report of one or several stores into one HTML file.

    Args:
        workers: processes that save figures while the sections draw (default: one per
            further core, up to 4; 0 saves every figure in this process). The file is the
            same either way.
    """
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
    # started first: the workers import matplotlib while the stores are read
    renderer = render.start(workers)
    try:
        import matplotlib

        matplotlib.use("Agg")
        return _write(dbs, html_path, problems, optimizers, style, renderer)
    finally:
        if renderer is not None:
            renderer.close()


def _write(dbs, html_path, problems, optimizers, style, renderer) -> Path:
    import matplotlib.pyplot as plt
    from jinja2 import Environment, PackageLoader, select_autoescape

    paths = [Path(p) for p in dbs]
    runs, infos, sessions = _read(paths)
    if problems and len(runs):
        runs = runs[runs.problem.isin(problems)]
    if optimizers and len(runs):
        runs = runs[runs.optimizer.isin(optimizers)]
    tuning = _read_tuning(paths)
    ctx = Context(paths, _mark_phases(runs.reset_index(drop=True), tuning), infos, sessions, tuning)
    with render.using(renderer), plt.rc_context(style):
        sections = build_sections(ctx)
    with plt.rc_context(style):  # the jobs no worker ran, run here
        jobs = renderer.finish() if renderer is not None else []
    env = Environment(loader=PackageLoader("optbench", "templates"), autoescape=select_autoescape())
    from . import __version__

    page = env.get_template("report.html").render(
        sections=sections,
        version=__version__,
        n_runs=len(runs),
        stores=[str(p) for p in paths],
        date=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        machine=f"{platform.node()} · {platform.machine()} · Python {platform.python_version()}",
    )
    if jobs:
        page = renderer.fill(page, jobs)
    out = Path(html_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
