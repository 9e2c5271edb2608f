"""Statistics: the Friedman test over problems with Nemenyi's critical difference (a CD
diagram), per problem each optimizer against the best with Holm's correction within the
problem, and a ranking built from ranks and profiles only (``docs/methodology.md``). The
tests are those of :mod:`optbench.stats.significance` (scipy.stats)."""

from __future__ import annotations

from optbench import register_section
from optbench.metrics import REL_TARGETS, target_key
from optbench.report import Section, deferred_html, figure_html, note_html, table_html
from optbench.stats.curves import TABLE_TARGETS, compared
from optbench.sweeps import main_mask

TEST_TARGET = 1e-6  # absolute Δf where f* is known; else τ = REL_TARGETS[1]
ALPHA = 0.05


def _parts(ctx):
    """The run frame of the comparison views (label = the solver), split by target: the
    problems with a known f* at Δf ≤ TEST_TARGET, the others at τ = REL_TARGETS[1]."""
    frame = ctx.compare.assign(label=ctx.compare.solver)
    if "problem_label" not in frame:
        frame["problem_label"] = [ctx.problem_title(k) for k in frame.problem_key]
    # labels that only a dense sweep ran stay out of the tests (optbench.sweeps): at ten
    # seeds a problem's Holm family of more than about 25 could never reach α
    frame = frame[main_mask(frame, ctx.sessions).to_numpy()]
    known = frame.problem_key.map(lambda k: ctx.f_ref(k)[1]).astype(bool)
    return [
        (part, target, relative)
        for part, target, relative in ((frame[known], TEST_TARGET, False),
                                       (frame[~known], REL_TARGETS[1], True))
        if len(part)
    ]


def friedman(ctx, alpha: float = ALPHA):
    """The Friedman test and Nemenyi CD over the problems (None: fewer than 2 optimizers or
    2 problems where all ran), and why not."""
    import pandas as pd

    from optbench.stats.significance import art_matrices, friedman_nemenyi

    arts, gaps = [], []
    for part, target, relative in _parts(ctx):
        a, g = art_matrices(part, target, relative=relative, problem="problem_label")
        arts.append(a)
        gaps.append(g)
    if not arts:
        return None, "no runs"
    art = pd.concat(arts)
    gap = pd.concat(gaps).reindex(index=art.index, columns=art.columns)
    try:
        return friedman_nemenyi(art, gap, alpha=alpha), ""
    except ValueError as exc:
        return None, str(exc)


def per_problem_tests(ctx, alpha: float = ALPHA):
    """Per problem, each optimizer against the one with the smallest aRT, Holm within the
    problem (:func:`optbench.stats.significance.tests_against_reference`)."""
    import pandas as pd

    from optbench.stats.significance import tests_against_reference

    frames = []
    for part, target, relative in _parts(ctx):
        t = tests_against_reference(part, target, relative=relative, alpha=alpha,
                                    problem="problem_label")
        t.insert(1, "target", f"τ={target_key(target)}" if relative else target_key(target))
        frames.append(t)
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _sweep_note(ctx) -> str:
    """One line: how many labels only a sweep ran the tests leave out, on which problems,
    and where they are shown ('' when there are none)."""
    where = ctx.swept if ctx.tuning is None else ""
    if not where:
        return ""
    return (f"Labels that only a dense sweep ran ({where}) are left out of these tests and of "
            "the Friedman test, so that each problem's Holm family stays small enough to "
            "reach α; the Lesson and Learning rate sections show them.")


def _tests_display(tests):
    import numpy as np
    import pandas as pd

    def n_text(n):
        return str(n) if isinstance(n, (int, np.integer)) else f"{n[0]}+{n[1]}"

    frame = pd.DataFrame(
        {
            "problem": tests["problem"],
            "optimizer": tests["label"],
            "against": tests["reference"],
            "verdict": [
                v + (f" (needs {int(n)})" if n == n and n is not None and v.startswith("cannot")
                     else "")
                for v, n in zip(tests["verdict"], tests["seeds_needed"], strict=True)
            ],
            "p (Holm)": tests["p_holm"],
            "smallest p (Holm)": tests["min_p_holm"],
            "effect r": tests["effect"],
            "test": tests["test"],
            "n": [n_text(n) for n in tests["n"]],
        }
    )
    csv = tests.assign(n=[n_text(n) for n in tests["n"]])
    return frame, csv


def ranking(data, solvers, profiles):
    import numpy as np
    import pandas as pd

    from optbench.stats import art
    from optbench.stats.significance import rankdata

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
        rows = {s: np.flatnonzero(solver == s) for s in present}  # once, not per target
        used = {s: ran.used[m] for s, m in rows.items()}
        for j in range(len(targets)):
            arts = np.array(
                [art(rt[rows[s], j], used[s]) if s in rows else np.inf for s in solvers]
            )
            r = rankdata(np.where(np.isnan(arts), np.inf, arts))
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


def cd_figure(res, caption: str) -> str:
    """The critical-difference diagram of a Friedman result as a figure (drawn by a report
    worker: matplotlib stays out of the report's own process)."""
    from optbench.stats.significance import cd_diagram

    return figure_html(cd_diagram(res), "critical-difference diagram of the average ranks",
                       caption)


@register_section("statistics", order=50)
def statistics(ctx) -> Section | None:
    """The Friedman test with its CD diagram, per-problem tests against the best, ranking."""
    import numpy as np

    from optbench.stats.significance import tests_caption

    data = compared(ctx)
    solvers = ctx.solvers
    if len(solvers) < 2:
        return None
    where = (f"aRT at Δf ≤ {target_key(TEST_TARGET)} where f* is known, else at τ = "
             f"{target_key(REL_TARGETS[1])}")
    parts = ["<h3 id='stats-friedman'>Across problems: Friedman test and critical difference</h3>"]
    res, why = friedman(ctx)
    if res is None:
        parts.append(note_html(f"No Friedman test: {why}."))
    else:
        parts.append(deferred_html(
            cd_figure, res,
            f"Critical-difference diagram (Demšar 2006): each optimizer's average rank "
            f"over the {res.n} problems where all ran (1 = best; {where}). " + res.caption(),
        ))
        table = res.table()
        table["differs from the best"] = [
            "—" if i == 0 else ("yes" if res.differ(table["label"][0], lab) else "no")
            for i, lab in enumerate(table["label"])
        ]
        parts.append(
            table_html(
                table.rename(columns={"label": "optimizer"}),
                f"Average ranks over {res.n} problems (k = {res.k} optimizers, CD = "
                f"{res.cd:.3g} at α = {res.alpha:g}): an optimizer differs from the best when "
                "their average ranks differ by at least CD (Nemenyi).",
                "friedman-ranks.csv",
            )
        )
    parts.append("<h3 id='stats-tests'>Per problem: each optimizer against the best</h3>")
    swept = _sweep_note(ctx)
    if swept:
        parts.append(note_html(swept))
    tests = per_problem_tests(ctx)
    if len(tests):
        frame, csv = _tests_display(tests)
        bold = {(i, "verdict") for i in np.flatnonzero(tests["significant"].to_numpy())}
        parts.append(
            table_html(
                frame,
                (
                    "On each problem, each optimizer against the one with the smallest "
                    f"{where} (ties: median final gap), on COCO's combined data: a run that "
                    "reached the target scores by its runtime, any other by its final gap. "
                    + tests_caption(tests, ALPHA)
                    + " Target per problem and m in the CSV. effect r: rank-biserial "
                    "correlation, > 0 when the optimizer is better "
                    "than the one it is tested against. 'smallest p (Holm)': the smallest "
                    "adjusted p the design can give, whatever the data."
                ),
                "per-problem-tests.csv",
                csv=csv,
                bold=bold,
                float_format="{:.2g}",
            )
        )
    else:
        parts.append(note_html("No problem has two optimizers with runs: no tests."))
    T = ctx.profiles.costs
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
        toc=[("stats-friedman", "Friedman and CD"), ("stats-tests", "Per-problem tests"),
             ("stats-ranking", "Ranking")],
    )
