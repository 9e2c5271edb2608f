"""The Lesson's claims (c) and (d): the regimes on the rate axis and the minibatch floors.

Every number a sentence says is computed again here from the stored traces and the
closed forms of gradient descent on a quadratic (``e_(t+1) = (1 − η·L)·e_t``: contraction
``|1 − η·L|``, divergence iff ``η·L > 2``), never from the module's own helpers; the specs
compile with vl-convert, and the schedule selector redraws its figure in real Chromium.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from optbench.reports.lesson import regimes as lr

import optbench
from optbench.report.context import read_context

RATES = [0.05, 0.5, 1, 1.5, 1.9, 2, 2.2]  # every regime: slow, monotone, one step, ...
MINIBATCH = "linear-regression[standardize=true,batch_size=10]"
SCHEDULES = ["cosine(T=400)", "step(step_size=100,gamma=0.3)"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("regimes")
    optbench.run(
        problems=["quadratic-1d", "linear-regression[standardize=true]", MINIBATCH],
        optimizers=[
            "gd[lr=[" + ",".join(f"{r}/L" for r in RATES) + "]]",
            *(f"gd[lr=0.5/L,schedule={s}]" for s in SCHEDULES),
        ],
        seeds=4, budget=400, out=out, report=False, jobs=1,
    )
    return out / "results.sqlite"


@pytest.fixture(scope="module")
def ctx(store):
    return read_context([store])


def _spec(html: str) -> dict:
    body = re.search(r"<script type='application/json' class='vega-spec'>(.*?)</script>",
                     html, re.S).group(1)
    return json.loads(body.replace("<\\/", "</"))


def _sentence(html: str) -> str:
    import html as h

    return h.unescape(re.search(r"<p class='lead'>(.*?)</p>", html, re.S).group(1))


def _g(x: float) -> str:
    return f"{x:.3g}"


def _theory_regime(r: float) -> str:
    if r < 1:
        return "monotone"
    if r == 1:
        return "one step"
    if r < 2:
        return "oscillating"
    return "period 2" if r == 2 else "diverging"


def _first_hit(f, f_star, eps=1e-6) -> float:
    gap = np.minimum.accumulate(np.asarray(f, dtype=float) - f_star)
    hit = np.flatnonzero(gap <= eps)
    return float(hit[0]) if len(hit) else math.nan


# --- claim (c) -------------------------------------------------------------------------


def test_each_run_contracts_by_one_minus_r_and_shows_the_regime_the_theory_names(ctx, store):
    rows = lr.regime_rows(ctx)
    assert list(dict.fromkeys(rows.problem)) == ["quadratic-1d",
                                                 "linear-regression[standardize=true]"]
    assert len(rows) == 2 * len(RATES) * 4  # the minibatch problem and the schedules left out
    # quadratic-1d is ½·2·(x − 1.5)², so L = 2; the standardized line fit has H = 2·I
    for problem in ("quadratic-1d", "linear-regression[standardize=true]"):
        sub = rows[rows.problem == problem]
        for r in RATES:
            at = sub[np.isclose(sub.r, r)]
            assert len(at) == 4
            assert (at.regime == _theory_regime(r)).all(), (problem, r, at.regime.tolist())
            if r == 1:
                assert (at.rho < 1e-6).all()  # the first update lands on x*
            else:
                np.testing.assert_allclose(at.rho, abs(1 - r), rtol=1e-6)
    # the stored iterations to Δf ≤ 1e-6 against the trace and the closed form on the 1-D
    # quadratic, gap_t = gap_0·(1 − r)^(2t)
    frame = optbench.load(store)
    q = rows[rows.problem == "quadratic-1d"]
    ids = frame[(frame.problem_label == "quadratic-1d")].set_index(["label", "seed"]).run_id
    for row in q.itertuples():
        tr = ctx.trace(ids[(row.label, row.seed)])
        hit = _first_hit(tr["f"], 0.0)
        assert (math.isnan(hit) and math.isnan(row.iters)) or hit == row.iters
        if 0 < row.r < 2 and row.r != 1:
            gap0 = float(tr["f"][0])
            closed = math.ceil(math.log(1e-6 / gap0) / (2 * math.log(abs(1 - row.r))))
            assert row.iters == closed
        if row.r > 2:
            assert math.isnan(row.iters) and row.status == "diverged"


def test_the_sentence_says_the_measured_regimes_and_the_fastest_rate(ctx, store):
    html = lr.regimes_block(ctx)
    text = _sentence(html)
    frame = optbench.load(store)
    q = frame[(frame.problem_label == "quadratic-1d") & (frame.optimizer == "gd")]
    slow = q[q.label == "gd[lr=0.05/L]"]
    iters = [_first_hit(ctx.trace(rid)["f"], 0.0) for rid in slow.run_id]
    assert f"0.05/L and 0.5/L crept up on the minimum from one side, 0.05/L needing " \
           f"{_g(float(np.median(iters)))} iterations to Δf ≤ 1e-6" in text
    assert "1/L landed on it in one step" in text
    # 1.5/L and 1.9/L: the error shrinks by |1 − r| = 0.5 and 0.9 per step
    assert (f"1.5/L and 1.9/L overshot it and oscillated yet converged, the error shrinking "
            f"by a factor {_g(abs(1 - 1.5))}–{_g(abs(1 - 1.9))} per step as |1 − r| "
            "predicts") in text
    assert "2/L bounced between two points" in text
    assert f"2.2/L diverged, the error growing by {_g(2.2 - 1)} per step" in text
    assert "the fastest to Δf ≤ 1e-6 was 1/L (1 iteration, median over seeds)" in text
    assert ("on linear-regression[standardize=true] the measured regime was the same at "
            f"{len(RATES)} of its {len(RATES)} shared rates") in text
    assert text.count(". ") == 0 and text.endswith(".")  # one sentence


def test_the_regimes_figure_compiles_and_stays_small(ctx):
    import vl_convert

    html = lr.regimes_block(ctx)
    spec = _spec(html)
    svg = vl_convert.vegalite_to_svg(spec)
    assert "1/L: one step" in svg and "2/L" in svg and "diverge" in svg
    assert len(json.dumps(spec)) < 120_000


# --- claim (d) -------------------------------------------------------------------------


def _tail_mean(f, f_star) -> float:
    """The mean raw gap over the last max(10, ⌈0.1·(T + 1)⌉) iterates."""
    f = np.asarray(f, dtype=float)
    w = max(10, math.ceil(0.1 * len(f)))
    return float(np.mean(f[-w:] - f_star))


def test_the_floor_and_the_final_gaps_are_the_runs_own(ctx, store):
    html = lr.minibatch_block(ctx)
    text = _sentence(html)
    frame = optbench.load(store)
    mb = frame[frame.problem_label == "linear-regression[batch_size=10,standardize=true]"]
    f_star = ctx.problems[mb.problem_key.iloc[0]]["f_star"]
    const = mb[mb.label == "gd[lr=0.5/L]"]
    floor = float(np.median([_tail_mean(ctx.trace(r)["f"], f_star) for r in const.run_id]))
    assert (f"gd[lr=0.5/L] at a constant rate levelled off at a floor of {_g(floor)} "
            "(median over 4 seeds") in text
    for s in SCHEDULES:
        runs = mb[mb.label == f"gd[lr=0.5/L,schedule={s}]"]
        final = float(np.median([ctx.trace(r)["f"][-1] - f_star for r in runs.run_id]))
        assert final < floor / 5  # the decayed rate settles well below the floor
        assert f"with {s} it ended at {_g(final)}, {_g(floor / final)}× below" in text
    assert "minibatch gradients of 10 points" in text
    assert text.count(". ") == 0 and text.endswith(".")


def test_the_smoothed_gaps_are_window_means_of_the_raw_gap(ctx):
    m = lr.minibatch_rows(ctx)
    assert m["constant"] == "gd[lr=0.5/L]"
    assert m["schedules"] == [f"gd[lr=0.5/L,schedule={s}]" for s in SCHEDULES]
    f_star = ctx.problems[m["key"]]["f_star"]
    runs = ctx.runs[(ctx.runs.problem_key == m["key"]) & (ctx.runs.label == m["constant"])]
    f = np.array([ctx.trace(r)["f"] for r in runs.run_id])  # no run stops early here
    c = m["curves"][m["curves"].label == m["constant"]].reset_index(drop=True)
    # the first window holds t = 0 alone: the median start gap
    assert c.t[0] == pytest.approx(1.0)
    assert c["median"][0] == pytest.approx(float(np.median(f[:, 0] - f_star)), rel=1e-12)
    # the last window, [e, 400]: the median over seeds of each run's mean over it
    last = c.iloc[-1]
    width = round(last.t**2 / 401)  # centre = √((e + 1)·401) in t + 1
    lo = width - 1
    expect = np.median(np.mean(f[:, lo:] - f_star, axis=1))
    assert last["median"] == pytest.approx(float(expect), rel=1e-9)


def test_the_minibatch_figure_compiles_with_the_reports_colours(ctx):
    import vl_convert

    html = lr.minibatch_block(ctx)
    spec = _spec(html)
    svg = vl_convert.vegalite_to_svg(spec)
    assert "floor" in svg
    labels = ["gd[lr=0.5/L]", *(f"gd[lr=0.5/L,schedule={s}]" for s in SCHEDULES)]
    scales = [layer["encoding"]["color"]["scale"] for layer in spec["layer"]
              if "color" in layer.get("encoding", {})]
    assert scales and all(sc["domain"] == labels for sc in scales)
    assert all(sc["range"] == [ctx.colours[lab] for lab in labels] for sc in scales)
    radio = spec["params"][0]["bind"]
    assert radio["input"] == "radio" and radio["options"] == ["all", *labels[1:]]
    assert len(json.dumps(spec)) < 60_000


def test_none_without_the_runs(store):
    only_mb = read_context([store], problems=[MINIBATCH])
    assert lr.regimes_block(only_mb) is None  # a gd sweep, but not on the lesson's problems
    assert lr.minibatch_block(only_mb) is not None
    no_mb = read_context([store], problems=["quadratic-1d"])
    assert lr.minibatch_block(no_mb) is None and lr.regimes_block(no_mb) is not None


# --- in Chromium -----------------------------------------------------------------------


@pytest.mark.browser
def test_the_schedule_selector_redraws_and_points_show_values(ctx, tmp_path):
    from optbench.report import vega
    from tests.test_browser import open_page

    page_file = tmp_path / "lesson.html"
    page_file.write_text(
        "<html><head><meta charset='utf-8'></head><body>"
        f"{lr.regimes_block(ctx)}{lr.minibatch_block(ctx)}"
        f"<script>{vega.javascript()}</script><script>{vega.EMBED_SCRIPT}</script>"
        "</body></html>", encoding="utf-8")
    with open_page(page_file) as (page, errors, urls):
        page.wait_for_selector("figure.vega:nth-of-type(2) .vega-chart svg", timeout=20000)
        page.wait_for_selector("input[type=radio]", timeout=20000)
        figure = page.locator("figure.vega").nth(1)
        radios = figure.locator("input[type=radio]")
        assert radios.count() == 1 + len(SCHEDULES)
        assert radios.nth(1).is_checked()  # the first schedule is chosen at the start
        drawing = figure.locator(".vega-chart svg").first  # the plot, not the buttons

        def look(name: str) -> tuple[bytes, int]:
            page.wait_for_timeout(300)
            lines = figure.locator(".vega-chart svg .mark-line path").count()
            return drawing.screenshot(path=str(tmp_path / f"{name}.png")), lines

        before, n_before = look("before")
        radios.nth(2).check()
        after, n_after = look("after")
        radios.nth(0).check()
        every, n_every = look("all")
        # hover a run's point in the regimes figure: its values show
        point = page.locator("figure.vega").nth(0).locator(".mark-symbol path").first
        point.hover(force=True)
        page.wait_for_selector("#vg-tooltip-element.visible", timeout=5000)
        tip = page.locator("#vg-tooltip-element").inner_text()
    assert before != after != every and before != every
    # one schedule against the constant rate, then all of them
    assert (n_before, n_after, n_every) == (2, 2, 1 + len(SCHEDULES))
    assert "measured regime" in tip and "measured ρ̂ per step" in tip
    assert errors == []
    assert all(u.startswith(("file:", "data:", "blob:")) for u in urls)
