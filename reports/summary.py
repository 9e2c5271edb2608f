"""Per problem × optimizer: runs, statuses, success at a target, final gap, evaluations."""

from __future__ import annotations

from optbench import register_section
from optbench.report import Section, table_html

TARGET = "1e-6"


@register_section("summary", order=10)
def summary(ctx) -> Section | None:
    """Summary table."""
    import numpy as np
    import pandas as pd

    from optbench.stats import art_table, counted

    runs = ctx.runs
    if not len(runs):
        return Section("Summary", "<p>The store holds no runs.</p>")
    at = art_table(runs, targets=(float(TARGET),), samples=0)
    at = {(r.problem_key, r.label): r for r in at.itertuples(index=False)}
    rows = []
    for (key, label), g in runs.groupby(["problem_key", "label"], sort=False):
        statuses = g.status.value_counts()
        ran = counted(g)
        hit = at.get((key, label))  # None: every run was skipped
        rows.append(
            {
                "problem": ctx.problem_title(key),
                "optimizer": label,
                "runs": len(g),
                "statuses": ", ".join(f"{s} {n}" for s, n in statuses.items()),
                f"success @ {TARGET}": f"{hit.successes}/{hit.runs}" if hit else "—",
                "median final gap": float(np.nanmedian(ran["gap_final"]))
                if "gap_final" in ran and len(ran)
                else np.nan,
                f"aRT to {TARGET}": hit.aRT if hit else np.nan,
                "median evals used": float(np.nanmedian(ran["evals"])) if len(ran) else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    caption = (
        f"One row per problem × optimizer over {len(runs)} runs. Success: the best gap f − f* "
        f"reached {TARGET}, out of the runs that ran (skipped ones never did); aRT is COCO's "
        "average runtime (evaluations of all runs up to success or end / successes; ∞: no "
        "success); evaluations are n_f + n_g; '—' where not applicable."
    )
    return Section("Summary", table_html(table, caption, "summary.csv"))
