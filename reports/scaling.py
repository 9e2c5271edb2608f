"""Scaling: measured linear rates against the predicted ones across condition number κ and
dimension d (``optbench run --suite scaling``, ``docs/scaling.md``).

On ``ill-conditioned-quadratic[kappa=κ,d=d]`` (eigenvalues from μ = 1 to L = κ) each run
of a tuned family is recognised from its resolved hyperparameters and the problem's L and
μ: GD at 1/L (rate 1 − 1/κ), GD at 2/(L + μ) ((κ − 1)/(κ + 1)), heavy ball at its optimal
tuning ((√κ − 1)/(√κ + 1)), Nesterov at its standard one (1 − 1/√κ) and Adam at its
defaults (measured only). The measured rate is ``rate_x_pole`` (a fit that allows the
``t·ρ^t`` error of a double pole, which both momentum methods have at these tunings);
``rate_x`` (the plain fit) is tabled beside it. Other problems of the suite (Rosenbrock,
logistic regression) have no constant Hessian and no predicted rate: they are tabled
across dimension, measured only. The section appears only when the store holds runs of
a recognised family on that quadratic.
"""

from __future__ import annotations

import math

from optbench import register_section
from optbench.report import Section, figure_html, note_html, plain, table_html
from optbench.report.figures import palette

QUADRATIC = "ill-conditioned-quadratic"
MEASURED = "rate_x_pole"  # the measured rate the section compares
TARGET_KEY = "1e-6"  # updates to this gap: hit_iter_1e-6
RTOL = 1e-9  # a resolved value equals a tuning's to rounding

# family -> (its predicted rate from κ, the curve's name, the bound the suite's test uses)
FAMILIES = {
    "GD, lr = 1/L": (lambda k: 1 - 1 / k, "1 − 1/κ", 0.05),
    "GD, lr = 2/(L+μ)": (lambda k: (k - 1) / (k + 1), "(κ − 1)/(κ + 1)", 0.05),
    "heavy ball, optimal": (
        lambda k: (math.sqrt(k) - 1) / (math.sqrt(k) + 1), "(√κ − 1)/(√κ + 1)", 0.10
    ),
    "Nesterov, standard": (lambda k: 1 - 1 / math.sqrt(k), "1 − 1/√κ", 0.10),
}
MEASURED_ONLY = "Adam, defaults"


def _close(a, b) -> bool:
    try:
        return abs(float(a) - float(b)) <= RTOL * abs(float(b))
    except (TypeError, ValueError):
        return False


def family(optimizer: str, lr, momentum, L: float, mu: float) -> str | None:
    """The tuned family a run belongs to, from its resolved ``lr`` and ``momentum`` and
    the problem's L and μ; None for any other setting."""
    import numpy as np

    if not (L and mu) or not (0 < mu <= L):
        return None
    r = (math.sqrt(L / mu) - 1) / (math.sqrt(L / mu) + 1)
    if optimizer == "gd":
        if _close(lr, 1 / L):
            return "GD, lr = 1/L"
        if _close(lr, 2 / (L + mu)):
            return "GD, lr = 2/(L+μ)"
    elif optimizer == "momentum":
        if _close(lr, 4 / (np.sqrt(L) + np.sqrt(mu)) ** 2) and _close(momentum, r * r):
            return "heavy ball, optimal"
    elif optimizer == "nesterov":
        if _close(lr, 1 / L) and _close(momentum, r):
            return "Nesterov, standard"
    elif optimizer == "adam":
        return MEASURED_ONLY
    return None


