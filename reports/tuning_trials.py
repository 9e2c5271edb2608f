"""Tuning by trials (``optbench tune --trials K``): the protocol, the tuning curves, each
family's tunability, and a recommendation the statistics support.

Present only for a store whose tuning record says ``mode = "trials"``
(:mod:`optbench.tune_trials`); the grid protocol's section is ``reports/tuning.py``.
"""

from __future__ import annotations

import math
from typing import Any

from optbench import register_section
from optbench.metrics import REL_TARGETS, target_key
from optbench.problem import ILL_CONDITIONED
from optbench.report import Section, esc, note_html, table_html
from optbench.report.vega import chart_html

FACTOR = 2.0  # "within a factor 2 of the best criterion"
TEST_TARGET = 1e-6  # as the statistics section: Δf where f* is known, else τ = REL_TARGETS[1]
ALPHA = 0.05
TAG_ORDER = ("convex", "ill-conditioned", "non-convex", "multimodal", "non-smooth",
             "stochastic", "ml")


def _record(ctx) -> dict[str, Any] | None:
    t = ctx.tuning
    return t if t is not None and t.get("mode") == "trials" else None


def _family_colours(families: list[str]) -> dict[str, str]:
    from matplotlib.colors import to_hex

    from optbench.report.figures import palette

    return {f: to_hex(c) for f, c in zip(families, palette(len(families)), strict=True)}


def _title(ctx, r: dict[str, Any]) -> str:
    key = r["problem_key"]
    return ctx.problem_title(key) if key in ctx.problems else r["problem"]


# -- the criterion's reading -----------------------------------------------------------------
def within(score: float, best: float, criterion: str) -> bool:
    """Whether a trial's criterion is within a factor :data:`FACTOR` of the best: for
    ``final-gap`` the gap itself (≤ 2·best); for ``aulg``, the area under log10 of the gap
    per unit budget, a factor 2 in the gap is log10(2) in the criterion."""
    if not math.isfinite(score):
        return False
    if criterion == "aulg":
        return score <= best + math.log10(FACTOR)
    return score <= FACTOR * best if best > 0 else score <= best


def capped_scores(record: dict[str, Any], problem: str) -> dict[str, list[float]]:
    """Per family, its trials' criteria on one problem, a failed trial (+∞) counted as the
    worst trial any family had there (the expectation of a curve is then finite); a family
    whose every trial failed is left out."""
    rows = [r for r in record["results"] if r["problem"] == problem]
    finite = [t["score"] for r in rows for t in r["trials"] if t["score"] is not None]
    if not finite:
        return {}
    worst = max(finite)
    return {
        r["family"]: [worst if t["score"] is None else t["score"] for t in r["trials"]]
        for r in rows if any(t["score"] is not None for t in r["trials"])
    }


def _lr_value(params: dict[str, Any]) -> float | None:
    """A trial's learning rate as a number on its own scale (k for ``k/L``)."""
    lr = params.get("lr")
    if isinstance(lr, str) and lr.endswith("/L"):
        try:
            return float(lr[:-2])
        except ValueError:
            return None
    return float(lr) if isinstance(lr, int | float) and not isinstance(lr, bool) else None


def tunability(ctx, record: dict[str, Any]):
    """One row per (problem, family): trials, the share within a factor 2 of the best, the
    learning-rate window (decades) where the criterion stays within it, the tuning cost."""
    import pandas as pd

    runs = ctx.runs
    tuning = runs[runs.phase == "tuning"]
    criterion = record["criterion"]
    rows = []
    for r in record["results"]:
        finite = [t["score"] for t in r["trials"] if t["score"] is not None]
        best = min(finite) if finite else math.nan
        good = [t for t in r["trials"] if t["score"] is not None
                and within(t["score"], best, criterion)]
        lrs = [v for v in (_lr_value(t["params"]) for t in good) if v is not None and v > 0]
        labels = {t["label"] for t in r["trials"]}
        mine = tuning[(tuning.problem_key == r["problem_key"]) & tuning.label.isin(labels)]
        rows.append({
            "problem": _title(ctx, r),
            "family": r["family"],
            "trials": len(r["trials"]),
            "within 2× of best": f"{len(good)}/{len(r['trials'])}",
            "share": len(good) / len(r["trials"]) if r["trials"] else math.nan,
            "lr window (decades)": (math.log10(max(lrs) / min(lrs)) if len(lrs) > 1
                                    else (0.0 if lrs else math.nan)),
            "tuning cost (evaluations)": int(mine.evals.sum()),
        })
    return pd.DataFrame(rows)


