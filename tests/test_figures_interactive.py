"""The interactive figures of the Aggregated, Learning-rate and Held-out sections, checked
against the stored runs computed another way: the ECDF and profile points against the
runs' own traces and hit costs, the learning-rate medians against the final values, the
colours against the report's one colour per label. The problem labels shown carry no data
hash, the held-out loss axes are readable (three labelled ticks or more, counted on the
SVG Vega draws), every spec compiles, and in Chromium a legend click fades the other lines
and a hover shows the values, with no console error and no request.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import optbench

PROBLEMS = ["quadratic-1d", "rosenbrock", "logistic-regression[dataset=breast-cancer]"]
OPTIMIZERS = ["gd[lr=[0.5/L,1.5/L,2.5/L]]", "random-search"]
SPEC_RE = re.compile(r"<script type='application/json' class='vega-spec'>(.*?)</script>", re.S)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    pytest.importorskip("sklearn", reason="the breast-cancer data set comes with scikit-learn")
    out = tmp_path_factory.mktemp("figures") / "out"
    res = optbench.run(problems=PROBLEMS, optimizers=OPTIMIZERS, seeds=3, budget=60, out=out)
    return res


@pytest.fixture(scope="module")
def ctx(store):
    from optbench.report.context import read_context

    return read_context([store.db], None, None)


def _section(ctx, name):
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    from optbench import registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return registry.get("section", name).factory(ctx)


def _specs(html: str) -> list[dict]:
    return [json.loads(s) for s in SPEC_RE.findall(html)]


def _figure(html: str, name: str) -> dict:
    """The spec of the figure whose downloads are called ``name``."""
    for m in re.finditer(r"data-name=\"([^\"]*)\".*?class='vega-spec'>(.*?)</script>", html, re.S):
        if m.group(1) == name:
            return json.loads(m.group(2))
    raise AssertionError(f"no figure {name!r}")


def _series(spec, panel, dataset="steps"):
    """name -> (x, y) of the lines of one panel of a step_panels spec."""
    return {r["name"]: (np.array(r["x"]), np.array(r["y"]))
            for r in spec["datasets"][dataset] if r["p"] == panel and r["k"] == "line"}


# -- Aggregated -------------------------------------------------------------------------------


def test_ecdf_points_equal_the_share_of_runs_reaching_each_target(ctx, store):
    """1-D panel (quadratic-1d alone): at every drawn point, the fraction of (target, run)
    pairs whose best-so-far gap reached the target within x evaluations, each run's cost
    read from its own trace (f, n_f, n_g), over COCO's 51 targets 10^{2..-8}."""
    spec = _figure(_section(ctx, "aggregated").body, "runtime-ecdf")
    assert spec["hconcat"][0]["title"].startswith("1-D: 1 problem")
    runs = ctx.runs[ctx.runs.problem_key == ctx.runs.problem_key.iloc[0]]
    assert ctx.problem_title(runs.problem_key.iloc[0]) == "quadratic-1d"
    f_star = ctx.problems[runs.problem_key.iloc[0]]["f_star"]
    targets = 10.0 ** np.linspace(2, -8, 51)
    drawn = _series(spec, 0)
    assert set(drawn) >= set(runs.label)
    for label, g in runs.groupby("label"):
        costs = []  # per run and target: evaluations to reach it (inf: never)
        for rid in g.run_id:
            tr = ctx.trace(rid)
            gap = np.minimum.accumulate(tr["f"] - f_star)
            evals = tr["n_f"] + tr["n_g"]
            for t in targets:
                hit = np.flatnonzero(gap <= t)
                costs.append(evals[hit[0]] if hit.size else np.inf)
        costs = np.array(costs)
        x, y = drawn[label]
        assert x.size >= 2
        # the first point is the rise from 0 at the first runtime; every other point is a
        # value of the ECDF (dimension 1: x is in evaluations)
        share = np.array([np.mean(costs <= xi) for xi in x[1:]])
        np.testing.assert_allclose(y[1:], share, atol=6e-5, err_msg=label)
        assert y[0] == 0 and x[0] == x[1]


