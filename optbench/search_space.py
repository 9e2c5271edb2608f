"""Search spaces: the hyperparameters an optimizer family tunes, their ranges and scales, and
the quasi-random trials drawn from them (``optbench tune --trials K``).

An optimizer declares its space when it registers, one text per hyperparameter::

    @register_optimizer("adam", space={"lr": "log(0.001, 4)/L else log(1e-5, 1)",
                                       "beta1": "1-log(0.001, 0.5)",
                                       "beta2": "1-log(1e-4, 0.1)"},
                        defaults={"lr": 1e-3, "beta1": 0.9, "beta2": 0.999})

The forms of a dimension:

``log(a, b)``
    log-uniform in [a, b] (a learning rate, a weight decay).
``log(a, b)/L``
    log-uniform multiples k of 1/L, where the problem's curvature L is known (the same
    trials span problems whose L ranges from 1 to thousands); ``… else log(c, d)`` is the
    absolute range where L is unknown (without it such a problem refuses the space).
``1-log(a, b)``
    one minus a log-uniform number in [a, b]: momentum or β₁ as 1 − β, so that 0.9, 0.99 and
    0.999 are equally likely decades apart.
``uniform(a, b)``
    uniform in [a, b].
``choice(x, y, …)``
    one of the values, each equally likely (a schedule: ``choice(constant, cosine(T=400))``).

Trials are the first K points of a scrambled Halton sequence with a fixed seed
(:func:`trials`), each coordinate mapped through its dimension: the same K points for every
family on every problem, reproducible on any executor and across resumes. Halton rather
than Sobol: its balance does not ask K to be a power of two. Values are rounded to four
significant digits (of 1 − β for a ``1-log`` range, and at most six of β, as a label shows
it), which is what a spec shows and what the run's id is made from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import SpecError

__all__ = ["Dimension", "parse_dimension", "parse_space", "read_space_file", "space_text",
           "trials"]

TRIAL_SEED = 20190701  # the quasi-random sequence's scrambling seed: fixed, so trials repeat
_NUM = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_RANGE = re.compile(rf"^(log|uniform|1-log)\({_NUM},{_NUM}\)(/L)?$")
FORMS = "'log(a, b)', 'log(a, b)/L [else log(c, d)]', '1-log(a, b)', 'uniform(a, b)' or " \
        "'choice(x, y, ...)'"


@dataclass(frozen=True)
class Dimension:
    """One tuned hyperparameter's range and scale (see the module docstring for the forms)."""

    kind: str  # "log", "uniform", "1-log" or "choice"
    low: float = math.nan
    high: float = math.nan
    per_L: bool = False
    choices: tuple[str, ...] = ()
    fallback: Dimension | None = None  # the absolute range of a per-L one, where L is unknown

    def value(self, u: float, L: float | None) -> Any:
        """The hyperparameter's value at quasi-random coordinate ``u`` ∈ [0, 1): a float, a
        :class:`~optbench.spec.PerL` (k/L, resolved per problem) or a choice's text."""
        from .spec import PerL

        if self.kind == "choice":
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        if self.per_L and not (L is not None and L > 0):
            if self.fallback is None:
                raise SpecError(
                    f"the range {self.text()} is in units of 1/L, which this problem does not "
                    "know; add an absolute range: '... else log(c, d)'"
                )
            return self.fallback.value(u, L)
        if self.kind == "uniform":
            v = self.low + u * (self.high - self.low)
        else:
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        v = float(f"{v:.4g}")
        if self.kind == "1-log":  # four digits of 1 − β (0.9989, not 0.999), at most six of β
            v = float(f"{1.0 - v:.6g}")
        return PerL(v) if self.per_L else v

    def text(self) -> str:
        """The dimension as written (parses back to itself)."""
        if self.kind == "choice":
            return f"choice({', '.join(self.choices)})"
        out = f"{self.kind}({self.low:g}, {self.high:g})" + ("/L" if self.per_L else "")
        return out + (f" else {self.fallback.text()}" if self.fallback is not None else "")