# -- verdicts at equal tuning budgets --------------------------------------------------------
def budget_verdicts(ctx, record: dict[str, Any], alpha: float = ALPHA):
    """Per problem and tuning budget k: each family represented by its track k (best of its
    first k trials, k = 0 its defaults) on the fresh seeds, the family with the smallest aRT
    against each other by the paired test with Holm's correction within the problem and
    budget (:func:`optbench.stats.significance.tests_against_reference`). Returns rows with
    ``problem``, ``problem_key``, ``k``, ``best`` (the reference), ``winner`` (the best when
    every other family is significantly worse, else ""), ``tied`` (families with no
    difference found), ``n_families``, ``can_reach`` (whether the design's smallest p, Holm
    corrected, is below α) and ``seeds_needed`` (the seeds that would make it so)."""
    import pandas as pd

    from optbench.stats.significance import tests_against_reference

    runs = ctx.runs.set_index("store_run_id", drop=False)
    rows = []
    for problem in record["problems"]:
        results = [r for r in record["results"] if r["problem"] == problem]
        if len(results) < 1:
            continue
        for k in record["budgets"]:
            parts = []
            for r in results:
                ids = [i for i in r["tracks"][str(k)]["run_ids"] if i in runs.index]
                parts.append(runs.loc[ids].assign(label=r["family"]))
            frame = pd.concat(parts, ignore_index=True)
            key = results[0]["problem_key"]
            known = ctx.f_ref(key)[1]
            target, relative = (TEST_TARGET, False) if known else (REL_TARGETS[1], True)
            tests = tests_against_reference(frame, target, relative=relative, alpha=alpha)
            families = [r["family"] for r in results]
            if len(tests):
                best = str(tests.reference.iloc[0])
                worse = set(tests.label[tests.verdict == "worse"])
                tied = [f for f in families if f != best and f not in worse]
                winner = best if not tied else ""
                reach = bool(tests.can_reach.all())
                needed = tests.seeds_needed.dropna()
                needed = int(needed.max()) if len(needed) else None
            else:  # fewer than two families ran: nothing to test
                best, tied, winner = (families[0] if len(families) == 1 else ""), [], ""
                reach, needed = True, None
            rows.append({"problem": _title(ctx, results[0]), "problem_key": key, "k": k,
                         "best": best, "winner": winner, "tied": tied,
                         "target": (f"τ={target_key(target)}" if relative
                                    else target_key(target)),
                         "n_families": len(families), "can_reach": reach,
                         "seeds_needed": needed})
    return pd.DataFrame(rows)


def capability(ctx, record: dict[str, Any]):
    """The share of the tuned winners' final runs (the K track) that reach the target, per
    family and difficulty tag (a problem counts under each of its tags)."""
    import pandas as pd

    runs = ctx.runs.set_index("store_run_id", drop=False)
    K = str(record["trials"])
    reach: dict[tuple[str, str], list[int]] = {}
    for r in record["results"]:
        key = r["problem_key"]
        tags = _tags(ctx, key)
        ids = [i for i in r["tracks"][K]["run_ids"] if i in runs.index]
        got = runs.loc[ids]
        col = (f"hit_iter_{target_key(TEST_TARGET)}" if ctx.f_ref(key)[1]
               else f"rel_hit_iter_{target_key(REL_TARGETS[1])}")
        hits = int(got[col].notna().sum()) if col in got else 0
        for tag in tags:
            n = reach.setdefault((r["family"], tag), [0, 0])
            n[0] += hits
            n[1] += len(got)
    tags = [t for t in TAG_ORDER if any(t == tag for _, tag in reach)]
    families = list(dict.fromkeys(r["family"] for r in record["results"]))
    table = pd.DataFrame(
        [{"family": f, **{t: (f"{reach[(f, t)][0]}/{reach[(f, t)][1]}" if (f, t) in reach
                              else "—") for t in tags}} for f in families]
    )
    return table, tags


