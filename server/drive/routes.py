"""``/api/workspaces/{ws}/drive/...``: the tree, uploads and downloads, trash.

Every route checks the caller first (viewer to read, editor to change, owner to delete for
good); an entry id from another workspace is simply not found. Drive errors map to JSON
errors with the drive's codes, and each call counts in ``tandem_drive_operations_total``.

    GET    /drive                        live entries, trash, tree_doc, usage and limits
    GET    /drive/entries?parent_id=     one folder's children (no parent_id: the top)
    POST   /drive/folders                {"name", "parent_id"?}                      -> 201
    POST   /drive/files                  {"name", "parent_id"?, "text"?}  a text file -> 201
    POST   /drive/upload?name=&parent_id=  raw body with its Content-Type           -> 201
    GET    /drive/entries/{id}           metadata
    PATCH  /drive/entries/{id}           {"name"?, "parent_id"?}  rename and/or move
    DELETE /drive/entries/{id}           to the trash
    POST   /drive/entries/{id}/restore   {"name"?, "parent_id"?}  409 name_taken on a clash
    GET    /drive/entries/{id}/content   a file's bytes or text; a folder as a zip
    GET    /drive/archive                the whole drive as a zip
    GET    /drive/trash                  what is in the trash
    DELETE /drive/trash/{id}             delete for good (owner): bytes and documents too

Error codes: invalid_name, not_a_folder, not_a_file, missing_field, invalid_field (400);
forbidden (403); not_found (404); name_taken, cycle, in_trash, not_in_trash (409);
too_large, quota_exceeded (413); storage_unavailable, document_unavailable, busy (503).
Entries are JSON: id, parent_id (null at the top), name, kind (folder|text|binary), size,
content_type, doc_id (text files: open it over /sync), created_by/at, modified_by/at,
trashed_at, trashed_by. The live tree is the document ``tree_doc`` (Y.Map ``entries``)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from drive import errors, metrics
from drive.archive import zip_folder
from drive.downloads import Download, open_file
from drive.entries import ROOT, Entry
from drive.service import Drive
from server.access.guard import Principal, require_workspace
from server.access.roles import Role
from server.errors import ApiError, bad_request
from server.requests import read_body

from .bodies import EntryChanges, NewFolder, NewTextFile, Restore, parent_id

Handler = Callable[[Request], Awaitable[Response]]

_STATUS: list[tuple[type[errors.DriveError], int]] = [
    (errors.InvalidNameError, 400),
    (errors.NotAFolderError, 400),
    (errors.NotAFileError, 400),
    (errors.EntryNotFoundError, 404),
    (errors.NameTakenError, 409),
    (errors.CycleError, 409),
    (errors.TrashedError, 409),
    (errors.NotInTrashError, 409),
    (errors.TooLargeError, 413),
    (errors.QuotaExceededError, 413),
    (errors.ObjectMissingError, 500),
    (errors.ObjectStoreError, 503),
    (errors.TreeStoreError, 503),
    (errors.DocumentUnavailableError, 503),
    (errors.LockTimeoutError, 503),
]


def api_error(exc: errors.DriveError) -> ApiError:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    return ApiError(status, exc.code, str(exc))


def operation(name: str) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except errors.DriveError as exc:
                metrics.OPERATIONS.labels(name, exc.code).inc()
                raise api_error(exc) from None
            except ApiError as exc:
                metrics.OPERATIONS.labels(name, exc.code).inc()
                raise
            metrics.OPERATIONS.labels(name, "ok").inc()
            return response

        return run

    return wrap


def drive_of(request: Request) -> Drive:
    drive: Drive | None = request.app.state.ctx.drive
    if drive is None:
        raise ApiError(503, "unavailable", "the drive is not configured")
    return drive


async def _caller(request: Request, need: Role) -> tuple[str, Principal]:
    ws = request.path_params["ws"]
    return ws, await require_workspace(request, ws, need)


def _entry(entry: Entry, status: int = 200) -> JSONResponse:
    return JSONResponse(entry.to_json(), status_code=status)


# -- reading -----------------------------------------------------------------------------------


@operation("tree")
async def get_tree(request: Request) -> Response:
    ws, _ = await _caller(request, Role.VIEWER)
    drive = drive_of(request)
    view = await drive.tree(ws)
    return JSONResponse(
        {
            "tree_doc": drive.feed.doc_id(ws),
            "entries": [entry.to_json() for entry in view.live()],
            "trash": [entry.to_json() for entry in view.trashed()],
            "usage_bytes": await drive.usage(ws),
            "quota_bytes": drive.limits.workspace_quota_bytes,
            "max_upload_bytes": drive.limits.max_upload_bytes,
        }
    )


@operation("list")
async def list_folder(request: Request) -> Response:
    ws, _ = await _caller(request, Role.VIEWER)
    parent = parent_id(request.query_params.get("parent_id") or None)
    entries = await drive_of(request).listing(ws, parent)
    return JSONResponse({"entries": [entry.to_json() for entry in entries]})


@operation("trash_list")
async def list_trash(request: Request) -> Response:
    ws, _ = await _caller(request, Role.VIEWER)
    trashed = await drive_of(request).trashed(ws)
    return JSONResponse({"entries": [entry.to_json() for entry in trashed]})


@operation("stat")
async def get_entry(request: Request) -> Response:
    ws, _ = await _caller(request, Role.VIEWER)
    return _entry(await drive_of(request).entry(ws, request.path_params["entry_id"]))


@operation("download")
async def download(request: Request) -> Response:
    ws, _ = await _caller(request, Role.VIEWER)
    drive = drive_of(request)
    entry = await drive.entry(ws, request.path_params["entry_id"])
    if entry.is_folder:
        archive = await zip_folder(drive, ws, entry.id)
        return _stream(f"{entry.name}.zip", "application/zip", None, archive)
    found: Download = await open_file(drive, ws, entry.id)
    return _stream(entry.name, found.content_type, found.size, found.chunks)


@operation("download")
async def download_all(request: Request) -> Response:
    ws, _ = await _caller(request, Role.VIEWER)
    archive = await zip_folder(drive_of(request), ws, ROOT)
    return _stream("drive.zip", "application/zip", None, archive)


def _stream(filename: str, content_type: str, size: int | None, chunks: Any) -> Response:
    async def counted() -> Any:
        async for chunk in chunks:
            metrics.DOWNLOAD_BYTES.inc(len(chunk))
            yield chunk

    fallback = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    headers = {
        # Always a download, never rendered on our origin: an uploaded HTML file must not
        # run as a page of Tandem's.
        "content-disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}",
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox",
        "cache-control": "private, no-store",
    }
    if size is not None:
        headers["content-length"] = str(size)
    return StreamingResponse(counted(), media_type=content_type, headers=headers)


# -- changing ----------------------------------------------------------------------------------


@operation("create_folder")
async def create_folder(request: Request) -> Response:
    ws, principal = await _caller(request, Role.EDITOR)
    body = await read_body(request, NewFolder)
    entry = await drive_of(request).create_folder(ws, body.parent_id, body.name, principal.user_id)
    return _entry(entry, 201)


@operation("create_file")
async def create_file(request: Request) -> Response:
    ws, principal = await _caller(request, Role.EDITOR)
    body = await read_body(request, NewTextFile)
    entry = await drive_of(request).create_text_file(
        ws, body.parent_id, body.name, principal.user_id, body.text, body.content_type
    )
    return _entry(entry, 201)


@operation("upload")
async def upload(request: Request) -> Response:
    """The raw body is the file: ``POST .../drive/upload?name=a.png&parent_id=...`` with its
    ``Content-Type``. Streamed to storage; at most TANDEM_MAX_UPLOAD_BYTES."""
    ws, principal = await _caller(request, Role.EDITOR)
    name = request.query_params.get("name")
    if name is None:
        raise bad_request("'name' is required (a query parameter)", "missing_field")
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise bad_request("bad Content-Length", "invalid_header")

    async def body() -> Any:
        async for chunk in request.stream():
            if chunk:
                metrics.UPLOAD_BYTES.inc(len(chunk))
                yield chunk

    entry = await drive_of(request).upload(
        ws,
        parent_id(request.query_params.get("parent_id") or None),
        name,
        request.headers.get("content-type"),
        body(),
        principal.user_id,
        declared_size=int(declared) if declared is not None else None,
    )
    return _entry(entry, 201)


@operation("update")
async def update_entry(request: Request) -> Response:
    ws, principal = await _caller(request, Role.EDITOR)
    body = await read_body(request, EntryChanges)
    changes: dict[str, Any] = {"name": body.name}
    if body.parent_id is not None:
        changes["parent_id"] = body.parent_id
    if body.name is None and body.parent_id is None:
        raise bad_request("give a new 'name', a new 'parent_id', or both", "missing_field")
    entry = await drive_of(request).update(
        ws, request.path_params["entry_id"], principal.user_id, **changes
    )
    return _entry(entry)


@operation("trash")
async def trash_entry(request: Request) -> Response:
    ws, principal = await _caller(request, Role.EDITOR)
    entry = await drive_of(request).trash(ws, request.path_params["entry_id"], principal.user_id)
    return _entry(entry)


@operation("restore")
async def restore_entry(request: Request) -> Response:
    ws, principal = await _caller(request, Role.EDITOR)
    body = await read_body(request, Restore)
    entry = await drive_of(request).restore(
        ws,
        request.path_params["entry_id"],
        principal.user_id,
        name=body.name,
        parent_id=body.parent_id,
    )
    return _entry(entry)


@operation("purge")
async def purge_entry(request: Request) -> Response:
    ws, _ = await _caller(request, Role.OWNER)
    removed = await drive_of(request).purge(ws, request.path_params["entry_id"])
    return JSONResponse({"deleted": [entry.id for entry in removed]})


_BASE = "/api/workspaces/{ws}/drive"
ROUTES = [
    Route(_BASE, get_tree, methods=["GET"]),
    Route(f"{_BASE}/entries", list_folder, methods=["GET"]),
    Route(f"{_BASE}/folders", create_folder, methods=["POST"]),
    Route(f"{_BASE}/files", create_file, methods=["POST"]),
    Route(f"{_BASE}/upload", upload, methods=["POST"]),
    Route(f"{_BASE}/archive", download_all, methods=["GET"]),
    Route(f"{_BASE}/trash", list_trash, methods=["GET"]),
    Route(f"{_BASE}/trash/{{entry_id}}", purge_entry, methods=["DELETE"]),
    Route(f"{_BASE}/entries/{{entry_id}}", get_entry, methods=["GET"]),
    Route(f"{_BASE}/entries/{{entry_id}}", update_entry, methods=["PATCH"]),
    Route(f"{_BASE}/entries/{{entry_id}}", trash_entry, methods=["DELETE"]),
    Route(f"{_BASE}/entries/{{entry_id}}/restore", restore_entry, methods=["POST"]),
    Route(f"{_BASE}/entries/{{entry_id}}/content", download, methods=["GET"]),
]