def scaling_frame(runs, problems):
    """One row per run of a recognised family on the quadratic: ``family``, ``kappa``,
    ``d``, ``seed``, ``status``, the predicted ``rate`` (the closed form of its family; NaN
    for Adam), ``th_rate_x`` as stored, the measured ``rate_x_pole`` and ``rate_x``, the
    relative error in 1 − rate ``rel_err`` and the updates to 1e-6 ``updates``."""
    import numpy as np
    import pandas as pd

    if not len(runs) or "problem" not in runs:
        return pd.DataFrame()
    sub = runs[runs.problem == QUADRATIC]
    rows = []
    for _, r in sub.iterrows():
        info = problems.get(r.problem_key, {})
        L, mu = info.get("L"), info.get("mu")
        fam = family(r.optimizer, r.get("hp.lr"), r.get("hp.momentum"), L, mu)
        if fam is None:
            continue
        kappa = L / mu
        pred = FAMILIES[fam][0](kappa) if fam in FAMILIES else np.nan
        meas = float(r.get(MEASURED, np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            err = abs((1 - meas) - (1 - pred)) / (1 - pred) if fam in FAMILIES else np.nan
        rows.append({
            "family": fam,
            "kappa": kappa,
            "d": int(info.get("dim") or r.get("pp.d")),
            "seed": r.seed,
            "status": r.status,
            "rate": pred,
            "th_rate_x": float(r.get("th_rate_x", np.nan)),
            "rate_x_pole": meas,
            "rate_x": float(r.get("rate_x", np.nan)),
            "rel_err": err,
            "updates": float(r.get(f"hit_iter_{TARGET_KEY}", np.nan)),
        })
    return pd.DataFrame(rows)


def family_errors(frame):
    """Per family with a prediction: runs, runs with a measured rate, the median relative
    error in 1 − rate over them, its bound and whether the median meets it."""
    import pandas as pd

    rows = []
    for fam, (_, curve, bound) in FAMILIES.items():
        g = frame[frame.family == fam] if len(frame) else frame
        if not len(g):
            continue
        err = g.rel_err.dropna()
        med = float(err.median()) if len(err) else float("nan")
        rows.append({
            "family": fam,
            "predicted rate": curve,
            "runs": len(g),
            "measured": len(err),
            "median rel. error in 1 − rate": med,
            "bound": bound,
            "within": "yes" if med <= bound else "no",
        })
    return pd.DataFrame(rows)


def _colors():
    return dict(zip([*FAMILIES, MEASURED_ONLY], palette(len(FAMILIES) + 1), strict=True))


def kappa_figure(frame):
    """Left: measured 1 − rate against κ (medians over seeds, a marker per d) with the
    theory's curves; right: updates to 1e-6 against κ, with slopes ∝ κ and ∝ √κ."""
    import matplotlib.pyplot as plt
    import numpy as np

    from optbench.report.figures import layout, log_axes

    colors = _colors()
    markers = dict(zip(sorted(frame.d.unique()), "os^Dv<>", strict=False))
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2))
    layout(fig, left=0.75, bottom=1.0, top=0.4, wspace=0.35)
    ks = np.array(sorted(frame.kappa.unique()))
    grid = np.geomspace(ks.min(), ks.max(), 64) if len(ks) > 1 else ks
    handles = []
    for fam, g in frame.groupby("family", sort=False):
        c = colors[fam]
        med = g.groupby(["kappa", "d"])[[MEASURED, "updates"]].median().reset_index()
        for d, m in med.groupby("d"):
            one_minus = 1 - m[MEASURED].to_numpy()
            ok = np.isfinite(one_minus) & (one_minus > 0)
            axes[0].plot(m.kappa[ok], one_minus[ok], ls="none", marker=markers.get(d, "o"),
                         color=c, ms=5, mfc="none" if d != min(markers) else c)
            upd = m.updates.to_numpy()
            fin = np.isfinite(upd)
            axes[1].plot(m.kappa[fin], upd[fin], ls="none", marker=markers.get(d, "o"),
                         color=c, ms=5, mfc="none" if d != min(markers) else c)
        if fam in FAMILIES:
            rate, curve, _ = FAMILIES[fam]
            (h,) = axes[0].plot(grid, [1 - rate(k) for k in grid], color=c, lw=1.2,
                                label=plain(f"{fam}: {curve}"))
        else:
            (h,) = axes[0].plot([], [], color=c, marker="o", ls="none",
                                label=plain(f"{fam} (measured only)"))
        handles.append(h)
    for d, mk in markers.items():
        handles.append(axes[0].plot([], [], ls="none", marker=mk, color="#444",
                                    mfc="#444" if d == min(markers) else "none",
                                    label=f"d = {d}")[0])
    for slope, text, ls in ((1.0, "∝ κ", ":"), (0.5, "∝ √κ", "--")):
        ref = frame[frame.family == ("GD, lr = 1/L" if slope == 1 else "heavy ball, optimal")]
        base = ref[ref.kappa == ks.min()].updates.median() if len(ref) else np.nan
        if np.isfinite(base):
            axes[1].plot(grid, base * (grid / ks.min()) ** slope, color="#777", lw=0.9, ls=ls)
            axes[1].text(grid[-1], base * (grid[-1] / ks.min()) ** slope, f" {text}",
                         fontsize=7.5, va="center", color="#555")
    for ax in axes:
        log_axes(ax)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlabel("condition number κ = L/μ")
    axes[0].set_ylabel("1 − rate (per update)")
    axes[0].set_title("measured linear rate (markers) and theory (lines)")
    axes[1].set_ylabel("updates to gap ≤ 1e-6")
    axes[1].set_title("updates to 1e-6 (markers); reference slopes (grey)")
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7.5, frameon=False)
    return fig


