"""The interactive-figure plumbing: a spec embedded safely, the JavaScript bundle cached,
and a figure drawn by real Chromium with no request leaving the page."""

from __future__ import annotations

import json
import re

import pytest

from optbench.report import vega


def _chart():
    import altair as alt
    import pandas as pd

    df = pd.DataFrame({"x": [0, 1, 2, 3], "y": [1.0, 0.5, 0.25, 0.125], "o": "a</script>b"})
    return alt.Chart(df).mark_line().encode(x="x", y="y", color="o").interactive()


def test_spec_is_embedded_intact_and_cannot_close_its_script_block():
    html = vega.chart_html(_chart(), "alt <text>", "cap & more", name="fig")
    assert vega.uses_vega(html) and not vega.uses_vega("<figure><img></figure>")
    body = re.search(r"<script type='application/json' class='vega-spec'>(.*?)</script>", html,
                     re.S).group(1)
    assert "</" not in body  # the label's "</script>" is written "<\/script>"
    spec = json.loads(body)
    assert spec == json.loads(json.dumps(vega.spec_of(_chart())))
    assert "alt &lt;text&gt;" in html and "cap &amp; more" in html


def test_bundle_is_cached_per_version_and_built_in_memory_where_the_cache_is_read_only(
    tmp_path, monkeypatch
):
    import vl_convert

    built = []

    def bundle(*args):
        built.append(args)
        return "var s = '</script>'; window.vegaEmbed = 1;"

    monkeypatch.setattr(vl_convert, "javascript_bundle", bundle)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = vega.javascript()
    cached = list((tmp_path / "optbench").glob("vega-bundle-*.js"))
    assert len(cached) == 1 and len(built) == 1
    assert first == "var s = '<\\/script>'; window.vegaEmbed = 1;"  # cannot end its element
    assert vega.javascript() == first and len(built) == 1  # the second page reads the cache
    cached[0].write_text("window.vegaEmbed = 'from the cache';")
    assert vega.javascript() == "window.vegaEmbed = 'from the cache';"
    # a cache folder that cannot be created: the bundle is built again, nothing raised
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert vega.javascript() == first and len(built) == 2


@pytest.mark.browser
def test_a_figure_draws_offline_in_chromium(tmp_path):
    from tests.test_browser import open_page

    page_file = tmp_path / "p.html"
    page_file.write_text(
        f"<html><body>{vega.chart_html(_chart(), 'a line', 'c', name='f1')}"
        f"<script>{vega.javascript()}</script><script>{vega.EMBED_SCRIPT}</script></body></html>"
    )
    with open_page(page_file) as (page, errors, urls):
        page.wait_for_selector(".vega-chart svg .mark-line path", timeout=15000)
        n_paths = page.locator(".vega-chart svg .mark-line path").count()
    assert errors == [] and all(u.startswith(("file:", "data:", "blob:")) for u in urls)
    assert n_paths == 1
