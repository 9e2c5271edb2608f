"""The registry: one dict per kind, filled by decorators, entry points and plug-in files.

Built-ins register exactly like plug-ins::

    @register_optimizer("my-gd", needs=("gradient",), batchable=True)
    def my_gd(lr: float = 0.1): ...

A factory's keyword arguments are the component's parameters; the registry lists them
from the signature and checks the names a spec uses. Registering the same factory twice
(the same module imported under two names) is harmless; two different factories under one
name is an error naming both.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidValueError, OptbenchError, PluginError, UnknownNameError
from .theory_mapping import theory_mapping

__all__ = [
    "Entry",
    "Param",
    "get",
    "kinds",
    "load_plugin",
    "names",
    "register_optimizer",
    "register_problem",
    "register_schedule",
    "register_section",
    "register_executor",
]

KINDS = ("problem", "optimizer", "schedule", "section", "executor")
_BUILTIN_PACKAGES = {
    "problem": "optbench.problems",
    "optimizer": "optbench.optimizers",
    "schedule": "optbench.optimizers",
    "section": "optbench.reports",
    "executor": "optbench.executors",  # the engine's own: serial, process, dask
}
_ENTRY_POINT_GROUPS = {
    "problem": "optbench.problems",
    "optimizer": "optbench.optimizers",
    "schedule": "optbench.optimizers",
    "section": "optbench.reports",
    "executor": "optbench.executors",
}
NEEDS = frozenset({"gradient", "f_star", "bounds", "hessian"})


@dataclass(frozen=True)
class Param:
    """One parameter of a factory, read from its signature."""

    name: str
    default: Any
    annotation: str

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def is_sequence(self) -> bool:
        """True where a list value is one parameter value, not a sweep."""
        ann = self.annotation.replace(" ", "")
        return ann.startswith(("list", "tuple", "Sequence", "typing.Sequence")) or isinstance(
            self.default, list | tuple
        )

    @property
    def is_float(self) -> bool:
        """True for real-valued parameters (per-run arrays within a batch)."""
        if isinstance(self.default, bool):
            return False
        if isinstance(self.default, float):
            return True
        return self.annotation.split("|")[0].strip() == "float"

    def describe(self) -> dict[str, Any]:
        default = None if self.required else self.default
        if isinstance(default, tuple):
            default = list(default)
        return {
            "name": self.name,
            "default": default,
            "type": self.annotation or "any",
            "required": self.required,
        }


@dataclass
class Entry:
    """A registered component: its factory and what the registry knows about it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    origin: str = "builtin"  # "builtin", "entry point <name>", or a plug-in path/module
    source_hash: str | None = None  # plug-ins only: part of run identity

    @functools.cached_property
    def open(self) -> bool:
        """The factory takes ``**options``: it accepts parameter names it does not list
        (an adapter passing them on to a library, e.g. ``torch[cls=...,weight_decay=0.01]``)."""
        return any(
            p.kind is p.VAR_KEYWORD for p in inspect.signature(self.factory).parameters.values()
        )

    def is_batchable(self, params: Mapping[str, Any]) -> bool:
        """Whether runs of this spec step together (``batchable`` may depend on the spec)."""
        batchable = self.meta.get("batchable", False)
        return bool(batchable(dict(params)) if callable(batchable) else batchable)

    @functools.cached_property
    def params(self) -> dict[str, Param]:
        """The factory's parameters, read from its signature once (asked for per run)."""
        out = {}
        for p in inspect.signature(self.factory).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if self.kind == "schedule" and p.name == "lr":  # the base rate, bound by the optimizer
                continue
            if self.kind == "section":  # a section takes the report context, nothing to set
                continue
            ann = p.annotation
            ann = (
                ""
                if ann is inspect.Parameter.empty
                else (ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann)))
            )
            out[p.name] = Param(p.name, p.default, ann)
        return out

    def check_params(self, given: Iterable[str]) -> None:
        """Raise a one-line error for a parameter name the factory does not take."""
        import difflib

        params = self.params
        if self.open:
            return
        for key in given:
            if key not in params:
                close = difflib.get_close_matches(key, list(params), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                listing = ", ".join(params) or "none"
                raise InvalidValueError(
                    f"{self.kind} {self.name!r} has no parameter {key!r}{hint} "
                    f"(parameters: {listing})"
                )

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every parameter, defaults filled in, ints given to float parameters made floats."""
        self.check_params(params)
        out = {}
        for name, p in self.params.items():
            if name in params:
                value = params[name]
                if p.is_float and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                _check_type(self, p, value)
                out[name] = value
            elif p.required:
                raise InvalidValueError(f"{self.kind} {self.name!r} needs the parameter {name!r}")
            else:
                out[name] = list(p.default) if isinstance(p.default, tuple) else p.default
        out.update({k: v for k, v in params.items() if k not in self.params})  # **options
        return out

    def build(self, **params: Any) -> Any:
        """Call the factory; a ValueError from its checks names this component, and any
        other exception names it and where it comes from (a broken plug-in)."""
        try:
            return self.factory(**params)
        except InvalidValueError as exc:
            if repr(self.name) in str(exc):
                raise
            raise InvalidValueError(f"{self.kind} {self.name!r}: {exc}") from exc
        except (ValueError, TypeError) as exc:  # optbench's usage errors are ValueErrors too
            raise InvalidValueError(f"{self.kind} {self.name!r}: {exc}") from exc
        except OptbenchError:
            raise
        except Exception as exc:
            where = "" if self.origin == "builtin" else f" (from {self.origin})"
            raise PluginError(
                f"{self.kind} {self.name!r}{where} failed to build: {type(exc).__name__}: {exc}"
            ) from exc

    def describe(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "description": self.description,
            "params": [p.describe() for p in self.params.values()],
            "origin": self.origin,
        }
        out.update(
            {
                k: (sorted(v) if isinstance(v, set | frozenset) else v)
                for k, v in self.meta.items()
                if not callable(v)  # e.g. a problem's memory estimate
            }
        )
        if callable(out.get("batchable")):
            out["batchable"] = "per spec"
        return out


def _check_type(entry: Entry, p: Param, value: Any) -> None:
    """Numbers where numbers are declared: a typo such as lr=fast fails with one clear line."""
    from .spec import PerL, Tuned, format_value

    base = p.annotation.split("|")[0].strip() if p.annotation else type(p.default).__name__
    ok = {
        "float": lambda v: (
            isinstance(v, float | PerL | Tuned) or (isinstance(v, int) and not isinstance(v, bool))
        ),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
    }.get(base)
    if hasattr(value, "shape"):  # a per-run column built by the runner, already checked
        return
    may_be_none = p.default is None or "None" in p.annotation or "Optional" in p.annotation
    if ok is not None and not (value is None and may_be_none) and not ok(value):
        kind = {"float": "a number", "int": "a whole number", "bool": "true or false"}[base]
        raise InvalidValueError(
            f"{entry.kind} {entry.name!r}: {p.name} must be {kind}, got {format_value(value)}"
        )


_REGISTRY: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
_LOADED: set[str] = set()
_CURRENT_ORIGIN: list[tuple[str, str | None]] = []  # (origin, source hash) while loading a plug-in
_FROM_ENTRY_POINT: list[bool] = []  # non-empty while an installed entry point loads


def _same_factory(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    if a is b:
        return True
    try:
        return (a.__qualname__ == b.__qualname__) and inspect.getsource(a) == inspect.getsource(b)
    except (OSError, TypeError, AttributeError):
        return False


def _register(
    kind: str, name: str, factory: Callable[..., Any], description: str | None, meta: dict[str, Any]
) -> Callable[..., Any]:
    if not isinstance(name, str) or not name:
        raise PluginError(f"a {kind} needs a non-empty name, got {name!r}")
    doc = inspect.getdoc(factory) or ""
    entry = Entry(kind, name, factory, description or doc.split("\n\n")[0].replace("\n", " "), meta)
    if _CURRENT_ORIGIN:
        entry.origin, entry.source_hash = _CURRENT_ORIGIN[-1]
    old = _REGISTRY[kind].get(name)
    if old is not None and not _same_factory(old.factory, factory) and _FROM_ENTRY_POINT:
        # an installed package cannot replace a name: keep the first one, and say so once
        # (in the driver; its worker processes load the same entry points silently)
        import multiprocessing

        if multiprocessing.parent_process() is None:
            warnings.warn(
                f"optbench: the installed plug-in {entry.origin} registers the {kind} name "
                f"{name!r}, which the {old.origin} one already uses; skipping that one",
                RuntimeWarning,
                stacklevel=3,
            )
        return factory
    if old is not None and not _same_factory(old.factory, factory):
        raise PluginError(
            f"{kind} {name!r} is registered twice: by {old.origin} "
            f"({getattr(old.factory, '__module__', '?')}) and by {entry.origin} "
            f"({getattr(factory, '__module__', '?')}); rename one of them"
        )
    if old is None:
        _REGISTRY[kind][name] = entry
    return factory


def optimizer_meta(name: str | None) -> dict[str, Any]:
    """What an optimizer declared when it registered (empty for an unregistered name)."""
    if not name:
        return {}
    try:
        return get("optimizer", name).meta
    except Exception:  # noqa: BLE001 — an unregistered name declares nothing
        return {}


def literal_lists(kind: str, name: str) -> Callable[[str, str], bool]:
    """For :func:`optbench.spec.expand`: ``literal(owner, key)`` is true where a list given to
    ``key`` is one sequence value (a parameter declared as a sequence, e.g. milestones), not a
    sweep. ``owner`` is the ``kind`` entry ``name`` itself, or a schedule nested in it."""

    def literal(owner: str, key: str) -> bool:
        try:
            entry = get(kind if owner == name else "schedule", owner)
        except UnknownNameError:
            return False
        p = entry.params.get(key)
        return p is not None and p.is_sequence

    return literal


def register_problem(
    name: str,
    *,
    description: str | None = None,
    tags: Iterable[str] = (),
    memory: Callable[..., float] | None = None,
):
    """Register a problem factory: ``factory(**params) -> Problem``.

    Args:
        memory: optional ``memory(**params) -> bytes``, an estimate of the memory building
            and evaluating the problem takes, from its parameters (defaults filled in). The
            planner refuses, before building it, a problem that needs more than the machine
            has, e.g. ``memory=lambda d: 8 * d * d`` for a dense d x d Hessian.
    """
    meta: dict[str, Any] = {"tags": sorted(tags)}
    if memory is not None:
        meta["memory"] = memory
    return lambda f: _register("problem", name, f, description, meta)


def register_optimizer(
    name: str,
    *,
    needs: Iterable[str] = ("gradient",),
    batchable: bool | Callable[[dict[str, Any]], bool] = False,
    samples: bool = False,
    theory: dict[str, Any] | None = None,
    space: dict[str, str] | None = None,
    defaults: dict[str, Any] | None = None,
    defaults_note: str = "",
    description: str | None = None,
):
    """Register an optimizer factory: ``factory(**hyperparameters) -> Optimizer``.

    Args:
        name: kebab-case name used in specs.
        needs: what the problem must provide: any of ``gradient``, ``f_star``, ``bounds``,
            ``hessian``. A pairing that cannot meet them becomes a ``skipped`` run.
        batchable: the optimizer steps many independent runs at once; real-valued
            hyperparameters then arrive as per-run column arrays of shape ``(B, 1)``.
            A callable ``batchable(params) -> bool`` decides per spec (an adapter whose
            wrapped optimizer may need a run of its own).
        samples: the iterate is an incumbent (the best point sampled so far), not a
            trajectory: the metrics of the dynamics (overshoot, oscillation) are left out.
        theory: the quadratic model that predicts its path and which hyperparameters play
            its parts, e.g. ``dict(model="heavy-ball", lr="lr", beta="momentum",
            schedule="schedule", off=("weight_decay",))``, or None. Checked here against the
            factory's parameters (:func:`optbench.theory_mapping.theory_mapping` describes
            the keys and :data:`~optbench.theory_mapping.THEORY_MODELS` the models).
        space: the hyperparameters ``optbench tune --trials`` tunes, each with its range and
            scale, e.g. ``{"lr": "log(0.001, 4)/L else log(1e-5, 1)", "momentum":
            "1-log(0.001, 0.5)"}`` (:mod:`optbench.search_space`); checked here.
        defaults: the point a user gets without tuning (the *defaults track*), where it
            differs from the factory's own defaults, e.g. torch's; ``defaults_note`` says
            where it comes from.
    """
    needs = frozenset(needs)
    unknown = needs - NEEDS
    if unknown:
        raise PluginError(
            f"optimizer {name!r} declares unknown needs {sorted(unknown)}; allowed: {sorted(NEEDS)}"
        )
    meta: dict[str, Any] = {
        "needs": needs,
        "batchable": batchable if callable(batchable) else bool(batchable),
        "samples": bool(samples),
    }

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        params = _param_names(f)
        mapping = theory_mapping(name, theory, params)  # None: no theory
        tuned = _space_meta(name, space, defaults, params)
        return _register("optimizer", name, f, description,
                         {**meta, "theory": mapping, **tuned, "defaults_note": defaults_note})

    return register


def _space_meta(name: str, space, defaults, params: list[str]) -> dict[str, Any]:
    """The declared search space (as texts) and defaults, checked against the factory."""
    from .errors import SpecError
    from .search_space import parse_space, space_text

    try:
        parsed = parse_space(space, params, where=f"optimizer {name!r}: space")
    except SpecError as exc:
        raise PluginError(str(exc)) from None
    unknown = sorted(set(defaults or {}) - set(params))
    if unknown:
        raise PluginError(f"optimizer {name!r}: defaults name {unknown}, which are not "
                          f"hyperparameters; expected some of {params}")
    return {"space": space_text(parsed), "defaults": dict(defaults or {})}


def _param_names(factory: Callable[..., Any]) -> list[str]:
    """The keyword parameters a factory lists (not ``*args``/``**options``)."""
    return [
        p.name for p in inspect.signature(factory).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def register_schedule(name: str, *, description: str | None = None):
    """Register a schedule factory: ``factory(lr, **params) -> (t, gap) -> learning rate``."""
    return lambda f: _register("schedule", name, f, description, {})


def register_section(name: str, *, order: int = 100, description: str | None = None,
                     early: bool = False):
    """Register a report section: ``factory(context) -> Section | None``; ``order`` places
    it on the page. ``early`` builds it before the others (whatever its place): a section
    that hands the report's workers most of their jobs, so they draw while the rest is
    built."""
    return lambda f: _register("section", name, f, description, {"order": order,
                                                                 "early": early})


def register_executor(name: str, *, description: str | None = None):
    """Register an executor: ``factory(batches, jobs, scheduler)`` yields ``(batch,
    results)`` for every batch as it finishes, each batch run by
    :func:`optbench.executors.run_batch_guarded` (or :func:`~optbench.executors.run_batches`
    over a few at once) wherever the executor sends it. ``jobs`` is the worker count asked
    for (None: the executor's default), ``scheduler`` an address given with ``--scheduler``.
    """
    return lambda f: _register("executor", name, f, description, {})


def load_builtins(kind: str | None = None) -> None:
    """Import the built-in catalog of ``kind`` (all with None) and the entry points (once).

    Every built-in catalog is imported before the first entry point, so a built-in name
    always belongs to the built-in, whichever kind is asked for first.
    """
    first_time = "entry points" not in _LOADED
    for each in KINDS if kind is None or first_time else (kind,):
        package = _BUILTIN_PACKAGES[each]
        if package not in _LOADED:
            _LOADED.add(package)
            importlib.import_module(package)
    if first_time:
        _LOADED.add("entry points")
        _load_entry_points()


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    installed = entry_points()  # one scan of the installed distributions, not one per group
    for group in sorted(set(_ENTRY_POINT_GROUPS.values())):
        for ep in installed.select(group=group):
            try:
                _CURRENT_ORIGIN.append((f"entry point {ep.name!r} ({ep.value})", None))
                _FROM_ENTRY_POINT.append(True)
                try:
                    ep.load()
                finally:
                    _CURRENT_ORIGIN.pop()
                    _FROM_ENTRY_POINT.pop()
            except Exception as exc:  # a broken installed plug-in must not take the others down
                warnings.warn(
                    f"optbench: skipping the installed plug-in {ep.name!r} ({ep.value}): "
                    f"{type(exc).__name__}: {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )


def load_plugin(target: str) -> list[tuple[str, str]]:
    """Import a plug-in from a ``.py`` file or an importable module name.

    Returns:
        The ``(kind, name)`` pairs it registered.

    Raises:
        PluginError: the file is missing, fails to import, or registers nothing.
    """
    load_builtins()
    before = {kind: set(entries) for kind, entries in _REGISTRY.items()}
    path = Path(target)
    if target.endswith(".py") or path.exists():
        if not path.is_file():
            raise PluginError(
                f"plug-in file {target!r} does not exist; expected a .py file or a module name"
            )
        source = path.read_bytes()
        digest = hashlib.sha256(source).hexdigest()[:16]
        modname = f"optbench_plugin_{path.stem}_{digest}"
        origin = str(path.resolve())
        if modname in sys.modules:
            return _plugin_names(modname)
        spec = importlib.util.spec_from_file_location(modname, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"cannot load {target!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        _CURRENT_ORIGIN.append((origin, digest))
        try:
            spec.loader.exec_module(module)
        except PluginError:
            del sys.modules[modname]
            raise
        except SystemExit as exc:
            del sys.modules[modname]
            raise PluginError(
                f"plug-in {target!r} called sys.exit({exc.code!r}) while importing; "
                "a plug-in should only register its problems and optimizers"
            ) from exc
        except Exception as exc:
            del sys.modules[modname]
            raise PluginError(
                f"plug-in {target!r} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            _CURRENT_ORIGIN.pop()
    else:
        try:
            spec = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise PluginError(f"plug-in {target!r} is neither a .py file nor an importable module")
        digest = None
        if spec.origin and Path(spec.origin).is_file():
            digest = hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:16]
        _CURRENT_ORIGIN.append((target, digest))
        try:
            importlib.import_module(target)
        except PluginError:
            raise
        except SystemExit as exc:
            raise PluginError(
                f"plug-in {target!r} called sys.exit({exc.code!r}) while importing; "
                "a plug-in should only register its problems and optimizers"
            ) from exc
        except Exception as exc:
            raise PluginError(
                f"plug-in {target!r} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            _CURRENT_ORIGIN.pop()
        modname = target
    added = [
        (kind, n) for kind, entries in _REGISTRY.items() for n in entries if n not in before[kind]
    ]
    if not added:
        added = _plugin_names(modname)
    if not added:
        raise PluginError(
            f"plug-in {target!r} registered nothing; decorate a factory with "
            "optbench.register_optimizer(...) or optbench.register_problem(...)"
        )
    return added


def _plugin_names(modname: str) -> list[tuple[str, str]]:
    return [
        (kind, n)
        for kind, entries in _REGISTRY.items()
        for n, e in entries.items()
        if getattr(e.factory, "__module__", None) == modname
    ]


def get(kind: str, name: str) -> Entry:
    """The entry for ``name``; an unknown name raises with the close matches."""
    load_builtins(kind)
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        raise UnknownNameError(kind, name, _REGISTRY[kind], _local_hint(kind, name)) from None


def _local_hint(kind: str, name: str) -> str:
    """``"it is registered in x.py: load it with --plugin x.py"`` when a ``.py`` file in the
    working folder registers ``name`` (the usual slip: forgetting --plugin)."""
    import re

    pattern = re.compile(rf"register_{kind}\(\s*[\"']{re.escape(name)}[\"']")
    try:
        files = sorted(Path.cwd().glob("*.py"))[:200]
    except OSError:
        return ""
    for path in files:
        try:
            if path.stat().st_size > 1_000_000:
                continue
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if pattern.search(text):
            return f"{path.name} registers it: load it with --plugin {path.name}"
    return ""


def names(kind: str) -> list[str]:
    load_builtins(kind)
    return sorted(_REGISTRY[kind])


def entries(kind: str) -> list[Entry]:
    load_builtins(kind)
    return [_REGISTRY[kind][n] for n in sorted(_REGISTRY[kind])]


def kinds() -> tuple[str, ...]:
    return KINDS