def test_profile_points_equal_the_fraction_of_instances_within_r_of_the_best(ctx):
    """Performance profile at τ = 1e-3, recomputed from the runs frame's own hit costs
    (rel_hit_cost_1e-3, the Moré–Wild test) per (problem, seed) instance."""
    spec = _figure(_section(ctx, "aggregated").body, "performance-profiles")
    assert spec["hconcat"][0]["title"] == "performance profile, τ = 1e-3"
    runs = ctx.runs
    T = runs.pivot_table(index=["problem_key", "seed"], columns="label",
                         values="rel_hit_cost_1e-3", aggfunc="first", dropna=False)
    T = T.astype(float).fillna(np.inf)
    best = T.min(axis=1)
    for label, (x, y) in _series(spec, 0).items():
        ratio = (T[label] / best).to_numpy()
        want = np.array([np.mean(ratio <= r * (1 + 1e-9)) for r in x])
        np.testing.assert_allclose(y, want, atol=6e-5, err_msg=label)


def test_aggregated_colours_are_the_reports_colour_of_each_label(ctx):
    spec = _figure(_section(ctx, "aggregated").body, "runtime-ecdf")
    enc = spec["hconcat"][0]["layer"][0]["encoding"]["color"]["scale"]
    got = dict(zip(enc["domain"], enc["range"], strict=True))
    for label in ctx.runs.label.unique():
        assert got[label] == ctx.colours[label]
    assert len(set(ctx.colours.values())) == len(ctx.colours)


# -- Learning rate ----------------------------------------------------------------------------


def test_learning_rate_medians_and_the_sentence_instead_of_an_empty_panel(ctx):
    body = _section(ctx, "learning-rate").body
    from reports.learning_rate import family_colours

    fam = family_colours(ctx.runs)
    for key in ctx.problem_keys:
        spec = _figure(body, f"learning-rate-{key}")
        rows = spec["datasets"]["lr"]
        runs = ctx.runs[(ctx.runs.problem_key == key) & ctx.runs.label.str.startswith("gd")]
        f_star = ctx.problems[key]["f_star"]
        for lr, g in runs.groupby("hp.lr"):
            gaps = np.abs(g.f_final.astype(float).to_numpy() - f_star)
            med = np.median(np.where(np.isfinite(gaps), gaps, np.inf))
            row = next(r for r in rows if abs(r["lr"] / lr - 1) < 1e-3)
            if np.isfinite(med) and med > 0:
                assert row["gap"] == f"{med:.4g}"
            else:
                assert row["gap"] == "∞" or med == 0
        # one colour per family in every figure of the report
        scale = spec["hconcat"][0]["layer"][-2]["encoding"]["color"]["scale"]
        assert all(fam[f] == c for f, c in zip(scale["domain"], scale["range"], strict=True))
        reached = runs["hit_cost_1e-6"].notna().any()
        assert len(spec["hconcat"]) == (2 if reached else 1), key
    # rosenbrock in 60 evaluations: no run reaches 1e-6, so a sentence replaces the panel
    rb = next(k for k in ctx.problem_keys if ctx.problem_title(k) == "rosenbrock")
    assert not ctx.runs[ctx.runs.problem_key == rb]["hit_cost_1e-6"].notna().any()
    part = body[body.index(f"id='lr-{rb}'"):]
    part = part[:part.index("<h3", 10)] if "<h3" in part[10:] else part
    assert "no time to target to draw" in part


# -- Held-out loss and labels -----------------------------------------------------------------


def _y_labels(svg: str) -> list[list[str]]:
    """Per y axis of a rendered SVG: its non-empty tick labels."""
    out = []
    for m in re.finditer(r'aria-label="Y-axis[^"]*log scale[^"]*">(.*?)</g></g></g>', svg, re.S):
        labels = re.search(r'role-axis-label"[^>]*>(.*?)</g>', m.group(1), re.S).group(1)
        out.append([t for t in re.findall(r"<text[^>]*>([^<]*)</text>", labels) if t.strip()])
    return out


def test_held_out_loss_axes_have_three_labelled_ticks_and_the_lesson(ctx):
    import vl_convert

    section = _section(ctx, "held-out-loss")
    key = next(k for k in ctx.problem_keys if ctx.problem_title(k).startswith("logistic"))
    spec = _figure(section.body, f"held-out-{key}")
    axes = _y_labels(vl_convert.vegalite_to_svg(spec))
    assert len(axes) == 2  # training and test loss; the accuracy axis is linear
    for labels in axes:
        assert len(labels) >= 3, labels
    # the lesson names the optimizer whose median final test loss is lowest, from the traces
    finals = {}
    for label in ctx.runs.label.unique():
        rids = ctx.runs[(ctx.runs.problem_key == key) & (ctx.runs.label == label)] \
            .sort_values("seed").run_id
        finals[label] = np.median([ctx.trace(r)["test_f"][-1] for r in rids])
    best = min(finals, key=finals.get)
    assert f"{best} ended with the lowest held-out loss" in section.body


