"""Per problem: best-so-far gap f − f* against evaluations, median and IQR band over seeds."""

from __future__ import annotations

from optbench import register_section
from optbench.report import Section, esc, figure_html

GRID_POINTS = 300


def best_gap_curves(ctx, runs, f_ref: float):
    """Per run, the best-so-far gap on a shared evaluation grid (a step function of cost)."""
    import numpy as np

    traces = [ctx.trace(rid) for rid in runs.run_id]
    traces = [t for t in traces if t is not None and len(t["f"])]
    if not traces:
        return None, None
    top = max(int((t["n_f"] + t["n_g"])[-1]) for t in traces)
    grid = np.unique(np.round(np.geomspace(1, max(top, 1), GRID_POINTS)).astype(int))
    grid = np.concatenate([[0], grid])
    curves = []
    for t in traces:
        cost = t["n_f"] + t["n_g"]
        with np.errstate(invalid="ignore"):
            gap = np.where(np.isfinite(t["f"]), t["f"] - f_ref, np.inf)
        best = np.minimum.accumulate(gap)
        idx = np.searchsorted(cost, grid, side="right") - 1
        curves.append(np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan))
    return grid, np.array(curves)


@register_section("convergence", order=20)
def convergence(ctx) -> Section | None:
    """Convergence per problem."""
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    runs = ctx.runs[ctx.runs.status != "skipped"]
    if not len(runs):
        return None
    parts = []
    for key in ctx.problem_keys:
        sub = runs[runs.problem_key == key]
        if not len(sub):
            continue
        info = ctx.problems.get(key, {})
        f_star = info.get("f_star")
        f_ref = f_star if f_star is not None else float(np.nanmin(sub.f_best))
        floor = 1e-16 * max(1.0, abs(f_ref))
        labels = list(dict.fromkeys(sub.label))
        colors = sns.color_palette("colorblind", len(labels))
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        n_runs = 0
        for color, lab in zip(colors, labels, strict=True):
            grid, curves = best_gap_curves(ctx, sub[sub.label == lab], f_ref)
            if curves is None:
                continue
            n_runs += len(curves)
            c = np.clip(curves, floor, 1e300)
            med = np.nanmedian(c, axis=0)
            q1, q3 = np.nanpercentile(c, [25, 75], axis=0)
            x = np.maximum(grid, 1)
            ax.plot(x, med, color=color, lw=1.8, label=f"{lab} (n={len(curves)})")
            ax.fill_between(x, q1, q3, color=color, alpha=0.2, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("evaluations (n_f + n_g)")
        ax.set_ylabel("best f − f*" if f_star is not None else "best f − best found")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        title = ctx.problem_title(key)
        ax.set_title(title, fontsize=11)
        what = "f*" if f_star is not None else "the best value any run found (f* unknown)"
        caption = (f"{title}: best-so-far gap to {what} against evaluations (n_f + n_g), "
                   f"median over seeds with the interquartile band; {n_runs} runs.")
        parts.append(f"<h3>{esc(title)}</h3>" + figure_html(fig, f"convergence on {title}", caption))
    return Section("Convergence", "".join(parts))
