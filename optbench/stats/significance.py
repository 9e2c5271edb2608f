"""Significance with power: the Friedman test over problems with the Nemenyi critical
difference, and per-problem rank tests of each optimizer against one reference only.

Everything here is the standard procedure with the values ``scipy.stats`` gives (the tests
compare them); the Friedman statistic, the ranks and the studentized range quantile of the
critical difference are computed here with numpy and ``scipy.special``, since importing
``scipy.stats`` costs more than all of the report's statistics. What this module adds is the
bookkeeping a reader needs to trust a "no":

* **Across problems** (Demšar 2006, *Statistical comparisons of classifiers over multiple
  data sets*, JMLR 7): k optimizers are ranked on each of the N problems where all of them
  ran, by aRT at a target, ties broken by the median final gap (lower is better in both;
  ties left after that share their average rank). The Friedman test (with the tie
  correction of ``scipy.stats.friedmanchisquare``, :func:`friedman_chisquare`) asks
  whether the average ranks differ at all; Iman and Davenport's
  F_F = (N−1)χ²_F / (N(k−1) − χ²_F), on F(k−1, (k−1)(N−1)), is its less conservative form.
  Two optimizers differ (Nemenyi) when their average ranks differ by at least the critical
  difference ``CD = q_α·sqrt(k(k+1)/(6N))``, where ``q_α`` is the studentized range quantile for k
  groups and infinite degrees of freedom divided by √2. Groups of optimizers within CD of
  each other (*cliques*) are joined by a bar in the critical-difference diagram
  (:func:`cd_diagram`). The Friedman statistic needs k ≥ 3 (for k = 2 it is NaN; the CD
  still holds).
* **Per problem**: each optimizer is tested against one reference (a given baseline, or
  the one with the smallest aRT, ties broken by the median final gap) with the Wilcoxon
  signed-rank test (``scipy.stats.wilcoxon``) when the two ran the same seeds (paired
  start points), else the Wilcoxon rank-sum / Mann–Whitney U test
  (``scipy.stats.mannwhitneyu``), both two-sided with scipy's default choice between the
  exact and the asymptotic distribution (on ties or zeros, the signed-rank null scipy
  enumerates over the 2ⁿ sign flips is counted here instead, :func:`signed_rank_pvalue`:
  the same p-values, without scipy's permutation test). The m = k − 1 p-values of a problem are
  Holm-corrected together (not across problems: each problem asks its own question).
* **What the design can reach**: a rank test on n pairs can never give p below 2/2ⁿ
  (signed-rank, exact), nor below 2/C(n₁+n₂, n₁) (rank-sum, exact); in scipy's asymptotic
  regime (signed-rank n > 50; rank-sum both samples > 8) the bound is the normal tail at
  the most extreme statistic. Holm multiplies the smallest p by m, so a problem with m tests
  can only find a difference when m·p_min < α; otherwise the table says so and gives the
  seeds that would be needed (:func:`seeds_needed`).

The data of a per-problem test are COCO's combined scores (:func:`combined_scores`), larger
is better: a run that reached the target scores by its runtime (≥ 1), any other by its final
gap (≤ 0), so successes beat failures, faster successes beat slower ones, and closer
failures beat farther ones. COCO compares unsuccessful runs at a common budget; here each
run's gap is its final one, which is the same thing when the runs of a problem share their
budget.

Inputs are plain: numpy arrays, or the tidy run frame of :func:`optbench.load` (columns
``problem_key``, ``label``, ``seed``, ``status``, ``evals``, ``hit_cost_<ε>`` or
``rel_hit_cost_<τ>``, ``gap_final``). Which runs count and what a failed run is charged
follows :mod:`optbench.stats.convention`. Typical use::

    frame = optbench.load("optbench-results")
    res = friedman_nemenyi(*art_matrices(frame, 1e-6))  # ranks, χ²_F, CD, cliques
    fig = cd_diagram(res)
    tests = tests_against_reference(frame, 1e-6)  # one row per (problem, optimizer)
    caption = res.caption() + " " + tests_caption(tests)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .average_runtime import art
from .convention import counted, hit_costs, runtimes

__all__ = [
    "ALPHA",
    "Friedman",
    "art_matrices",
    "cd_diagram",
    "cliques",
    "combined_scores",
    "compare_samples",
    "critical_difference",
    "friedman_nemenyi",
    "holm",
    "iman_davenport",
    "min_pvalue",
    "nemenyi_pvalues",
    "nemenyi_q",
    "problem_ranks",
    "rankdata",
    "seeds_needed",
    "tests_against_reference",
    "tests_caption",
]

ALPHA = 0.05
SIGNED_RANK = "signed-rank"
RANK_SUM = "rank-sum"
WORST_SCORE = -400.0  # below any failure's score (gaps are finite floats < 1e309)


# -- multiple testing ---------------------------------------------------------------------


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control), in the given order.

    The i-th smallest of m p-values is multiplied by m − i + 1; adjusted values are made
    non-decreasing in that order and capped at 1.
    """
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


