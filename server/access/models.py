"""What the directory stores: users, workspaces, memberships, documents, refresh tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import NewType

from .roles import Role

UserId = NewType("UserId", str)
WorkspaceId = NewType("WorkspaceId", str)


def new_id() -> str:
    """Random, unguessable ids (128 bits); never containing ``:``, which companion documents
    such as ``{doc_id}:suggestions`` use, and never starting with ``-``, which a command line
    (``tandem finetune promote WORKSPACE``) would take for an option."""
    while (found := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return found


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    username: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Credentials:
    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class Workspace:
    id: WorkspaceId
    name: str
    created_at: float
    allow_training: bool = True


@dataclass(frozen=True, slots=True)
class Member:
    workspace_id: WorkspaceId
    user: User
    role: Role


@dataclass(frozen=True, slots=True)
class InviteRecord:
    """An invite as the directory keeps it (the code itself is a signed bearer secret and
    is never stored): owners list and revoke these; sign-up checks the code's id is here."""

    id: str
    workspace_id: WorkspaceId
    role: str
    invited_by: UserId
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class DocRecord:
    """A document and the workspace it belongs to. ``server_only`` documents (a workspace's
    live tree, a document's suggestions) take no writes from clients, whatever their role."""

    doc_id: str
    workspace_id: WorkspaceId
    server_only: bool = False
