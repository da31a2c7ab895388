"""The outermost ASGI app: ``/sync/`` websockets go straight to their endpoint.

Starlette's middleware and router add about ten coroutine frames and two exception wrappers
to every connection, held for the connection's whole life and crossed by every frame it
sends. A collaboration server keeps thousands of sockets open, so the sync endpoint skips them;
everything else goes through the Starlette app as usual."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from .sync_endpoint import sync_endpoint

_SYNC_PREFIX = "/sync/"


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
        else:
            await self.app(scope, receive, send)
