"""The spec text of plain values: what a store holds (JSON: numbers, text, booleans, lists
and nested specs as ``{"name", "params"}``) written back as ``optbench.spec.parse`` reads
it. Shared by the spec language (:func:`optbench.spec.format_value`) and the store's tidy
frame, which must format stored parameters without knowing the spec language's types."""

from __future__ import annotations

import math
import re
from typing import Any

BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
WORDS = {"true": True, "false": False, "none": None}


def is_nested_spec(value: Any) -> bool:
    """A nested spec in JSON-ready form (:func:`optbench.spec.canonical`)."""
    return isinstance(value, dict) and set(value) == {"name", "params"}


def format_plain(value: Any) -> str:
    """The spec text of one plain value; ``parse`` reads it back to the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
            return repr(float(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if is_nested_spec(value):
        inner = ",".join(f"{k}={format_plain(v)}" for k, v in value["params"].items())
        return f"{value['name']}({inner})"
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_plain(v) for v in value) + "]"
    text = str(value)
    return text if BARE.fullmatch(text) and text.lower() not in WORDS else f'"{text}"'