def test_no_label_shows_a_data_hash(ctx, store):
    html = Path(store.report).read_text(encoding="utf-8")
    hashes = {str(i["resolved"]["content_hash"]) for i in ctx.problems.values()
              if i.get("resolved")}
    assert hashes  # the breast-cancer problem has one
    for h in hashes:
        assert h not in html
    assert "content_hash" not in html
    assert "logistic-regression[dataset=breast-cancer]" in html


def test_shown_labels_keep_the_hash_where_two_problems_would_read_the_same():
    from optbench.report.labels import shown_problem_labels

    labels = {"a": "mlp[content_hash=aa,dataset=wine]", "b": "mlp[content_hash=bb,dataset=wine]",
              "c": "mlp[content_hash=cc,dataset=iris]"}
    infos = {k: {"resolved": {"content_hash": v}} for k, v in
             (("a", "aa"), ("b", "bb"), ("c", "cc"))}
    assert shown_problem_labels(labels, infos) == {
        "a": labels["a"], "b": labels["b"], "c": "mlp[dataset=iris]"}


def test_every_figure_of_the_report_compiles(store):
    import vl_convert

    specs = _specs(Path(store.report).read_text(encoding="utf-8"))
    assert len(specs) >= 3 + 3 + 1  # ECDF and 2 profiles, 3 learning-rate, 1 held-out
    for spec in specs:
        svg = vl_convert.vegalite_to_svg(spec)
        # a spec whose data flow fails still gives an <svg>, only without marks
        assert re.search(r'aria-roledescription="line mark" d="M[\d.]+,[\d.]+L', svg), spec


# -- In Chromium ------------------------------------------------------------------------------


@pytest.mark.browser
def test_a_legend_click_fades_the_other_lines_and_a_hover_shows_values(store, tmp_path):
    from tests.test_browser import open_page

    with open_page(store.report) as (page, errors, urls):
        fig = page.locator("figure.vega:has([data-name='runtime-ecdf'])")
        fig.scroll_into_view_if_needed()
        fig.locator("svg .mark-line path").first.wait_for(timeout=20000)
        before = fig.screenshot()
        opacities = fig.locator("svg .mark-line path").evaluate_all(
            "ps => ps.map(p => p.getAttribute('stroke-opacity') || p.getAttribute('opacity'))")
        label = fig.locator("svg .role-legend-label text").first.bounding_box()
        page.mouse.click(label["x"] + label["width"] / 2, label["y"] + label["height"] / 2)
        page.wait_for_timeout(400)
        after = fig.screenshot()
        faded = fig.locator("svg .mark-line path").evaluate_all(
            "ps => ps.map(p => p.getAttribute('stroke-opacity') || p.getAttribute('opacity'))")
        # hover a drawn point: vega-embed's tooltip shows its values
        box = None
        for i in range(fig.locator("svg .role-mark.mark-symbol path").count()):
            b = fig.locator("svg .role-mark.mark-symbol path").nth(i).bounding_box()
            if b and b["width"] > 0:
                box = b
                break
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        tip = page.locator("#vg-tooltip-element")
        tip.wait_for(state="visible", timeout=5000)
        tip_text = tip.inner_text()
    assert before != after
    assert len(set(opacities)) == 1 and len(set(faded)) == 2  # one line kept, the rest faded
    assert "solver" in tip_text
    assert errors == [] and all(u.startswith(("file:", "data:", "blob:")) for u in urls)


def test_noise_floor_figure_uses_the_colours_it_is_given(ctx):
    """The report passes its one colour per label (Context.colours); here a reversed
    assignment, so a figure that fell back to its own palette would differ."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from optbench.report.noise import floor_table, noise_data, noise_figure

    key = next(k for k in ctx.problem_keys if ctx.problem_title(k).startswith("logistic"))
    labels = list(ctx.colours)
    colours = dict(zip(labels, reversed(list(ctx.colours.values())), strict=True))
    payload = noise_data(ctx.problem_data[key], colours)
    assert len(payload["labels"]) >= 2
    fig = noise_figure(payload, floor_table(payload))
    drawn = {line.get_label().split(" (n=")[0]: to_hex(line.get_color())
             for line in fig.axes[0].get_lines()}
    plt.close(fig)
    for label in payload["labels"]:
        assert drawn[label] == colours[label], label
