"""The re-layout of the statistics and the report (optbench.stats, optbench.report) changed
no number of the page.

``data/report_numbers_f8fdaec.json`` holds the tables computed by the statistics layer (aRT
with its bootstrap and restart spreads, values at fixed budgets, the pairwise tests, the
profiles, the ranking, the summary) as the code before the move (commit f8fdaec, where they
lived in ``optbench.aggregate`` and the catalog's private ``reports/_runtime.py``) wrote them
for the spec below. This is a regression guard for a refactoring, not a check of the values'
truth; that is tests/test_aggregate.py's job (closed forms and hand counts). Regenerate the
file only for a change meant to move these numbers, and say so in its commit.

``per-problem-tests.csv`` and ``friedman-ranks.csv`` came after the move (the per-problem
tests against the best and the Friedman ranks); they were added to the file later, as the
code wrote them then, and checked by hand: the rank sums add up to 3 problems x (1 + 2 + 3
+ 4) = 30, and at 3 seeds each signed-rank p is 1 or the exact test's least, 2 / 2^3 = 0.25,
with Holm's 3 x 0.25 = 0.75 over the 3 tests of a problem.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import optbench
from optbench.report import write_report

SPEC = dict(
    problems=["quadratic-1d", "tilted-double-well", "linear-regression"],
    optimizers=["gd[lr=[0.5/L,1.5/L]]", "momentum[lr=0.5/L,momentum=0.5]", "random-search"],
    seeds=3,
    budget=120,
)
GOLDEN = Path(__file__).parent / "data" / "report_numbers_f8fdaec.json"
_CSV = re.compile(r"download='([^']*)' href='data:text/csv;charset=utf-8;base64,([^']*)'")


def _tables(page: str) -> dict[str, str]:
    return {name: base64.b64decode(data).decode() for name, data in _CSV.findall(page)}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("relayout")
    optbench.run(**SPEC, out=out, report=False)
    html = write_report([out / "results.sqlite"], out / "report.html", workers=0)
    return html.read_text()


def test_the_statistics_tables_are_those_before_the_move(page):
    before = json.loads(GOLDEN.read_text())
    assert {"per-problem-tests.csv", "friedman-ranks.csv", "ranking.csv"} <= set(before)
    now = _tables(page)
    assert set(before) <= set(now), sorted(set(before) - set(now))
    for name, text in before.items():
        expected = pd.read_csv(io.StringIO(text))
        got = pd.read_csv(io.StringIO(now[name]))
        pd.testing.assert_frame_equal(got, expected, rtol=1e-12, obj=name)


def test_every_public_name_of_stats_is_what_its_module_defines():
    # a submodule named like one of its functions would replace it once imported
    import importlib

    from optbench import stats

    for name in stats.__all__:
        module = importlib.import_module(f"optbench.stats.{stats._EXPORTS[name]}")
        assert getattr(stats, name) is getattr(module, name), name
