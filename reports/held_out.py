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
from optbench.report import Section, esc, figure_html, table_html
from optbench.report.figures import palette
from optbench.stats.curves import problem_data


def _samples(data):
    """label -> [(row, trace)] of the sample runs that recorded a test loss."""
    out = {}
    for label in dict.fromkeys(data.runs[data.has].label):
        runs = [(row, tr) for row, tr in data.samples(label) if "test_f" in tr]
        if runs:
            out[label] = runs
    return out


def held_out_figure(title: str, samples: dict):
    import matplotlib.pyplot as plt

    from optbench.report.figures import layout, log_axes

    keys = ["f", "test_f"]
    if all("test_acc" in tr for runs in samples.values() for _, tr in runs):
        keys.append("test_acc")  # a classifier's held-out accuracy
    fig, axes = plt.subplots(1, len(keys), figsize=(5.25 * len(keys),
                                                    3.6 + 0.17 * -(-len(samples) // 3)))
    layout(fig, bottom=0.6 + 0.17 * -(-len(samples) // 3), wspace=0.28)
    handles = []
    for color, (label, runs) in zip(palette(len(samples)), samples.items(), strict=True):
        for k, (_, tr) in enumerate(runs):
            evals = tr["n_f"] + tr["n_g"]
            for ax, key in zip(axes, keys, strict=True):
                (line,) = ax.plot(evals, tr[key], color=color, lw=1.4 if k == 0 else 0.7,
                                  alpha=1.0 if k == 0 else 0.45)
            if k == 0:
                line.set_label(label)
                handles.append(line)
    names = ["training loss f", "test loss (held out)", "test accuracy (held out)"]
    for ax, name, key in zip(axes, names, keys, strict=False):
        if key != "test_acc":
            log_axes(ax, x=False)
        ax.set_xlabel("evaluations (n_f + n_g)")
        ax.set_title(name, fontsize=10)
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return fig


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


@register_section("held-out-loss", order=25)
def held_out_loss(ctx) -> Section | None:
    """Training and held-out loss per problem (only where a problem records a test loss)."""
    parts, toc = [], []
    for key, data in problem_data(ctx).items():
        samples = _samples(data)
        if not samples:
            continue
        anchor = f"held-out-{key}"
        toc.append((anchor, data.title))
        n = sum(len(r) for r in samples.values())
        parts.append(f"<h3 id='{esc(anchor)}'>{esc(data.title)}</h3>")
        parts.append(figure_html(
            held_out_figure(data.title, samples),
            f"training and test loss on {data.title}",
            (f"{data.title}: left, the training loss f (the full training set, whatever the "
             "gradients' minibatch); then the loss on the held-out test set (and, for a "
             "classifier, the fraction of the test set it labels correctly), against "
             f"evaluations, losses on a log scale. {n} sample runs (the lowest seeds; the "
             "first bold)."),
            tight=False,
        ))
        parts.append(table_html(
            held_out_table(samples),
            (f"{data.title}: medians over the sample runs of the final training loss, the "
             "final test loss and the lowest test loss on the way (early stopping's value); "
             "for a classifier, the final and the highest test accuracy."),
            f"held-out-{key}.csv",
        ))
    if not parts:
        return None
    return Section("Held-out loss", "".join(parts), toc=toc)
