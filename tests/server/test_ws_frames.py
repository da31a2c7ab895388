"""The fan-out's own framing is byte for byte what the websockets library sends, and what a
client parses back, at every length form."""

from __future__ import annotations

import os

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from server.ws_frames import binary_frame, is_masked_binary, payload_span

# Each side of the boundaries between the 7-bit, 16-bit and 64-bit length forms.
LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 70000]


@pytest.mark.parametrize("length", LENGTHS)
def test_binary_frames_match_the_websockets_library(length: int) -> None:
    payload = os.urandom(length)
    expected = Frame(Opcode.BINARY, payload).serialize(mask=False, extensions=[])
    assert binary_frame(payload) == expected


@pytest.mark.parametrize("length", LENGTHS)
def test_a_client_reads_back_the_payload(length: int) -> None:
    payload = os.urandom(length)
    reader = StreamReader()
    reader.feed_data(binary_frame(payload))
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:
        raise AssertionError("the frame was not complete")
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.BINARY, True, payload)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("mask", [True, False])
def test_payload_span_finds_the_payload_of_a_client_frame(length: int, mask: bool) -> None:
    payload = os.urandom(length)
    wire = b"junk" + Frame(Opcode.BINARY, payload).serialize(mask=mask, extensions=[])
    start, found = payload_span(wire, 4)  # type: ignore[misc]
    assert found == length
    assert start + length == len(wire)  # the payload ends the frame
    assert is_masked_binary(wire, 4) is mask
    header = wire[4:start]
    for cut in range(len(header) - (4 if mask else 0)):
        assert payload_span(wire[: 4 + cut], 4) is None  # its length is not known yet


@pytest.mark.parametrize(
    ("opcode", "fin"), [(Opcode.TEXT, True), (Opcode.BINARY, False), (Opcode.PING, True)]
)
def test_only_a_whole_binary_message_counts_as_one(opcode: Opcode, fin: bool) -> None:
    wire = Frame(opcode, b"data", fin=fin).serialize(mask=True, extensions=[])
    assert not is_masked_binary(wire, 0)