# -- Friedman and Nemenyi -----------------------------------------------------------------


def nemenyi_q(k: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical value q_α for k groups: the studentized range quantile (infinite
    degrees of freedom) over √2 (Demšar 2006, Table 5a: 1.960 for k = 2, 2.569 for k = 4)."""
    if k < 2:
        raise ValueError(f"the Nemenyi test compares at least 2 groups, got k={k}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return range_quantile(1.0 - alpha, k) / math.sqrt(2.0)


# The range of k independent standard normals (the studentized range with infinite degrees
# of freedom): P(R ≤ q) = k ∫ φ(z) (Φ(z + q) − Φ(z))^(k−1) dz. The integrand is smooth and
# negligible beyond |z| = 9, where the trapezoidal rule on a uniform grid converges faster
# than any power of the step; scipy.stats.studentized_range computes the same integral in
# general form (the tests compare the two), but importing scipy.stats costs more than the
# whole of the report's statistics.
_Z = np.linspace(-9.0, 9.0, 3601)
_PHI = np.exp(-0.5 * _Z * _Z)[:, None] / math.sqrt(2.0 * math.pi)  # the normal density there


def range_cdf(q, k: int) -> np.ndarray:
    """P(range of ``k`` independent standard normals ≤ ``q``), elementwise in ``q``."""
    from scipy.special import ndtr

    q = np.atleast_1d(np.asarray(q, dtype=float))
    z = _Z[:, None]
    f = _PHI * (ndtr(z + np.maximum(q, 0.0)[None, :]) - ndtr(z)) ** (k - 1)
    cdf = k * (_Z[1] - _Z[0]) * (f.sum(axis=0) - 0.5 * (f[0] + f[-1]))  # trapezoidal rule
    return np.clip(np.where(q > 0, cdf, 0.0), 0.0, 1.0)


@functools.lru_cache(maxsize=64)
def range_quantile(p: float, k: int) -> float:
    """The ``p``-quantile of the range of ``k`` independent standard normals (bisection on
    :func:`range_cdf` to 1e-12)."""
    lo, hi = 0.0, 1.0
    while range_cdf(hi, k)[0] < p:
        lo, hi = hi, 2.0 * hi
    while hi - lo > 1e-12 * hi:
        mid = 0.5 * (lo + hi)
        if range_cdf(mid, k)[0] < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of average ranks for k groups over n problems."""
    if n < 1:
        raise ValueError(f"the critical difference needs at least 1 problem, got n={n}")
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n))


def iman_davenport(chi2: float, n: int, k: int) -> tuple[float, float]:
    """Iman–Davenport's F_F from Friedman's χ²_F over n problems and k groups, and its
    p-value on F(k − 1, (k − 1)(n − 1))."""
    denom = n * (k - 1) - chi2
    if denom <= 0:  # every problem ranks the groups the same way
        return math.inf, 0.0
    f = (n - 1) * chi2 / denom
    from scipy.special import fdtrc

    return float(f), float(fdtrc(k - 1, (k - 1) * (n - 1), f))


def rankdata(a, method: str = "average") -> np.ndarray:
    """Ranks (1 = smallest) along the last axis, as ``scipy.stats.rankdata(a, method,
    axis=-1)`` gives them for data without NaN: ``average`` gives tied values the mean of
    their positions, ``dense`` numbers the distinct values 1, 2, …"""
    if method not in ("average", "dense"):
        raise ValueError(f"method must be 'average' or 'dense', got {method!r}")
    x = np.asarray(a, dtype=float)
    if not x.size:
        return x.copy()
    rows = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
    out = np.empty(rows.shape)
    for i, row in enumerate(rows):
        order = np.argsort(row, kind="mergesort")
        s = row[order]
        new = np.ones(s.size, dtype=bool)
        new[1:] = s[1:] != s[:-1]
        group = np.cumsum(new) - 1
        if method == "dense":
            r = group + 1.0
        else:  # tied positions starts+1 … ends share their mean
            starts = np.flatnonzero(new)
            ends = np.append(starts[1:], s.size)
            r = ((starts + 1 + ends) / 2.0)[group]
        out[i, order] = r
    return out.reshape(x.shape)


