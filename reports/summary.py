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

    runs = ctx.runs
    if not len(runs):
        return Section("Summary", "<p>The store holds no runs.</p>")
    rows = []
    for (key, label), g in runs.groupby(["problem_key", "label"], sort=False):
        statuses = g.status.value_counts()
        hit_col = f"hit_cost_{TARGET}"
        hits = g[hit_col] if hit_col in g else pd.Series(np.nan, index=g.index)
        ran = g[g.status != "skipped"]
        rows.append(
            {
                "problem": ctx.problem_title(key),
                "optimizer": label,
                "runs": len(g),
                "statuses": ", ".join(f"{s} {n}" for s, n in statuses.items()),
                f"success @ {TARGET}": f"{int(hits.notna().sum())}/{len(g)}",
                "median final gap": float(np.nanmedian(ran["gap_final"]))
                if "gap_final" in ran and len(ran)
                else np.nan,
                f"median evals to {TARGET}": float(np.nanmedian(hits))
                if hits.notna().any()
                else np.nan,
                "median evals used": float(np.nanmedian(ran["evals"])) if len(ran) else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    caption = (
        f"One row per problem × optimizer over {len(runs)} runs. Success: the best gap f − f* "
        f"reached {TARGET}; evaluations are n_f + n_g; '—' where not applicable."
    )
    return Section("Summary", table_html(table, caption, "summary.csv"))
