"""Comparison: with several stores (sources), each one against the baseline, per (problem,
optimizer), paired on the seed; the verdicts of :mod:`optbench.stats.comparison`."""

from __future__ import annotations

import math

from optbench import register_section
from optbench.environment import difference_note
from optbench.report import Section, esc, note_html, table_html


def _ratio_interval(value, lo, hi) -> str:
    """``×1.3 [1.1, 1.6]``: a ratio and its interval (— when there is none)."""
    if value is None or math.isnan(value):
        return "—"
    if lo is None or math.isnan(lo):
        return f"×{_num(value)}"
    return f"×{_num(value)} [{_num(lo)}, {_num(hi)}]"


def _num(x) -> str:
    """Two significant digits, short exponents: 12.8 → 13, 888 → 890, 4.9e15."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    text = f"{float(f'{x:.2g}'):g}"
    mant, e, exp = text.partition("e")
    return f"{mant}e{int(exp)}" if e else text


def _pct(x: float) -> str:
    return f"{x * 100:+.0f}".replace("-", "−")


def verdict_table(cmp):
    """One row per (problem, optimizer[, source]): the display frame (the tidy one is
    :meth:`~optbench.stats.comparison.Comparison.table`)."""
    import pandas as pd

    several = len(cmp.sources) > 2
    rows = []
    for r in cmp.verdicts.itertuples(index=False):
        row = {"problem": r.problem_label, "optimizer": r.label}
        if several:
            row["source"] = r.source
        row["verdict"] = r.verdict_text
        if r.verdict == "not comparable":
            row.update(dict.fromkeys(
                ("success: base → new (Δ points [CI])", "aRT: base → new (ratio [CI])",
                 "final gap: base → new (ratio [CI])"), "—"))
        else:
            row["success: base → new (Δ points [CI])"] = (
                f"{r.success_base:.0%} → {r.success_new:.0%} ({_pct(r.success_change)} "
                f"[{_pct(r.success_change_lo)}, {_pct(r.success_change_hi)}])"
            )
            row["aRT: base → new (ratio [CI])"] = (
                f"{_num(r.aRT_base)} → {_num(r.aRT_new)} "
                f"({_ratio_interval(r.aRT_ratio, r.aRT_ratio_lo, r.aRT_ratio_hi)})"
            )
            row["final gap: base → new (ratio [CI])"] = (
                f"{_num(r.gap_base)} → {_num(r.gap_new)} "
                f"({_ratio_interval(r.gap_ratio, r.gap_ratio_lo, r.gap_ratio_hi)})"
            )
        row["note"] = r.note if isinstance(r.note, str) else ""
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame["note"].astype(bool).any():
        frame = frame.drop(columns="note")
    return frame


def _seeds(seeds) -> str:
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


@register_section("comparison", order=1)
def comparison(ctx) -> Section | None:
    """Each source against the baseline, per (problem, optimizer)."""
    import pandas as pd

    cmp = ctx.comparison
    if cmp is None:
        return None
    counts = cmp.verdicts["verdict"].value_counts()
    n_only = len(cmp.only_in_one)
    others = [s for s in cmp.sources if s != cmp.baseline]
    summary = ", ".join(
        f"{int(counts.get(v, 0))} {v}"
        for v in ("worse", "better", "no detectable change", "both diverged", "not comparable")
        if counts.get(v, 0)
    )
    parts = [
        f"<p class='lead'>Baseline <b>{esc(cmp.baseline)}</b> against "
        f"{esc(', '.join(others))}: {esc(summary or 'nothing to compare')}"
        + (esc(f"; {n_only} (problem, optimizer) entries are in one source only") if n_only
           else "")
        + ".</p>"
    ]
    crossed = cmp.crossed
    if crossed:
        parts.append(note_html(
            f"{', '.join(crossed)} {'shares' if len(crossed) == 1 else 'share'} no optimizer "
            f"with the baseline {cmp.baseline}: each of "
            f"{'its' if len(crossed) == 1 else 'their'} optimizers is paired with each of the "
            "baseline's on the same problem and seed, named “source's optimizer vs "
            "baseline's”. Both runs of a seed start from the same point (it depends on the "
            "problem and the seed alone); the stored start points are checked, and runs whose "
            "start points differ are not compared."))
    differ = difference_note(ctx.sessions)
    if differ:  # named in full, with the values, in the Setup's environment table
        parts.append(note_html(differ[0].upper() + differ[1:] + " (see Setup).").replace(
            "class='note'", "class='note warning'", 1))
    if len(cmp.verdicts):
        frame = verdict_table(cmp)
        order = {"worse": 0, "better": 1, "no detectable change": 2, "both diverged": 3,
                 "not comparable": 4}
        rank = cmp.verdicts["verdict"].map(order).fillna(5).to_numpy()
        frame = frame.iloc[rank.argsort(kind="stable")].reset_index(drop=True)
        bold = {(i, "verdict") for i, v in enumerate(frame["verdict"]) if v.startswith("worse")}
        parts.append(
            table_html(
                frame,
                (
                    f"Each source against the baseline {cmp.baseline}, runs paired on (problem, "
                    "optimizer, seed)"
                    + (", or on (problem, seed) across optimizers (“A vs B”)" if crossed else "")
                    + "; never pooled. The verdict says at how many paired seeds "
                    "it was reached. Success: runs within Δf ≤ 1e-6 of f* "
                    "(relative target τ = 1e-3 where f* is unknown); aRT ratio new/base; gap "
                    "ratio: the median over seeds of the per-seed final-gap ratio. Brackets: "
                    f"{cmp.confidence:.0%} paired-bootstrap intervals ({cmp.resamples} "
                    "resamples of the seeds). A metric changed when its interval lies wholly on "
                    "one side (success beyond 0, aRT beyond ±5 %, gap beyond a factor 2) and its "
                    f"paired test agrees at α = {1 - cmp.confidence:.2g} (exact McNemar for "
                    "success, Wilcoxon signed-rank otherwise); worse if any metric worsened; "
                    "both diverged where every paired run diverged in both sources. "
                    "The same verdicts are written beside this page as JSON and CSV."
                ),
                "comparison.csv",
                csv=cmp.table(),
                bold=bold,
            )
        )
    if len(cmp.not_comparable):
        nc = cmp.not_comparable
        frame = pd.DataFrame(
            {
                "problem": nc["problem_label"],
                "optimizer": nc["label"],
                "source": nc["source"],
                "why not comparable": nc["differs"],
                "seeds": [_seeds(s) for s in nc["seeds"]],
            }
        )
        parts.append(
            table_html(
                frame,
                "Pairings not compared: the two runs of a seed differ in budget, max_iter or "
                "tol, or start from different points (or one source holds several runs the "
                "label does not tell apart).",
                "not-comparable.csv",
            )
        )
    if n_only:
        oo = cmp.only_in_one
        frame = pd.DataFrame(
            {
                "problem": oo["problem_label"],
                "optimizer": oo["label"],
                "only in": oo["source"],
                "not in": oo["missing_in"],
                "seeds": [_seeds(s) for s in oo["seeds"]],
            }
        )
        parts.append(
            table_html(frame, "Runs present in one source only: nothing to pair them with.",
                       "only-in-one-source.csv")
        )
    elif not len(cmp.verdicts):
        parts.append(note_html("No runs pair across the sources."))
    return Section("Comparison", "".join(parts))
