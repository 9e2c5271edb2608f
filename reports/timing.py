"""Wall-clock time: seconds per update per optimizer against plain gradient descent, and
what the clock depends on (``docs/methodology.md#wall-clock-time``)."""

from __future__ import annotations

from optbench import register_section
from optbench.report import Section, note_html, table_html
from optbench.report.timing import REFERENCE, clock_warning, clocks, overhead_frame


@register_section("wall-clock", order=45)
def wall_clock(ctx) -> Section | None:
    """The per-update overhead table."""
    if not len(ctx.compare) or not clocks(ctx):
        return None
    parts = [clock_warning(ctx)]
    frame = overhead_frame(ctx)
    if not len(frame):
        parts.append(note_html("No run records its batch size (they were stored before results "
                               "version 4): no per-update times."))
    else:
        no_ref = frame[f"× {REFERENCE}"].isna().any()
        parts.append(
            table_html(
                frame,
                (
                    "Seconds per update, in µs: for each run, the median over its updates of "
                    "the batch clock's increment (the trace's time), over the runs of its "
                    "batch (which step together on that clock); median and quartiles over the "
                    "runs. Each update's time is the whole of it in the "
                    "runner: the optimizer's step, the evaluations it is charged and the "
                    "runner's own recording of the new iterate, which every optimizer pays "
                    f"alike. The last column (× {REFERENCE}) is the median over the runs of "
                    "each one's time divided by plain gradient descent's "
                    f"('{REFERENCE}', the median of its runs) measured the same way: on the "
                    "same problem, in batches of the same size, on the same machine; above 1, "
                    "an update costs more than a GD update."
                    + (" '—': no GD run with the same problem, batch size and machine."
                       if no_ref else "")
                    + " Times depend on the machine, the executor and the batch size: this "
                    "machine was shared, so small differences are noise."
                ),
                "per-update-time.csv",
            )
        )
    if ctx.x_axis != "time":
        parts.append(note_html("'optbench report --x-axis time' draws the convergence and ECDF "
                               "figures against the batch clock instead of evaluations."))
    return Section("Wall-clock time", "".join(parts))
