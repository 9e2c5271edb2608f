"""The spec grammar shared by the command line, TOML files and the Python API.

A spec names a registered component and sets some of its parameters::

    name[key=value,key=value,...]

A value is a number (``0.1``, ``1e-3``, ``7``), a boolean (``true``/``false``), ``none``, a
string (a bare word such as ``cosine`` or a quoted ``"data/my file.csv"``), a list
``[a,b,c]``, a range ``log(1e-3,1,7)`` (7 log-spaced values, both ends included) or
``lin(0.1,1,10)``, a nested spec ``cosine(T=100)``, a multiple of the problem's
curvature ``1.5/L`` (resolved once the problem, and so its L, is known), or a named tuning
from the problem's L and μ (:data:`TUNINGS`: ``gd-opt``, ``hb-opt``, ``nesterov-opt``).

Lists and ranges are *sweeps*: :func:`expand` turns a spec into the Cartesian product of
all of them, nested specs included. A parameter whose type is a sequence (annotated
``list``/``tuple``) takes a list literally instead, e.g. ``multistep(milestones=[30,60])``.

Example:
    >>> spec = parse("gd[lr=[0.1,0.2],schedule=cosine(T=100)]")
    >>> [format_spec(s) for s in expand(spec)]
    ['gd[lr=0.1,schedule=cosine(T=100)]', 'gd[lr=0.2,schedule=cosine(T=100)]']
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import SpecError
from .plain_text import BARE, WORDS, format_plain

__all__ = [
    "PerL",
    "Spaced",
    "TUNINGS",
    "Tuned",
    "Spec",
    "Sweep",
    "count",
    "display_number",
    "expand",
    "format_spec",
    "format_value",
    "parse",
]

DISPLAY_DIGITS = 6  # a label shows a number with at most this many significant digits


@dataclass(frozen=True)
class Spec:
    """A component name with parameter values (possibly still holding sweeps)."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return format_spec(self)

    @property
    def dotted(self) -> bool:
        """A nested ``package.module.Name(k=v)``: a library object an adapter calls by its
        import path (``scheduler=torch.optim.lr_scheduler.StepLR(step_size=10)``), not a
        registered schedule."""
        return "." in self.name


class Spaced(Sequence):
    """The values of ``log(lo, hi, count)`` or ``lin(lo, hi, count)``, computed on demand.

    Like :class:`range`, it holds only its ends and its length, so a range of a billion
    values costs nothing until it is expanded (and the planner refuses that first).
    """

    def __init__(self, kind: str, lo: float, hi: float, count: int):
        self.kind, self.lo, self.hi, self.count_ = kind, lo, hi, count

    def __len__(self) -> int:
        return self.count_

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(self.count_)))
        if i < 0:
            i += self.count_
        if not 0 <= i < self.count_:
            raise IndexError(i)
        if i == 0:
            return self.lo
        if i == self.count_ - 1:
            return self.hi  # exact ends, whatever the rounding
        q = i / (self.count_ - 1)
        if self.kind == "lin":
            return self.lo + (self.hi - self.lo) * q
        return self.lo * (self.hi / self.lo) ** q

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Spaced):
            return (self.kind, self.lo, self.hi, self.count_) == (
                other.kind,
                other.lo,
                other.hi,
                other.count_,
            )
        if isinstance(other, tuple | list):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.kind, self.lo, self.hi, self.count_))

    def __repr__(self) -> str:
        return f"Spaced({self.kind!r}, {self.lo!r}, {self.hi!r}, {self.count_})"


@dataclass(frozen=True)
class Sweep:
    """Several values for one parameter: a list literal or a ``log``/``lin`` range."""

    values: Sequence[Any]  # a tuple, or a lazy :class:`Spaced` for a range
    text: str | None = None  # how the user wrote it, e.g. "log(1e-3,1,7)"


