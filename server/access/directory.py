"""The port for accounts and workspaces: SQLite in the embedded default, MongoDB in cluster
mode. One contract suite (tests/access/test_directory_contract.py) runs against both."""

from __future__ import annotations

from typing import Protocol

from .models import (
    Credentials,
    DocRecord,
    InviteRecord,
    Member,
    User,
    UserId,
    Workspace,
    WorkspaceId,
)
from .roles import Role


class Directory(Protocol):
    # -- users ---------------------------------------------------------------------------------
    async def create_user(self, username: str, password_hash: str) -> User:
        """Raises ConflictError when the username is taken (case-insensitively)."""
        ...

    async def credentials(self, username: str) -> Credentials | None: ...

    async def user(self, user_id: UserId) -> User | None: ...

    async def user_by_name(self, username: str) -> User | None: ...

    async def delete_user(self, user_id: UserId) -> None:
        """Removes the account, its memberships and its refresh tokens. Idempotent. The
        caller checks first that no workspace is left without an owner."""
        ...

    # -- workspaces ----------------------------------------------------------------------------
    async def create_workspace(self, name: str, owner: UserId) -> Workspace:
        """Creates the workspace with ``owner`` as its first owner."""
        ...

    async def workspace(self, workspace_id: WorkspaceId) -> Workspace | None: ...

    async def update_workspace(
        self,
        workspace_id: WorkspaceId,
        *,
        name: str | None = None,
        allow_training: bool | None = None,
    ) -> Workspace:
        """Raises NotFoundError."""
        ...

    async def delete_workspace(self, workspace_id: WorkspaceId) -> None:
        """Removes the workspace, its members and its document records. Idempotent."""
        ...

    async def workspaces_of(self, user_id: UserId) -> list[tuple[Workspace, Role]]: ...

    # -- members -------------------------------------------------------------------------------
    async def role(self, workspace_id: WorkspaceId, user_id: UserId) -> Role | None: ...

    async def members(self, workspace_id: WorkspaceId) -> list[Member]: ...

    async def set_member(self, workspace_id: WorkspaceId, user_id: UserId, role: Role) -> None:
        """Adds or changes a membership."""
        ...

    async def remove_member(self, workspace_id: WorkspaceId, user_id: UserId) -> bool:
        """False when there was no such member."""
        ...

    # -- documents -----------------------------------------------------------------------------
    async def register_doc(
        self, doc_id: str, workspace_id: WorkspaceId, *, server_only: bool = False
    ) -> DocRecord:
        """Records which workspace a document belongs to. Idempotent for the same workspace;
        raises ConflictError when the id belongs to another workspace."""
        ...

    async def doc(self, doc_id: str) -> DocRecord | None:
        """A primary-key lookup: called on every websocket upgrade."""
        ...

    async def unregister_doc(self, doc_id: str) -> None: ...

    # -- invites -------------------------------------------------------------------------------

    async def store_invite(self, invite: InviteRecord) -> None: ...

    async def invite(self, invite_id: str) -> InviteRecord | None: ...

    async def invites(self, workspace_id: WorkspaceId) -> list[InviteRecord]:
        """The workspace's invites, oldest first (expired ones too, until deleted)."""
        ...

    async def revoke_invite(self, workspace_id: WorkspaceId, invite_id: str) -> bool:
        """False when the workspace has no such invite."""
        ...

    # -- refresh tokens (sign-out revokes them) ------------------------------------------------
    async def store_refresh(self, token_id: str, user_id: UserId, expires_at: float) -> None: ...

    async def take_refresh(self, token_id: str, now: float, grace_s: float = 0.0) -> UserId | None:
        """Uses a refresh token (rotation) and returns its user, or None when it is unknown,
        revoked or expired. Its first use leaves it valid for ``grace_s`` more (never longer
        than it had): a page that reloads, or a second tab, while a rotation's answer is on
        its way presents the same token again and must not be signed out."""
        ...

    async def revoke_refresh(self, token_id: str) -> None: ...

    async def revoke_all_refresh(self, user_id: UserId) -> None: ...

    async def aclose(self) -> None: ...