def dim_figure(frame):
    """One panel per predicted family: the measured 1 − rate over the predicted one against
    d, a line per κ; 1 means the prediction, the shaded band the family's bound."""
    import matplotlib.pyplot as plt
    import numpy as np

    from optbench.report.figures import layout

    fams = [f for f in FAMILIES if (frame.family == f).any()]
    fig, axes = plt.subplots(1, len(fams), figsize=(2.7 * len(fams) + 0.6, 3.2), squeeze=False,
                             sharey=True)
    axes = axes[0]
    layout(fig, left=0.75, bottom=0.95, top=0.4, wspace=0.15)
    ks = sorted(frame.kappa.unique())
    kcol = dict(zip(ks, palette(len(ks)), strict=True))
    handles = {}
    top = 1.25
    for ax, fam in zip(axes, fams, strict=True):
        rate, _, bound = FAMILIES[fam]
        g = frame[frame.family == fam]
        med = g.groupby(["kappa", "d"])[MEASURED].median().reset_index()
        ax.axhspan(1 - bound, 1 + bound, color="#029e73", alpha=0.1, lw=0)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        for k, m in med.groupby("kappa"):
            ratio = (1 - m[MEASURED].to_numpy()) / (1 - rate(k))
            (h,) = ax.plot(m.d, ratio, marker="o", ms=4, color=kcol[k], lw=1.2)
            handles[k] = h
            top = max(top, float(np.nanmax(ratio, initial=1.0)) * 1.05)
        ax.set_xscale("log")
        ax.set_xticks(sorted(frame.d.unique()))
        ax.set_xticklabels([str(d) for d in sorted(frame.d.unique())])
        ax.minorticks_off()
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(plain(f"{fam} (±{bound:.0%})"), fontsize=9)
        ax.set_xlabel("dimension d")
    axes[0].set_ylim(max(0.0, 2 - top), top)
    axes[0].set_ylabel("(1 − measured) / (1 − predicted)")
    fig.legend([handles[k] for k in ks], [f"κ = {k:g}" for k in ks], loc="lower center",
               ncol=len(ks), fontsize=7.5, frameon=False)
    return fig


def detail_table(frame):
    """Per family, κ and d: medians over seeds."""
    import pandas as pd

    rows = []
    for (fam, k, d), g in frame.groupby(["family", "kappa", "d"], sort=False):
        rows.append({
            "family": fam,
            "κ": k,
            "d": d,
            "runs": len(g),
            "predicted rate": g.rate.median(),
            "rate_x_pole (measured)": g.rate_x_pole.median(),
            "rate_x (plain fit)": g.rate_x.median(),
            "rel. error in 1 − rate": g.rel_err.median(),
            "updates to 1e-6": g.updates.median(),
        })
    return pd.DataFrame(rows)


