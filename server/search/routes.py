"""``GET /api/workspaces/{ws}/search?q=TEXT&limit=N``: any member (viewers too) searches the
workspace's live text files; files best first, with their matching lines highlighted."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assistant.knowledge.passages import search_query

from ..access.guard import require_workspace
from ..access.roles import Role
from ..errors import bad_request
from .knowledge import WorkspaceKnowledge
from .results import grouped

MAX_FILES = 100
DEFAULT_FILES = 30
PASSAGES_PER_FILE = 3


def knowledge_of(ctx: Any) -> WorkspaceKnowledge:
    found: WorkspaceKnowledge | None = getattr(ctx, "knowledge", None)
    if found is None:
        raise RuntimeError("search is not wired")
    return found


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_FILES
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_FILES:
        raise bad_request(f"'limit' must be a whole number from 1 to {MAX_FILES}", "invalid_query")
    return int(raw)


async def search(request: Request) -> Response:
    ws = request.path_params["ws"]
    await require_workspace(request, ws, Role.VIEWER)
    ctx = request.app.state.ctx
    q = request.query_params.get("q", "")
    if not q.strip():
        raise bad_request("'q' must hold something to search for", "invalid_query")
    if len(q) > ctx.settings.search_max_query_chars:
        raise bad_request(
            f"'q' is at most {ctx.settings.search_max_query_chars} characters", "invalid_query"
        )
    limit = _limit(request)
    began = time.perf_counter()
    passages = await knowledge_of(ctx).search(ws, q, limit=limit * PASSAGES_PER_FILE)
    files = grouped(passages, search_query(q), limit)
    took_ms = (time.perf_counter() - began) * 1000
    return JSONResponse({"query": q, "files": files, "took_ms": round(took_ms, 3)})


ROUTES = [Route("/api/workspaces/{ws}/search", search, methods=["GET"])]
