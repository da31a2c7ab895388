"""Malformed y-websocket frames sent at one pod from raw sockets: random bytes, truncated
honest messages, bad varints, wrong message types, garbage updates, invalid (NaN, deep,
unpaired surrogates) and oversized awareness."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pycrdt import Doc, Text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from sync.limits import SyncLimits
from sync.protocol import (
    AuthMessage,
    AwarenessEntry,
    AwarenessMessage,
    MessageType,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncType,
    SyncUpdate,
    encode,
    encode_awareness,
    varbytes,
    varuint,
)

_OPEN_TIMEOUT_S = 5.0
# Letters only: a garbage update that applies adds text, and no marker may come of it.
_LETTERS = "abcdefghijklmnopqrstuvwxyz "


def _awareness(rng: random.Random, state: str, clock: int = 1) -> AwarenessMessage:
    entry = AwarenessEntry(rng.getrandbits(30), clock, state)
    return AwarenessMessage(encode_awareness([entry]))


def _honest_frames(rng: random.Random) -> list[bytes]:
    """Real sync and awareness messages, to be cut short or bent."""
    doc = Doc()
    text = doc.get("content", type=Text)
    with doc.transaction():
        text += "".join(rng.choice(_LETTERS) for _ in range(rng.randint(1, 40)))
    update = doc.get_update()
    state = json.dumps({"user": {"name": "x"}})
    messages = [SyncStep1(doc.get_state()), SyncStep2(update), SyncUpdate(update)]
    return [encode(m) for m in [*messages, _awareness(rng, state)]]


def _random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(0, 300))


def _truncated(rng: random.Random) -> bytes:
    frame = rng.choice(_honest_frames(rng))
    return frame[: rng.randint(0, len(frame) - 1)]


def _bad_varint(rng: random.Random) -> bytes:
    overlong = b"\xff" * rng.randint(9, 40)
    sync_update = bytes((MessageType.SYNC, SyncType.UPDATE))
    return rng.choice(
        [
            overlong,  # a message type that never ends
            bytes((MessageType.SYNC,)) + overlong,  # a sync type that never ends
            sync_update + overlong + b"\x01",  # a payload length past any limit
            sync_update + varuint(rng.getrandbits(60)) + b"abc",  # longer than the frame
            bytes((MessageType.AWARENESS,)) + varuint(1 << 40),
        ]
    )


def _wrong_type(rng: random.Random) -> bytes:
    """Message and sync types a client does not send, or not like this."""
    update = _honest_frames(rng)[2][3:]
    return rng.choice(
        [
            varuint(rng.randint(4, 1 << 20)) + varbytes(update),  # an unknown message type
            bytes((MessageType.SYNC,)) + varuint(rng.randint(3, 300)) + varbytes(update),
            encode(AuthMessage("permission-denied")),  # a server's message, from a client
            encode(QueryAwareness()) * rng.randint(1, 3),  # trailing bytes past the first
            encode(SyncStep1(rng.randbytes(rng.randint(1, 64)))),  # a garbage state vector
        ]
    )


def _garbage_update(rng: random.Random) -> bytes:
    body = rng.randbytes(rng.randint(1, 2000))
    if rng.random() < 0.5:  # a real update with bytes flipped: deeper into the decoder
        update = bytearray(_honest_frames(rng)[2][3:])
        for _ in range(rng.randint(1, 4)):
            update[rng.randrange(len(update))] = rng.getrandbits(8)
        body = bytes(update)
    message = rng.choice([SyncUpdate, SyncStep2])(body)
    return encode(message)


_BAD_STATES = [
    '{"user": NaN}',
    "NaN",
    '{"cursor": {"x": Infinity}}',
    '{"x": -Infinity}',
    "[" * 5000 + "]" * 5000,
    '{"n": 1' + "0" * 5000 + "}",
    '{"s": "\\ud800"}',
    '{"a": 1',
    "\x00\x01",
]


def _bad_awareness(rng: random.Random) -> bytes:
    state = rng.choice(_BAD_STATES).encode("utf-8", "surrogatepass")
    entry = varuint(rng.getrandbits(30)) + varuint(rng.randint(0, 9)) + varbytes(state)
    entries = varuint(1) + entry
    if rng.random() < 0.2:
        entries = varuint(rng.randint(2, 1 << 30)) + entries[1:]  # more entries than it holds
    return encode(AwarenessMessage(entries))


_AWARENESS_LIMIT = SyncLimits().max_awareness_bytes


def _oversized_awareness(rng: random.Random) -> bytes:
    """A valid state past the awareness limit (64 KiB by default), up to four times it."""
    size = rng.randint(_AWARENESS_LIMIT + 1, 4 * _AWARENESS_LIMIT)
    state = json.dumps({"user": {"name": "x" * size}})
    return encode(_awareness(rng, state, clock=rng.randint(1, 1000)))


KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "random bytes": _random_bytes,
    "truncated": _truncated,
    "bad varint": _bad_varint,
    "wrong type": _wrong_type,
    "garbage update": _garbage_update,
    "bad awareness": _bad_awareness,
}
RARE_KINDS: dict[str, Callable[[random.Random], bytes]] = {
    "oversized awareness": _oversized_awareness,
}
"""Sent once in 50 frames: each is up to 256 KiB."""


@dataclass
class FuzzResult:
    frames: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    refused: int = 0
    closes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.frames.values())


@dataclass
class _Schedule:
    """Frame ``i`` is due ``i * interval`` after the start: the count spread over the time,
    however long each socket's sends and reconnects take."""

    frames: int
    interval: float
    start: float
    stop: float
    taken: int = 0

    def take(self) -> float | None:
        """The next frame's due time, or None when all are taken or time is up."""
        if self.taken >= self.frames or asyncio.get_running_loop().time() >= self.stop:
            return None
        self.taken += 1
        return self.start + (self.taken - 1) * self.interval

    def give_back(self) -> None:
        self.taken -= 1


