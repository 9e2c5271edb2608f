"""The Momentum section: its regions of the (lr·L, β) plane against the eigenvalues of heavy
ball's companion matrix and against simulated paths, its cells against the stored metrics,
its spec compiled by Vega-Lite, and its sliders in real Chromium."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest

import optbench
from optbench import registry, theory
from optbench.report.context import read_context

registry.load_builtins("section")
from optbench.reports import momentum as mod  # noqa: E402  (registered by the line above)

GRID = "momentum[lr=[0.05/L,0.8/L,1.5/L,2.9/L],momentum=[0,0.5,0.8]]"


def _companion(k: float, b: float) -> np.ndarray:
    """Eigenvalues of heavy ball's state matrix on (e_t, e_{t−1}):
    e_{t+1} = (1 + β − k)e_t − βe_{t−1}."""
    return np.linalg.eigvals(np.array([[1 + b - k, -b], [1.0, 0.0]]))


def _simulate(k: float, b: float, steps: int = 3000) -> np.ndarray:
    """e_t/e_0 of torch's heavy ball on f = ½x² (L = 1): b_t = βb_{t−1} + g_t, x ← x − k·b_t."""
    x, v, out = 1.0, 0.0, [1.0]
    for t in range(steps):
        v = x if t == 0 else b * v + x
        x = x - k * v
        out.append(x)
        if abs(x) > 1e6:
            break
    return np.array(out)


def _points(n: int = 4000):
    rng = np.random.default_rng(7)
    k = rng.uniform(1e-3, 4.5, n)
    b = rng.uniform(0, 0.999, n)
    s = np.sqrt(b)
    margin = np.minimum.reduce([np.abs(k - (1 - s) ** 2), np.abs(k - (1 + s) ** 2),
                                np.abs(k - 2 * (1 + b))])
    keep = margin > 1e-6  # off the edges, where rounding decides
    return k[keep], b[keep]


def test_regions_and_rate_match_the_companion_matrix():
    k, b = _points()
    regions = mod.phase_region(k, b)
    rates = mod.predicted_rate(k, b)
    for ki, bi, region, rate in zip(k, b, regions, rates, strict=True):
        z = _companion(ki, bi)
        radius = np.max(np.abs(z))
        assert rate == pytest.approx(radius, rel=1e-9, abs=1e-12), (ki, bi)
        complex_ = abs(z[0].imag) > 1e-12
        if radius > 1:
            want = "divergent"
        elif complex_:
            want = "under-damped"
        elif np.all(z.real >= 0):
            want = "over-damped"
        else:
            want = "oscillating-convergent"
        assert region == want, (ki, bi, z)
        if complex_:
            assert rate == pytest.approx(math.sqrt(bi), rel=1e-9)
        # the engine's scalar theory names the same region
        assert theory.heavy_ball_regime(ki, 1.0, bi) == region
    # every region occurs among the points
    assert set(regions) == {"over-damped", "under-damped", "oscillating-convergent", "divergent"}


def test_edges_are_their_own_regions():
    for b in (0.0, 0.25, 0.5, 0.81):
        s = math.sqrt(b)
        assert mod.phase_region(2 * (1 + b), b) == "period-2"
        assert np.max(np.abs(_companion(2 * (1 + b), b))) == pytest.approx(1.0)
        assert mod.phase_region((1 + s) ** 2, b) == "critically-damped"
        if b:
            assert mod.phase_region((1 - s) ** 2, b) == "critically-damped"
            assert mod.expected_class((1 - s) ** 2, b) == "monotone"
        assert mod.expected_class((1 + s) ** 2, b) == "crossing"
    with pytest.raises(ValueError, match="beta must be in"):
        mod.phase_region(1.0, 1.0)
    with pytest.raises(ValueError, match="must be > 0"):
        mod.phase_region(0.0, 0.5)


def test_expected_behaviour_matches_simulated_paths():
    """Below the band a path never crosses x*, above it it does, past 2(1 + β) it grows."""
    k, b = _points(600)
    for ki, bi in zip(k, b, strict=True):
        path = _simulate(ki, bi)
        want = mod.expected_class(ki, bi)
        if want == "diverged":
            assert abs(path[-1]) > 1e3 or np.max(np.abs(path[-50:])) > 1, (ki, bi)
            continue
        assert np.max(np.abs(path[-50:])) < 1, (ki, bi)
        crossed = bool(np.any(path[1:] < 0))
        assert crossed == (want == "crossing"), (ki, bi, want)
        # the theory's own path is the same recursion
        ours = mod.predicted_path(ki, bi, 60)
        np.testing.assert_allclose(ours, path[:61], rtol=1e-9, atol=1e-12)