def measured_only_table(runs, problems):
    """Runs of the suite's other problems (no predicted rate), per problem, dimension and
    optimizer: the statuses, the measured rate and the updates to 1e-6."""
    import numpy as np
    import pandas as pd

    other = runs[runs.problem != QUADRATIC] if len(runs) else runs
    rows = []
    for (prob, label), g in other.groupby(["problem_key", "label"], sort=False):
        info = problems.get(prob, {})
        statuses = g.status.value_counts()
        rate = pd.to_numeric(g.get(MEASURED), errors="coerce").dropna()
        upd = pd.to_numeric(g.get(f"hit_iter_{TARGET_KEY}"), errors="coerce")
        rows.append({
            "problem": info.get("name") or g.problem.iloc[0],
            "dimension": info.get("dim"),
            "optimizer": label,
            "runs": len(g),
            "statuses": ", ".join(f"{n} {s}" for s, n in statuses.items()),
            "rate_x_pole (measured)": float(rate.median()) if len(rate) else np.nan,
            "updates to 1e-6": float(upd.median()) if upd.notna().any() else np.nan,
        })
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    order = frame.sort_values(["problem", "dimension"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _in_suite(ctx):
    """The runs of the stores' scaling sessions' problems other than the quadratic: those
    of a session that also ran the quadratic with a recognised family."""
    import json

    keys: set[str] = set()
    for session in ctx.sessions or []:
        spec = session.get("spec")
        try:
            spec = json.loads(spec) if isinstance(spec, str) else spec
        except ValueError:
            continue
        probs = spec.get("problems") if isinstance(spec, dict) else None
        if probs and any(str(p).startswith(QUADRATIC) for p in probs):
            keys |= {str(p).split("[")[0] for p in probs}
    keys.discard(QUADRATIC)
    runs = ctx.runs
    return runs[runs.problem.isin(keys)] if keys else runs.iloc[:0]


@register_section("scaling", order=35)
def scaling(ctx) -> Section | None:
    """Measured against predicted linear rates across κ and d (only where the store holds
    runs of a tuned family on ``ill-conditioned-quadratic``)."""
    frame = scaling_frame(ctx.runs, ctx.problems)
    if not len(frame) or not frame.family.isin(list(FAMILIES)).any():
        return None
    parts = []
    predicted = frame[frame.family.isin(list(FAMILIES))]
    n_k, n_d = predicted.kappa.nunique(), predicted.d.nunique()
    parts.append(figure_html(
        kappa_figure(frame),
        "measured linear rate and updates to 1e-6 against the condition number",
        (f"ill-conditioned-quadratic over {n_k} condition numbers κ and {n_d} dimensions d "
         f"({len(frame)} runs). Left: 1 − rate, the measured rate_x_pole (median over seeds; "
         "filled markers the smallest d) against the predicted 1 − 1/κ (GD at 1/L), "
         "(κ − 1)/(κ + 1) (GD at 2/(L + μ)), (√κ − 1)/(√κ + 1) (heavy ball at its optimum) "
         "and 1 − 1/√κ (Nesterov at its standard tuning), each drawn as 1 − rate. Right: "
         "updates until the gap first reaches 1e-6; the grey lines are slopes ∝ κ and ∝ √κ "
         "through the smallest κ, for reading the growth, not predictions. Adam at its "
         "defaults is measured only."),
        tight=False,
    ))
    parts.append(figure_html(
        dim_figure(predicted),
        "measured linear rate against the dimension",
        ("The measured 1 − rate divided by the predicted one against the dimension d, one "
         "line per κ (medians over seeds); 1 (dashed) is the prediction, the shaded band "
         "the family's bound. On these quadratics the rate depends on μ and L only, not "
         "on d. Where d is large, eigenvalues just above μ decay almost as slowly as μ "
         "itself, so a fit over a finite window can read a rate a few per cent off."),
        tight=False,
    ))
    parts.append(table_html(
        family_errors(frame),
        ("Per family: the median over its runs of the relative error "
         "|(1 − measured) − (1 − predicted)| / (1 − predicted), measured = rate_x_pole, and "
         "the bound it is held to (5 % for GD, 10 % for the momentum methods). Heavy ball "
         "and Nesterov have a double pole at these tunings, so their error decays as "
         "t·ρ^t: the plain fit rate_x reads the factor t as a slower rate, rate_x_pole "
         "fits it (docs/scaling.md)."),
        "scaling-errors.csv",
    ))
    parts.append(table_html(
        detail_table(frame),
        ("Per family, κ and d, medians over seeds: the predicted rate, the measured "
         "rate_x_pole and the plain fit rate_x, the relative error in 1 − rate and the "
         "updates to a gap of 1e-6 (empty: not reached within the budget)."),
        "scaling-runs.csv",
    ))
    others = _in_suite(ctx)
    table = measured_only_table(others, ctx.problems) if len(others) else None
    if table is not None:
        parts.append(table_html(
            table,
            ("Measured only: the suite's problems without a constant Hessian (Rosenbrock, "
             "logistic regression) across dimension. No rate is predicted for them; the "
             "tunings resolve from L and μ at the minimiser, which need not hold along the "
             "way (a run that diverges says so)."),
            "scaling-measured-only.csv",
        ))
    else:
        parts.append(note_html(
            "No Rosenbrock or logistic-regression runs of a scaling session are stored: the "
            "measured-only table is left out."
        ))
    return Section("Scaling", "".join(parts))
