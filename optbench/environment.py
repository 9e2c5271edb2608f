"""The environment a session ran in: what a store records beside its command and host.

:func:`capture` returns one JSON-serialisable dict::

    {"versions": {"python", "optbench", "numpy", "scipy", "pandas", <extras used>},
     "platform": {"platform", "system", "release", "machine", "implementation"},
     "cpu": {"model", "count", "available"},
     "blas": [{"internal_api", "version", "num_threads", ...}, ...],
     "blas_source": "threadpoolctl" | "numpy build config" | "",
     "threads": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": ..., ...},
     "plugins": [{"plugin", "file", "sha256"} | {"plugin", "package", "version"}, ...]}

The session row of a store keeps it in its ``versions`` JSON column (no schema change): the
versions flat at the top, as sessions have always stored them, and the rest under the key
``"environment"`` (:func:`stored`); :func:`from_session` reads either shape back, so a
session written before environments were recorded reads as its versions alone.

The extras recorded are those the session's components use: a module of the ``torch``,
``optax``/``jax``, ``cma``, ``cocoex`` or ``sklearn`` libraries that the source file of a
component (problem, optimizer, nested schedule) imports or ``require``s, or that a
parameter names as an import path (``torch[cls=torch.optim.Adam]``). The source is read as
text, nothing is imported for it. BLAS and its threads come from ``threadpoolctl`` where it
is installed (scikit-learn depends on it; optbench does not), else from numpy's build
configuration, which names the library but not its thread count. Both describe the process
that calls :func:`capture` (the driver); the runs' worker children run BLAS on the threads
that ``threads`` records: the driver's variables where set, else 1, as optbench starts them.

:func:`differences` names what differs between the environments of several sources, for
the report's Setup and Comparison and the ``optbench report`` warning.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "THREAD_VARIABLES",
    "by_source",
    "capture",
    "difference_note",
    "differences",
    "facts",
    "from_session",
    "stored",
]

THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"
)
"""The environment variables that set the BLAS and OpenMP thread counts."""

_EXTRAS: dict[str, tuple[str, ...]] = {
    # import name -> the distributions whose versions are recorded when it is used
    "torch": ("torch",),
    "optax": ("optax", "jax", "jaxlib"),
    "jax": ("jax", "jaxlib"),
    "cma": ("cma",),
    "cocoex": ("coco-experiment",),
    "sklearn": ("scikit-learn",),
}
_IMPORTS = re.compile(
    r"^\s*(?:import|from)\s+(" + "|".join(_EXTRAS) + r")\b"
    r"|(?:require|installed|import_module)\(\s*[\"'](" + "|".join(_EXTRAS) + r")\b",
    re.MULTILINE,
)
_DOTTED = re.compile(r"^(" + "|".join(_EXTRAS) + r")\.[\w.]+$")
_ENV_KEY = "environment"  # the key of the non-version facts in a session's versions JSON


def capture(
    problems: Iterable[Any] = (),
    optimizers: Iterable[Any] = (),
    plugins: Iterable[str] = (),
    anonymous: bool = False,
) -> dict[str, Any]:
    """The environment of a session that runs these specs with these plug-ins loaded.

    Args:
        problems, optimizers: spec strings (or parsed :class:`~optbench.spec.Spec`); their
            components decide which extras' versions are recorded.
        plugins: the ``--plugin`` targets, as given (files or module names); plug-ins that
            installed packages register through entry points are found in the registry.
        anonymous: no paths (a plug-in file becomes its name and hash; BLAS libraries lose
            their file paths). The host name is never part of it (the session row has its
            own ``host``); versions are always kept.
    """
    from .store import versions

    vers = dict(versions())
    vers["pandas"] = _dist_version("pandas")
    modules: set[str] = set()
    for module in sorted(_used_extras([*problems, *optimizers], modules)):
        for dist in _EXTRAS[module]:
            found = _dist_version(dist)
            if found:
                vers[dist] = found
    blas, source = _blas(anonymous)
    return {
        "versions": {k: v for k, v in vers.items() if v},
        "platform": dict(_platform()),
        "cpu": _cpu(),
        "blas": blas,
        "blas_source": source,
        # what the runs' worker children get: the driver's setting, else 1 (optbench.worker)
        "threads": {name: os.environ.get(name, "1") for name in THREAD_VARIABLES},
        "plugins": _plugins(plugins, modules, anonymous),
    }


def stored(env: Mapping[str, Any]) -> dict[str, Any]:
    """The shape a session's ``versions`` column keeps: the versions flat, the rest under
    ``"environment"``."""
    return {**env.get("versions", {}), _ENV_KEY: {k: v for k, v in env.items() if k != "versions"}}


def from_session(session: Mapping[str, Any]) -> dict[str, Any]:
    """A session row's environment in :func:`capture`'s shape, from either stored shape: a
    session written before environments were recorded gives its versions and nothing else."""
    import json

    raw = session.get("versions")
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw or {})
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    rest = data.get(_ENV_KEY)
    out: dict[str, Any] = _well_formed(rest) if isinstance(rest, dict) else {}
    if rest is not None and not isinstance(rest, dict):
        out["malformed"] = [_ENV_KEY]
    out["versions"] = {
        str(k): _text(v) for k, v in data.items() if k != _ENV_KEY and v is not None
    }
    return out


MAX_TEXT = 200
"""The longest text of one recorded fact shown (a longer one is cut, ending in "…")."""

_SHAPES: dict[str, type] = {"platform": dict, "cpu": dict, "blas": list, "threads": dict,
                            "plugins": list, "blas_source": str}


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _well_formed(rest: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded facts of :func:`capture`'s shape, each in the shape it is written in
    (a store edited by hand, or damaged, may hold anything): objects of plain values, lists
    of such objects, texts cut at :data:`MAX_TEXT`. A part of another shape is left out and
    named under ``"malformed"``, for :func:`facts` to say so."""
    out: dict[str, Any] = {}
    bad: list[str] = []
    for key, value in rest.items():
        shape = _SHAPES.get(key)
        if shape is None:
            continue  # a fact this optbench does not know: not shown
        if shape is str:
            if _scalar(value):
                out[key] = _text(value) if value is not None else ""
            else:
                bad.append(key)
        elif shape is dict:
            if isinstance(value, dict) and all(_scalar(v) for v in value.values()):
                out[key] = {str(k): v if v is None or isinstance(v, int | float) else _text(v)
                            for k, v in value.items()}
            else:
                bad.append(key)
        elif isinstance(value, list) and all(
            isinstance(item, dict) and all(_scalar(v) for v in item.values()) for item in value
        ):
            out[key] = [{str(k): v if v is None or isinstance(v, int | float) else _text(v)
                         for k, v in item.items()} for item in value]
        else:
            bad.append(key)
    cpu = out.get("cpu", {})
    for name in ("count", "available"):  # whole numbers, where recorded
        if name in cpu and not (cpu[name] is None or type(cpu[name]) is int):
            bad.append(f"cpu {name}")
            del cpu[name]
    if bad:
        out["malformed"] = bad
    return out


