"""What the tree holds: folders and files, each an entry with a parent (or the root)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

ROOT = ""
"""The parent id of top-level entries. Stores keep it as a string, not NULL, so a unique
index on (workspace, parent, name) also covers the root (SQLite treats NULLs as distinct)."""


class Kind(StrEnum):
    FOLDER = "folder"
    TEXT = "text"
    """A collaborative document: its text is the ``content`` Y.Text of ``doc_id``."""
    BINARY = "binary"
    """Bytes in object storage under ``object_key``."""


def new_entry_id() -> str:
    """Random, url-safe, never ``:`` (ids also appear in document ids), never a leading ``-``
    (which command lines take for an option)."""
    while (found := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return found


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    workspace_id: str
    parent_id: str
    name: str
    kind: Kind
    created_by: str
    created_at: float
    modified_by: str
    modified_at: float
    size: int = 0
    content_type: str | None = None
    doc_id: str | None = None
    object_key: str | None = None
    trashed_at: float | None = None
    """Set on the entry the user trashed; what lies below it stays as it was and is hidden
    with it. ``parent_id`` is kept, so a restore knows where it came from."""
    trashed_by: str | None = None

    @property
    def is_folder(self) -> bool:
        return self.kind is Kind.FOLDER

    @property
    def trashed(self) -> bool:
        return self.trashed_at is not None

    @property
    def slot(self) -> str:
        """The name as the uniqueness index sees it: trashed entries get a slot of their own
        (no name contains '/'), so only live siblings compete for a name. Not NUL: SQLite
        based servers (nx-27017) cut strings at NUL."""
        return self.name if self.trashed_at is None else f"/trash/{self.id}"

    def to_json(self) -> dict[str, Any]:
        """For the API and the live tree: no object key (an internal detail)."""
        return {
            "id": self.id,
            "parent_id": self.parent_id or None,
            "name": self.name,
            "kind": self.kind.value,
            "size": self.size,
            "content_type": self.content_type,
            "doc_id": self.doc_id,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "modified_by": self.modified_by,
            "modified_at": self.modified_at,
            "trashed_at": self.trashed_at,
            "trashed_by": self.trashed_by,
        }
