"""``/api/workspaces/{ws}/threads``: conversations with the assistant. Members read threads;
editors create them, post, and stop answers; a message's author edits or deletes it.

Each thread's live document (``live_doc`` in the answers) is read over ``/sync`` by any
member; it shows new messages and answers as they stream, and its awareness who is there."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assistant.limits import RateLimitedError
from assistant.queue import QueueFullError
from assistant.threads import live
from assistant.threads.service import (
    AnswerFinishedError,
    InvalidMessageError,
    Member,
    MessageNotFoundError,
    NoAlternativeError,
    NotYoursError,
    ThreadNotFoundError,
    Threads,
)
from assistant.threads.store import Message, Thread
from sync.rooms import RoomUnavailableError

from ..access.guard import require_doc, require_workspace
from ..access.roles import Role
from ..errors import ApiError, bad_request, conflict, forbidden, not_found, too_many
from ..requests import read_body
from .bodies import EditMessage, NewThread, Post, Prefer, Vote
from .wiring import part_of

MAX_PAGE = 200


def _threads(request: Request) -> Threads:
    return part_of(request.app.state.ctx).threads


async def _member(request: Request, need: Role) -> Member:
    ws = request.path_params["ws"]
    principal = await require_workspace(request, ws, need)
    return Member(principal.user_id, principal.username, ws)


def _number(request: Request, name: str, kind: type, default: Any, low: Any, high: Any) -> Any:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise bad_request(f"'{name}' must be a number", "invalid_query") from None
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low} and {high}", "invalid_query")
    return value


async def _run(call: Any) -> Any:
    """Maps the threads' errors to HTTP errors."""
    try:
        return await call
    except ThreadNotFoundError:
        raise not_found("no such thread") from None
    except MessageNotFoundError:
        raise not_found("no such message") from None
    except NotYoursError as exc:
        raise forbidden(str(exc)) from None
    except InvalidMessageError as exc:
        raise bad_request(str(exc), "invalid_message") from None
    except NoAlternativeError as exc:
        raise conflict(str(exc), "no_alternative") from None
    except AnswerFinishedError as exc:
        raise conflict(str(exc), f"already_{exc.status.value}") from None
    except RateLimitedError as exc:
        raise too_many(str(exc), exc.retry_after_s) from None
    except (QueueFullError, RoomUnavailableError) as exc:
        raise ApiError(503, "unavailable", str(exc)) from None


def _thread(thread: Thread) -> dict[str, Any]:
    return {**thread.to_dict(), "live_doc": live.live_id(thread.id)}


def _message(message: Message | None) -> dict[str, Any] | None:
    if message is None:
        return None
    shown = message.to_dict()
    # Counts for everyone; who voted or preferred what, and the prompt, stay in the record.
    shown["feedback"] = message.feedback
    chosen = list(message.preferences.values())
    shown["preferred"] = {answer_id: chosen.count(answer_id) for answer_id in set(chosen)}
    for hidden in ("votes", "votes_at", "preferences", "preferences_at", "judged", "prompt"):
        del shown[hidden]
    return shown


async def list_threads(request: Request) -> Response:
    member = await _member(request, Role.VIEWER)
    limit = _number(request, "limit", int, 50, 1, MAX_PAGE)
    before = _number(request, "before", float, None, 0.0, 1e12)
    threads = _threads(request)
    found = await _run(
        threads.list(
            member.workspace_id, doc_id=request.query_params.get("doc"), before=before, limit=limit
        )
    )
    list_doc = await _run(threads.list_doc(member.workspace_id))
    return JSONResponse({"threads": [_thread(t) for t in found], "live_doc": list_doc})


async def create_thread(request: Request) -> Response:
    member = await _member(request, Role.EDITOR)
    body = await read_body(request, NewThread)
    if body.doc_id is not None:
        _, record, _ = await require_doc(request, body.doc_id, Role.VIEWER)
        if record.workspace_id != member.workspace_id or record.server_only:
            raise bad_request("'doc_id' is no content document of this workspace", "invalid_doc")
    thread = await _run(
        _threads(request).create(
            member, title=body.title, doc_id=body.doc_id, answer_every=body.answer_every
        )
    )
    return JSONResponse(_thread(thread), status_code=201)