def test_boundary_curves_lie_on_the_edges():
    for row in mod._curves(4.0):
        k, b = row["k"], row["b"]
        z = _companion(k, b)
        if row["w"].startswith("2(1 + β)"):
            assert np.max(np.abs(z)) == pytest.approx(1.0, abs=1e-3)
        else:  # the discriminant vanishes: a double pole
            assert (1 + b - k) ** 2 - 4 * b == pytest.approx(0.0, abs=2e-3)
            if b > 0:  # at β = 0 the two meet at lr·L = 1
                assert (k < 1 + b) == row["w"].startswith("(1 − √β)²")


# -- a store ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("momentum")
    res = optbench.run(problems=["quadratic-1d"], optimizers=[GRID, "gd[lr=[0.5/L,1.5/L]]"],
                       seeds=2, budget=300, out=out, report=False)
    ctx = read_context([res.db], None, None)
    return res.db, ctx, mod.heavy_ball_grid(ctx)


def test_cells_are_the_stored_runs(store):
    db, _, grid = store
    runs = optbench.load(db)
    hb = runs[runs.optimizer == "momentum"]
    L = 2.0  # quadratic-1d: h = 2
    assert grid.L == L and grid.optimizer == "momentum" and len(grid.cells) == 12
    for (lr, b), g in hb.groupby(["hp.lr", "hp.momentum"]):
        cell = grid.cells[(np.isclose(grid.cells.k, lr * L)) & np.isclose(grid.cells.beta, b)]
        assert len(cell) == 1
        cell = cell.iloc[0]
        rate = g.rate_x.astype(float).dropna()
        if len(rate):
            assert cell.rate == pytest.approx(float(np.median(rate)), rel=1e-12)
        else:
            assert math.isnan(cell.rate)
        # the predicted rate and region are the ones the engine stored with the runs
        assert cell.th_rate == pytest.approx(float(g.th_rate_x.iloc[0]), rel=1e-9, abs=1e-12)
        assert cell.region == g.th_regime.iloc[0]
        assert cell.po == pytest.approx(float(np.median(g.po.astype(float))), nan_ok=True)
        assert cell.n == len(g) == 2
    # the gd runs beside them
    assert sorted(grid.gd.k) == [0.5, 1.5]


def _independent_verdicts(db) -> tuple[int, int]:
    """(agree, n) from the stored runs and simulated paths alone."""
    runs = optbench.load(db)
    hb = runs[runs.optimizer == "momentum"]
    agree = n = 0
    for (lr, b), g in hb.groupby(["hp.lr", "hp.momentum"]):
        n += 1
        path = _simulate(lr * 2.0, b, 2000)
        if np.max(np.abs(path)) > 1e5:
            want = {"diverged"}
        elif abs(abs(path[-1]) - 1) < 1e-6 and abs(abs(path[-2]) - 1) < 1e-6:
            want = {"cycle"}
        else:
            want = {"crossing"} if np.any(path < 0) else {"monotone"}
        seen = set()
        for status, cross in zip(g.status, g.n_cross, strict=True):
            seen.add("diverged" if status == "diverged" else "cycle" if status == "cycle"
                     else "crossing" if cross > 0 else "monotone")
        agree += seen == want
    return agree, n


def test_sentences_count_what_the_runs_did(store):
    db, ctx, grid = store
    words = " ".join(mod.sentences(grid, "quadratic-1d"))
    agree, n = _independent_verdicts(db)
    assert f"{agree} of {n} behaved as the theory's region predicts" in words
    fitted = grid.cells[grid.cells.rate.notna()]
    close = int(((fitted.rate - fitted.th_rate).abs() <= 0.1 * fitted.th_rate).sum())
    assert f"({len(fitted)} of {n}), {close} measured rates are within 10%" in words
    runs = optbench.load(db)
    reach = runs.groupby("label")["hit_cost_1e-6"].median()
    complete = runs.groupby("label")["hit_cost_1e-6"].apply(lambda s: s.notna().all())
    hb = reach[complete & reach.index.str.startswith("momentum")]
    gd = reach[complete & reach.index.str.startswith("gd")]
    assert f"Fastest to Δf ≤ 1e-6: {hb.idxmin()}, {hb.min():.3g} evaluations" in words
    assert f"gradient descent, {gd.idxmin()}, {gd.min():.3g}." in words


def test_sliders_pick_the_nearest_stored_cell(store):
    _, ctx, grid = store
    spec = mod.momentum_chart(ctx, grid)
    params = {p["name"]: p for p in spec["params"]}
    cells = grid.cells
    # the expression is plain arithmetic on arrays, the same in Python as in Vega
    pick = params["cell"]["expr"]
    for r in cells.itertuples():
        for db_, dk in ((0, 0), (0.04, -0.04), (-0.04, 0.06)):
            beta, lrL = r.beta + db_, r.k + dk
            assert eval(pick, {"beta": beta, "lrL": lrL}) == r.c  # noqa: S307
    assert eval(pick, {"beta": 0.63, "lrL": 1.0}) == int(  # noqa: S307
        cells[(cells.beta == 0.5) & np.isclose(cells.k, 0.8)].c.iloc[0])
    # the sliders span the stored values, on steps that hit them
    assert params["beta"]["bind"]["min"] == 0 and params["beta"]["bind"]["max"] == 0.8
    assert params["beta"]["bind"]["step"] == 0.1
    assert params["lrL"]["bind"]["min"] == pytest.approx(0.05)
    assert params["lrL"]["bind"]["max"] == pytest.approx(2.9)
    assert params["lrL"]["bind"]["step"] == 0.05


