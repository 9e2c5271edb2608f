"""Statistics: pairwise rank tests with Holm's correction and effect sizes, and a ranking
built from ranks and profiles only (``docs/methodology.md``)."""

from __future__ import annotations

from optbench import register_section
from optbench.metrics import REL_TARGETS, target_key
from optbench.report import Section, note_html, table_html
from optbench.stats.curves import TABLE_TARGETS, compared
from optbench.stats.rank_tests import combined_scores, holm, rank_biserial, run_tests

TEST_TARGET = 1e-6  # absolute Δf where f* is known; else τ = REL_TARGETS[1]
ALL_PAIRS_MAX = 8  # beyond this many solvers, each is tested against the best one only
ALPHA = 0.05


def pairwise(data, solvers):
    """One row per (problem, pair of solvers), p-values not yet corrected."""
    import itertools

    import numpy as np

    from optbench.stats import art

    rows, tests = [], []
    for _key, d in data.items():
        ran = d.select(d.applicable)
        present = [s for s in solvers if (ran.runs.solver == s).any()]
        if len(present) < 2:
            continue
        target = TEST_TARGET if d.known else REL_TARGETS[1]
        rt = ran.runtimes([target])[:, 0]
        solver = ran.runs.solver.to_numpy()
        arts = {s: art(rt[solver == s], ran.used[solver == s]) for s in present}
        if len(present) <= ALL_PAIRS_MAX:
            pairs = list(itertools.combinations(present, 2))
        else:
            best = min(present, key=lambda s: (arts[s], s))
            pairs = [(best, s) for s in present if s != best]
        for a, b in pairs:
            ma, mb = solver == a, solver == b
            fails = np.concatenate([ran.used[ma][np.isinf(rt[ma])], ran.used[mb][np.isinf(rt[mb])]])
            hits = np.concatenate([rt[ma][np.isfinite(rt[ma])], rt[mb][np.isfinite(rt[mb])]])
            fe_umin = float(fails.min()) if len(fails) else float(hits.max())
            fe_umin = max(fe_umin, 1.0)
            gaps = ran.best_at([fe_umin])[:, 0]
            sa, sb = combined_scores(rt[ma], gaps[ma], rt[mb], gaps[mb], fe_umin, target, d.floor)
            sa, sb = np.maximum(sa, -1e6), np.maximum(sb, -1e6)
            seeds_a = ran.runs.seed.to_numpy()[ma]
            seeds_b = ran.runs.seed.to_numpy()[mb]
            paired = len(set(seeds_a)) == len(seeds_a) and set(seeds_a) == set(seeds_b)
            if paired:
                oa, ob = np.argsort(seeds_a), np.argsort(seeds_b)
                sa, sb = sa[oa], sb[ob]
            test = "signed-rank" if paired else "rank-sum"
            tests.append((sa, sb, paired))
            ratio = arts[a] / arts[b] if np.isfinite(arts[a]) and np.isfinite(arts[b]) else np.nan
            rows.append(
                {
                    "problem": d.title,
                    "target": target_key(target) if d.known else f"τ={target_key(target)}",
                    "A": a,
                    "B": b,
                    "succ A": f"{int(np.isfinite(rt[ma]).sum())}/{int(ma.sum())}",
                    "succ B": f"{int(np.isfinite(rt[mb]).sum())}/{int(mb.sum())}",
                    "aRT A": arts[a],
                    "aRT B": arts[b],
                    "aRT A/B": ratio,
                    "r (A better)": rank_biserial(sa, sb),
                    "test": test,
                    "_n": min(ma.sum(), mb.sum()),
                }
            )
    for row, p in zip(rows, run_tests(tests), strict=True):
        row["p"] = p
    return rows


