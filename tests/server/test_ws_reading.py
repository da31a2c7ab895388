"""The sync protocol's own frame reading (ws_protocol.py): whole binary messages go straight to
the receiver, however the bytes arrive; every other frame reaches websockets whole and gets its
usual answer. Real uvicorn protocol objects on an in-memory transport, real client framing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import uvicorn
from uvicorn.server import ServerState
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.streams import StreamReader

from server import ws_protocol
from server.ws_protocol import RECEIVE_NOW, SyncWebSocketProtocol, _Reading

UPGRADE = (
    b"GET /sync/doc HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Wire:
    """The socket's place: keeps what the server writes."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def frames(self) -> Iterator[Frame]:
        """The frames written after the handshake's response, as a client parses them."""
        reader = StreamReader()
        reader.feed_data(bytes(self.out).split(b"\r\n\r\n", 1)[1])
        reader.feed_eof()
        while True:
            parser = Frame.parse(reader.read_exact, mask=False)
            try:
                next(parser)
            except StopIteration as done:
                yield done.value
            except EOFError:
                return


class App:
    """Takes messages in the callback while ``take_now``; everything else through ``receive``."""

    def __init__(self, *, take_now: bool = True) -> None:
        self.take_now = take_now
        self.offered: list[bytes] = []
        self.received: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        self.ready = asyncio.Event()

    def offer(self, data: bytes) -> bool:
        if self.take_now:
            self.offered.append(data)
        return self.take_now

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        scope["extensions"][RECEIVE_NOW]["set"](self.offer)
        self.ready.set()
        while (event := await receive())["type"] != "websocket.disconnect":
            await self.received.put(event)


