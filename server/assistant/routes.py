"""``/api/docs/{doc_id}/assist`` and ``/api/docs/{doc_id}/suggestions``: ask, list, accept,
reject, accept-all, cancel. Editors ask and decide; viewers may list."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assistant import board
from assistant.cleansing import cleanse_instruction
from assistant.limits import RateLimitedError
from assistant.queue import QueueFullError
from assistant.serial import BusyError
from assistant.service import (
    Actor,
    InvalidRequestError,
    NotAcceptableError,
    StaleSuggestionError,
    UnrestorableSecretError,
)
from assistant.types import SuggestionNotFoundError, TransitionError
from sync.rooms import RoomUnavailableError
from sync.types import InvalidDocIdError, parse_doc_id

from ..access.guard import access_of, require_doc, require_workspace
from ..access.roles import Role
from ..errors import ApiError, bad_request, conflict, not_found, too_many
from ..requests import read_body
from .bodies import Ask, Instructions
from .wiring import MAX_INSTRUCTIONS_CHARS, AssistantPart, part_of


def _part(request: Request) -> AssistantPart:
    return part_of(request.app.state.ctx)


async def _actor(request: Request, need: Role) -> tuple[str, Actor]:
    doc_id = request.path_params["doc_id"]
    principal, record, _role = await require_doc(request, doc_id, need)
    if record.server_only:
        raise bad_request("the assistant works on content documents", "not_content")
    return doc_id, Actor(principal.user_id, principal.username, record.workspace_id)


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message)


async def _run(call: Any) -> Any:
    """Maps the assistant's errors to HTTP errors."""
    try:
        return await call
    except InvalidRequestError as exc:
        raise bad_request(str(exc), "invalid_request") from None
    except RateLimitedError as exc:
        raise too_many(str(exc), exc.retry_after_s) from None
    except SuggestionNotFoundError:
        raise not_found("no such suggestion") from None
    except StaleSuggestionError as exc:
        raise conflict(f"the suggestion is stale: {exc.reason}", "stale") from None
    except UnrestorableSecretError as exc:
        raise conflict(exc.reason, "unrestorable_secret") from None
    except TransitionError as exc:
        raise conflict(str(exc), f"already_{exc.current.value}") from None
    except NotAcceptableError as exc:
        raise conflict(str(exc), "not_acceptable") from None
    except (QueueFullError, BusyError, RoomUnavailableError) as exc:
        raise _unavailable(str(exc)) from None


async def ensure_board(request: Request, doc_id: str, workspace_id: str) -> str:
    """The suggestions live in a server-only companion document of the same workspace: every
    member can read it live, no client can write it. Registered once per process."""
    board_id = board.board_id(doc_id)
    try:
        parse_doc_id(board_id)
    except InvalidDocIdError:
        raise bad_request("this document id is too long for suggestions", "invalid_doc") from None
    part = _part(request)
    if board_id not in part.registered:  # not a directory lookup on every request
        directory = access_of(request).directory
        if await directory.doc(board_id) is None:
            await directory.register_doc(
                board_id,
                workspace_id,  # type: ignore[arg-type]
                server_only=True,
            )
        part.registered.add(board_id)
    return board_id


async def assist(request: Request) -> Response:
    doc_id, actor = await _actor(request, Role.EDITOR)
    body = await read_body(request, Ask)
    board_id = await ensure_board(request, doc_id, actor.workspace_id)
    sid = await _run(
        _part(request).service.request(
            doc_id,
            actor,
            mode=body.mode,
            instruction=body.instruction,
            selection=body.range.selection(),
            language=body.language,
        )
    )
    return JSONResponse({"suggestion_id": sid, "suggestions_doc": board_id}, status_code=202)


async def list_suggestions(request: Request) -> Response:
    doc_id, _ = await _actor(request, Role.VIEWER)
    suggestions = await _run(_part(request).service.list(doc_id))
    return JSONResponse({"suggestions": suggestions, "suggestions_doc": board.board_id(doc_id)})


async def get_suggestion(request: Request) -> Response:
    doc_id, _ = await _actor(request, Role.VIEWER)
    sid = request.path_params["sid"]
    return JSONResponse(await _run(_part(request).service.get(doc_id, sid)))


async def accept(request: Request) -> Response:
    doc_id, actor = await _actor(request, Role.EDITOR)
    sid = request.path_params["sid"]
    return JSONResponse(await _run(_part(request).service.accept(doc_id, sid, actor)))


async def reject(request: Request) -> Response:
    doc_id, actor = await _actor(request, Role.EDITOR)
    sid = request.path_params["sid"]
    return JSONResponse(await _run(_part(request).service.reject(doc_id, sid, actor)))


async def cancel(request: Request) -> Response:
    doc_id, actor = await _actor(request, Role.EDITOR)
    sid = request.path_params["sid"]
    return JSONResponse(await _run(_part(request).service.cancel(doc_id, sid, actor)))


async def accept_all(request: Request) -> Response:
    doc_id, actor = await _actor(request, Role.EDITOR)
    return JSONResponse(await _run(_part(request).service.accept_all(doc_id, actor)))


async def get_instructions(request: Request) -> Response:
    ws = request.path_params["ws"]
    await require_workspace(request, ws, Role.VIEWER)
    return JSONResponse({"instructions": await _part(request).records.instructions(ws)})


async def put_instructions(request: Request) -> Response:
    """What the model is told for every request in this workspace (house style, language):
    owners only, since it steers everyone's suggestions."""
    ws = request.path_params["ws"]
    principal = await require_workspace(request, ws, Role.OWNER)
    raw = (await read_body(request, Instructions)).instructions
    text = cleanse_instruction(raw, MAX_INSTRUCTIONS_CHARS)
    await _part(request).records.set_instructions(ws, text, principal.user_id)
    return JSONResponse({"instructions": text})


ROUTES = [
    Route("/api/workspaces/{ws}/assistant", get_instructions, methods=["GET"]),
    Route("/api/workspaces/{ws}/assistant", put_instructions, methods=["PUT"]),
    Route("/api/docs/{doc_id}/assist", assist, methods=["POST"]),
    Route("/api/docs/{doc_id}/suggestions", list_suggestions, methods=["GET"]),
    Route("/api/docs/{doc_id}/suggestions/accept-all", accept_all, methods=["POST"]),
    Route("/api/docs/{doc_id}/suggestions/{sid}", get_suggestion, methods=["GET"]),
    Route("/api/docs/{doc_id}/suggestions/{sid}", cancel, methods=["DELETE"]),
    Route("/api/docs/{doc_id}/suggestions/{sid}/accept", accept, methods=["POST"]),
    Route("/api/docs/{doc_id}/suggestions/{sid}/reject", reject, methods=["POST"]),
]