def _split_top(text: str) -> list[str]:
    """Split at the commas outside parentheses and brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def parse_dimension(text: str, name: str = "the hyperparameter") -> Dimension:
    """A dimension from its text; a one-line :class:`SpecError` naming the forms if wrong."""
    if isinstance(text, Dimension):
        return text
    if not isinstance(text, str):
        raise SpecError(f"the range of {name} must be text such as {FORMS}, got {text!r}")
    raw = text.strip()
    head, _, rest = raw.partition(" else ")
    head = head.replace(" ", "")
    if head.startswith("choice(") and head.endswith(")") and not rest:
        choices = tuple(c for c in _split_top(raw.strip()[len("choice("):-1]) if c)
        if not choices:
            raise SpecError(f"the range of {name}, {text!r}, chooses among nothing")
        return Dimension("choice", choices=choices)
    m = _RANGE.match(head)
    if not m:
        raise SpecError(f"cannot read the range of {name}, {text!r}: expected {FORMS}")
    kind, low, high, per_L = m.group(1), float(m.group(2)), float(m.group(3)), bool(m.group(4))
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise SpecError(f"the range of {name}, {text!r}, needs finite bounds with a < b")
    if kind in ("log", "1-log") and low <= 0:
        raise SpecError(f"the log range of {name}, {text!r}, needs bounds above 0")
    if kind == "1-log" and high >= 1:
        raise SpecError(f"the range of {name}, {text!r}, is 1 − β with β in [a, b]: b < 1")
    fallback = None
    if rest:
        if not per_L:
            raise SpecError(f"the range of {name}, {text!r}: 'else' follows a '/L' range only")
        fallback = parse_dimension(rest, name)
        if fallback.per_L or fallback.kind == "choice":
            raise SpecError(f"the range of {name}, {text!r}: what follows 'else' is an "
                            "absolute range such as 'log(1e-5, 1)'")
    return Dimension(kind, low, high, per_L, (), fallback)


def parse_space(space: Mapping[str, Any] | str | None, params: Iterable[str] | None = None,
                where: str = "the search space") -> dict[str, Dimension]:
    """``{hyperparameter: Dimension}`` from a mapping of texts, or from the text
    ``"lr=log(1e-4, 0.1); beta1=1-log(0.001, 0.5)"``. ``params``: the factory's parameter
    names, which every key must be one of."""
    if space is None:
        return {}
    if isinstance(space, str):
        items = {}
        for part in (p for p in space.split(";") if p.strip()):
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise SpecError(f"cannot read {where} {space!r}: expected "
                                "'name=range; name=range', e.g. 'lr=log(1e-4, 0.1)'")
            items[key.strip()] = value.strip()
        space = items
    if not isinstance(space, Mapping):
        raise SpecError(f"{where} must map hyperparameter names to ranges, got {space!r}")
    known = None if params is None else set(params)
    out = {}
    for key, value in space.items():
        if known is not None and key not in known:
            raise SpecError(f"{where} names {key!r}, which is not a hyperparameter; "
                            f"expected one of {sorted(known)}")
        out[str(key)] = parse_dimension(value, repr(key))
    return out


def space_text(space: Mapping[str, Dimension]) -> dict[str, str]:
    """The space as plain JSON data (``{name: text}``), as a record or a store keeps it."""
    return {k: d.text() for k, d in space.items()}


def trials(space: Mapping[str, Dimension], n: int, L: float | None = None,
           seed: int = TRIAL_SEED) -> list[dict[str, Any]]:
    """The first ``n`` quasi-random points of ``space`` (scrambled Halton, fixed ``seed``),
    as hyperparameter dicts, in trial order. The same ``space``, ``n`` and ``seed`` give the
    same points, and the first k of ``n`` points are the k points asked for alone."""
    if n < 1:
        raise SpecError(f"the number of trials must be at least 1, got {n}")
    if not space:
        return [{} for _ in range(n)]
    from scipy.stats import qmc

    names = sorted(space)
    u = qmc.Halton(d=len(names), scramble=True, seed=seed).random(n)
    return [{k: space[k].value(float(row[j]), L) for j, k in enumerate(names)} for row in u]


def read_space_file(path) -> dict[str, dict[str, str]]:
    """Spaces from a TOML file: a table per family (its spec, quoted where it has brackets,
    or its optimizer's name), a range per hyperparameter::

        [adam]
        lr = "log(1e-4, 0.1)"
        beta1 = "1-log(0.001, 0.5)"

    A file that cannot be read or is not such tables is one :class:`SpecError` line."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SpecError(f"cannot read the space file {str(path)!r}: "
                        f"{exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"the space file {str(path)!r} is not TOML: {exc}") from None
    out = {}
    for family, table in data.items():
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise SpecError(f"the space file {str(path)!r}: [{family}] must map hyperparameters "
                            "to ranges as text, e.g. lr = \"log(1e-4, 0.1)\"")
        out[family] = dict(table)
    return out
