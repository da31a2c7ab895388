"""The directory in a SQLite file: the embedded default. Calls run on a worker thread so the
event loop never waits on the disk; one connection behind a lock keeps writes ordered."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sync.sqlite_file import SqliteFile

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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    allow_training INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS members (
    workspace_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id);
CREATE TABLE IF NOT EXISTS docs (
    doc_id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    server_only INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS docs_by_workspace ON docs (workspace_id);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS refresh_by_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS invites (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS invites_by_workspace ON invites (workspace_id, created_at);
"""


def username_key(username: str) -> str:
    """Usernames are unique regardless of case: ``Ada`` and ``ada`` are one account."""
    return username.casefold()


class SqliteDirectory(SqliteFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, synchronous="FULL")

    # -- users ---------------------------------------------------------------------------------

    async def create_user(self, username: str, password_hash: str) -> User:
        user = User(UserId(new_id()), username, time.time())

        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                    (user.id, username, username_key(username), password_hash, user.created_at),
                )
            except sqlite3.IntegrityError:
                raise ConflictError(f"username {username!r} is taken") from None

        await self._run(insert)
        return user

    async def credentials(self, username: str) -> Credentials | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT id, username, created_at, password_hash FROM users WHERE username_key=?",
                (username_key(username),),
            ).fetchone()
        )
        if row is None:
            return None
        return Credentials(User(UserId(row[0]), row[1], row[2]), row[3])

    async def user(self, user_id: UserId) -> User | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT id, username, created_at FROM users WHERE id=?", (user_id,)
            ).fetchone()
        )
        return None if row is None else User(UserId(row[0]), row[1], row[2])

    async def user_by_name(self, username: str) -> User | None:
        found = await self.credentials(username)
        return None if found is None else found.user

    # -- workspaces ----------------------------------------------------------------------------

    async def create_workspace(self, name: str, owner: UserId) -> Workspace:
        workspace = Workspace(WorkspaceId(new_id()), name, time.time())

        def insert(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.execute(
                    "INSERT INTO workspaces VALUES (?, ?, ?, 1)",
                    (workspace.id, name, workspace.created_at),
                )
                db.execute(
                    "INSERT INTO members VALUES (?, ?, ?)", (workspace.id, owner, int(Role.OWNER))
                )

        await self._run(insert)
        return workspace

    async def workspace(self, workspace_id: WorkspaceId) -> Workspace | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT id, name, created_at, allow_training FROM workspaces WHERE id=?",
                (workspace_id,),
            ).fetchone()
        )
        return None if row is None else _workspace(row)

    async def update_workspace(
        self,
        workspace_id: WorkspaceId,
        *,
        name: str | None = None,
        allow_training: bool | None = None,
    ) -> Workspace:
        def update(db: sqlite3.Connection) -> None:
            if name is not None:
                db.execute("UPDATE workspaces SET name=? WHERE id=?", (name, workspace_id))
            if allow_training is not None:
                db.execute(
                    "UPDATE workspaces SET allow_training=? WHERE id=?",
                    (int(allow_training), workspace_id),
                )

        await self._run(update)
        found = await self.workspace(workspace_id)
        if found is None:
            raise NotFoundError("no such workspace")
        return found

    async def delete_workspace(self, workspace_id: WorkspaceId) -> None:
        def delete(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.execute("DELETE FROM members WHERE workspace_id=?", (workspace_id,))
                db.execute("DELETE FROM docs WHERE workspace_id=?", (workspace_id,))
                db.execute("DELETE FROM invites WHERE workspace_id=?", (workspace_id,))
                db.execute("DELETE FROM workspaces WHERE id=?", (workspace_id,))

        await self._run(delete)

    async def workspaces_of(self, user_id: UserId) -> list[tuple[Workspace, Role]]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT w.id, w.name, w.created_at, w.allow_training, m.role "
                "FROM members m JOIN workspaces w ON w.id = m.workspace_id "
                "WHERE m.user_id=? ORDER BY w.created_at, w.id",
                (user_id,),
            ).fetchall()
        )
        return [(_workspace(row[:4]), Role(row[4])) for row in rows]

    # -- members -------------------------------------------------------------------------------

    async def role(self, workspace_id: WorkspaceId, user_id: UserId) -> Role | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT role FROM members WHERE workspace_id=? AND user_id=?",
                (workspace_id, user_id),
            ).fetchone()
        )
        return None if row is None else Role(row[0])

    async def members(self, workspace_id: WorkspaceId) -> list[Member]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT u.id, u.username, u.created_at, m.role "
                "FROM members m JOIN users u ON u.id = m.user_id "
                "WHERE m.workspace_id=? ORDER BY u.username_key",
                (workspace_id,),
            ).fetchall()
        )
        return [Member(workspace_id, User(UserId(r[0]), r[1], r[2]), Role(r[3])) for r in rows]

    async def set_member(self, workspace_id: WorkspaceId, user_id: UserId, role: Role) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO members VALUES (?, ?, ?) "
                "ON CONFLICT (workspace_id, user_id) DO UPDATE SET role=excluded.role",
                (workspace_id, user_id, int(role)),
            )
        )

    async def remove_member(self, workspace_id: WorkspaceId, user_id: UserId) -> bool:
        cursor = await self._run(
            lambda db: db.execute(
                "DELETE FROM members WHERE workspace_id=? AND user_id=?", (workspace_id, user_id)
            )
        )
        return cursor.rowcount > 0

    # -- documents -----------------------------------------------------------------------------

    async def register_doc(
        self, doc_id: str, workspace_id: WorkspaceId, *, server_only: bool = False
    ) -> DocRecord:
        record = DocRecord(doc_id, workspace_id, server_only)

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO docs VALUES (?, ?, ?)",
                (doc_id, workspace_id, int(server_only)),
            )
            row = db.execute("SELECT workspace_id FROM docs WHERE doc_id=?", (doc_id,)).fetchone()
            if row[0] != workspace_id:
                raise ConflictError(f"document {doc_id} belongs to another workspace")

        await self._run(insert)
        return record

    async def doc(self, doc_id: str) -> DocRecord | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT doc_id, workspace_id, server_only FROM docs WHERE doc_id=?", (doc_id,)
            ).fetchone()
        )
        return None if row is None else DocRecord(row[0], WorkspaceId(row[1]), bool(row[2]))

    async def unregister_doc(self, doc_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM docs WHERE doc_id=?", (doc_id,)))

    # -- refresh tokens ------------------------------------------------------------------------

    async def store_refresh(self, token_id: str, user_id: UserId, expires_at: float) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO refresh_tokens VALUES (?, ?, ?)", (token_id, user_id, expires_at)
            )
        )

    async def take_refresh(self, token_id: str, now: float, grace_s: float = 0.0) -> UserId | None:
        # One statement: two refreshes racing with one token agree on what it allows.
        def take(db: sqlite3.Connection) -> UserId | None:
            row = db.execute(
                "UPDATE refresh_tokens SET expires_at = MIN(expires_at, ?)"
                " WHERE id=? AND expires_at > ? RETURNING user_id",
                (now + grace_s, token_id, now),
            ).fetchone()
            return None if row is None else UserId(row[0])

        return await self._run(take)

    async def revoke_refresh(self, token_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM refresh_tokens WHERE id=?", (token_id,)))

    async def store_invite(self, invite: InviteRecord) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO invites VALUES (?, ?, ?, ?, ?, ?)",
                (
                    invite.id,
                    invite.workspace_id,
                    invite.role,
                    invite.invited_by,
                    invite.created_at,
                    invite.expires_at,
                ),
            )
        )

    async def invite(self, invite_id: str) -> InviteRecord | None:
        row = await self._run(
            lambda db: db.execute("SELECT * FROM invites WHERE id=?", (invite_id,)).fetchone()
        )
        return None if row is None else _invite(row)

    async def invites(self, workspace_id: WorkspaceId) -> list[InviteRecord]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT * FROM invites WHERE workspace_id=? ORDER BY created_at, id",
                (workspace_id,),
            ).fetchall()
        )
        return [_invite(r) for r in rows]

    async def revoke_invite(self, workspace_id: WorkspaceId, invite_id: str) -> bool:
        cursor = await self._run(
            lambda db: db.execute(
                "DELETE FROM invites WHERE id=? AND workspace_id=?", (invite_id, workspace_id)
            )
        )
        return cursor.rowcount > 0

    async def delete_user(self, user_id: UserId) -> None:
        def work(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.execute("DELETE FROM users WHERE id=?", (user_id,))
                db.execute("DELETE FROM members WHERE user_id=?", (user_id,))
                db.execute("DELETE FROM refresh_tokens WHERE user_id=?", (user_id,))

        await self._run(work)

    async def revoke_all_refresh(self, user_id: UserId) -> None:
        await self._run(
            lambda db: db.execute("DELETE FROM refresh_tokens WHERE user_id=?", (user_id,))
        )


def _invite(row: tuple[Any, ...]) -> InviteRecord:
    return InviteRecord(
        str(row[0]),
        WorkspaceId(row[1]),
        str(row[2]),
        UserId(row[3]),
        float(row[4]),
        float(row[5]),
    )


def _workspace(row: tuple[object, ...]) -> Workspace:
    return Workspace(WorkspaceId(str(row[0])), str(row[1]), float(row[2]), bool(row[3]))  # type: ignore[arg-type]
