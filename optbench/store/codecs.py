"""The stored forms of traces and metrics, and the one writer and reader of each.

A block (the runs of one batch) is stored as two numpy archives (``.npz``, read back with
``allow_pickle=False``: nothing in a store is ever unpickled):

- its traces as columns (:func:`trace_columns`, or :func:`batch_trace_columns` straight
  from a batch's time-major arrays): per quantity, the runs' arrays one after another,
  ``length`` the iterates of each run (-1: no trace) and ``len.<key>`` the entries of a
  quantity whose count differs from it (``lr``: one fewer);
- its metrics as one typed column per metric (:func:`pack_metric_columns`).

A trace longer than :data:`THIN_ABOVE` iterates is stored thinned (:func:`thin_trace`).
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import StoreError
from .records import to_json


def pack_trace(trace: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive (what ``numpy.load`` reads), each array compressed at zlib level 1
    where that pays: counters, rates and timings shrink a hundredfold, while the iterates,
    values and gradient norms (float noise) would shrink by 4 % at most of the cost of
    writing a store, so they are stored as they are.

    The archive is written here directly (:func:`_zip_member`), not through ``zipfile``
    and ``numpy.lib.format``: the same ``.npy`` members, headers and deflate streams, in a
    plain zip that both read (a block's hundred small metric arrays cost a tenth as much)."""
    parts: list[Any] = []
    central: list[bytes] = []
    offset = 0
    try:
        for k, v in trace.items():
            v = np.asarray(v)
            if v.dtype.kind in "fc" and 4096 <= v.nbytes <= _SAMPLE:
                deflate = None  # the sample is the whole array: decided on the member itself
            else:
                deflate = _compressible(v)
            local, head = _zip_member(f"{k}.npy", _npy_bytes(v), deflate, offset)
            parts.extend(local)
            central.append(head)
            offset += sum(map(len, local))
    except OverflowError:
        return _pack_trace_zipfile(trace)
    directory = b"".join(central)
    if len(central) > 0xFFFF or offset > 0xFFFFFFFF:  # past the plain zip's limits
        return _pack_trace_zipfile(trace)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), offset, 0)
    return b"".join([*parts, directory, end])


_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_DOS_TIME = 0  # 1980-01-01 00:00: a store's archives carry no clock (the run row has it)
_DOS_DATE = (0 << 9) | (1 << 5) | 1


def _zip_member(filename: str, data: list[Any], deflate: bool | None, offset: int):
    """A zip member's local header and body (a list of byte strings) and its central
    directory record, for ``data`` (the ``.npy`` file's parts) at ``offset``: what
    ``zipfile`` writes for a member of known size, without its zip64 extra field.
    ``deflate`` None: deflated if that shrinks it by a fifth or more (one compression
    decides and makes it)."""
    try:
        name, flags = filename.encode("ascii"), 0
    except UnicodeEncodeError:
        name, flags = filename.encode("utf-8"), 0x800
    crc = 0
    size = 0
    for part in data:
        crc = zlib.crc32(part, crc)
        size += len(part)
    body, method = data, zipfile.ZIP_STORED
    if deflate is None:
        packed = zlib.compress(b"".join(data), 1, -15)
        if len(packed) < 0.8 * size:
            body, method = [packed], zipfile.ZIP_DEFLATED
    elif deflate:
        comp = zlib.compressobj(1, zlib.DEFLATED, -15)
        body = [comp.compress(part) for part in data]
        body.append(comp.flush())
        method = zipfile.ZIP_DEFLATED
    csize = sum(map(len, body))
    if size > 0xFFFFFFFF or csize > 0xFFFFFFFF or offset > 0xFFFFFFFF:
        raise OverflowError  # pack_trace falls back to zipfile (zip64)
    version = 20  # deflate (zipfile's DEFLATED_VERSION); made by: Unix, as zipfile says
    local = _LOCAL.pack(b"PK\x03\x04", version, flags, method, _DOS_TIME, _DOS_DATE, crc,
                        csize, size, len(name), 0)
    head = _CENTRAL.pack(b"PK\x01\x02", (3 << 8) | version, version, flags, method, _DOS_TIME,
                         _DOS_DATE, crc, csize, size, len(name), 0, 0, 0, 0, 0o600 << 16, offset)
    return [local, name, *body], head + name


