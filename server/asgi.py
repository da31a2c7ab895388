"""The outermost ASGI app: ``/sync/`` websockets go straight to their endpoint.

Starlette's middleware and router add about ten coroutine frames and two exception wrappers
to every connection, held for the connection's whole life and crossed by every frame it
sends. A collaboration server keeps thousands of sockets open, so the sync endpoint skips them;
everything else goes through the Starlette app as usual.

A lifespan that fails to start (a store unreachable, a URL the driver refuses) is reported in
one line naming the error, not Starlette's traceback; the traceback goes to the debug log."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from .sync_endpoint import sync_endpoint

_SYNC_PREFIX = "/sync/"

log = logging.getLogger(__name__)


class TandemApp:
    def __init__(self, app: Starlette) -> None:
        self.app = app

    @property
    def state(self) -> State:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith(_SYNC_PREFIX):
            scope["app"] = self.app
            scope["path_params"] = {"doc_id": scope["path"][len(_SYNC_PREFIX) :]}
            await sync_endpoint(WebSocket(scope, receive, send), receive, send)
        elif scope["type"] == "lifespan":
            await self.app(scope, receive, _brief_startup_failure(send))
        else:
            await self.app(scope, receive, send)


def _brief_startup_failure(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed" and message.get("message"):
            trace = str(message["message"])
            log.debug("start-up failed:\n%s", trace)
            last = [line for line in trace.splitlines() if line.strip()][-1:]
            message = {**message, "message": f"start-up failed: {''.join(last).strip()}"}
        await send(message)

    return wrapped
