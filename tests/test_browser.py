"""The report in a real browser: headless Chromium through playwright, fully offline.

Every image decodes, the page logs no console error, every section is there, the table
sorter works, and no request leaves the machine (only file:// and data: URLs). At 1400 px:
no two text boxes overlap, on the page or inside any figure; no table is wider than its
box (none scrolls sideways); no figure is empty. A comparison of two
stores renders the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import optbench
from tests.conftest import REPORT_SECTIONS as SECTIONS
from tests.conftest import browser_tab

pytestmark = pytest.mark.browser

# Debian's Chromium: its headless shell (package ``chromium-headless-shell``, the same
# Chromium built without the desktop browser around it, as playwright drives headless) where it
# is installed, which starts and draws with about a fifth less CPU; else the full browser.
CHROMIUM = next((path for path in ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium")
                 if Path(path).exists()), "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _need_browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("/usr/bin/chromium-headless-shell and /usr/bin/chromium are missing (Debian "
                    "packages 'chromium-headless-shell' or 'chromium'; CI installs the first)")
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )


@contextmanager
def open_page(html: str | Path, width: int = 1400, height: int = 1000) -> Iterator[tuple]:
    """A local page open in headless Chromium: ``(page, errors, urls)``, the console errors
    and uncaught exceptions it logs and every URL it requests, as they come (skips where
    Chromium or playwright is missing)."""
    _need_browser()
    context = browser_tab(CHROMIUM, ARGS, viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        errors: list[str] = []
        urls: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: urls.append(r.url))
        page.goto(Path(html).as_uri())
        yield page, errors, urls
    finally:
        context.close()


def draw_figures(page) -> None:
    """Draw every interactive figure of an open report: the page draws each as it comes near
    the view (tests/test_lazy_figures.py), and a test that looks at all of them needs all."""
    page.evaluate("optbenchDrawFigures()")


@pytest.fixture(scope="module")
def page_html(tmp_path_factory) -> Path:
    _need_browser()
    out = tmp_path_factory.mktemp("browser") / "out"
    res = optbench.run(
        problems=["quadratic-1d", "linear-regression", "rosenbrock"],
        optimizers=["gd[lr=[0.5/L,1.5/L,2.5/L]]", "gd[lr=1.5/L,schedule=cosine(T=50)]",
                    "momentum[lr=[0.5/L,1.5/L],momentum=[0.3,0.7]]",
                    "random-search", "scipy-bfgs"],
        seeds=3,
        budget=50,
        out=out,
    )
    return res.report


@pytest.fixture(scope="module")
def comparison_html(tmp_path_factory) -> Path:
    _need_browser()
    from optbench.report import write_report

    tmp = tmp_path_factory.mktemp("browser-cmp")
    dbs = []
    for name, opts in (("base", ["gd[lr=[0.5/L,1.5/L]]", "adam[lr=0.05]"]),
                       ("new", ["gd[lr=[0.5/L,1.9/L]]", "adam[lr=0.01]"])):
        res = optbench.run(problems=["quadratic-1d", "rosenbrock"], optimizers=opts, seeds=4,
                           budget=60, out=tmp / name, report=False)
        dbs.append(res.db)
    return write_report(dbs, tmp / "cmp.html")


# every text node's boxes (a node wrapping over lines has several), in page coordinates
TEXT_BOXES = """(root) => {
  const out = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let index = 0;
  while (walker.nextNode()) {
    index += 1;
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    if (!el || el.closest('script,style')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    if (style.opacity === '0') continue;  // a label Vega hides to avoid an overlap
    // what a scroll box clips is not on screen: cut each box to its scroll boxes
    let clip = [-Infinity, -Infinity, Infinity, Infinity];
    for (let a = el; a; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') {
        const c = a.getBoundingClientRect();
        clip = [Math.max(clip[0], c.left), Math.max(clip[1], c.top),
                Math.min(clip[2], c.right), Math.min(clip[3], c.bottom)];
      }
    }
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) {
      const l = Math.max(r.left, clip[0]), t = Math.max(r.top, clip[1]);
      const rr = Math.min(r.right, clip[2]), b = Math.min(r.bottom, clip[3]);
      if (rr - l < 1 || b - t < 1) continue;
      out.push([l + scrollX, t + scrollY, rr + scrollX, b + scrollY,
                node.textContent.trim().slice(0, 40), index]);
    }
  }
  return out;
}"""


def _overlaps(boxes, slack=1.0):
    """Pairs of boxes of different text nodes that overlap by more than ``slack`` px both
    ways (a box is ``[left, top, right, bottom, text(, node)]``)."""
    boxes = sorted(boxes, key=lambda b: b[1])
    bad = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if b[1] >= a[3] - slack:
                break
            if len(a) > 5 and a[5] == b[5]:  # one node's own boxes (lines, an ellipsis)
                continue
            wide = min(a[2], b[2]) - max(a[0], b[0])
            tall = min(a[3], b[3]) - max(a[1], b[1])
            if wide > slack and tall > slack:
                bad.append((a[4], b[4]))
    return bad


# the figures' SVG (text kept as text), put in the page one at a time to measure it
SVG_TEXT = """async (src) => {
  const text = await (await fetch(src)).text();
  const holder = document.createElement('div');
  holder.innerHTML = text;
  document.body.appendChild(holder);
  const svg = holder.querySelector('svg');
  const boxes = [];
  for (const t of svg.querySelectorAll('text')) {
    const r = t.getBoundingClientRect();
    if (r.width >= 1 && r.height >= 1 && t.textContent.trim())
      boxes.push([r.left, r.top, r.right, r.bottom, t.textContent.trim().slice(0, 40)]);
  }
  const data = Array.from(svg.querySelectorAll('g[id]')).filter(g =>
    /^(line2d|PathCollection|PolyCollection|LineCollection|QuadContourSet|FillBetween)/.test(g.id)
    && !/^[xy]tick_/.test((g.parentElement || {}).id || '')).length
    + svg.querySelectorAll('image').length;
  holder.remove();
  return [boxes, data];
}"""


def _check_layout(page):
    """No overlapping text, no table wider than the viewport, no empty figure."""
    width = page.evaluate("innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # no table is wider than its box: nothing to scroll sideways (tests/test_tables_browser.py
    # checks more: no nested vertical scroll, the Summary at 1024 px, filter and fold)
    for caption, table, box in page.evaluate(
        "Array.from(document.querySelectorAll('div.table')).map(d => "
        "[d.querySelector('.caption').innerText.slice(0, 40), d.scrollWidth, d.clientWidth])"
    ):
        assert table <= box, caption
    bad = _overlaps(page.evaluate(TEXT_BOXES, page.locator("body").element_handle()))
    assert not bad, bad[:10]
    srcs = page.evaluate(
        "Array.from(document.querySelectorAll('figure img')).map(i => i.src)"
    )
    assert srcs
    for src in srcs:
        assert src.startswith("data:image/svg+xml")
        boxes, data = page.evaluate(SVG_TEXT, src)
        assert data > 0, "an empty figure"
        bad = _overlaps(boxes, slack=0.5)
        assert not bad, bad[:10]


def _open(html: Path):
    """The page in a new context of the shared browser, and the context (to close)."""
    _need_browser()
    browser = browser_tab(CHROMIUM, ARGS, viewport={"width": 1400, "height": 900})
    page = browser.new_page()
    page.goto(html.resolve().as_uri(), wait_until="load")
    return browser, page


@pytest.fixture(scope="module")
def drawn(page_html):
    """``page_html`` open once with every figure drawn: ``(page, errors, requests)``, the
    console errors and uncaught exceptions it logged and every URL it requested from its
    load on. The tests that use it read it at their own viewport, and change nothing but
    the order of a table's rows."""
    _need_browser()
    context = browser_tab(CHROMIUM, ARGS, viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_html.resolve().as_uri(), wait_until="load")
        draw_figures(page)  # and the figures not yet near the view
        yield page, errors, requests
    finally:
        context.close()


