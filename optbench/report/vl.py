"""Vega-Lite specs as plain dicts, written in Altair's vocabulary.

The report's figures are Vega-Lite specs (:mod:`optbench.report.vega` embeds them). Altair
builds such specs through a schema-validated object model, and for a report that must
appear in a few seconds that model is too slow: importing Altair takes about half a second,
and building the Lesson's figures through it as long again. This module writes the same
JSON directly, for the part of the vocabulary the built-in figures use::

    from optbench.report import vl

    line = vl.Chart("paths").mark_line(strokeWidth=1.4).encode(
        x=vl.X("w:Q", scale=vl.Scale(domain=[0, 1]), title="w"), y="b:Q",
        tooltip=["label:N", vl.Tooltip("gap:Q", format=".3g")])
    spec = {"layer": [line.to_dict()], "datasets": {"paths": rows}}

A shorthand ``"name:T"`` stands for ``{"field": "name", "type": ...}`` with T one of Q, N,
O, T; everything else is written as given. A plug-in's figure may still use Altair:
:func:`optbench.report.vega.chart_html` takes either.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SCHEMA_URL", "Axis", "Chart", "Color", "Legend", "Param", "Scale", "Shape", "Title",
    "Tooltip", "X", "Y", "binding_range", "condition", "expr", "field", "param",
    "selection_interval", "selection_point", "value",
]

SCHEMA_URL = "https://vega.github.io/schema/vega-lite/v6.4.1.json"
_SECONDARY = ("x2", "y2", "theta2", "radius2", "latitude2", "longitude2")
_TYPES = {"Q": "quantitative", "N": "nominal", "O": "ordinal", "T": "temporal"}


def field(shorthand: str) -> dict[str, Any]:
    """``"name:Q"`` as ``{"field": "name", "type": "quantitative"}``."""
    name, sep, kind = shorthand.rpartition(":")
    if not sep or not name or kind not in _TYPES:
        raise ValueError(f"expected a field as 'name:T' with T one of Q, N, O, T, got "
                         f"{shorthand!r}")
    return {"field": name, "type": _TYPES[kind]}


def _plain(v: Any) -> Any:
    if isinstance(v, Param):
        return v.name
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def channel(shorthand: str | None = None, **props: Any) -> dict[str, Any]:
    """An encoding channel: a field (shorthand) with its properties (scale, title, ...)."""
    out = field(shorthand) if shorthand is not None else {}
    out.update({k: _plain(v) for k, v in props.items()})
    return out


X = Y = Color = Shape = Tooltip = channel


def _props(**props: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in props.items()}


Scale = Legend = Axis = _props


def Title(text: Any, **props: Any) -> dict[str, Any]:  # noqa: N802 — Altair's name
    """A title: its text (or an :func:`expr`) and properties such as ``subtitle``."""
    return {"text": text, **_props(**props)}


def value(v: Any) -> dict[str, Any]:
    return {"value": v}


def expr(text: str) -> dict[str, str]:
    """A Vega expression where a value is expected (e.g. a title that follows a slider)."""
    return {"expr": text}


class Param:
    """A named parameter (a selection or a variable) for a view's ``params``."""

    def __init__(self, name: str, **spec: Any) -> None:
        self.name = name
        self.spec = {"name": name, **_props(**spec)}

    def to_dict(self) -> dict[str, Any]:
        return dict(self.spec)


def param(name: str, **spec: Any) -> Param:
    """A variable parameter (``value``, ``bind``, or ``expr``)."""
    return Param(name, **spec)


def selection_point(name: str, fields: list[str], bind: Any = None) -> Param:
    spec: dict[str, Any] = {"select": {"type": "point", "fields": list(fields)}}
    if bind is not None:
        spec["bind"] = bind
    return Param(name, **spec)


def selection_interval(name: str, bind: Any = None, encodings: list[str] | None = None) -> Param:
    select: dict[str, Any] = {"type": "interval"}
    if encodings is not None:
        select["encodings"] = list(encodings)
    spec: dict[str, Any] = {"select": select}
    if bind is not None:
        spec["bind"] = bind
    return Param(name, **spec)


def binding_range(**props: Any) -> dict[str, Any]:
    """A slider bound to a parameter."""
    return {"input": "range", **props}


def condition(predicate: Param | str, if_true: dict[str, Any],
              if_false: dict[str, Any]) -> dict[str, Any]:
    """``if_true`` where the selection holds (or the test expression is true), else
    ``if_false``."""
    test = {"param": predicate.name} if isinstance(predicate, Param) else {"test": predicate}
    return {"condition": {**test, **if_true}, **if_false}


class Chart:
    """One view: a named dataset, a mark, encodings, filters and properties."""

    def __init__(self, data: str | None = None, spec: dict[str, Any] | None = None) -> None:
        self._spec: dict[str, Any] = (
            dict(spec) if spec is not None else ({"data": {"name": data}} if data else {}))

    def _with(self, **parts: Any) -> Chart:
        return Chart(spec={**self._spec, **parts})

    def mark(self, kind: str, **props: Any) -> Chart:
        return self._with(mark={"type": kind, **_props(**props)})

    def mark_line(self, **props: Any) -> Chart:
        return self.mark("line", **props)

    def mark_area(self, **props: Any) -> Chart:
        return self.mark("area", **props)

    def mark_circle(self, **props: Any) -> Chart:
        return self.mark("circle", **props)

    def mark_point(self, **props: Any) -> Chart:
        return self.mark("point", **props)

    def mark_rule(self, **props: Any) -> Chart:
        return self.mark("rule", **props)

    def mark_text(self, **props: Any) -> Chart:
        return self.mark("text", **props)

    def mark_rect(self, **props: Any) -> Chart:
        return self.mark("rect", **props)

    def mark_image(self, **props: Any) -> Chart:
        return self.mark("image", **props)

    def encode(self, **channels: Any) -> Chart:
        enc = dict(self._spec.get("encoding", {}))
        for name, ch in channels.items():
            if isinstance(ch, str):
                ch = field(ch)
                if name in _SECONDARY:  # a range's other end takes its type from the first
                    del ch["type"]
            elif isinstance(ch, (list, tuple)):
                ch = [field(c) if isinstance(c, str) else _plain(c) for c in ch]
            else:
                ch = _plain(ch)
            enc[name] = ch
        return self._with(encoding=enc)

    def transform_filter(self, predicate: Any) -> Chart:
        filt = {"param": predicate.name} if isinstance(predicate, Param) else _plain(predicate)
        return self._with(transform=[*self._spec.get("transform", []), {"filter": filt}])

    def transform_calculate(self, **exprs: str) -> Chart:
        calc = [{"calculate": e, "as": k} for k, e in exprs.items()]
        return self._with(transform=[*self._spec.get("transform", []), *calc])

    def properties(self, **props: Any) -> Chart:
        return self._with(**_props(**props))

    def to_dict(self) -> dict[str, Any]:
        return dict(self._spec)
