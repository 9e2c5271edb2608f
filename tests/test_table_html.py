"""table_html's cells: the text shown is the value, unchanged; only break opportunities and
unbreakable parts are marked (how they lay out is checked in tests/test_tables_browser.py)."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from optbench.report import table_html


def _cells(page: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", page)


def _text(cell: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", cell))


@pytest.mark.parametrize(
    ("label", "parts"),
    [
        ("linear-regression[batch_size=10,standardize=true]",
         ["linear-regression", "[batch_size=10,", "standardize=true]"]),
        ("momentum[lr=0.5/L,momentum=0.5]", ["momentum", "[lr=0.5/L,", "momentum=0.5]"]),
        ("gd[lr=0.5/L,schedule=cosine(T=400)]",
         ["gd", "[lr=0.5/L,", "schedule=cosine", "(T=400)]"]),
        ("torch[cls=torch.optim.AdamW,lr=0.01]",
         ["torch", "[cls=torch.", "optim.", "AdamW,", "lr=0.01]"]),  # never in 0.01
        ("random-search", ["random-search"]),  # one part: it does not break at its hyphen
    ],
)
def test_a_name_breaks_only_at_its_parameters(label, parts):
    page = table_html(pd.DataFrame({"optimizer": [label, "adam"]}), "c" * 40, "t.csv")
    cell = _cells(page)[0]
    assert _text(cell) == label
    assert [_text(p) for p in cell.split("<wbr>")] == parts
    assert "<wbr>" not in _cells(page)[1] and "<span>" not in _cells(page)[1]  # adam


def test_prose_wraps_at_spaces_and_keeps_its_text_escaped():
    text = "stalled 7, budget 3 <b>not bold</b> at 1e-6"
    page = table_html(pd.DataFrame({"statuses": [text]}), "c" * 40, "t.csv")
    cell = _cells(page)[0]
    assert _text(cell) == text and "<b>" not in cell
    assert "<span>1e-6</span>" in cell  # not broken at its hyphen


@pytest.mark.parametrize(
    ("value", "parts", "interval"),
    [
        ("0.184 [0.0804, 3.83]", ["0.184", "[0.0804,", "3.83]"], "[0.0804, 3.83]"),
        ("26.6 [3, 61] · 10/10", ["26.6", "[3,", "61]", "· 10/10"], "[3, 61]"),
        ("∞ · 0/10", ["∞", "· 0/10"], None),
    ],
)
def test_a_composite_number_wraps_between_its_parts_only(value, parts, interval):
    page = table_html(pd.DataFrame({"@10": [value, "1"]}), "c" * 40, "t.csv")
    cell = re.search(r"<td class='p'[^>]*>(.*?)</td>", page).group(1)
    assert _text(cell) == value
    assert re.findall(r"<span>(.*?)</span>", html.unescape(cell)) == parts
    # the interval is one part that a too-wide ('tight') table may wrap inside
    inner = re.findall(r"<span class='i'>(.*?)</span></span>", html.unescape(cell))
    assert [_text(x + "</span>") for x in inner] == ([interval] if interval else [])
    assert _cells(page)[1] == "1"  # a plain number: no markup, no class


def test_a_long_list_shows_its_start_and_keeps_the_whole_in_its_tooltip_and_csv():
    import base64

    x = ", ".join(f"{0.1 * i:.6g}" for i in range(650))
    page = table_html(pd.DataFrame({"x*": [x]}), "c" * 40, "t.csv")
    cell = _cells(page)[0]
    shown = _text(cell)
    assert shown.endswith(", …") and len(shown) <= 64 and x.startswith(shown[:-3])
    tip = html.unescape(re.search(r"title='([^']*)'", cell).group(1))
    assert tip.startswith(x[:1990]) and tip.endswith("(the rest in the CSV)")
    csv = base64.b64decode(re.search(r"base64,([^']+)'", page).group(1)).decode()
    assert x in csv


def test_headers_wrap_at_words_not_inside_numbers():
    page = table_html(pd.DataFrame({"aRT to 1e-6": [1.0]}), "c" * 40, "t.csv")
    assert "<th>aRT to <span>1e-6</span></th>" in page


def test_a_metric_name_in_a_header_may_wrap_after_its_underscores_when_tight():
    page = table_html(pd.DataFrame({"t_settle_2 (observed median)": [1.0]}), "c" * 40, "t.csv")
    th = re.search(r"<th>(.*?)</th>", page).group(1)
    assert th == "<span class='i'>t_<wbr>settle_<wbr>2</span> (observed median)"
