"""``/api/workspaces/{ws}/learning``: the workspace's own model, for its members.

    GET  /learning            {current, rollback_to, models, runs, allow_training}   (viewer)
    POST /learning/rollback   back to the previous model, or the base one            (owner)

Training itself is the CronJob's (``tandem finetune``); the owner's switch for it is
``allow_training`` on the workspace (``PATCH /api/workspaces/{ws}``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from learning.registry import ModelRegistry, RegistryError

from .access.guard import access_of, require_workspace
from .access.models import WorkspaceId
from .access.roles import Role
from .errors import ApiError, conflict

_BASE = "/api/workspaces/{ws}/learning"


def _registry(request: Request) -> ModelRegistry:
    part = getattr(request.app.state.ctx, "learning", None)
    if part is None:
        raise ApiError(503, "unavailable", "the learning loop is not configured")
    registry: ModelRegistry = part.registry
    return registry


async def get_learning(request: Request) -> Response:
    ws = request.path_params["ws"]
    await require_workspace(request, ws, Role.VIEWER)
    status = await _registry(request).status(ws)
    workspace = await access_of(request).directory.workspace(WorkspaceId(ws))
    status["allow_training"] = bool(workspace and workspace.allow_training)
    return JSONResponse(status)


async def rollback(request: Request) -> Response:
    ws = request.path_params["ws"]
    await require_workspace(request, ws, Role.OWNER)
    registry = _registry(request)
    try:
        await registry.rollback(ws)
    except RegistryError as exc:
        raise conflict(str(exc)) from None
    return JSONResponse(await registry.status(ws))


ROUTES = [
    Route(_BASE, get_learning, methods=["GET"]),
    Route(f"{_BASE}/rollback", rollback, methods=["POST"]),
]
