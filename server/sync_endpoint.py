"""``/sync/{doc_id}``: one websocket connection of the y-websocket protocol."""

from __future__ import annotations

import logging

from starlette.types import Receive, Send
from starlette.websockets import WebSocket

from sync import metrics
from sync.peer import CloseCode, Peer
from sync.rooms import RoomUnavailableError
from sync.types import InvalidDocIdError, parse_doc_id

from .access.guard import Principal
from .access.sync_gate import Grant, SyncRefusedError, grant_for
from .context import AppContext
from .sync_inbound import Inbound
from .transport import AsgiTransport
from .ws_protocol import RECEIVE_NOW

log = logging.getLogger(__name__)


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
        user=presence_user(grant.principal),
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
    inbound = Inbound(ctx.settings, ctx.rooms, room, peer)
    receive_now = (websocket.scope.get("extensions") or {}).get(RECEIVE_NOW)
    if receive_now is not None:
        receive_now["set"](inbound.receive_now)
    try:
        await inbound.read(receive)
    finally:
        if receive_now is not None:
            receive_now["set"](None)
        unwatch()
        metrics.CONNECTIONS.dec()
        ctx.rooms.leave(room, peer)
        peer.stop()
        await peer.finish(limits.send_timeout_s)


def presence_user(principal: Principal | None) -> dict[str, str] | None:
    """The ``user`` field of a connection's awareness states as everyone sees them: the
    account's name and colour, whatever the client sends (None with open access: states
    are left as sent). The web app sends the same shape (web/src/views/editor.ts)."""
    if principal is None:
        return None
    user_id = str(principal.user_id)
    return {"id": user_id, "name": principal.username, **user_color(user_id)}


PALETTE = ("#b3261e", "#1a6b3c", "#1f5fbf", "#8a3ffc", "#a3470a", "#00727a", "#b0176b", "#5c5f00")
"""web/src/editor/colors.ts's palette: the server writes the colour the web app would."""


def user_color(user_id: str) -> dict[str, str]:
    """``userColor`` of web/src/editor/colors.ts: FNV-1a over the id's UTF-16 code units."""
    digest = 0x811C9DC5
    units = user_id.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(units), 2):
        digest ^= units[i] | units[i + 1] << 8
        digest = (digest * 0x01000193) & 0xFFFFFFFF
    color = PALETTE[digest % len(PALETTE)]
    return {"color": color, "colorLight": color + "33"}


async def _authorize(websocket: WebSocket, ctx: AppContext, doc_id: str) -> Grant | None:
    """The grant for this connection, or None after closing it with the refusal's code."""
    assert ctx.admission is not None
    async with ctx.admission.slot() as admitted:
        if not admitted:
            metrics.CLOSES.labels(str(CloseCode.TRY_AGAIN_LATER)).inc()
            await websocket.close(CloseCode.TRY_AGAIN_LATER, "too many connections being set up")
            return None
        return await _grant(websocket, ctx, doc_id)


async def _grant(websocket: WebSocket, ctx: AppContext, doc_id: str) -> Grant | None:
    settings = ctx.settings
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
