"""Run status: every run is counted — failed, skipped and diverged ones included, never dropped."""

from __future__ import annotations

from optbench import register_section
from optbench.report import Section, note_html, table_html

STATUS_ORDER = (
    "converged",
    "stalled",
    "budget",
    "max-iter",
    "cycle",
    "diverged",
    "non-finite",
    "timeout",
    "error",
    "skipped",
)
MEANING = {
    "converged": "best gap reached the tolerance",
    "stalled": "no progress over the last 200 updates",
    "budget": "evaluation budget used up",
    "max-iter": "iteration limit reached",
    "cycle": "a periodic orbit was detected",
    "diverged": "gap grew 10⁶-fold or distance 10³-fold",
    "non-finite": "a value became inf or nan",
    "timeout": "passed its wall-clock deadline",
    "error": "the optimizer raised",
    "skipped": "never run: the optimizer needs something the problem lacks",
}


@register_section("run-status", order=60)
def run_status(ctx) -> Section | None:
    """Status counts and failure messages."""
    import pandas as pd

    runs = ctx.runs
    if not len(runs):
        return None
    statuses = [s for s in STATUS_ORDER if s in set(runs.status)] + sorted(
        set(runs.status) - set(STATUS_ORDER)
    )
    counts = (
        runs.assign(problem=runs.problem_key.map(ctx.problem_title))
        .pivot_table(
            index=["problem", "label"],
            columns="status",
            values="run_id",
            aggfunc="count",
            fill_value=0,
            sort=False,
        )
        .reindex(columns=statuses, fill_value=0)
        .reset_index()
        .rename(columns={"label": "optimizer"})
    )
    counts.columns.name = None
    counts.insert(2, "runs", counts[statuses].sum(axis=1))
    legend = "; ".join(f"{s}: {MEANING[s]}" for s in statuses if s in MEANING)
    parts = [
        table_html(
            counts,
            (
                f"How each of the {len(runs)} runs ended, per problem and optimizer (first match "
                f"wins: {legend}). Every run counts in every view: unsuccessful ones in aRT, "
                "ECDFs and profiles."
            ),
            "run-status.csv",
        )
    ]
    bad = runs[runs.status.isin(["error", "timeout", "non-finite", "skipped", "diverged"])]
    if len(bad):
        # "diverged at update 18" and "... 21" are one kind of message: group by the text
        # with its numbers masked, show the first message of each group
        kind = bad.message.fillna("").str.replace(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", regex=True)
        msgs = (
            bad.assign(
                problem=bad.problem_key.map(ctx.problem_title),
                message=bad.message.fillna(""),
                kind=kind,
            )
            .groupby(["problem", "label", "status", "kind"], sort=False)
            .agg(
                runs=("run_id", "size"),
                message=("message", "first"),
                example_run=("run_id", "first"),
            )
            .reset_index()
            .drop(columns="kind")
            .rename(columns={"label": "optimizer", "message": "message (first of the group)"})
        )
        parts.append(
            table_html(
                pd.DataFrame(msgs),
                (
                    "The messages of runs that failed, diverged or were skipped, with how many "
                    "runs share each and one run_id to look up (optbench.load_trace)."
                ),
                "run-messages.csv",
            )
        )
    else:
        parts.append(note_html("No run failed, diverged or was skipped."))
    return Section("Run status", "".join(parts))