def facts(env: Mapping[str, Any]) -> dict[str, str]:
    """The environment as ordered ``fact -> text`` lines (what Setup shows and what
    :func:`differences` compares); a fact the session did not record is left out."""
    out: dict[str, str] = {}
    for name, version in sorted(env.get("versions", {}).items(), key=_version_order):
        out[name] = version
    plat = env.get("platform") or {}
    if plat:
        out["platform"] = plat.get("platform") or " ".join(
            str(plat.get(k) or "") for k in ("system", "release", "machine")
        ).strip()
    cpu = env.get("cpu") or {}
    if cpu.get("model"):
        out["CPU"] = str(cpu["model"])
    if cpu.get("count") is not None:
        avail = cpu.get("available")
        out["cores"] = str(cpu["count"]) + (
            f" ({avail} available)" if avail is not None and avail != cpu["count"] else ""
        )
    if "blas" in env:
        libs = env.get("blas") or []
        out["BLAS"] = "; ".join(_blas_text(lib) for lib in libs) or "none found"
    threads = env.get("threads")
    if isinstance(threads, dict):
        for name, value in threads.items():
            out[name] = "unset" if value is None else str(value)
    for plugin in env.get("plugins") or []:
        name = str(plugin.get("file") or plugin.get("plugin") or "?")  # a file: its name
        if plugin.get("sha256"):
            out[f"plug-in {name}"] = f"sha256 {str(plugin['sha256'])[:16]}"
        else:
            out[f"plug-in {name}"] = " ".join(
                str(plugin.get(k)) for k in ("package", "version") if plugin.get(k)
            ) or "—"
    if env.get("malformed"):
        out["malformed"] = ", ".join(map(str, env["malformed"])) + " (not shown)"
    return out


