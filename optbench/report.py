"""Report assembly: stores in, one self-contained HTML file out.

The report reads only stores, so it re-renders without rerunning. Its sections are
plug-ins (:func:`optbench.register_section`); each receives a :class:`Context` and returns
a :class:`Section` (or None to stay out). Figures are embedded as base64 PNG, tables carry
a CSV download link as a data URI: the page needs no network.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
import platform
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from . import registry

__all__ = ["Context", "Section", "figure_html", "table_html", "write_report"]


@dataclass
class Section:
    """One part of the report. ``body`` is trusted HTML built with the helpers here."""

    title: str
    body: str
    anchor: str = ""
    order: int = 100


@dataclass
class Context:
    """What a section sees: the runs, the problems, and the traces on request."""

    dbs: list[Path]
    runs: Any  # pandas.DataFrame, one row per run, with a `store` column
    problems: dict[str, dict[str, Any]]  # problem_key -> info (dim, domain, x_star, f_star, L, ...)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    _traces: dict[str, dict | None] = field(default_factory=dict)

    def trace(self, run_id: str) -> dict | None:
        """The arrays of one run (cached)."""
        if run_id not in self._traces:
            from .store import Store

            store_path = self.runs.loc[self.runs.run_id == run_id, "store"].iloc[0]
            with Store(store_path) as s:
                self._traces[run_id] = s.trace(run_id)
        return self._traces[run_id]

    @cached_property
    def problem_keys(self) -> list[str]:
        return list(dict.fromkeys(self.runs.problem_key))

    def problem_title(self, key: str) -> str:
        from .spec import Spec, format_spec

        info = self.problems.get(key, {})
        return format_spec(Spec(info.get("name", key), _nondefault(info)))


def _nondefault(info: dict[str, Any]) -> dict[str, Any]:
    try:
        params = registry.get("problem", info["name"]).params
    except Exception:  # a problem from a plug-in not loaded now: show every parameter
        return dict(info.get("params", {}))
    return {k: v for k, v in info.get("params", {}).items() if k not in params or params[k].default != v}


def esc(text: Any) -> str:
    """Escape text from plug-ins, specs and stores for HTML."""
    return html.escape(str(text), quote=True)


def figure_html(fig, alt: str, caption: str, dpi: int = 110) -> str:
    """A matplotlib figure as an embedded PNG with a caption; closes the figure."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def table_html(frame, caption: str, filename: str, float_format: str = "{:.3g}") -> str:
    """A DataFrame as an escaped HTML table with a caption and a CSV download link."""
    csv = frame.to_csv(index=False)
    link = ("data:text/csv;charset=utf-8;base64," + base64.b64encode(csv.encode()).decode())
    styled = frame.to_html(index=False, escape=True, na_rep="—", border=0, classes="data",
                           float_format=lambda v: float_format.format(v))
    return (f"<div class='table'><p class='caption'>{esc(caption)} "
            f"<a download='{esc(filename)}' href='{link}'>CSV</a></p>{styled}</div>")


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


def build_sections(ctx: Context) -> list[Section]:
    sections = []
    for entry in sorted(registry.entries("section"), key=lambda e: (e.meta.get("order", 100), e.name)):
        try:
            section = entry.factory(ctx)
        except Exception as exc:  # one broken section must not take the report down
            section = Section(entry.name, f"<p class='error'>This section failed: {esc(type(exc).__name__)}: "
                              f"{esc(exc)}</p>")
        if section is None:
            continue
        section.anchor = section.anchor or entry.name
        section.order = entry.meta.get("order", 100)
        sections.append(section)
    return sections


def write_report(dbs: list[str | os.PathLike], html_path: str | os.PathLike,
                 problems: list[str] | None = None, optimizers: list[str] | None = None) -> Path:
    """Render the report of one or several stores into one HTML file."""
    import matplotlib

    matplotlib.use("Agg")
    from jinja2 import Environment, PackageLoader, select_autoescape

    paths = [Path(p) for p in dbs]
    runs, infos, sessions = _read(paths)
    if problems:
        runs = runs[runs.problem.isin(problems)]
    if optimizers:
        runs = runs[runs.optimizer.isin(optimizers)]
    ctx = Context(paths, runs.reset_index(drop=True), infos, sessions)
    sections = build_sections(ctx)
    env = Environment(loader=PackageLoader("optbench", "templates"), autoescape=select_autoescape())
    from . import __version__

    page = env.get_template("report.html").render(
        sections=sections, version=__version__, n_runs=len(runs),
        stores=[str(p) for p in paths],
        date=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        machine=f"{platform.node()} · {platform.machine()} · Python {platform.python_version()}",
        command=" ".join(sys.argv) if sys.argv else "",
    )
    out = Path(html_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
