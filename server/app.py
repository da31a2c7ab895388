"""The Starlette application: routes, and a lifespan that owns every long-lived part."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route, WebSocketRoute

from sync.rooms import Rooms
from sync.types import Origin

from . import health
from .access.routes import ROUTES as ACCESS_ROUTES
from .access.sync_gate import AccessWatch
from .access.wiring import open_access
from .asgi import TandemApp
from .assistant.routes import ROUTES as ASSISTANT_ROUTES
from .assistant.thread_edit_routes import ROUTES as THREAD_EDIT_ROUTES
from .assistant.thread_routes import ROUTES as THREAD_ROUTES
from .assistant.wiring import open_assistant
from .backends import open_backends
from .context import AppContext
from .drive.routes import ROUTES as DRIVE_ROUTES
from .drive.wiring import open_drive
from .errors import EXCEPTION_HANDLERS
from .history.routes import ROUTES as HISTORY_ROUTES
from .history.wiring import open_history
from .learning import open_learning
from .learning_routes import ROUTES as LEARNING_ROUTES
from .loop_lag import loop_lag
from .memory_trim import memory_trim
from .search.routes import ROUTES as SEARCH_ROUTES
from .search.wiring import open_search
from .settings import Settings
from .sync_admission import Admission
from .sync_endpoint import sync_endpoint
from .web_routes import web_app


def create_app(settings: Settings) -> TandemApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(loop_lag(settings.loop_lag_interval_s))
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
            await stack.enter_async_context(memory_trim(rooms, settings.malloc_trim_interval_s))
            access = await stack.enter_async_context(open_access(settings, backends))
            drive = await stack.enter_async_context(open_drive(settings, backends, rooms, access))
            access_watch = await stack.enter_async_context(
                AccessWatch(access, settings.access_recheck_s)
            )
            knowledge = await stack.enter_async_context(
                open_search(settings, backends, rooms, drive, access.directory)
            )
            # Embedded: workers run in this process. Cluster: `tandem assistant` runs them.
            assistant = await stack.enter_async_context(
                open_assistant(
                    settings,
                    backends,
                    rooms,
                    run_workers=settings.embedded,
                    directory=access.directory,
                    retrieve=knowledge.retrieve,
                )
            )
            learning = await stack.enter_async_context(open_learning(settings, backends))
            history = await stack.enter_async_context(
                open_history(settings, backends, rooms, access.directory)
            )
            ctx = AppContext(
                settings=settings,
                store=backends.store,
                rooms=rooms,
                backends=backends,
                access=access,
                drive=drive,
                assistant=assistant,
                access_watch=access_watch,
                readiness_checks=backends.readiness,
                degradations=backends.degradations,
                admission=Admission(
                    settings.max_pending_connections, settings.sync_admission_wait_s
                ),
            )
            ctx.workspace_deleted_hooks.append(drive.delete_workspace)
            ctx.workspace_deleted_hooks.append(assistant.delete_workspace)
            ctx.workspace_deleted_hooks.append(learning.delete_workspace)
            ctx.workspace_deleted_hooks.append(history.delete_workspace)
            ctx.workspace_deleted_hooks.append(knowledge.delete_workspace)
            ctx.learning, ctx.history, ctx.knowledge = learning, history, knowledge
            app.state.ctx = ctx
            # Modules and startup objects live forever: keep the cyclic GC from rescanning
            # them in every full collection, which shows up as latency spikes under load.
            gc.freeze()
            yield

    routes: list[BaseRoute] = [
        Route("/healthz", health.healthz),
        Route("/readyz", health.readyz),
        Route("/metrics", health.metrics),
        *ACCESS_ROUTES,
        *DRIVE_ROUTES,
        *HISTORY_ROUTES,
        *LEARNING_ROUTES,
        *ASSISTANT_ROUTES,
        *THREAD_ROUTES,
        *THREAD_EDIT_ROUTES,
        *SEARCH_ROUTES,
        WebSocketRoute("/sync/{doc_id:path}", sync_endpoint),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
    )
    # The web app answers only what no route above matched.
    app.router.default = web_app()
    return TandemApp(app)
