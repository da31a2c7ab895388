"""Hostile JSON bodies for property tests (Hypothesis), as the bytes a client sends.

Each body is a route's valid template with one value made hostile, or a body hostile as a
whole. Hostile values are what Python's ``json`` takes but the code behind it chokes on
(lone surrogates, integers past 4300 digits or past a double, NaN, nesting thousands deep),
values of the wrong type, and strings past the body limit. Every body is one that a route
must refuse with a 4xx: none is valid by accident, so a body that gets through is a bug."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

MAX_BODY_BYTES = 1024 * 1024
_MARK = "\x00hostile\x00"

Path = tuple[str, ...]


class Body(bytes):
    """A body that prints short: Hypothesis shows each failing one, and some are 1 MB."""

    def __repr__(self) -> str:
        text = bytes.__repr__(self)
        if len(text) <= 300:
            return text
        return f"{text[:200]}...{text[-60:]} ({len(self)} bytes)"


def _json_text(value: Any) -> str:
    return json.dumps(value)


def lone_surrogate_strings() -> st.SearchStrategy[str]:
    """A JSON string literal holding an unpaired surrogate escape, such as ``"a\\ud800"``.
    ``st.text`` draws no surrogates, so the escape around them stays unpaired."""
    return st.tuples(
        st.text(max_size=8), st.sampled_from(["\\ud800", "\\udbff", "\\udc00", "\\udfff"])
    ).map(lambda parts: _json_text(parts[0])[:-1] + parts[1] + '"')


def huge_integers() -> st.SearchStrategy[str]:
    """Past a double (309 digits), and past Python's int-from-str limit (4300 digits)."""
    return st.tuples(st.sampled_from(["", "-"]), st.integers(310, 6000)).map(
        lambda parts: parts[0] + "9" * parts[1]
    )


def deep_nesting() -> st.SearchStrategy[str]:
    def nest(kind: str, depth: int) -> str:
        if kind == "array":
            return "[" * depth + "]" * depth
        return '{"a":' * depth + "1" + "}" * depth

    return st.tuples(st.sampled_from(["array", "object"]), st.integers(65, 100_000)).map(
        lambda parts: nest(*parts)
    )


def non_finite() -> st.SearchStrategy[str]:
    return st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])


def huge_strings() -> st.SearchStrategy[str]:
    return st.integers(MAX_BODY_BYTES, MAX_BODY_BYTES + 4096).map(lambda n: '"' + "x" * n + '"')


_KINDS: dict[type, st.SearchStrategy[Any]] = {
    str: st.text(max_size=10),
    bool: st.booleans(),
    int: st.integers(-(2**40), 2**40),
    float: st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    list: st.lists(st.integers(), max_size=3),
    dict: st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
}


def wrong_types(valid: Any) -> st.SearchStrategy[str]:
    """Any JSON value but ``null`` whose type is not ``valid``'s (``null`` means "absent" to
    optional fields, so it would not be hostile there)."""
    others = [kind for t, kind in _KINDS.items() if t is not type(valid)]
    return st.one_of(others).map(_json_text)


def hostile_values(valid: Any) -> st.SearchStrategy[str]:
    """JSON texts to put where ``valid`` stands."""
    return st.one_of(
        lone_surrogate_strings(),
        huge_integers(),
        deep_nesting(),
        non_finite(),
        wrong_types(valid),
        huge_strings(),
    )


def paths(template: dict[str, Any], prefix: Path = ()) -> Iterator[Path]:
    """Every value's place in ``template``, nested objects' values included."""
    for key, value in template.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from paths(value, (*prefix, key))


def _value_at(template: dict[str, Any], path: Path) -> Any:
    value: Any = template
    for key in path:
        value = value[key]
    return value


def _replaced(template: dict[str, Any], path: Path, text: str) -> str:
    """``template`` as JSON text with the value at ``path`` replaced by the text ``text``."""
    marked = json.loads(json.dumps(template))
    parent = _value_at(marked, path[:-1])
    parent[path[-1]] = _MARK
    return json.dumps(marked).replace(_json_text(_MARK), text, 1)


def hostile_bodies(template: dict[str, Any]) -> st.SearchStrategy[Body]:
    """Bodies for a route whose valid body is ``template`` (every value in it valid)."""
    text = json.dumps(template)
    in_a_field = st.sampled_from(list(paths(template))).flatmap(
        lambda path: hostile_values(_value_at(template, path)).map(
            lambda hostile: _replaced(template, path, hostile)
        )
    )
    whole = st.one_of(
        st.sampled_from(["[]", '"body"', "1", "null", "true", "[{}]"]),
        deep_nesting(),
        huge_integers(),
        non_finite(),
        lone_surrogate_strings().map(lambda key: "{" + key + ":1," + text[1:]),
        st.integers(1, len(text) - 1).map(lambda cut: text[:cut]),
    )
    invalid_utf8 = st.integers(1, len(text) - 1).map(
        lambda at: text[:at].encode() + b"\xff" + text[at:].encode()
    )
    return st.one_of(in_a_field.map(str.encode), whole.map(str.encode), invalid_utf8).map(Body)
