"""Dense sweeps: extra cross products of a spec, run beside its main one.

A spec's ``problems`` × ``optimizers`` is its main cross product: every optimizer on every
problem, what the per-problem figures, tables and tests compare. A ``sweeps`` key adds
cross products that run only where they are needed: a learning-rate sweep on the problems
that draw it, an lr × β grid for heavy ball on one quadratic. In TOML::

    problems = ["quadratic-1d", "rosenbrock"]
    optimizers = ["gd[lr=0.5/L]", "adam"]
    [[sweeps]]
    problems = ["quadratic-1d"]
    optimizers = ["gd[lr=[0.1/L,0.5/L,1/L,1.5/L,1.9/L]]"]

Each block is planned with the spec's seeds and budget rules (``budgets`` may name its
problems too); a run in several blocks, or in the main product too, runs once (its
``run_id`` decides). Each session records which ``(problem, optimizer label)`` pairs came
from its main product and which only from a sweep (:func:`labels_record`), so a report
reading the store alone keeps sweep-only labels out of a problem's family of tests against
the best (:func:`sweep_only`), where a dense sweep would take the power of Holm's
correction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["KEYS", "check", "labels_record", "normalize", "sweep_only"]

KEYS = ("problems", "optimizers")
_EXPECTED = ("expected a list of tables, each with the keys problems and optimizers (lists of "
             "spec strings), e.g. sweeps = [{ problems = [\"quadratic-1d\"], optimizers = "
             "[\"gd[lr=[0.1/L,1/L]]\"] }]")


def _strings(v: Any) -> bool:
    return isinstance(v, list | tuple) and bool(v) and all(
        isinstance(s, str) and s.strip() for s in v)


def problem(value: Any) -> str | None:
    """What is wrong with a ``sweeps`` value (one line, without the setting's origin), or
    None when it is well formed."""
    if not isinstance(value, list | tuple):
        return f"sweeps must be a list, got {type(value).__name__} {_short(value)}; {_EXPECTED}"
    for i, block in enumerate(value, 1):
        where = f"sweeps[{i}]"
        if not isinstance(block, Mapping):
            return f"{where} must be a table, got {_short(block)}; {_EXPECTED}"
        unknown = [k for k in block if k not in KEYS]
        if unknown:
            return (f"{where} has the unknown key {unknown[0]!r}; a sweep holds only "
                    "problems and optimizers (seeds, budget and the rest are the spec's)")
        for key in KEYS:
            if key not in block:
                return f"{where} has no {key}; {_EXPECTED}"
            if not _strings(block[key]):
                return (f"{where}.{key} must be a non-empty list of spec strings, got "
                        f"{_short(block[key])}")
    return None


def _short(v: Any, n: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= n else text[: n - 1] + "…"


def check(value: Any, where: str = "") -> None:
    """A one-line :class:`~optbench.errors.UsageError` for a malformed ``sweeps``."""
    from .errors import UsageError

    why = problem(value)
    if why is not None:
        raise UsageError(f"{where}{why}")


def normalize(value: Iterable[Mapping[str, Any]] | None) -> list[dict[str, list[str]]]:
    """The sweeps as plain lists: ``[{"problems": [...], "optimizers": [...]}, ...]``."""
    return [{k: [str(s) for s in block[k]] for k in KEYS} for block in (value or [])]


def labels_record(main: Iterable[tuple[str, str]],
                  swept: Iterable[tuple[str, str]]) -> dict[str, dict[str, list[str]]]:
    """What a session stores of its labels: ``{"main": {problem label: [optimizer labels]},
    "sweeps": {problem label: [labels that come only from a sweep]}}``, from the
    ``(problem label, optimizer label)`` pairs of the main product and of the sweeps."""
    out: dict[str, dict[str, list[str]]] = {"main": {}, "sweeps": {}}
    main = list(main)
    in_main = set(main)
    for p, lab in main:
        labels = out["main"].setdefault(p, [])
        if lab not in labels:
            labels.append(lab)
    for p, lab in swept:
        if (p, lab) in in_main:
            continue
        labels = out["sweeps"].setdefault(p, [])
        if lab not in labels:
            labels.append(lab)
    return out


def _spec(session: Mapping[str, Any]) -> dict[str, Any]:
    spec = session.get("spec")
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            return {}
    return spec if isinstance(spec, dict) else {}


def sweep_only(sessions: Sequence[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """``(source, problem label, optimizer label)`` of each pairing that the stores'
    sessions ran only in a sweep: recorded as a sweep's by some session of its source and
    in no session's main product. Labels are as stored (without a source's suffix);
    sessions recorded before sweeps existed add nothing."""
    swept: set[tuple[str, str, str]] = set()
    main: set[tuple[str, str, str]] = set()
    for session in sessions:
        record = _spec(session).get("labels")
        if not isinstance(record, dict):
            continue
        source = str(session.get("source") or "")
        for part, into in (("main", main), ("sweeps", swept)):
            table = record.get(part)
            if not isinstance(table, dict):
                continue
            for p, labels in table.items():
                if isinstance(labels, list):
                    into.update((source, str(p), str(lab)) for lab in labels)
    return swept - main


def main_mask(runs, sessions: Sequence[Mapping[str, Any]]):
    """A boolean Series over a report's run frame (``source``, ``problem_label``,
    ``spec_label``, as :class:`optbench.report.Context` reads them): True where the run's
    pairing belongs to a main cross product, False where it came only from a sweep."""
    import pandas as pd

    only = sweep_only(sessions)
    if not only or not len(runs):
        return pd.Series(True, index=runs.index)
    label = runs["spec_label"] if "spec_label" in runs else runs["label"]
    source = runs["source"] if "source" in runs else pd.Series("", index=runs.index)
    keys = zip(source.fillna("").astype(str), runs["problem_label"].astype(str),
               label.astype(str), strict=True)
    return pd.Series([k not in only for k in keys], index=runs.index)


__all__ += ["main_mask", "problem"]
