"""The y-websocket wire protocol as pure functions over bytes: no I/O, no documents.

A frame is ``varuint message_type`` followed by a type-specific body (lib0 encoding):
  0 sync:            varuint sync_type (0 step 1, 1 step 2, 2 update), varbytes payload
  1 awareness:       varbytes awareness update
  2 auth:            varuint 0 (permission denied), varstring reason
  3 query awareness: no body
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from . import strict_json
from .types import Frame


class ProtocolError(ValueError):
    """A frame that does not follow the protocol; the sending connection is closed."""


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


@dataclass(frozen=True, slots=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    payload: bytes
    """The awareness update exactly as received, to relay without re-encoding."""


@dataclass(frozen=True, slots=True)
class AuthMessage:
    reason: str


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    pass


Message = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessMessage | AuthMessage | QueryAwareness


class _Reader:
    __slots__ = ("_buf", "_pos")

    def __init__(self, buf: bytes) -> None:
        self._buf = buf
        self._pos = 0

    def varuint(self) -> int:
        result = 0
        shift = 0
        buf = self._buf
        while True:
            if self._pos >= len(buf):
                raise ProtocolError("truncated varuint")
            byte = buf[self._pos]
            self._pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ProtocolError("varuint longer than 64 bits")

    def varbytes(self) -> bytes:
        length = self.varuint()
        end = self._pos + length
        if end > len(self._buf):
            raise ProtocolError(f"length {length} runs past the end of the frame")
        chunk = self._buf[self._pos : end]
        self._pos = end
        return chunk

    def varstring(self) -> str:
        try:
            return self.varbytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not UTF-8") from exc

    def done(self) -> None:
        if self._pos != len(self._buf):
            raise ProtocolError(f"{len(self._buf) - self._pos} trailing bytes after the message")


_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def varuint(num: int) -> bytes:
    if num < 0x80:
        return _ONE_BYTE[num]  # every keystroke's length
    out = bytearray()
    while num > 0x7F:
        out.append(0x80 | (num & 0x7F))
        num >>= 7
    out.append(num)
    return bytes(out)


def varbytes(data: bytes) -> bytes:
    return varuint(len(data)) + data


_SYNC_UPDATE = bytes((MessageType.SYNC, SyncType.UPDATE))


def encode_update(update: bytes) -> Frame:
    """``encode(SyncUpdate(update))`` for the fan-out, which sends one per client update."""
    return _SYNC_UPDATE + varuint(len(update)) + update


def decode(frame: Frame) -> Message:
    # A keystroke's frame, read without the general reader: a sync update whose length fits
    # one byte and accounts for the rest of the frame.
    size = len(frame) - 3
    if (
        0 <= size < 0x80
        and frame[2] == size
        and frame[1] == SyncType.UPDATE
        and frame[0] == MessageType.SYNC
    ):
        return SyncUpdate(frame[3:])
    return _decode(frame)


def _decode(frame: Frame) -> Message:
    reader = _Reader(frame)
    kind = reader.varuint()
    message: Message
    match kind:
        case MessageType.SYNC:
            sync_type = reader.varuint()
            payload = reader.varbytes()
            match sync_type:
                case SyncType.STEP1:
                    message = SyncStep1(payload)
                case SyncType.STEP2:
                    message = SyncStep2(payload)
                case SyncType.UPDATE:
                    message = SyncUpdate(payload)
                case _:
                    raise ProtocolError(f"unknown sync message type {sync_type}")
        case MessageType.AWARENESS:
            message = AwarenessMessage(reader.varbytes())
        case MessageType.AUTH:
            reader.varuint()
            message = AuthMessage(reader.varstring())
        case MessageType.QUERY_AWARENESS:
            message = QueryAwareness()
        case _:
            raise ProtocolError(f"unknown message type {kind}")
    reader.done()
    return message


def encode(message: Message) -> Frame:
    match message:
        case SyncStep1(state_vector):
            return bytes((MessageType.SYNC, SyncType.STEP1)) + varbytes(state_vector)
        case SyncStep2(update):
            return bytes((MessageType.SYNC, SyncType.STEP2)) + varbytes(update)
        case SyncUpdate(update):
            return encode_update(update)
        case AwarenessMessage(payload):
            return bytes((MessageType.AWARENESS,)) + varbytes(payload)
        case AuthMessage(reason):
            return bytes((MessageType.AUTH, 0)) + varbytes(reason.encode("utf-8"))
        case QueryAwareness():
            return bytes((MessageType.QUERY_AWARENESS,))
    raise TypeError(f"not a protocol message: {message!r}")


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: str
    """The state as JSON text; ``"null"`` marks a removal."""

    @property
    def removed(self) -> bool:
        return self.state == "null"


MAX_SAFE_INTEGER = 2**53 - 1
"""Browsers read varuints as doubles: lib0 throws past this, and rounds near it."""


def decode_awareness(payload: bytes) -> list[AwarenessEntry]:
    """Parse and validate an awareness update: every state strict JSON (strict_json.py),
    every client id and clock one a browser reads exactly. Anything else would make every
    client that gets it throw."""
    reader = _Reader(payload)
    count = reader.varuint()
    entries = []
    for _ in range(count):
        client_id = reader.varuint()
        clock = reader.varuint()
        if client_id > MAX_SAFE_INTEGER or clock > MAX_SAFE_INTEGER:
            raise ProtocolError(f"awareness client id or clock past 2**53 (client {client_id})")
        state = reader.varstring()
        try:
            if strict_json.loads(state) is None:
                state = "null"  # " null" removes a state in every client too
        except strict_json.StrictJsonError as exc:
            raise ProtocolError(
                f"awareness state of client {client_id} is not JSON: {exc}"
            ) from exc
        entries.append(AwarenessEntry(client_id, clock, state))
    reader.done()
    return entries


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    parts = [varuint(len(entries))]
    for entry in entries:
        parts += [varuint(entry.client_id), varuint(entry.clock), varbytes(entry.state.encode())]
    return b"".join(parts)
