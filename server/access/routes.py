"""``/api/auth``, ``/api/me``, ``/api/workspaces``: accounts, sessions, workspaces, members."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.errors import ApiError, bad_request, conflict, forbidden, not_found, too_many
from server.requests import read_body

from .bodies import (
    NewMember,
    NewWorkspace,
    PasswordCheck,
    Refresh,
    RoleChoice,
    SignIn,
    SignOut,
    SignUp,
    WorkspaceChanges,
)
from .errors import ConflictError
from .guard import Access, access_of, authenticate, require_doc, require_workspace
from .models import InviteRecord, User, UserId, Workspace, WorkspaceId, new_id
from .passwords import PasswordPolicyError
from .roles import Role
from .tokens import Invite, TokenError

log = logging.getLogger(__name__)


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username}


def workspace_json(workspace: Workspace, role: Role) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "role": role.label,
        "allow_training": workspace.allow_training,
        "created_at": workspace.created_at,
    }


async def _session(access: Access, user: User) -> dict[str, Any]:
    access_token, claims = access.signer.issue(user.id, user.username, "access")
    refresh_token, refresh = access.signer.issue(user.id, user.username, "refresh")
    await access.directory.store_refresh(refresh.token_id, user.id, refresh.expires_at)
    return {
        "user": user_json(user),
        "access_token": access_token,
        "refresh_token": refresh_token,
        "expires_in": int(claims.expires_at - time.time()),
    }


# -- sessions ----------------------------------------------------------------------------------


async def signup(request: Request) -> Response:
    access = access_of(request)
    body = await read_body(request, SignUp)
    username, password, invite_code = body.username, body.password, body.invite
    invite: Invite | None = None
    if access.signup == "closed":
        raise forbidden("sign-up is closed; ask an administrator for an account")
    if invite_code is not None or access.signup == "invite":
        if invite_code is None:
            raise forbidden("sign-up needs an invite code")
        try:
            invite = access.invites.verify(invite_code)
        except TokenError:
            raise forbidden("the invite code is invalid or expired") from None
        if await access.directory.invite(invite.id) is None:
            raise forbidden("the invite was revoked")
    try:
        access.passwords.check_policy(password)
    except PasswordPolicyError as exc:
        raise bad_request(str(exc), "weak_password") from None
    # Each sign-up costs an argon2 hash (tens of milliseconds of a core): budget it per
    # address before hashing, like failed sign-ins.
    budget = f"signup:ip:{_client(request)}"
    if await access.attempts.count(budget) >= access.signups_per_min:
        raise too_many("too many sign-ups from this address; try again in a minute", 60)
    await access.attempts.add(budget)
    try:
        user = await access.directory.create_user(username, await access.passwords.hash(password))
    except ConflictError:
        raise conflict("that username is taken", "username_taken") from None
    if invite is not None and await access.directory.workspace(WorkspaceId(invite.workspace_id)):
        await access.directory.set_member(
            WorkspaceId(invite.workspace_id), user.id, Role.parse(invite.role)
        )
    log.info("user %s signed up", user.id)
    return JSONResponse(await _session(access, user), status_code=201)


async def signin(request: Request) -> Response:
    access = access_of(request)
    body = await read_body(request, SignIn)
    username, password = body.username, body.password
    keys = [f"signin:user:{username.casefold()}", f"signin:ip:{_client(request)}"]
    for key in keys:
        if await access.attempts.count(key) >= access.signin_attempts_per_min:
            raise too_many("too many failed sign-ins; try again in a minute", 60)
    found = await access.directory.credentials(username)
    ok = await access.passwords.verify(found.password_hash if found else None, password)
    if not ok or found is None:
        for key in keys:
            await access.attempts.add(key)
        log.info("failed sign-in from %s", _client(request))
        raise ApiError(401, "bad_credentials", "wrong username or password")
    await access.attempts.reset(keys[0])
    return JSONResponse(await _session(access, found.user))


async def refresh(request: Request) -> Response:
    access = access_of(request)
    body = await read_body(request, Refresh)
    try:
        claims = access.signer.verify(body.refresh_token, "refresh")
    except TokenError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    user_id = await access.directory.take_refresh(
        claims.token_id, time.time(), access.refresh_reuse_grace_s
    )
    user = await access.directory.user(user_id) if user_id is not None else None
    if user is None:
        raise ApiError(401, "unauthorized", "the refresh token was revoked or used already")
    return JSONResponse(await _session(access, user))


async def signout(request: Request) -> Response:
    access = access_of(request)
    body = await read_body(request, SignOut)
    try:
        claims = access.signer.verify(body.refresh_token, "refresh")
    except TokenError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    if body.everywhere:
        await access.directory.revoke_all_refresh(claims.user_id)
    else:
        await access.directory.revoke_refresh(claims.token_id)
    return Response(status_code=204)


async def me(request: Request) -> Response:
    principal = await authenticate(request)
    user = await access_of(request).directory.user(principal.user_id)
    if user is None:
        raise ApiError(401, "unauthorized", "the account no longer exists")
    return JSONResponse(user_json(user))


async def delete_me(request: Request) -> Response:
    """Deletes the caller's account, with its password: memberships and sessions go, and
    its access tokens stop working on every pod within ``TANDEM_USER_CACHE_S``. Refused
    (409 ``sole_owner``) while a workspace has it as its only owner."""
    access = access_of(request)
    principal = await authenticate(request)
    password = (await read_body(request, PasswordCheck)).password
    user = await access.directory.user(principal.user_id)
    found = await access.directory.credentials(user.username) if user else None
    if found is None or not await access.passwords.verify(found.password_hash, password):
        raise ApiError(401, "bad_credentials", "wrong password")
    for workspace, role in await access.directory.workspaces_of(principal.user_id):
        if role is not Role.OWNER:
            continue
        owners = [m for m in await access.directory.members(workspace.id) if m.role is Role.OWNER]
        if len(owners) < 2:
            raise conflict(
                f"you are the only owner of {workspace.name!r}: make someone else owner or "
                "delete it first",
                "sole_owner",
            )
    await access.directory.delete_user(principal.user_id)
    access.forget_user(principal.user_id)
    log.info("user %s deleted their account", principal.user_id)
    return Response(status_code=204)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- workspaces --------------------------------------------------------------------------------


async def list_workspaces(request: Request) -> Response:
    principal = await authenticate(request)
    found = await access_of(request).directory.workspaces_of(principal.user_id)
    return JSONResponse({"workspaces": [workspace_json(w, r) for w, r in found]})


async def create_workspace(request: Request) -> Response:
    principal = await authenticate(request)
    name = (await read_body(request, NewWorkspace)).name
    workspace = await access_of(request).directory.create_workspace(name, principal.user_id)
    return JSONResponse(workspace_json(workspace, Role.OWNER), status_code=201)


async def get_workspace(request: Request) -> Response:
    ws = request.path_params["ws"]
    principal = await require_workspace(request, ws, Role.VIEWER)
    directory = access_of(request).directory
    workspace = await directory.workspace(WorkspaceId(ws))
    role = await directory.role(WorkspaceId(ws), principal.user_id)
    if workspace is None or role is None:
        raise not_found("no such workspace")
    return JSONResponse(workspace_json(workspace, role))


async def update_workspace(request: Request) -> Response:
    ws = WorkspaceId(request.path_params["ws"])
    await require_workspace(request, ws, Role.OWNER)
    body = await read_body(request, WorkspaceChanges)
    workspace = await access_of(request).directory.update_workspace(
        ws, name=body.name, allow_training=body.allow_training
    )
    return JSONResponse(workspace_json(workspace, Role.OWNER))


async def delete_workspace(request: Request) -> Response:
    ws = WorkspaceId(request.path_params["ws"])
    await require_workspace(request, ws, Role.OWNER)
    ctx = request.app.state.ctx
    for hook in ctx.workspace_deleted_hooks:
        await hook(ws)
    await access_of(request).directory.delete_workspace(ws)
    return Response(status_code=204)


# -- members -----------------------------------------------------------------------------------


def member_json(user: User, role: Role) -> dict[str, Any]:
    return {**user_json(user), "role": role.label}


async def list_members(request: Request) -> Response:
    ws = WorkspaceId(request.path_params["ws"])
    await require_workspace(request, ws, Role.VIEWER)
    members = await access_of(request).directory.members(ws)
    return JSONResponse({"members": [member_json(m.user, m.role) for m in members]})


async def add_member(request: Request) -> Response:
    ws = WorkspaceId(request.path_params["ws"])
    await require_workspace(request, ws, Role.OWNER)
    body = await read_body(request, NewMember)
    role = body.role
    directory = access_of(request).directory
    user = await directory.user_by_name(body.username)
    if user is None:
        raise not_found("no such user")
    if await directory.role(ws, user.id) is not None:
        raise conflict("already a member; change the role instead", "already_member")
    await directory.set_member(ws, user.id, role)
    return JSONResponse(member_json(user, role), status_code=201)


async def change_member(request: Request) -> Response:
    ws = WorkspaceId(request.path_params["ws"])
    await require_workspace(request, ws, Role.OWNER)
    target = UserId(request.path_params["user_id"])
    role = (await read_body(request, RoleChoice)).role
    directory = access_of(request).directory
    current = await directory.role(ws, target)
    user = await directory.user(target)
    if current is None or user is None:
        raise not_found("no such member")
    if current is Role.OWNER and role is not Role.OWNER:
        await _keep_an_owner(access_of(request), ws)
    await directory.set_member(ws, target, role)
    return JSONResponse(member_json(user, role))


async def remove_member(request: Request) -> Response:
    ws = WorkspaceId(request.path_params["ws"])
    target = UserId(request.path_params["user_id"])
    principal = await authenticate(request)
    access = access_of(request)
    # Anyone may leave; only owners remove others.
    need = Role.VIEWER if target == principal.user_id else Role.OWNER
    await access.require_workspace(principal, ws, need)
    current = await access.directory.role(ws, target)
    if current is None:
        raise not_found("no such member")
    if current is Role.OWNER:
        await _keep_an_owner(access, ws)
    await access.directory.remove_member(ws, target)
    return Response(status_code=204)


async def _keep_an_owner(access: Access, ws: WorkspaceId) -> None:
    owners = [m for m in await access.directory.members(ws) if m.role is Role.OWNER]
    if len(owners) <= 1:
        raise conflict("a workspace keeps at least one owner", "last_owner")


async def create_invite(request: Request) -> Response:
    ws = WorkspaceId(request.path_params["ws"])
    principal = await require_workspace(request, ws, Role.OWNER)
    role = (await read_body(request, RoleChoice)).role
    access = access_of(request)
    code, issued = access.invites.issue(Invite(ws, role.label, principal.user_id))
    record = InviteRecord(
        issued.id, ws, issued.role, principal.user_id, time.time(), issued.expires_at
    )
    await access.directory.store_invite(record)
    return JSONResponse({"invite": code, **invite_json(record)}, status_code=201)


def invite_json(record: InviteRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "role": record.role,
        "invited_by": record.invited_by,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
    }


async def list_invites(request: Request) -> Response:
    """The workspace's invites that still work (the codes themselves are not shown again)."""
    ws = WorkspaceId(request.path_params["ws"])
    await require_workspace(request, ws, Role.OWNER)
    now = time.time()
    found = await access_of(request).directory.invites(ws)
    return JSONResponse({"invites": [invite_json(r) for r in found if r.expires_at > now]})


