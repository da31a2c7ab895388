"""Sizing a keystroke straight off its bytes gives what the general reader gives, for every
update, whole or cut short, and for bytes that are no update at all."""

from __future__ import annotations

import random

from pycrdt import Doc, Map, Text, TransactionEvent

from sync.changes import _read_size, _typed, change_size


def edits() -> list[bytes]:
    """Updates of three co-editors: keystrokes anywhere, pastes past 127 bytes, Unicode,
    deletions, formatting, map entries, and one client's offline edits merged."""
    rng = random.Random(11)
    docs = [Doc(client_id=client) for client in (1, 300, 2**40)]
    updates: list[bytes] = []
    current = [docs[0]]

    for doc in docs:

        def keep(event: TransactionEvent, doc: Doc = doc) -> None:
            if doc is current[0]:  # a transaction's own update, as a client sends it
                updates.append(event.update)

        doc.observe(keep)
    for step in range(600):
        doc = current[0] = docs[step % 3]
        text = doc.get("content", type=Text)
        choice = rng.randrange(8)
        length = len(str(text))
        if choice < 4 or not length:
            piece = rng.choice(["a", "ü", "😀", "\n", "word ", "x" * 200, "é" * 70])
            text.insert(rng.randint(0, length), piece)
        elif choice == 4:
            start = rng.randrange(length)
            del text[start : min(length, start + rng.randint(1, 3))]
        elif choice == 5:
            text.format(0, min(length, 3), {"bold": True})
        elif choice == 6:
            doc.get("meta", type=Map)[f"k{rng.randrange(4)}"] = rng.choice([1, "v", None])
        else:
            with doc.transaction():  # typed and partly deleted in one go
                text.insert(0, "abc")
                del text[1:2]
        for other in docs:
            if other is not doc:
                other.apply_update(updates[-1])
    return updates


def test_keystrokes_are_sized_as_the_reader_sizes_them() -> None:
    updates = edits()
    typed = [update for update in updates if _typed(update) is not None]
    assert len(typed) > len(updates) // 4  # the shape it is there for is common
    for update in updates:
        assert change_size(update) == _read_size(update), update.hex()


def test_cut_and_garbled_updates_are_sized_as_the_reader_sizes_them() -> None:
    rng = random.Random(5)
    for update in edits()[:60]:
        for end in range(len(update)):
            assert change_size(update[:end]) == _read_size(update[:end])
        garbled = bytearray(update)
        garbled[rng.randrange(len(garbled))] ^= 1 << rng.randrange(8)
        assert change_size(bytes(garbled)) == _read_size(bytes(garbled))
    for _ in range(2000):
        noise = bytes([1, 1]) + rng.randbytes(rng.randrange(12))
        assert change_size(noise) == _read_size(noise)
