"""Held-out loss: training and test loss side by side, for problems that record a test loss
(and the test accuracy, for classifiers that record one: the trace's ``test_acc``).

A problem with ``Problem(test_f=...)`` (the small-ML tier) has its held-out loss recorded at
every iterate (the trace's ``test_f``). For each such problem this section draws the
training loss f and the test loss against evaluations for the sample runs of every
optimizer (the lowest seeds, as the per-problem figures use), and tables their final and
best values; a test loss that rises while the training loss falls is overfitting.
"""

from __future__ import annotations

from optbench import register_section
from optbench.report import Section, esc, table_html
from optbench.report.charts import HOW_TO_EXPLORE, label_colours
from optbench.report.vega import chart_html
from optbench.stats.curves import problem_data


def _samples(data):
    """label -> [(row, trace)] of the sample runs that recorded a test loss."""
    out = {}
    for label in dict.fromkeys(data.runs[data.has].label):
        runs = [(row, tr) for row, tr in data.samples(label) if "test_f" in tr]
        if runs:
            out[label] = runs
    return out


TRACE_POINTS = 120  # points kept of each sample trace (evenly spaced, the last included)
PANELS = (("f", "training loss f", True), ("test_f", "test loss (held out)", True),
          ("test_acc", "test accuracy (held out)", False))
def _log_labels(rows, key) -> str:
    from optbench.report.charts import log_labels

    return log_labels([a for r in rows for a in r[key] if a is not None])


def _thin(n: int, k: int = TRACE_POINTS):
    import numpy as np

    return np.unique(np.r_[np.linspace(0, n - 1, min(n, k)).round().astype(int), n - 1])


def held_out_chart(samples: dict, colours: dict):
    """The training loss, the test loss (and a classifier's test accuracy) of the sample
    runs against evaluations, as a Vega-Lite spec: a panel each, a line per run (the
    lowest seed bold), hover values on the bold runs, legend picking, zoom on each panel.
    Losses on log axes with labelled ticks at 1, 2 and 5 of each decade."""
    import numpy as np

    from optbench.report.charts import sig

    keys = [k for k, _, _ in PANELS if k != "test_acc"]
    if all("test_acc" in tr for runs in samples.values() for _, tr in runs):
        keys.append("test_acc")  # a classifier's held-out accuracy
    order = list(samples)
    rows = []
    for label, runs in samples.items():
        for k, (row, tr) in enumerate(runs):
            evals = np.asarray(tr["n_f"], dtype=float) + np.asarray(tr["n_g"], dtype=float)
            keep = _thin(len(evals))
            rows.append({"label": label, "seed": int(row.seed), "bold": k == 0,
                         "x": sig(evals[keep]).tolist(),
                         **{key: [v if np.isfinite(v) else None
                                  for v in sig(np.asarray(tr[key], dtype=float)[keep])]
                            for key in keys}})
    colour = {"field": "label", "type": "nominal", "sort": order, "title": None,
              "scale": {"domain": order, "range": [colours[lab] for lab in order]},
              "legend": {"orient": "bottom", "columns": 3, "labelLimit": 360,
                         "symbolType": "stroke", "symbolOpacity": 1, "symbolStrokeWidth": 2}}
    pick = {"condition": {"param": "pick", "value": 1.0}, "value": 0.08}
    x = {"field": "x", "type": "quantitative", "title": "evaluations (n_f + n_g)",
         "axis": {"format": "~s", "tickCount": 6}}
    panels, views = [], []
    width = 300 if len(keys) == 3 else 460
    for key in keys:
        name, log = next((n, lg) for k, n, lg in PANELS if k == key)
        y = {"field": key, "type": "quantitative", "title": None,
             "scale": {"type": "log", "nice": False} if log else {"zero": False},
             "axis": ({"labelExpr": _log_labels(rows, key), "tickCount": 10,
                       "labelOverlap": "greedy"} if log
                      else {"format": ".0%", "tickCount": 6})}
        view = f"held_{key}"
        views.append(view)
        flat = [{"flatten": ["x", *keys]}, {"filter": f"isValid(datum['{key}'])"}]
        if log:
            flat.append({"filter": f"datum['{key}'] > 0"})
        tip = [{"field": "label", "type": "nominal", "title": "optimizer"},
               {"field": "seed", "type": "quantitative"},
               {"field": "x", "type": "quantitative", "title": "evaluations"},
               {"field": key, "type": "quantitative", "title": name, "format": ".4~g"}]
        panels.append({"title": name, "width": width, "height": 230, "layer": [
            {"name": view, "transform": flat,
             "mark": {"type": "line", "clip": True},
             "encoding": {"x": x, "y": y, "color": colour, "detail": {"field": "seed"},
                          "order": {"value": None},
                          "strokeWidth": {"condition": {"test": "datum.bold", "value": 1.5},
                                          "value": 0.7},
                          "opacity": pick},
             "params": [{"name": f"zoom_{key}",
                         "select": {"type": "interval", "encodings": ["x", "y"]},
                         "bind": "scales"}]},
            {"transform": [*flat, {"filter": "datum.bold"}],
             "mark": {"type": "circle", "size": 30, "opacity": 0},
             "encoding": {"x": x, "y": y, "tooltip": tip}},
        ]})
    return {
        "datasets": {"held": rows},
        "data": {"name": "held"},
        "params": [{"name": "pick", "select": {"type": "point", "fields": ["label"]},
                    "bind": "legend", "views": views}],
        "hconcat": panels,
        "resolve": {"scale": {"y": "independent"}},
        "config": {"view": {"stroke": None}},
    }


