"""Strict JSON (sync/strict_json.py) agrees with what browsers parse: Node's ``JSON.parse``,
the engine of the stock clients, is the oracle for generated JSON and near-JSON."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync import strict_json
from sync.protocol import (
    MAX_SAFE_INTEGER,
    AwarenessEntry,
    ProtocolError,
    decode_awareness,
    encode_awareness,
    varbytes,
    varuint,
)
from tests.yjs import INSTALL_STEP

_ORACLE = r"""
const finite = (v) => typeof v === 'number' ? Number.isFinite(v)
  : v !== null && typeof v === 'object' ? Object.values(v).every(finite) : true
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  let answer
  try { answer = finite(JSON.parse(JSON.parse(line))) ? 'ok' : 'infinite' }
  catch (error) { answer = 'refused' }
  process.stdout.write(answer + '\n')
})
"""


class Browser:
    """One Node process answering, per text: ``ok``, ``refused`` or ``infinite``."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError(f"node is not on PATH: install Node >= 20 ({INSTALL_STEP})")
        self.proc = subprocess.Popen(
            [node, "-e", _ORACLE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def parse(self, text: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(text) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    node = Browser()
    yield node
    node.close()


def accepted(text: str) -> bool:
    try:
        strict_json.loads(text)
    except strict_json.StrictJsonError:
        return False
    return True


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
NON_FINITE_TEXT = ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "9" * 400, "-" + "9" * 320]


@st.composite
def values_with_non_finite(draw: st.DrawFn) -> Any:
    """A JSON-like value with NaN or an infinity somewhere inside, a few levels down."""
    value: Any = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    for _ in range(draw(st.integers(0, 3))):
        items = [*draw(st.lists(json_values, max_size=2)), value]
        if draw(st.booleans()):
            value = draw(st.permutations(items))
        else:
            keys = draw(
                st.lists(st.text(max_size=4), min_size=len(items), max_size=len(items), unique=True)
            )
            value = dict(zip(keys, items, strict=True))
    return value


@st.composite
def with_non_finite(draw: st.DrawFn) -> str:
    """JSON as Python writes it with a non-finite float somewhere inside, or valid JSON
    beside a number too large for a double."""
    if draw(st.booleans()):
        return json.dumps(draw(values_with_non_finite()))
    value = json.dumps(draw(json_values))
    bad = draw(st.sampled_from(NON_FINITE_TEXT))
    return draw(st.sampled_from([f'{{"v":{value},"bad":{bad}}}', f"[{value},{bad}]", bad]))


NEAR = [
    "NaN", "Infinity", "-Infinity", "undefined", "True", "None", "nul", ",", ",]", ",}", "'a'",
    "//c\n", "/*c*/", "0x1F", "+1", ".5", "1.", "01", "-", "1e", "1e+", "\x00", "\x0c", "\u00a0",
    "\u2028", "\ufeff", '"\\x41"', '"\\u12"', '"\\ud800"', '"\t"', "[", "]", "{", "}", ":", '"',
    "\\", "-0", "1E+2", "[1,]", '{"a":1,}', "{a:1}", " ", "\n",
]  # fmt: skip


@st.composite
def near_json(draw: st.DrawFn) -> str:
    """Valid JSON with a few near-JSON tokens spliced in, or deleted from, random places."""
    text = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()) or not text:
            text = text[:at] + draw(st.sampled_from(NEAR)) + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=with_non_finite())
@example(text='{"a":NaN}')
@example(text="[Infinity]")
@example(text='{"x":-Infinity}')
def test_non_finite_numbers_are_refused_as_browsers_would(browser: Browser, text: str) -> None:
    assert not accepted(text), text
    assert browser.parse(text) in {"refused", "infinite"}, text


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=near_json())
def test_near_json_is_accepted_exactly_when_browsers_parse_it_finite(
    browser: Browser, text: str
) -> None:
    assert accepted(text) == (browser.parse(text) == "ok"), text


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_json_values_round_trip(value: Any) -> None:
    assert strict_json.loads(strict_json.dumps(value)) == value
    assert strict_json.loads(json.dumps(value)) == value


def test_nesting_is_bounded_without_recursion_errors() -> None:
    assert accepted("[" * strict_json.MAX_DEPTH + "]" * strict_json.MAX_DEPTH)
    too_deep = "[" * (strict_json.MAX_DEPTH + 1) + "]" * (strict_json.MAX_DEPTH + 1)
    assert not accepted(too_deep)
    assert not accepted('{"a":' * 100_000 + "1" + "}" * 100_000)  # RecursionError inside
    assert accepted(json.dumps(["[" * 100, "{" * 100]))  # brackets in strings nest nothing


def test_dumps_keeps_a_lone_surrogate_escaped() -> None:
    value = strict_json.loads('{"name":"\\ud800x"}')
    text = strict_json.dumps(value)
    text.encode("utf-8")
    assert strict_json.loads(text) == value


def _awareness(state: bytes, client_id: int = 9, clock: int = 1) -> bytes:
    return varuint(1) + varuint(client_id) + varuint(clock) + varbytes(state)


@settings(max_examples=100, deadline=None)
@given(text=with_non_finite())
def test_awareness_with_non_finite_numbers_is_refused(text: str) -> None:
    with pytest.raises(ProtocolError, match="not JSON"):
        decode_awareness(_awareness(text.encode()))


@pytest.mark.parametrize("field", ["client_id", "clock"])
def test_awareness_ids_and_clocks_browsers_cannot_read_are_refused(field: str) -> None:
    fine = encode_awareness([AwarenessEntry(MAX_SAFE_INTEGER, MAX_SAFE_INTEGER, "{}")])
    assert decode_awareness(fine)[0].client_id == MAX_SAFE_INTEGER
    with pytest.raises(ProtocolError, match="2\\*\\*53"):
        decode_awareness(_awareness(b"{}", **{field: MAX_SAFE_INTEGER + 1}))


@pytest.mark.parametrize("text", ["null", " null", "null\n", "\tnull "])
def test_a_null_state_is_a_removal_however_it_is_spaced(text: str) -> None:
    """Clients remove a state whose JSON is null; the server must see the same removal."""
    (entry,) = decode_awareness(_awareness(text.encode()))
    assert entry.removed and entry.state == "null"
