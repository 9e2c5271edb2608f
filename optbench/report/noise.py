"""Noise floors on a stochastic problem (``docs/methodology.md#noise-floors``): the smoothed raw
gap of every optimizer (median over seeds with the 25–75 % band) with the floor each reaches
marked, the floor the theory predicts where it knows one, and the floors in a table.

:func:`noise_data` gathers what the drawing needs (in the report's own process, which reads
the stored traces); :func:`noise_block` draws it, possibly in a report worker.
"""

from __future__ import annotations

import math
from typing import Any

from ..noise import EMA_WINDOW, predicted_floor
from .html import esc, figure_html, note_html, table_html

__all__ = ["floor_table", "noise_block", "noise_data", "smoothed_curves"]

GRID_POINTS = 200  # iterations the median curve is evaluated at (log-spaced)
TAIL_SHARE = 0.1  # e_ss_gap's tail window: the last 10 % of a run's iterates

HP_KEYS = ("lr", "schedule", "weight_decay", "clip_norm")


def _hp(row: Any) -> dict[str, Any]:
    out = {}
    for k in HP_KEYS:
        v = row.get(f"hp.{k}")
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            out[k] = v
    return out


def noise_data(data, colours: dict[str, str] | None = None) -> dict[str, Any]:
    """What :func:`noise_block` draws, for one problem's :class:`~optbench.stats.curves.
    ProblemData`: per run its label, e_ss_gap, final gap, predicted floor and the stored
    smoothed loss ``(t, f_ema)``; picklable. ``colours`` (the report's
    :attr:`~optbench.report.context.Context.colours`) colours each label as every other
    figure of the report does."""
    import numpy as np

    ran = data.runs[np.asarray(data.applicable) & (np.asarray(data.length) > 0)]
    traces = data.loader(list(ran.run_id)) if data.loader is not None and len(ran) else {}
    info = data.info
    runs = []
    for _, row in ran.iterrows():
        tr = traces.get(row.run_id) or {}
        if "f_ema" not in tr:
            continue
        t = np.asarray(tr.get("t", np.arange(len(tr["f_ema"]))), dtype=float)
        runs.append(
            {
                "label": row.label,
                "e_ss_gap": float(row.get("e_ss_gap", math.nan)),
                "gap_final": float(row.get("gap_final", math.nan)),
                "converged": row.status == "converged",
                "predicted": predicted_floor(
                    str(info.get("name", "")), dict(info.get("params") or {}),
                    str(row.optimizer), _hp(row)
                ),
                "t": t,
                "f_ema": np.asarray(tr["f_ema"], dtype=float),
            }
        )
    labels = [lab for lab in dict.fromkeys(data.runs.label) if any(r["label"] == lab for r in runs)]
    return {"title": data.title, "key": data.key, "f_ref": data.f_ref, "known": data.known,
            "floor": data.floor, "labels": labels, "runs": runs,
            "colours": {lab: colours[lab] for lab in labels if lab in colours}
            if colours else {}}


def smoothed_curves(payload: dict[str, Any]):
    """``(grid, {label: (q25, median, q75, n)})``: each run's smoothed gap ``f_ema − f_ref``
    interpolated at the iterations ``grid`` (NaN past its end), and its quantiles over runs."""
    import numpy as np

    runs, f_ref = payload["runs"], payload["f_ref"]
    top = max((r["t"][-1] for r in runs if len(r["t"])), default=1.0)
    grid = np.unique(np.round(np.geomspace(1, max(top, 1.0), GRID_POINTS)))
    out = {}
    for lab in payload["labels"]:
        rows = []
        for r in (r for r in runs if r["label"] == lab):
            with np.errstate(invalid="ignore", over="ignore"):
                gap = r["f_ema"] - (f_ref if f_ref is not None else 0.0)
            rows.append(np.where(grid <= r["t"][-1], np.interp(grid, r["t"], gap), np.nan))
        m = np.asarray(rows)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # columns past every run's end
                q = np.nanpercentile(m, [25, 50, 75], axis=0)
        out[lab] = (q[0], q[1], q[2], len(rows))
    return grid, out