def friedman_chisquare(ranks) -> tuple[float, float]:
    """Friedman's χ²_F of (N, k) per-problem ranks with the tie correction, and its p-value on
    χ²(k − 1): what ``scipy.stats.friedmanchisquare(*ranks.T)`` returns."""
    r = rankdata(ranks)
    n, k = r.shape
    ties = 0.0
    for row in r:
        _, counts = np.unique(row, return_counts=True)
        ties += float((counts * (counts * counts - 1.0)).sum())
    c = 1.0 - ties / (k * (k * k - 1.0) * n)
    ssbn = float((r.sum(axis=0) ** 2).sum())
    chi2 = (12.0 / (k * n * (k + 1)) * ssbn - 3.0 * n * (k + 1)) / c
    from scipy.special import chdtrc

    return chi2, float(chdtrc(k - 1, chi2))


def problem_ranks(art_values, gap=None) -> np.ndarray:
    """Per-row ranks (1 = best) of aRT, ties broken by the gap (lower is better in both);
    what is still tied shares its average rank. ``inf`` aRT (never reached) ranks last;
    NaN gaps count as ``inf``."""
    a = np.atleast_2d(np.asarray(art_values, dtype=float))
    g = np.zeros_like(a) if gap is None else np.atleast_2d(np.asarray(gap, dtype=float))
    if np.isnan(a).any():
        raise ValueError("aRT has NaN entries: rank only the problems where every group ran")
    g = np.where(np.isnan(g), np.inf, g)
    k = a.shape[1]
    key = rankdata(a, method="dense") * (k + 1) + rankdata(g, method="dense")
    return rankdata(key, method="average")


def cliques(average_ranks: Sequence[float], labels: Sequence[str], cd: float):
    """Maximal groups (in order of average rank) whose ranks lie within less than ``cd`` of
    each other: the bars of a critical-difference diagram. Groups of one are left out."""
    r = np.asarray(average_ranks, dtype=float)
    order = np.argsort(r, kind="stable")
    rs = r[order]
    out, reach = [], -1
    for i in range(len(rs)):
        j = int(np.searchsorted(rs, rs[i] + cd, side="left")) - 1  # last with rs[j] − rs[i] < cd
        if j > i and j > reach:
            out.append(tuple(labels[order[t]] for t in range(i, j + 1)))
            reach = j
    return tuple(out)


def nemenyi_pvalues(average_ranks: Sequence[float], n: int, labels: Sequence[str]):
    """Pairwise Nemenyi p-values from average ranks over n problems, as a square frame:
    ``P(range of k standard normals ≥ |R_i − R_j| / sqrt(k(k+1)/(6n)) · √2)``. A pair
    differs at α exactly when its rank difference is at least the critical difference."""
    r = np.asarray(average_ranks, dtype=float)
    k = r.size
    se = math.sqrt(k * (k + 1) / (6.0 * n))
    q = np.abs(r[:, None] - r[None, :]) / se * math.sqrt(2.0)
    from scipy import stats

    p = np.where(q > 0, stats.studentized_range.sf(np.maximum(q, 1e-12), k, np.inf), 1.0)
    return pd.DataFrame(np.minimum(p, 1.0), index=list(labels), columns=list(labels))


