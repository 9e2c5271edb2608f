"""HTML building blocks for report sections: escaping, notes, embedded figures and tables.

Every string that comes from a plug-in, a spec or a store goes through :func:`esc`. Figures
are embedded as SVG data URIs (dense layers rasterized inside them) and tables carry a CSV
download link as a data URI, so the page needs no network. A table fits the page rather
than scrolling in a box: its cells mark where they may wrap (a name at its parameters, a
composite number between its parts), and the page's script sorts, filters and folds it.
Sections import these from :mod:`optbench.report`, which re-exports them.
"""

from __future__ import annotations

import base64
import html
import math
import re
from typing import Any

from . import pool

__all__ = ["esc", "figure_html", "note_html", "plain", "prose", "table_html"]


def esc(text: Any) -> str:
    """Escape text from plug-ins, specs and stores for HTML."""
    return html.escape(str(text), quote=True)


def prose(text: Any) -> str:
    """A description (a docstring, a catalog entry) as HTML text: escaped, its reST
    literals (````x````, ```x```) shown as code rather than as backquotes."""
    escaped = esc(text)
    escaped = re.sub(r"``(.+?)``", r"<code>\1</code>", escaped)
    return re.sub(r"(?<![\w`])`([^`]+?)`(?![\w`])", r"<code>\1</code>", escaped)


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
    draw the next ones (:mod:`optbench.report.pool`): the image data is a placeholder until the
    page is written.
    """
    data = pool.figure_data(fig, fmt, dpi, tight)
    pool.close_figure(fig)
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    link = (" <a class='svg' href='#' download='figure.svg'>SVG</a>" if fmt == "svg" else "")
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{esc(alt)}">'
        f"<figcaption>{esc(caption)}{link}</figcaption></figure>"
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


# where a long identifier such as ``momentum[lr=0.5/L,momentum=0.5]`` or
# ``linear-regression[batch_size=10,standardize=true]`` may break: before its bracket and
# after each comma between parameters, never inside a number or a name
_BREAK_BEFORE = re.compile(r"(?<=[^\s\[(])(?=[\[(])")
_BREAK_AFTER = re.compile(r"(?<=,)(?=\S)|(?<=[a-z]\.)(?=[A-Za-z])")
# a composite number cell, "0.184 [0.0804, 3.83]" or "26.6 [3, 61] · 10/10": it may wrap
# between its parts, never inside one
_PARTS = re.compile(r" (?=\[)| (?=· )")
# a numeric cell longer than this (a minimiser x* of 650 coordinates) shows its start and
# keeps the whole value in its tooltip and in the CSV
LONG = 60


def _name(word: str) -> str:
    """A word without spaces: it breaks only at its parameter boundaries (never at the
    hyphen of ``1e-6`` or ``random-search``)."""
    marked = _BREAK_AFTER.sub("\0", _BREAK_BEFORE.sub("\0", word))
    if "-" not in word and "\0" not in marked:
        return esc(word)
    return "<wbr>".join(f"<span>{esc(p)}</span>" for p in marked.split("\0"))


def _breakable(text: str) -> str:
    """Escaped text that wraps at its spaces and at the parameter boundaries of its names
    (``<wbr>``), not at their hyphens."""
    return " ".join(_name(w) for w in text.split(" "))


def _header(text: str) -> str:
    """A column name: wraps at its spaces; a metric name (``t_settle_2``) also after its
    underscores, but only in a table too wide for the page (see :func:`_interval`)."""
    words = []
    for w in text.split(" "):
        if "_" in w.strip("_"):
            w = "<wbr>".join(esc(p) for p in re.split(r"(?<=_)(?=[^_])", w))
            words.append(f"<span class='i'>{w}</span>")
        else:
            words.append(_name(w))
    return " ".join(words)


def _parts(text: str) -> str:
    """A composite number cell as unbreakable parts that may wrap between them; a long
    list cut to its start."""
    if len(text) > LONG:
        cut = text.rfind(", ", 0, LONG)
        short = (text[:cut] if cut > 0 else text[:LONG]) + ", …"
        tip = text if len(text) <= 2000 else text[:2000] + " … (the rest in the CSV)"
        return f"<span title='{esc(tip)}'>{esc(short)}</span>"
    parts = _PARTS.split(text)
    if len(parts) == 1:
        return esc(text)
    return " ".join(_interval(p) if p.startswith("[") and ", " in p else f"<span>{esc(p)}</span>"
                    for p in parts)


def _interval(text: str) -> str:
    """``[lo, hi]`` kept on one line unless its table is too wide for the page (the page's
    script marks such a table ``tight``; the stylesheet then lets the interval wrap)."""
    return "<span class='i'>" + " ".join(f"<span>{esc(p)}</span>" for p in text.split(" ")) + (
        "</span>")


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

    Every table of more than five rows gets a filter box from the page's script, and one
    of more than 25 rows shows its first 15 until the reader asks for all.
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
        f"<th class='t'>{_header(c)}</th>" if c in text_cols else f"<th>{_header(c)}</th>"
        for c in cols
    )
    rows = []
    for i, rec in enumerate(frame.itertuples(index=False, name=None)):
        cells = []
        for c, v in zip(cols, rec, strict=True):
            text, key = _cell(v, float_format)
            if c in text_cols:
                inner = _breakable(text)
                cls = " class='t wide'" if c in wide_cols else " class='t'"
            else:
                inner = _parts(text)
                cls = " class='p'" if "<span" in inner else ""
            inner = f"<b>{inner}</b>" if (i, c) in bold else inner
            cells.append(f'<td{cls} data-v="{esc(key)}">{inner}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cls = "data sortable" if sortable else "data"
    return (
        f"<div class='table'><p class='caption'>{esc(caption)} "
        f"<a class='csv' download='{esc(filename)}' href='{link}'>CSV</a></p>"
        f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f"</table></div>"
    )
