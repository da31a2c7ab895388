"""The little of RFC 6455 framing that the sync path does itself, on its hot path: framing the
binary frames the server sends, and finding where a client's frame lies in the bytes read.
Everything else (control frames, fragments, extensions, every error) stays with websockets."""

from __future__ import annotations

import struct

from websockets.frames import Opcode

FIN_BINARY = 0x80 | Opcode.BINARY
"""First byte of a whole binary message in one frame: FIN, no reserved bits, opcode 2."""

_MASKED = 0x80
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def binary_frame(payload: bytes) -> bytes:
    """One unmasked, final binary frame (RFC 6455, 5.2) as a server sends it: the header is
    the opcode byte and the length in the shortest of its three forms. websockets' general
    ``Frame.serialize`` took three times as long for the same bytes."""
    length = len(payload)
    if length < 126:
        return bytes((FIN_BINARY, length)) + payload
    if length < 0x10000:
        return _HEADER_16.pack(FIN_BINARY, 126, length) + payload
    return _HEADER_64.pack(FIN_BINARY, 127, length) + payload


def payload_span(data: bytes, at: int) -> tuple[int, int] | None:
    """Where the payload of the frame starting at ``data[at]`` begins (after its mask key, if
    masked) and how long it is, as its header says; None while the header is incomplete.
    Nothing is checked but the length's own form: the caller decides what to trust."""
    available = len(data) - at
    if available < 2:
        return None
    second = data[at + 1]
    length = second & 0x7F
    start = at + 2
    if length == 126:
        if available < 4:
            return None
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        start = at + 4
    elif length == 127:
        if available < 10:
            return None
        length = int.from_bytes(data[at + 2 : at + 10], "big")
        start = at + 10
    if second & _MASKED:
        start += 4
    return start, length


def is_masked_binary(data: bytes, at: int) -> bool:
    """Whether the frame at ``data[at]`` is a whole, masked binary message without reserved
    bits: the one kind a client sends that needs nothing of websockets."""
    return data[at] == FIN_BINARY and data[at + 1] & _MASKED != 0


class LastFraming:
    """The frame of the last payload framed. A broadcast hands the same payload object to each
    peer in turn, so everyone after the first reuses its framing."""

    def __init__(self) -> None:
        self._payload: bytes | None = None
        self._wire = b""

    def wire(self, payload: bytes) -> bytes:
        if payload is not self._payload:
            self._wire = binary_frame(payload)
            self._payload = payload
        return self._wire
