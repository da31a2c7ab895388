"""The checks routes make: who is asking (the bearer token) and what their role allows.

Routes call ``authenticate`` then ``require_workspace`` / ``require_doc``. A workspace or
document the caller does not belong to answers exactly like one that does not exist (404), so
ids cannot be probed; a member whose role is too low gets 403."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from server.errors import ApiError, forbidden, not_found, unauthorized

from .directory import Directory
from .models import DocRecord, UserId, WorkspaceId
from .passwords import Passwords
from .ratelimit import AttemptCounter
from .roles import Role
from .tokens import InviteSigner, TokenError, TokenSigner


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: UserId
    username: str


@dataclass
class Access:
    """What the access checks need; built once by the app's lifespan (``ctx.access``)."""

    directory: Directory
    signer: TokenSigner
    passwords: Passwords
    attempts: AttemptCounter
    invites: InviteSigner
    signup: str = "open"
    signin_attempts_per_min: int = 10
    signups_per_min: int = 10
    refresh_reuse_grace_s: float = 30.0
    user_cache_s: float = 5.0
    """How long an account found to exist is taken to still exist: a deleted account's
    access tokens stop working within this (on every pod)."""
    _known: dict[UserId, float] = field(default_factory=dict, repr=False)

    async def principal_from_token(self, token: str | None) -> Principal:
        """A valid token of an account that exists; else 401. A correctly signed token
        outlives a deleted account, so the account is looked up (briefly cached)."""
        if not token:
            raise unauthorized("missing bearer token")
        try:
            claims = self.signer.verify(token, "access")
        except TokenError as exc:
            raise unauthorized(str(exc)) from None
        now = time.monotonic()
        seen = self._known.get(claims.user_id)
        if seen is None or now - seen > self.user_cache_s:
            if await self.directory.user(claims.user_id) is None:
                self._known.pop(claims.user_id, None)
                raise unauthorized("the account no longer exists")
            if len(self._known) > 100_000:
                self._known.clear()  # bounded: a cache, not a register
            self._known[claims.user_id] = now
        return Principal(claims.user_id, claims.username)

    def forget_user(self, user_id: UserId) -> None:
        self._known.pop(user_id, None)

    async def require_workspace(self, principal: Principal, workspace_id: str, need: Role) -> Role:
        role = await self.directory.role(WorkspaceId(workspace_id), principal.user_id)
        if role is None:
            raise not_found("no such workspace")
        if role < need:
            raise forbidden(f"needs the {need.label} role; you are {role.label}")
        return role

    async def require_doc(
        self, principal: Principal, doc_id: str, need: Role
    ) -> tuple[DocRecord, Role]:
        record = await self.directory.doc(doc_id)
        if record is None:
            raise not_found("no such document")
        role = await self.directory.role(record.workspace_id, principal.user_id)
        if role is None:
            raise not_found("no such document")
        if role < need:
            raise forbidden(f"needs the {need.label} role; you are {role.label}")
        return record, role


def access_of(conn: HTTPConnection) -> Access:
    access: Access | None = conn.app.state.ctx.access
    if access is None:
        raise ApiError(503, "unavailable", "accounts are not configured")
    return access


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def authenticate(conn: HTTPConnection) -> Principal:
    """The caller of an ``/api`` route, from ``Authorization: Bearer <access token>``."""
    return await access_of(conn).principal_from_token(bearer_token(conn))


async def require_workspace(conn: HTTPConnection, workspace_id: str, need: Role) -> Principal:
    principal = await authenticate(conn)
    await access_of(conn).require_workspace(principal, workspace_id, need)
    return principal


async def require_doc(
    conn: HTTPConnection, doc_id: str, need: Role
) -> tuple[Principal, DocRecord, Role]:
    principal = await authenticate(conn)
    record, role = await access_of(conn).require_doc(principal, doc_id, need)
    return principal, record, role
