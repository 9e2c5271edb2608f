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
from optbench.report import Section, esc, note_html, table_html
from optbench.report.charts import HOW_TO_EXPLORE
from optbench.report.vega import chart_html
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


def family_colours(runs) -> dict[str, str]:
    """family -> colour, one for the whole report: the families of every run label in the
    order they first appear (a family reads the same on every problem)."""
    from matplotlib.colors import to_hex

    from optbench.report.figures import palette

    fams = list(dict.fromkeys(family_of(lab) for lab in dict.fromkeys(runs["label"].tolist())))
    return {f: to_hex(c) for f, c in zip(fams, palette(len(fams)), strict=True)}


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


def lr_points(data, families):
    """Per family and learning rate: the final gap's median and quartiles over its runs (a
    run that ended non-finite counts as ∞), the share diverged and the aRT to the target.

    Returns ``(rows, target, n_runs)``: rows of ``family, lr, med, q1, q3, bad, art``.
    """
    import numpy as np

    from optbench.stats import art

    target = LR_TARGET if data.known else REL_TARGETS[1]
    rows, n_runs = [], 0
    for fam, g in families.items():
        sub = data.select(data.runs.run_id.isin(set(g.run_id)).to_numpy())
        lrs = sub.runs["hp.lr"].astype(float).to_numpy()
        rt = sub.runtimes([target])[:, 0]
        raw_final = sub.runs["f_final"].astype(float).to_numpy() - (data.f_ref or 0.0)
        status = sub.runs.status.to_numpy()
        n_runs += len(lrs)
        for lr in np.unique(lrs):
            m = lrs == lr
            vals = np.where(np.isfinite(raw_final[m]), np.abs(raw_final[m]), np.inf)
            rows.append({
                "family": fam, "lr": float(lr), "runs": int(m.sum()),
                "med": float(np.median(vals)), "q1": float(np.percentile(vals, 25)),
                "q3": float(np.percentile(vals, 75)),
                "bad": float(np.mean(~np.isfinite(vals) | (status[m] == "diverged"))),
                "art": float(art(rt[m], sub.used[m])),
            })
    return rows, target, n_runs


def _theory_layers(L, mu, lo, hi):
    """The regimes of gradient descent on a quadratic as shaded bands, 1/L and 2/L (and
    2/(μ+L)) as rules named on top: Vega-Lite layers (empty without L)."""
    if not L:
        return []
    bands = [(min(lo, 1 / L) / 2, 1 / L, "monotone (η < 1/L)", "#029e73", 0.08),
             (1 / L, 2 / L, "oscillating (1/L < η < 2/L)", "#de8f05", 0.1),
             (2 / L, max(hi, 2 / L) * 2, "divergent (η > 2/L)", "#d55e00", 0.08)]
    rules = [(1 / L, "1/L", [5, 3]), (2 / L, "2/L", [2, 2])]
    if mu and mu < L:  # named in the caption: its label would sit on 2/L's
        rules.append((2 / (mu + L), "", [6, 2, 1, 2]))
    layers = [{
        "data": {"values": [{"a": a, "b": b, "regime": r}]},
        "mark": {"type": "rect", "color": c, "opacity": o, "clip": True},
        "encoding": {"x": {"field": "a", "type": "quantitative"}, "x2": {"field": "b"},
                     "tooltip": [{"field": "regime", "type": "nominal",
                                  "title": "gradient descent on a quadratic"}]},
    } for a, b, r, c, o in bands]
    for x, text, dash in rules:
        if not lo / 1.5 <= x <= hi * 1.5:
            continue  # a line off the axis has no label either
        layers.append({"data": {"values": [{"a": x, "t": text}]},
                       "mark": {"type": "rule", "color": "#222", "strokeDash": dash,
                                "strokeWidth": 0.9},
                       "encoding": {"x": {"field": "a", "type": "quantitative"}}})
        if not text:
            continue
        layers.append({"data": {"values": [{"a": x, "t": text}]},
                       "mark": {"type": "text", "y": -6, "fontSize": 10, "baseline": "bottom"},
                       "encoding": {"x": {"field": "a", "type": "quantitative"},
                                    "text": {"field": "t"}}})
    return layers


