"""The directory in MongoDB (pymongo's ``AsyncMongoClient``): cluster mode, where every pod
must see the same accounts. Only standard operations, so a real MongoDB and the wire-protocol
server the tests use behave alike. Uniqueness lives in unique indexes (and ``_id``), so two
pods racing to take one username cannot both win."""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from .errors import ConflictError, NotFoundError
from .models import (
    Credentials,
    DocRecord,
    InviteRecord,
    Member,
    User,
    UserId,
    Workspace,
    WorkspaceId,
    new_id,
)
from .roles import Role
from .sqlite_directory import username_key


class MongoDirectory:
    def __init__(self, db: Any) -> None:
        self._users = db["users"]
        self._workspaces = db["workspaces"]
        self._members = db["members"]
        self._docs = db["docs"]
        self._refresh = db["refresh_tokens"]
        self._invites = db["invites"]

    async def ensure_indexes(self) -> None:
        await self._users.create_index([("username_key", ASCENDING)], unique=True)
        await self._members.create_index(
            [("workspace_id", ASCENDING), ("user_id", ASCENDING)], unique=True
        )
        await self._members.create_index([("user_id", ASCENDING)])
        await self._docs.create_index([("workspace_id", ASCENDING)])
        await self._refresh.create_index([("user_id", ASCENDING)])
        await self._invites.create_index([("workspace_id", ASCENDING), ("created_at", ASCENDING)])

    async def aclose(self) -> None:
        """The client belongs to the app's backends, which close it."""

    # -- users ---------------------------------------------------------------------------------

    async def create_user(self, username: str, password_hash: str) -> User:
        user = User(UserId(new_id()), username, time.time())
        try:
            await self._users.insert_one(
                {
                    "_id": user.id,
                    "username": username,
                    "username_key": username_key(username),
                    "password_hash": password_hash,
                    "created_at": user.created_at,
                }
            )
        except DuplicateKeyError:
            raise ConflictError(f"username {username!r} is taken") from None
        return user

    async def credentials(self, username: str) -> Credentials | None:
        found = await self._users.find_one({"username_key": username_key(username)})
        return None if found is None else Credentials(_user(found), found["password_hash"])

    async def user(self, user_id: UserId) -> User | None:
        found = await self._users.find_one({"_id": user_id})
        return None if found is None else _user(found)

    async def user_by_name(self, username: str) -> User | None:
        found = await self.credentials(username)
        return None if found is None else found.user

    # -- workspaces ----------------------------------------------------------------------------

    async def create_workspace(self, name: str, owner: UserId) -> Workspace:
        workspace = Workspace(WorkspaceId(new_id()), name, time.time())
        # The owner first: a workspace document without an owner would be unreachable.
        await self._members.insert_one(
            {"workspace_id": workspace.id, "user_id": owner, "role": int(Role.OWNER)}
        )
        await self._workspaces.insert_one(
            {
                "_id": workspace.id,
                "name": name,
                "created_at": workspace.created_at,
                "allow_training": True,
            }
        )
        return workspace

    async def workspace(self, workspace_id: WorkspaceId) -> Workspace | None:
        found = await self._workspaces.find_one({"_id": workspace_id})
        return None if found is None else _workspace(found)

    async def update_workspace(
        self,
        workspace_id: WorkspaceId,
        *,
        name: str | None = None,
        allow_training: bool | None = None,
    ) -> Workspace:
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if allow_training is not None:
            changes["allow_training"] = allow_training
        if changes:
            await self._workspaces.update_one({"_id": workspace_id}, {"$set": changes})
        found = await self.workspace(workspace_id)
        if found is None:
            raise NotFoundError("no such workspace")
        return found

    async def delete_workspace(self, workspace_id: WorkspaceId) -> None:
        # The workspace goes first, so a crash half-way leaves no workspace behind that its
        # former members could still reach; the rest is removed again on the next attempt.
        await self._workspaces.delete_one({"_id": workspace_id})
        await self._members.delete_many({"workspace_id": workspace_id})
        await self._docs.delete_many({"workspace_id": workspace_id})
        await self._invites.delete_many({"workspace_id": workspace_id})

    async def workspaces_of(self, user_id: UserId) -> list[tuple[Workspace, Role]]:
        roles = {
            m["workspace_id"]: Role(m["role"])
            async for m in self._members.find({"user_id": user_id})
        }
        if not roles:
            return []
        found = [_workspace(w) async for w in self._workspaces.find({"_id": {"$in": list(roles)}})]
        found.sort(key=lambda w: (w.created_at, w.id))
        return [(w, roles[w.id]) for w in found]

    # -- members -------------------------------------------------------------------------------

    async def role(self, workspace_id: WorkspaceId, user_id: UserId) -> Role | None:
        found = await self._members.find_one({"workspace_id": workspace_id, "user_id": user_id})
        if found is None:
            return None
        # A membership outlives its workspace only after a crash mid-delete: not a member then.
        if await self._workspaces.count_documents({"_id": workspace_id}, limit=1) == 0:
            return None
        return Role(found["role"])

    async def members(self, workspace_id: WorkspaceId) -> list[Member]:
        roles = {
            m["user_id"]: Role(m["role"])
            async for m in self._members.find({"workspace_id": workspace_id})
        }
        users = [_user(u) async for u in self._users.find({"_id": {"$in": list(roles)}})]
        users.sort(key=lambda u: username_key(u.username))
        return [Member(workspace_id, u, roles[u.id]) for u in users]

    async def set_member(self, workspace_id: WorkspaceId, user_id: UserId, role: Role) -> None:
        await self._members.update_one(
            {"workspace_id": workspace_id, "user_id": user_id},
            {"$set": {"role": int(role)}},
            upsert=True,
        )

    async def remove_member(self, workspace_id: WorkspaceId, user_id: UserId) -> bool:
        result = await self._members.delete_one({"workspace_id": workspace_id, "user_id": user_id})
        return bool(result.deleted_count)

    # -- documents -----------------------------------------------------------------------------

    async def register_doc(
        self, doc_id: str, workspace_id: WorkspaceId, *, server_only: bool = False
    ) -> DocRecord:
        try:
            await self._docs.insert_one(
                {"_id": doc_id, "workspace_id": workspace_id, "server_only": server_only}
            )
        except DuplicateKeyError:
            existing = await self.doc(doc_id)
            if existing is None or existing.workspace_id != workspace_id:
                raise ConflictError(f"document {doc_id} belongs to another workspace") from None
            return existing
        return DocRecord(doc_id, workspace_id, server_only)

    async def doc(self, doc_id: str) -> DocRecord | None:
        found = await self._docs.find_one({"_id": doc_id})
        if found is None:
            return None
        return DocRecord(doc_id, WorkspaceId(found["workspace_id"]), bool(found["server_only"]))

    async def unregister_doc(self, doc_id: str) -> None:
        await self._docs.delete_one({"_id": doc_id})

    # -- refresh tokens ------------------------------------------------------------------------

    async def store_refresh(self, token_id: str, user_id: UserId, expires_at: float) -> None:
        await self._refresh.insert_one(
            {"_id": token_id, "user_id": user_id, "expires_at": expires_at}
        )

    async def take_refresh(self, token_id: str, now: float, grace_s: float = 0.0) -> UserId | None:
        if grace_s <= 0:
            # Strictly once: find_one_and_delete is atomic, so two racing refreshes with one
            # token get one session (an expiry clipped to "now" would hang on float rounding).
            gone = await self._refresh.find_one_and_delete({"_id": token_id})
            if gone is None or gone["expires_at"] <= now:
                return None
            return UserId(gone["user_id"])
        # The update only ever shortens the expiry, and only while the token is valid, so
        # racing refreshes with one token all land inside the one grace window.
        found = await self._refresh.find_one_and_update(
            {"_id": token_id, "expires_at": {"$gt": now}},
            {"$min": {"expires_at": now + grace_s}},
        )
        return None if found is None else UserId(found["user_id"])

    async def revoke_refresh(self, token_id: str) -> None:
        await self._refresh.delete_one({"_id": token_id})

    async def store_invite(self, invite: InviteRecord) -> None:
        await self._invites.insert_one(
            {
                "_id": invite.id,
                "workspace_id": invite.workspace_id,
                "role": invite.role,
                "invited_by": invite.invited_by,
                "created_at": invite.created_at,
                "expires_at": invite.expires_at,
            }
        )

    async def invite(self, invite_id: str) -> InviteRecord | None:
        found = await self._invites.find_one({"_id": invite_id})
        return None if found is None else _invite(found)

    async def invites(self, workspace_id: WorkspaceId) -> list[InviteRecord]:
        cursor = self._invites.find({"workspace_id": workspace_id}).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_invite(d) for d in await cursor.to_list(None)]

    async def revoke_invite(self, workspace_id: WorkspaceId, invite_id: str) -> bool:
        result = await self._invites.delete_one({"_id": invite_id, "workspace_id": workspace_id})
        return bool(result.deleted_count)

    async def delete_user(self, user_id: UserId) -> None:
        # The account first: a crash half-way leaves no account whose tokens still work.
        await self._users.delete_one({"_id": user_id})
        await self._members.delete_many({"user_id": user_id})
        await self._refresh.delete_many({"user_id": user_id})

    async def revoke_all_refresh(self, user_id: UserId) -> None:
        await self._refresh.delete_many({"user_id": user_id})


def _invite(found: dict[str, Any]) -> InviteRecord:
    return InviteRecord(
        str(found["_id"]),
        WorkspaceId(found["workspace_id"]),
        str(found["role"]),
        UserId(found["invited_by"]),
        float(found["created_at"]),
        float(found["expires_at"]),
    )


def _user(found: dict[str, Any]) -> User:
    return User(UserId(found["_id"]), found["username"], float(found["created_at"]))


def _workspace(found: dict[str, Any]) -> Workspace:
    return Workspace(
        WorkspaceId(found["_id"]),
        found["name"],
        float(found["created_at"]),
        bool(found.get("allow_training", True)),
    )