async def revoke_invite(request: Request) -> Response:
    ws = WorkspaceId(request.path_params["ws"])
    await require_workspace(request, ws, Role.OWNER)
    if not await access_of(request).directory.revoke_invite(ws, request.path_params["invite_id"]):
        raise not_found("no such invite")
    return Response(status_code=204)


# -- documents ---------------------------------------------------------------------------------


async def create_doc(request: Request) -> Response:
    """A document outside the drive's tree (the drive creates its files' documents itself)."""
    ws = WorkspaceId(request.path_params["ws"])
    await require_workspace(request, ws, Role.EDITOR)
    record = await access_of(request).directory.register_doc(new_id(), ws)
    return JSONResponse(
        {"doc_id": record.doc_id, "workspace_id": record.workspace_id}, status_code=201
    )


async def get_doc(request: Request) -> Response:
    _, record, role = await require_doc(request, request.path_params["doc_id"], Role.VIEWER)
    return JSONResponse(
        {
            "doc_id": record.doc_id,
            "workspace_id": record.workspace_id,
            "role": role.label,
            "read_only": record.server_only or role < Role.EDITOR,
        }
    )


ROUTES = [
    Route("/api/auth/signup", signup, methods=["POST"]),
    Route("/api/auth/signin", signin, methods=["POST"]),
    Route("/api/auth/refresh", refresh, methods=["POST"]),
    Route("/api/auth/signout", signout, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
    Route("/api/me", delete_me, methods=["DELETE"]),
    Route("/api/workspaces", list_workspaces, methods=["GET"]),
    Route("/api/workspaces", create_workspace, methods=["POST"]),
    Route("/api/workspaces/{ws}", get_workspace, methods=["GET"]),
    Route("/api/workspaces/{ws}", update_workspace, methods=["PATCH"]),
    Route("/api/workspaces/{ws}", delete_workspace, methods=["DELETE"]),
    Route("/api/workspaces/{ws}/members", list_members, methods=["GET"]),
    Route("/api/workspaces/{ws}/members", add_member, methods=["POST"]),
    Route("/api/workspaces/{ws}/members/{user_id}", change_member, methods=["PATCH"]),
    Route("/api/workspaces/{ws}/members/{user_id}", remove_member, methods=["DELETE"]),
    Route("/api/workspaces/{ws}/invites", create_invite, methods=["POST"]),
    Route("/api/workspaces/{ws}/invites", list_invites, methods=["GET"]),
    Route("/api/workspaces/{ws}/invites/{invite_id}", revoke_invite, methods=["DELETE"]),
    Route("/api/workspaces/{ws}/docs", create_doc, methods=["POST"]),
    Route("/api/docs/{doc_id}", get_doc, methods=["GET"]),
]