def test_no_overlapping_text_no_wide_table_no_empty_figure(drawn):
    page, errors, _ = drawn
    page.set_viewport_size({"width": 1400, "height": 900})
    _check_layout(page)
    # every figure offers its own SVG for download: a link beside a drawn one, the
    # "..." menu of an interactive one
    vega = page.locator("figure.vega")
    assert page.locator("figure.vega .vega-actions a", has_text="SVG").count() \
        == vega.count()
    links = page.evaluate(
        "Array.from(document.querySelectorAll('figure:not(.vega)')).map(f => {"
        "const a = f.querySelector('a.svg'); return a ? [a.getAttribute('href'), "
        "a.getAttribute('download'), f.querySelector('img').src] : null; })"
    )
    assert links and all(x is not None for x in links)
    for href, name, src in links:
        assert href == src and href.startswith("data:image/svg+xml")
        assert name.endswith(".svg")
    # the metric glossary once, linked from every problem's table; no raw markup
    assert page.locator("#metric-glossary").count() == 1
    assert page.locator("dl.defs dt", has_text="n_cross").count() == 1
    assert page.locator("a[href='#metric-glossary']").count() >= 3
    assert "``" not in page.inner_text("main")
    assert errors == []


# every interactive figure: [its top in the page, drawn (an SVG in its box)]
FIGURES = """() => Array.from(document.querySelectorAll('figure.vega')).map(f =>
  [f.getBoundingClientRect().top + scrollY, !!f.querySelector('.vega-chart svg.marks')])"""