def floor_table(payload: dict[str, Any]):
    """One row per optimizer: runs, e_ss_gap median and quartiles, median final gap, the
    predicted floor (median over its runs; NaN where unknown) and measured / predicted."""
    import numpy as np
    import pandas as pd

    rows = []
    for lab in payload["labels"]:
        rs = [r for r in payload["runs"] if r["label"] == lab]
        ess = np.array([r["e_ss_gap"] for r in rs], dtype=float)
        ess = ess[np.isfinite(ess)]
        pred = [r["predicted"] for r in rs if r["predicted"] is not None]
        q = np.percentile(ess, [25, 50, 75]) if len(ess) else [math.nan] * 3
        p = float(np.median(pred)) if pred else math.nan
        fin = np.array([r["gap_final"] for r in rs], dtype=float)
        fin = fin[np.isfinite(fin)]
        rows.append({
            "problem": payload["title"],
            "optimizer": lab,
            "runs": len(rs),
            "converged": sum(bool(r["converged"]) for r in rs),
            "e_ss_gap_q25": q[0],
            "e_ss_gap_median": q[1],
            "e_ss_gap_q75": q[2],
            "gap_final_median": float(np.median(fin)) if len(fin) else math.nan,
            "predicted_floor": p,
            "measured_over_predicted": q[1] / p if p > 0 else math.nan,
        })
    return pd.DataFrame(rows)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if isinstance(v, float | int) and math.isfinite(v) else "—"


def noise_figure(payload: dict[str, Any], table):
    """Smoothed raw gap against iterations, log–log: per optimizer the median over seeds and
    the 25–75 % band; its floor (median e_ss_gap) a thick segment over the tail window and a
    label at the right edge; the predicted floor a dotted black line."""
    import matplotlib.pyplot as plt
    import numpy as np

    from .charts import label_colours
    from .figures import layout, log_axes

    grid, curves = smoothed_curves(payload)
    labels = payload["labels"]
    given = payload.get("colours") or {}
    colors = [label_colours(given, labels)[lab] for lab in labels]
    fig, ax = plt.subplots(figsize=(8.6, 3.9 + 0.17 * len(labels)))
    layout(fig, right=1.5, bottom=0.55 + 0.2 * len(labels), wspace=0.3)
    floor = payload["floor"]
    handles = []
    marks = []
    for color, lab in zip(colors, labels, strict=True):
        q1, med, q3, n = curves[lab]
        ok = np.isfinite(med)
        (h,) = ax.plot(grid[ok], np.clip(med[ok], floor, None), color=color, lw=1.8,
                       label=f"{lab} (n={n})")
        handles.append(h)
        ax.fill_between(grid[ok], np.clip(q1[ok], floor, None), np.clip(q3[ok], floor, None),
                        color=color, alpha=0.2, lw=0)
        row = table[table.optimizer == lab].iloc[0]
        level = row.e_ss_gap_median
        if math.isfinite(level) and level > 0:
            end = grid[ok][-1] if ok.any() else grid[-1]
            start = max(1.0, end * (1 - TAIL_SHARE))
            ax.plot([start, end], [level, level], color=color, lw=5, alpha=0.6,
                    solid_capstyle="butt")
            ax.axhline(level, color=color, lw=0.8, ls="--", alpha=0.7, zorder=1)
            ax.plot([end], [level], marker="<", color=color, ms=7, clip_on=False)
            marks.append((level, f"floor {_fmt(level)}", color))
        pred = row.predicted_floor
        if math.isfinite(pred) and pred > 0:
            ax.axhline(pred, color="k", lw=1.1, ls=":", zorder=1)
            marks.append((pred, f"predicted {_fmt(pred)}", "k"))
    if any(m[1].startswith("predicted") for m in marks):
        (h,) = ax.plot([], [], color="k", lw=1.1, ls=":",
                       label="predicted floor η·σ²/(2(2 − η·h))")
        handles.append(h)
    (h,) = ax.plot([], [], color="0.4", lw=5, alpha=0.6,
                   label="measured floor: median e_ss_gap over the last 10 %")
    handles.append(h)
    log_axes(ax)
    # labels of the floors outside the right edge, spread so none covers another
    marks.sort()
    lo, hi = ax.get_ylim()
    span = math.log10(hi) - math.log10(lo)
    placed: list[float] = []
    for level, text, color in marks:
        y = math.log10(level)
        if placed and y - placed[-1] < 0.045 * span:
            y = placed[-1] + 0.045 * span
        placed.append(y)
        ax.annotate(text, xy=(1.0, level), xycoords=("axes fraction", "data"),
                    xytext=(1.02, 10**y), textcoords=("axes fraction", "data"), fontsize=7.5,
                    color=color, va="center", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": color, "lw": 0.6})
    ref = "f*" if payload["known"] else "best found"
    ax.set(xlabel="iteration t + 1", ylabel=f"smoothed f(x_t) − {ref}",
           title=f"smoothed raw gap (EMA, span {EMA_WINDOW} updates): median, 25–75 %")
    ax.grid(True, which="major", alpha=0.3)
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7.5, frameon=False)
    return fig