Connect = Callable[..., Awaitable[tuple[SyncWebSocketProtocol, Wire]]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Opens connections to an ``App``; at the end each one's socket goes away and its app
    returns."""
    state = ServerState()

    async def open_one(
        app: App, *, max_size: int = 1 << 20, upgrade: bytes = UPGRADE, deflate: bool = False
    ) -> tuple[SyncWebSocketProtocol, Wire]:
        config = uvicorn.Config(
            app,
            ws_max_size=max_size,
            ws_per_message_deflate=deflate,
            lifespan="off",
            log_config=None,
            ws_ping_interval=None,
        )
        config.load()
        protocol = SyncWebSocketProtocol(config=config, server_state=state, app_state={})
        wire = Wire()
        protocol.connection_made(wire)  # type: ignore[arg-type]
        protocol.data_received(upgrade)
        await asyncio.wait_for(app.ready.wait(), 5)
        assert bytes(wire.out).startswith(b"HTTP/1.1 101")
        return protocol, wire

    yield open_one
    for protocol in list(state.connections):
        protocol.connection_lost(None)
    await asyncio.wait_for(asyncio.gather(*state.tasks), 5)


def client(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=True, extensions=[])


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_messages_cut_at_every_byte_reach_the_receiver_whole_and_in_order(
    connect: Connect,
) -> None:
    app = App()
    protocol, _ = await connect(app)
    # Each side of the 7-bit / 16-bit length forms, fed one byte per read.
    payloads = [os.urandom(n) for n in (0, 1, 125, 126, 300)]
    for byte in chunks(b"".join(client(Opcode.BINARY, p) for p in payloads), 1):
        protocol.data_received(byte)
    assert app.offered == payloads
    assert protocol._reading is _Reading.FRAMES


async def test_a_message_with_a_64_bit_length_arrives_whole_across_reads(connect: Connect) -> None:
    app = App()
    protocol, _ = await connect(app)
    payload = os.urandom(70_000)
    wire = client(Opcode.BINARY, payload)
    for piece in [*chunks(wire[:20], 1), *chunks(wire[20:], 4096)]:
        protocol.data_received(piece)
    assert app.offered == [payload]
    assert protocol._reading is _Reading.FRAMES


async def test_a_large_message_is_parsed_once_it_is_whole_not_at_every_read(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gluing every read onto the bytes held and parsing again copied a 16 MiB message
    hundreds of times over (0.13 s of CPU in 64 KiB reads; 0.03 s growing one buffer)."""
    app = App()
    protocol, _ = await connect(app)
    calls = 0
    span = ws_protocol.payload_span

    def counted(data: bytes, at: int) -> tuple[int, int] | None:
        nonlocal calls
        calls += 1
        return span(data, at)

    monkeypatch.setattr(ws_protocol, "payload_span", counted)
    payload = os.urandom(100_000)
    for piece in chunks(client(Opcode.BINARY, payload) + client(Opcode.BINARY, b"next"), 1000):
        protocol.data_received(piece)
    assert app.offered == [payload, b"next"]
    assert calls <= 4  # the header, the whole message, the next one


async def test_a_ping_between_messages_is_answered_and_order_holds(connect: Connect) -> None:
    app = App()
    protocol, wire = await connect(app)
    protocol.data_received(
        client(Opcode.BINARY, b"one")
        + client(Opcode.PING, b"are you there")
        + client(Opcode.BINARY, b"two")
    )
    assert app.offered == [b"one", b"two"]
    assert [(f.opcode, f.data) for f in wire.frames()] == [(Opcode.PONG, b"are you there")]
    assert protocol._reading is _Reading.FRAMES


async def test_a_fragmented_message_is_put_together_by_websockets(connect: Connect) -> None:
    app = App()
    protocol, wire = await connect(app)
    protocol.data_received(
        client(Opcode.BINARY, b"ab", fin=False)
        + client(Opcode.PING, b"")
        + client(Opcode.CONT, b"cd", fin=False)
        + client(Opcode.CONT, b"ef")
        + client(Opcode.BINARY, b"next")
    )
    assert app.offered == [b"abcdef", b"next"]
    assert [f.opcode for f in wire.frames()] == [Opcode.PONG]


async def test_a_new_message_inside_a_fragmented_one_fails_the_connection(connect: Connect) -> None:
    app = App()
    protocol, wire = await connect(app)
    protocol.data_received(client(Opcode.BINARY, b"ab", fin=False) + client(Opcode.BINARY, b"x"))
    assert app.offered == []
    assert close_code(wire) == CloseCode.PROTOCOL_ERROR


def close_code(wire: Wire) -> int:
    (frame,) = wire.frames()
    assert frame.opcode is Opcode.CLOSE
    return Close.parse(frame.data).code


async def test_a_frame_over_the_size_limit_fails_with_1009_from_its_header(
    connect: Connect,
) -> None:
    app = App()
    protocol, wire = await connect(app, max_size=1000)
    protocol.data_received(client(Opcode.BINARY, b"fits"))
    protocol.data_received(client(Opcode.BINARY, os.urandom(2000))[:50])
    assert app.offered == [b"fits"]
    assert close_code(wire) == CloseCode.MESSAGE_TOO_BIG
    assert protocol._reading is _Reading.WEBSOCKETS


async def test_an_unmasked_frame_fails_with_1002(connect: Connect) -> None:
    app = App()
    protocol, wire = await connect(app)
    protocol.data_received(Frame(Opcode.BINARY, b"bare").serialize(mask=False, extensions=[]))
    assert app.offered == []
    assert close_code(wire) == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("reserved", [0x40, 0x20, 0x10])
async def test_a_frame_with_a_reserved_bit_fails_with_1002(connect: Connect, reserved: int) -> None:
    app = App()
    protocol, wire = await connect(app)
    frame = bytearray(client(Opcode.BINARY, b"odd"))
    frame[0] |= reserved
    protocol.data_received(bytes(frame))
    assert app.offered == []
    assert close_code(wire) == CloseCode.PROTOCOL_ERROR


async def test_text_and_refused_messages_wait_in_the_queue_in_order(connect: Connect) -> None:
    app = App(take_now=False)
    protocol, _ = await connect(app)
    protocol.data_received(client(Opcode.BINARY, b"first") + client(Opcode.TEXT, b"second"))
    app.take_now = True  # too late: nothing passes what is queued
    protocol.data_received(client(Opcode.BINARY, b"third"))
    events = [await asyncio.wait_for(app.received.get(), 5) for _ in range(3)]
    assert [e.get("bytes", e.get("text")) for e in events] == [b"first", "second", b"third"]
    assert app.offered == []


async def test_a_client_close_is_answered_and_later_bytes_go_to_websockets(
    connect: Connect,
) -> None:
    app = App()
    protocol, wire = await connect(app)
    goodbye = Close(CloseCode.NORMAL_CLOSURE, "bye").serialize()
    protocol.data_received(client(Opcode.BINARY, b"last") + client(Opcode.CLOSE, goodbye))
    protocol.data_received(client(Opcode.BINARY, b"after the close"))
    assert app.offered == [b"last"]
    assert close_code(wire) == CloseCode.NORMAL_CLOSURE
    assert protocol._reading is _Reading.WEBSOCKETS


async def test_a_connection_with_an_extension_is_read_by_websockets(connect: Connect) -> None:
    """An extension may transform any frame, so none passes websockets by."""
    app = App()
    upgrade = UPGRADE.replace(
        b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    protocol, wire = await connect(app, upgrade=upgrade, deflate=True)
    assert b"permessage-deflate" in wire.out
    protocol.data_received(client(Opcode.BINARY, b"plain"))
    assert app.offered == [b"plain"]
    assert protocol._reading is _Reading.WEBSOCKETS


async def test_send_now_frames_the_payload_and_says_no_while_the_socket_is_backed_up(
    connect: Connect,
) -> None:
    app = App()
    protocol, wire = await connect(app)
    assert protocol.send_now(b"first")
    protocol.pause_writing()  # the transport's buffer is past its high-water mark
    assert not protocol.send_now(b"held")  # the caller queues it for websocket.send instead
    protocol.resume_writing()
    assert protocol.send_now(b"second")
    assert [(f.opcode, f.data) for f in wire.frames()] == [
        (Opcode.BINARY, b"first"),
        (Opcode.BINARY, b"second"),
    ]
