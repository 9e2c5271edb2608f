"""Learning rate: sensitivity of every swept optimizer family, set beside the theory.

For each problem, every family (an optimizer with all hyperparameters but ``lr`` fixed) that
ran at two or more learning rates gets its final gap and its time to a target plotted
against the learning rate. Where L is known, the GD-on-a-quadratic thresholds 1/L and 2/L
and the regimes they bound are drawn (``docs/metrics.md#the-theory-of-the-quadratic``);
predicted and observed overshoot and settling are tabled where the metrics are stored.
"""

from __future__ import annotations

from optbench import register_section
from optbench.metrics import REL_TARGETS, target_key
from optbench.report import Section, esc, figure_html, note_html, plain, table_html
from optbench.report.figures import palette
from optbench.stats.curves import problem_data

LR_TARGET = 1e-6
THEORY_COLS = (("th_regime", None), ("th_po", "po"), ("th_settle_2", "t_settle_2"))
STR_THEORY = {"th_regime"}  # a word: the most common over seeds
NEVER_IS_INF = {"t_settle_2"}  # a run that never settled settles at ∞


def family_of(label: str) -> str:
    """The label without its learning rate.

    ``gd[lr=0.5/L,schedule=cosine(T=9)]`` -> ``gd[schedule=cosine(T=9)]``.
    """
    from optbench.spec import Spec, format_spec, parse

    try:
        spec = parse(label)
    except Exception:  # a label the parser cannot read back: its own family
        return label
    return format_spec(Spec(spec.name, {k: v for k, v in spec.params.items() if k != "lr"}))


def _families(data):
    """family -> runs frame, for families with >= 2 learning rates (skipped runs left out)."""
    runs = data.runs
    if "hp.lr" not in runs:
        return {}
    from optbench.stats import counted

    runs = counted(runs)
    runs = runs[runs["hp.lr"].notna()]
    out = {}
    families = {label: family_of(label) for label in runs.label.unique()}
    for fam, g in runs.groupby(runs.label.map(families), sort=False):
        if g["hp.lr"].astype(float).nunique() >= 2:
            out[fam] = g
    return out