def lr_chart(data, rows, target, colours, with_art):
    """The learning-rate figure as a Vega-Lite spec: the final gap (median, IQR band, ×
    where most runs diverged) and, when some run reached the target, the aRT, against the
    learning rate on log axes, over the theory's regimes where L is known."""
    import numpy as np

    from optbench.report.charts import log_labels, sig

    L, mu = data.info.get("L"), data.info.get("mu")
    lrs = [r["lr"] for r in rows]
    lo, hi = min(lrs), max(lrs)
    fin = [r["med"] for r in rows if np.isfinite(r["med"])]
    cap = 1e12 * max(1.0, max(fin, default=1.0))
    floor = data.floor
    order = list(dict.fromkeys(r["family"] for r in rows))
    table = []
    for r in rows:
        div = r["bad"] >= 0.5
        table.append({
            "family": r["family"], "lr": float(sig(r["lr"])),
            "etaL": float(sig(r["lr"] * L)) if L else None,
            "runs": r["runs"], "div": div, "bad": round(r["bad"], 3),
            # the drawn values, clipped to the axis (a diverged rate sits on the top edge)
            "med": float(sig(np.clip(r["med"], floor, cap))),
            "q1": float(sig(np.clip(r["q1"], floor, cap))),
            "q3": float(sig(np.clip(r["q3"], floor, cap))),
            "gap": "∞" if not np.isfinite(r["med"]) else f"{r['med']:.4g}",
            "art": float(sig(r["art"])) if np.isfinite(r["art"]) else None,
        })
    x = {"field": "lr", "type": "quantitative", "title": "learning rate η",
         "scale": {"type": "log", "domain": [lo / 1.5, hi * 1.5], "nice": False},
         "axis": {"labelExpr": log_labels([lo / 1.5, hi * 1.5]), "labelOverlap": "greedy"}}
    colour = {"field": "family", "type": "nominal", "sort": order, "title": None,
              "scale": {"domain": order, "range": [colours[f] for f in order]},
              "legend": {"orient": "bottom", "columns": 3, "labelLimit": 360,
                         "symbolType": "stroke", "symbolOpacity": 1,
                         "symbolStrokeWidth": 2}}
    faded = {"condition": {"param": "pick", "value": 1.0}, "value": 0.12}
    tip = [{"field": "family", "type": "nominal"},
           {"field": "lr", "type": "quantitative", "title": "η", "format": ".4~g"}]
    if L:
        tip.append({"field": "etaL", "type": "quantitative", "title": "η·L", "format": ".3~g"})
    tip += [{"field": "gap", "type": "nominal", "title": "final gap (median)"},
            {"field": "bad", "type": "quantitative", "title": "share diverged",
             "format": ".0%"},
            {"field": "art", "type": "quantitative", "title": "aRT", "format": ".4~g"},
            {"field": "runs", "type": "quantitative"}]
    ref = "f*" if data.known else "f_best"
    gap_y = {"field": "med", "type": "quantitative", "title": f"|f(x_T) − {ref}| (final)",
             "scale": {"type": "log"},
             "axis": {"labelExpr": log_labels([v for r in table for v in (r["q1"], r["q3"])]),
                      "labelOverlap": "greedy"}}
    ok = {"filter": "!datum.div"}
    enc = {"x": x, "color": colour, "opacity": faded}
    left = [
        *_theory_layers(L, mu, lo, hi),
        {"transform": [ok], "mark": {"type": "area", "opacity": 0.15},
         "encoding": {"x": x, "color": colour, "y": {**gap_y, "field": "q1"},
                      "y2": {"field": "q3"}, "opacity": {"value": 0.15}}},
        {"transform": [ok], "mark": {"type": "line", "point": True, "strokeWidth": 1.6},
         "encoding": {**enc, "y": gap_y, "tooltip": tip}, "name": "gapview",
         "params": [{"name": "zoomgap", "select": {"type": "interval", "encodings": ["x", "y"]},
                     "bind": "scales"}]},
        {"transform": [{"filter": "datum.div"}],
         "mark": {"type": "point", "shape": "cross", "angle": 45, "size": 80, "filled": True},
         "encoding": {**enc, "y": gap_y, "tooltip": tip}},
    ]
    views = ["gapview"]
    panels = [{"title": "final gap: median, IQR (× = most runs diverged)",
               "width": 430 if with_art else 620, "height": 270, "layer": left}]
    if with_art:
        what = f"Δf ≤ {target_key(target)}" if data.known else f"τ = {target_key(target)}"
        art_y = {"field": "art", "type": "quantitative", "title": "aRT (evaluations)",
                 "scale": {"type": "log"},
                 "axis": {"labelExpr": log_labels([r["art"] for r in table if r["art"]]),
                          "labelOverlap": "greedy"}}
        views.append("artview")
        panels.append({"title": f"time to target {what} (aRT)", "width": 430, "height": 270,
                       "layer": [
                           *_theory_layers(L, mu, lo, hi),
                           {"transform": [{"filter": "isValid(datum.art)"}],
                            "mark": {"type": "line", "point": True, "strokeWidth": 1.6},
                            "encoding": {**enc, "y": art_y, "tooltip": tip}, "name": "artview",
                            "params": [{"name": "zoomart",
                                        "select": {"type": "interval", "encodings": ["x", "y"]},
                                        "bind": "scales"}]}]})
    return {
        "datasets": {"lr": table},
        "data": {"name": "lr"},
        "params": [{"name": "pick", "select": {"type": "point", "fields": ["family"]},
                    "bind": "legend", "views": views}],
        "hconcat": panels,
        "resolve": {"scale": {"y": "independent"}},
        "config": {"view": {"stroke": None}},
    }


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
    # whole columns once, then numpy per label: a pandas call per label and column was most
    # of the Learning rate section's time
    labels = runs["label"].to_numpy()
    lr_all = runs["hp.lr"].astype(float).to_numpy()
    theory = {th: runs[th].to_numpy() for th, _ in present}
    numeric = {th: pd.to_numeric(runs[th]).to_numpy(dtype=float)
               for th, _ in present if th not in STR_THEORY}
    observed = {obs: (pd.to_numeric(runs[obs], errors="coerce").to_numpy(dtype=float)
                      if obs in runs else np.full(len(runs), np.nan))
                for _, obs in present if obs is not None}
    rows = []
    for label in dict.fromkeys(labels):
        m = labels == label
        if pd.isna(theory[present[0][0]][m]).all():
            continue
        lr = lr_all[m]
        lr = float(np.median(lr[~np.isnan(lr)])) if (~np.isnan(lr)).any() else np.nan
        row = {"optimizer": label, "runs": int(m.sum()), "η·L": lr * L if L else np.nan}
        for th, obs in present:
            if th in STR_THEORY:
                vals = [v for v in theory[th][m] if not pd.isna(v)]
                row[f"{th} (theory)"] = _mode(vals) if vals else np.nan
            else:
                vals = numeric[th][m]
                vals = vals[~np.isnan(vals)]
                row[f"{th} (theory)"] = float(np.median(vals)) if len(vals) else np.nan
            if obs is None:
                continue
            o = observed[obs][m]
            if obs in NEVER_IS_INF:
                row[f"{obs} (observed median)"] = float(np.median(np.where(np.isnan(o), np.inf,
                                                                           o)))
                row["not settled"] = int(np.isnan(o).sum())
            else:
                o = o[~np.isnan(o)]
                row[f"{obs} (observed median)"] = float(np.median(o)) if len(o) else np.nan
        rows.append(row)
    return pd.DataFrame(rows) if rows else None