@dataclass(frozen=True)
class Friedman:
    """The Friedman test and Nemenyi post-hoc of k optimizers over N problems."""

    labels: tuple[str, ...]
    problems: tuple
    dropped: tuple  # problems left out: not every optimizer ran there
    ranks: np.ndarray  # (N, k) per-problem ranks, 1 = best
    average_ranks: np.ndarray  # (k,)
    statistic: float  # χ²_F (scipy's, tie-corrected); NaN for k = 2
    pvalue: float
    f_statistic: float  # Iman–Davenport F_F
    f_pvalue: float
    alpha: float
    q: float  # Nemenyi q_α
    cd: float  # critical difference
    cliques: tuple[tuple[str, ...], ...]

    @property
    def k(self) -> int:
        return len(self.labels)

    @property
    def n(self) -> int:
        return len(self.problems)

    def differ(self, a: str, b: str) -> bool:
        """Whether two optimizers' average ranks differ by at least the CD."""
        ia, ib = self.labels.index(a), self.labels.index(b)
        return bool(abs(self.average_ranks[ia] - self.average_ranks[ib]) >= self.cd)

    def table(self):
        """One row per optimizer, best first: ``label``, ``average rank``, ``rank sum``."""
        frame = pd.DataFrame(
            {
                "label": self.labels,
                "average rank": self.average_ranks,
                "rank sum": self.ranks.sum(axis=0),
            }
        )
        return frame.sort_values("average rank", kind="stable").reset_index(drop=True)

    def caption(self) -> str:
        """One sentence: which test ran, on what, and what it found."""
        fried = (
            f"Friedman χ²_F = {self.statistic:.3g}, p = {self.pvalue:.2g} (Iman–Davenport "
            f"F_F = {self.f_statistic:.3g}, p = {self.f_pvalue:.2g})"
            if self.k >= 3
            else "the Friedman test needs at least 3 optimizers"
        )
        left = f"; {len(self.dropped)} problems left out (not every optimizer ran)" * bool(
            self.dropped
        )
        return (
            f"Ranks of aRT (ties broken by the median final gap) of {self.k} optimizers over "
            f"{self.n} problems{left}: {fried}. Nemenyi critical difference at α = "
            f"{self.alpha:g}: CD = {self.q:.3f}·sqrt(k(k+1)/(6N)) = {self.cd:.3g}; optimizers "
            "joined by a bar do not differ significantly."
        )


def friedman_nemenyi(art_values, gap=None, alpha: float = ALPHA) -> Friedman:
    """The Friedman test and Nemenyi critical difference over the problems where all ran.

    Args:
        art_values: a frame, one row per problem and one column per optimizer, of aRT
            (``inf``: never reached the target; NaN: did not run there — such problems are
            left out).
        gap: the same shape, median final gaps to break aRT ties (optional).
        alpha: the significance level of the critical difference.
    """
    a = art_values if isinstance(art_values, pd.DataFrame) else pd.DataFrame(art_values)
    if a.shape[1] < 2:
        raise ValueError(f"the Friedman test compares at least 2 optimizers, got {a.shape[1]}")
    g = None if gap is None else pd.DataFrame(gap).reindex(index=a.index, columns=a.columns)
    ran = a.notna().all(axis=1).to_numpy()
    if ran.sum() < 2:
        raise ValueError(
            f"the Friedman test needs at least 2 problems where all {a.shape[1]} optimizers "
            f"ran, got {int(ran.sum())}"
        )
    ranks = problem_ranks(a.to_numpy()[ran], None if g is None else g.to_numpy()[ran])
    n, k = ranks.shape
    avg = ranks.mean(axis=0)
    if k < 3:
        chi2 = p = f = fp = math.nan
    elif np.all(ranks == (k + 1) / 2.0):  # every problem a full tie: nothing to test
        chi2, p, f, fp = 0.0, 1.0, 0.0, 1.0
    else:
        chi2, p = friedman_chisquare(ranks)
        f, fp = iman_davenport(chi2, n, k)
    labels = tuple(str(c) for c in a.columns)
    cd = critical_difference(k, n, alpha)
    return Friedman(
        labels=labels,
        problems=tuple(a.index[ran]),
        dropped=tuple(a.index[~ran]),
        ranks=ranks,
        average_ranks=avg,
        statistic=chi2,
        pvalue=p,
        f_statistic=f,
        f_pvalue=fp,
        alpha=alpha,
        q=nemenyi_q(k, alpha),
        cd=cd,
        cliques=cliques(avg, labels, cd),
    )


def art_matrices(
    frame,
    target: float = 1e-6,
    *,
    relative: bool = False,
    gap: str = "gap_final",
    problem: str = "problem_key",
    label: str = "label",
):
    """aRT at a target and median final gap per problem (rows) and optimizer (columns),
    from the tidy run frame under the counting convention; NaN where an optimizer has no
    counted run on a problem. A missing or NaN gap counts as ``inf``."""
    rows = []
    for (p, lab), grp in counted(frame).groupby([problem, label], sort=False):
        gaps = _gaps(grp, gap)
        rows.append(
            {
                "problem": p,
                "label": lab,
                "aRT": art(hit_costs(grp, target, relative), grp["evals"].to_numpy(dtype=float)),
                "gap": float(np.median(gaps)) if len(gaps) else math.nan,
            }
        )
    long = pd.DataFrame(rows, columns=["problem", "label", "aRT", "gap"])
    labels = list(dict.fromkeys(long["label"]))
    problems = list(dict.fromkeys(long["problem"]))
    wide = [
        long.pivot(index="problem", columns="label", values=v).reindex(
            index=problems, columns=labels
        )
        for v in ("aRT", "gap")
    ]
    for w in wide:
        w.index.name, w.columns.name = problem, label
    return wide[0], wide[1]


