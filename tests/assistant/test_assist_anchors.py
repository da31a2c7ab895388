"""Anchors on non-ASCII text, checked against stock Yjs in Node."""

from __future__ import annotations

import random

import pytest
from pycrdt import Doc, Text

from assistant import anchors
from assistant.anchors import AnchorError
from tests.assistant.relpos import RelPos

ALPHABET = ["a", "b", " ", "\n", "ä", "Ö", "ß", "é", "€", "中", "😀", "🎉", "👍🏽"]


def utf16(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


def random_doc(seed: int, clients: int = 3, rounds: int = 12) -> tuple[Doc, Text]:
    """Several peers typing and deleting concurrently, merged: many blocks, mixed widths."""
    rng = random.Random(seed)
    docs = [Doc() for _ in range(clients)]
    for _ in range(rounds):
        for doc in docs:
            text = doc.get("content", type=Text)
            value = str(text)
            if value and rng.random() < 0.3:
                start = rng.randrange(len(value))
                end = min(len(value), start + rng.randint(1, 3))
                del text[len(value[:start].encode()) : len(value[:end].encode())]
            else:
                at = rng.randint(0, len(value))
                chunk = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))
                text.insert(len(value[:at].encode()), chunk)
        for doc in docs:
            for other in docs:
                if other is not doc:
                    doc.apply_update(other.get_update())
    return docs[0], docs[0].get("content", type=Text)


@pytest.mark.parametrize("seed", range(6))
async def test_anchors_made_here_decode_in_yjs_to_the_same_place(seed: int) -> None:
    doc, text = random_doc(seed)
    value = str(text)
    made = [anchors.encode(text, i) for i in range(len(value) + 1)]
    async with RelPos() as yjs:
        decoded = await yjs.decode(doc.get_update(), made)
    assert decoded == [utf16(value, i) for i in range(len(value) + 1)]
    assert [anchors.resolve(text, a) for a in made] == list(range(len(value) + 1))


@pytest.mark.parametrize("seed", range(6))
async def test_anchors_made_in_yjs_resolve_here_like_yjs_after_more_edits(seed: int) -> None:
    doc, text = random_doc(seed)
    value = str(text)
    positions = [(utf16(value, i), assoc) for i in range(len(value) + 1) for assoc in (0, -1)]
    async with RelPos() as yjs:
        made = await yjs.encode(doc.get_update(), positions)
        assert [anchors.resolve(text, a) for a in made] == [
            i for i in range(len(value) + 1) for _ in (0, -1)
        ]
        # Others keep editing (deleting anchored characters too); both sides still agree.
        editor = Doc()
        editor.apply_update(doc.get_update())
        edited = editor.get("content", type=Text)
        rng = random.Random(seed)
        for _ in range(10):
            current = str(edited)
            if current and rng.random() < 0.5:
                start = rng.randrange(len(current))
                end = min(len(current), start + rng.randint(1, 4))
                del edited[len(current[:start].encode()) : len(current[:end].encode())]
            else:
                at = rng.randint(0, len(current))
                edited.insert(len(current[:at].encode()), rng.choice(ALPHABET) * 2)
        after = str(edited)
        expected = await yjs.decode(editor.get_update(), made)
    resolved = [utf16(after, anchors.resolve(edited, a)) for a in made]
    assert resolved == expected


def test_ascii_text_takes_the_direct_path() -> None:
    doc = Doc()
    text = doc.get("content", type=Text)
    text += "hello world"
    anchor = anchors.encode(text, 6)
    text.insert(0, ">> ")
    assert anchors.resolve(text, anchor) == 9


def test_end_anchor_follows_the_end() -> None:
    doc = Doc()
    text = doc.get("content", type=Text)
    text += "Grüße 😀"
    end = anchors.encode(text, len(str(text)))
    text.insert(len(str(text).encode()), "!")
    assert anchors.resolve(text, end) == len(str(text))


def test_garbage_and_foreign_anchors_are_refused() -> None:
    doc = Doc()
    text = doc.get("content", type=Text)
    text += "äbc"
    with pytest.raises(AnchorError):
        anchors.resolve(text, "not base64!")
    with pytest.raises(AnchorError):
        anchors.resolve(text, "AA==")  # truncated
    foreign = Doc()
    foreign_text = foreign.get("content", type=Text)
    foreign_text += "äbc"
    with pytest.raises(AnchorError):
        anchors.resolve(text, anchors.encode(foreign_text, 1))
    with pytest.raises(AnchorError):
        anchors.encode(text, 4)