@dataclass(frozen=True)
class PerL:
    """``k/L``: ``k`` times the reciprocal of the problem's curvature constant L."""

    k: float

    def resolve(self, L: float | None, what: str) -> float:
        if L is None or not (L > 0):
            raise SpecError(
                f"{what}={format_value(self)} needs the problem's curvature L, which is unknown "
                "for this problem; give a plain number instead"
            )
        return self.k / L


def _kappa_root(L: float, mu: float) -> float:
    """``(√κ − 1)/(√κ + 1)``, κ = L/μ."""
    r = math.sqrt(L / mu)
    return (r - 1) / (r + 1)


# name -> parameter -> (its formula as the docs write it, its value from (L, μ))
TUNINGS: dict[str, dict[str, tuple[str, Callable[[float, float], float]]]] = {
    # gradient descent's optimal constant rate on a quadratic: rate (κ − 1)/(κ + 1)
    "gd-opt": {"lr": ("2/(L + μ)", lambda L, mu: 2.0 / (L + mu))},
    # Polyak's heavy ball at its optimum: rate (√κ − 1)/(√κ + 1), a double pole
    "hb-opt": {
        "lr": ("4/(√L + √μ)²", lambda L, mu: 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2),
        "momentum": ("((√κ − 1)/(√κ + 1))²", lambda L, mu: _kappa_root(L, mu) ** 2),
    },
    # Nesterov's standard tuning for strongly convex problems: rate 1 − 1/√κ
    "nesterov-opt": {
        "lr": ("1/L", lambda L, mu: 1.0 / L),
        "momentum": ("(√κ − 1)/(√κ + 1)", _kappa_root),
    },
}


@dataclass(frozen=True)
class Tuned:
    """A named tuning (:data:`TUNINGS`): a value worked out from the problem's L and μ for
    the parameter it is given to (``momentum[lr=hb-opt,momentum=hb-opt]``)."""

    name: str

    def resolve(self, L: float | None, mu: float | None, what: str) -> float:
        key = what.rsplit(".", 1)[-1]
        forms = TUNINGS[self.name]
        if key not in forms:
            raise SpecError(
                f"{what}={self.name} is not defined; {self.name} sets "
                f"{' and '.join(sorted(forms))} only"
            )
        formula, value = forms[key]
        if L is None or not (L > 0) or mu is None or not (mu > 0) or not (mu <= L):
            raise SpecError(
                f"{what}={self.name} ({formula}) needs the problem's curvature L and "
                "strong-convexity constant μ (0 < μ ≤ L), which are unknown for this problem; "
                "give a plain number instead"
            )
        return float(value(float(L), float(mu)))


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan)\b")
_BARE = BARE
_WORDS = WORDS