def lr_figure(data, families):
    import matplotlib.pyplot as plt
    import numpy as np

    from optbench.report.figures import empty_panel, layout, log_axes
    from optbench.stats import art

    L, mu = data.info.get("L"), data.info.get("mu")
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.5 + 0.17 * -(-len(families) // 3)))
    # room on the left for labelled 2s and 5s (5·10¹⁵) beside the axis label
    layout(fig, left=0.85, bottom=0.6 + 0.17 * -(-len(families) // 3), top=0.55, wspace=0.3)
    target = LR_TARGET if data.known else REL_TARGETS[1]
    n_runs, handles = 0, []
    lr_all = []
    any_art = False
    for color, (fam, g) in zip(palette(len(families)), families.items(), strict=True):
        sub = data.select(data.runs.run_id.isin(set(g.run_id)).to_numpy())
        lrs = sub.runs["hp.lr"].astype(float).to_numpy()
        rt = sub.runtimes([target])[:, 0]
        fin = sub.final_best()
        raw_final = sub.runs["f_final"].astype(float).to_numpy() - (data.f_ref or 0.0)
        status = sub.runs.status.to_numpy()
        xs, med, q1, q3, arts, bad = [], [], [], [], [], []
        for lr in np.unique(lrs):
            m = lrs == lr
            vals = np.where(np.isfinite(raw_final[m]), np.abs(raw_final[m]), np.inf)
            xs.append(lr)
            med.append(np.median(vals))
            q1.append(np.percentile(vals, 25))
            q3.append(np.percentile(vals, 75))
            arts.append(art(rt[m], sub.used[m]))
            bad.append(np.mean(~np.isfinite(vals) | (status[m] == "diverged")))
        n_runs += len(lrs)
        lr_all.extend(xs)
        xs = np.array(xs)
        cap = 1e12 * max(
            1.0, float(np.nanmax(np.where(np.isfinite(fin), fin, np.nan), initial=1.0))
        )
        med_c = np.clip(np.array(med), data.floor, cap)
        div = np.array(bad) >= 0.5
        # a rate where most runs diverged is drawn once, as × on the top edge, not also as a
        # line vertex there
        (h,) = axes[0].plot(xs, np.where(div, np.nan, med_c), color=color, lw=1.6, marker="o",
                            ms=3.5, label=plain(fam))
        handles.append(h)
        axes[0].fill_between(
            xs,
            np.clip(q1, data.floor, cap),
            np.clip(q3, data.floor, cap),
            where=~div,
            color=color,
            alpha=0.15,
            lw=0,
        )
        if div.any():
            axes[0].scatter(
                xs[div], np.full(div.sum(), cap), marker="x", color=color, s=30, zorder=4
            )
        a = np.array(arts)
        ok = np.isfinite(a)
        axes[1].plot(xs[ok], a[ok], color=color, lw=1.6, marker="o", ms=3.5)
        any_art = any_art or bool(ok.any())
    if not any_art:  # an empty log axis cannot be drawn
        axes[1].set_ylim(1, 10)
    for ax in axes:
        log_axes(ax, minor_x=True)
        ax.grid(True, which="major", alpha=0.3)
        if L:
            lo, hi = min(lr_all), max(lr_all)
            ax.axvspan(min(lo, 1 / L) / 2, 1 / L, color="#029e73", alpha=0.07, lw=0)
            ax.axvspan(1 / L, 2 / L, color="#de8f05", alpha=0.09, lw=0)
            ax.axvspan(2 / L, max(hi, 2 / L) * 2, color="#d55e00", alpha=0.07, lw=0)
            ax.axvline(1 / L, color="k", lw=0.8, ls="--")
            ax.axvline(2 / L, color="k", lw=0.8, ls=":")
            if mu and mu < L:
                ax.axvline(2 / (mu + L), color="#555", lw=0.8, ls="-.")
            ax.set_xlim(lo / 1.5, hi * 1.5)
    if L:  # 1/L and 2/L named on a top axis, clear of the data and of the title
        for ax in axes:
            left, right = ax.get_xlim()
            for x, text in ((1 / L, "1/L"), (2 / L, "2/L")):
                if left <= x <= right:  # a line off the axis has no label either
                    ax.text(x, 1.01, text, fontsize=7.5, ha="center", va="bottom",
                            transform=ax.get_xaxis_transform())
    ref = "f*" if data.known else "f_best"
    axes[0].set(xlabel="learning rate η", ylabel=f"|f(x_T) − {ref}| (final)")
    axes[0].set_title("final gap: median, IQR (× = most runs diverged)", pad=14 if L else 6)
    what = f"Δf ≤ {target_key(target)}" if data.known else f"τ = {target_key(target)}"
    axes[1].set(xlabel="learning rate η", ylabel="aRT (evaluations)")
    axes[1].set_title(f"time to target {what} (aRT)", pad=14 if L else 6)
    if not any_art:  # one sentence instead of empty axes
        empty_panel(axes[1], f"No run reached the target {what} at any learning rate: no "
                    "time to target to draw.")
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7.5, frameon=False)
    return fig, n_runs, target


def theory_table(data):
    """Per optimizer, the theory's prediction and the observation, each the median over all
    its seeds: a run that never settled counts as settling at ∞ (so the median is ∞ when
    most did not), and the runs that did not settle are also counted on their own."""
    import numpy as np
    import pandas as pd

    runs = data.runs[data.applicable]
    present = [(th, obs) for th, obs in THEORY_COLS if th in runs]
    if not present or "hp.lr" not in runs:
        return None
    L = data.info.get("L")
    rows = []
    for label, g in runs.groupby("label", sort=False):
        if g[present[0][0]].isna().all():
            continue
        lr = float(g["hp.lr"].astype(float).median()) if g["hp.lr"].notna().any() else np.nan
        row = {"optimizer": label, "runs": len(g), "η·L": lr * L if L else np.nan}
        for th, obs in present:
            vals = g[th].dropna()
            if th in STR_THEORY:
                row[f"{th} (theory)"] = vals.mode().iloc[0] if len(vals) else np.nan
            else:
                row[f"{th} (theory)"] = float(pd.to_numeric(vals).median()) if len(vals) else np.nan
            if obs is None:
                continue
            o = pd.to_numeric(g[obs], errors="coerce") if obs in g else pd.Series(np.nan, g.index)
            if obs in NEVER_IS_INF:
                row[f"{obs} (observed median)"] = float(o.fillna(np.inf).median())
                row["not settled"] = int(o.isna().sum())
            else:
                o = o.dropna()
                row[f"{obs} (observed median)"] = float(o.median()) if len(o) else np.nan
        rows.append(row)
    return pd.DataFrame(rows) if rows else None


@register_section("learning-rate", order=30)
def learning_rate(ctx) -> Section | None:
    """Learning-rate sensitivity against the theory."""
    data = problem_data(ctx)
    parts, toc = [], []
    for key, d in data.items():
        families = _families(d)
        theory = theory_table(d)
        if not families and theory is None:
            continue
        anchor = f"lr-{key}"
        toc.append((anchor, d.title))
        parts.append(f"<h3 id='{esc(anchor)}'>{esc(d.title)}</h3>")
        if families:
            fig, n_runs, target = lr_figure(d, families)
            L = d.info.get("L")
            bands = (
                f"Shaded: the regimes of gradient descent on a quadratic with L = {L:.4g} — "
                "monotone below 1/L (dashed), oscillating but converging between 1/L and 2/L "
                "(dotted), divergent above 2/L"
                + (
                    ", dash-dotted the best constant rate 2/(μ+L)"
                    if d.info.get("mu") and d.info["mu"] < L
                    else ""
                )
                + "; for other methods and non-quadratic losses the lines are a reference, "
                "not a prediction."
                if L
                else "L is unknown for this problem: no theory lines."
            )
            parts.append(
                figure_html(
                    fig,
                    f"learning-rate sensitivity on {d.title}",
                    (
                        f"{d.title}: left, the final gap |f(x_T) − f_ref| (median and IQR over "
                        "seeds) against the learning rate, log–log; right, aRT to the target "
                        "(evaluations; missing where no run reached it). One line per family of "
                        f"{len(families)} swept; {n_runs} runs. {bands}"
                    ),
                    tight=False,
                )
            )
        if theory is not None:
            parts.append(
                table_html(
                    theory,
                    (
                        f"{d.title}: predicted (closed forms for gradient descent on quadratics) "
                        "against observed overshoot PO (%) and 2 % settling time (iterations), "
                        "both columns medians over all seeds; a run that never settled counts "
                        "as ∞ in the median and is also counted under 'not settled'; '—' "
                        "where the theory does not apply."
                    ),
                    f"theory-{key}.csv",
                )
            )
        elif families:
            parts.append(
                note_html(
                    "No theory metrics (th_po, th_settle_2) are stored for these runs: the "
                    "predicted-vs-observed table is left out."
                )
            )
    if not parts:
        return Section(
            "Learning rate",
            note_html(
                "No optimizer was run at two or more learning rates, so there is no sensitivity "
                "to show "
                '(sweep one with e.g. -o "gd[lr=log(1e-3,1,7)]" or use optbench tune).'
            ),
        )
    return Section("Learning rate", "".join(parts), toc=toc)
