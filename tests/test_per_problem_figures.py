"""The per-problem interactive figure (optbench.report.problem_chart) read back from the
report page: the signed error against the stored traces, one trajectory panel per regime
the runs show, one colour per optimizer in every spec, specs Vega-Lite can draw, and in
real Chromium a legend click that changes the other view."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.report.context import read_context

# a faster monotone rate and a milder oscillating one come first in spec order: the panels
# must still show the slowest and the most crossings
RATES = "gd[lr=[0.5/L,0.05/L,1.5/L,1.9/L,2.5/L]]"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A small store and its report: monotone, oscillating, diverging and sampled runs on a
    1-D and a 2-D problem, the optimizers in another order on each (so a colour taken from
    a problem's own position of a label would differ between the two)."""
    from optbench.report import write_report

    out = tmp_path_factory.mktemp("per_problem") / "out"
    common = dict(seeds=4, budget=60, out=out, report=False)
    res = optbench.run(problems=["quadratic-1d"], optimizers=[RATES, "random-search"], **common)
    optbench.run(problems=["linear-regression"], optimizers=["random-search", RATES], **common)
    page = write_report([Path(res.db)], out / "report.html", workers=1)
    return read_context([Path(res.db)]), page


def _specs(html: str) -> list[dict]:
    bodies = re.findall(r"<script type='application/json' class='vega-spec'>(.*?)</script>",
                        html, re.S)
    return [json.loads(b) for b in bodies]


def _problem_specs(made) -> dict[str, dict]:
    """problem title -> its spec (the figure named problem-<key>)."""
    ctx, page = made
    html = page.read_text(encoding="utf-8")
    names = re.findall(r"data-name=\"problem-([0-9a-f]+)\"", html)
    figures = re.findall(r"<figure class='vega'.*?</figure>", html, re.S)
    out = {}
    for fig in figures:
        m = re.search(r"data-name=\"problem-([0-9a-f]+)\"", fig)
        if m:
            out[ctx.problem_title(m.group(1))] = _specs(fig)[0]
    assert len(out) == len(names) == 2
    return out


def _rows(spec: dict, name: str) -> pd.DataFrame:
    data = spec["datasets"][name]
    if isinstance(data, str):
        frame = pd.DataFrame(list(csv.DictReader(io.StringIO(data))))
        return frame.apply(pd.to_numeric, errors="coerce")
    return pd.DataFrame(data)


def _labels(spec: dict) -> dict[int, str]:
    return {r["k"]: r["label"] for r in spec["datasets"]["labels"]}


def test_signed_error_starts_at_one_and_its_sign_says_which_side_of_x_star(made):
    ctx, _ = made
    spec = _problem_specs(made)["quadratic-1d"]
    rows, labels = _rows(spec, "third"), _labels(spec)
    runs = ctx.runs[ctx.runs.problem == "quadratic-1d"]
    x_star = 1.5  # quadratic-1d's minimiser (docs: ill-scaled quadratic, c = 1.5)
    left = 0
    for (k, seed), got in rows.groupby(["k", "s"]):
        run = runs[(runs.label == labels[k]) & (runs.seed == seed)].iloc[0]
        tr = ctx.trace(run.run_id)
        xs = np.asarray(tr["x"], dtype=float).reshape(-1)
        t = np.asarray(tr.get("t", np.arange(len(xs))))
        left += xs[0] < x_star
        assert got.y.iloc[0] == 1.0, (labels[k], seed)
        at = dict(zip(t.tolist(), xs.tolist(), strict=True))
        for ti, y in zip(got.x, got.y, strict=True):
            if np.isnan(y):  # a non-finite iterate: no point
                assert not np.isfinite(at[int(ti)])
                continue
            truth = np.sign(at[int(ti)] - x_star) * np.sign(xs[0] - x_star)
            assert np.sign(y) == truth, (labels[k], seed, ti)
    # runs start on both sides of x*: dividing by |x0 - x*| would put some below 0 at t = 0
    assert 0 < left < rows.groupby(["k", "s"]).ngroups