class _Parser:
    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def error(self, message: str, pos: int | None = None) -> SpecError:
        return SpecError(message, self.text, self.pos if pos is None else pos)

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
            raise self.error(f"expected {what} but found {found}")
        self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> str | None:
        self.skip_space()
        m = pattern.match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        return m.group(0)

    def spec(self) -> Spec:
        name = self.match(_NAME)
        if not name:
            raise self.error("expected a name such as 'gd' or 'quadratic-1d'")
        params: dict[str, Any] = {}
        if self.peek() == "[":
            self.pos += 1
            params = self.params("]")
        if self.peek():
            raise self.error(f"unexpected {self.text[self.pos]!r} after the spec")
        return Spec(name, params)

    def params(self, close: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.peek() == close:
            self.pos += 1
            return params
        while True:
            start = self.pos
            key = self.match(_KEY)
            if not key:
                raise self.error(f"expected a parameter name or {close!r}")
            if key in params:
                raise self.error(f"parameter {key!r} is given twice", start)
            self.expect("=", f"'=' after {key!r}")
            params[key] = self.value()
            nxt = self.peek()
            if nxt == ",":
                self.pos += 1
                continue
            if nxt == close:
                self.pos += 1
                return params
            raise self.error(f"expected ',' or {close!r} after the value of {key!r}")

    def value(self) -> Any:
        char = self.peek()
        if char == "[":
            start = self.pos
            self.pos += 1
            items: list[Any] = []
            if self.peek() == "]":
                self.pos += 1
            else:
                while True:
                    items.append(self.value())
                    if self.peek() == ",":
                        self.pos += 1
                        continue
                    self.expect("]", "',' or ']' in the list")
                    break
            return Sweep(tuple(items), self.text[start : self.pos].strip())
        if char in "\"'":
            end = self.text.find(char, self.pos + 1)
            if end < 0:
                raise self.error("unterminated string")
            quoted = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return quoted
        number = self.match(_NUMBER)
        if number is not None:
            value = _number(number)
            if self.peek() == "/":
                slash = self.pos
                self.pos += 1
                if self.match(re.compile(r"L\b")) is None:
                    raise self.error("expected 'L' after '/' (as in 1.5/L)", slash + 1)
                return PerL(float(value))
            return value
        start = self.pos
        word = self.match(_BARE)
        if word is None:
            found = repr(char) if char else "the end"
            raise self.error(
                f"expected a value (number, word, list, range or spec) but found {found}"
            )
        if self.peek() == "(":
            self.pos += 1
            if word in ("log", "lin"):
                return self.range(word, start)
            return Spec(word, self.params(")"))
        if word in TUNINGS:
            return Tuned(word)
        return _WORDS.get(word.lower(), word) if word.lower() in _WORDS else word

    def range(self, kind: str, start: int) -> Sweep:
        args = []
        while True:
            number = self.match(_NUMBER)
            if number is None:
                raise self.error(f"{kind}(start, stop, count) takes three numbers")
            args.append(_number(number))
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect(")", f"',' or ')' in {kind}(...)")
            break
        if len(args) != 3:
            raise self.error(
                f"{kind}(start, stop, count) takes three numbers, got {len(args)}", start
            )
        lo, hi, count = args
        if not isinstance(count, int) or count < 1:
            raise self.error(
                f"the count in {kind}(...) must be a whole number >= 1, got {count}", start
            )
        if kind == "log" and (lo <= 0 or hi <= 0):
            raise self.error("log(start, stop, count) needs start > 0 and stop > 0", start)
        text = self.text[start : self.pos].strip()
        return Sweep(Spaced(kind, float(lo), float(hi), count), text)


def _number(text: str) -> int | float:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return float(text)


def parse(text: str | Spec) -> Spec:
    """Parse ``name[key=value,...]`` into a :class:`Spec` (sweeps not yet expanded)."""
    if isinstance(text, Spec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise SpecError("expected a spec such as 'gd[lr=0.1]', got an empty string")
    return _Parser(text).spec()


def expand(spec: Spec, literal: Callable[[str, str], bool] | None = None) -> list[Spec]:
    """Expand every sweep of ``spec`` (nested specs included) into the Cartesian product.

    Args:
        spec: a parsed spec.
        literal: ``literal(spec_name, key)`` is true where a list is one sequence-valued
            parameter rather than a sweep. A list inside a sweep is always one value, so
            ``betas=[[0.9,0.99],[0.5,0.9]]`` sweeps two pairs.
    """
    keys = list(spec.params)
    choices = [_alternatives(spec.name, k, spec.params[k], literal) for k in keys]
    return [
        Spec(spec.name, dict(zip(keys, combo, strict=True)))
        for combo in itertools.product(*choices)
    ]


def count(spec: Spec, literal: Callable[[str, str], bool] | None = None) -> int:
    """How many specs :func:`expand` gives, worked out without expanding them."""
    return math.prod(_count(spec.name, k, v, literal) for k, v in spec.params.items())


def _count(owner: str, key: str, value: Any, literal) -> int:
    if isinstance(value, Sweep):
        if literal is not None and literal(owner, key):
            return math.prod(_item_count(v, literal) for v in value.values)
        if isinstance(value.values, Spaced):
            return len(value.values)
        return sum(_count(owner, key, v, literal) for v in value.values)
    if isinstance(value, Spec):
        return count(value, literal)
    return 1


def _item_count(value: Any, literal) -> int:
    """How many values one item of a literal list stands for (a nested spec may sweep)."""
    return count(value, literal) if isinstance(value, Spec) else 1


def _item_alternatives(value: Any, literal) -> list[Any]:
    """The values one item of a literal list stands for: a nested spec is expanded (its own
    sequence parameters taken literally, its sweeps swept), anything else is one value."""
    if isinstance(value, Spec):
        return expand(value, literal)
    return [_plain(value)]


def _alternatives(owner: str, key: str, value: Any, literal) -> list[Any]:
    if isinstance(value, Sweep):
        if literal is not None and literal(owner, key):
            # one list value per combination of its items' own sweeps (usually exactly one):
            # schedules=[constant,multistep(milestones=[10,30])] is one list of two specs
            items = [_item_alternatives(v, literal) for v in value.values]
            return [list(combo) for combo in itertools.product(*items)]
        out: list[Any] = []
        for v in value.values:
            if isinstance(v, Sweep) and (v.text or "").startswith("["):
                out.append(_plain(v))  # a list in a sweep is one list value: betas=[[0.9,0.99]]
            else:
                out.extend(_alternatives(owner, key, v, literal))
        return out
    if isinstance(value, Spec):
        return expand(value, literal)
    return [value]


def _plain(value: Any) -> Any:
    """A value inside a list value: lists stay lists, at any depth, nested specs included."""
    if isinstance(value, Sweep):
        return [_plain(v) for v in value.values]
    if isinstance(value, Spec):
        return Spec(value.name, {k: _plain(v) for k, v in value.params.items()})
    return value


def format_value(value: Any) -> str:
    """The spec text for one value; ``parse`` reads it back to the same value."""
    if isinstance(value, PerL):
        return f"{format_value(value.k)}/L"
    if isinstance(value, Tuned):
        return value.name
    if isinstance(value, Spec):
        inner = ",".join(f"{k}={format_value(v)}" for k, v in value.params.items())
        return f"{value.name}({inner})"
    if isinstance(value, Sweep):
        return value.text or "[" + ",".join(format_value(v) for v in value.values) + "]"
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return format_plain(value)


def display_number(x: int | float, digits: int | None = None) -> str:
    """A number for a label: as written when at most :data:`DISPLAY_DIGITS` significant
    digits hold it exactly (``0.05``, ``1``, ``1e-5``), else rounded to ``digits``
    (default :data:`DISPLAY_DIGITS`): ``0.009999999999999998`` → ``0.01``; ``digits`` above
    :data:`DISPLAY_DIGITS` gives the exact value."""
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return format_value(x)
    if isinstance(x, int):
        return str(x)
    for d in range(1, DISPLAY_DIGITS + 1):
        if float(f"{x:.{d}g}") == x:
            return _g(x, d)
    if digits is not None and digits > DISPLAY_DIGITS:
        return repr(x)
    return _g(x, digits or DISPLAY_DIGITS)


def _g(x: float, d: int) -> str:
    """``%g`` with short exponents: ``1e-05`` → ``1e-5``."""
    text = f"{x:.{d}g}"
    mant, e, exp = text.partition("e")
    return f"{mant}e{int(exp)}" if e else text


def format_spec(spec: Spec) -> str:
    """``name[key=value,...]`` (just ``name`` when there are no parameters)."""
    if not spec.params:
        return spec.name
    return (
        spec.name + "[" + ",".join(f"{k}={format_value(v)}" for k, v in spec.params.items()) + "]"
    )


def canonical(value: Any) -> Any:
    """A JSON-ready form of a resolved value (nested specs as ``{"name", "params"}``)."""
    if isinstance(value, Spec):
        return {
            "name": value.name,
            "params": {k: canonical(value.params[k]) for k in sorted(value.params)},
        }
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return canonical(value.item())
    return value


def iter_specs(items: Iterable[str | Spec]) -> list[Spec]:
    """Parse several specs (strings or already parsed)."""
    return [parse(item) for item in items]
