"""The upstream internals the sync path relies on are still there.

``server/ws_protocol.py`` subclasses uvicorn's websockets-sansio protocol and reads its and
websockets' attributes; ``sync/room.py`` applies updates on pycrdt's native document
(``Doc._doc``). The behaviour is covered by the sync and websocket tests; these tests say
*which* internal moved when an upgrade breaks them, and what to do, instead of leaving a
reader to decode a failing interop test. requirements.lock pins the versions they were
checked against; pyproject.toml bounds them."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pycrdt
import pytest
from uvicorn.protocols.websockets import websockets_sansio_impl
from websockets.protocol import State
from websockets.server import ServerProtocol

from sync.room import apply_update

FIX = (
    "it changed in {package} {version}: pin {package} below this release in pyproject.toml and "
    "requirements.lock, or adapt {user}"
)

# What SyncWebSocketProtocol reads or overrides on uvicorn's class.
UVICORN_METHODS = (
    "data_received",
    "handle_connect",
    "send_receive_event_to_app",
    "pause_writing",
    "resume_writing",
    "send",
)
UVICORN_ATTRIBUTES = (
    "conn",
    "transport",
    "queue",
    "close_sent",
    "handshake_initiated",
    "curr_msg_data_type",
    "frames",
    "scope",
    "request",
    "response",
    "handshake_complete",
)
# What it reads on websockets' sans-I/O connection.
WEBSOCKETS_ATTRIBUTES = (
    "state",
    "reader",
    "extensions",
    "max_message_size",
    "max_fragment_size",
    "current_size",
)


def why(package: str, user: str) -> str:
    return FIX.format(package=package, version=version(package), user=user)


def test_uvicorn_sansio_protocol_has_what_ws_protocol_overrides_and_reads() -> None:
    cls = websockets_sansio_impl.WebSocketsSansIOProtocol
    for name in UVICORN_METHODS:
        assert callable(getattr(cls, name, None)), (
            f"uvicorn's WebSocketsSansIOProtocol.{name} is gone: "
            + why("uvicorn", "server/ws_protocol.py")
        )
    # Instance attributes are set in __init__ or the handlers: look for them in the source.
    source = inspect.getsource(websockets_sansio_impl)
    for name in UVICORN_ATTRIBUTES:
        assert f"self.{name} =" in source or f"self.{name}:" in source, (
            f"uvicorn's WebSocketsSansIOProtocol no longer sets self.{name}: "
            + why("uvicorn", "server/ws_protocol.py")
        )


def test_websockets_connection_has_what_ws_protocol_reads() -> None:
    connection = ServerProtocol()
    for name in WEBSOCKETS_ATTRIBUTES:
        assert hasattr(connection, name), f"websockets' ServerProtocol has no {name}: " + why(
            "websockets", "server/ws_protocol.py"
        )
    assert hasattr(connection.reader, "buffer"), "websockets' StreamReader has no buffer: " + why(
        "websockets", "server/ws_protocol.py"
    )
    assert "OPEN" in State.__members__, "websockets' State.OPEN is gone: " + why(
        "websockets", "server/ws_protocol.py"
    )


def test_pycrdt_native_document_applies_an_update_in_a_transaction() -> None:
    source = pycrdt.Doc()
    source.get("content", type=pycrdt.Text).insert(0, "hello")
    update = source.get_update()

    doc = pycrdt.Doc()
    native = getattr(doc, "_doc", None)
    user = "sync/room.py (apply_update, the room's observer)"
    assert native is not None, "pycrdt.Doc has no _doc: " + why("pycrdt", user)
    for name in ("create_transaction", "apply_update", "observe"):
        assert callable(getattr(native, name, None)), (
            f"pycrdt's native document has no {name}: " + why("pycrdt", user)
        )
    seen: list[object] = []
    subscription = native.observe(seen.append)
    apply_update(doc, update)  # sync/room.py's, on the native document
    assert str(doc.get("content", type=pycrdt.Text)) == "hello", why("pycrdt", user)
    assert seen, "the native observer did not fire: " + why("pycrdt", user)
    del subscription


@pytest.mark.parametrize("package", ["uvicorn", "websockets", "pycrdt"])
def test_installed_version_is_the_locked_one(package: str) -> None:
    from tests.lockfile import locked

    assert version(package) == locked()[package], (
        f"{package} {version(package)} is installed but requirements.lock pins "
        f"{locked()[package]}: install with scripts/install.sh"
    )


def test_websockets_server_parser_hands_over_to_the_frame_parser() -> None:
    """ws_protocol replaces a connection's parser, once the handshake is done, with a fresh
    Protocol.parse: that is only the same parser if the server's parse ends by delegating to
    it and keeps ``parser`` as the generator it runs."""
    source = inspect.getsource(ServerProtocol.parse)
    assert "yield from super().parse()" in source, (
        "websockets' ServerProtocol.parse no longer delegates to Protocol.parse: "
        + why("websockets", "server/ws_protocol.py")
    )
    assert "self.parser = self.parse()" in inspect.getsource(ServerProtocol.__mro__[1].__init__), (
        "websockets' Protocol no longer keeps its parser as self.parser: "
        + why("websockets", "server/ws_protocol.py")
    )
