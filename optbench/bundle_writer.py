"""Writing a bundle (:mod:`optbench.bundle`): a store, its report, the specs its sessions
ran (as TOML ``optbench run`` accepts), its environment and a manifest of sha256 checksums,
in one zip file. ``optbench export --format bundle`` and ``scripts/make_references.py``
call :func:`write_bundle`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .bundle import ENVIRONMENT, FORMAT, FORMAT_VERSION, MANIFEST, REPORT, STORE, TUNING, resolve
from .errors import UsageError
from .store.codecs import thin_index
from .store.sql import copy_store

__all__ = ["spec_files", "spec_toml", "thin_stored", "write_bundle"]

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # every member's date: a bundle's bytes follow its content


def write_bundle(
    db: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    report: bool = True,
    thin: int | None = None,
    reference: dict[str, Any] | None = None,
) -> Path:
    """Write the store ``db`` (a file, an output folder, or a bundle) as the bundle ``dest``.

    Args:
        report: include the report (rendered now from the store).
        thin: keep at most about this many iterates of each trace (the first ones whole,
            then log-spaced, and the last): the compact traces of a reference. The metrics
            were computed from the full traces and are kept as they are.
        reference: ``{"name", "description", ...}``: the bundle is a built-in reference,
            refused when opened by an optbench of another results version.

    Returns:
        ``dest``, written whole or not at all.
    """
    from . import __version__
    from .store import RESULTS_VERSION, SCHEMA_VERSION, Store, tuning_path

    src = Path(db)
    if src.is_dir():
        src = src / STORE
    out = Path(dest)
    if not out.name.lower().endswith(".zip"):
        raise UsageError(f"a bundle is a .zip file, got --dest {str(out)!r}; expected FILE.zip")
    if out.is_dir():
        raise UsageError(f"--dest {str(out)!r} is a folder; expected a FILE.zip to write")
    opened = resolve(src, results_version=RESULTS_VERSION)  # a bundle's copy, or the store
    try:  # before any work: a destination that cannot be written is one line at once
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write the bundle {str(out)!r}: {exc.strerror or exc}; "
                         "the store is untouched") from None
    with tempfile.TemporaryDirectory(prefix="optbench-bundle-") as tmp:
        work = Path(tmp)
        members: dict[str, Path] = {}
        with Store(opened) as store:
            versions = sorted(set(store.results_versions().values()))
            sessions = store.sessions()
            n_runs = sum(store.status_counts().values())
            members[STORE] = copy_store(
                store.conn, work / STORE,
                None if thin is None else functools.partial(_thin_block, points=thin))
        tuning = tuning_path(opened)
        if tuning.is_file():
            members[TUNING] = Path(shutil.copyfile(tuning, work / TUNING))
        env = work / ENVIRONMENT
        env.write_text(json.dumps({"sessions": [_session(s) for s in sessions]}, indent=1,
                                  sort_keys=True) + "\n", encoding="utf-8")
        members[ENVIRONMENT] = env
        specs = spec_files(sessions)
        for name, text in specs.items():
            (work / name).write_text(text, encoding="utf-8")
            members[name] = work / name
        if report:
            from .report import write_report

            members[REPORT] = write_report([src], work / REPORT)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "optbench": __version__,
            "results_version": RESULTS_VERSION,
            "runs_results_versions": versions,
            "schema_version": SCHEMA_VERSION,
            "runs": n_runs,
            "specs": list(specs),
            "thinned_to": thin,
            "members": {
                name: {"sha256": _sha256(p), "bytes": p.stat().st_size}
                for name, p in sorted(members.items())
            },
        }
        if reference is not None:
            manifest["reference"] = reference
        part = out.with_name(f".{out.name}.{os.getpid()}.part")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
                zf.writestr(_info(MANIFEST), json.dumps(manifest, indent=1, sort_keys=True))
                for name, p in sorted(members.items()):
                    with open(p, "rb") as fh, zf.open(_info(name), "w", force_zip64=True) as w:
                        shutil.copyfileobj(fh, w, 1 << 20)
            part.replace(out)
        except OSError as exc:
            raise UsageError(f"cannot write the bundle {str(out)!r}: {exc.strerror or exc}; "
                             "the store is untouched") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
    return out


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _thin_block(data: bytes, points: int) -> bytes:
    """A stored block of traces (schema 2) with every run's trace cut to about ``points``
    iterates (:func:`thin_stored`)."""
    from .store import pack_trace, split_traces, trace_columns, unpack_trace

    columns = unpack_trace(data)
    split = split_traces(columns)
    traces = [split(i) for i in range(len(columns["length"]))]
    return pack_trace(trace_columns([None if tr is None else thin_stored(tr, points)
                                     for tr in traces]))


def thin_stored(tr: dict[str, Any], points: int) -> dict[str, Any]:
    """A stored trace cut to about ``points`` iterates: the first ``points // 4`` whole,
    then log-spaced ones and the last; ``t`` keeps their iterate numbers, the rates
    (``lr``, one fewer) follow their iterates."""
    import numpy as np

    n = len(tr["f"])
    if n <= points:
        return dict(tr)
    head = max(1, points // 4)
    keep = thin_index(n, head, points - head)
    out: dict[str, Any] = {}
    for k, v in tr.items():
        if len(v) == n:
            out[k] = np.asarray(v)[keep]
        elif len(v) < n:  # the rates: one per update, the update leaving iterate i
            out[k] = np.asarray(v)[keep[keep < len(v)]]
        else:
            out[k] = v
    out["t"] = np.asarray(tr["t"])[keep] if "t" in tr else keep
    return out


# -- the environment and the specs -----------------------------------------------------------


def _session(row: dict[str, Any]) -> dict[str, Any]:
    """A session as JSON: its JSON columns parsed."""
    out = {}
    for k, v in row.items():
        if isinstance(v, str) and v[:1] in "{[":
            with contextlib.suppress(ValueError):
                v = json.loads(v)
        out[k] = v
    return out


_SPEC_KEYS = ("problems", "optimizers", "seeds", "budget", "budgets", "max_iter", "tol",
              "noisy_stops", "plugins", "sweeps")


def spec_files(sessions: Iterable[dict[str, Any]]) -> dict[str, str]:
    """``file name -> TOML`` of the distinct specs the sessions ran (in order):
    ``spec.toml`` for one, ``spec-1.toml``, ``spec-2.toml``, ... for several."""
    texts: list[str] = []
    for s in sessions:
        spec = _session(s).get("spec")
        if not isinstance(spec, dict) or not spec.get("problems") or not spec.get("optimizers"):
            continue
        text = spec_toml(spec)
        if text not in texts:
            texts.append(text)
    if len(texts) == 1:
        return {"spec.toml": texts[0]}
    return {f"spec-{i}.toml": t for i, t in enumerate(texts, 1)}


def spec_toml(spec: dict[str, Any]) -> str:
    """A session's spec as a TOML file for ``optbench run`` (the keys it reads; a value not
    recorded keeps its default)."""
    lines = ["# the spec of an optbench session: optbench run THIS.toml --out DIR"]
    for key in _SPEC_KEYS:
        value = spec.get(key)
        if value is None or (key in ("plugins", "budgets") and not value):
            continue
        if key == "noisy_stops" and not value:
            continue
        if key == "sweeps":  # tables last: TOML puts every plain key before them
            continue
        lines.append(f"{key} = {_toml(value)}")
    sweeps = spec.get("sweeps")
    for block in sweeps if isinstance(sweeps, list) else []:
        if not isinstance(block, dict):
            continue
        lines.append("")
        lines.append("[[sweeps]]")
        lines += [f"{k} = {_toml(v)}" for k, v in block.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")