async def get_thread(request: Request) -> Response:
    member = await _member(request, Role.VIEWER)
    tid = request.path_params["tid"]
    return JSONResponse(_thread(await _run(_threads(request).thread(member.workspace_id, tid))))


async def list_messages(request: Request) -> Response:
    """A page of messages, oldest first; ``before`` (a seq) pages back from there."""
    member = await _member(request, Role.VIEWER)
    limit = _number(request, "limit", int, 50, 1, MAX_PAGE)
    before = _number(request, "before", int, None, 1, 2**53)
    found = await _run(
        _threads(request).messages(
            member.workspace_id, request.path_params["tid"], before_seq=before, limit=limit
        )
    )
    older = found[0].seq if found and found[0].seq > 1 else None
    return JSONResponse({"messages": [_message(m) for m in found], "before": older})


async def post_message(request: Request) -> Response:
    member = await _member(request, Role.EDITOR)
    body = await read_body(request, Post)
    selection = None if body.selection is None else body.selection.model_dump()
    message, answer = await _run(
        _threads(request).post(
            member, request.path_params["tid"], text=body.text, ask=body.ask, selection=selection
        )
    )
    return JSONResponse({"message": _message(message), "answer": _message(answer)}, 201)


async def edit_message(request: Request) -> Response:
    member = await _member(request, Role.EDITOR)
    body = await read_body(request, EditMessage)
    params = request.path_params
    edited = await _run(_threads(request).edit(member, params["tid"], params["mid"], body.text))
    return JSONResponse(_message(edited))


async def delete_message(request: Request) -> Response:
    member = await _member(request, Role.EDITOR)
    params = request.path_params
    return JSONResponse(
        _message(await _run(_threads(request).delete(member, params["tid"], params["mid"])))
    )


async def stop_answer(request: Request) -> Response:
    member = await _member(request, Role.EDITOR)
    params = request.path_params
    return JSONResponse(
        _message(await _run(_threads(request).stop(member, params["tid"], params["mid"])))
    )


async def vote(request: Request) -> Response:
    member = await _member(request, Role.EDITOR)
    body = await read_body(request, Vote)
    params = request.path_params
    voted = _threads(request).vote(member, params["tid"], params["mid"], body.value)
    return JSONResponse(_message(await _run(voted)))


async def prefer(request: Request) -> Response:
    member = await _member(request, Role.EDITOR)
    body = await read_body(request, Prefer)
    params = request.path_params
    chosen = _threads(request).prefer(member, params["tid"], params["mid"], body.value)
    return JSONResponse({"question": _message(await _run(chosen))})


async def regenerate(request: Request) -> Response:
    member = await _member(request, Role.EDITOR)
    params = request.path_params
    answer = await _run(_threads(request).regenerate(member, params["tid"], params["mid"]))
    return JSONResponse({"answer": _message(answer)}, status_code=201)


_THREAD = "/api/workspaces/{ws}/threads/{tid}"
ROUTES = [
    Route("/api/workspaces/{ws}/threads", list_threads, methods=["GET"]),
    Route("/api/workspaces/{ws}/threads", create_thread, methods=["POST"]),
    Route(_THREAD, get_thread, methods=["GET"]),
    Route(_THREAD + "/messages", list_messages, methods=["GET"]),
    Route(_THREAD + "/messages", post_message, methods=["POST"]),
    Route(_THREAD + "/messages/{mid}", edit_message, methods=["PATCH"]),
    Route(_THREAD + "/messages/{mid}", delete_message, methods=["DELETE"]),
    Route(_THREAD + "/messages/{mid}/stop", stop_answer, methods=["POST"]),
    Route(_THREAD + "/messages/{mid}/feedback", vote, methods=["PUT"]),
    Route(_THREAD + "/messages/{mid}/preferred", prefer, methods=["PUT"]),
    Route(_THREAD + "/messages/{mid}/regenerate", regenerate, methods=["POST"]),
]
