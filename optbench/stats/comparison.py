"""Comparing sources: each store is a *source*, one of them the baseline; runs are paired
across sources, never pooled, and every pairing gets a verdict.

**Pairing.** A run of a source pairs with the baseline's run of the same problem, optimizer
and seed (the columns ``on`` + ``seed``; by default ``problem_key``, ``label``, ``seed``).
Two paired runs are *comparable* when their ``budget``, ``max_iter`` and ``tol`` agree
(missing values agree with missing values); otherwise the pairing is listed as *not
comparable*, with the settings that differ, and never compared; so are runs that several
runs of one source share names, seed and settings with (the label does not tell them apart,
so which one pairs is ambiguous). Runs with no partner are listed as *only in one source*.
Skipped runs never ran and pair with nothing (:mod:`optbench.stats.convention`).

**Pairing across optimizers.** A source that shares no optimizer label with the baseline
(stores of two different optimizers: yesterday's Adam, today's candidate) is paired across
labels instead: on every problem both hold, each of its optimizers is paired with each of
the baseline's on the seed, and the pairing is named ``"A vs B"`` (the source's label, then
the baseline's) in the ``label`` column; ``label_new`` and ``label_base`` keep the two. The
rest of the rule is the same. Such a comparison rests on both runs of a seed starting from
the same point, which optbench guarantees by identity (the start point depends on the
problem and the seed alone); the frame's ``start`` column, where given (one
:func:`start_key` per run, read from the stored trace), checks it for every pairing:
runs whose start points differ are *not comparable* ("start points differ"), and pairs
whose start is not stored are compared with a note saying it was not checked.

**What is compared**, per (problem, optimizer) over its n comparable pairs (seeds), the
source against the baseline, at one target ε (the run frame's ``hit_cost_<ε>`` column):

* the success rate (runs that reached ε), as the change ``new − base``;
* aRT (:func:`optbench.stats.average_runtime.art`: evaluations of all runs up to success or end over
  the successes), as the ratio ``aRT_new / aRT_base``;
* the final gap (column ``gap_final``; gaps below ``gap_floor``, by default ε, count as
  ``gap_floor`` since success and aRT already tell those runs apart; a missing gap — a
  diverged or failed run — counts as infinite), as the median over seeds of the per-seed
  ratio ``gap_new / gap_base``.

Each gets a confidence interval (default 95 %) from a paired bootstrap: the n seeds are
resampled with replacement (default 2000 resamples, seeded per pairing by ``seed`` and its
name), the pairs staying together; the interval is the percentile interval. A resample
where neither side reached ε has no aRT ratio and counts as no change.

**The verdict rule.** With α = 1 − confidence, a metric *improved* when

* success rate: the interval's lower end is > 0, and the exact McNemar test (two-sided
  binomial test of the discordant pairs, ``scipy.stats.binomtest``) gives p < α;
* aRT: the interval of the ratio lies wholly below ``1/(1 + art_tol)`` (default: a change
  of more than 5 %), and the Wilcoxon signed-rank test of the per-seed evaluations charged
  (the runtime of a success, the evaluations used by a failure) gives p < α;
* final gap: the interval of the ratio lies wholly below ``1/gap_tol`` (default a factor
  2), and the signed-rank test of the per-seed log gaps gives p < α;

and *worsened* in the mirror case (interval wholly above 0, ``1 + art_tol``, ``gap_tol``).
The verdict is **worse** if any metric worsened (a regression is never hidden by a gain
elsewhere), else **better** if any improved, else **no detectable change** (at n seeds:
with few seeds only large changes can be detected), or **both diverged** where every paired
run diverged (status ``diverged`` or ``non-finite``) in both sources, which leaves nothing to
measure (where only some did, the verdict text counts them). Requiring the test as well as the
interval keeps tiny designs honest: a percentile bootstrap over 10 seeds calls 4/10
against 0/10 successes a change, the exact test (p = 0.125) does not. A (problem,
optimizer) whose only pairings are not comparable gets the verdict **not comparable**;
runs without a partner get **only in one source**.

:func:`compare_sources` returns a :class:`Comparison`; its :meth:`~Comparison.write_json`
and :meth:`~Comparison.write_csv` write the machine-readable verdicts, and
:meth:`~Comparison.worse` lists the pairings that got worse (for a CI gate).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .average_runtime import art
from .convention import charged, counted, group_rng, hit_costs, runtimes
from .significance import compare_samples

__all__ = [
    "CONFIDENCE",
    "Comparison",
    "SETTINGS",
    "VERDICTS",
    "compare_sources",
    "cross_sources",
    "start_key",
]

SETTINGS = ("budget", "max_iter", "tol")  # paired runs must agree on these
VERDICTS = ("better", "worse", "no detectable change", "both diverged", "not comparable",
            "only in one source")
DIVERGED = ("diverged", "non-finite")  # the statuses of a run that blew up
CONFIDENCE = 0.95
RESAMPLES = 2000
ART_TOL = 0.05  # an aRT change within ±5 % is no change
GAP_TOL = 2.0  # a final-gap change within a factor 2 is no change
INF_DECADES = 1000.0  # log10 of an infinite gap: beyond any float, so it ranks last
_MISSING = "—"  # a missing setting, equal to any other missing one
LABEL = "label"  # the pairing column that names the optimizer (crossed between sources)
VS = " vs "  # between the source's label and the baseline's, in a crossed pairing's name
START_RTOL, START_ATOL = 1e-9, 1e-12  # start points closer than this are the same point
STARTS_DIFFER = "start points differ"

VERDICT_COLUMNS = [  # after the pairing columns (``on``: problem_key, label)
    "baseline", "source", "label_base", "label_new", "verdict", "n", "verdict_text",
    "success_base", "success_new", "success_change", "success_change_lo", "success_change_hi",
    "p_success",
    "aRT_base", "aRT_new", "aRT_ratio", "aRT_ratio_lo", "aRT_ratio_hi", "p_aRT",
    "gap_base", "gap_new", "gap_ratio", "gap_ratio_lo", "gap_ratio_hi", "p_gap",
    "note",
]  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """The verdicts of every source against the baseline.

    ``verdicts``: one row per (problem, optimizer, source) with comparable pairs, or whose
    pairings were all not comparable (the pairing columns ``on``, then
    :data:`VERDICT_COLUMNS`). ``not_comparable``: one row per (problem, optimizer, source,
    differing settings) with its seeds. ``only_in_one``: one row per (problem, optimizer,
    source holding the runs, source lacking them) with its seeds. ``crossed``: the
    sources paired with the baseline across optimizer labels (``"A vs B"``).
    """

    on: tuple[str, ...]
    baseline: str
    sources: tuple[str, ...]
    target: float
    relative: bool
    confidence: float
    resamples: int
    verdicts: pd.DataFrame
    not_comparable: pd.DataFrame
    only_in_one: pd.DataFrame
    crossed: tuple[str, ...] = ()

    def worse(self) -> pd.DataFrame:
        """The pairings whose verdict is ``worse``."""
        return self.verdicts[self.verdicts["verdict"] == "worse"]

    def idle(self) -> list[str]:
        """The sources with nothing compared to the baseline: no pairing of theirs got a
        verdict other than ``not comparable`` (they share no problem and seed with it at
        the same settings and start point)."""
        judged = self.verdicts[self.verdicts["verdict"] != "not comparable"]
        return [s for s in self.sources if s != self.baseline and s not in set(judged["source"])]

    def table(self) -> pd.DataFrame:
        """Every verdict in one frame: the compared and not-comparable pairings, then the
        runs only in one source (verdict ``only in one source``, ``source`` the one that
        has them)."""
        only = self.only_in_one.assign(
            verdict="only in one source",
            n=self.only_in_one["seeds"].map(len),
            verdict_text=lambda f: "only in " + f["source"] + ", not in " + f["missing_in"],
            note="",
        )
        only["baseline"] = self.baseline
        cols = [*self.on, *VERDICT_COLUMNS]
        frames = [f for f in (self.verdicts, only) if len(f)]
        if not frames:
            return pd.DataFrame(columns=cols)
        return pd.concat(frames, ignore_index=True).reindex(columns=cols)

    def to_dict(self) -> dict:
        """A JSON-ready dict (NaN → null, ±inf → ``"inf"``/``"-inf"``, as the store writes)."""
        return {
            "baseline": self.baseline,
            "sources": list(self.sources),
            "target": self.target,
            "relative": self.relative,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "rule": RULE,
            "verdicts": _records(self.verdicts),
            "not_comparable": _records(self.not_comparable),
            "only_in_one_source": _records(self.only_in_one),
            "paired_across_optimizers": list(self.crossed),
        }

    def write_json(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1, ensure_ascii=False, allow_nan=False)
            fh.write("\n")

    def write_csv(self, path: str | os.PathLike) -> None:
        """One row per pairing, :meth:`table`'s columns."""
        self.table().to_csv(path, index=False)


