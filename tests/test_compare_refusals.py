"""Comparisons that compare nothing: stores that share no run, pairings that are all not
comparable, or an empty store are exit 2 with one line saying what each source holds, gate
or not; ``report --fail-on worse`` is a gate, so one idle source among several fails it too
(without the gate, a warning). A store is never
compared with itself, however its path is spelt. ``--db`` text whose part before ``=``
is a path is a path. Pairs that diverged in both sources say so."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.stats.comparison import compare_sources
from optbench.store import Store

SMALL = {"seeds": 2, "budget": 20, "report": False}


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """Stores made once: a baseline, a copy of it, one of another problem, one with another
    budget for the same runs, and an empty one."""
    root = tmp_path_factory.mktemp("stores")
    optbench.run(problems="quadratic-1d", optimizers="gd[lr=0.1]", out=root / "base", **SMALL)
    optbench.run(problems="rosenbrock", optimizers="gd[lr=0.001]", out=root / "other", **SMALL)
    optbench.run(problems="quadratic-1d", optimizers="gd[lr=0.1]", out=root / "longer",
                 **{**SMALL, "budget": 30})
    (root / "copy").mkdir()
    shutil.copy(root / "base" / "results.sqlite", root / "copy" / "results.sqlite")
    Store(root / "empty" / "results.sqlite", create=True).close()
    return {name: root / name / "results.sqlite"
            for name in ("base", "copy", "other", "longer", "empty")}


def _report(tmp_path: Path, *args: str):
    from click.testing import CliRunner

    from optbench.cli import cli

    return CliRunner().invoke(cli, ["report", *args, "--html", str(tmp_path / "cmp.html")])


def _one_line(r) -> str:
    lines = [line for line in r.stderr.splitlines()  # the report's progress log aside
             if line.strip() and not line.startswith("report: ")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_the_gate_passes_stores_that_pair(tmp_path, stores):
    """The control: a copy of the baseline pairs run for run, so the gate passes."""
    r = _report(tmp_path, "--db", str(stores["base"]), "--db", str(stores["copy"]),
                "--fail-on", "worse")
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize(
    "other, holds, extra",
    [
        ("other", "other holds 2 runs: rosenbrock gd[lr=0.001] (seeds 0–1, budget 20)", ""),
        ("longer", "longer holds 2 runs: quadratic-1d gd[lr=0.1] (seeds 0–1, budget 30)",
         "not comparable: longer: quadratic-1d gd[lr=0.1] budget 20 vs 30"),
        ("empty", "empty holds no runs", ""),
    ],
)
def test_a_gate_that_compares_nothing_is_exit_2(tmp_path, stores, other, holds, extra):
    args = ["--db", f"base={stores['base']}", "--db", f"{other}={stores[other]}"]
    r = _report(tmp_path, *args, "--fail-on", "worse")
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    line = _one_line(r)
    assert line.startswith(f"optbench: error: {other} compared with nothing in the baseline base")
    assert "base holds 2 runs: quadratic-1d gd[lr=0.1] (seeds 0–1, budget 20)" in line
    assert holds in line and extra in line
    assert not list(tmp_path.iterdir())  # refused before any page or verdict is written


def test_without_the_gate_comparing_nothing_is_still_exit_2(tmp_path, stores):
    r = _report(tmp_path, "--db", f"base={stores['base']}", "--db", f"empty={stores['empty']}")
    assert r.exit_code == 2, r.stderr
    assert _one_line(r).startswith("optbench: error: empty compared with nothing")
    assert not list(tmp_path.iterdir())


def test_without_the_gate_one_idle_source_among_several_is_a_warning(tmp_path, stores):
    r = _report(tmp_path, "--db", f"base={stores['base']}", "--db", f"copy={stores['copy']}",
                "--db", f"empty={stores['empty']}")
    assert r.exit_code == 0, r.stderr
    assert _one_line(r).startswith("optbench: warning: empty compared with nothing")
    assert (tmp_path / "cmp.html").is_file()


def test_one_idle_source_among_several_fails_the_gate(tmp_path, stores):
    r = _report(tmp_path, "--db", f"base={stores['base']}", "--db", f"copy={stores['copy']}",
                "--db", f"empty={stores['empty']}", "--fail-on", "worse")
    assert r.exit_code == 2 and "empty compared with nothing" in r.stderr, r.stderr
    assert "copy compared" not in r.stderr


def test_a_store_is_not_compared_with_itself(tmp_path, stores, monkeypatch):
    base = stores["base"]
    link = tmp_path / "link.sqlite"
    link.symlink_to(base)
    monkeypatch.chdir(base.parent.parent)
    spellings = [
        (str(base), str(base)),
        (str(base), f"./{base.parent.name}//results.sqlite"),
        (f"b={base}", f"n={base.parent.parent / '.' / base.parent.name / base.name}"),
        (str(base), str(link)),
    ]
    for first, second in spellings:
        r = _report(tmp_path, "--db", first, "--db", second, "--fail-on", "worse")
        assert r.exit_code == 2, (first, second, r.stderr)
        assert "are the same store" in r.stderr, r.stderr
        assert not (tmp_path / "cmp.html").exists()  # refused before anything is written


def test_a_missing_path_with_an_equals_sign_is_named_as_typed(tmp_path, stores):
    typed = str(tmp_path / "x=y" / "results.sqlite")
    assert os.path.isabs(typed)
    r = _report(tmp_path, "--db", typed, "--db", str(stores["base"]))
    assert r.exit_code == 2
    assert f"no results store at {typed!r}" in _one_line(r)


def _diverging(source: str, statuses: list[str]) -> list[dict]:
    return [{"source": source, "problem_key": "quadratic-1d", "label": "gd[lr=3/L]", "seed": s,
             "status": st, "evals": 40.0, "budget": 200, "max_iter": None, "tol": 1e-8,
             "hit_cost_1e-6": np.nan, "gap_final": np.nan if st != "budget" else 1e-3}
            for s, st in enumerate(statuses)]


def test_pairs_that_diverged_in_both_sources_say_so():
    frame = pd.DataFrame(_diverging("base", ["diverged"] * 6)
                         + _diverging("new", ["diverged"] * 4 + ["non-finite"] * 2))
    row = compare_sources(frame).verdicts.iloc[0]
    assert row.verdict == "both diverged"
    assert row.verdict_text == "both diverged, at each of 6 seeds"
    # where only some seeds diverged in both, the text counts them
    frame = pd.DataFrame(_diverging("base", ["diverged"] * 3 + ["budget"] * 3)
                         + _diverging("new", ["diverged"] * 3 + ["budget"] * 3))
    row = compare_sources(frame).verdicts.iloc[0]
    assert row.verdict == "no detectable change"
    assert row.verdict_text == "no detectable change at 6 seeds (3 diverged in both)"
