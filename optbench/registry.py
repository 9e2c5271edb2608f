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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidValueError, PluginError, UnknownNameError

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
]

KINDS = ("problem", "optimizer", "schedule", "section")
_BUILTIN_PACKAGES = {
    "problem": "optbench.problems",
    "optimizer": "optbench.optimizers",
    "schedule": "optbench.optimizers",
    "section": "optbench.reports",
}
_ENTRY_POINT_GROUPS = {
    "problem": "optbench.problems",
    "optimizer": "optbench.optimizers",
    "schedule": "optbench.optimizers",
    "section": "optbench.reports",
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

    def is_batchable(self, params: dict[str, Any]) -> bool:
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
        """Call the factory; a ValueError from its checks names this component."""
        try:
            return self.factory(**params)
        except InvalidValueError:
            raise
        except (ValueError, TypeError) as exc:
            raise InvalidValueError(f"{self.kind} {self.name!r}: {exc}") from exc

    def describe(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "description": self.description,
            "params": [p.describe() for p in self.params.values()],
            "origin": self.origin,
        }
        out.update(
            {k: (sorted(v) if isinstance(v, set | frozenset) else v) for k, v in self.meta.items()}
        )
        if callable(out.get("batchable")):
            out["batchable"] = "per spec"
        return out


def _check_type(entry: Entry, p: Param, value: Any) -> None:
    """Numbers where numbers are declared: a typo such as lr=fast fails with one clear line."""
    from .spec import PerL, format_value

    base = p.annotation.split("|")[0].strip() if p.annotation else type(p.default).__name__
    ok = {
        "float": lambda v: (
            isinstance(v, float | PerL) or (isinstance(v, int) and not isinstance(v, bool))
        ),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
    }.get(base)
    if hasattr(value, "shape"):  # a per-run column built by the runner, already checked
        return
    if ok is not None and value is not None and not ok(value):
        kind = {"float": "a number", "int": "a whole number", "bool": "true or false"}[base]
        raise InvalidValueError(
            f"{entry.kind} {entry.name!r}: {p.name} must be {kind}, got {format_value(value)}"
        )


_REGISTRY: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
_LOADED: set[str] = set()
_CURRENT_ORIGIN: list[tuple[str, str | None]] = []  # (origin, source hash) while loading a plug-in


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
    if old is not None and not _same_factory(old.factory, factory):
        raise PluginError(
            f"{kind} {name!r} is registered twice: by {old.origin} "
            f"({getattr(old.factory, '__module__', '?')}) and by {entry.origin} "
            f"({getattr(factory, '__module__', '?')}); rename one of them"
        )
    if old is None:
        _REGISTRY[kind][name] = entry
    return factory


def register_problem(name: str, *, description: str | None = None, tags: Iterable[str] = ()):
    """Register a problem factory: ``factory(**params) -> Problem``."""
    return lambda f: _register("problem", name, f, description, {"tags": sorted(tags)})


def register_optimizer(
    name: str,
    *,
    needs: Iterable[str] = ("gradient",),
    batchable: bool | Callable[[dict[str, Any]], bool] = False,
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
    """
    needs = frozenset(needs)
    unknown = needs - NEEDS
    if unknown:
        raise PluginError(
            f"optimizer {name!r} declares unknown needs {sorted(unknown)}; allowed: {sorted(NEEDS)}"
        )
    return lambda f: _register(
        "optimizer",
        name,
        f,
        description,
        {"needs": needs, "batchable": batchable if callable(batchable) else bool(batchable)},
    )


def register_schedule(name: str, *, description: str | None = None):
    """Register a schedule factory: ``factory(lr, **params) -> (t, gap) -> learning rate``."""
    return lambda f: _register("schedule", name, f, description, {})


def register_section(name: str, *, order: int = 100, description: str | None = None):
    """Register a report section: ``factory(context) -> Section | None``."""
    return lambda f: _register("section", name, f, description, {"order": order})


def load_builtins(kind: str | None = None) -> None:
    """Import the built-in catalog of ``kind`` (all with None) and the entry points (once)."""
    for each in KINDS if kind is None else (kind,):
        package = _BUILTIN_PACKAGES[each]
        if package not in _LOADED:
            _LOADED.add(package)
            importlib.import_module(package)
    if "entry points" not in _LOADED:
        _LOADED.add("entry points")
        _load_entry_points()


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for group in sorted(set(_ENTRY_POINT_GROUPS.values())):
        for ep in entry_points(group=group):
            try:
                _CURRENT_ORIGIN.append((f"entry point {ep.name!r} ({ep.value})", None))
                try:
                    ep.load()
                finally:
                    _CURRENT_ORIGIN.pop()
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
        raise UnknownNameError(kind, name, _REGISTRY[kind]) from None


def names(kind: str) -> list[str]:
    load_builtins(kind)
    return sorted(_REGISTRY[kind])


def entries(kind: str) -> list[Entry]:
    load_builtins(kind)
    return [_REGISTRY[kind][n] for n in sorted(_REGISTRY[kind])]


def kinds() -> tuple[str, ...]:
    return KINDS
