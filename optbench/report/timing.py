"""Wall-clock time in the report (``docs/methodology.md#wall-clock-time``).

The runner records one clock per batch (the trace's ``time``: seconds since the batch began
evaluating its start points), which the runs of the batch share; each run's ``seconds`` is
its share of the batch's wall time. From it:

* :class:`TimeData`, a problem's runs with the batch clock as the cost axis, which the
  convergence and ECDF figures draw when the report's x-axis is ``time``
  (``optbench report --x-axis time``, ``write_report(..., x_axis="time")``);
  its runtimes are the worker's ``hit_time_<ε>`` where stored (exact however the trace is
  thinned), else read off the stored clock.
* :func:`overhead_frame`: seconds per update per optimizer, and their ratio to plain
  gradient descent on the same problem, measured the same way (the batch clock over the
  run's updates, shared among the runs of its batch).
* :func:`clock_warning`: a visible note when the runs compared come from more than one
  machine or batch size, whose times are not comparable.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ..errors import UsageError
from ..metrics.catalog import target_key
from ..stats.curves import ProblemData, _stored_column

AXES = ("evals", "time")
TIME_LABEL = "seconds (batch clock)"
REFERENCE = "gd"  # the optimizer every other one is timed against


def check_axis(axis: str) -> str:
    """``axis`` if it is one of :data:`AXES`, else a one-line UsageError."""
    if axis not in AXES:
        raise UsageError(f"unknown x-axis {axis!r}: expected one of {', '.join(AXES)}")
    return axis


def clocks(ctx) -> dict[str, tuple[Any, Any]]:
    """run_id -> ``(t, time)``: the stored iterate numbers and the batch clock there, of
    each run with a trace, read once per report (:attr:`optbench.report.Context.clocks`)."""
    return ctx.clocks


def read_clocks(ctx) -> dict[str, tuple[Any, Any]]:
    """:func:`clocks` read from the stores of ``ctx`` (what
    :attr:`~optbench.report.Context.clocks` computes once; call that instead)."""
    import numpy as np

    from ..stats.convention import counted

    ran = counted(ctx.runs)
    out = {}
    if len(ran):
        for rid, tr in ctx.iter_traces(ran.run_id.tolist(), keys=("t", "time")):
            if tr is not None and "time" in tr and len(tr["time"]):
                time = np.asarray(tr["time"], dtype=float)
                t = np.asarray(tr.get("t", np.arange(len(time))), dtype=float)
                out[rid] = (t, time)
    return out


class TimeData(ProblemData):
    """:class:`~optbench.stats.curves.ProblemData` with the batch clock (seconds) as the
    cost axis: ``cost`` holds the clock at each stored iterate, ``used`` the clock at a run's
    last. Runtimes are seconds, not clamped to 1 as evaluations are."""

    axis_label = TIME_LABEL

    def grid(self, n: int):
        """``n`` log-spaced times over the runs' clocks (the convergence figure's abscissae)."""
        import numpy as np

        c = self.cost[np.isfinite(self.cost) & (self.cost > 0)] if self.cost.size else []
        lo, hi = (float(np.min(c)), float(np.max(c))) if len(c) else (1e-6, 1.0)
        return np.geomspace(lo, max(hi, lo * 1.0001), n)

    def runtimes(self, targets, relative: bool | None = None):
        """``(n, k)``: the batch clock at which each target is first met (inf: never; nan:
        skipped run). The worker's ``hit_time_<ε>`` (``rel_hit_time_<τ>``) where stored,
        which is exact on a thinned trace; else the clock at the first stored iterate that
        meets it."""
        import numpy as np

        out = self.first_stored_hits(targets, relative)
        if self.known:
            for j, eps in enumerate(np.asarray(targets, dtype=float)):
                col = _stored_column(self.runs, eps, bool(relative), kind="time")
                if col is not None:
                    exact = self.has & np.isfinite(col)
                    out[exact, j] = col[exact]
        out = np.where(np.isfinite(out), out, np.inf)
        out[~self.applicable] = np.nan
        return out


def on_time(ctx, data: ProblemData) -> TimeData:
    """``data`` with the batch clock as its cost axis (runs without a stored clock have
    no curve)."""
    import numpy as np

    clk = clocks(ctx)
    n, T = data.cost.shape
    cost = np.full((n, T), np.nan)
    length = np.array(data.length, copy=True)
    for r, rid in enumerate(data.runs.run_id.tolist()):
        c, m = clk.get(rid, (None, None))[1], int(length[r])
        if c is None or len(c) != m or not m:
            length[r] = 0
            continue
        cost[r, :m], cost[r, m:] = c, c[-1]
    last = cost[np.arange(n), np.maximum(length - 1, 0)] if T else np.zeros(n)
    used = np.where(length > 0, np.nan_to_num(last), 0.0)
    values = {f.name: getattr(data, f.name) for f in fields(data)}
    values.update(cost=cost, length=length, used=used)
    return TimeData(**values)


def _fmt_hosts(hosts) -> str:
    return ", ".join(h or "(not recorded)" for h in hosts)


def clock_warning(ctx) -> str:
    """A note (HTML) when the timed runs come from more than one machine or batch size,
    else ""."""
    from .html import note_html

    runs = ctx.compare
    if not len(runs):
        return ""
    timed = runs[runs.run_id.isin(list(clocks(ctx)))]
    if not len(timed):
        return ""
    parts = []
    hosts = sorted(set(timed["host"].fillna("").astype(str))) if "host" in timed else []
    if len(hosts) > 1:
        parts.append(
            f"these runs come from {len(hosts)} machines ({_fmt_hosts(hosts)}), and the same "
            "update takes a different time on each"
        )
    sizes = sorted({int(b) for b in timed.get("batch_size", []) if b == b})
    if len(sizes) > 1:
        parts.append(
            f"they ran in batches of {', '.join(map(str, sizes))} runs: a batch steps its runs "
            "together on one clock, so a run's time depends on how many ran beside it"
        )
    if not parts:
        return ""
    return note_html(
        "Time comparisons across machines or batch sizes are not like for like: "
        + "; ".join(parts)
        + ". Compare times within one machine and one batch size (the overhead table lists "
        "each row's batch sizes)."
    ).replace("class='note'", "class='note warning'", 1)


def per_update(t, time) -> float:
    """A run's seconds per update on its batch's clock: the median over its updates of the
    clock's increments (where the stored trace is thinned, the increment between stored
    iterates over the updates between them), so the first updates' one-off costs (imports,
    caches) do not weigh on it; NaN without an update."""
    import numpy as np

    dt = np.diff(np.asarray(t, dtype=float))
    ok = dt > 0
    if not ok.any():
        return float("nan")
    return float(np.median(np.diff(np.asarray(time, dtype=float))[ok] / dt[ok]))


def overhead_frame(ctx):
    """Per problem and optimizer: its runs, their batch sizes, the seconds per update each
    run is charged (:func:`per_update` of its batch's clock over the runs of its batch;
    median and quartiles over runs) and the ratio of that median to plain gradient
    descent's (``gd``) measured the same way: on the same problem and source, in batches of
    the same size, on the same machine; None without such runs."""
    import numpy as np
    import pandas as pd

    from ..stats.convention import counted

    clk = clocks(ctx)
    runs = counted(ctx.compare)
    cols = ["problem", "optimizer", "runs", "batch sizes", "µs per update",
            "[25 %, 75 %]", f"× {REFERENCE}"]
    if not len(runs) or not clk:
        return pd.DataFrame(columns=cols)
    per = []
    for rid, n_iter, size in zip(runs.run_id, runs.n_iter, runs.get("batch_size", np.nan),
                                 strict=True):
        c = clk.get(rid)
        ok = c is not None and n_iter == n_iter and n_iter > 0 and size == size and size > 0
        per.append(per_update(*c) / size if ok else np.nan)
    host = runs["host"].fillna("").astype(str) if "host" in runs else ""
    runs = runs.assign(_per=per, _host=host)
    runs = runs[np.isfinite(runs._per)]
    rows = []
    by_source = ["source"] if "source" in runs else []
    for _, grp in runs.groupby(["problem_key", *by_source], sort=False):
        gd = grp[grp.optimizer == REFERENCE]
        refs = gd.groupby(["batch_size", "_host"])._per.median().to_dict()
        for label, sub in grp.groupby("label", sort=False):
            q1, med, q3 = np.percentile(sub._per.to_numpy(), [25, 50, 75])
            sizes = sorted({int(b) for b in sub.batch_size})
            # the ratio per run against GD's median on its batch size and machine
            ratio = np.array([p / refs.get((b, h), np.nan)
                              for p, b, h in zip(sub._per, sub.batch_size, sub._host,
                                                 strict=True)])
            ratio = ratio[np.isfinite(ratio)]
            rows.append(
                {
                    "problem": ctx.problem_title(sub.problem_key.iloc[0]),
                    "optimizer": label,
                    "runs": len(sub),
                    "batch sizes": ", ".join(map(str, sizes)),
                    cols[4]: med * 1e6,
                    cols[5]: f"[{q1 * 1e6:.3g}, {q3 * 1e6:.3g}]",
                    cols[6]: float(np.median(ratio)) if len(ratio) else None,
                }
            )
    return pd.DataFrame(rows, columns=cols)
