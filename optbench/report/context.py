"""What a report section sees: the :class:`Context` read from the stores (the runs, the
problems, the tuning record) and the traces it reads on request.

Each store is a *source* with a name (given, or its folder's name; its file's stem where
folders coincide, :func:`source_names`). Runs are never pooled across sources: with several
sources each run's ``label`` becomes ``label · source`` (the label as the store wrote it
stays in ``spec_label``) and its ``run_id`` ``source:run_id`` (the store's id stays in
``store_run_id``), so every section shows the same setting of two stores as two entries.

A store written by ``optbench tune`` has a tuning record beside it
(``<store>.tuning.json``, :func:`optbench.store.tuning_path`); the context then marks each
run's phase and compares the tuned winners, one per optimizer family
(:attr:`Context.compare`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ..errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from ..stats.curves import ProblemData
    from ..stats.profiles import InstanceCosts

__all__ = ["Context", "read_context", "source_names", "start_points"]

SOURCE_SEP = " · "  # between a label and its source's name, with several sources


@dataclass
class Context:
    """What a section sees: the runs, the problems, and the traces on request.

    What sections share (the problems' curves, the profiles' costs, the clocks) are typed
    properties computed on first use and kept: a section reads them whether or not an
    earlier one did, and none recomputes another's work.

    Attributes:
        runs: one pandas row per run (every run of the stores, failures included), with
            ``store``, ``source``, ``spec_label``, ``store_run_id``, ``phase``
            (``tuning``/``final``/``budget``/``""``; ``budget``: a track of ``optbench tune
            --trials`` at a smaller tuning budget) and ``solver`` columns.
        sources: the source names, in the order given (the first is the default baseline).
        baseline: the reference source of the comparison.
        problems: problem_key -> info (name, params, dim, domain, x_star, f_star, L, mu, ...).
        landscapes: problem_key -> the landscape stored with the problem (1-D and 2-D
            problems, :meth:`optbench.problem.Problem.stored_landscape`); stores written
            before landscapes were stored have none.
        sessions: the stores' ``sessions`` rows, each with its ``source``
            (:func:`optbench.environment.from_session` reads its environment).
        tuning: the tuning record (``optbench tune``) or None.
        components: ``(kind, name) -> info`` of the optimizers and schedules, as recorded
            with the runs (description, origin, needs, theory mapping).
        x_axis: the cost axis of the convergence and ECDF figures, ``evals`` (n_f + n_g)
            or ``time`` (the batch clock, :mod:`optbench.report.timing`).
    """

    dbs: list[Path]
    runs: Any
    problems: dict[str, dict[str, Any]]
    sessions: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    baseline: str | None = None
    tuning: dict[str, Any] | None = None
    landscapes: dict[str, dict[str, Any]] = field(default_factory=dict)
    components: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    x_axis: str = "evals"
    _traces: dict[str, dict | None] = field(default_factory=dict)

    def trace(self, run_id: str) -> dict | None:
        """The arrays of one run (cached): f, gnorm, n_f, n_g, lr, time, and x for dim <= 3."""
        if run_id not in self._traces:
            from ..store import Store

            row = self.runs.loc[self.runs.run_id == run_id].iloc[0]
            with Store(row["store"]) as s:
                self._traces[run_id] = s.trace(row["store_run_id"])
        return self._traces[run_id]

    def traces(self, run_ids: Iterable[str]) -> dict[str, dict | None]:
        """Full traces of several runs, read in one pass over the store and cached."""
        ids = [r for r in run_ids if r not in self._traces]
        if ids:
            self._traces.update(self.iter_traces(ids))
        return {r: self._traces.get(r) for r in run_ids}

    def iter_traces(
        self,
        run_ids: Iterable[str],
        keys: Iterable[str] | None = None,
        full: Iterable[str] = (),
    ) -> Iterator[tuple[str, dict | None]]:
        """``(run_id, trace)`` for many runs, read in bulk and not cached (None: no trace).

        ``keys`` reads only those arrays (e.g. ``("f", "n_f", "n_g")``), which is most of
        the cost of a report over many runs. The runs in ``full`` are read whole in the same
        pass and cached for :meth:`traces` (the few a figure draws in full).
        """
        from ..store import Store

        wanted = None if keys is None else tuple(keys)
        full = set(full)
        ids = self.runs.run_id.tolist()  # lists: iterating a pandas column is slow
        stores = dict(zip(ids, self.runs.store.tolist(), strict=True))
        stored = dict(zip(ids, self.runs.store_run_id.tolist(), strict=True))
        by_store: dict[str, dict[str, str]] = {}
        for rid in run_ids:
            by_store.setdefault(stores[rid], {})[stored[rid]] = rid
        for path, members in by_store.items():
            with Store(path) as s:
                whole = [sid for sid, rid in members.items() if rid in full]
                for sid, tr in s.traces(whole):
                    # own copies: a view would keep its whole block of runs alive in the cache
                    tr = None if tr is None else {k: v.copy() for k, v in tr.items()}
                    self._traces[members[sid]] = tr
                    yield members[sid], tr
                rest = [sid for sid, rid in members.items() if rid not in full]
                for sid, tr in s.traces(rest, wanted):
                    yield members[sid], tr

    @cached_property
    def comparison(self):
        """The verdicts of every source against the baseline
        (:func:`optbench.stats.comparison.compare_sources`), or None with one source.

        Problems with a known f* are judged at Δf ≤ 1e-6, the others at the relative target
        τ = 1e-3 (the tidy frame's ``rel_hit_cost_1e-3``); the two parts are concatenated.
        """
        if len(self.sources) < 2 or not len(self.runs):
            return None
        return compare_parts(self.runs, self.baseline, self.known_f_star)

    @cached_property
    def colours(self) -> dict[str, str]:
        """One colour per run label for the whole report (``label -> '#rrggbb'``), in the
        order labels first appear in the runs: the same optimizer setting has the same
        colour in every figure, interactive or not. Figures of families or sources use
        their own keys with :func:`optbench.report.figures.palette`."""
        from matplotlib.colors import to_hex

        from .figures import palette

        labels = list(dict.fromkeys(self.runs["label"].tolist())) if len(self.runs) else []
        return {label: to_hex(c) for label, c in zip(labels, palette(len(labels)), strict=True)}

    @cached_property
    def problem_data(self) -> dict[str, ProblemData]:
        """problem_key -> the problem's best-so-far curves over every run of the report
        (:func:`optbench.stats.curves.read_problem_data`)."""
        from ..stats.curves import read_problem_data

        return read_problem_data(self)

    @cached_property
    def compared_data(self) -> dict[str, ProblemData]:
        """:attr:`problem_data` of the compared runs only: the tuned winners when tuned,
        else the main cross products' runs (:func:`optbench.stats.curves.select_compared`)."""
        from ..stats.curves import select_compared

        return select_compared(self)

    @cached_property
    def solvers(self) -> list[str]:
        """The compared solvers (:attr:`compare`'s ``solver``), in first-seen order."""
        return list(dict.fromkeys(self.compare.solver)) if len(self.compare) else []

    @cached_property
    def profiles(self) -> InstanceCosts:
        """The Moré–Wild costs of the (problem, seed) instances per solver at the relative
        targets :data:`optbench.metrics.REL_TARGETS`, from :attr:`compared_data`
        (:func:`optbench.stats.profiles.instance_matrix`): what the performance and data
        profiles and the ranking are drawn from."""
        from ..metrics import REL_TARGETS
        from ..stats.profiles import instance_matrix

        return instance_matrix(self.compared_data, self.solvers, REL_TARGETS)

    @cached_property
    def clocks(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """run_id -> ``(t, time)``: the stored iterate numbers and the batch clock there, of
        each counted run with a trace (:func:`optbench.report.timing.read_clocks`)."""
        from .timing import read_clocks

        return read_clocks(self)

    @cached_property
    def known_f_star(self) -> set[str]:
        return {k for k, info in self.problems.items() if info.get("f_star") is not None}

    @cached_property
    def problem_keys(self) -> list[str]:
        return list(dict.fromkeys(self.runs.problem_key))

    def problem_title(self, key: str) -> str:
        return _problem_label(key, self.problems)

    @cached_property
    def main(self):
        """The runs of the main cross products: every run but those of the pairings only a
        sweep ran (:mod:`optbench.sweeps`, read from the sessions), which the Lesson, the
        Momentum and the learning-rate views show and the comparison views leave out."""
        from ..sweeps import main_mask

        if not len(self.runs):
            return self.runs
        mask = main_mask(self.runs, self.sessions)
        return self.runs if bool(mask.all()) else self.runs[mask].reset_index(drop=True)

    @cached_property
    def swept(self) -> str:
        """Which labels only a sweep ran, per problem, as text (``"42 on quadratic-1d, 3 on
        …"``), or "" when there are none: what the comparison views say they leave out."""
        if len(self.main) == len(self.runs):
            return ""
        left = self.runs[~self.runs.run_id.isin(set(self.main.run_id))]
        counts = left.groupby("problem_label", sort=False)["spec_label"].nunique()
        return ", ".join(f"{n} on {p}" for p, n in counts.items())

    @cached_property
    def compare(self):
        """The runs the comparison views use, with their ``solver`` name.

        Without a tuning record: the main cross products' runs (:attr:`main`), solver = the
        optimizer label. With one: the final-phase runs only, solver = the optimizer family
        (its tuned learning rate differs per problem), so the aggregated views compare one
        winner per family.
        """
        if self.tuning is None:
            return self.main
        return self.runs[self.runs.phase == "final"].reset_index(drop=True)

    def f_ref(self, key: str) -> tuple[float | None, bool]:
        """``(reference value, known)``: f* when known, else the best value any run found."""
        import numpy as np

        f_star = self.problems.get(key, {}).get("f_star")
        if f_star is not None:
            return float(f_star), True
        best = self.runs.loc[self.runs.problem_key == key, "f_best"].astype(float)
        best = best[np.isfinite(best)]
        return (float(best.min()) if len(best) else None), False


def _problem_label(key: str, problems: dict[str, dict[str, Any]]) -> str:
    """The problem with the parameters that make it a variant:
    ``linear-regression[standardize=true]``, as recorded with its runs (worked out from
    the registry for a store written before labels were recorded)."""
    info = problems.get(key, {})
    if info.get("label"):
        return info["label"]
    from ..plan import problem_label

    return problem_label(info.get("name", key), dict(info.get("params", {})))


def source_names(paths: list[Path], names: list[str | None] | None = None) -> list[str]:
    """A name per store: the one given, else its folder's name, else (where folders
    coincide) its file's stem, else its path; names must not repeat."""
    names = list(names or [None] * len(paths))
    auto = [Path(p).resolve().parent.name or str(p) for p in paths]
    out = []
    for p, given, folder in zip(paths, names, auto, strict=True):
        if given:
            out.append(given)
        elif auto.count(folder) == 1 and folder not in names:
            out.append(folder)
        else:
            out.append(Path(p).stem)
    for i, name in enumerate(out):  # still the same: the full path tells them apart
        if out.count(name) > 1 and not names[i]:
            out[i] = str(paths[i])
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise UsageError(f"two stores are named {dup[0]!r}: expected a different NAME for each "
                         "(--db NAME=PATH)")
    return out


def _read(dbs: list[Path], names: list[str]):
    import pandas as pd

    from ..store import Store, read_runs

    frames, problems, landscapes, sessions = [], {}, {}, []
    components: dict[tuple[str, str], dict[str, Any]] = {}
    for db, name in zip(dbs, names, strict=True):
        frame = read_runs(db)
        frame["store"] = str(db)
        frame["source"] = name
        frames.append(frame.drop_duplicates("run_id"))
        with Store(db) as s:
            problems.update(s.problem_info())
            landscapes.update(s.landscapes())
            sessions.extend([{**row, "source": name} for row in s.sessions()])
            for key, info in s.components().items():
                components.setdefault(key, info)
    runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "run_id" not in runs:
        return runs, problems, landscapes, sessions, components
    runs["store_run_id"] = runs["run_id"]
    runs["spec_label"] = runs["label"]
    if len(dbs) > 1:  # never pooled: one entry per (setting, source)
        runs["run_id"] = runs["source"] + ":" + runs["run_id"]
        runs["label"] = runs["label"] + SOURCE_SEP + runs["source"]
    return runs.reset_index(drop=True), problems, landscapes, sessions, components


class _Pairing(TypedDict, total=False):
    """The optional ``on`` keyword of :func:`~optbench.stats.comparison.compare_sources`."""

    on: Sequence[str]


def compare_parts(runs, baseline: str | None, known: set[str]):
    """:func:`~optbench.stats.comparison.compare_sources` on the problems with a known f*
    (absolute target 1e-6) and on the others (relative τ = 1e-3), as one result.

    Each run's start point is read from its stored trace (``start``,
    :func:`~optbench.stats.comparison.start_key`), so every pairing checks it; which sources
    are paired across optimizer labels is decided once over all problems."""
    import dataclasses

    import pandas as pd

    from ..stats.comparison import compare_sources, cross_sources

    frame = runs.assign(label=runs["spec_label"])
    if "store" in frame and "store_run_id" in frame:
        frame = frame.assign(start=start_points(frame))
    if "problem_label" in frame:  # one label per problem, the baseline's first: stores
        # that label one problem differently (a plug-in's label rule changed, a store from
        # before labels were stored, its labels worked out now) still pair on it
        first = frame.sort_values("source", key=lambda s: s != baseline, kind="stable")
        labels = first.drop_duplicates("problem_key").set_index("problem_key")["problem_label"]
        frame = frame.assign(problem_label=frame["problem_key"].map(labels))
    on = ("problem_key", "problem_label", "label") if "problem_label" in frame else None
    is_known = frame["problem_key"].isin(known)
    # the pairing columns only when there are problem labels (else compare_sources's own)
    pairing: _Pairing = {"on": on} if on else {}
    cross = cross_sources(frame, baseline, on or ("problem_key", "label"))
    parts = []
    for mask, target, relative in ((is_known, 1e-6, False), (~is_known, 1e-3, True)):
        sub = frame[mask]
        if sub["source"].nunique() >= 2:
            parts.append(
                compare_sources(sub, baseline=baseline, target=target, relative=relative,
                                cross=cross, **pairing)
            )
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return dataclasses.replace(
        first,
        sources=tuple(dict.fromkeys(s for p in parts for s in p.sources)),
        verdicts=pd.concat([p.verdicts for p in parts], ignore_index=True),
        not_comparable=pd.concat([p.not_comparable for p in parts], ignore_index=True),
        only_in_one=pd.concat([p.only_in_one for p in parts], ignore_index=True),
        crossed=tuple(dict.fromkeys(s for p in parts for s in p.crossed)),
    )


def start_points(runs) -> list:
    """Each run's start point as its stored trace gives it
    (:func:`~optbench.stats.comparison.start_key`: x0, or f(x0) where the trace keeps no
    iterates; None without a trace), read a block at a time (``store``, ``store_run_id``)."""
    from ..stats.comparison import start_key
    from ..store import Store

    found: dict[tuple[str, str], Any] = {}
    by_store: dict[str, list[str]] = {}
    for path, rid in zip(runs["store"].tolist(), runs["store_run_id"].tolist(), strict=True):
        by_store.setdefault(path, []).append(rid)
    for path, ids in by_store.items():
        with Store(path) as s:
            for rid, trace in s.traces(list(dict.fromkeys(ids)), ("x", "f")):
                found[(path, rid)] = start_key(trace)
    return [found.get(k) for k in zip(runs["store"].tolist(), runs["store_run_id"].tolist(),
                                      strict=True)]


def _as_objects(runs):
    """Text columns, and the column names, as Python objects. The sections select rows and
    columns thousands of times, and each selection of an Arrow-backed text array (pandas
    3's default) costs far more than the take of an object array; the values are the same
    strings."""
    import pandas as pd

    text = [c for c, t in runs.dtypes.items() if isinstance(t, pd.StringDtype)]
    if text:
        runs[text] = runs[text].astype(object)
    runs.columns = runs.columns.astype(object)
    return runs


def _mark_phases(runs, tuning: dict[str, Any] | None):
    """Add ``phase`` and ``solver`` columns (see :attr:`Context.compare`)."""
    runs = runs.copy()
    runs["phase"] = ""
    runs["solver"] = runs["label"] if "label" in runs else ""
    if tuning is None or not len(runs):
        return runs
    phase = {rid: "tuning" for rid in tuning.get("tuning_run_ids", [])}
    # tuning by trials: the tracks at smaller tuning budgets (their own comparison)
    phase.update({rid: "budget" for rid in tuning.get("budget_run_ids", [])})
    phase.update({rid: "final" for rid in tuning.get("final_run_ids", [])})
    runs["phase"] = runs.store_run_id.map(phase).fillna("")
    family = {rid: fam for fam, ids in tuning.get("final_families", {}).items() for rid in ids}
    runs["solver"] = runs.store_run_id.map(family).fillna(runs["label"])
    return runs


def _normal(text: str) -> str:
    """A spec as the report writes it, its parameters in one order (``gd[lr=5e-2]`` and
    ``gd[lr=0.05]`` agree, as do ``p[a=1,b=2]`` and ``p[b=2,a=1]``)."""
    from ..errors import UsageError
    from ..spec import Spec, format_spec, parse

    def ordered(value):
        if isinstance(value, Spec):
            return Spec(value.name, {k: ordered(value.params[k]) for k in sorted(value.params)})
        return value

    try:
        return format_spec(ordered(parse(text)))
    except UsageError:
        return text.strip()


def select_runs(runs, infos: dict[str, dict], problems=None, optimizers=None):
    """The runs whose problem (name or title, e.g. ``linear-regression[standardize=true]``)
    and optimizer (name or label, e.g. ``gd[lr=0.05]``) a filter names; a filter that
    matches no run is a one-line error listing what the stores hold."""
    import numpy as np

    from ..errors import UsageError

    if not len(runs):
        if problems or optimizers:
            flag, text = ("-p", problems[0]) if problems else ("-o", optimizers[0])
            raise UsageError(f"{flag} {text!r} matches no run: the store holds no runs")
        return runs
    titles = runs.problem_label if "problem_label" in runs else runs.problem
    runs = runs.assign(_title=titles)
    for flag, wanted, columns in (
        ("-p", problems, ("problem", "_title")),
        ("-o", optimizers, ("optimizer", "label")),
    ):
        if not wanted:
            continue
        keep = np.zeros(len(runs), dtype=bool)
        for text in wanted:
            hit = np.zeros(len(runs), dtype=bool)
            for col in columns:
                hit |= (runs[col].map(_normal) == _normal(text)).to_numpy()
            if not hit.any():
                held = list(dict.fromkeys(runs[columns[1]]))
                shown = ", ".join(held[:20])
                shown += f", ... ({len(held)} in all)" if len(held) > 20 else ""
                kind = "problems" if flag == "-p" else "optimizers"
                raise UsageError(
                    f"{flag} {text!r} matches no run in the store; it holds the {kind} {shown}"
                )
            keep |= hit
        runs = runs[keep]
    return runs.drop(columns="_title")


def read_context(
    paths: list[Path],
    problems: list[str] | None = None,
    optimizers: list[str] | None = None,
    names: list[str | None] | None = None,
    baseline: str | None = None,
    x_axis: str = "evals",
) -> Context:
    """The context of a report over ``paths``, restricted to some problems and optimizers.

    ``names`` names the sources (default :func:`source_names`); ``baseline`` is the
    reference source of the comparison (default the first)."""
    sources = source_names(paths, names)
    if baseline is not None and baseline not in sources:
        raise UsageError(f"unknown baseline {baseline!r}: expected one of the sources "
                         f"{sources}")
    runs, infos, landscapes, sessions, components = _read(paths, sources)
    if len(runs) and ("problem_label" not in runs or runs["problem_label"].isna().any()):
        from ..plan import fill_problem_labels

        runs = fill_problem_labels(runs, infos)
    runs = select_runs(runs, infos, problems, optimizers)
    if len(runs):  # labels without the digests their factories resolved (report.labels)
        from .labels import shown_problem_labels

        # per stored (problem, label): two stores may label one problem differently, and the
        # comparison shows the baseline's (compare_parts); the problem's title is the
        # baseline's label, else the first store's
        pairs = list(dict.fromkeys(zip(runs["problem_key"], runs["problem_label"],
                                       strict=True)))
        stored = {f"{k}\0{lab}": lab for k, lab in pairs}
        shown = shown_problem_labels(stored, {f"{k}\0{lab}": infos.get(k, {})
                                              for k, lab in pairs})
        runs = runs.assign(problem_label=[
            shown[f"{k}\0{lab}"] for k, lab in zip(runs["problem_key"], runs["problem_label"],
                                                   strict=True)])
        first = runs if baseline is None else runs.iloc[
            (runs["source"] != baseline).to_numpy().argsort(kind="stable")]
        title: dict[str, str] = {}
        for k, lab in zip(first["problem_key"], first["problem_label"], strict=True):
            title.setdefault(k, lab)
        infos = {k: {**i, "label": title[k]} if k in title else i for k, i in infos.items()}
    from ..store import read_tuning

    tuning = read_tuning(paths)
    return Context(
        paths,
        _as_objects(_mark_phases(runs.reset_index(drop=True), tuning)),
        infos,
        sessions,
        sources=sources,
        baseline=baseline or sources[0] if sources else None,
        tuning=tuning,
        landscapes=landscapes,
        components=components,
        x_axis=x_axis,
    )