def _gaps(grp, gap: str) -> np.ndarray:
    if gap not in grp:
        return np.full(len(grp), np.inf)
    g = grp[gap].to_numpy(dtype=float)
    return np.where(np.isnan(g), np.inf, g)


def cd_diagram(result: Friedman, *, title: str | None = None):
    """The critical-difference diagram of a :class:`Friedman` result (a matplotlib Figure).

    The rank axis runs from 1 (best, left) to k; each optimizer's average rank is marked
    and led out to its name, the better half to the left, the rest to the right; a bar
    above the axis shows the CD, and thick bars below it join the optimizers that do not
    differ significantly (the cliques).
    """
    from matplotlib.figure import Figure

    k = result.k
    order = np.argsort(result.average_ranks, kind="stable")
    n_left = (k + 1) // 2
    left, right = order[:n_left], order[n_left:][::-1]  # right: the worst on top
    text = {
        i: (f"{result.labels[i]} ({result.average_ranks[i]:.2f})" if j < n_left else
            f"({result.average_ranks[i]:.2f}) {result.labels[i]}")
        for j, i in enumerate(order)
    }
    char_in = 0.075  # inches per character at 9 pt
    lw_in = max((len(text[i]) for i in left), default=0) * char_in + 0.35
    rw_in = max((len(text[i]) for i in right), default=0) * char_in + 0.35
    axis_in = max(3.0, 0.55 * k)
    row_in = 0.26
    n_rows = max(len(left), len(right))
    n_bars = len(result.cliques)
    top_units = 2.6 + (1.0 if title else 0.0)  # rank numbers, the CD bar, the title
    bar_units = 0.35 * n_bars + 0.4  # the clique bars below the axis
    height_units = top_units + bar_units + n_rows + 0.6
    fig = Figure(figsize=(lw_in + axis_in + rw_in, height_units * row_in + 0.2))
    ax = fig.add_axes((0, 0, 1, 1))
    span = max(k - 1, 1)
    per_in = span / axis_in  # rank units per inch
    ax.set_xlim(1 - lw_in * per_in, k + rw_in * per_in)
    ax.set_ylim(-(bar_units + n_rows + 0.6), top_units)
    ax.set_axis_off()
    ink, ink_width = "black", 0.9  # the axis, its ticks and the leader lines
    ax.plot([1, k], [0, 0], color=ink, linewidth=ink_width)
    for t in range(1, k + 1):
        ax.plot([t, t], [0, 0.25], color=ink, linewidth=ink_width)
        ax.text(t, 0.35, str(t), ha="center", va="bottom", fontsize=9)
    cd_y = 1.7
    ax.plot([1, 1 + result.cd], [cd_y, cd_y], color="black", linewidth=1.4)
    for x in (1, 1 + result.cd):
        ax.plot([x, x], [cd_y - 0.15, cd_y + 0.15], color="black", linewidth=1.4)
    ax.text(1, cd_y + 0.25, f"CD = {result.cd:.2f}", ha="left", va="bottom", fontsize=9)
    pos = dict(zip(result.labels, result.average_ranks, strict=True))
    for b, group in enumerate(result.cliques):
        y = -0.4 - 0.35 * b
        lo, hi = min(pos[s] for s in group), max(pos[s] for s in group)
        ax.plot([lo - 0.03 * per_in, hi + 0.03 * per_in], [y, y], color="black", linewidth=3,
                solid_capstyle="round", gid="cd-clique")
    for side, idx, x_end, ha in (("left", left, 1 - 0.1 * per_in, "right"),
                                 ("right", right, k + 0.1 * per_in, "left")):
        for row, i in enumerate(idx):
            r = result.average_ranks[i]
            y = -(bar_units + 0.5 + row)
            ax.plot([r, r, x_end], [0, y, y], color=ink, linewidth=ink_width)
            ax.plot([r], [0], marker="o", markersize=3, color="black")
            ax.text(x_end + (-0.05 if side == "left" else 0.05) * per_in, y, text[i], ha=ha,
                    va="center", fontsize=9, gid=f"cd-label-{side}")
    if title:
        ax.text((1 + k) / 2, top_units - 0.15, title, ha="center", va="top", fontsize=10)
    return fig


