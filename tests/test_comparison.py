"""optbench.stats.comparison: sources are paired, never pooled; verdicts follow the rule."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optbench.stats.comparison import compare_sources


def runs(source, label, hits, gaps, *, budget=200, tol=1e-8, max_iter=None, seeds=None,
         problem="quadratic-1d", evals=200.0):
    """Rows of a run frame: per seed the hitting cost at 1e-6 (NaN: never) and final gap."""
    seeds = range(len(hits)) if seeds is None else seeds
    return [{"source": source, "problem_key": problem, "label": label, "seed": s,
             "status": "budget", "evals": evals, "budget": budget, "max_iter": max_iter,
             "tol": tol, "hit_cost_1e-6": h, "gap_final": g}
            for s, h, g in zip(seeds, hits, gaps, strict=True)]


def verdict(cmp, label):
    rows = cmp.verdicts[cmp.verdicts.label == label]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_overlapping_labels_are_paired_not_pooled():
    frame = pd.DataFrame(runs("base", "gd[lr=0.5/L]", [np.nan] * 10, [1e-2] * 10)
                         + runs("new", "gd[lr=0.5/L]", [40.0 + i for i in range(10)], [1e-9] * 10))
    cmp = compare_sources(frame)
    row = verdict(cmp, "gd[lr=0.5/L]")
    assert cmp.baseline == "base" and row.source == "new"
    assert row.n == 10  # ten pairs, not twenty runs
    assert row.success_base == 0.0 and row.success_new == 1.0  # pooled would give 0.5 twice
    assert row.aRT_base == np.inf and row.aRT_new == pytest.approx(np.mean(40.0 + np.arange(10)))
    assert row.p_success == pytest.approx(2 / 2**10)  # exact McNemar, 10 discordant pairs
    assert row.verdict == "better"
    assert not len(cmp.not_comparable) and not len(cmp.only_in_one)


def test_a_clear_regression_is_worse_and_the_baseline_can_be_chosen():
    fast = [50.0 + i for i in range(10)]
    slow = [2 * h for h in fast]
    frame = pd.DataFrame(runs("new", "adam", slow, [1e-9] * 10)
                         + runs("base", "adam", fast, [1e-9] * 10))
    cmp = compare_sources(frame, baseline="base")
    row = verdict(cmp, "adam")
    assert row.aRT_ratio == pytest.approx(sum(slow) / sum(fast))
    assert row.aRT_ratio_lo == pytest.approx(2.0, rel=0.02)  # every seed takes twice as long
    assert row.aRT_ratio_hi == pytest.approx(2.0, rel=0.02)
    assert row.success_change == 0.0 and row.verdict == "worse"
    assert row.verdict_text == "worse (aRT)"
    assert list(cmp.worse().label) == ["adam"]


def test_identical_sources_show_no_detectable_change():
    rng = np.random.default_rng(0)
    hits = list(np.where(rng.random(10) < 0.5, rng.integers(20, 200, 10), np.nan))
    gaps = list(10 ** rng.uniform(-9, -1, 10))
    frame = pd.DataFrame(runs("a", "gd", hits, gaps) + runs("b", "gd", hits, gaps))
    row = verdict(compare_sources(frame), "gd")
    assert row.verdict == "no detectable change"
    assert row.verdict_text == "no detectable change at 10 seeds"
    assert row.success_change == 0.0 and row.p_success == 1.0 and row.p_aRT == 1.0
    assert row.gap_ratio == 1.0


def test_few_discordant_successes_are_not_a_change():
    # 4/10 against 0/10: the percentile bootstrap alone would call this a change, the exact
    # McNemar test does not (two-sided p = 2 · 2^-4 = 0.125)
    hits = [30.0] * 4 + [np.nan] * 6
    frame = pd.DataFrame(runs("base", "gd", [np.nan] * 10, [1e-5] * 10)
                         + runs("new", "gd", hits, [1e-9] * 4 + [1e-5] * 6))
    row = verdict(compare_sources(frame), "gd")
    assert row.success_change == pytest.approx(0.4) and row.success_change_lo > 0
    assert row.p_success == pytest.approx(0.125)
    assert row.verdict == "no detectable change"


def test_a_regression_is_not_hidden_by_a_gain():
    # new: faster where it succeeds, but succeeds on no seed where the baseline did on all
    frame = pd.DataFrame(runs("base", "m", [100.0] * 10, [1e-9] * 10)
                         + runs("new", "m", [np.nan] * 10, [1e-3] * 10, evals=20.0))
    row = verdict(compare_sources(frame), "m")
    assert row.success_change == -1.0 and row.verdict == "worse"
    assert "success" in row.verdict_text


def test_final_gap_decides_when_neither_reaches_the_target():
    frame = pd.DataFrame(runs("base", "rs", [np.nan] * 10, [1e-3 * (1 + i) for i in range(10)])
                         + runs("new", "rs", [np.nan] * 10, [1e-1 * (1 + i) for i in range(10)]))
    row = verdict(compare_sources(frame), "rs")
    assert np.isnan(row.aRT_ratio) and np.isnan(row.aRT_ratio_lo)
    assert row.gap_ratio == pytest.approx(100.0) and row.verdict == "worse"
    assert row.verdict_text == "worse (gap)"


def test_the_bootstrap_interval_agrees_with_scipy():
    rng = np.random.default_rng(5)
    n = 40
    ok_b, ok_n = rng.random(n) < 0.3, rng.random(n) < 0.7
    frame = pd.DataFrame(
        runs("base", "gd", list(np.where(ok_b, 50.0, np.nan)), [1e-3] * n)
        + runs("new", "gd", list(np.where(ok_n, 50.0, np.nan)), [1e-3] * n))
    row = verdict(compare_sources(frame, resamples=20000), "gd")
    ref = stats.bootstrap((ok_n.astype(float), ok_b.astype(float)),
                          lambda a, b, axis: a.mean(axis) - b.mean(axis), paired=True,
                          n_resamples=20000, method="percentile", rng=1).confidence_interval
    assert row.success_change == pytest.approx(ok_n.mean() - ok_b.mean())
    assert row.success_change_lo == pytest.approx(ref.low, abs=0.03)
    assert row.success_change_hi == pytest.approx(ref.high, abs=0.03)


def test_differing_settings_are_not_comparable():
    same = ([50.0] * 5, [1e-9] * 5)
    frame = pd.DataFrame(
        runs("base", "gd", *same, budget=200) + runs("new", "gd", *same, budget=400)
        + runs("base", "adam", *same, tol=1e-8) + runs("new", "adam", *same, tol=1e-6)
        + runs("base", "mom", *same) + runs("new", "mom", *same, max_iter=100))
    cmp = compare_sources(frame)
    differs = dict(zip(cmp.not_comparable.label, cmp.not_comparable.differs, strict=True))
    assert differs == {"gd": "budget 200 vs 400", "adam": "tol 1e-08 vs 1e-06",
                       "mom": "max_iter — vs 100"}
    assert (cmp.verdicts.verdict == "not comparable").all() and len(cmp.verdicts) == 3
    assert cmp.not_comparable.seeds.map(len).tolist() == [5, 5, 5]


def test_a_source_with_runs_at_two_budgets_pairs_the_matching_ones():
    frame = pd.DataFrame(runs("base", "gd", [50.0] * 5, [1e-9] * 5, budget=200)
                         + runs("base", "gd", [50.0] * 5, [1e-9] * 5, budget=400)
                         + runs("new", "gd", [50.0] * 5, [1e-9] * 5, budget=400))
    cmp = compare_sources(frame)
    row = verdict(cmp, "gd")
    assert row.n == 5 and row.verdict == "no detectable change"
    assert len(cmp.only_in_one) == 1 and cmp.only_in_one.iloc[0].source == "base"
    assert row.note == "5 seeds only in base"


def test_pairings_in_only_one_source_are_listed():
    frame = pd.DataFrame(runs("base", "gd", [50.0] * 8, [1e-9] * 8)
                         + runs("new", "gd", [50.0] * 5, [1e-9] * 5)
                         + runs("new", "adam", [50.0] * 5, [1e-9] * 5))
    cmp = compare_sources(frame)
    only = {(r.label, r.source, r.missing_in): r.seeds for r in cmp.only_in_one.itertuples()}
    assert only == {("gd", "base", "new"): [5, 6, 7], ("adam", "new", "base"): [0, 1, 2, 3, 4]}
    assert verdict(cmp, "gd").n == 5 and "3 seeds only in base" in verdict(cmp, "gd").note
    table = cmp.table()
    assert set(table.verdict) == {"no detectable change", "only in one source"}


def test_verdicts_are_written_as_json_and_csv(tmp_path):
    frame = pd.DataFrame(runs("base", "gd", [np.nan] * 10, [1e-2] * 10)
                         + runs("new", "gd", [40.0] * 10, [1e-9] * 10)
                         + runs("new", "rs", [np.nan] * 3, [1.0] * 3)
                         + runs("base", "m", [50.0] * 3, [1e-9] * 3, budget=1)
                         + runs("new", "m", [50.0] * 3, [1e-9] * 3, budget=2))
    cmp = compare_sources(frame)
    cmp.write_json(tmp_path / "v.json")
    cmp.write_csv(tmp_path / "v.csv")
    data = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    assert data["baseline"] == "base" and data["target"] == 1e-6
    by_label = {v["label"]: v for v in data["verdicts"]}
    assert by_label["gd"]["verdict"] == "better" and by_label["gd"]["aRT_base"] == "inf"
    assert by_label["m"]["verdict"] == "not comparable" and by_label["m"]["aRT_base"] is None
    assert data["only_in_one_source"] == [{"problem_key": "quadratic-1d", "label": "rs",
                                           "source": "new", "missing_in": "base",
                                           "seeds": [0, 1, 2]}]
    with open(tmp_path / "v.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["label"]: r["verdict"] for r in rows} == {
        "gd": "better", "m": "not comparable", "rs": "only in one source"}


def test_real_stores_pair_and_detect_a_budget_change(tmp_path):
    import optbench

    spec = dict(problems=["quadratic-1d"], optimizers=["gd[lr=[0.1,0.5]]"], seeds=3,
                report=False)
    frames = []
    for name, budget in (("a", 100), ("b", 100), ("c", 60)):
        optbench.run(**spec, budget=budget, out=tmp_path / name)
        frames.append(optbench.load(tmp_path / name).assign(source=name))
    cmp = compare_sources(pd.concat(frames, ignore_index=True), baseline="a")
    same = cmp.verdicts[cmp.verdicts.source == "b"]
    assert len(same) == 2 and (same.verdict == "no detectable change").all()
    assert (same.n == 3).all()
    other = cmp.verdicts[cmp.verdicts.source == "c"]
    assert (other.verdict == "not comparable").all()
    # the store fills max_iter from the budget when it is not given
    assert set(cmp.not_comparable.differs) == {"budget 100 vs 60; max_iter 100 vs 60"}


def test_bad_input_says_what_was_expected():
    frame = pd.DataFrame(runs("base", "gd", [1.0], [1e-9]) + runs("new", "gd", [1.0], [1e-9]))
    with pytest.raises(ValueError, match="no 'source' column"):
        compare_sources(frame.drop(columns="source"))
    with pytest.raises(ValueError, match=r"unknown baseline 'old': expected one of \['base'"):
        compare_sources(frame, baseline="old")
    with pytest.raises(ValueError, match="at least two sources"):
        compare_sources(frame[frame.source == "base"])


def test_runs_a_label_does_not_tell_apart_are_not_compared():
    # two runs of seed 0..2 in "base" with the same label and settings (e.g. a hidden
    # hyperparameter): which one pairs with "new" is ambiguous
    frame = pd.DataFrame(runs("base", "gd", [50.0] * 3, [1e-9] * 3)
                         + runs("base", "gd", [90.0] * 3, [1e-9] * 3)
                         + runs("new", "gd", [50.0] * 3, [1e-9] * 3))
    cmp = compare_sources(frame)
    assert verdict(cmp, "gd").verdict == "not comparable"
    assert cmp.not_comparable.iloc[0].differs.startswith("several runs in base share")
    assert cmp.not_comparable.iloc[0].seeds == [0, 1, 2]