def noise_block(payload: dict[str, Any]) -> str:
    """The noise-floor figure and table of one stochastic problem, as HTML."""
    title = payload["title"]
    if not payload["runs"]:
        return note_html(
            f"No smoothed loss is stored for the runs on {title} (stored by an older optbench; "
            "rerun with --recompute to draw its noise floors)."
        )
    table = floor_table(payload)
    fig = noise_figure(payload, table)
    n = len(payload["runs"])
    caption = (
        f"Noise floors on {title}: the raw gap f(x_t) − f_ref smoothed by an exponential "
        f"moving average of span {EMA_WINDOW} updates (α = 2/{EMA_WINDOW + 1}), median over "
        "seeds with the 25–75 % band, log–log. A constant rate levels off at the floor its "
        "gradient noise sets; a decaying rate keeps going down. The thick segment over each "
        "run's last 10 % and the label on the right (and the dashed line) mark the floor each "
        "optimizer reached: the median of e_ss_gap (the mean raw gap over that tail window). "
        "Where the theory "
        "knows the floor (plain gd at a constant rate η on noisy-quadratic) the dotted line "
        f"is η·σ²/(2(2 − η·h)). {n} runs."
    )
    show = table.drop(columns=["problem"]).copy()
    show.insert(3, "e_ss_gap [25 %, 75 %]", [
        f"{_fmt(r.e_ss_gap_median)} [{_fmt(r.e_ss_gap_q25)}, {_fmt(r.e_ss_gap_q75)}]"
        for r in table.itertuples()
    ])
    show = show.drop(columns=["e_ss_gap_q25", "e_ss_gap_median", "e_ss_gap_q75"])
    show = show[["optimizer", "runs", "converged", "e_ss_gap [25 %, 75 %]", "predicted_floor",
                 "measured_over_predicted", "gap_final_median"]]
    show = show.rename(columns={"gap_final_median": "final gap",
                                "predicted_floor": "predicted floor",
                                "measured_over_predicted": "measured / predicted"})
    return (
        f"<h4 id='noise-{esc(payload['key'])}'>Noise floors</h4>"
        + figure_html(fig, f"noise floors on {title}", caption, tight=False)
        + table_html(
            show,
            (
                f"Noise floors on {title}, per optimizer: the runs, those of them that ended "
                "converged (a noisy iterate came within tol of f*: its full-data gap; such a "
                "run stops before its budget), e_ss_gap, the mean raw gap over the "
                "last 10 % of a run's iterates (median [25 %, 75 %] over runs); the median "
                "final gap; the floor the theory predicts, η·σ²/(2(2 − η·h)) for plain gd at a "
                "constant rate on noisy-quadratic ('—' where no prediction is known), and the "
                "measured median over it."
            ),
            f"noise-floors-{payload['key']}.csv",
            csv=table,
        )
    )