def _mode(values: list):
    """The most common value; the smallest of the most common on a tie (as pandas'
    ``Series.mode().iloc[0]``)."""
    from collections import Counter

    counts = Counter(values)
    top = max(counts.values())
    return min(v for v, c in counts.items() if c == top)


@register_section("learning-rate", order=30)
def learning_rate(ctx) -> Section | None:
    """Learning-rate sensitivity against the theory."""
    import numpy as np

    data = problem_data(ctx)
    colours = family_colours(ctx.runs)
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
            rows, target, n_runs = lr_points(d, families)
            with_art = any(np.isfinite(r["art"]) for r in rows)
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
            what = f"Δf ≤ {target_key(target)}" if d.known else f"τ = {target_key(target)}"
            right = (
                "; right, aRT to the target (evaluations; missing where no run reached it)"
                if with_art else ""
            )
            parts.append(
                chart_html(
                    lr_chart(d, rows, target, colours, with_art),
                    f"learning-rate sensitivity on {d.title}",
                    (
                        f"{d.title}: left, the final gap |f(x_T) − f_ref| (median and IQR over "
                        f"seeds) against the learning rate, log–log{right}. One line per "
                        f"family of {len(families)} swept; {n_runs} runs. {bands} "
                        f"{HOW_TO_EXPLORE}"
                    ),
                    name=f"learning-rate-{key}",
                )
            )
            if not with_art:
                parts.append(note_html(
                    f"Time to target: no run of any family reached {what} at any learning "
                    "rate within its budget, so there is no time to target to draw (the "
                    "final gap on the left shows how close each rate came)."))
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