# -- per-problem tests against a reference ------------------------------------------------


def min_pvalue(test: str, n1: int, n2: int | None = None) -> float:
    """The smallest two-sided p-value scipy's test can return for this design (untied data).

    ``signed-rank`` with n1 pairs: 2/2ⁿ¹ where scipy uses the exact distribution
    (n1 ≤ 50), else the normal tail at the largest statistic (scipy's default: no continuity
    correction).
    ``rank-sum`` with samples n1, n2: 2/C(n1+n2, n1) where scipy is exact (either sample
    ≤ 8), else the continuity-corrected normal tail at U = n1·n2.
    """
    if test == SIGNED_RANK:
        n = int(n1)
        if n < 1:
            return 1.0
        if n <= 50:
            return min(1.0, 2.0 / 2.0**n)
        d = n * (n + 1) / 4.0  # largest r_plus minus its mean (scipy: no continuity correction)
        se = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
        return min(1.0, math.erfc(d / se / math.sqrt(2.0)))
    if test == RANK_SUM:
        if n2 is None:
            raise ValueError("rank-sum needs both sample sizes n1 and n2")
        a, b = int(n1), int(n2)
        if a < 1 or b < 1:
            return 1.0
        if a <= 8 or b <= 8:
            return min(1.0, 2.0 / math.comb(a + b, a))
        u = a * b / 2.0  # largest U minus its mean
        s = math.sqrt(a * b * (a + b + 1) / 12.0)
        return min(1.0, math.erfc((u - 0.5) / s / math.sqrt(2.0)))
    raise ValueError(f"test must be {SIGNED_RANK!r} or {RANK_SUM!r}, got {test!r}")


def seeds_needed(test: str, m: int = 1, alpha: float = ALPHA, limit: int = 1000) -> int | None:
    """The fewest seeds n (pairs, or runs per optimizer for rank-sum) from which on every
    design of n or more seeds can reach ``m·p_min < α`` (Holm's first step with m tests);
    None if not within ``limit`` seeds."""
    last_fail = 0
    for n in range(1, limit + 1):
        if m * min_pvalue(test, n, n) >= alpha:
            last_fail = n
        elif n > 51:  # past scipy's switches to the asymptotic tests: p_min falls with n
            break
    return None if last_fail == limit else last_fail + 1


# scipy's ``wilcoxon(method="auto")`` enumerates all 2ⁿ sign flips of tied or zero-holding
# differences up to this n (2¹³ = 8192 is below its 9999 resamples); beyond it, and on n > 50,
# it takes the normal approximation, which is fast.
EXACT_SIGN_FLIPS = 13


def signed_rank_pvalue(d, alternative: str = "two-sided") -> float:
    """The Wilcoxon signed-rank p-value of paired differences ``d``, exactly as
    ``scipy.stats.wilcoxon(d, alternative=alternative)`` gives it (zeros dropped, average
    ranks for ties, scipy's choice of method), without scipy's permutation test.

    For n ≤ :data:`EXACT_SIGN_FLIPS` scipy's null is the statistic R⁺ over every sign flip
    of the differences: zeros stay zero (they change no sum), and each non-zero difference
    adds its rank to R⁺ with probability ½. That distribution is counted here exactly, over
    the doubled (integer) ranks, one shifted add per difference instead of 2ⁿ statistics;
    on untied data it is scipy's exact distribution. Larger samples and non-finite
    differences go to scipy, whose asymptotic and untied exact paths are fast.
    """
    d = np.asarray(d, dtype=float).ravel()
    if d.size == 0 or d.size > EXACT_SIGN_FLIPS or not np.isfinite(d).all():
        from scipy import stats

        return float(stats.wilcoxon(d, alternative=alternative).pvalue)
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(
            f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}"
        )
    nz = d[d != 0]
    doubled = np.rint(2.0 * rankdata(np.abs(nz))).astype(np.int64)  # ranks are k/2
    counts = np.zeros(int(doubled.sum()) + 1, dtype=np.int64)
    counts[0] = 1
    for r in doubled:  # the sign of this difference: + adds r to the sum, − adds nothing
        counts[r:] = counts[r:] + counts[:-r]
    observed = int(doubled[nz > 0].sum())
    flips = 2.0**nz.size  # the zeros' flips double every count alike
    p_less = counts[: observed + 1].sum() / flips
    p_greater = counts[observed:].sum() / flips
    p = {"less": p_less, "greater": p_greater,
         "two-sided": 2.0 * min(p_less, p_greater)}[alternative]
    return float(min(1.0, p))


