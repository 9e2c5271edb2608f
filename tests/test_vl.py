"""optbench.report.vl writes the Vega-Lite JSON that Altair writes for the same chart (Altair
is the independent truth here), and the report's own process imports neither Altair nor
scipy.stats nor scipy.interpolate: together they cost more than the report's statistics,
figures and tables of the default suite."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from optbench.report import vl
from tests.conftest import Lazy

alt = Lazy("altair")  # imported by the first test that draws a chart, not by collecting


def _altair(chart) -> dict:
    spec = chart.to_dict(validate=False)
    for key in ("$schema", "config", "datasets"):
        spec.pop(key, None)
    return spec


def test_schema_is_the_installed_vega_lite_version():
    assert vl.SCHEMA_URL == alt.SCHEMA_URL


def test_layers_encodings_tooltips_and_filters_equal_altairs():
    pick = alt.selection_point(fields=["label"], bind="legend", name="shown")
    our_pick = vl.selection_point(fields=["label"], bind="legend", name="shown")
    theirs = (
        alt.Chart(alt.Data(name="paths")).transform_filter("datum.k > 1")
        .mark_line(strokeWidth=1.4, clip=True)
        .encode(
            x=alt.X("w:Q", scale=alt.Scale(domain=[0, 1], nice=False), title="w"),
            y=alt.Y("q25:Q", scale=alt.Scale(type="log"), axis=alt.Axis(format="~e")),
            y2="q75:Q", order="it:Q", detail="line:N",
            color=alt.Color("label:N", scale=alt.Scale(domain=["a"], range=["#123456"]),
                            legend=alt.Legend(orient="bottom")),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.1)),
            tooltip=["label:N", alt.Tooltip("gap:Q", title="f − f*", format=".3g")],
            text=alt.condition("datum.x > 0", alt.value("#111"), alt.value("#666")),
        )
        .properties(width=300, title=alt.Title("paths", subtitle="log"))
    )
    ours = (
        vl.Chart("paths").transform_filter("datum.k > 1")
        .mark_line(strokeWidth=1.4, clip=True)
        .encode(
            x=vl.X("w:Q", scale=vl.Scale(domain=[0, 1], nice=False), title="w"),
            y=vl.Y("q25:Q", scale=vl.Scale(type="log"), axis=vl.Axis(format="~e")),
            y2="q75:Q", order="it:Q", detail="line:N",
            color=vl.Color("label:N", scale=vl.Scale(domain=["a"], range=["#123456"]),
                           legend=vl.Legend(orient="bottom")),
            opacity=vl.condition(our_pick, vl.value(1.0), vl.value(0.1)),
            tooltip=["label:N", vl.Tooltip("gap:Q", title="f − f*", format=".3g")],
            text=vl.condition("datum.x > 0", vl.value("#111"), vl.value("#666")),
        )
        .properties(width=300, title=vl.Title("paths", subtitle="log"))
    )
    assert ours.to_dict() == _altair(theirs)
    assert our_pick.to_dict() == pick.param.to_dict(validate=False)


def test_parameters_equal_altairs():
    pairs = [
        (alt.selection_interval(bind="scales", name="zoom"),
         vl.selection_interval(bind="scales", name="zoom")),
        (alt.selection_interval(bind="scales", encodings=["x"], name="zx"),
         vl.selection_interval(bind="scales", encodings=["x"], name="zx")),
        (alt.param(name="rate", value=1.5,
                   bind=alt.binding_range(min=0.1, max=2.0, step=0.05, name="lr × L")),
         vl.param(name="rate", value=1.5,
                  bind=vl.binding_range(min=0.1, max=2.0, step=0.05, name="lr × L"))),
        (alt.param(name="shown", expr="rate < 1 ? 0.5 : 1.5"),
         vl.param(name="shown", expr="rate < 1 ? 0.5 : 1.5")),
    ]
    for theirs, ours in pairs:
        assert ours.to_dict() == theirs.param.to_dict(validate=False)
    title = alt.Title(alt.expr("'lr = ' + shown"), anchor="start")
    assert vl.Title(vl.expr("'lr = ' + shown"), anchor="start") == title.to_dict(validate=False)


@pytest.mark.parametrize("bad", ["w", "w:X", ":Q"])
def test_a_field_without_a_type_is_refused(bad):
    with pytest.raises(ValueError, match="expected a field as 'name:T'"):
        vl.field(bad)


PROBE = (
    "import sys\n"
    "from optbench.report import write_report\n"
    "write_report([sys.argv[1]], sys.argv[2])\n"
    "heavy = ('altair', 'scipy.stats', 'scipy.interpolate', 'matplotlib.pyplot')\n"
    "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n"
)


def test_the_report_process_imports_no_altair_scipy_stats_or_interpolate(tmp_path):
    import optbench

    out = tmp_path / "r"
    optbench.run(problems=["quadratic-1d", "linear-regression", "rosenbrock"],
                 optimizers=["gd", "adam", "random-search"], seeds=3, budget=60, out=out,
                 report=False)
    r = subprocess.run([sys.executable, "-c", PROBE, str(out / "results.sqlite"),
                        str(tmp_path / "page.html")], capture_output=True, text=True,
                       timeout=300)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("LOADED ")]
    assert line, r.stderr[-2000:]
    assert ast.literal_eval(line[0].split(" ", 1)[1]) == []
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert "Critical-difference diagram" in page and "This section failed" not in page