async def fuzz(
    urls: list[str], *, frames: int, seconds: float, sockets: int = 4, seed: int = 1
) -> FuzzResult:
    """Send ``frames`` malformed frames at the rooms in ``urls``, spread over ``seconds``,
    from ``sockets`` raw connections at a time; a socket the pod closes is replaced, and a
    frame it closed on is sent again on the next. Gives up after three times ``seconds``."""
    result = FuzzResult()
    loop = asyncio.get_running_loop()
    start = loop.time()
    schedule = _Schedule(frames, seconds / frames, start, start + 3 * seconds)

    async def one_socket(worker: int) -> None:
        rng = random.Random(seed * 1000 + worker)
        while schedule.taken < schedule.frames and loop.time() < schedule.stop:
            try:
                async with connect(
                    rng.choice(urls),
                    open_timeout=_OPEN_TIMEOUT_S,
                    close_timeout=1,
                    compression=None,
                    max_size=None,
                ) as ws:
                    result.connections += 1
                    await _send_until_closed(ws, rng, schedule, result)
            except (InvalidStatus, InvalidHandshake, OSError, TimeoutError):
                result.refused += 1

    await asyncio.gather(*(one_socket(w) for w in range(sockets)))
    result.seconds = loop.time() - start
    return result


def _frame(rng: random.Random) -> tuple[str, bytes]:
    kinds = RARE_KINDS if rng.random() < 0.02 else KINDS
    kind = rng.choice(list(kinds))
    return kind, kinds[kind](rng)


async def _send_until_closed(
    ws: ClientConnection, rng: random.Random, schedule: _Schedule, result: FuzzResult
) -> None:
    loop = asyncio.get_running_loop()
    drain = asyncio.create_task(_drain(ws))
    try:
        while (due := schedule.take()) is not None:
            await asyncio.sleep(max(0.0, due - loop.time()))  # pacing, not synchronisation
            kind, frame = _frame(rng)
            try:
                if rng.random() < 0.05:
                    await ws.send(frame.decode("latin-1"))  # a text frame
                else:
                    await ws.send(frame)
            except ConnectionClosed:
                schedule.give_back()
                break
            result.frames[kind] += 1
    finally:
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain
    code = ws.close_code if ws.close_code is not None else "open"
    result.closes[f"{code} {ws.close_reason or ''}".strip()] += 1


async def _drain(ws: ClientConnection) -> None:
    """Read what the pod sends (sync step 1, closes) so that its outbox never fills."""
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass
