"""What this run shows: a few sentences at the top of the page, each generated from the runs
(medians over seeds) and said only when the data hold it.

* **The learning-rate lesson**, on the first problem with a known curvature L where plain
  gradient descent ran at several constant rates: the smallest rate against the fastest one
  ("too small is slow"), the largest rate below 2/L that settled (its overshoot, crossings
  of the minimum and 2 % settling time, beside what the quadratic theory predicts), and a
  rate that diverged.
* **Gradient noise**, on a problem with minibatch gradients where gd ran at one rate both
  constant and with a decaying schedule: the final gaps of the two.

With several stores only the baseline's runs speak here; the Comparison section compares.
"""

from __future__ import annotations

import math

from optbench import register_section
from optbench.report import Section, esc

AGREE = 0.1  # observed within 10 % of the theory: "as the theory predicts"


def _median(series) -> float:
    import numpy as np

    v = series.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else math.nan


def _n(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "—"


def _constant(runs):
    """gd runs at a constant rate (no schedule, or ``constant()``)."""
    sched = runs["hp.schedule"] if "hp.schedule" in runs else None
    plain = runs.optimizer == "gd"
    if sched is not None:
        plain &= sched.isna() | sched.astype(str).str.startswith("constant")
    return runs[plain]


def rate_lesson(runs, problems, title) -> list[str]:
    """Sentences on gd's constant rates over one problem with a known L."""
    for key in dict.fromkeys(runs.problem_key):
        L = (problems.get(key) or {}).get("L")
        if not L or "hp.lr" not in runs:
            continue
        gd = _constant(runs[runs.problem_key == key])
        if gd.label.nunique() < 3:
            continue
        rows = []
        for lab, g in gd.groupby("label", sort=False):
            rows.append({
                "label": lab,
                "k": _median(g["hp.lr"]) * L,
                "n": len(g),
                "diverged": int((g.status == "diverged").sum()),
                "art": _median(g["hit_cost_1e-6"]) if "hit_cost_1e-6" in g else math.nan,
                "reached": int(g["hit_cost_1e-6"].notna().sum()) if "hit_cost_1e-6" in g else 0,
                "po": _median(g["po"]) if "po" in g else math.nan,
                "cross": _median(g["n_cross"]) if "n_cross" in g else math.nan,
                "settle": _median(g["t_settle_2"]) if "t_settle_2" in g else math.nan,
                "th_po": _median(g["th_po"]) if "th_po" in g else math.nan,
                "th_settle": _median(g["th_settle_2"]) if "th_settle_2" in g else math.nan,
            })
        rows.sort(key=lambda r: r["k"])
        out = []
        ok = [r for r in rows if r["reached"] == r["n"] and math.isfinite(r["art"])]
        if ok:
            fast = min(ok, key=lambda r: r["art"])
            slow = rows[0]
            if slow is not fast and slow["k"] < fast["k"]:
                if slow["reached"] < slow["n"]:
                    tail = (f"{slow['n'] - slow['reached']} of its {slow['n']} runs never got "
                            "there within the budget")
                else:
                    tail = f"it needed {_n(slow['art'])} (median)"
                out.append(
                    f"On {title(key)}, gd reached Δf ≤ 1e-6 fastest at {fast['label']} "
                    f"({_n(fast['art'])} evaluations, median of {fast['n']} seeds); at "
                    f"{slow['label']} {tail}: a rate too small is slow."
                )
        osc = [r for r in rows if r["k"] < 2 and r["diverged"] == 0 and r["po"] > 0
               and math.isfinite(r["settle"])]
        if osc:
            r = max(osc, key=lambda r: r["k"])
            agree = all(math.isfinite(t) and abs(o - t) <= AGREE * max(abs(t), 1e-12)
                        for o, t in ((r["po"], r["th_po"]), (r["settle"], r["th_settle"])))
            theory = (
                " — as the theory predicts" if agree else
                f" (the theory predicts {_n(r['th_po'])} % and {_n(r['th_settle'])} updates)"
            )
            out.append(
                f"At {r['label']} it overshot the minimum by {_n(r['po'])} %, crossed it "
                f"{_n(r['cross'])} times and settled within 2 % in {_n(r['settle'])} "
                f"updates{theory}."
            )
        div = [r for r in rows if r["diverged"]]
        if div:
            r = min(div, key=lambda r: r["k"])
            out.append(f"At {r['label']} it diverged ({r['diverged']} of {r['n']} runs), "
                       "beyond the 2/L limit.")
        if out:
            return out
    return []


def noise_lesson(runs, problems, title) -> list[str]:
    """Constant against decaying rate of gd on a problem with minibatch gradients."""
    for key in dict.fromkeys(runs.problem_key):
        params = (problems.get(key) or {}).get("params", {})
        if params.get("batch_size") is None or "hp.lr" not in runs:
            continue
        on = runs[(runs.problem_key == key) & (runs.optimizer == "gd")]
        const = _constant(on)
        decay = on[~on.index.isin(const.index)]
        for lab, g in decay.groupby("label", sort=False):
            lr = _median(g["hp.lr"])
            same = const[(const["hp.lr"] - lr).abs() <= 1e-12 * abs(lr)]
            if not len(same):
                continue
            gd, gc = _median(g["gap_final"]), _median(same["gap_final"])
            if not (math.isfinite(gd) and math.isfinite(gc)):
                continue
            word = "below" if gd < gc else "above"
            return [
                f"On {title(key)} (minibatch gradients of {params['batch_size']}), "
                f"{same.label.iloc[0]} stalled at the floor its gradient noise sets: a median "
                f"final gap of {_n(gc)}; {lab} ended {word} it, at {_n(gd)}."
            ]
    return []


@register_section("lesson", order=2)
def lesson(ctx) -> Section | None:
    """What this run shows, from the data."""
    runs = ctx.runs
    if not len(runs):
        return None
    if len(ctx.sources) > 1:
        runs = runs[runs.source == ctx.baseline].assign(label=lambda f: f.spec_label)
    sentences = (rate_lesson(runs, ctx.problems, ctx.problem_title)
                 + noise_lesson(runs, ctx.problems, ctx.problem_title))
    if not sentences:
        return None
    note = (f" (the runs of the baseline, {ctx.baseline})" if len(ctx.sources) > 1 else "")
    return Section(
        "What this run shows",
        f"<p class='lead'>{esc(' '.join(sentences))}</p>"
        f"<p class='note'>Generated from the stored runs{esc(note)}: medians over seeds; "
        "the sections below hold every number.</p>",
    )
