"""Issue 23.6: what checking a client's update before yrs (sync/update_format.py) costs, beside
what applying it costs, for the updates a server gets.

  .venv/bin/python bench/update_check_bench.py [--repeat N]

Cases: keystrokes (typing at a cursor, with jumps and deletions, as three co-editors), a big
paste, and two uploads of a whole document in one update (sync step 2 from a client whose
document the server does not have): an essay of ~1 MB written in runs by three people, and a
document of single characters typed at random places (the most structs per byte, the walk's
worst case). Each check is timed against ``room.apply_update`` of the same update into the
document it is sent to: keystrokes into the document as it was, uploads into an empty one.
The ratio is check / apply; best of N runs, one core, nothing else running."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pycrdt import Doc, Text, TransactionEvent

from sync.room import apply_update
from sync.update_format import check_update, is_keystroke

WORDS = "the of and a to in is you that it he was for on are as with his they at be".split()  # noqa: SIM905


class Session:
    """Three co-editors; every transaction's update, as its client sends it."""

    def __init__(self) -> None:
        self.docs = [Doc(client_id=client) for client in (11, 2**32 - 5, 2**50 + 3)]
        self.updates: list[bytes] = []
        self.before: list[bytes] = []  # the receiving document's state before each update
        self._current = self.docs[0]
        self._server = Doc()
        for doc in self.docs:
            doc.observe(lambda event, doc=doc: self._sent(doc, event))

    def _sent(self, doc: Doc, event: TransactionEvent) -> None:
        if doc is self._current:
            self.updates.append(event.update)

    def edit(self, who: int, change: Callable[[Text], None]) -> None:
        doc = self._current = self.docs[who]
        sent = len(self.updates)
        change(doc.get("content", type=Text))
        for update in self.updates[sent:]:
            for other in self.docs:
                if other is not doc:
                    other.apply_update(update)


def _char_offset(text: Text, chars: int) -> int:
    """pycrdt's index (UTF-8 bytes) of a character boundary ``chars`` characters in."""
    return len(str(text)[:chars].encode())


def essay(target_bytes: int, rng: random.Random) -> Session:
    """Words typed in runs at each writer's cursor; cursors jump, words get deleted."""
    session = Session()
    cursors = [0, 0, 0]
    length = 0
    while length < target_bytes:
        who = rng.randrange(3)
        if rng.random() < 0.05:
            cursors[who] = rng.randint(0, length)
        for _ in range(rng.randint(5, 40)):  # a run of words
            word = rng.choice(WORDS) + rng.choice([" ", " ", " ", ", ", ". ", "\n"])
            at = min(cursors[who], length)
            session.edit(who, lambda text, at=at, word=word: text.insert(at, word))
            cursors[who] = at + len(word)
            length += len(word)
        if rng.random() < 0.3 and length > 20:
            start = rng.randrange(length - 10)
            session.edit(who, lambda text, start=start: text.__delitem__(slice(start, start + 5)))
            length -= 5
    return session


def scattered(chars: int, rng: random.Random) -> Session:
    session = Session()
    for step in range(chars):
        who = step % 3
        session.edit(
            who,
            lambda text: text.insert(_char_offset(text, rng.randint(0, len(str(text)))), "é"),
        )
    return session


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def keystrokes(repeat: int) -> tuple[float, float, float]:
    """Per update: check, apply (into the document as it was), and the fast path's share."""
    rng = random.Random(3)
    session = essay(60_000, rng)
    updates = session.updates[-3000:]
    history = session.updates[:-3000]
    base = Doc()
    for update in history:
        base.apply_update(update)
    base_state = base.get_update()

    def check_all() -> None:
        for update in updates:
            check_update(update)

    def apply_all() -> None:
        doc = Doc()
        doc.apply_update(base_state)
        started = time.perf_counter()
        for update in updates:
            apply_update(doc, update)
        apply_all.elapsed = time.perf_counter() - started  # type: ignore[attr-defined]

    check = best(check_all, repeat) / len(updates)
    applies = []
    for _ in range(repeat):
        apply_all()
        applies.append(apply_all.elapsed)  # type: ignore[attr-defined]
    fast = sum(map(is_keystroke, updates)) / len(updates)
    return check, min(applies) / len(updates), fast


def whole(update: bytes, repeat: int) -> tuple[float, float]:
    check = best(lambda: check_update(update), repeat)
    apply = best(lambda: apply_update(Doc(), update), repeat)
    return check, apply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    rows = []
    check, apply, fast = keystrokes(repeat)
    rows.append((f"keystroke ({fast:.0%} by the regex)", check * 1e6, apply * 1e6, "us"))
    paste = Doc(client_id=5)
    paste.get("content", type=Text).insert(0, "lorem ipsum " * 10_000)
    rows.append(("paste of 120 KB", *(t * 1e3 for t in whole(paste.get_update(), repeat)), "ms"))
    for name, session in (
        ("essay upload", essay(1_000_000, random.Random(1))),
        ("scattered upload", scattered(20_000, random.Random(2))),
    ):
        update = session.docs[0].get_update()
        label = f"{name}, {len(update) / 1e6:.2f} MB"
        rows.append((label, *(t * 1e3 for t in whole(update, repeat)), "ms"))
    print(f"{'update':36} {'check':>9} {'apply':>9} {'check/apply':>12}")
    for label, check_t, apply_t, unit in rows:
        print(f"{label:36} {check_t:7.2f}{unit} {apply_t:7.2f}{unit} {check_t / apply_t:12.2f}")


if __name__ == "__main__":
    main()