def _tags(ctx, key: str) -> list[str]:
    """A problem's difficulty tags among :data:`TAG_ORDER` (``ill-conditioned`` also where
    the stored L/μ says so, for a store written before the tag existed)."""
    info = ctx.problems.get(key, {})
    tags = set(info.get("tags") or [])
    L, mu = info.get("L"), info.get("mu")
    if L and mu and mu > 0 and L / mu >= ILL_CONDITIONED:
        tags.add("ill-conditioned")
    return [t for t in TAG_ORDER if t in tags]


def best_per_tag(ctx, verdicts, record: dict[str, Any]):
    """Per tag and tuning budget: the families that won outright on the most of the tag's
    problems, with their count; "" where no family won outright on any."""
    out = {}
    for tag in TAG_ORDER:
        keys = [k for k in dict.fromkeys(verdicts.problem_key) if tag in _tags(ctx, k)]
        if not keys:
            continue
        for k in record["budgets"]:
            v = verdicts[(verdicts.k == k) & verdicts.problem_key.isin(keys)]
            wins = v.winner[v.winner != ""].value_counts()
            top = sorted(wins[wins == wins.max()].index) if len(wins) else []
            out[(tag, k)] = (top, int(wins.max()) if len(wins) else 0, len(keys))
    return out


def recommendation_text(per_tag, record: dict[str, Any], verdicts=None) -> list[str]:
    """The "which optimizer to use" sentences: per tag, at the full budget and with the
    defaults, only the outright wins the tests found; first, where the seeds were too few
    for any test to reach α, that instead."""
    K = record["trials"]
    out = []
    if verdicts is not None and len(verdicts) and not verdicts.can_reach.any():
        needed = verdicts.seeds_needed.dropna()
        more = f" (at least {int(needed.max())} are needed)" if len(needed) else ""
        return [f"With {len(record['final_seeds'])} final seeds no test can reach α = {ALPHA} "
                f"after Holm's correction{more}, so the tests cannot say which family to use; "
                "rerun optbench tune with more --seeds."]
    tags = list(dict.fromkeys(t for t, _ in per_tag))
    for tag in tags:
        top, n, total = per_tag[(tag, K)]
        if top:
            s = (f"On {tag} problems, tuned with {K} trials, {' and '.join(top)} won outright "
                 f"on {n} of {total} problem{'s' if total != 1 else ''}")
        else:
            s = (f"On {tag} problems ({total}), tuned with {K} trials, no family was "
                 "significantly better than every other")
        if (tag, 0) in per_tag:
            top0, n0, _ = per_tag[(tag, 0)]
            s += (f"; at their defaults, {' and '.join(top0)} won outright on {n0}" if top0
                  else "; at their defaults, none won outright")
        out.append(s + ".")
    return out


# -- the sections ----------------------------------------------------------------------------
@register_section("tuning-trials", order=15)
def tuning_trials(ctx) -> Section | None:
    """The trials protocol, the spaces and the winners."""
    import pandas as pd

    t = _record(ctx)
    if t is None:
        return None
    ts, fs = t["tuning_seeds"], t["final_seeds"]
    n_tune = int((ctx.runs.phase == "tuning").sum())
    protocol = (
        f"<p>Each family's hyperparameters were tuned by <b>{t['trials']} quasi-random "
        "trials</b> (a scrambled Halton sequence with a fixed seed, the same trials for every "
        "family on every problem; docs/methodology.md#search-spaces), each run on the tuning "
        f"seeds {ts[0]}–{ts[-1]} and scored by <b>{esc(t['criterion'])}</b>: "
        f"{esc(t.get('criterion_text', ''))}; a failed run scores +∞. At each tuning budget k "
        f"in {{{', '.join(map(str, t['budgets']))}}} a family is the best of its first k "
        "trials (k = 0: its defaults, what a user gets without tuning), rerun on the fresh "
        f"seeds {fs[0]}–{fs[-1]}; the k = {t['trials']} track is the tuned winner the other "
        f"sections compare. {n_tune} tuning runs are in the store; budget "
        f"{esc(t.get('budget'))} evaluations per run.</p>"
    )
    spaces = pd.DataFrame([
        {"family": f, "hyperparameter": k, "range": v, "defaults track": t["defaults"].get(f, ""),
         "defaults from": t.get("defaults_notes", {}).get(f, "")}
        for f, sp in t["spaces"].items() for k, v in sp.items()
    ])
    winners = pd.DataFrame([
        {"problem": ctx.problem_title(w["problem_key"]) if w["problem_key"] in ctx.problems
         else w["problem"], "family": w["family"], "winner": w["label"], "trial": w["trial"],
         t["criterion"]: w["score"]}
        for w in t["winners"]
    ])
    body = protocol + table_html(
        spaces, "The search space of each family and its defaults track.", "tuning-spaces.csv"
    ) + table_html(
        winners, f"The tuned winner per problem and family: the best of {t['trials']} trials "
        "(its index and criterion, median over the tuning seeds; '—' = every seed failed).",
        "tuning-winners.csv",
    )
    return Section("Tuning", body)


