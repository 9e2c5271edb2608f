"""Summary: one table, one row per problem × optimizer — the runs and their seeds, budget
and iteration limit, how they ended, success at a target, final gap, aRT and evaluations
used. (It replaces three tables that each listed the same pairings.)"""

from __future__ import annotations

from optbench import register_section
from optbench.report import Section, table_html

TARGET = "1e-6"


def _span(values) -> str:
    values = sorted(int(v) for v in values)
    if not values:
        return "—"
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}–{values[-1]}"
    return ", ".join(map(str, values)) if len(values) <= 3 else f"{values[0]}–{values[-1]}"


@register_section("summary", order=10)
def summary(ctx) -> Section | None:
    """Summary table."""
    import numpy as np
    import pandas as pd

    from optbench.stats import art_table, counted

    from .run_status import MEANING, status_order

    runs = ctx.main  # the pairings only a sweep ran are the Lesson's
    if not len(ctx.runs):
        return Section("Summary", "<p>The store holds no runs.</p>")
    at = art_table(runs, targets=(float(TARGET),), samples=0)
    at = {(r.problem_key, r.label): r for r in at.itertuples(index=False)}
    statuses = status_order(runs)
    rows, counts = [], []
    for (key, label), g in runs.groupby(["problem_key", "label"], sort=False):
        ran = counted(g)
        hit = at.get((key, label))  # None: every run was skipped
        budgets = sorted({int(b) for b in g.budget.dropna()}) if "budget" in g else []
        iters = sorted({int(v) for v in g.max_iter.dropna()}) if "max_iter" in g else []
        by_status = g.status.value_counts()
        rows.append(
            {
                "problem": ctx.problem_title(key),
                "optimizer": label,
                "runs": len(g),
                "seeds": _span(g.seed),
                "evaluation budget": ", ".join(map(str, budgets)) or "none",
                "max_iter": ", ".join(map(str, iters)) or "—",
                "statuses": ", ".join(f"{s} {by_status[s]}" for s in statuses if s in by_status),
                f"success @ {TARGET}": f"{hit.successes}/{hit.runs}" if hit else "—",
                "median final gap": float(np.nanmedian(ran["gap_final"]))
                if "gap_final" in ran and len(ran)
                else np.nan,
                f"aRT to {TARGET}": hit.aRT if hit else np.nan,
                "median evals used": float(np.nanmedian(ran["evals"])) if len(ran) else np.nan,
            }
        )
        counts.append({s: int(by_status.get(s, 0)) for s in statuses})
    table = pd.DataFrame(rows)
    if (table["max_iter"] == table["evaluation budget"]).all():
        table = table.drop(columns="max_iter")  # the default: the limit is the budget
    if "phase" in runs and runs.phase.astype(bool).any():
        phases = runs.groupby(["problem_key", "label"], sort=False).phase.agg(
            lambda p: ", ".join(x for x in dict.fromkeys(p) if x))
        table.insert(2, "phase", phases.to_numpy())
    csv = pd.concat([table, pd.DataFrame(counts)], axis=1)
    # the results first, so that a narrow window shows them beside the names; what every
    # row shares (runs, seeds, budget) is said once in the caption (the CSV keeps it)
    results = [c for c in table.columns if c.startswith(("success", "median", "aRT"))]
    rest = [c for c in table.columns if c not in results and c not in ("problem", "optimizer")]
    shared = [c for c in ("runs", "seeds", "evaluation budget", "max_iter")
              if c in table and table[c].astype(str).nunique() == 1 and len(table) > 1]
    table = table[["problem", "optimizer", *results, *[c for c in rest if c not in shared]]]
    every = {"runs": "{} runs", "seeds": "seeds {}", "evaluation budget": "a budget of {}",
             "max_iter": "max_iter {}"}
    every_row = ", ".join(every[c].format(csv[c].iloc[0]) for c in shared)
    legend = "; ".join(f"{s}: {MEANING[s]}" for s in statuses if s in MEANING)
    caption = (
        f"One row per problem × optimizer over {len(runs)} runs: their seeds, budget "
        "(evaluations n_f + n_g) and how they ended (first match wins: "
        f"{legend}). Success: the best gap f − f* reached {TARGET}, out of the runs that ran "
        "(skipped ones never did); aRT is COCO's average runtime (evaluations of all runs up "
        "to success or end / successes; ∞: no success); '—' where not applicable. The CSV "
        "adds one count column per status. No run is dropped: unsuccessful ones count in "
        "aRT, ECDFs and profiles."
        + (f" Every row: {every_row}." if every_row else "")
        + (f" Settings only a dense sweep ran ({ctx.swept}) are left out here; the Lesson "
           "and the Momentum sections show them." if ctx.swept else "")
    )
    return Section("Summary", table_html(table, caption, "summary.csv", csv=csv))
