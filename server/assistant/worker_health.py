"""The worker's own small HTTP face: ``/healthz`` for the kubelet's liveness probe and
``/metrics`` for Prometheus.

It is served on the worker's event loop, so it answers only while that loop runs: a loop stuck
in a blocking call or waiting on itself stops answering and the kubelet restarts the pod,
which no exit code would have told it. ``/healthz`` also fails once the worker loops have
ended (their task group gave up), though the process is still up."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def health_app(alive: Callable[[], bool]) -> Starlette:
    async def healthz(request: Request) -> Response:
        if alive():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "worker loops stopped"}, status_code=503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics)])


class _Embedded(uvicorn.Server):
    """A uvicorn server inside a process that owns its signals: the worker's SIGTERM handling
    (stop taking jobs) stays the worker's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HealthServer:
    """Listening from construction on (the socket is bound here), answering once ``serve``
    runs; ``serve`` returns after ``stop``."""

    def __init__(self, host: str, port: int, alive: Callable[[], bool]) -> None:
        self.socket = socket.create_server((host, port))
        config = uvicorn.Config(
            health_app(alive), log_config=None, access_log=False, lifespan="off"
        )
        self._server = _Embedded(config)

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    async def serve(self) -> None:
        try:
            await self._server.serve(sockets=[self.socket])
        finally:
            self.socket.close()

    def stop(self) -> None:
        self._server.should_exit = True