def held_out_table(samples: dict):
    import numpy as np
    import pandas as pd

    rows = []
    for label, runs in samples.items():
        final_f = [float(tr["f"][-1]) for _, tr in runs]
        final_test = [float(tr["test_f"][-1]) for _, tr in runs]
        best_test = [float(np.nanmin(tr["test_f"])) for _, tr in runs]
        row = {
            "optimizer": label,
            "runs": len(runs),
            "final training loss": float(np.median(final_f)),
            "final test loss": float(np.median(final_test)),
            "best test loss": float(np.median(best_test)),
        }
        if all("test_acc" in tr for _, tr in runs):
            row["final test accuracy"] = float(np.median([tr["test_acc"][-1] for _, tr in runs]))
            row["best test accuracy"] = float(
                np.median([np.nanmax(tr["test_acc"]) for _, tr in runs]))
        rows.append(row)
    return pd.DataFrame(rows)


OVERFIT = 0.05  # a final test loss this far above its lowest point counts as overfitting


def _num(v: float) -> str:
    return f"{v:.3g}"


def held_out_lesson(title: str, table) -> list[str]:
    """What the held-out loss of one problem shows, in sentences drawn from
    :func:`held_out_table`'s medians: the optimizer with the lowest final test loss (and
    the best test accuracy), the one furthest behind, and whether any test loss rose
    from its lowest point by more than :data:`OVERFIT` (overfitting)."""
    if not len(table):
        return []
    best = table.loc[table["final test loss"].idxmin()]
    worst = table.loc[table["final test loss"].idxmax()]
    out = [f"On {title}, {best.optimizer} ended with the lowest held-out loss "
           f"({_num(best['final test loss'])}, training loss {_num(best['final training loss'])})"]
    if "final test accuracy" in table:
        top = table["final test accuracy"].max()
        tied = table[table["final test accuracy"] == top]
        who = (tied.optimizer.iloc[0] if len(tied) == 1
               else f"{len(tied)} of the {len(table)} optimizers")
        out[0] += f"; the best final test accuracy was {top:.1%} ({who})"
    out[0] += "."
    if worst.optimizer != best.optimizer:
        out.append(f"{worst.optimizer} was furthest behind, at {_num(worst['final test loss'])}.")
    rise = (table["final test loss"] - table["best test loss"]) / table["best test loss"].abs()
    over = table[rise > OVERFIT]
    if len(over):
        r = over.loc[rise[over.index].idxmax()]
        out.append(f"{r.optimizer}'s test loss ended {rise[r.name]:.0%} above the lowest value "
                   f"it reached ({_num(r['best test loss'])}) — overfitting or gradient noise: "
                   "stopping early there would have kept the lower value.")
    else:
        out.append(f"No test loss ended more than {OVERFIT:.0%} above its lowest point: no sign "
                   "of overfitting within the budget.")
    return out


@register_section("held-out-loss", order=25)
def held_out_loss(ctx) -> Section | None:
    """Training and held-out loss per problem (only where a problem records a test loss)."""
    parts, toc, lessons = [], [], []
    for key, data in problem_data(ctx).items():
        if data.info.get("has_test_loss") is False:  # recorded with the problem: no trace to read
            continue
        samples = _samples(data)
        if not samples:
            continue
        table = held_out_table(samples)
        lessons.append(" ".join(held_out_lesson(data.title, table)))
        anchor = f"held-out-{key}"
        toc.append((anchor, data.title))
        n = sum(len(r) for r in samples.values())
        parts.append(f"<h3 id='{esc(anchor)}'>{esc(data.title)}</h3>")
        parts.append(chart_html(
            held_out_chart(samples, label_colours(ctx.colours, samples)),
            f"training and test loss on {data.title}",
            (f"{data.title}: left, the training loss f (the full training set, whatever the "
             "gradients' minibatch); then the loss on the held-out test set (and, for a "
             "classifier, the fraction of the test set it labels correctly), against "
             f"evaluations, losses on a log scale. {n} sample runs (the lowest seeds; the "
             f"first bold). {HOW_TO_EXPLORE}"),
            name=f"held-out-{key}",
        ))
        parts.append(table_html(
            table,
            (f"{data.title}: medians over the sample runs of the final training loss, the "
             "final test loss and the lowest test loss on the way (early stopping's value); "
             "for a classifier, the final and the highest test accuracy."),
            f"held-out-{key}.csv",
        ))
    if not parts:
        return None
    lead = ("".join(f"<p class='lead'>{esc(text)}</p>" for text in lessons if text) + (
            "<p class='note'>Generated from the sample runs below (the lowest seeds of each "
            "optimizer): medians over them.</p>"))
    return Section("Held-out loss", lead + "".join(parts), toc=toc)
