"""Hostile update bodies of a given size, the kinds that made yrs allocate by the counts it
read: random bytes, random bytes behind a plausible header, real updates whose counts were
made huge, and real updates garbled. Deterministic for a seed. A nesting bomb (arrays inside
arrays) is apart: unchecked, it overflows yrs's stack and kills the process."""

from __future__ import annotations

import random
from collections.abc import Iterator

from pycrdt import Array, Doc, Map, Text

from sync.protocol import varuint


def _sample_updates() -> list[bytes]:
    """A few real updates with every count in them: clients, structs, values, deletions."""
    doc = Doc(client_id=7)
    other = Doc(client_id=2**40)
    text = doc.get("content", type=Text)
    text.insert(0, "hello world")
    meta = doc.get("meta", type=Map)
    meta["list"] = [1, "two", {"three": [3.5, None]}]
    doc.get("items", type=Array).extend([1, 2, 3])
    other.apply_update(doc.get_update())
    other.get("content", type=Text).insert(5, " there")
    del text[0:3]
    doc.apply_update(other.get_update(doc.get_state()))
    return [doc.get_update(), other.get_update()]


def _bomb_counts(update: bytes, rng: random.Random) -> bytes:
    """``update`` with one of its one-byte varints (counts among them) made huge."""
    small = [i for i, byte in enumerate(update) if 0 < byte < 0x80]
    at = rng.choice(small)
    return update[:at] + varuint(rng.choice([10**8, 2**31, 2**32 - 1, 10**12])) + update[at + 1 :]


def garbage(size: int, count: int, seed: int = 0) -> Iterator[bytes]:
    """``count`` bodies of about ``size`` bytes each."""
    rng = random.Random(seed)
    samples = _sample_updates()
    for index in range(count):
        kind = index % 4
        if kind == 0:
            body = rng.randbytes(size)
        elif kind == 1:  # one client, a struct count and a client id, then noise
            body = b"\x01" + varuint(rng.randrange(1, 10**6)) + rng.randbytes(size)
        elif kind == 2:
            body = _bomb_counts(rng.choice(samples), rng)
        else:
            garbled = bytearray(rng.choice(samples))
            for _ in range(rng.randint(1, 4)):
                garbled[rng.randrange(len(garbled))] = rng.randrange(256)
            body = bytes(garbled)
        yield body + rng.randbytes(max(0, size - len(body)))


def state_vector_bombs(count: int, seed: int = 0) -> Iterator[bytes]:
    """State vectors (sync step 1) claiming up to billions of entries in a few bytes."""
    rng = random.Random(seed)
    for _ in range(count):
        yield varuint(rng.choice([10**7, 10**8, 2**28, 2**32 - 1])) + rng.randbytes(8)


def nesting_bomb(size: int) -> bytes:
    """An update whose one value is arrays nested ``size // 2`` deep."""
    head = b"\x01\x01\x07\x00\x08\x01\x07content\x01"  # client 7: values in root "content"
    return head + b"\x75\x01" * (size // 2) + b"\x7e\x00"