def _independent_picks(runs: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """regime -> (label, seed) of the run that shows it most, computed here from the runs
    frame alone."""
    runs = runs[~runs.status.isin(["skipped", "error", "timeout"])].copy()
    n = pd.to_numeric(runs.n_cross, errors="coerce")
    runs["regime"] = np.select(
        [runs.status.isin(["diverged", "non-finite"]), runs.status == "cycle", n.isna(),
         n >= 2, n == 1],
        ["diverged", "cycle", "sampler", "oscillating", "overshoot"],
        "monotone",
    )
    strength = {"monotone": "t_settle_2", "overshoot": "po", "oscillating": "n_cross"}
    order = {lab: i for i, lab in enumerate(dict.fromkeys(runs.label))}
    out = {}
    for regime, group in runs.groupby("regime"):
        col = strength.get(regime)
        score = (pd.to_numeric(group[col], errors="coerce").fillna(np.inf)
                 if col else pd.Series(0.0, index=group.index))
        ranked = group.assign(score=-score, lab=group.label.map(order)).sort_values(
            ["score", "lab", "seed"], kind="stable")
        out[regime] = (ranked.label.iloc[0], int(ranked.seed.iloc[0]))
    return out


@pytest.mark.parametrize("title", ["quadratic-1d", "linear-regression"])
def test_one_trajectory_panel_per_regime_present_with_its_strongest_run(made, title):
    ctx, _ = made
    spec = _problem_specs(made)[title]
    expected = _independent_picks(ctx.runs[ctx.runs.problem_label == title])
    paths, labels = _rows(spec, "path"), _labels(spec)
    from optbench.report.problem_chart import REGIMES

    names = list(REGIMES)
    reps = paths[paths.r == 1].groupby("g")
    got = {}
    for g, rows in reps:
        runs = {(labels[k], int(s)) for k, s in zip(rows.k, rows.s, strict=True)}
        assert len(runs) == 1, (names[int(g)], runs)
        got[names[int(g)]] = runs.pop()
    assert got == expected
    tiles = spec["vconcat"][1]["concat"]
    titles = [t["title"] for t in tiles]
    assert titles[:-1] == [f"{g}: {lab}, seed {s}" for g, (lab, s) in
                           sorted(got.items(), key=lambda kv: names.index(kv[0]))]
    assert titles[-1].startswith("your pick")
    if title == "quadratic-1d":  # the lesson's oscillation and divergence get their panels
        assert got["oscillating"][0] == "gd[lr=1.9/L]" and got["diverged"][0] == "gd[lr=2.5/L]"
        assert {"monotone", "sampler"} <= set(got)
    # the picker's runs: each optimizer's lowest seed with a trace
    picker = {(labels[k], int(s)) for k, s in zip(paths[paths.p == 1].k, paths[paths.p == 1].s,
                                                   strict=True)}
    lowest = ctx.runs[ctx.runs.problem_label == title].groupby("label").seed.min()
    assert picker == {(lab, int(s)) for lab, s in lowest.items()}


def _colour_scales(node, found):
    if isinstance(node, dict):
        enc = node.get("color") if isinstance(node.get("color"), dict) else None
        if enc and "scale" in enc and "domain" in enc["scale"]:
            found.append(dict(zip(enc["scale"]["domain"], enc["scale"]["range"], strict=True)))
        for v in node.values():
            _colour_scales(v, found)
    elif isinstance(node, list):
        for v in node:
            _colour_scales(v, found)
    return found


def test_an_optimizer_has_one_colour_in_every_spec_of_the_report(made):
    ctx, page = made
    specs = _specs(page.read_text(encoding="utf-8"))
    # every colour scale over run labels (other figures may colour families or rates)
    scales = [s for spec in specs for s in _colour_scales(spec, [])
              if any(k in ctx.colours for k in s)]
    assert len(scales) >= 2
    for scale in scales:  # (a scale may add a reference line, e.g. the virtual best)
        for label, colour in scale.items():
            assert label not in ctx.colours or colour == ctx.colours[label], label
    seen = {label for s in scales for label in s}
    assert set(ctx.runs.label) <= seen


def test_every_spec_compiles_and_draws_with_vl_convert(made):
    import vl_convert

    _, page = made
    specs = _specs(page.read_text(encoding="utf-8"))
    assert specs
    for spec in specs:
        svg = vl_convert.vegalite_to_svg(spec)
        assert svg.count("<path") > 20


@pytest.mark.browser
def test_figures_draw_and_a_legend_click_changes_the_trajectories(made, tmp_path):
    from tests.test_browser import draw_figures, open_page

    _, page_file = made
    with open_page(page_file, width=1400, height=1400) as (page, errors, urls):
        charts = page.locator("figure.vega .vega-chart")
        draw_figures(page)
        page.wait_for_function(
            "() => [...document.querySelectorAll('figure.vega .vega-chart')]"
            ".every(c => c.querySelector('svg .mark-line path'))", timeout=30000)
        n_charts = charts.count()
        marks = [charts.nth(i).locator("svg .mark-line path, svg .mark-symbol path").count()
                 for i in range(n_charts)]
        fig = page.locator("figure.vega").filter(has=page.locator("[data-name^='problem-']"))
        first = fig.first
        first.scroll_into_view_if_needed()
        # the trajectory panels only: from the first one's title to the figure's bottom
        box = first.bounding_box()
        top = first.locator("svg text", has_text="monotone:").first.bounding_box()["y"]
        clip = dict(x=box["x"], y=top, width=box["width"], height=box["y"] + box["height"] - top)
        before = page.screenshot(path=str(tmp_path / "before.png"), clip=clip)
        first.locator(".role-legend text", has_text="gd[lr=1.9/L]").first.click()
        page.wait_for_timeout(300)
        after = page.screenshot(path=str(tmp_path / "after.png"), clip=clip)
    assert errors == [] and all(u.startswith(("file:", "data:", "blob:")) for u in urls)
    assert n_charts >= 2 and min(marks) > 0
    assert before != after