def test_figures_draw_as_they_come_near_the_view(page_html):
    """A page of many figures opens without drawing them all: each is drawn when it comes
    within a screen of the view (test_no_overlapping_text_... draws all on request)."""
    browser, page = _open(page_html)  # 900 px high
    try:
        page.locator("figure.vega").first.scroll_into_view_if_needed()
        page.locator("figure.vega .vega-chart svg.marks").first.wait_for(timeout=20000)
        figures = page.evaluate(FIGURES)
        far = [drawn for top, drawn in figures if top > 3 * 900]
        assert len(far) >= 5 and not any(far), figures
        last = page.locator("figure.vega").last
        last.scroll_into_view_if_needed()
        last.locator(".vega-chart svg.marks").wait_for(timeout=20000)
        assert sum(drawn for _, drawn in page.evaluate(FIGURES)) < len(figures)
    finally:
        browser.close()


def test_printing_draws_every_figure(comparison_html):
    browser, page = _open(comparison_html)
    try:
        assert not all(drawn for _, drawn in page.evaluate(FIGURES))
        page.pdf(path=str(comparison_html.parent / "printed.pdf"))  # the print view, headless
        assert all(drawn for _, drawn in page.evaluate(FIGURES))
    finally:
        browser.close()


def test_the_comparison_page_lays_out_and_opens_with_the_comparison(comparison_html):
    browser, page = _open(comparison_html)
    try:
        first = page.evaluate("document.querySelector('main section').id")
        assert first == "comparison"
        assert page.locator("section#comparison table").count() >= 2
        _check_layout(page)
    finally:
        browser.close()


# every sortable table's numeric columns: [table index, column, header, data-v values]
NUMERIC_COLUMNS = """() => {
  const out = [];
  document.querySelectorAll('table.sortable').forEach((table, t) => {
    const heads = Array.from(table.tHead.rows[0].cells).map(c => c.innerText.trim());
    heads.forEach((h, c) => {
      const v = Array.from(table.tBodies[0].rows).map(r => r.cells[c].getAttribute('data-v'));
      if (v.length > 2 && v.every(x => x !== null && x !== '' && !isNaN(parseFloat(x))))
        out.push([t, c, h, v.map(parseFloat)]);
    });
  });
  return out;
}"""

ROWS = """(t) => Array.from(document.querySelectorAll('table.sortable')[t].tBodies[0].rows)
  .map(r => Array.from(r.cells).map(c => c.getAttribute('data-v') + '|' + c.innerText))"""


def _check_sorter(page):
    """Clicking a header sorts its table by that column, ascending then descending, moving
    whole rows: checked on a numeric column that does not start out sorted either way (on a
    column already in order, a sorter that does nothing would pass)."""
    columns = page.evaluate(NUMERIC_COLUMNS)
    unsorted = [c for c in columns if c[3] != sorted(c[3]) and c[3] != sorted(c[3])[::-1]]
    assert unsorted, "no sortable numeric column starts out unsorted: pick another page"
    t, col, name, before = unsorted[0]
    rows_before = page.evaluate(ROWS, t)
    header = page.locator("table.sortable").nth(t).locator("thead th").nth(col)
    for expect in (sorted(before), sorted(before, reverse=True)):
        header.click()
        rows = page.evaluate(ROWS, t)
        values = [float(r[col].split("|")[0]) for r in rows]
        assert values == expect, (name, values)
        # the same rows, each whole, only reordered
        assert sorted(rows) == sorted(rows_before)


def test_report_renders_offline_in_chromium(drawn):
    page, errors, requests = drawn
    page.set_viewport_size({"width": 1366, "height": 800})
    images = page.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    charts = page.locator("figure.vega .vega-chart svg").count()
    assert len(images) + charts >= 8
    assert all(done and w > 0 and h > 0 for done, w, h in images), images
    for anchor in SECTIONS:
        assert page.locator(f"section#{anchor} h2").is_visible()
        assert page.locator(f"nav a[href='#{anchor}']").count() == 1
    _check_sorter(page)
    assert errors == []
    assert requests and all(u.startswith(("file://", "data:")) for u in requests), [
        u for u in requests if not u.startswith(("file://", "data:"))
    ]
