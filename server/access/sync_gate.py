"""Who may open a document over ``/sync``, and what they may do there.

Checked once at the upgrade (``?token=``) and then again every ``access_recheck_s`` by the
``AccessWatch``: a member removed from the workspace is disconnected (4403), a member demoted
to viewer becomes read-only, without reconnecting, and the peers of a document deleted for
good on any pod are closed (4404). A document that does not exist and one the
caller may not see close alike (4404), so document ids cannot be probed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from server.errors import ApiError
from sync.peer import CloseCode, Peer

from .directory import Directory
from .guard import Access, Principal
from .models import DocRecord, WorkspaceId
from .roles import Role

log = logging.getLogger(__name__)


class SyncRefusedError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Grant:
    """What one websocket may do; ``principal`` is None only under TANDEM_OPEN_ACCESS."""

    principal: Principal | None
    workspace_id: WorkspaceId | None
    can_write: bool
    server_only: bool = False
    doc_id: str = ""


COMPANION_SUFFIXES = (":suggestions",)
"""Server-written companions of a document (``{doc_id}:suggestions``): they belong to the
document's workspace and take no client writes, from the moment the document exists."""


async def resolve_doc(directory: Directory, doc_id: str) -> DocRecord | None:
    record = await directory.doc(doc_id)
    if record is not None:
        return record
    for suffix in COMPANION_SUFFIXES:
        if doc_id.endswith(suffix):
            base = await directory.doc(doc_id[: -len(suffix)])
            if base is not None and not base.server_only:
                return DocRecord(doc_id, base.workspace_id, server_only=True)
    return None


async def grant_for(access: Access, token: str | None, doc_id: str, *, open_access: bool) -> Grant:
    if open_access:
        return Grant(None, None, can_write=True)
    try:
        principal = await access.principal_from_token(token)
    except ApiError as exc:
        raise SyncRefusedError(CloseCode.UNAUTHORIZED, exc.message) from None
    record = await resolve_doc(access.directory, doc_id)
    role = (
        await access.directory.role(record.workspace_id, principal.user_id)
        if record is not None
        else None
    )
    if record is None or role is None:
        raise SyncRefusedError(CloseCode.NOT_FOUND, "no such document")
    return Grant(
        principal,
        record.workspace_id,
        can_write=role >= Role.EDITOR and not record.server_only,
        server_only=record.server_only,
        doc_id=doc_id,
    )


@dataclass(eq=False)
class _Watched:
    peer: Peer
    grant: Grant


@dataclass
class AccessWatch:
    """Re-checks the role behind every open websocket, one directory lookup per distinct
    (workspace, user) each round, so thousands of connections cost a few queries."""

    access: Access
    interval_s: float
    _watched: set[_Watched] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="access-watch")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def watch(self, peer: Peer, grant: Grant) -> Callable[[], None]:
        """Starts watching; returns the function that stops it (call it when the peer leaves)."""
        if grant.principal is None:
            return lambda: None
        entry = _Watched(peer, grant)
        self._watched.add(entry)
        return lambda: self._watched.discard(entry)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.recheck()
            except Exception:
                log.warning("access recheck failed; retrying next round", exc_info=True)

    async def recheck(self) -> None:
        roles: dict[tuple[Any, Any], Role | None] = {}
        docs: dict[str, bool] = {}
        for entry in list(self._watched):
            grant = entry.grant
            assert grant.principal is not None and grant.workspace_id is not None
            key = (grant.workspace_id, grant.principal.user_id)
            if key not in roles:
                roles[key] = await self.access.directory.role(*key)
            if grant.doc_id not in docs:
                record = await resolve_doc(self.access.directory, grant.doc_id)
                docs[grant.doc_id] = record is not None and record.workspace_id == key[0]
            role = roles[key]
            if not docs[grant.doc_id]:
                # Deleted for good (on any pod): its peers learn it like a new joiner would.
                entry.peer.close(CloseCode.NOT_FOUND, "no such document")
                self._watched.discard(entry)
            elif role is None:
                log.info("access to %s revoked for peer %s", grant.workspace_id, entry.peer.id)
                entry.peer.close(CloseCode.FORBIDDEN, "access revoked")
                self._watched.discard(entry)
            else:
                entry.peer.can_write = role >= Role.EDITOR and not grant.server_only