@register_section("tuning-curves", order=16)
def tuning_curves(ctx) -> Section | None:
    """Expected best criterion against the number of trials, per problem and family."""
    t = _record(ctx)
    if t is None:
        return None
    import altair as alt
    import numpy as np
    import pandas as pd

    from optbench.stats import expected_best, expected_best_band

    K = int(t["trials"])
    ks = np.arange(1, K + 1)
    families = list(t["families"])
    colours = _family_colours(families)
    rows, points, sentences = [], [], []
    for problem in t["problems"]:
        scores = capped_scores(t, problem)
        results = {r["family"]: r for r in t["results"] if r["problem"] == problem}
        if not scores:
            continue
        title = _title(ctx, next(iter(results.values())))
        worst = max(max(v) for v in scores.values())
        ends = {}
        for fam, vals in scores.items():
            mid = expected_best(vals, ks)
            lo, hi = expected_best_band(vals, ks, n_boot=300)
            ends[fam] = float(mid[-1])
            rows += [{"problem": title, "family": fam, "k": int(k), "expected best": float(m),
                      "low": float(a), "high": float(b)}
                     for k, m, a, b in zip(ks, mid, lo, hi, strict=True)]
            d = results[fam]["tracks"]["0"]["score"]
            points.append({"problem": title, "family": fam, "k": 0,
                           "expected best": worst if d is None else float(d),
                           "defaults": results[fam]["tracks"]["0"]["label"]})
        best = min(ends, key=lambda f: (ends[f], f))
        d0 = {p["family"]: p["expected best"] for p in points if p["problem"] == title}
        best0 = min(d0, key=lambda f: (d0[f], f))
        sentences.append(f"{esc(title)}: after {K} trials {esc(best)} expects the best "
                         f"criterion ({ends[best]:.3g}); at the defaults, {esc(best0)} "
                         f"({d0[best0]:.3g}).")
    if not rows:
        return Section("Tuning curves", note_html("Every trial failed: no curve to draw."))
    data = pd.concat([pd.DataFrame(rows).assign(kind="curve"),
                      pd.DataFrame(points).assign(kind="defaults")], ignore_index=True)
    data = data.round({"expected best": 5, "low": 5, "high": 5})
    pick = alt.selection_point(fields=["family"], bind="legend")
    colour = alt.Color("family:N", scale=alt.Scale(domain=families,
                                                   range=[colours[f] for f in families]))
    x = alt.X("k:Q", title="trials k (0 = the defaults track)", scale=alt.Scale(domain=[0, K]))
    y = alt.Y("expected best:Q", title=f"expected best {t['criterion']}",
              scale=alt.Scale(zero=False))
    faded = alt.condition(pick, alt.value(1), alt.value(0.15))
    base = alt.Chart().encode(x=x, color=colour, opacity=faded)
    curves = base.transform_filter(alt.datum.kind == "curve")
    band = curves.mark_area().encode(
        y="low:Q", y2="high:Q", opacity=alt.condition(pick, alt.value(0.18), alt.value(0.03)))
    line = curves.mark_line().encode(
        y=y, tooltip=["family:N", "k:Q", alt.Tooltip("expected best:Q", format=".4g"),
                      alt.Tooltip("low:Q", format=".4g"), alt.Tooltip("high:Q", format=".4g")])
    dot = base.transform_filter(alt.datum.kind == "defaults").mark_point(
        shape="diamond", size=80, filled=True).encode(
        y=y, tooltip=["family:N", "defaults:N", alt.Tooltip("expected best:Q", format=".4g")])
    chart = (alt.layer(band, line, dot, data=data).properties(width=300, height=200)
             .facet(facet=alt.Facet("problem:N", title=None), columns=2)
             .resolve_scale(y="independent").add_params(pick))
    caption = (
        f"The expected best {t['criterion']} among k trials drawn from the {K} measured "
        "(Dodge et al.'s closed form, docs/methodology.md#tuning-curves; lower is better), "
        "with a bootstrap band of 95 % over the trials; the diamond at k = 0 is the defaults "
        "track on the same tuning seeds. A failed trial counts as the worst trial any family "
        "had on the problem. Click a legend entry to pick a family.")
    body = ("<p>" + " ".join(sentences) + "</p>"
            + chart_html(chart, "expected best criterion against the number of trials",
                         caption, name="tuning-curves"))
    return Section("Tuning curves", body)


