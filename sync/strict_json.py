"""JSON as browsers' ``JSON.parse`` takes it (RFC 8259), for text other clients will parse.

Python's ``json.loads`` also takes ``NaN``, ``Infinity`` and ``-Infinity``, which
``JSON.parse`` refuses: one awareness state ``{"a":NaN}`` relayed made every browser in the
room throw. It reads ``1e400`` as ``inf`` too, which browsers read as ``Infinity`` and write
back as ``null``. Here every number must be a finite double, and nesting is bounded (deep
nesting raised ``RecursionError``, which is no ``ValueError``)."""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused; a cursor state nests about 4."""


class StrictJsonError(ValueError):
    """Text that is not JSON by RFC 8259, or holds a number no browser reads as finite."""


def _refuse_constant(name: str) -> NoReturn:
    raise StrictJsonError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJsonError(f"number {text[:40]} is not a finite double")
    return value


def _finite_int(text: str) -> int:
    value = int(text)  # ValueError past sys.get_int_max_str_digits()
    if len(text) > 300:
        try:
            float(value)
        except OverflowError:
            raise StrictJsonError(f"integer of {len(text)} digits is not a finite double") from None
    return value


_DECODER = json.JSONDecoder(
    parse_float=_finite_float, parse_int=_finite_int, parse_constant=_refuse_constant
)


def loads(text: str) -> Any:
    """The value of ``text``; raises StrictJsonError (a ValueError) for anything else."""
    try:
        value = _DECODER.decode(text)
    except StrictJsonError:
        raise
    except RecursionError:
        raise StrictJsonError("nested too deeply") from None
    except ValueError as exc:
        raise StrictJsonError(str(exc)) from None
    # Nesting needs as many brackets: only text with that many is walked.
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise StrictJsonError(f"nested deeper than {MAX_DEPTH}")
    return value


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def dumps(value: Any) -> str:
    """Compact JSON text of a value ``loads`` returned, encodable as UTF-8: a lone surrogate
    (``"\\ud800"`` parses) stays escaped, as it came."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text
