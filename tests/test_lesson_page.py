"""The Lesson section: its sentences' numbers against the runs recomputed from their traces
and against the closed form of gradient descent on a 1-D quadratic, its figures compiled by
Vega-Lite, and its learning-rate slider redrawing the figure in real Chromium.

GD on f = (L/2)(x − x*)² with rate r/L multiplies the error by (1 − r) at each update, so
the signed error (x_k − x*)/(x₀ − x*) is exactly (1 − r)^k; for 1 < r < 2 it crosses x* at
every update and overshoots by |1 − r| (90 % at 1.9/L), and it stays within 2 % of its start
from ⌈ln 0.02 / ln|1 − r|⌉ on (38 at 1.9/L); for r > 2 it diverges.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import optbench
from optbench.report.context import read_context

RATES = (0.05, 0.5, 1.0, 1.5, 1.9, 2.2)
SEEDS = 4


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    out = tmp_path_factory.mktemp("lesson-page")
    res = optbench.run(
        problems=["quadratic-1d", "linear-regression"],
        optimizers=["random-search", f"gd[lr=[{','.join(f'{r:g}/L' for r in RATES)}]]"],
        seeds=SEEDS,
        budget=300,
        out=out,
    )
    page = res.report.read_text(encoding="utf-8")
    m = re.search(r'<section id="lesson">(.*?)</section>', page, flags=re.S)
    assert m, "no Lesson section"
    return {"page": page, "section": m.group(1), "db": res.db, "html": res.report}


def _lead(section: str, key: str) -> str:
    m = re.search(rf"<h3 id='lesson-{key}'>.*?</h3><p class='lead'>(.*?)</p>", section, re.S)
    assert m, f"claim {key} has no sentence"
    text = re.sub(r"<[^>]+>", "", m.group(1))  # a target kept on one line is in a span
    return text.replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">")


def _specs(section: str) -> list[dict]:
    blocks = re.findall(r"<script type='application/json' class='vega-spec'>(.*?)</script>",
                        section, re.S)
    return [json.loads(b.replace("<\\/", "</")) for b in blocks]


def _traces(db, problem, label_prefix):
    """(run row, full trace) of the runs of a problem whose label starts with a prefix."""
    ctx = read_context([Path(db)])
    runs = ctx.runs[(ctx.runs.problem == problem) & ctx.runs.label.str.startswith(label_prefix)]
    traces = ctx.traces(list(runs.run_id))
    return ctx, [(row, traces[row.run_id]) for _, row in runs.iterrows()]


def test_the_lesson_opens_the_page_with_both_claims(lesson):
    first = re.search(r'<section id="([^"]+)">', lesson["page"]).group(1)
    assert first == "lesson"
    assert "(a) Random guessing against following the slope" in lesson["section"]
    assert "(b) The learning rate decides the step" in lesson["section"]
    # claims (c) and (d) follow (b), in that order (their own tests: test_lesson_regimes.py)
    heads = re.findall(r"<h3 id='lesson-([a-z-]+)'>", lesson["section"])
    assert heads == ["random-search", "learning-rate", "regimes"] + (
        ["minibatch"] if "minibatch" in heads else [])


def test_claim_a_numbers_are_the_runs_recomputed_from_their_traces(lesson):
    text = _lead(lesson["section"], "random-search")
    ctx, gd = _traces(lesson["db"], "linear-regression", "gd[")
    f_star = ctx.problems[gd[0][0].problem_key]["f_star"]

    def hit(tr):  # evaluations at the first iterate with f − f* ≤ 1e-6
        ok = np.flatnonzero(tr["f"] - f_star <= 1e-6)
        return float(tr["n_f"][ok[0]] + tr["n_g"][ok[0]]) if len(ok) else math.inf

    per_label = {}
    for row, tr in gd:
        per_label.setdefault(row.label, []).append(hit(tr))
    fastest = min((lab for lab, v in per_label.items() if np.isfinite(v).all()),
                  key=lambda lab: np.median(per_label[lab]))
    med = np.median(per_label[fastest])
    assert f"fastest stored constant rate, {fastest}, reached Δf ≤ 1e-6 in a median " \
           f"{med:g} evaluations (all {SEEDS} seeds)" in text
    _, rs = _traces(lesson["db"], "linear-regression", "random-search")
    assert all(not np.any(tr["f"] - f_star <= 1e-6) for _, tr in rs)
    best = np.median([np.min(tr["f"]) - f_star for _, tr in rs])
    evals = np.median([tr["n_f"][-1] + tr["n_g"][-1] for _, tr in rs])
    assert (f"random search reached it in none of its {SEEDS} runs: after a median {evals:g} "
            f"evaluations its best gap was still a median {best:.3g}") in text


def test_claim_b_numbers_are_the_closed_form(lesson):
    text = _lead(lesson["section"], "learning-rate")
    ctx, gd = _traces(lesson["db"], "quadratic-1d", "gd[")
    info = ctx.problems[gd[0][0].problem_key]
    L, x_star = info["L"], info["x_star"][0][0]
    x0 = {row.seed: float(tr["x"][0, 0]) for row, tr in gd}

    def updates_to_target(r, e0):  # smallest k with (L/2)·e0²·(1 − r)^(2k) ≤ 1e-6
        if r == 1:
            return 1
        return math.ceil(math.log(1e-6 / (L / 2 * e0**2)) / (2 * math.log(abs(1 - r))))

    slow = np.median([updates_to_target(0.05, x - x_star) for x in x0.values()])
    assert "in a median 1 evaluation at 1/L" in text  # one step lands on x*
    assert f"but {slow:g} at 0.05/L: too small a rate is slow" in text
    po = 100 * abs(1 - 1.9)
    settle = math.ceil(math.log(0.02) / math.log(abs(1 - 1.9)))
    assert (po, settle) == (pytest.approx(90), 38)
    # crossings: sign changes of x − x*, counted on the traces
    crossings = np.median([np.sum(np.diff(np.sign(tr["x"][:, 0] - x_star)) != 0)
                           for row, tr in gd if row.label == "gd[lr=1.9/L]"])
    updates = np.median([len(tr["f"]) - 1 for row, tr in gd if row.label == "gd[lr=1.9/L]"])
    assert crossings == updates
    assert (f"at 1.9/L it overshot x* by {po:.0f} % (predicted {po:.0f} %), crossed it a median "
            f"{crossings:g} times (at every update) and settled within 2 % after {settle} "
            f"updates (predicted {settle})") in text
    assert "at 2.2/L, past 2/L, every run diverged" in text


def test_the_slider_data_is_the_closed_form_step_response(lesson):
    spec_a, spec_b = _specs(lesson["section"])[:2]  # (a) and (b); (c), (d) follow
    (slider, shown) = spec_b["params"]
    assert slider["bind"]["input"] == "range"
    assert (slider["bind"]["min"], slider["bind"]["max"]) == (min(RATES), max(RATES))
    steps = spec_b["datasets"]["steps"]
    assert {r["k"] for r in steps} == set(RATES)
    for r in steps:
        exact = (1 - r["k"]) ** r["it"]
        if abs(exact) <= 1e3:  # a diverging run is stopped: its later steps are not drawn
            assert r["e"] == pytest.approx(exact, rel=1e-3, abs=1e-12), r
    assert all(r["e"] == 1 for r in steps if r["it"] == 0)  # signed: every run starts at +1
    facts = {(r["k"], r["what"], r["col"].replace("quadratic-1d · ", "")): r["text"]
             for r in spec_b["datasets"]["facts"]}
    for k in RATES:
        predicted = facts[(k, "overshoot %", "predicted")]
        assert float(predicted) == pytest.approx(100 * max(k - 1, 0)), (k, predicted)
        measured = facts[(k, "overshoot %", "measured")].replace(" (1st peak)", "")
        assert float(measured) == pytest.approx(100 * max(k - 1, 0))
    for k in RATES:  # what the run did, in the theory's words: the regime of r = lr·L
        regime = ("monotone" if k < 1 else "one-step" if k == 1
                  else "oscillating-convergent" if k < 2 else "divergent")
        assert facts[(k, "regime", "measured")] == facts[(k, "regime", "predicted")] == regime
    assert facts[(1.9, "2 % settling (updates)", "predicted")] == "38"
    assert facts[(1.9, "2 % settling (updates)", "measured")] == "38"
    assert facts[(2.2, "status", "measured")] == "diverged"
    # the nearest stored rate to the slider: every stored rate maps to itself
    expr = shown["expr"]
    cuts = [(float(c), float(v)) for c, v in re.findall(r"rate < ([\d.e+-]+) \? ([\d.e+-]+)", expr)]
    last = float(re.search(r": ([\d.e+-]+)\)$", expr).group(1))

    def nearest(rate):  # the expression, read as the chain of comparisons it is
        return next((v for c, v in cuts if rate < c), last)

    for k in RATES:
        assert nearest(k) == k
    for a, b in zip(RATES[:-1], RATES[1:], strict=True):  # either side of the midpoint
        assert (nearest((a + b) / 2 - 1e-6), nearest((a + b) / 2 + 1e-6)) == (a, b)
    # the slider's second row, the line fit: the error along the start direction is the
    # closed form e_k = (I − (r/L)·H)^k e₀ of GD on its quadratic, projected on e₀
    ctx = read_context([Path(lesson["db"])])
    info = next(v for v in ctx.problems.values() if v["name"] == "linear-regression")
    H, L = np.asarray(info["hessian"]), info["L"]
    fit_steps = spec_b["datasets"]["fit_steps"]
    assert {r["k"] for r in fit_steps} == set(RATES)
    seed_paths = [r for r in spec_b["datasets"]["fit_paths"] if r["it"] == 0]
    x0 = np.array([seed_paths[0]["w"], seed_paths[0]["b"]])
    e0 = x0 - np.asarray(info["x_star"][0])
    for r in fit_steps:
        e = np.linalg.matrix_power(np.eye(2) - r["k"] / L * H, r["it"]) @ e0
        exact = float(e @ e0 / (e0 @ e0))
        if abs(exact) <= 1e3:
            assert r["e"] == pytest.approx(exact, rel=2e-3, abs=2e-3), r
    # the line fit's figure of claim (a): both paths, the same start, x* marked
    paths = spec_a["datasets"]["paths"]
    labels = {r["label"] for r in paths}
    assert "random-search" in labels and len(labels) == 2
    gd_label = (labels - {"random-search"}).pop()
    assert f"constant rate, {gd_label}, reached" in _lead(lesson["section"], "random-search")
    starts = {(r["w"], r["b"]) for r in paths if r["it"] == 0}
    assert len(starts) == 1
    assert spec_a["datasets"]["contours"], "no contour lines"


def test_the_figures_compile_and_stay_small(lesson):
    import vl_convert

    specs = _specs(lesson["section"])[:2]  # (a) and (b); (c) and (d): test_lesson_regimes.py
    for spec in specs:
        svg = vl_convert.vegalite_to_svg(spec)
        assert "<svg" in svg
    svg_b = vl_convert.vegalite_to_svg(specs[1])
    assert "lr = 1.5/L" in svg_b  # the slider starts at the stored rate nearest 1.5/L
    assert len(lesson["section"]) < 400_000


def test_a_claim_without_its_runs_says_so_in_one_line(lesson):
    from optbench.reports.lesson import lesson as section

    ctx = read_context([Path(lesson["db"])], problems=["quadratic-1d"])
    body = section(ctx).body
    assert len(_specs(body)) == 2  # (b), and (c) on the same runs
    note = re.search(r"<h3 id='lesson-random-search'>.*?</h3><p class='note'>(.*?)</p>", body)
    assert note and "needs random search and gradient descent" in note.group(1)
    ctx = read_context([Path(lesson["db"])], problems=["linear-regression"])
    body = section(ctx).body
    assert len(_specs(body)) == 1  # (a) only: (c) needs the quadratic, (d) the minibatch fit
    assert "needs gradient descent at two or more constant rates" in body
    ctx = read_context([Path(lesson["db"])], optimizers=["random-search"])
    assert section(ctx) is None  # neither claim: no section


@pytest.mark.browser
def test_the_slider_redraws_the_figure_in_chromium(lesson, tmp_path):
    from tests.test_browser import open_page

    with open_page(lesson["html"]) as (page, errors, urls):
        fig = page.locator("#lesson figure.vega").nth(1)
        slider = fig.locator("input[type=range]")
        slider.wait_for(timeout=20000)
        page.wait_for_function(
            "() => document.querySelectorAll('#lesson figure.vega svg.marks').length >= 2",
            timeout=20000)
        fig.scroll_into_view_if_needed()
        before = fig.screenshot(path=str(tmp_path / "before.png"))
        texts = "f => [...f.querySelectorAll('svg.marks text')].map(t => t.textContent).join('|')"
        title_before = fig.evaluate(texts)
        slider.fill("2.2")
        slider.dispatch_event("input")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#lesson figure.vega svg.marks text')]"
            ".some(t => t.textContent.startsWith('lr = 2.2/L'))", timeout=10000)
        after = fig.screenshot(path=str(tmp_path / "after.png"))
        title_after = fig.evaluate(texts)
    assert before != after
    assert "lr = 1.5/L" in title_before and "lr = 2.2/L" in title_after
    assert errors == []
    assert all(u.startswith(("file:", "data:", "blob:")) for u in urls), urls