RULE = (
    "worse if any of success rate, aRT, final gap worsened; else better if any improved; "
    "else no detectable change (both diverged: every paired run diverged in both sources). "
    "A metric changed when its paired-bootstrap confidence "
    "interval lies wholly on one side (success-rate change beyond 0; aRT ratio beyond "
    "1 ± art_tol; final-gap ratio beyond a factor gap_tol) and its paired test agrees at "
    "α = 1 − confidence (exact McNemar for success, Wilcoxon signed-rank for evaluations "
    "charged and for log final gaps)."
)


def compare_sources(
    frame,
    baseline: str | None = None,
    *,
    target: float = 1e-6,
    relative: bool = False,
    on: Sequence[str] = ("problem_key", "label"),
    gap: str = "gap_final",
    gap_floor: float | None = None,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    art_tol: float = ART_TOL,
    gap_tol: float = GAP_TOL,
    seed: int = 0,
    cross: Collection[str] | None = None,
) -> Comparison:
    """Pair runs across sources and judge each source against the baseline.

    Args:
        frame: tidy run frame with a ``source`` column (one name per store), and ``seed``,
            ``status``, ``evals``, the target's hitting-cost column, ``gap`` and the
            :data:`SETTINGS` columns; optionally ``start`` (:func:`start_key` per run),
            which every pairing checks.
        baseline: the reference source (default: the first source in the frame).
        on: the columns naming a pairing besides the seed.
        target: ε (``hit_cost_<ε>``), or τ with ``relative`` (``rel_hit_cost_<τ>``).
        gap_floor: final gaps below it count as equal (default: ε; 0 with ``relative``).
        confidence, resamples, art_tol, gap_tol: the verdict rule (module docstring).
        seed: seeds the bootstrap (per pairing, with its name).
        cross: the sources paired with the baseline across optimizer labels (``"A vs B"``,
            module docstring); default :func:`cross_sources`, those that share no label
            with it. Only where ``on`` holds ``label``.
    """
    on = list(on)
    if "source" not in frame:
        raise ValueError("the run frame has no 'source' column: expected one source name per "
                         "run (the store each run came from)")
    missing = [c for c in [*on, "seed"] if c not in frame]
    if missing:
        raise ValueError(f"the run frame lacks the pairing columns {missing}; expected "
                         f"{[*on, 'seed']}")
    sources = tuple(dict.fromkeys(str(s) for s in frame["source"]))
    if len(sources) < 2:
        raise ValueError(f"comparing needs at least two sources, got {list(sources)}")
    baseline = sources[0] if baseline is None else str(baseline)
    if baseline not in sources:
        raise ValueError(f"unknown baseline {baseline!r}: expected one of {list(sources)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    floor = (0.0 if relative else target) if gap_floor is None else float(gap_floor)
    if cross is None:
        cross = cross_sources(frame, baseline, on)
    crossed: list[str] = []

    runs = _prepared(counted(frame), target, relative, gap, floor)
    base = runs[runs["source"] == baseline]
    verdicts, not_comp, only = [], [], []
    for other in sources:
        if other == baseline:
            continue
        new = runs[runs["source"] == other]
        b, n = base, new
        if other in cross and LABEL in on:
            b, n = _crossed(base, new, on)
            if len(b) and b["_cross"].any():
                crossed.append(other)
        pairs, loose, only_b, only_n = _pair(b, n, on)
        notes = _notes(loose, only_b, only_n, on, baseline, other)
        names = _label_names(b, n, on)
        for key, grp in pairs.groupby(on, sort=False):
            key = key if isinstance(key, tuple) else (key,)
            rng = group_rng(seed, *key, baseline, other)
            row = _judge(grp, rng, confidence, resamples, art_tol, gap_tol)
            unchecked = _unchecked_starts(grp)
            row["note"] = "; ".join(notes.get(key, []) + unchecked)
            verdicts.append({**dict(zip(on, key, strict=True)), "baseline": baseline,
                             "source": other, **names.get(key, {}), **row})
        compared = {tuple(k) for k in pairs[on].drop_duplicates().itertuples(index=False)}
        for key, grp in loose.groupby([*on, "differs"], sort=False):
            pairing = dict(zip(on, key[:-1], strict=True))
            not_comp.append({**pairing, "baseline": baseline, "source": other,
                             "differs": key[-1],
                             "seeds": sorted(int(s) for s in grp["seed"].unique())})
            if tuple(key[:-1]) not in compared:
                compared.add(tuple(key[:-1]))
                verdicts.append({**pairing, "baseline": baseline, "source": other,
                                 **names.get(tuple(key[:-1]), {}),
                                 "verdict": "not comparable", "n": 0,
                                 "verdict_text": f"not comparable: {key[-1]}", "note": key[-1]})
        for side, lacking, part in ((baseline, other, only_b), (other, baseline, only_n)):
            for key, grp in part.groupby(on, sort=False):
                key = key if isinstance(key, tuple) else (key,)
                only.append({**dict(zip(on, key, strict=True)), "source": side,
                             "missing_in": lacking,
                             "seeds": sorted(int(s) for s in grp["seed"].unique())})
    return Comparison(
        on=tuple(on),
        baseline=baseline,
        sources=sources,
        target=target,
        relative=relative,
        confidence=confidence,
        resamples=resamples,
        verdicts=pd.DataFrame(verdicts).reindex(columns=[*on, *VERDICT_COLUMNS]),
        not_comparable=pd.DataFrame(
            not_comp, columns=[*on, "baseline", "source", "differs", "seeds"]),
        only_in_one=pd.DataFrame(only, columns=[*on, "source", "missing_in", "seeds"]),
        crossed=tuple(crossed),
    )


def cross_sources(frame, baseline: str | None = None,
                  on: Sequence[str] = ("problem_key", "label")) -> list[str]:
    """The sources paired with ``baseline`` (default: the frame's first source) across
    optimizer labels: those whose runs (skipped ones aside) share no ``label`` with the
    baseline's. None where ``on`` lacks ``label``."""
    if LABEL not in on or not len(frame):
        return []
    baseline = str(frame["source"].iloc[0]) if baseline is None else str(baseline)
    runs = counted(frame)
    sources = runs["source"].astype(str)
    held = {name: set(runs.loc[sources == name, LABEL]) for name in dict.fromkeys(sources)}
    mine = held.get(baseline, set())
    return [name for name, labels in held.items()
            if name != baseline and labels and mine and not labels & mine]


def start_key(trace: dict | None):
    """What a run's stored trace says of its start point, for the ``start`` column of
    :func:`compare_sources`: ``("x", x0)`` where the trace keeps the iterates (dimension
    ≤ 3), else ``("f", (f(x0),))`` (the recorded loss is the full, noiseless one), else None
    (no trace: not checked)."""
    if trace is None:
        return None
    for name in ("x", "f"):
        value = trace.get(name)
        if value is not None and len(value):
            return name, tuple(float(v) for v in np.ravel(value[0]))
    return None


# -- pairing ------------------------------------------------------------------------------


def _crossed(base, new, on: list[str]):
    """Both sides relabelled for pairing across optimizers: on each problem both hold,
    every run of the source once per baseline optimizer and every baseline run once per
    source optimizer, under the pairing's name ``"A vs B"``; runs of a problem only one
    side holds keep their label. Column ``_cross`` marks the relabelled runs, ``_label``
    keeps the label as stored."""
    problem = [c for c in on if c != LABEL]
    held_b = base[[*problem, LABEL]].drop_duplicates()
    held_n = new[[*problem, LABEL]].drop_duplicates()
    combos = held_n.merge(held_b, on=problem, suffixes=("_n", "_b"))
    combos["_name"] = combos[f"{LABEL}_n"] + VS + combos[f"{LABEL}_b"]

    def relabel(side, mine):
        side = side.assign(_label=side[LABEL])
        joined = side.merge(combos[[*problem, f"{LABEL}_{mine}", "_name"]],
                            left_on=[*problem, LABEL], right_on=[*problem, f"{LABEL}_{mine}"],
                            how="left")
        hit = joined["_name"].notna()
        joined[LABEL] = joined["_name"].where(hit, joined[LABEL])
        out = joined.drop(columns=[f"{LABEL}_{mine}", "_name"]).assign(_cross=hit.to_numpy())
        return out.copy()  # one block per dtype: the merges below add columns to it

    return relabel(base, "b"), relabel(new, "n")


def _label_names(b, n, on: list[str]) -> dict[tuple, dict[str, str]]:
    """Per pairing key, the two labels as stored: ``label_base`` and ``label_new`` (the
    same label for a pairing of one label, the two halves of ``"A vs B"`` when crossed)."""
    out: dict[tuple, dict[str, str]] = {}
    if LABEL not in on:
        return out
    for side, col in ((b, "label_base"), (n, "label_new")):
        stored = side["_label"] if "_label" in side else side[LABEL]
        for key, label in zip(side[on].itertuples(index=False, name=None), stored, strict=True):
            out.setdefault(tuple(key), {})[col] = label
    return out



def _prepared(runs, target: float, relative: bool, gap: str, floor: float):
    """The columns a verdict needs: ``_rt`` (runtime, inf = never), ``_used``, ``_lgap``
    (log10 of the floored final gap), ``_settings``."""
    out = runs.copy()
    out["source"] = out["source"].astype(str)
    out["_rt"] = runtimes(hit_costs(out, target, relative))
    out["_used"] = charged(out["evals"].to_numpy(dtype=float)) if "evals" in out else 1.0
    g = out[gap].to_numpy(dtype=float) if gap in out else np.full(len(out), np.nan)
    with np.errstate(divide="ignore"):
        lg = np.log10(np.maximum(g, floor)) if floor > 0 else np.log10(np.maximum(g, 1e-300))
    out["_lgap"] = np.where(np.isfinite(lg), lg, INF_DECADES)
    settings = [out[c] if c in out else pd.Series(np.nan, index=out.index) for c in SETTINGS]
    out["_settings"] = [
        tuple(_MISSING if v is None or (isinstance(v, float) and math.isnan(v)) else v
              for v in vals)
        for vals in zip(*settings, strict=True)
    ] if len(out) else []
    return out


def _pair(base, new, on: list[str]):
    """Comparable pairs (same key, seed and settings, and no differing start point);
    not-comparable pairs (same key and seed, other settings or start points) and ambiguous
    runs (several in one source share key, seed and settings), with the reason in column
    ``differs``; and the runs left on each side."""
    key = [*on, "seed"]
    b = base.assign(_i=np.arange(len(base)))
    n = new.assign(_i=np.arange(len(new)))
    ambiguous = []
    for side in (b, n):
        dup = side[side.duplicated([*key, "_settings"], keep=False)]
        if len(dup):
            source = dup["source"].iloc[0]
            ambiguous.append(dup[key].drop_duplicates().assign(
                differs=f"several runs in {source} share the names, seed and settings"))
    if ambiguous:
        amb = pd.concat(ambiguous, ignore_index=True)
        b, n = (side.merge(amb[key].drop_duplicates(), on=key, how="left", indicator=True)
                .query("_merge == 'left_only'").drop(columns="_merge") for side in (b, n))
    pairs = b.merge(n, on=[*key, "_settings"], suffixes=("_b", "_n"))
    rest_b = b[~b["_i"].isin(pairs["_i_b"])]
    rest_n = n[~n["_i"].isin(pairs["_i_n"])]
    apart = _starts_apart(pairs)
    refused = pairs.loc[apart, key].assign(differs=STARTS_DIFFER)
    pairs = pairs[~apart]
    loose = rest_b.merge(rest_n, on=key, suffixes=("_b", "_n"))
    loose = loose.drop_duplicates("_i_b").drop_duplicates("_i_n")  # a run pairs once
    loose["differs"] = [_differs(sb, sn) for sb, sn in zip(loose["_settings_b"],
                                                            loose["_settings_n"], strict=True)]
    only_b = rest_b[~rest_b["_i"].isin(loose["_i_b"])]
    only_n = rest_n[~rest_n["_i"].isin(loose["_i_n"])]
    loose = loose[[*key, "differs"]]
    extra = [f for f in (refused, *ambiguous) if len(f)]
    if extra:
        loose = pd.concat([f for f in (loose, *extra) if len(f)], ignore_index=True)
    return pairs, loose, only_b, only_n


def _same_start(sb, sn) -> bool | None:
    """Whether two :func:`start_key` values are the same point; None where one is not
    stored or they record different things (not checked)."""
    if sb is None or sn is None or not isinstance(sb, tuple) or not isinstance(sn, tuple):
        return None
    if sb[0] != sn[0]:
        return None
    if len(sb[1]) != len(sn[1]):
        return False
    return bool(np.allclose(sb[1], sn[1], rtol=START_RTOL, atol=START_ATOL, equal_nan=True))


def _starts_apart(pairs) -> np.ndarray:
    """Per pair: True where the two runs' stored start points differ."""
    if "start_b" not in pairs or "start_n" not in pairs:
        return np.zeros(len(pairs), dtype=bool)
    return np.array([_same_start(sb, sn) is False
                     for sb, sn in zip(pairs["start_b"], pairs["start_n"], strict=True)],
                    dtype=bool)


def _unchecked_starts(grp) -> list[str]:
    """A note where some pairs' start points could not be checked (no stored trace)."""
    if "start_b" not in grp or "start_n" not in grp:
        return []
    k = sum(_same_start(sb, sn) is None
            for sb, sn in zip(grp["start_b"], grp["start_n"], strict=True))
    return [f"start point not stored for {k} seed{'s' * (k != 1)}: not checked"] if k else []


def _notes(loose, only_b, only_n, on, baseline: str, other: str) -> dict[tuple, list[str]]:
    """Per pairing key, the seeds left out of its comparison and why."""
    notes: dict[tuple, list[str]] = {}
    parts = [(loose, lambda g: f"not comparable ({g['differs'].iloc[0]})"),
             (only_b, lambda g: f"only in {baseline}"), (only_n, lambda g: f"only in {other}")]
    for part, why in parts:
        if not len(part):
            continue
        cols = [*on, "differs"] if "differs" in part else on
        for key, g in part.groupby(cols, sort=False):
            key = key if isinstance(key, tuple) else (key,)
            k = g["seed"].nunique()
            notes.setdefault(tuple(key[: len(on)]), []).append(
                f"{k} seed{'s' * (k != 1)} {why(g)}")
    return notes


def _differs(sb: tuple, sn: tuple) -> str:
    return "; ".join(f"{name} {_fmt(a)} vs {_fmt(b)}"
                     for name, a, b in zip(SETTINGS, sb, sn, strict=True) if a != b)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# -- one verdict --------------------------------------------------------------------------


def _art_pair(ok, cost):
    """aRT per resample (rows) from success flags and evaluations charged (inf without a
    success): the convention of :func:`optbench.stats.average_runtime.art`, vectorized."""
    wins = ok.sum(axis=1)
    return np.where(wins > 0, cost.sum(axis=1) / np.maximum(wins, 1), np.inf)


def _log_ratio(new, base):
    """log10(new / base) for aRT values; both infinite (neither reached the target): 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log10(new) - np.log10(base)
    return np.where(np.isinf(new) & np.isinf(base), 0.0, r)


def _judge(grp, rng, confidence, resamples, art_tol, gap_tol) -> dict:
    grp = grp.sort_values("seed", kind="stable")
    n = len(grp)
    ok_b, ok_n = np.isfinite(grp["_rt_b"].to_numpy()), np.isfinite(grp["_rt_n"].to_numpy())
    cost_b = np.where(ok_b, grp["_rt_b"].to_numpy(), grp["_used_b"].to_numpy(dtype=float))
    cost_n = np.where(ok_n, grp["_rt_n"].to_numpy(), grp["_used_n"].to_numpy(dtype=float))
    lg_b, lg_n = grp["_lgap_b"].to_numpy(), grp["_lgap_n"].to_numpy()
    d_gap = lg_n - lg_b

    art_b = art(grp["_rt_b"].to_numpy(), grp["_used_b"].to_numpy(dtype=float))
    art_n = art(grp["_rt_n"].to_numpy(), grp["_used_n"].to_numpy(dtype=float))
    both_never = math.isinf(art_b) and math.isinf(art_n)
    obs = {
        "success": float(ok_n.mean() - ok_b.mean()),
        "aRT": math.nan if both_never else float(_log_ratio(art_n, art_b)),
        "gap": float(np.median(d_gap)),
    }
    idx = rng.integers(0, n, (resamples, n))
    boot = {
        "success": ok_n[idx].mean(axis=1) - ok_b[idx].mean(axis=1),
        "aRT": _log_ratio(_art_pair(ok_n[idx], cost_n[idx]), _art_pair(ok_b[idx], cost_b[idx])),
        "gap": np.median(d_gap[idx], axis=1),
    }
    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    ci = {k: np.quantile(v, q, method="inverted_cdf") for k, v in boot.items()}
    if both_never:
        ci["aRT"] = np.array([math.nan, math.nan])
    discordant = int((ok_n != ok_b).sum())
    from scipy import stats

    pvals = {
        "success": float(stats.binomtest(int((ok_n & ~ok_b).sum()), discordant).pvalue)
        if discordant else 1.0,
        "aRT": compare_samples(cost_n, cost_b, paired=True)["p"],
        "gap": compare_samples(lg_n, lg_b, paired=True)["p"],
    }
    alpha = 1 - confidence
    band = {"success": 0.0, "aRT": math.log10(1 + art_tol), "gap": math.log10(gap_tol)}
    sign = {"success": 1.0, "aRT": -1.0, "gap": -1.0}  # +1: larger is better
    improved, worsened = [], []
    for k in obs:
        lo, hi = ci[k]
        if not pvals[k] < alpha or math.isnan(lo):
            continue
        up, down = lo > band[k], hi < -band[k]
        if (up and sign[k] > 0) or (down and sign[k] < 0):
            improved.append(k)
        elif (up and sign[k] < 0) or (down and sign[k] > 0):
            worsened.append(k)
    verdict = "worse" if worsened else "better" if improved else "no detectable change"
    both = _both_diverged(grp)
    if verdict == "no detectable change" and both == n:  # nothing to measure on either side
        verdict = "both diverged"
    text = {"worse": f"worse ({', '.join(worsened)})", "better": f"better ({', '.join(improved)})",
            "no detectable change": f"no detectable change at {n} seeds"
            + (f" ({both} diverged in both)" if both else ""),
            "both diverged": f"both diverged, at each of {n} seeds"}[verdict]
    return {
        "verdict": verdict,
        "n": n,
        "verdict_text": text,
        "success_base": float(ok_b.mean()),
        "success_new": float(ok_n.mean()),
        "success_change": obs["success"],
        "success_change_lo": float(ci["success"][0]),
        "success_change_hi": float(ci["success"][1]),
        "p_success": pvals["success"],
        "aRT_base": float(art_b),
        "aRT_new": float(art_n),
        "aRT_ratio": _pow10(obs["aRT"]),
        "aRT_ratio_lo": _pow10(ci["aRT"][0]),
        "aRT_ratio_hi": _pow10(ci["aRT"][1]),
        "p_aRT": pvals["aRT"],
        "gap_base": _gap_value(np.median(lg_b)),
        "gap_new": _gap_value(np.median(lg_n)),
        "gap_ratio": _pow10(obs["gap"]),
        "gap_ratio_lo": _pow10(ci["gap"][0]),
        "gap_ratio_hi": _pow10(ci["gap"][1]),
        "p_gap": pvals["gap"],
    }


def _both_diverged(grp) -> int:
    """The pairs whose runs diverged (or went non-finite) in both sources."""
    if "status_b" not in grp or "status_n" not in grp:
        return 0
    return int((grp["status_b"].isin(DIVERGED) & grp["status_n"].isin(DIVERGED)).sum())


def _pow10(x: float) -> float:
    with np.errstate(over="ignore"):
        return float(np.power(10.0, x))


def _gap_value(lg: float) -> float:
    """A median log gap back to a gap (the infinite stand-in back to inf)."""
    return math.inf if lg >= INF_DECADES else _pow10(lg)


def _records(frame: pd.DataFrame) -> list[dict]:
    def clean(v):
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            v = float(v)
            if math.isnan(v):
                return None
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return v
        if isinstance(v, np.bool_):
            return bool(v)
        return v

    return [{k: clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