def differences(environments: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """What differs between sources: ``source -> its sessions' environments`` gives one
    phrase per fact recorded by every source whose values are not the same everywhere,
    e.g. ``"numpy 2.1.0 (a) vs 2.2.1 (b)"``. A source whose sessions disagree among
    themselves shows its values joined by " / ". Host names are not compared."""
    per_source: dict[str, dict[str, str]] = {}
    for source, envs in environments.items():
        seen: dict[str, list[str]] = {}
        for env in envs:
            for key, value in facts(env).items():
                if value not in seen.setdefault(key, []):
                    seen[key].append(value)
        per_source[source] = {k: " / ".join(v) for k, v in seen.items()}
    if len(per_source) < 2:
        return []
    first, *rest = per_source.values()
    shared = [k for k in first if all(k in f for f in rest)]
    out = []
    for key in shared:
        values = {source: f[key] for source, f in per_source.items()}
        if len(set(values.values())) > 1:
            out.append(
                f"{key} " + " vs ".join(f"{v} ({s})" for s, v in values.items())
            )
    return out


def by_source(sessions: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """``source -> the environments of its sessions`` (in order) from session rows that
    carry their ``source`` (the report's :attr:`~optbench.report.Context.sessions`)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for session in sessions:
        out.setdefault(str(session.get("source") or ""), []).append(from_session(session))
    return out


def difference_note(sessions: Iterable[Mapping[str, Any]]) -> str | None:
    """One sentence naming what differs between the sources' environments, or None."""
    found = differences(by_source(sessions))
    if not found:
        return None
    return (
        "the sources ran in different environments, so a difference between them may come "
        "from the machine or the libraries rather than the optimizers: " + "; ".join(found)
    )


# -- the parts --------------------------------------------------------------------------------


def _version_order(item: tuple[str, str]) -> tuple[int, str]:
    first = ("python", "optbench", "numpy", "scipy", "pandas")
    return (first.index(item[0]) if item[0] in first else len(first), item[0])


@functools.cache
def _dist_version(dist: str) -> str:
    """A distribution's version from the head of its metadata ("" when not installed):
    parsing the whole file (licence texts included) costs more than a small run."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        found = distribution(dist)
    except PackageNotFoundError:
        return ""
    text = found.read_text("METADATA") or ""
    for line in text.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
        if not line.strip():  # the end of the headers
            break
    return found.version or ""


@functools.cache
def _platform() -> tuple[tuple[str, str], ...]:
    return (
        ("platform", _platform_text()),
        ("system", platform.system()),
        ("release", platform.release()),
        ("machine", platform.machine()),
        ("implementation", platform.python_implementation()),
    )


def _platform_text() -> str:
    """``platform.platform()``'s text. On Linux it is composed here as the standard library
    does, less the processor: asking for that runs ``uname -p`` in a subprocess (some 20 ms
    of every ``optbench run``), and it is "unknown" on most Linux systems anyway."""
    if platform.system() != "Linux":
        return platform.platform()
    lib, version = platform.libc_ver()
    parts = [platform.system(), platform.release(), platform.machine(), "with", lib + version]
    return "-".join(p.strip().replace(" ", "_") for p in parts if p.strip())


def _cpu() -> dict[str, Any]:
    """The CPU model (Linux: /proc/cpuinfo's "model name"; elsewhere platform.processor()),
    the logical CPU count and how many of them this process may run on."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("model name", "Model", "Hardware")) and ":" in line:
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if not model:
        model = platform.processor()
    available: int | None
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on macOS or Windows
        available = None
    return {"model": model, "count": os.cpu_count(), "available": available}


_BLAS_KEYS = ("user_api", "internal_api", "prefix", "version", "num_threads",
              "threading_layer", "architecture")


def _blas(anonymous: bool) -> tuple[list[dict[str, Any]], str]:
    """The BLAS/OpenMP libraries loaded in this process and their thread counts."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return _numpy_blas(), "numpy build config"
    keys = _BLAS_KEYS if anonymous else (*_BLAS_KEYS, "filepath")
    try:
        info = threadpool_info()
    except Exception:  # noqa: BLE001 - a library it cannot inspect: the build config instead
        return _numpy_blas(), "numpy build config"
    return [{k: lib.get(k) for k in keys if k in lib} for lib in info], "threadpoolctl"


def _numpy_blas() -> list[dict[str, Any]]:
    """numpy's BLAS and LAPACK as it was built (no thread count), where numpy says."""
    import numpy as np

    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]
    except Exception:  # noqa: BLE001 - numpy < 1.26 has no mode; nothing to record then
        return []
    return [
        {"user_api": api, "internal_api": str(deps[api].get("name", "")),
         "version": str(deps[api].get("version", ""))}
        for api in ("blas", "lapack")
        if isinstance(deps.get(api), dict)
    ]


def _blas_text(lib: Mapping[str, Any]) -> str:
    text = " ".join(str(lib[k]) for k in ("internal_api", "version") if lib.get(k))
    # not its num_threads: the driver's, where the runs' workers use the thread variables
    extra = [str(lib[k]) for k in ("architecture", "threading_layer") if lib.get(k)]
    return text + (f" ({', '.join(extra)})" if extra else "")


def _used_extras(specs: Iterable[Any], modules: set[str]) -> set[str]:
    """The extras' import names that the components of these specs import or name; adds to
    ``modules`` those outside optbench that registered a component without a plug-in."""
    from . import registry
    from .spec import Spec, Sweep, parse

    found: set[str] = set()
    for item in specs:
        try:
            spec = item if isinstance(item, Spec) else parse(str(item))
        except Exception:  # noqa: BLE001 - a bad spec is refused by the planner, not here
            continue
        stack: list[tuple[str | None, Spec]] = [(None, spec)]
        while stack:
            kind, s = stack.pop()
            if s.dotted:  # a library object named by its import path
                if m := _DOTTED.match(s.name):
                    found.add(m.group(1))
            else:
                entry = _entry_of(registry, kind, s.name)
                module = getattr(getattr(entry, "factory", None), "__module__", None)
                if module and entry.origin == "builtin" and not module.startswith("optbench."):
                    modules.add(module)  # registered by a script, not through a plug-in
                found |= _module_extras(module)
            for value in _values(s.params, Sweep):
                if isinstance(value, Spec):
                    stack.append(("schedule", value))
                elif isinstance(value, str) and (m := _DOTTED.match(value)):
                    found.add(m.group(1))
    return found


def _values(params: Mapping[str, Any], sweep: type) -> Iterable[Any]:
    """The values of a spec's parameters, a list's or a listed sweep's items included (a
    range holds numbers only: never expanded here)."""
    for value in params.values():
        if isinstance(value, sweep):
            value = getattr(value, "values", ())
        if isinstance(value, list | tuple):
            yield from value
        else:
            yield value


def _entry_of(registry, kind: str | None, name: str) -> Any:
    """The registry entry of ``name`` (a problem or optimizer when ``kind`` is None)."""
    for each in (kind,) if kind else ("optimizer", "problem"):
        try:
            return registry.get(each, name)
        except Exception:  # noqa: BLE001 - an unknown name: the planner says so
            continue
    return None


@functools.cache
def _module_extras(module: str | None) -> frozenset[str]:
    path = getattr(sys.modules.get(module or ""), "__file__", None)
    if not path:
        return frozenset()
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    return frozenset(a or b for a, b in _IMPORTS.findall(text))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plugins(
    targets: Iterable[str], modules: Iterable[str], anonymous: bool
) -> list[dict[str, Any]]:
    """Each plug-in loaded: a file's name and sha256; a module's package and version (its
    file's sha256 when no installed package holds it); each installed entry point that
    registered something, with its package and version; and a module outside optbench that
    registered a component the session uses with ``register_*`` alone (a script, a
    notebook's ``__main__``), with its file's hash where it has a file."""
    from importlib.metadata import packages_distributions

    from . import registry

    out: list[dict[str, Any]] = []
    for target in dict.fromkeys(str(t) for t in targets):
        path = Path(target)
        if target.endswith(".py") or path.is_file():
            record: dict[str, Any] = {"plugin": path.name if anonymous else target,
                                      "file": path.name}
            if path.is_file():
                record["sha256"] = _sha256(path)
            out.append(record)
            continue
        record = {"plugin": target}
        dists = packages_distributions().get(target.split(".")[0]) or []
        if dists:
            record.update(package=dists[0], version=_dist_version(dists[0]))
        else:
            file = getattr(sys.modules.get(target), "__file__", None)
            if file and Path(file).is_file():
                record.update(file=Path(file).name, sha256=_sha256(Path(file)))
        out.append(record)
    for module in sorted(modules):
        record = {"plugin": module}
        file = getattr(sys.modules.get(module), "__file__", None)
        if file and Path(file).is_file():
            record.update(file=Path(file).name, sha256=_sha256(Path(file)))
        out.append(record)
    points = sorted({
        e.origin for kind in registry.kinds() for e in registry.entries(kind)
        if e.origin.startswith("entry point ")
    })
    if points:
        from importlib.metadata import entry_points

        installed = {
            f"entry point {ep.name!r} ({ep.value})": ep
            for group in sorted(set(registry._ENTRY_POINT_GROUPS.values()))
            for ep in entry_points(group=group)
        }
        for origin in points:
            dist = getattr(installed.get(origin), "dist", None)
            out.append({"plugin": origin, "package": getattr(dist, "name", "") or "",
                        "version": getattr(dist, "version", "") or ""})
    return out
