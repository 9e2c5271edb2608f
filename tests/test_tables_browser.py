"""The report's tables in real Chromium: they fit the page, the page is the only vertical
scroll, and a reader can filter, sort and unfold them.

One small report with the wide tables present (long optimizer and problem names, the
fixed-budget, learning-rate, aggregated and statistics tables, a Summary long enough to be
folded). At 1400 px no table is wider than its box and nothing inside ``main`` scrolls on
its own, folded or unfolded; at 1024 px the Summary's result columns are on screen. The
filter keeps exactly the rows the CSV says match; the sorter still orders the rows.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pandas as pd
import pytest

import optbench
from tests.conftest import browser_tab
from tests.test_browser import ARGS, CHROMIUM, _check_sorter, _need_browser

pytestmark = pytest.mark.browser

PROBLEMS = ["quadratic-1d", "linear-regression[batch_size=10,standardize=true]", "rosenbrock"]
OPTIMIZERS = [
    "random-search",
    "gd[lr=[0.05/L,0.5/L,1.5/L,1.9/L,2.5/L]]",
    "gd[lr=0.5/L,schedule=cosine(T=60)]",
    "momentum[lr=0.5/L,momentum=0.5]",
    "adam[lr=0.05]",
    "scipy-bfgs",
]
RESULTS = ("success @", "median final gap", "aRT to", "median evals used")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    _need_browser()
    out = tmp_path_factory.mktemp("tables") / "out"
    res = optbench.run(problems=PROBLEMS, optimizers=OPTIMIZERS, seeds=3, budget=60, out=out)
    return res.report


def _open(html: Path, width: int):
    """The page in a new context of the shared browser, the context (to close), the errors."""
    _need_browser()
    browser = browser_tab(CHROMIUM, ARGS, viewport={"width": width, "height": 900})
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.resolve().as_uri(), wait_until="load")
    return browser, page, errors


# every table's [caption start, its width, its box's width]
WIDTHS = """() => Array.from(document.querySelectorAll('table.data')).map(t => {
  const box = t.closest('div.table');
  return [box.querySelector('.caption').innerText.slice(0, 50), t.scrollWidth, box.clientWidth,
          box.scrollWidth];
})"""

# elements inside main that scroll vertically on their own (content taller than the box)
SCROLLERS = """() => Array.from(document.querySelectorAll('main *')).filter(el => {
  const cs = getComputedStyle(el);
  return /(auto|scroll)/.test(cs.overflowY) && el.scrollHeight > el.clientHeight + 1;
}).map(el => el.tagName + '.' + el.className + ' ' + el.scrollHeight + '>' + el.clientHeight)"""

VISIBLE_ROWS = """(t) => Array.from(t.tBodies[0].rows).filter(r => r.offsetParent !== null)
  .map(r => Array.from(r.cells).map(c => c.innerText))"""


def _no_overflow(page):
    widths = page.evaluate(WIDTHS)
    assert len(widths) >= 20
    wide = [w for w in widths if w[1] > w[2] or w[3] > w[2]]
    assert not wide, wide
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("innerWidth")
    assert page.evaluate(SCROLLERS) == []


def _summary_csv(page) -> pd.DataFrame:
    href = page.locator("section#summary a.csv").get_attribute("href")
    return pd.read_csv(io.StringIO(base64.b64decode(href.split(",", 1)[1]).decode()))


def test_no_table_overflows_and_nothing_scrolls_inside_the_page_at_1400px(page):
    browser, tab, errors = _open(page, 1400)
    try:
        _no_overflow(tab)
        # the long tables are folded behind a button; unfolded, they still fit and the
        # page is still the only vertical scroll
        buttons = tab.locator("div.table button.more")
        assert buttons.count() >= 2  # the Summary and the per-problem tests
        for i in range(buttons.count()):
            buttons.nth(i).click()
        _no_overflow(tab)
        tab.locator("section#statistics div.table").last.scroll_into_view_if_needed()
        tab.screenshot(path=str(page.parent / "tables-1400.png"))
    finally:
        browser.close()
    assert errors == []


def test_the_summary_results_are_on_screen_at_1024px(page):
    browser, tab, errors = _open(page, 1024)
    try:
        box = tab.locator("section#summary div.table").bounding_box()
        heads = tab.locator("section#summary table.data thead th")
        names = [heads.nth(i).inner_text().replace("\n", " ") for i in range(heads.count())]
        results = [i for i, n in enumerate(names) if n.startswith(RESULTS)]
        assert len(results) == len(RESULTS), names
        for i in results:
            th = heads.nth(i).bounding_box()
            # inside the viewport and not clipped by the table's box
            assert th["x"] >= box["x"] - 0.5, names[i]
            assert th["x"] + th["width"] <= min(1024, box["x"] + box["width"]) + 0.5, names[i]
        tab.locator("section#summary h2").scroll_into_view_if_needed()
        tab.screenshot(path=str(page.parent / "summary-1024.png"))
    finally:
        browser.close()
    assert errors == []


def test_the_filter_keeps_the_matching_rows_and_the_fold_shows_the_first(page):
    browser, tab, errors = _open(page, 1400)
    try:
        csv = _summary_csv(tab)
        assert len(csv) == len(PROBLEMS) * 10 > 25  # long enough to be folded
        table = tab.locator("section#summary table.data").element_handle()
        folded = tab.evaluate(VISIBLE_ROWS, table)
        assert len(folded) == 15
        box = tab.locator("section#summary input.filter")
        box.fill("rosenbrock")
        shown = tab.evaluate(VISIBLE_ROWS, table)
        want = csv[csv.problem == "rosenbrock"]
        assert len(shown) == len(want) == 10  # every match, past the fold too
        assert sorted(r[1] for r in shown) == sorted(want.optimizer)
        # every word must match, in any cell, whatever its case
        box.fill("ROSENBROCK  momentum")
        shown = tab.evaluate(VISIBLE_ROWS, table)
        assert [(r[0], r[1].replace("\n", "")) for r in shown] == [
            ("rosenbrock", "momentum[lr=0.5/L,momentum=0.5]")]
        assert "1 of 30 rows" in tab.locator("section#summary .count").inner_text()
        box.fill("no such optimizer")
        assert tab.evaluate(VISIBLE_ROWS, table) == []
        # cleared: folded again; unfolded: every row, in the CSV's order
        box.fill("")
        assert len(tab.evaluate(VISIBLE_ROWS, table)) == 15
        tab.locator("section#summary button.more").click()
        rows = tab.evaluate(VISIBLE_ROWS, table)
        assert [(r[0], r[1].replace("\n", "")) for r in rows] == list(
            zip(csv.problem, csv.optimizer, strict=True))
    finally:
        browser.close()
    assert errors == []


def test_the_sorter_still_orders_folded_tables(page):
    browser, tab, errors = _open(page, 1400)
    try:
        _check_sorter(tab)
        # sorting a folded table shows the first rows of the new order
        csv = _summary_csv(tab)
        heads = tab.locator("section#summary table.data thead th")
        col = next(i for i in range(heads.count())
                   if heads.nth(i).inner_text().startswith("median evals"))
        heads.nth(col).click()
        table = tab.locator("section#summary table.data").element_handle()
        shown = [float(r[col]) for r in tab.evaluate(VISIBLE_ROWS, table)]
        assert shown == sorted(csv["median evals used"])[:15]
    finally:
        browser.close()
    assert errors == []
