"""Run status: the messages of runs that failed, diverged or were skipped (their counts per
pairing are in the Summary table); every run is counted, none dropped."""

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


def status_order(runs) -> list[str]:
    """The statuses present, in :data:`STATUS_ORDER` (unknown ones last)."""
    present = set(runs.status.unique())
    return [s for s in STATUS_ORDER if s in present] + sorted(present - set(STATUS_ORDER))


@register_section("run-status", order=60)
def run_status(ctx) -> Section | None:
    """Failure messages (status counts: the Summary table)."""
    import pandas as pd

    runs = ctx.runs
    if not len(runs):
        return None
    parts = ["<p>How many runs of each pairing ended in each status is in the "
             "<a href='#summary'>Summary</a> table (its CSV has a count column per status).</p>"]
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