def ranking(data, solvers, profiles):
    import numpy as np
    import pandas as pd

    from optbench.stats import art
    from optbench.stats.rank_tests import average_ranks

    ranks = {s: [] for s in solvers}
    wins = dict.fromkeys(solvers, 0)
    solved = dict.fromkeys(solvers, 0)
    n_pairs = 0
    for _key, d in data.items():
        ran = d.select(d.applicable)
        present = [s for s in solvers if (ran.runs.solver == s).any()]
        if not present:
            continue
        targets = TABLE_TARGETS if d.known else REL_TARGETS
        rt = ran.runtimes(targets)
        solver = ran.runs.solver.to_numpy()
        for j in range(len(targets)):
            arts = np.array(
                [
                    art(rt[solver == s, j], ran.used[solver == s]) if s in present else np.inf
                    for s in solvers
                ]
            )
            r, _ = average_ranks(np.where(np.isnan(arts), np.inf, arts))
            n_pairs += 1
            best = np.min(arts)
            for i, s in enumerate(solvers):
                ranks[s].append(r[i])
                if np.isfinite(arts[i]):
                    solved[s] += 1
                    wins[s] += bool(arts[i] == best)
    rows = []
    T = profiles
    for i, s in enumerate(solvers):
        row = {
            "solver": s,
            "mean rank of aRT": float(np.mean(ranks[s])) if ranks[s] else np.nan,
            "best aRT (pairs)": wins[s],
            "targets reached (pairs)": f"{solved[s]}/{n_pairs}",
        }
        if T is not None:
            M = T[REL_TARGETS[1]]
            row[f"solved share τ={target_key(REL_TARGETS[1])}"] = (
                float(np.isfinite(M[:, i]).mean()) if len(M) else np.nan
            )
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values("mean rank of aRT", kind="stable").reset_index(drop=True)
    return frame, n_pairs


@register_section("statistics", order=50)
def statistics(ctx) -> Section | None:
    """Pairwise tests and ranking."""
    import numpy as np
    import pandas as pd

    from .aggregated import instance_matrix

    data = compared(ctx)
    solvers = list(dict.fromkeys(ctx.compare.solver)) if len(ctx.compare) else []
    if len(solvers) < 2:
        return None
    parts = ["<h3 id='stats-tests'>Pairwise tests</h3>"]
    rows = pairwise(data, solvers)
    if rows:
        frame = pd.DataFrame(rows)
        frame["p (Holm)"] = holm(frame.p.to_numpy())
        frame["sig."] = np.where(frame["p (Holm)"] < ALPHA, "yes", "no")
        frame["note"] = np.where(frame.pop("_n") < 15, "< 15 runs", "")
        first = [
            "problem",
            "A",
            "B",
            "p (Holm)",
            "sig.",
            "r (A better)",
            "aRT A/B",
            "succ A",
            "succ B",
        ]
        frame = frame[first + [c for c in frame.columns if c not in first]]
        bold = {(i, "p (Holm)") for i in np.flatnonzero(frame["p (Holm)"].to_numpy() < ALPHA)}
        scope = (
            "all pairs"
            if len(solvers) <= ALL_PAIRS_MAX
            else f"each solver against the one with the smallest aRT (more than {ALL_PAIRS_MAX} "
            "solvers)"
        )
        parts.append(
            table_html(
                frame,
                (
                    f"Two-sided tests per problem ({scope}) on COCO's combined data at the target "
                    f"(Δf ≤ {target_key(TEST_TARGET)} where f* is known, else τ = "
                    f"{target_key(REL_TARGETS[1])}): a run that reached the target within FE_umin "
                    "(the smallest budget among unsuccessful runs of both) is scored by its "
                    "runtime, any other by its gap at FE_umin. Runs paired by seed (same start "
                    "points) use the Wilcoxon signed-rank test, others the rank-sum "
                    "(Mann–Whitney) test; succ = successes/runs. p-values Holm-corrected over "
                    f"all {len(frame)} tests; bold: significant at {ALPHA}. Effect sizes: the aRT "
                    "ratio and the rank-biserial r = P(A better) − P(B better). Success counts "
                    "this small (e.g. 4/15 vs 0/15) are rarely significant — read the counts, "
                    "not only the stars."
                ),
                "pairwise-tests.csv",
                bold=bold,
            )
        )
    else:
        parts.append(note_html("No problem has two solvers with runs: no tests."))
    T = ctx.cache.get("profiles")
    if T is None:
        T, _, _ = instance_matrix(data, solvers, REL_TARGETS)
    rank, n_pairs = ranking(data, solvers, T)
    parts.append("<h3 id='stats-ranking'>Ranking</h3>")
    parts.append(
        table_html(
            rank,
            (
                f"Ranking of {len(ctx.compare)} runs over {n_pairs} (problem, target) pairs, "
                "built from ranks only — raw losses are never averaged across problems: the mean "
                "rank of each solver's aRT per pair (ties share a rank, ∞ when never reached), "
                "the pairs where its aRT is the smallest, the pairs it reached at all, and its "
                "solved share of the (problem, seed) instances in the data profile."
            ),
            "ranking.csv",
        )
    )
    return Section(
        "Statistics",
        "".join(parts),
        toc=[("stats-tests", "Pairwise tests"), ("stats-ranking", "Ranking")],
    )