def compare_samples(a, b, paired: bool) -> dict:
    """Two-sided rank test of scores ``a`` against ``b`` (larger is better).

    Paired (same seeds, in the same order): the Wilcoxon signed-rank test of ``a − b``;
    otherwise the Mann–Whitney U (rank-sum) test. Identical samples give p = 1 without a
    test. Returns ``test``, ``p``, ``n`` (pairs, or ``(n_a, n_b)``), ``min_p`` (what the
    design can reach) and ``effect``: the rank-biserial correlation, > 0 when ``a`` is
    better (paired: (R⁺ − R⁻)/(R⁺ + R⁻) over the non-zero differences; unpaired:
    P(a > b) − P(a < b)).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if paired:
        if a.shape != b.shape:
            raise ValueError(f"paired samples need equal lengths, got {a.size} and {b.size}")
        d = a - b
        nz = d[d != 0]
        if nz.size:
            p = signed_rank_pvalue(d)
            ranks = rankdata(np.abs(nz))
            effect = float((ranks[nz > 0].sum() - ranks[nz < 0].sum()) / ranks.sum())
        else:
            p, effect = 1.0, 0.0
        return {"test": SIGNED_RANK, "p": p, "n": a.size, "min_p": min_pvalue(SIGNED_RANK, a.size),
                "effect": effect}
    if not a.size or not b.size:
        raise ValueError(f"rank-sum needs two non-empty samples, got {a.size} and {b.size}")
    both = np.concatenate([a, b])
    if np.all(both == both[0]):
        p = 1.0
    else:
        from scipy import stats

        p = float(stats.mannwhitneyu(a, b).pvalue)
    effect = float(np.mean(a[:, None] > b[None, :]) - np.mean(a[:, None] < b[None, :]))
    return {"test": RANK_SUM, "p": p, "n": (a.size, b.size),
            "min_p": min_pvalue(RANK_SUM, a.size, b.size), "effect": effect}


def combined_scores(runtime, gap, target: float) -> np.ndarray:
    """COCO's combined data for a rank test, on a log scale (larger is better).

    A run that reached the target (finite ``runtime``) scores ``1 + log10(R / runtime)``
    ≥ 1, with R the largest runtime among the successes given; any other run scores
    ``−log10(max(gap, target) / target)`` ≤ 0 (a NaN or infinite gap: the worst score).
    Pass all runs of a problem together so their scores share R.
    """
    rt = np.asarray(runtime, dtype=float)
    g = np.asarray(gap, dtype=float)
    ok = np.isfinite(rt)
    top = max(float(rt[ok].max()), 1.0) if ok.any() else 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        win = 1.0 + np.log10(top / np.maximum(np.where(ok, rt, 1.0), 1.0))
        lose = -np.log10(np.maximum(np.where(np.isfinite(g), g, np.inf), target) / target)
    lose = np.where(np.isfinite(lose), lose, WORST_SCORE)
    return np.where(ok, win, np.maximum(lose, WORST_SCORE))


def tests_against_reference(
    frame,
    target: float = 1e-6,
    *,
    relative: bool = False,
    reference: str | None = None,
    gap: str = "gap_final",
    alpha: float = ALPHA,
    problem: str = "problem_key",
    label: str = "label",
):
    """Per problem, each optimizer against one reference, Holm-corrected within the problem.

    Args:
        frame: the tidy run frame (``seed``, ``status``, ``evals``, the hitting-cost column
            of the target, the gap column).
        reference: the baseline label; where it did not run on a problem (or None), the
            problem's optimizer with the smallest aRT (ties: median final gap, then label).

    Returns:
        One row per (problem, optimizer other than the reference): ``problem``,
        ``reference``, ``label``, ``test`` (signed-rank when both ran the same seeds once
        each, else rank-sum), ``n``, ``p``, ``m`` (tests in the problem), ``p_holm``,
        ``min_p`` (the smallest p of the design), ``min_p_holm`` (m·min_p: the smallest
        adjusted p), ``can_reach`` (``min_p_holm < alpha``), ``seeds_needed`` (when it
        cannot), ``effect`` (rank-biserial, > 0: better than the reference),
        ``significant`` (``p_holm < alpha``) and ``verdict`` (better / worse /
        no difference found / cannot reach α).
    """
    runs = counted(frame)
    aRT, med_gap = art_matrices(runs, target, relative=relative, gap=gap, problem=problem,
                                label=label)
    out = []
    for p, grp in runs.groupby(problem, sort=False):
        present = [lab for lab in aRT.columns if aRT.loc[p, lab] == aRT.loc[p, lab]]
        if len(present) < 2:
            continue
        if reference is not None and reference in present:
            ref = reference
        else:
            ref = min(present, key=lambda s: (aRT.loc[p, s], _nan_inf(med_gap.loc[p, s]), s))
        rt = runtimes(hit_costs(grp, target, relative))
        scores = combined_scores(rt, _gaps(grp, gap), target)
        labels = grp[label].to_numpy()
        seeds = grp["seed"].to_numpy()
        rows = []
        for lab in present:
            if lab == ref:
                continue
            ma, mb = labels == lab, labels == ref
            sa, sb = seeds[ma], seeds[mb]
            paired = len(set(sa)) == sa.size and len(set(sb)) == sb.size and set(sa) == set(sb)
            xa, xb = scores[ma], scores[mb]
            if paired:
                xa, xb = xa[np.argsort(sa, kind="stable")], xb[np.argsort(sb, kind="stable")]
            rows.append({"problem": p, "reference": ref, "label": lab,
                         **compare_samples(xa, xb, paired)})
        m = len(rows)
        for row, adj in zip(rows, holm([r["p"] for r in rows]), strict=True):
            n = row["n"]
            n_small = n if isinstance(n, int) else min(n)
            row.update(m=m, p_holm=float(adj), min_p_holm=min(1.0, m * row["min_p"]))
            row["can_reach"] = bool(row["min_p_holm"] < alpha)
            row["seeds_needed"] = (None if row["can_reach"] else
                                   seeds_needed(row["test"], m, alpha))
            row["significant"] = bool(adj < alpha)
            if row["significant"]:
                row["verdict"] = "better" if row["effect"] > 0 else "worse"
            elif not row["can_reach"]:
                row["verdict"] = f"cannot reach α={alpha:g} at {n_small} seeds"
            else:
                row["verdict"] = "no difference found"
            out.append(row)
    cols = ["problem", "reference", "label", "test", "n", "p", "m", "p_holm", "min_p",
            "min_p_holm", "can_reach", "seeds_needed", "effect", "significant", "verdict"]
    return pd.DataFrame(out, columns=cols)


def tests_caption(tests, alpha: float = ALPHA) -> str:
    """What :func:`tests_against_reference` ran and what its designs can find, in a few
    sentences for a caption or a README: the tests, the correction, the smallest p the
    designs can reach and, where they cannot reach α, the seeds that would be needed."""
    if not len(tests):
        return "No problem has two optimizers with runs: no tests."
    kinds = []
    for test, why in ((SIGNED_RANK, "Wilcoxon signed-rank, the seeds pair"),
                      (RANK_SUM, "Wilcoxon rank-sum / Mann–Whitney U, the seeds do not pair")):
        k = int((tests["test"] == test).sum())
        if k:
            kinds.append(f"{k} {test} test{'s' * (k != 1)} ({why})")
    m = tests.groupby("problem", sort=False)["m"].first()
    best = tests.loc[tests["min_p_holm"].idxmin()]
    text = (
        f"Per problem, each optimizer against the reference only: {' and '.join(kinds)}; "
        f"two-sided, Holm-corrected within each problem (m = {int(m.min())}"
        f"{f'–{int(m.max())}' if m.max() > m.min() else ''} tests per problem). "
        f"The smallest p a design here can reach is {best['min_p']:.2g} "
        f"({best['test']}, n = {_n_text(best['n'])}), {best['min_p_holm']:.2g} after Holm's "
        f"factor m = {int(best['m'])}."
    )
    short = tests[~tests["can_reach"]]
    if len(short):
        need = short["seeds_needed"].dropna()
        more = f"; {int(need.max())} seeds would be needed" if len(need) else ""
        text += (
            f" {len(short)} of {len(tests)} tests cannot reach α = {alpha:g} at their seeds, "
            f"whatever the data{more}."
        )
    return text


def _n_text(n) -> str:
    return str(n) if isinstance(n, (int, np.integer)) else f"{n[0]} and {n[1]}"


def _nan_inf(x: float) -> float:
    return math.inf if x != x else float(x)
