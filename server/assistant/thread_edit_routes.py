"""An answer's code blocks as edits, applied as one set of suggestions (issue 24.4):

GET  /api/workspaces/{ws}/threads/{tid}/messages/{mid}/edits    member
POST /api/workspaces/{ws}/threads/{tid}/messages/{mid}/apply    editor {"blocks": [i]} | {"all": true}
GET  /api/workspaces/{ws}/suggestion-sets/{set_id}              member
POST /api/workspaces/{ws}/suggestion-sets/{set_id}/accept       editor
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assistant.service import Actor, InvalidRequestError
from assistant.threads.suggestion_sets import (
    AnswerEdits,
    AnswerNotFoundError,
    AnswerStreamingError,
    BlockError,
    SetNotFoundError,
)
from sync.rooms import RoomUnavailableError

from ..access.guard import require_workspace
from ..access.roles import Role
from ..errors import ApiError, bad_request, conflict, not_found
from ..requests import JsonBody, read_body
from .routes import ensure_board
from .wiring import part_of


class Apply(JsonBody):
    blocks: list[Annotated[int, Field(ge=0, le=10_000)]] | None = Field(None, max_length=200)
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> Apply:
        if (self.blocks is None) == (not self.all):
            raise bad_request("give 'blocks' (a list of indexes) or 'all': true", "invalid_field")
        return self


def _edits(request: Request) -> AnswerEdits:
    part = part_of(request.app.state.ctx)
    return AnswerEdits(
        part.service, part.records, part.thread_store, request.app.state.ctx.drive,
        request.app.state.ctx.rooms.edit,
    )  # fmt: skip


async def _actor(request: Request, need: Role) -> Actor:
    ws = request.path_params["ws"]
    principal = await require_workspace(request, ws, need)
    return Actor(principal.user_id, principal.username, ws)


async def _run(call: Any) -> Any:
    try:
        return await call
    except AnswerNotFoundError:
        raise not_found("no such answer") from None
    except SetNotFoundError:
        raise not_found("no such suggestion set") from None
    except AnswerStreamingError:
        raise conflict("the answer is still streaming", "answer_streaming") from None
    except BlockError as exc:
        raise bad_request(str(exc), "invalid_block") from None
    except InvalidRequestError as exc:
        raise conflict(str(exc), "changed") from None
    except RoomUnavailableError as exc:
        raise ApiError(503, "unavailable", str(exc)) from None


async def list_edits(request: Request) -> Response:
    actor = await _actor(request, Role.VIEWER)
    p = request.path_params
    found = await _run(_edits(request).edits(actor.workspace_id, p["tid"], p["mid"]))
    return JSONResponse({"edits": [e.to_dict() for e in found]})


async def apply(request: Request) -> Response:
    actor = await _actor(request, Role.EDITOR)
    body = await read_body(request, Apply)
    p = request.path_params
    service = _edits(request)
    for item in await _run(service.edits(actor.workspace_id, p["tid"], p["mid"])):
        if item.doc_id is not None:
            await ensure_board(request, item.doc_id, actor.workspace_id)
    made = await _run(service.apply(actor, p["tid"], p["mid"], body.blocks))
    return JSONResponse(made, status_code=201)


async def get_set(request: Request) -> Response:
    actor = await _actor(request, Role.VIEWER)
    sid = request.path_params["set_id"]
    return JSONResponse(await _run(_edits(request).get_set(actor.workspace_id, sid)))


async def accept_set(request: Request) -> Response:
    actor = await _actor(request, Role.EDITOR)
    sid = request.path_params["set_id"]
    return JSONResponse(await _run(_edits(request).accept_set(actor, sid)))


_MESSAGE = "/api/workspaces/{ws}/threads/{tid}/messages/{mid}"
_SET = "/api/workspaces/{ws}/suggestion-sets/{set_id}"
ROUTES = [
    Route(_MESSAGE + "/edits", list_edits, methods=["GET"]),
    Route(_MESSAGE + "/apply", apply, methods=["POST"]),
    Route(_SET, get_set, methods=["GET"]),
    Route(_SET + "/accept", accept_set, methods=["POST"]),
]
