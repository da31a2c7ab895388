"""The Starlette application: routes, and a lifespan that owns every long-lived part."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from sync.rooms import Rooms
from sync.types import Origin

from . import health
from .asgi import TandemApp
from .backends import open_backends
from .context import AppContext
from .settings import Settings
from .sync_endpoint import sync_endpoint


def create_app(settings: Settings) -> TandemApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            backends = await stack.enter_async_context(open_backends(settings))
            rooms = await stack.enter_async_context(
                Rooms(
                    backends.store,
                    origin=Origin(settings.pod_id),
                    limits=settings.sync_limits,
                    tail=backends.tail,
                    presence=backends.presence,
                )
            )
            app.state.ctx = AppContext(
                settings=settings,
                store=backends.store,
                rooms=rooms,
                readiness_checks=backends.readiness,
                degradations=backends.degradations,
            )
            # Modules and startup objects live forever: keep the cyclic GC from rescanning
            # them in every full collection, which shows up as latency spikes under load.
            gc.freeze()
            yield

    app = Starlette(
        routes=[
            Route("/healthz", health.healthz),
            Route("/readyz", health.readyz),
            Route("/metrics", health.metrics),
            WebSocketRoute("/sync/{doc_id:path}", sync_endpoint),
        ],
        lifespan=lifespan,
    )
    return TandemApp(app)
