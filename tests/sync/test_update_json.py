"""JSON inside Yjs updates: content browsers decode with ``JSON.parse`` (embeds, formatting
attributes, the old JSON content) is checked by the server's Yjs (yrs), which refuses what
``JSON.parse`` would throw on, so no such update is applied or relayed."""

from __future__ import annotations

import base64

import pytest
from pycrdt import Doc

from sync.room import apply_update

# One item in a root array "arr", built by hand: Yjs (tests/js) throws on each of these when
# applying them ("NaN" is not valid JSON).
WOULD_THROW = {
    "ContentJSON": "AQEBAAIBA2FycgEDTmFOAA==",
    "ContentEmbed": "AQEBAAUBA2FycgNOYU4A",
    "ContentFormat": "AQEBAAYBA2FycgRib2xkA05hTgA=",
}


@pytest.mark.parametrize("content", list(WOULD_THROW))
def test_updates_carrying_json_browsers_cannot_parse_are_refused(content: str) -> None:
    doc = Doc()
    before = doc.get_update()
    with pytest.raises(ValueError):
        apply_update(doc, base64.b64decode(WOULD_THROW[content]))
    assert doc.get_update() == before
