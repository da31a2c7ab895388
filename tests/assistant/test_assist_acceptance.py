"""Accepting on the pycrdt document: non-ASCII text, stale detection, accept-all."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text

from assistant import anchors, board
from assistant.acceptance import StaleError, accept, accept_many
from assistant.output import unfenced


def content(value: str) -> tuple[Doc, Text]:
    doc = Doc()
    text = doc.get("content", type=Text)
    text += value
    return doc, text


def suggestion(text: Text, sid: str, start: int, end: int, proposal: str) -> dict[str, object]:
    original = str(text)[start:end]
    return {
        "id": sid,
        "anchor_start": anchors.encode(text, start),
        "anchor_end": anchors.encode(text, end),
        "original": original,
        "original_sha256": board.sha256(original),
        "proposal": proposal,
    }


def test_accept_replaces_the_anchored_text_after_edits_before_it_on_emoji_text() -> None:
    doc, text = content("Grüße 😀 aus Köln, schöne Stadt")
    s = suggestion(text, "a", 8, 16, "from Cologne")  # "aus Köln"
    assert str(text)[8:16] == "aus Köln"
    text.insert(0, "🎉🎉 Ä ")  # someone types before the range: anchors follow
    accept(doc, s)
    assert str(text) == "🎉🎉 Ä Grüße 😀 from Cologne, schöne Stadt"


def test_edit_inside_the_range_makes_it_stale_and_changes_nothing() -> None:
    doc, text = content("ääbbcc")
    s = suggestion(text, "a", 2, 4, "XX")
    text.insert(len("ääb".encode()), "t")  # between the b's
    before = str(text)
    with pytest.raises(StaleError):
        accept(doc, s)
    assert str(text) == before


def test_insertion_at_a_cursor_and_at_the_end() -> None:
    doc, text = content("fünf")
    accept(doc, suggestion(text, "a", 4, 4, " sechs"))
    assert str(text) == "fünf sechs"
    accept(doc, suggestion(text, "b", 0, 0, "👉"))
    assert str(text) == "👉fünf sechs"


def test_accept_all_applies_in_document_order_and_reports() -> None:
    doc, text = content("one two three four five")
    s1 = suggestion(text, "s1", 0, 3, "1")  # one
    s2 = suggestion(text, "s2", 4, 7, "2")  # two
    s3 = suggestion(text, "s3", 4, 13, "2+3")  # two three: overlaps s2
    s4 = suggestion(text, "s4", 14, 18, "4")  # four, then edited: stale
    s5 = suggestion(text, "s5", 19, 23, "5")
    text.insert(len("one two three fo"), "u")
    report = accept_many(doc, [s5, s3, s4, s2, s1])
    assert report == {
        "s1": "applied",
        "s2": "applied",
        "s3": "overlapping",
        "s4": "stale",
        "s5": "applied",
    }
    assert str(text) == "1 2 three fouur 5"


@pytest.mark.parametrize(
    ("text", "original", "expected"),
    [
        ("```python\nx = 1\n```", "x=1", "x = 1"),
        ("```\nüber 😀\n```\n", "uber", "über 😀"),
        ("x = 1", "x=1", "x = 1"),
        ("```js\na\n```\nthen ```b```", "a", "```js\na\n```\nthen ```b```"),
        ("```md\n# t\n```", "```md\n# s\n```", "```md\n# t\n```"),  # the original was fenced
    ],
)
def test_a_fence_around_the_whole_proposal_is_removed(
    text: str, original: str, expected: str
) -> None:
    assert unfenced(text, original) == expected
    doc = Doc()
    board.create(
        doc,
        {"id": "s", "original": original, "anchor_start": "", "anchor_end": "", "mode": "fix"},
    )
    board.append(doc, "s", text)
    assert board.strip_fence(doc, "s", original) == expected
    assert board.read(doc, "s")["proposal"] == expected
