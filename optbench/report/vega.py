"""Interactive figures: Vega-Lite specs (built with Altair) embedded in the report page.

A section returns :func:`chart_html` for a figure a reader explores (hover values, legend
toggling, zoom, linked selection, sliders). The page carries the Vega, Vega-Lite and
vega-embed JavaScript once, inlined (:func:`javascript`), and each figure as its spec in a
``<script type="application/json">`` block: the page makes no request. A figure is drawn
when it comes within a screen of the view, and every figure before printing, so a page of
many figures opens at once (:data:`EMBED_SCRIPT`). Each figure's action menu saves it as
SVG or PNG, drawn by the reader's browser from the same spec.

The JavaScript comes from vl-convert, which ships the libraries and bundles them (about
0.9 MB); bundling takes about two seconds, so the bundle is cached per vl-convert version
in the user's cache folder (``$XDG_CACHE_HOME/optbench`` or ``~/.cache/optbench``), and
rebuilt in memory where that folder is not writable.

Specs are written without Altair's schema validation (a tenth of a second a figure); the
tests compile every figure of a report with vl-convert instead, which fails on a spec
Vega-Lite cannot draw.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .html import esc

__all__ = ["chart_html", "javascript", "spec_of", "uses_vega"]

_PAGE_MARK = "data-vega-figure"


def spec_of(chart: Any) -> dict:
    """The Vega-Lite spec (a dict) of an Altair chart, or the dict itself."""
    if isinstance(chart, dict):
        return chart
    return chart.to_dict(validate=False)


def chart_html(chart: Any, alt: str, caption: str, *, name: str = "figure") -> str:
    """An interactive figure: the chart's spec embedded in the page, with a caption.

    Args:
        chart: an Altair chart (or a Vega-Lite spec as a dict).
        alt: what the figure shows, for screen readers and for a reader without JavaScript.
        caption: the caption below the figure (escaped).
        name: the file name its SVG and PNG downloads get (without extension).
    """
    spec = json.dumps(spec_of(chart), separators=(",", ":"), allow_nan=False)
    # a spec is JSON inside a script block: "</" would close the block early, and "<!--"
    # then "<script" (say in a plug-in's label) would keep it open past its end; JSON
    # reads "\u003c" as "<"
    spec = spec.replace("<", "\\u003c")
    return (
        f"<figure class='vega' {_PAGE_MARK}>"
        f"<div class='vega-chart' role='img' aria-label=\"{esc(alt)}\" "
        f"data-name=\"{esc(name)}\"><p class='note'>{esc(alt)}</p></div>"
        f"<script type='application/json' class='vega-spec'>{spec}</script>"
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def uses_vega(html: str) -> bool:
    """Whether a page body holds an interactive figure (so it needs the JavaScript)."""
    return _PAGE_MARK in html


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "optbench"


def javascript() -> str:
    """The Vega, Vega-Lite and vega-embed libraries as one inline script (cached)."""
    import vl_convert

    version = getattr(vl_convert, "__version__", "") or vl_convert.get_vega_embed_version()
    path = _cache_dir() / f"vega-bundle-{version}.js"
    try:
        return _inline(path.read_text(encoding="utf-8"))
    except OSError:
        pass
    bundle = vl_convert.javascript_bundle()  # type: ignore[call-arg]  # its stub: snippet optional
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(bundle, encoding="utf-8")
        tmp.replace(path)
    except OSError:  # a read-only home: build it again next time
        pass
    return _inline(bundle)


def _inline(bundle: str) -> str:
    # the bundle is inlined in a script element: "</script" inside it would end the element
    return bundle.replace("</script", "<\\/script")


EMBED_SCRIPT = """
// Draw each interactive figure from its embedded spec when it comes within a screen of the
// view, so that a page of many figures opens at once, and every figure before printing.
// Each figure's menu saves it as SVG or PNG. optbenchDrawFigures() draws every figure not
// drawn yet (a promise).
(function () {
  var figures = Array.prototype.slice.call(document.querySelectorAll("figure.vega"));
  var drawn = [];
  function draw(fig) {
    var i = figures.indexOf(fig);
    if (drawn[i]) { return drawn[i]; }
    var box = fig.querySelector(".vega-chart"), spec = fig.querySelector("script.vega-spec");
    if (!box || !spec || typeof vegaEmbed === "undefined") {
      drawn[i] = Promise.resolve();
      return drawn[i];
    }
    drawn[i] = vegaEmbed(box, JSON.parse(spec.textContent), {
      renderer: "svg", downloadFileName: box.getAttribute("data-name") || "figure",
      actions: {export: true, source: false, compiled: false, editor: false}
    }).then(function () { fig.setAttribute("data-drawn", ""); }, function (err) {
      box.textContent = "This figure failed to draw: " + err;
      fig.setAttribute("data-drawn", "");
    });
    return drawn[i];
  }
  function drawAll() { return Promise.all(figures.map(draw)).then(function () {}); }
  window.optbenchDrawFigures = drawAll;
  window.addEventListener("beforeprint", drawAll);
  if (!("IntersectionObserver" in window)) { drawAll(); return; }
  var near = new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (e.isIntersecting) { near.unobserve(e.target); draw(e.target); }
    });
  }, {rootMargin: "100% 0px"});
  figures.forEach(function (fig) { near.observe(fig); });
})();
"""
