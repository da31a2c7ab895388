"""The Starlette application: routes, and a lifespan that owns every long-lived part."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from sync.rooms import Rooms
from sync.sqlite_store import SqliteStore
from sync.store import DocumentStore
from sync.types import Origin

from . import health
from .asgi import TandemApp
from .context import AppContext
from .settings import Settings
from .sync_endpoint import sync_endpoint


@contextlib.asynccontextmanager
async def _embedded_store(settings: Settings) -> AsyncIterator[DocumentStore]:
    path = settings.data_dir / "tandem.db"
    async with SqliteStore(path, synchronous=settings.sqlite_synchronous.upper()) as store:
        yield store


def create_app(settings: Settings) -> TandemApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            store = await stack.enter_async_context(_embedded_store(settings))
            rooms = await stack.enter_async_context(
                Rooms(store, origin=Origin(settings.pod_id), limits=settings.sync_limits)
            )
            app.state.ctx = AppContext(settings=settings, store=store, rooms=rooms)
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
