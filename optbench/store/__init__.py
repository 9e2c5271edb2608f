"""The results store: one embedded SQLite file, written by a single writer.

- :mod:`~optbench.store.sql`: the file and every SQL statement (:class:`Store`);
- :mod:`~optbench.store.codecs`: the stored forms of traces and metrics, one writer and one
  reader each (the runner writes a batch's traces through them too), and thinning;
- :mod:`~optbench.store.records`: the typed records a store holds (:class:`RunRecord`,
  :class:`Summary`) and :data:`RESULTS_VERSION`;
- :mod:`~optbench.store.frame`: the tidy frame, one row per run (:func:`read_runs`);
- :mod:`~optbench.store.tuning`: the tuning record beside a store;
- :mod:`~optbench.store.session`: who wrote (command, host, versions).

The store imports nothing of the planner, the spec language or the registry: a run is
handed to it fully resolved, labels included, so a store reads the same wherever it is
opened (``docs/store.md``).
"""

from .codecs import (
    THIN_ABOVE,
    batch_trace_columns,
    pack_metric_arrays,
    pack_metric_columns,
    pack_metrics,
    plain_metric_columns,
    pack_trace,
    pack_traces,
    read_trace,
    split_traces,
    thin_trace,
    trace_columns,
    unpack_metrics,
    unpack_trace,
    whole_block,
)
from .frame import read_runs
from .records import (
    RESULTS_VERSION,
    RunRecord,
    Summary,
    run_summary,
    summary_columns,
    summary_jsons,
)
from .session import anonymized, versions
from .sql import SCHEMA_VERSION, Store, exclusive
from .tuning import read_tuning, tuning_path, write_tuning

__all__ = [
    "RESULTS_VERSION",
    "SCHEMA_VERSION",
    "THIN_ABOVE",
    "RunRecord",
    "Store",
    "Summary",
    "anonymized",
    "batch_trace_columns",
    "exclusive",
    "pack_metric_arrays",
    "pack_metric_columns",
    "pack_metrics",
    "plain_metric_columns",
    "pack_trace",
    "pack_traces",
    "read_runs",
    "read_trace",
    "read_tuning",
    "run_summary",
    "split_traces",
    "summary_columns",
    "summary_jsons",
    "thin_trace",
    "trace_columns",
    "tuning_path",
    "unpack_metrics",
    "unpack_trace",
    "versions",
    "whole_block",
    "write_tuning",
]
