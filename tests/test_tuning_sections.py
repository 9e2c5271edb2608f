"""The report of a trials tuning: the tuning curves are the closed form on the recorded
trials, the tunability table is the record's trials counted, and the recommendation says
only what the equal-budget tests found."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import optbench
from optbench.stats import expected_best
from optbench.stats.significance import tests_against_reference as against_reference
from optbench.tune_trials import tune_trials

K = 5


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("trials-report") / "out"
    res = tune_trials(["quadratic-1d", "rosenbrock"], ["momentum", "adam", "gd"],
               trials=K, tuning_seeds=2, seeds=7, budget=60, out=out, report=True)
    html = res.report.read_text()
    return out, json.loads(res.record.read_text()), html


@pytest.fixture(scope="module")
def ctx(tuned):
    from optbench.report.context import read_context

    out, _, _ = tuned
    return read_context([out / "results.sqlite"], None, None)


def _specs(html: str) -> list[dict]:
    return [json.loads(s.replace("<\\/", "</")) for s in re.findall(
        r"<script type='application/json' class='vega-spec'>(.*?)</script>", html, re.S)]


def test_every_section_is_there_and_no_section_failed(tuned):
    _, _, html = tuned
    for title in ("Tuning", "Tuning curves", "Tunability", "Recommendation",
                  "Which optimizer to use"):
        assert f">{title}<" in html
    assert "This section failed" not in html


def test_the_tuning_curve_is_the_closed_form_on_the_recorded_trials(tuned):
    import vl_convert

    _, record, html = tuned
    spec = next(s for s in _specs(html) if "expected best" in json.dumps(s))
    vl_convert.vegalite_to_svg(spec)  # Vega-Lite can draw it
    rows = next(iter(spec["datasets"].values()))
    for r in record["results"]:
        scores = [t["score"] for t in r["trials"]]
        worst = max(t["score"] for q in record["results"] if q["problem"] == r["problem"]
                    for t in q["trials"] if t["score"] is not None)
        capped = [worst if v is None else v for v in scores]
        shown = {row["k"]: row["expected best"] for row in rows
                 if row["family"] == r["family"] and row["problem"] == r["problem"]
                 and row["kind"] == "curve"}
        assert sorted(shown) == list(range(1, K + 1))
        for k, v in shown.items():
            assert v == pytest.approx(expected_best(capped, k), abs=1e-4)
        default = next(row for row in rows if row["family"] == r["family"]
                       and row["problem"] == r["problem"] and row["kind"] == "defaults")
        d = r["tracks"]["0"]["score"]
        assert default["expected best"] == pytest.approx(worst if d is None else d, abs=1e-4)


def test_tunability_counts_the_recorded_trials_and_their_stored_cost(tuned, ctx):
    from reports.tuning_trials import tunability

    out, record, _ = tuned
    frame = optbench.load(out / "results.sqlite")
    table = tunability(ctx, record)
    for r, row in zip(record["results"], table.to_dict("records"), strict=True):
        finite = [t["score"] for t in r["trials"] if t["score"] is not None]
        best = min(finite)
        good = [t for t in r["trials"] if t["score"] is not None
                and t["score"] <= best + math.log10(2)]  # aulg: a factor 2 in the gap
        assert row["share"] == len(good) / K
        ks = [float(str(t["params"]["lr"]).removesuffix("/L")) for t in good]
        window = math.log10(max(ks) / min(ks)) if len(ks) > 1 else 0.0
        assert row["lr window (decades)"] == pytest.approx(window)
        labels = {t["label"] for t in r["trials"]}
        mine = frame[(frame.problem == r["problem"]) & frame.label.isin(labels)
                     & frame.seed.isin(record["tuning_seeds"])]
        assert row["tuning cost (evaluations)"] == int(mine.evals.sum()) and len(mine) == K * 2


def test_the_recommendation_quotes_only_what_the_tests_found(tuned, ctx):
    from reports.tuning_trials import best_per_tag, budget_verdicts, recommendation_text

    out, record, html = tuned
    verdicts = budget_verdicts(ctx, record)
    runs = ctx.runs.set_index("store_run_id", drop=False)
    for v in verdicts.itertuples(index=False):
        results = [r for r in record["results"] if r["problem_key"] == v.problem_key]
        frame = __import__("pandas").concat(
            [runs.loc[r["tracks"][str(v.k)]["run_ids"]].assign(label=r["family"])
             for r in results], ignore_index=True)
        known = ctx.f_ref(v.problem_key)[1]
        tests = against_reference(frame, 1e-6 if known else 1e-3, relative=not known)
        assert v.best == tests.reference.iloc[0]
        # a winner only where every other family is significantly worse after Holm
        outright = bool((tests.verdict == "worse").all() and (tests.p_holm < 0.05).all())
        assert (v.winner == v.best) == outright and (v.winner in ("", v.best))
    per_tag = best_per_tag(ctx, verdicts, record)
    sentences = recommendation_text(per_tag, record, verdicts)
    text = " ".join(sentences)
    assert text.replace("'", "&#x27;")[:60] in html
    for s in sentences:
        m = re.match(r"On (\S+) problems, tuned with \d+ trials, (.+?) won outright on (\d+) "
                     r"of (\d+)", s)
        if not m:
            assert "no family was significantly better" in s
            continue
        tag, fams = m.group(1), m.group(2).split(" and ")
        n, total = int(m.group(3)), int(m.group(4))
        keys = [k for k in dict.fromkeys(verdicts.problem_key) if tag in ctx.problems[k]["tags"]]
        at_k = verdicts[(verdicts.k == K) & verdicts.problem_key.isin(keys)]
        for f in fams:
            assert int((at_k.winner == f).sum()) == n
        assert total == len(set(at_k.problem_key))


def test_too_few_seeds_say_so_instead_of_a_verdict(tuned, ctx):
    from reports.tuning_trials import best_per_tag, budget_verdicts, recommendation_text

    _, record, _ = tuned
    verdicts = budget_verdicts(ctx, record).assign(can_reach=False, seeds_needed=9.0)
    text = recommendation_text(best_per_tag(ctx, verdicts, record), record, verdicts)
    assert text == ["With 7 final seeds no test can reach α = 0.05 after Holm's correction "
                    "(at least 9 are needed), so the tests cannot say which family to use; "
                    "rerun optbench tune with more --seeds."]
    assert np.isfinite(len(verdicts))
