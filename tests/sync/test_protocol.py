from __future__ import annotations

import pytest

from sync.protocol import (
    AuthMessage,
    AwarenessEntry,
    AwarenessMessage,
    ProtocolError,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    _decode,
    decode,
    decode_awareness,
    encode,
    encode_awareness,
    varuint,
)


@pytest.mark.parametrize(
    "message",
    [
        SyncStep1(b"\x00"),
        SyncStep2(b"\x00\x00"),
        SyncUpdate(bytes(range(256)) * 4),
        AwarenessMessage(encode_awareness([AwarenessEntry(7, 3, '{"user":"ann"}')])),
        AuthMessage("permission denied"),
        QueryAwareness(),
    ],
)
def test_messages_round_trip(message: object) -> None:
    assert decode(encode(message)) == message  # type: ignore[arg-type]


def test_frames_match_the_y_websocket_layout() -> None:
    assert encode(SyncStep1(b"\x01\x02")) == b"\x00\x00\x02\x01\x02"
    assert encode(SyncUpdate(b"\xaa")) == b"\x00\x02\x01\xaa"
    assert encode(QueryAwareness()) == b"\x03"


def test_varuint_uses_seven_bit_groups() -> None:
    assert varuint(0) == b"\x00"
    assert varuint(127) == b"\x7f"
    assert varuint(128) == b"\x80\x01"
    assert varuint(300) == b"\xac\x02"


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (b"", "truncated varuint"),
        (b"\x80", "truncated varuint"),
        (b"\x00\x02\xff\xff", "truncated varuint"),
        (b"\x00\x02\x05ab", "runs past the end"),
        (b"\x09", "unknown message type 9"),
        (b"\x00\x07\x00", "unknown sync message type 7"),
        (b"\x03\x00", "trailing bytes"),
        (b"\x00" + b"\xff" * 12, "longer than 64 bits"),
    ],
)
def test_malformed_frames_raise_protocol_error(frame: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        decode(frame)


def test_awareness_round_trips_and_marks_removals() -> None:
    entries = [AwarenessEntry(1, 2, '{"a":1}'), AwarenessEntry(2**40, 9, "null")]
    decoded = decode_awareness(encode_awareness(entries))
    assert decoded == entries
    assert [e.removed for e in decoded] == [False, True]


def test_awareness_with_invalid_json_is_refused() -> None:
    payload = varuint(1) + varuint(5) + varuint(1) + varuint(4) + b"{bad"
    with pytest.raises(ProtocolError, match="not JSON"):
        decode_awareness(payload)


def test_awareness_with_invalid_utf8_is_refused() -> None:
    payload = varuint(1) + varuint(5) + varuint(1) + varuint(2) + b"\xff\xfe"
    with pytest.raises(ProtocolError, match="UTF-8"):
        decode_awareness(payload)


def _outcome(read: object, frame: bytes) -> object:
    try:
        return read(frame)  # type: ignore[operator]
    except ProtocolError as exc:
        return ("refused", str(exc))


def test_the_keystroke_shortcut_reads_every_short_frame_as_the_general_reader_does() -> None:
    """Every frame of up to 132 bytes that starts like a sync update, its length byte set to
    every value: the shortcut takes only those it reads the same, and refuses none."""
    frames = [
        bytes((0, kind, length)) + bytes(range(size))
        for kind in (1, 2)
        for size in range(130)
        for length in {size, size - 1, size + 1, 0x7F, 0x80, 0x81, 0xFF} - {-1}
    ]
    frames += [b"\x00\x02", b"\x01\x02\x00", b"\x00\x02\x81\x01" + bytes(129)]
    for frame in frames:
        assert _outcome(decode, frame) == _outcome(_decode, frame), frame
