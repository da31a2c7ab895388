"""``/sync/{doc_id}``: one websocket connection of the y-websocket protocol."""

from __future__ import annotations

import asyncio
import logging

from starlette.types import Receive, Send
from starlette.websockets import WebSocket

from sync import metrics
from sync.peer import CloseCode, Peer
from sync.protocol import ProtocolError, decode
from sync.room import DocTooLargeError, Room
from sync.rooms import RoomUnavailableError
from sync.store import StoreError
from sync.types import InvalidDocIdError, parse_doc_id

from .access.sync_gate import Grant, SyncRefusedError, grant_for
from .context import AppContext
from .rate import TokenBucket
from .transport import AsgiTransport

log = logging.getLogger(__name__)

_KIND = {
    "SyncStep1": "sync_step1",
    "SyncStep2": "sync_step2",
    "SyncUpdate": "sync_update",
    "AwarenessMessage": "awareness",
    "AuthMessage": "auth",
    "QueryAwareness": "query_awareness",
}


async def sync_endpoint(websocket: WebSocket, receive: Receive, send: Send) -> None:
    """``websocket`` handshakes and refuses; once admitted, frames flow through the ASGI
    server's own ``receive`` and ``send`` (see transport.py)."""
    ctx: AppContext = websocket.app.state.ctx
    # Accept before refusing: a close code can only travel over an open websocket, and the
    # stock client tells final refusals (44xx) from transient ones only by that code.
    await websocket.accept()
    if ctx.draining:
        await websocket.close(CloseCode.SERVICE_RESTART, "server restarting")
        return
    try:
        doc_id = parse_doc_id(websocket.path_params["doc_id"])
    except InvalidDocIdError as exc:
        metrics.CLOSES.labels(str(CloseCode.BAD_REQUEST)).inc()
        await websocket.close(CloseCode.BAD_REQUEST, str(exc))
        return
    grant = await _authorize(websocket, ctx, doc_id)
    if grant is None:
        return

    limits = ctx.settings.sync_limits
    peer = Peer(
        AsgiTransport(send, websocket.scope),
        can_write=grant.can_write,
        outbox_frames=limits.outbox_frames,
        send_timeout_s=limits.send_timeout_s,
        owner=grant.principal,
    )
    try:
        room = await ctx.rooms.join(doc_id, peer)
    except RoomUnavailableError as exc:
        metrics.CLOSES.labels(str(CloseCode.TRY_AGAIN_LATER)).inc()
        await websocket.close(CloseCode.TRY_AGAIN_LATER, str(exc))
        return

    unwatch = ctx.access_watch.watch(peer, grant) if ctx.access_watch else (lambda: None)
    metrics.CONNECTIONS.inc()
    metrics.CONNECTIONS_TOTAL.inc()
    writer = asyncio.create_task(peer.run_writer(), name=f"peer-{peer.id}-writer")
    try:
        await _read(receive, ctx, room, peer)
    finally:
        unwatch()
        metrics.CONNECTIONS.dec()
        ctx.rooms.leave(room, peer)
        peer.stop()
        try:
            await asyncio.wait_for(writer, limits.send_timeout_s)
        except TimeoutError:
            log.warning("writer of peer %s did not finish; cancelled", peer.id)


_pending = 0
"""Websockets accepted but not yet authorized, across the process."""


async def _authorize(websocket: WebSocket, ctx: AppContext, doc_id: str) -> Grant | None:
    """The grant for this connection, or None after closing it with the refusal's code."""
    global _pending
    settings = ctx.settings
    if _pending >= settings.max_pending_connections:
        metrics.CLOSES.labels(str(CloseCode.TRY_AGAIN_LATER)).inc()
        await websocket.close(CloseCode.TRY_AGAIN_LATER, "too many connections being set up")
        return None
    _pending += 1
    try:
        assert ctx.access is not None
        return await grant_for(
            ctx.access,
            websocket.query_params.get("token"),
            doc_id,
            open_access=settings.open_access,
        )
    except SyncRefusedError as exc:
        metrics.CLOSES.labels(str(exc.code)).inc()
        log.info("refused /sync/%s: %s (%s)", doc_id, exc.reason, exc.code)
        await websocket.close(exc.code, exc.reason)
        return None
    except Exception:
        log.exception("authorizing /sync/%s failed", doc_id)
        metrics.CLOSES.labels(str(CloseCode.TRY_AGAIN_LATER)).inc()
        await websocket.close(CloseCode.TRY_AGAIN_LATER, "cannot check access now, retry")
        return None
    finally:
        _pending -= 1


async def _read(receive: Receive, ctx: AppContext, room: Room, peer: Peer) -> None:
    """Handle frames until the client goes away. After ``peer.close`` the loop keeps reading
    (and ignoring) until the close handshake ends, so the close frame reaches the client."""
    settings = ctx.settings
    frames = TokenBucket(settings.ws_max_frames_per_s, settings.ws_max_frames_per_s)
    burst_bytes = max(settings.ws_max_bytes_per_s, settings.max_message_bytes)
    volume = TokenBucket(settings.ws_max_bytes_per_s, burst_bytes)
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        if not peer.open:
            continue
        frame = event.get("bytes")
        if frame is None:
            _refuse(peer, CloseCode.UNSUPPORTED_DATA, "text frames are not part of the protocol")
            continue
        if not frames.take() or not volume.take(len(frame)):
            metrics.RATE_LIMITED.inc()
            _refuse(peer, CloseCode.POLICY_VIOLATION, "sending too fast: rate limit exceeded")
            continue
        try:
            message = decode(frame)
        except ProtocolError as exc:
            _refuse(peer, CloseCode.PROTOCOL_ERROR, f"malformed frame: {exc}")
            continue
        kind = _KIND[type(message).__name__]
        metrics.INBOUND.count(kind, len(frame))
        try:
            await room.handle(peer, message)
        except ProtocolError as exc:
            _refuse(peer, CloseCode.INVALID_PAYLOAD, str(exc))
        except DocTooLargeError as exc:
            _refuse(peer, CloseCode.DOC_TOO_LARGE, str(exc))
        except StoreError:
            ctx.rooms.drop(room, CloseCode.INTERNAL_ERROR, "storage unavailable, reconnect")


def _refuse(peer: Peer, code: int, reason: str) -> None:
    log.info("closing peer %s: %s (%s)", peer.id, reason, code)
    peer.close(code, reason)