def _npy_bytes(a: np.ndarray) -> list[Any]:
    """The ``.npy`` file of ``a`` as ``numpy.lib.format.write_array`` writes it: its header
    (made once per dtype and shape) and its data in C order."""
    if a.dtype.hasobject:
        raise ValueError("Object arrays cannot be saved when allow_pickle=False")
    fortran = bool(a.flags.f_contiguous and not a.flags.c_contiguous)
    head = _npy_head(a.dtype, a.shape, fortran)
    if not a.size or not a.itemsize:
        return [head]
    body = np.ascontiguousarray(a.T if fortran else a)
    return [head, body.reshape(-1).view(np.uint8)]


@functools.lru_cache(maxsize=1024)
def _npy_head(dtype: np.dtype, shape: tuple[int, ...], fortran: bool) -> bytes:
    """The ``.npy`` header ``write_array`` writes: version 1.0 where it fits, else 2.0."""
    fmt = np.lib.format
    header = {"descr": fmt.dtype_to_descr(dtype), "fortran_order": fortran, "shape": shape}
    buf = io.BytesIO()
    try:
        fmt.write_array_header_1_0(buf, header)
    except ValueError:
        buf = io.BytesIO()
        fmt.write_array_header_2_0(buf, header)
    return buf.getvalue()


