"""Compact notebook display: what :func:`optbench.load` returns (a :class:`RunFrame`) and
what :func:`optbench.run` returns (:class:`optbench.api.Results`) show as a short HTML
summary in Jupyter — how many runs, problems and optimizer settings, how they ended, and a
table of one row per problem × optimizer — instead of hundreds of columns.

A :class:`RunFrame` is a pandas DataFrame in every other respect; what is derived from it
(a selection, a groupby, a copy) is a plain DataFrame again.
"""

from __future__ import annotations

import html

import pandas as pd

__all__ = ["RunFrame", "summary_html"]

MAX_ROWS = 20  # pairings shown; the rest are counted


class RunFrame(pd.DataFrame):
    """The tidy run frame, one row per run, shown compactly in a notebook."""

    @property
    def _constructor(self):
        return pd.DataFrame  # a derived frame is an ordinary one

    def _repr_html_(self) -> str:
        return summary_html(self)


def summary_html(frame, title: str = "optbench runs") -> str:
    """A short HTML summary of a run frame."""
    esc = html.escape
    if not len(frame) or "status" not in frame:
        return f"<div><b>{esc(title)}</b>: no runs</div>"
    problem = "problem_label" if "problem_label" in frame else "problem"
    statuses = frame["status"].value_counts()
    head = (
        f"<b>{esc(title)}</b>: {len(frame)} runs · {frame[problem].nunique()} problems · "
        f"{frame['label'].nunique()} optimizer settings · seeds "
        f"{int(frame['seed'].min())}–{int(frame['seed'].max())} · "
        + ", ".join(f"{esc(str(s))} {n}" for s, n in statuses.items())
    )
    rows = []
    groups = frame.groupby([problem, "label"], sort=False)
    for (prob, lab), g in list(groups)[:MAX_ROWS]:
        gap = g["gap_final"].median() if "gap_final" in g else float("nan")
        ended = ", ".join(f"{s} {n}" for s, n in g["status"].value_counts().items())
        rows.append(
            f"<tr><td style='text-align:left'>{esc(str(prob))}</td>"
            f"<td style='text-align:left'>{esc(str(lab))}</td><td>{len(g)}</td>"
            f"<td style='text-align:left'>{esc(ended)}</td><td>{gap:.3g}</td></tr>"
        )
    more = groups.ngroups - len(rows)
    tail = f"<p>… and {more} more (problem, optimizer) pairings</p>" if more > 0 else ""
    return (
        f"<div><p>{head}</p><table><thead><tr><th>problem</th><th>optimizer</th><th>runs</th>"
        f"<th>statuses</th><th>median final gap</th></tr></thead><tbody>{''.join(rows)}"
        f"</tbody></table>{tail}<p style='color:#666'>{len(frame.columns)} columns; "
        "pd.DataFrame(frame) or frame.head() for the rows themselves.</p></div>"
    )