def test_spec_compiles_and_stays_small(store):
    import vl_convert

    _, ctx, grid = store
    spec = mod.momentum_chart(ctx, grid)
    text = json.dumps(spec, allow_nan=False)
    assert len(text) < 60_000
    svg = vl_convert.vegalite_to_svg(spec)
    assert "<svg" in svg
    start = grid.cells.iloc[mod._start_cell(grid.cells)]
    assert start.region == "under-damped"
    assert start.label in svg  # the story names the setting shown first
    # the run's line is drawn in the report's colour for its label
    assert ctx.colours[start.label] in svg
    traces = {r["c"]: r for r in spec["datasets"]["hb-traces"]}
    e = traces[int(start.c)]["e"]
    assert e[0] == 1.0 and min(e) < 0  # it starts at +1 and overshoots
    for cell in grid.cells.itertuples():
        drawn = np.array(traces[cell.c]["p"], dtype=float)  # the theory's dashed path
        truth = _simulate(cell.k, cell.beta, len(drawn) - 1)[: len(drawn)]
        np.testing.assert_allclose(drawn, truth, rtol=6e-3, atol=1e-12)
        run = np.array(traces[cell.c]["e"], dtype=float)  # the run, as stored
        np.testing.assert_allclose(run, truth[: len(run)], rtol=6e-3, atol=1e-9)


def test_one_setting_draws_without_sliders_and_says_what_they_need(store):
    import vl_convert

    _, ctx, _ = store
    one = ctx.runs[(ctx.runs.optimizer != "momentum")
                   | (ctx.runs.label == "momentum[lr=0.8/L,momentum=0.5]")]
    section = mod.momentum(dataclasses.replace(ctx, runs=one))
    assert section is not None
    body = section.body
    assert "1 setting of lr × β" in body and "nothing to slide over" in body
    spec = json.loads(re.search(r"class='vega-spec'>(.*?)</script>", body, re.S).group(1)
                      .replace("<\\/", "</"))
    assert not any("bind" in p for p in spec["params"])
    assert "<svg" in vl_convert.vegalite_to_svg(spec)
    # no heavy-ball runs at all: no section
    assert mod.momentum(dataclasses.replace(ctx, runs=ctx.runs[ctx.runs.optimizer == "gd"])) \
        is None


def test_with_several_stores_the_baseline_speaks(store):
    db, _, grid = store
    ctx = read_context([db, db], None, None, names=["base", "new"], baseline="new")
    section = mod.momentum(ctx)
    assert "(The runs of the baseline, new;" in section.body
    two = mod.heavy_ball_grid(ctx)
    assert len(two.cells) == len(grid.cells)
    assert all(label.endswith(" · new") for label in two.cells.label)


@pytest.mark.browser
def test_the_slider_redraws_the_figure_in_chromium(store, tmp_path):
    from optbench.report import vega
    from tests.test_browser import open_page

    _, ctx, _ = store
    section = mod.momentum(ctx)
    page_file = tmp_path / "momentum.html"
    page_file.write_text(
        f"<html><head><meta charset='utf-8'></head><body style='width:1106px'>{section.body}"
        f"<script>{vega.javascript()}</script><script>{vega.EMBED_SCRIPT}</script></body></html>",
        encoding="utf-8")
    with open_page(page_file) as (page, errors, urls):
        fig = page.locator("figure.vega")
        fig.locator("svg .mark-text").first.wait_for(timeout=20000)
        chart = fig.locator("svg.marks")  # the drawing alone, not the sliders beside it
        before = chart.screenshot(path=str(tmp_path / "before.png"))
        text_before = fig.locator("svg.marks").text_content()
        slider = fig.locator("input[type=range]").first
        slider.evaluate("(el) => { el.value = el.min; "
                        "el.dispatchEvent(new Event('input', {bubbles: true})); }")
        page.wait_for_timeout(300)
        after = chart.screenshot(path=str(tmp_path / "after.png"))
        fig.screenshot(path=str(tmp_path / "figure.png"))
        text_after = fig.locator("svg.marks").text_content()
    assert errors == []
    assert urls and all(u.startswith(("file:", "data:", "blob:")) for u in urls), urls
    assert before != after  # the chart itself was redrawn
    # the story now names the β = 0 setting at the same learning rate
    assert "momentum=0]" in text_after and "momentum=0]" not in text_before
