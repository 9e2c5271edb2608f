"""The report in a real browser: headless Chromium through playwright, fully offline.

Every image decodes, the page logs no console error, every section is there, the table
sorter works, and no request leaves the machine (only file:// and data: URLs).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import optbench
from tests.conftest import REPORT_SECTIONS as SECTIONS

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def page_html(tmp_path_factory) -> Path:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"{CHROMIUM} is missing (Debian package 'chromium'; CI installs it)")
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    out = tmp_path_factory.mktemp("browser") / "out"
    res = optbench.run(
        problems=["quadratic-1d", "linear-regression"],
        optimizers=["gd[lr=[0.5/L,1.5/L,2.5/L]]", "random-search", "scipy-bfgs"],
        seeds=3,
        budget=50,
        out=out,
    )
    return res.report


def test_report_renders_offline_in_chromium(page_html):
    from playwright.sync_api import sync_playwright

    requests, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_html.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
                "i.naturalHeight])"
            )
            assert len(images) >= 8
            assert all(done and w > 0 and h > 0 for done, w, h in images), images
            for anchor in SECTIONS:
                assert page.locator(f"section#{anchor} h2").is_visible()
                assert page.locator(f"nav a[href='#{anchor}']").count() == 1
            # the sorter: clicking 'runs' twice puts the largest count first
            table = page.locator("section#run-status table.sortable").first
            header = table.locator("th", has_text="runs").first
            header.click()
            header.click()
            col = table.locator("th").all_inner_texts().index("runs")
            first = int(table.locator("tbody tr").first.locator("td").nth(col).inner_text())
            values = [
                int(v) for v in table.locator(f"tbody tr td:nth-child({col + 1})").all_inner_texts()
            ]
            assert first == max(values)
        finally:
            browser.close()
    assert errors == []
    assert requests and all(u.startswith(("file://", "data:")) for u in requests), [
        u for u in requests if not u.startswith(("file://", "data:"))
    ]
