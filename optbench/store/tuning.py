"""The tuning record ``optbench tune`` writes beside a store (``<store>.tuning.json``):
its protocol, its winners and which runs tuned and which confirmed them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import bundle
from .records import RESULTS_VERSION

__all__ = ["read_tuning", "tuning_path", "write_tuning"]


def tuning_path(db: str | os.PathLike) -> Path:
    """Where ``optbench tune`` records its protocol for a store: ``<store>.tuning.json``."""
    p = Path(db)
    return p.with_name(p.stem + ".tuning.json")


def write_tuning(db: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write the tuning record of ``db`` (atomically: a reader never sees half of it)."""
    path = tuning_path(db)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return path


def read_tuning(dbs: Iterable[str | os.PathLike]) -> dict[str, Any] | None:
    """The tuning records beside the stores, merged (None when there is none)."""
    records = []
    for db in dbs:
        path = tuning_path(bundle.resolve(db, False, RESULTS_VERSION))  # a bundle: its copy
        if path.is_file():
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # a damaged record: report the runs untuned rather than fail
    if not records:
        return None
    merged = dict(records[0])
    for key in ("winners", "tuning_run_ids", "final_run_ids"):
        merged[key] = [v for r in records for v in r.get(key, [])]
    return merged