def _pack_trace_zipfile(trace: dict[str, np.ndarray]) -> bytes:
    """:func:`pack_trace` through ``zipfile`` (zip64): for archives past 4 GB or 65,535
    members, which the direct writer does not handle."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for k, v in trace.items():
            v = np.asarray(v)
            zf.compression = zipfile.ZIP_DEFLATED if _compressible(v) else zipfile.ZIP_STORED
            with zf.open(f"{k}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, v, allow_pickle=False)
    return buf.getvalue()


_SAMPLE = 8192  # bytes of a float array compressed to decide whether deflate pays


def _compressible(a: np.ndarray) -> bool:
    """Whether zlib shrinks the array's first 8 KB by a fifth or more."""
    if a.dtype.kind not in "fc" or a.nbytes < 4096:
        return True
    sample = a.reshape(-1)[: _SAMPLE // a.itemsize].tobytes()
    return len(zlib.compress(sample, 1)) < 0.8 * len(sample)


def unpack_trace(data: bytes, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a packed archive (only ``keys``, where given), as ``numpy.load`` with
    ``allow_pickle=False`` reads them.

    A block's metrics are a hundred small arrays whose headers repeat from block to block:
    each header is parsed once (numpy's own parser, an ``ast.literal_eval``) and the array
    read from its bytes: reading a store's metrics takes a tenth of numpy.load's time.
    Anything but a zip of ``.npy`` members goes to ``numpy.load`` itself."""
    if not data.startswith(b"PK\x03\x04"):
        return _numpy_load(data, keys)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    if not all(n.endswith(".npy") for n in infos):
        return _numpy_load(data, keys)
    files = [n[:-4] for n in infos]
    wanted = files if keys is None else [k for k in keys if f"{k}.npy" in infos]
    return {k: _npy_array(_member(data, infos[f"{k}.npy"])) for k in wanted}


def _member(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, read straight from the archive as ``ZipFile.read`` would, its
    CRC checked; what this writer does not write (other compressions, encryption, a
    damaged local header) goes to ``zipfile`` itself."""
    at = info.header_offset
    head = data[at : at + 30]
    if (len(head) < 30 or head[:4] != b"PK\x03\x04" or info.flag_bits & 0x1
            or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.read(info)
    start = at + 30 + int.from_bytes(head[26:28], "little") + int.from_bytes(head[28:30], "little")
    body = data[start : start + info.compress_size]
    raw = body if info.compress_type == zipfile.ZIP_STORED else zlib.decompress(body, -15)
    if len(raw) != info.file_size or zlib.crc32(raw) != info.CRC:
        raise zipfile.BadZipFile(f"bad CRC or size in member {info.filename!r}")
    return raw


def _numpy_load(data: bytes, keys: Iterable[str] | None) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in (z.files if keys is None else keys) if k in z.files}


_NPY_MAGIC = b"\x93NUMPY"


def _npy_array(raw: bytes) -> np.ndarray:
    """One ``.npy`` file's array (a writable copy), refusing object arrays as ``numpy.load``
    does with ``allow_pickle=False``."""
    if raw[:6] != _NPY_MAGIC or len(raw) < 10:
        raise ValueError("the magic string is not correct: not a .npy file")
    major = raw[6]
    if major == 1:
        start, size = 10, int.from_bytes(raw[8:10], "little")
    elif major == 2:
        start, size = 12, int.from_bytes(raw[8:12], "little")
    else:  # version 3 (a UTF-8 header) or unknown: numpy reads or refuses it
        return np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    shape, fortran, dtype = _npy_header(raw[:start + size])
    if dtype.hasobject:
        raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
    count = math.prod(shape)
    flat = np.frombuffer(raw, dtype=dtype, count=count, offset=start + size).copy()
    return flat.reshape(shape[::-1]).transpose() if fortran else flat.reshape(shape)


@functools.lru_cache(maxsize=4096)
def _npy_header(head: bytes) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of a ``.npy`` header (magic included), by numpy."""
    fh = io.BytesIO(head)
    fmt = np.lib.format
    read = fmt.read_array_header_1_0 if fmt.read_magic(fh)[0] == 1 else fmt.read_array_header_2_0
    return read(fh)


def pack_traces(traces: Sequence[dict[str, np.ndarray] | None]) -> bytes:
    """The traces of a block as one archive (:func:`trace_columns`)."""
    return pack_trace(trace_columns(traces))


def trace_columns(traces: Sequence[dict[str, np.ndarray] | None]) -> dict[str, np.ndarray]:
    """The traces of a block as columns: per quantity, the runs' arrays one after another;
    ``length`` the iterates of each run (-1: no trace) and ``len.<key>`` the entries of a
    quantity whose count differs from it (``lr``: one fewer)."""
    length = np.array([-1 if tr is None else len(tr["f"]) for tr in traces], dtype=np.int64)
    present = [tr for tr in traces if tr is not None]
    arrays = {"length": length}
    for k in dict.fromkeys(k for tr in present for k in tr):
        parts = [None if tr is None else tr.get(k) for tr in traces]
        n = np.array([-1 if p is None else len(p) for p in parts], dtype=np.int64)
        if not np.array_equal(n, length):
            arrays[f"len.{k}"] = n
        arrays[k] = np.concatenate([np.asarray(p) for p in parts if p is not None])
    return arrays


def split_traces(columns: dict[str, np.ndarray]):
    """Row ``i``'s trace from the columns of a block (views, not copies)."""
    length = columns["length"]
    keys = [k for k in columns if k != "length" and not k.startswith("len.")]
    starts = {}
    for k in keys:
        n = columns.get(f"len.{k}", length)
        if len(n) != len(length):
            raise ValueError(f"{k} has {len(n)} lengths for {len(length)} runs")
        ends = np.cumsum(np.maximum(n, 0))
        if ends[-1:].sum() != len(columns[k]):
            raise ValueError(f"{k} holds {len(columns[k])} entries, its lengths say {ends[-1]}")
        starts[k] = (n, ends - np.maximum(n, 0))

    def split(i: int) -> dict[str, np.ndarray] | None:
        if length[i] < 0:
            return None
        out = {}
        for k in keys:
            n, start = starts[k]
            if n[i] >= 0:
                out[k] = columns[k][start[i] : start[i] + n[i]]
        return out

    return split


def pack_metrics(metrics: list[dict[str, Any]]) -> bytes:
    """The metrics of a block as one archive (:func:`pack_metric_columns`), from one dict
    per run."""
    keys = list(dict.fromkeys(k for m in metrics for k in m))
    if all(len(m) == len(keys) and list(m) == keys for m in metrics):
        columns: Iterable[Sequence[Any]] = zip(*(m.values() for m in metrics), strict=True)
    else:
        columns = ([m.get(k) for m in metrics] for k in keys)
    return pack_metric_columns(dict(zip(keys, columns, strict=True)))


def pack_metric_columns(columns: dict[str, Sequence[Any]]) -> bytes:
    """The metrics of a block as one archive, one typed column per metric: ``m.<name>``
    (float, int, bool or text; ``j.<name>`` JSON text for anything else) and ``n.<name>``
    where some runs of an int, bool or text metric have None or lack it (a float column
    keeps None as NaN, which reads back as None)."""
    arrays: dict[str, np.ndarray] = {}
    for k, col in columns.items():
        arrays.update(_metric_column(k, col))
    return pack_trace(arrays)


def pack_metric_arrays(columns: dict[str, np.ndarray], ints: Collection[str]) -> bytes:
    """:func:`pack_metric_columns` of metrics given as arrays, the same archive without a
    Python object per value: a float array's NaN is None, the columns in ``ints`` hold
    counts, an object array holds any values (text, None)."""
    arrays: dict[str, np.ndarray] = {}
    for k, a in columns.items():
        if a.dtype == object:
            arrays.update(_metric_column(k, a.tolist()))
            continue
        missing = np.isnan(a)
        if k in ints and not missing.all():  # int, and which runs have none
            arrays[f"m.{k}"] = np.where(missing, 0, a).astype(np.int64)
            if missing.any():
                arrays[f"n.{k}"] = missing
        else:  # float (a count no run has reads back as None all the same)
            arrays[f"m.{k}"] = np.where(missing, np.nan, a)
    return pack_trace(arrays)


def _metric_column(k: str, col: Sequence[Any]) -> dict[str, np.ndarray]:
    kinds = set(map(type, col)) - {type(None)}
    kind = _KINDS.get(frozenset(kinds)) or _kind(kinds)
    if kind is float:
        return {f"m.{k}": np.array(col, dtype=float)}  # None -> NaN
    out = {}
    none = [v is None for v in col]
    if kind is None:
        out[f"j.{k}"] = np.array(["" if v is None else to_json(v) for v in col])
    else:
        fill = kind()
        out[f"m.{k}"] = np.array([fill if v is None else v for v in col], dtype=kind)
    if any(none):
        out[f"n.{k}"] = np.array(none)
    return out


def whole_block(results: Sequence[Any]) -> Any:
    """The block that ``results`` are, whole and in order, every run still its row (None if
    they are not one such block)."""
    first = getattr(results[0], "block", None) if results else None
    if (
        first is not None
        and len(first) == len(results)
        and all(res.block is first and res.row == i for i, res in enumerate(results))
    ):
        return first
    return None


def pack_block(results: Sequence[Any]) -> tuple[bytes, bytes]:
    """The metrics and traces blobs of the results to write: their batch's block as packed
    where the batch ran (:meth:`optbench.runner.Block.pack`) when they are that whole block
    in order, else run by run."""
    block = whole_block(results)
    if block is not None:
        return block.pack()
    metrics = pack_metrics([res.metrics for res in results])
    return metrics, pack_traces([res.trace for res in results])


def plain_metric_columns(columns: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    """A block's metric columns as stored (:func:`pack_metric_arrays`) read back as
    JSON-ready lists, one per metric (None for a missing or NaN value), as the store's
    reader gives them."""
    out = {}
    for k, (v, m) in unpack_metrics(columns).items():
        vals = v.tolist()
        if v.dtype.kind == "f":
            vals = [None if x != x else x for x in vals]  # NaN
        if m is not None:
            vals = [None if miss else x for x, miss in zip(vals, m.tolist(), strict=True)]
        out[k] = vals
    return out


def _kind(kinds: set[type]) -> type | None:
    """The column type of a metric's values (float for ints and floats mixed)."""
    kind: type | None
    if not kinds or all(issubclass(t, float | np.floating) for t in kinds):
        kind = float
    elif all(issubclass(t, bool | np.bool_) for t in kinds):
        kind = bool
    elif all(issubclass(t, int | np.integer) and not issubclass(t, bool | np.bool_)
             for t in kinds):
        kind = int
    elif all(issubclass(t, int | float | np.integer | np.floating)
             and not issubclass(t, bool | np.bool_) for t in kinds):
        kind = float
    elif all(issubclass(t, str) for t in kinds):
        kind = str
    else:
        kind = None
    _KINDS[frozenset(kinds)] = kind
    return kind


_KINDS: dict[frozenset, type | None] = {}


def unpack_metrics(
    columns: dict[str, np.ndarray],
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """``{name: (values, None-mask or None)}`` from :func:`pack_metrics`' columns."""
    out = {}
    for key, v in columns.items():
        kind, _, name = key.partition(".")
        if kind == "m":
            out[name] = (v, columns.get(f"n.{name}"))
        elif kind == "j":
            none = columns.get(f"n.{name}")
            vals = np.empty(len(v), dtype=object)
            for i, t in enumerate(v):
                if none is None or not none[i]:
                    try:
                        vals[i] = json.loads(t)
                    except ValueError:
                        raise ValueError(f"its metric {name!r} is not valid JSON") from None
            out[name] = (vals, none)
    return out


def _plain(v: Any, none: Any) -> Any:
    """A metric as JSON would give it back: None for a missing or NaN value."""
    if none is not None and none:
        return None
    v = v.item() if isinstance(v, np.generic) else v
    return None if isinstance(v, float) and math.isnan(v) else v


def _num(v: Any) -> Any:
    if v == "inf":
        return float("inf")
    if v == "-inf":
        return float("-inf")
    return float("nan") if v is None else v


def read_trace(
    path: str | os.PathLike,
    run_id: str,
    data: Any,
    keys: Iterable[str] | None = None,
    what: str = "trace",
) -> dict[str, np.ndarray]:
    """:func:`unpack_trace` of a stored blob; a damaged one is a one-line error naming the
    run and the store (never a traceback, never an unpickled object)."""

    def corrupt(why: str) -> StoreError:
        return StoreError(
            f"run {run_id!r} in {str(path)!r} is corrupt: {why}; the file was changed "
            "outside optbench (rerun into a fresh store with --fresh)"
        )

    if not isinstance(data, bytes):
        raise corrupt(f"its {what} is not a blob")
    try:
        return unpack_trace(data, keys)
    except ValueError as exc:
        if "Object arrays" in str(exc):
            raise corrupt(
                f"its {what} holds pickled objects, which optbench never loads "
                "(allow_pickle=False)"
            ) from None
        if data[:1] == b"\x80":  # pickle's opcode PROTO: numpy would have to unpickle it
            raise corrupt(f"its {what} is a pickle, which optbench never loads") from None
        raise corrupt(f"its {what} is not a numpy archive") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise corrupt(f"its {what} is not a numpy archive ({type(exc).__name__})") from None


THIN_ABOVE = 600  # iterates; longer traces are stored thinned
THIN_HEAD = 100  # the first iterates, where overshoot and oscillation show, are kept whole
THIN_POINTS = 400  # log-spaced checkpoints after the head


def thin_trace(tr: dict[str, np.ndarray], also: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The stored form of a run's trace: every iterate up to ``THIN_ABOVE``, else the head
    plus log-spaced checkpoints, the last iterate and the iterates ``also`` (the worker
    passes the first hits of COCO's target grid, so the export's runtimes stay exact).
    ``t`` holds the iterate numbers, so a thinned trace still plots against iterations
    (``t``) or evaluations (``n_f + n_g``). Metrics were already computed from the full
    trace in the worker.
    """
    n = len(tr["f"])
    if n <= THIN_ABOVE:
        return {**tr, "t": np.arange(n, dtype=np.int64)}
    keep = thin_index(n)
    keep_lr = keep[keep < n - 1]
    if also is not None and len(also):
        also = np.asarray(also, dtype=np.int64)
        keep = np.union1d(keep, also[(also >= 0) & (also < n)])
        keep_lr = keep[keep < n - 1]
    out = {k: (v[keep] if k != "lr" else v[keep_lr]) for k, v in tr.items()}
    out["t"] = keep.copy()
    return out


@functools.lru_cache(maxsize=256)
def thin_index(n: int, head: int = THIN_HEAD, points: int = THIN_POINTS) -> np.ndarray:
    """The iterates a thinned trace of ``n`` keeps: the first ``head`` whole, then
    ``points`` log-spaced checkpoints and the last; the runs of a batch mostly share their
    length, so each length is worked out once."""
    keep = np.unique(
        np.concatenate(
            [
                np.arange(head),
                np.round(np.geomspace(head, n - 1, points)).astype(np.int64),
                [n - 1],
            ]
        )
    ).astype(np.int64)
    keep.flags.writeable = False
    return keep


def batch_trace_columns(
    trace: Any,
    with_x: bool,
    first_hits: Callable[[np.ndarray], np.ndarray | None] | None = None,
) -> dict[str, np.ndarray]:
    """The stored traces of a batch (:func:`thin_trace` per run, ``x`` only ``with_x``),
    laid out as :func:`trace_columns` lays them out; one masked copy per quantity where no
    run needs thinning (the usual case), else run by run. ``trace`` is the batch's
    time-major recording (:class:`optbench.trace.BatchTrace`: ``f``, ``gnorm``, ``n_f``,
    ``n_g``, ``x``, ``lr``, ``time``, ``end``, ``f_ema``, ``held_out()``, ``run(b)``).
    ``first_hits(f)``, where given, names the iterates a thinned trace keeps besides its
    checkpoints (the first hits of COCO's target grid: exact export runtimes)."""
    end = np.asarray(trace.end, dtype=np.int64)
    n = end + 1
    if n.size == 0 or n.max() > THIN_ABOVE:
        per_run = []
        for b in range(n.size):
            tr = trace.run(b)
            hits = None
            if first_hits is not None and len(tr["f"]) > THIN_ABOVE:
                hits = first_hits(tr["f"])
            per_run.append(thin_trace(tr, hits))
        if not with_x:
            for tr in per_run:
                tr.pop("x")
        return trace_columns(per_run)
    T1 = trace.f.shape[0]
    keep = (np.arange(T1)[:, None] < n[None, :]).T  # (B, T+1): run-major, as stored
    keep_lr = (np.arange(T1 - 1)[:, None] < (n - 1)[None, :]).T
    full = bool(np.all(n == T1))  # no run ended early: transposed copies, no mask
    if full:
        t = np.tile(np.arange(T1, dtype=np.int64), n.size)
    else:
        t = np.broadcast_to(np.arange(T1, dtype=np.int64), keep.shape)[keep]

    def runs_of(a, mask=keep):
        a = np.swapaxes(np.asarray(a), 0, 1)
        if full:  # every mask is all True
            return np.ascontiguousarray(a).reshape(-1, *a.shape[2:])
        return a[mask]

    out: dict[str, np.ndarray] = {"length": n}
    for k, v in trace.held_out().items():
        out[k] = runs_of(v)
    if trace.f_ema is not None:
        out["f_ema"] = runs_of(trace.f_ema)
    if with_x:
        out["x"] = runs_of(trace.x)
    for k in ("f", "gnorm", "n_f", "n_g"):
        out[k] = runs_of(getattr(trace, k))
    out["len.lr"] = n - 1
    out["lr"] = runs_of(trace.lr, keep_lr)
    out["time"] = np.tile(np.asarray(trace.time), n.size) if full else np.asarray(trace.time)[t]
    out["t"] = t
    return out
