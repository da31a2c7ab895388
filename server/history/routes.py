"""``/api/docs/{doc_id}/history``: a document's edit sessions and restore points.

    GET  /history                          {"doc_id", "sessions": [...], "points": [...]}
    GET  /history/points/{point_id}        one point with its text
    POST /history/points                   take a restore point now (editors)       -> 201
    POST /history/points/{point_id}/restore
        apply the point's text as a new edit (editors); a point of the text before is taken
        first, so the restore can be undone by restoring that one -> {"undo_point", ...}

Viewers may read the history; only editors take points or restore."""

from __future__ import annotations

import asyncio
from typing import Any

from pycrdt import Doc, Text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.access.guard import require_doc
from server.access.roles import Role
from server.errors import ApiError, not_found
from sync.types import DocId

from . import restore
from .recorder import HistoryRecorder
from .store import HistoryStore

_BASE = "/api/docs/{doc_id}/history"
_THREAD_ABOVE_CHARS = 20_000
"""Diffs of longer texts are computed off the event loop."""


def _part(request: Request) -> Any:
    part = getattr(request.app.state.ctx, "history", None)
    if part is None:
        raise ApiError(503, "unavailable", "the edit history is not configured")
    return part


async def get_history(request: Request) -> Response:
    doc_id = request.path_params["doc_id"]
    await require_doc(request, doc_id, Role.VIEWER)
    part = _part(request)
    recorder: HistoryRecorder = part.recorder
    store: HistoryStore = part.store
    await recorder.flush(points=False)  # the reader sees what was typed up to now
    return JSONResponse(
        {
            "doc_id": doc_id,
            "sessions": await store.sessions(doc_id),
            "points": await store.points(doc_id),
        }
    )


async def get_point(request: Request) -> Response:
    doc_id = request.path_params["doc_id"]
    await require_doc(request, doc_id, Role.VIEWER)
    point = await _part(request).store.point(doc_id, request.path_params["point_id"])
    if point is None:
        raise not_found("no such restore point")
    return JSONResponse(point)


async def create_point(request: Request) -> Response:
    doc_id = request.path_params["doc_id"]
    await require_doc(request, doc_id, Role.EDITOR)
    point = await _part(request).recorder.take_point(doc_id, "manual")
    return JSONResponse({k: v for k, v in point.items() if k != "text"}, status_code=201)


async def restore_point(request: Request) -> Response:
    doc_id = request.path_params["doc_id"]
    principal, _, _ = await require_doc(request, doc_id, Role.EDITOR)
    part = _part(request)
    point = await part.store.point(doc_id, request.path_params["point_id"])
    if point is None:
        raise not_found("no such restore point")
    target: str = point["text"]
    undo = await part.recorder.take_point(doc_id, "before_restore")
    rooms = request.app.state.ctx.rooms
    current: str = undo["text"]
    if len(current) + len(target) > _THREAD_ABOVE_CHARS:
        ops = await asyncio.to_thread(restore.differences, current, target)
    else:
        ops = restore.differences(current, target)

    def change(doc: Doc) -> tuple[int, int]:
        text = doc.get("content", type=Text)
        now = str(text)
        # Someone typed since the point was read: diff again against what is there now.
        todo = ops if now == current else restore.differences(now, target)
        restore.apply(text, now, target, todo)
        return sum(j2 - j1 for *_, j1, j2 in todo), sum(i2 - i1 for _, i1, i2, *_ in todo)

    inserted, deleted = await rooms.edit(DocId(doc_id), change)
    await part.recorder.record_restore(doc_id, principal, point["id"], inserted, deleted)
    return JSONResponse(
        {
            "restored_from": point["id"],
            "undo_point": undo["id"],
            "inserted": inserted,
            "deleted": deleted,
        }
    )


ROUTES = [
    Route(_BASE, get_history, methods=["GET"]),
    Route(f"{_BASE}/points", create_point, methods=["POST"]),
    Route(f"{_BASE}/points/{{point_id}}", get_point, methods=["GET"]),
    Route(f"{_BASE}/points/{{point_id}}/restore", restore_point, methods=["POST"]),
]
