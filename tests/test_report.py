"""The HTML report: structure, captions, CSV links, escaping, offline-ness, and its numbers
against independent truth (closed forms for GD on a quadratic, hand-computed statistics)."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.plan import (
    build_problem,
    make_plan,
    problem_key,
    resolve_problem,
    run_records,
    start_point,
)
from optbench.report import write_report
from optbench.runner import run_batch
from optbench.store import Store
from tests.conftest import REPORT_SECTIONS as SECTIONS


EVIL = "<script>alert(1)</script>"
PLUGIN = '''
from optbench import Optimizer, Problem, register_optimizer, register_problem

def _gd(lr, tag):
    def step(x, state, oracle, t):
        return x - lr * oracle.grad(x), {"lr": lr}
    return Optimizer(step=step)

@register_optimizer("tagged-gd", needs=("gradient",), batchable=True,
                    description="GD with a tag <img src=x onerror=alert(2)>")
def tagged_gd(lr: float = 0.1, tag: str = "plain"):
    """GD whose tag is only a label."""
    return _gd(lr, tag)

@register_problem("no-grad-bowl")
def no_grad_bowl():
    """x² without a gradient: gradient methods are skipped on it."""
    return Problem(dim=1, f=lambda X: X[:, 0] ** 2, bounds=([-3.0], [3.0]), x_star=[[0.0]],
                   f_star=0.0, L=2.0, mu=2.0)

@register_optimizer("<script>alert(1)</script>", needs=("gradient",), batchable=True)
def evil(lr: float = 0.2):
    """<b>not bold</b>"""
    return _gd(lr, "")
'''


def _write_named(db: Path, optimizer_name: str, seeds: int, budget: int) -> None:
    """Run an optimizer whose name the spec grammar cannot spell, straight into the store."""
    from optbench.spec import Spec

    plan = make_plan(["quadratic-1d"], [Spec(optimizer_name, {})], seeds=seeds, budget=budget)
    infos = {}
    for r in plan.runs:
        p = build_problem(r.problem)
        infos[problem_key(r.problem)] = {
            "name": r.problem.name,
            "params": dict(r.problem.params),
            "description": p.description,
            **p.info(),
            "hessian": None,
        }
    with Store(db, create=True) as store:
        for batch in plan.batches:
            by_id = {r.run_id: r for r in batch.runs}
            store.write(run_records([(by_id[res.run_id], res) for res in run_batch(batch)]), infos,
                        batch.index)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    plugin = tmp / "evil_plugin.py"
    plugin.write_text(PLUGIN)
    res = optbench.run(
        problems=["quadratic-1d", "linear-regression", "no-grad-bowl"],
        optimizers=[
            "gd[lr=[0.5/L,1.5/L,2.5/L]]",
            "momentum[lr=0.5/L,momentum=0.5]",
            "random-search",
            "scipy-bfgs",
            f'tagged-gd[lr=0.3,tag="{EVIL} $x$_{{"]',
        ],
        seeds=4,
        budget=60,
        out=tmp / "out",
        plugins=[str(plugin)],
        report=False,
    )
    _write_named(res.db, EVIL, seeds=2, budget=30)
    # one worker, started at once (a page this small would not start the default ones)
    html_path = write_report([res.db], tmp / "out" / "report.html", workers=1)
    return res.db, html_path.read_text(encoding="utf-8")


def _csv_links(html: str) -> list[str]:
    return re.findall(r"href='data:text/csv;charset=utf-8;base64,([A-Za-z0-9+/=]+)'", html)


def test_every_section_is_present_with_its_navigation(report):
    _, html = report
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html
        assert f'href="#{anchor}"' in html
    assert "This section failed" not in html
    assert 'href="#problem-' in html  # one navigation entry per problem


def test_every_figure_and_table_has_a_caption_and_every_table_a_csv(report):
    _, html = report
    # matplotlib figures are images; interactive ones (class 'vega') their Vega-Lite spec
    figures = re.findall(r"<figure(?: class='vega' data-vega-figure)?>(.*?)</figure>", html,
                         flags=re.S)
    assert len(figures) >= 8
    for fig in figures:
        assert re.search(r"<img src=\"data:image/(svg\+xml|png);base64,", fig) or re.search(
            r"<script type='application/json' class='vega-spec'>\{", fig)
        caption = re.search(r"<figcaption>(.+?)</figcaption>", fig, flags=re.S)
        assert caption and len(caption.group(1)) > 40
    tables = re.findall(r"<div class='table'>(.*?)</div>", html, flags=re.S)
    assert len(tables) >= 10
    for t in tables:
        assert re.search(r"<p class='caption'>[^<]{30,}", t)
        assert "href='data:text/csv;charset=utf-8;base64," in t
    for link in _csv_links(html):
        frame = pd.read_csv(io.StringIO(base64.b64decode(link).decode()))
        assert len(frame.columns) >= 2


def test_text_from_plugins_is_escaped(report):
    _, html = report
    assert EVIL not in html and "<img src=x" not in html and "<b>not bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # the only scripts are the template's own: the table sorter, and with an interactive
    # figure the Vega bundle and the code that draws each figure from its spec
    from optbench.report import vega

    assert html.count("<script>") == (3 if vega.uses_vega(html) else 1)


def test_no_external_urls(report):
    _, html = report
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, flags=re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html)


def test_failed_runs_are_counted_not_dropped(report):
    db, html = report
    runs = optbench.load(db)
    n_div = int((runs.status == "diverged").sum())
    n_skip = int((runs.status == "skipped").sum())
    assert n_div >= 8  # gd at 2.5/L diverges on both problems, 4 seeds each
    assert n_skip == 4 * 6  # every gradient method on the gradient-free problem, 4 seeds
    status_csv = [pd.read_csv(io.StringIO(base64.b64decode(x).decode())) for x in _csv_links(html)]
    status = next(f for f in status_csv if "diverged" in f.columns and "runs" in f.columns)
    assert int(status.runs.sum()) == len(runs)
    assert int(status.diverged.sum()) == n_div
    assert int(status.skipped.sum()) == n_skip
    assert "needs gradient" in html  # the reason is shown


def _fixed_target_csv(html: str, key: str) -> pd.DataFrame:
    m = re.search(
        rf"download='fixed-target-{key}.csv' href='data:text/csv;charset=utf-8;base64,([^']+)'",
        html,
    )
    assert m
    return pd.read_csv(io.StringIO(base64.b64decode(m.group(1)).decode()))


@pytest.mark.parametrize("k", [0.5, 1.5])
def test_fixed_target_art_matches_the_gd_closed_form(report, k):
    # GD on ½h(x−c)² with lr = k/h: gap_t = (h/2)(1−k)^(2t) e0², one gradient per update,
    # so the runtime to ε is the first t with gap_t ≤ ε (counted from 1), every run succeeds
    # and aRT is the mean runtime over the seeds.
    db, html = report
    runs = optbench.load(db)
    sub = runs[(runs.problem == "quadratic-1d") & (runs.label == f"gd[lr={k}/L]")]
    key = sub.problem_key.iloc[0]
    frame = _fixed_target_csv(html, key)
    frame = frame[frame.optimizer == f"gd[lr={k}/L]"]
    from optbench.plan import resolve_problem
    from optbench.spec import parse

    spec = resolve_problem(parse("quadratic-1d"))
    problem = build_problem(spec)
    h, c = 2.0, 1.5
    for eps in (1e-1, 1e-2, 1e-4):
        rts = []
        for seed in sub.seed:
            e0 = start_point(problem, spec, int(seed))[0] - c
            t = np.arange(200)
            gap = 0.5 * h * (1 - k) ** (2 * t) * e0**2
            rts.append(max(int(np.flatnonzero(gap <= eps)[0]), 1))
        row = frame[np.isclose(frame.target, eps)].iloc[0]
        assert row.successes == len(rts) == row.runs
        assert row.aRT == pytest.approx(np.mean(rts), rel=1e-12)


def _undated(html: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "DATE", html)


@pytest.fixture(scope="module")
def alone(report, tmp_path_factory):
    """The fixture's store drawn again in this process alone (no worker), with every problem
    impossible to build: the report may read only the store."""
    from optbench import plan, registry

    db, _ = report
    real_get = registry.get

    def get(kind, name):
        if kind == "problem":
            raise AssertionError(f"the report built the problem {name!r}")
        return real_get(kind, name)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry, "get", get)
        mp.setattr(plan, "_PROBLEM_CACHE", {})
        path = tmp_path_factory.mktemp("alone") / "alone.html"
        return write_report([db], path, workers=0).read_text(encoding="utf-8")


def test_worker_processes_do_not_change_the_page(report, alone):
    # the fixture's report used a worker process; drawing every figure and block in this
    # process must give the same page
    _, html = report
    assert _undated(alone) == _undated(html)
    assert "@@optbench-job" not in html


@pytest.fixture
def unimportable_section():
    """A section whose figure and deferred part need a module only this process has."""
    import sys
    import types

    from optbench import registry
    from optbench.report import Section, deferred_html, figure_html

    mod = types.ModuleType("optbench_test_only_here")
    exec(
        "def part(x):\n    return f'<p id=\"deferred\">{2 * x}</p>'\n"
        "def label(v, pos=None):\n    return f'v{v:g}'\n",
        mod.__dict__,
    )
    sys.modules[mod.__name__] = mod

    def section(ctx):
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter

        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, 1])
        ax.xaxis.set_major_formatter(FuncFormatter(mod.label))
        body = deferred_html(mod.part, 21) + figure_html(
            fig, "local", "a figure a worker cannot load"
        )
        return Section("Only here", body)

    registry.register_section("test-only-here", order=99)(section)
    yield
    registry._REGISTRY["section"].pop("test-only-here")
    del sys.modules[mod.__name__]


def test_jobs_a_worker_cannot_load_run_in_the_report_process(unimportable_section, tmp_path):
    res = optbench.run(
        problems=["quadratic-1d"],
        optimizers=["gd"],
        seeds=2,
        budget=20,
        out=tmp_path / "o",
        report=False,
    )
    pooled = write_report([res.db], tmp_path / "pooled.html", workers=1).read_text()
    alone = write_report([res.db], tmp_path / "alone.html", workers=0).read_text()
    assert '<p id="deferred">42</p>' in pooled
    assert "part failed" not in pooled and "@@optbench-job" not in pooled
    assert _undated(pooled) == _undated(alone)


def test_a_worker_runs_jobs_and_leaves_those_it_cannot_load_to_the_report():
    import html
    import sys
    import time
    import types

    from optbench.report.pool import Renderer

    mod = types.ModuleType("optbench_test_only_in_parent")
    exec("def part(x):\n    return f'<p>{2 * x}</p>'\n", mod.__dict__)
    sys.modules[mod.__name__] = mod
    renderer = Renderer(1)
    try:
        renderer.submit("call", (html.escape, ("<b>",)))  # the worker can import html
        renderer.submit("call", (mod.part, (21,)))  # but not this module
        deadline = time.monotonic() + 120
        while not (renderer.dir / "job1.err").exists():  # the worker tried and gave up
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert (renderer.dir / "job0.out").read_text() == "&lt;b&gt;"
        assert renderer.finish() == ["&lt;b&gt;", "<p>42</p>"]
    finally:
        renderer.close()
        del sys.modules[mod.__name__]


def test_default_workers_start_only_for_a_page_that_repays_them(tmp_path, monkeypatch):
    """A small page is drawn in the report process (a worker's start-up costs more than its
    few figures); a store of more than ``START_RUNS`` runs starts the workers at once."""
    from optbench.report import pool

    spawned = []
    real = pool.Renderer._spawn
    monkeypatch.setattr(pool.Renderer, "_spawn", lambda self: spawned.append(real(self)))
    monkeypatch.setattr(pool, "_default_workers", lambda: 1)
    small = optbench.run(problems=["quadratic-1d"], optimizers=["gd"], seeds=2, budget=10,
                         out=tmp_path / "small", report=False)
    write_report([small.db], tmp_path / "small.html")
    assert spawned == []
    large = optbench.run(problems=["quadratic-1d"], optimizers=["gd"],
                         seeds=pool.START_RUNS + 1, budget=5, out=tmp_path / "large",
                         report=False)
    page = write_report([large.db], tmp_path / "large.html").read_text(encoding="utf-8")
    assert len(spawned) == 1 and "@@optbench-job" not in page


def test_a_lazy_renderer_starts_with_its_jobs_and_hands_the_queued_ones_over():
    import html
    import time

    from optbench.report.pool import Renderer

    renderer = Renderer(1, start_after=2)
    try:
        renderer.submit("call", (html.escape, ("<a>",)))
        renderer.submit("call", (html.escape, ("<b>",)))
        assert renderer.procs == []  # two jobs queued: nothing started yet
        renderer.submit("call", (html.escape, ("<c>",)))
        assert len(renderer.procs) == 1
        deadline = time.monotonic() + 120
        while not all((renderer.dir / f"job{k}.out").exists() for k in range(3)):
            assert time.monotonic() < deadline, "the worker never ran the queued jobs"
            time.sleep(0.01)
        assert renderer.finish() == ["&lt;a&gt;", "&lt;b&gt;", "&lt;c&gt;"]
    finally:
        renderer.close()


def test_html_is_one_self_contained_file(report):
    _, html = report
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert "<link " not in html and "<iframe" not in html


def test_the_report_reads_only_stores_and_never_builds_a_problem(report, alone):
    """Every trajectory plot (1-D loss curves, 2-D contours, the plug-in problem's too) is
    drawn from the landscape stored with the problem: with problems impossible to build,
    the page is the same."""
    _, page = report
    assert _undated(alone) == _undated(page)
    assert "No trajectory plot" not in alone
    # quadratic-1d, linear-regression (2-D) and the plug-in's no-grad-bowl
    assert alone.count("trajectories on ") == page.count("trajectories on ") >= 3


def test_stored_landscapes_are_the_problems_f_on_the_grid(report):
    from optbench.problem import landscape_axes
    from optbench.spec import parse

    db, _ = report
    with Store(db) as s:
        grids, infos = s.landscapes(), s.problem_info()
    for name in ("quadratic-1d", "linear-regression"):
        spec = resolve_problem(parse(name))
        p = build_problem(spec)
        grid = grids[problem_key(spec)]
        assert infos[problem_key(spec)]["dim"] == p.dim
        np.testing.assert_array_equal(grid["window"], p.window())
        axes = landscape_axes(grid)
        for ax, (lo, hi) in zip(axes, p.window(), strict=True):
            assert ax[0] == lo and ax[-1] == hi and np.all(np.diff(ax) > 0)
        pts = np.stack([a.ravel() for a in np.meshgrid(*axes)], axis=1)
        truth = np.array([p.f(x[None, :])[0] for x in pts[:: max(1, len(pts) // 997)]])
        stored = (float(grid["offset"]) + grid["f"].astype(float)).ravel()
        stored = stored[:: max(1, len(pts) // 997)]
        scale = np.ptp(truth)
        np.testing.assert_allclose(stored, truth, rtol=1e-6, atol=1e-6 * scale)
        np.testing.assert_allclose(grid["f_x_star"], p.f_star, atol=1e-12)
        assert len(grid["f"].tobytes()) < 400_000  # a few hundred KB at most per problem


def test_a_zoomed_panel_is_the_problems_f_on_its_own_box(report):
    """The report resamples the stored grid on a box inside it: the values are the loss there
    (a quadratic, which the cubic spline reproduces up to the stored float32 rounding)."""
    from optbench.report.figures import zoom
    from optbench.spec import parse

    db, _ = report
    spec = resolve_problem(parse("linear-regression"))
    p = build_problem(spec)
    with Store(db) as s:
        grid = s.landscapes()[problem_key(spec)]
    (a0, b0), (a1, b1) = p.window()
    lo = np.array([a0 + 0.3 * (b0 - a0), a1 + 0.55 * (b1 - a1)])
    hi = lo + np.array([0.07 * (b0 - a0), 0.09 * (b1 - a1)])
    X1, X2, F = zoom(grid, lo, hi, 37)
    truth = p.f(np.column_stack([X1.ravel(), X2.ravel()])).reshape(X1.shape)
    np.testing.assert_allclose(F, truth, rtol=1e-5)


def test_a_store_without_landscapes_says_so_and_builds_nothing(tmp_path, monkeypatch):
    """A store written before landscapes were stored (no such table): one sentence instead
    of the trajectory plot, never a problem rebuilt from the registry."""
    import sqlite3

    from optbench import plan, registry

    db = tmp_path / "old.sqlite"
    _write_named(db, "gd", seeds=1, budget=20)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE landscapes")
    real_get = registry.get
    monkeypatch.setattr(
        registry, "get",
        lambda kind, name: (_ for _ in ()).throw(AssertionError(name)) if kind == "problem"
        else real_get(kind, name),
    )
    monkeypatch.setattr(plan, "_PROBLEM_CACHE", {})
    page = write_report([db], tmp_path / "old.html", workers=0).read_text(encoding="utf-8")
    assert "No trajectory plot: no landscape stored with this problem" in page
