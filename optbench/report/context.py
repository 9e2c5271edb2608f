"""What a report section sees: the :class:`Context` read from the stores (the runs, the
problems, the tuning record) and the traces it reads on request.

A store written by ``optbench tune`` has a tuning record beside it
(``<store>.tuning.json``, :func:`optbench.store.tuning_path`); the context then marks each
run's phase and compares the tuned winners, one per optimizer family
(:attr:`Context.compare`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import registry

__all__ = ["Context", "read_context"]


@dataclass
class Context:
    """What a section sees: the runs, the problems, and the traces on request.

    Attributes:
        runs: one pandas row per run (every run of the stores, failures included), with a
            ``store`` column, and ``phase`` (``tuning``/``final``/``""``) and ``solver``.
        problems: problem_key -> info (name, params, dim, domain, x_star, f_star, L, mu, ...).
        tuning: the tuning record (``optbench tune``) or None.
        cache: shared derived data, so sections do not recompute each other's work.
    """

    dbs: list[Path]
    runs: Any
    problems: dict[str, dict[str, Any]]
    sessions: list[dict[str, Any]] = field(default_factory=list)
    tuning: dict[str, Any] | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    _traces: dict[str, dict | None] = field(default_factory=dict)

    def trace(self, run_id: str) -> dict | None:
        """The arrays of one run (cached): f, gnorm, n_f, n_g, lr, time, and x for dim <= 3."""
        if run_id not in self._traces:
            from ..store import Store

            store_path = self.runs.loc[self.runs.run_id == run_id, "store"].iloc[0]
            with Store(store_path) as s:
                self._traces[run_id] = s.trace(run_id)
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
        stores = dict(zip(self.runs.run_id, self.runs.store, strict=True))
        by_store: dict[str, list[str]] = {}
        for rid in run_ids:
            by_store.setdefault(stores[rid], []).append(rid)
        for path, members in by_store.items():
            with Store(path) as s:
                whole = [r for r in members if r in full]
                for rid, tr in s.traces(whole):
                    self._traces[rid] = tr
                    yield rid, tr
                yield from s.traces([r for r in members if r not in full], wanted)

    @cached_property
    def problem_keys(self) -> list[str]:
        return list(dict.fromkeys(self.runs.problem_key))

    def problem_title(self, key: str) -> str:
        from ..spec import Spec, format_spec

        info = self.problems.get(key, {})
        return format_spec(Spec(info.get("name", key), _nondefault(info)))

    @cached_property
    def compare(self):
        """The runs the comparison views use, with their ``solver`` name.

        Without a tuning record: every run, solver = the optimizer label. With one: the
        final-phase runs only, solver = the optimizer family (its tuned learning rate
        differs per problem), so the aggregated views compare one winner per family.
        """
        if self.tuning is None:
            return self.runs
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


def _nondefault(info: dict[str, Any]) -> dict[str, Any]:
    try:
        params = registry.get("problem", info["name"]).params
    except Exception:  # a problem from a plug-in not loaded now: show every parameter
        return dict(info.get("params", {}))
    return {
        k: v for k, v in info.get("params", {}).items() if k not in params or params[k].default != v
    }


def _read(dbs: list[Path]):
    import pandas as pd

    from ..store import Store, read_runs

    frames, problems, sessions = [], {}, []
    for db in dbs:
        frame = read_runs(db)
        frame["store"] = str(db)
        frames.append(frame)
        with Store(db) as s:
            problems.update(s.problem_info())
            sessions.extend(s.sessions())
    runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    runs = runs.drop_duplicates("run_id").reset_index(drop=True)
    return runs, problems, sessions


def _mark_phases(runs, tuning: dict[str, Any] | None):
    """Add ``phase`` and ``solver`` columns (see :attr:`Context.compare`)."""
    runs = runs.copy()
    runs["phase"] = ""
    runs["solver"] = runs["label"] if "label" in runs else ""
    if tuning is None or not len(runs):
        return runs
    phase = {rid: "tuning" for rid in tuning.get("tuning_run_ids", [])}
    phase.update({rid: "final" for rid in tuning.get("final_run_ids", [])})
    runs["phase"] = runs.run_id.map(phase).fillna("")
    family = {rid: fam for fam, ids in tuning.get("final_families", {}).items() for rid in ids}
    runs["solver"] = runs.run_id.map(family).fillna(runs["label"])
    return runs


def _normal(text: str) -> str:
    """A spec as the report writes it (``gd[lr=5e-2]`` and ``gd[lr=0.05]`` agree)."""
    from ..errors import UsageError
    from ..spec import format_spec, parse

    try:
        return format_spec(parse(text))
    except UsageError:
        return text.strip()


def select_runs(runs, infos: dict[str, dict], problems=None, optimizers=None):
    """The runs whose problem (name or title, e.g. ``linear-regression[standardize=true]``)
    and optimizer (name or label, e.g. ``gd[lr=0.05]``) a filter names; a filter that
    matches no run is a one-line error listing what the stores hold."""
    import numpy as np

    from ..errors import UsageError
    from ..spec import Spec, format_spec

    if not len(runs):
        if problems or optimizers:
            flag, text = ("-p", problems[0]) if problems else ("-o", optimizers[0])
            raise UsageError(f"{flag} {text!r} matches no run: the store holds no runs")
        return runs
    titles = {k: format_spec(Spec(i.get("name", k), _nondefault(i))) for k, i in infos.items()}
    runs = runs.assign(_title=runs.problem_key.map(titles).fillna(runs.problem))
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
    paths: list[Path], problems: list[str] | None = None, optimizers: list[str] | None = None
) -> Context:
    """The context of a report over ``paths``, restricted to some problems and optimizers."""
    runs, infos, sessions = _read(paths)
    runs = select_runs(runs, infos, problems, optimizers)
    from ..store import read_tuning

    tuning = read_tuning(paths)
    return Context(
        paths, _mark_phases(runs.reset_index(drop=True), tuning), infos, sessions, tuning
    )