@register_section("tunability", order=17)
def tunability_section(ctx) -> Section | None:
    """How easy each family is to tune, per problem."""
    t = _record(ctx)
    if t is None:
        return None
    table = tunability(ctx, t)
    shown = table.drop(columns=["share"])
    caption = (
        f"How easy each family is to tune: of its {t['trials']} trials, how many reached "
        f"within a factor {FACTOR:g} of its best (for aulg, within log10 {FACTOR:g} of the "
        "best area), the width in decades of the learning rates of those trials (k for a rate "
        "in units of 1/L; 0 when one trial, — when none has a rate), and what the trials cost "
        "in evaluations over the tuning seeds.")
    return Section("Tunability", table_html(shown, caption, "tunability.csv", csv=table))


@register_section("recommendation", order=18)
def recommendation(ctx) -> Section | None:
    """Verdicts at equal tuning budgets, the capability matrix and which to use."""
    import pandas as pd

    t = _record(ctx)
    if t is None:
        return None
    verdicts = budget_verdicts(ctx, t)
    if not len(verdicts):
        return Section("Recommendation", note_html("No family was tuned: nothing to compare."))
    table = verdicts.assign(
        verdict=[w if w else ("tie: " + ", ".join([b, *tied]) if tied else b)
                 for w, b, tied in zip(verdicts.winner, verdicts.best, verdicts.tied,
                                       strict=True)]
    ).pivot(index="problem", columns="k", values="verdict")
    table.columns = [f"k = {k}" + (" (defaults)" if k == 0 else "") for k in table.columns]
    table = table.reset_index()
    cap, tags = capability(ctx, t)
    per_tag = best_per_tag(ctx, verdicts, t)
    tag_rows = [{"tag": tag, **{f"k = {k}": (" and ".join(per_tag[(tag, k)][0])
                                             + f" ({per_tag[(tag, k)][1]}/{per_tag[(tag, k)][2]})"
                                             if per_tag[(tag, k)][0] else "no outright winner")
                                for k in t["budgets"]}}
                for tag in dict.fromkeys(tg for tg, _ in per_tag)]
    text = recommendation_text(per_tag, t, verdicts)
    body = (
        "<h3 id='which-optimizer'>Which optimizer to use</h3>"
        + "<p class='lead'>" + " ".join(esc(s) for s in text) + "</p>"
        + "<p>A family <i>wins outright</i> on a problem at tuning budget k when it has the "
        "smallest aRT there and every other family is significantly worse (paired signed-rank "
        f"test on the fresh seeds, Holm's correction within the problem and budget, α = "
        f"{ALPHA}); otherwise the families with no difference found are reported as a tie. "
        "Nothing is said where the tests found nothing.</p>"
        + table_html(table, "The verdict per problem at each tuning budget (best of the first "
                     "k trials; k = 0 the defaults).", "budget-verdicts.csv",
                     csv=verdicts.assign(tied=[", ".join(x) for x in verdicts.tied]))
        + table_html(pd.DataFrame(tag_rows), "The family that won outright on the most "
                     "problems of each tag, at each tuning budget (wins/problems).",
                     "best-per-tag.csv")
        + table_html(cap, "Capability: the share of the tuned winners' final runs reaching "
                     f"the target (Δf ≤ {target_key(TEST_TARGET)} where f* is known, else "
                     f"τ = {target_key(REL_TARGETS[1])}), per family and tag.",
                     "capability.csv")
    )
    return Section("Recommendation", body, toc=[("which-optimizer", "Which optimizer to use")])
