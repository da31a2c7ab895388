"""The port every search index implements (SQLite FTS5 embedded, MongoDB ``$text`` in a
cluster): it keeps the passages of each live text file of a workspace under the file's
current path and ranks them for a query, never across workspaces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .passages import Passage, Query


@dataclass(frozen=True)
class IndexedFile:
    """Which file a text belongs to; ``path`` is its current path in the workspace."""

    workspace_id: str
    file_id: str
    doc_id: str
    path: str


class SearchIndex(Protocol):
    async def put(self, file: IndexedFile, text: str) -> None:
        """Replaces whatever the index held for ``file.file_id`` with this text's passages."""
        ...

    async def remove(self, workspace_id: str, file_id: str) -> None:
        """Forgets the file (trashed or deleted); nothing when it was not indexed."""
        ...

    async def move(self, workspace_id: str, file_id: str, path: str) -> None:
        """The file's new path (renamed or moved); nothing when it was not indexed."""
        ...

    async def remove_workspace(self, workspace_id: str) -> None:
        """Forgets every file of the workspace and that it was ever fully indexed."""
        ...

    async def search(
        self, workspace_id: str, query: Query, *, limit: int, offset: int = 0
    ) -> list[Passage]:
        """The workspace's passages that match, best first (``score`` higher is better),
        ``limit`` of them after skipping ``offset``; [] for an empty query."""
        ...

    async def files(self, workspace_id: str) -> dict[str, str]:
        """file id -> the path indexed for it, for every file of the workspace."""
        ...

    async def complete(self, workspace_id: str) -> bool:
        """Whether every text file the workspace had was indexed once (``mark_complete``)."""
        ...

    async def mark_complete(self, workspace_id: str) -> None: ...

    async def aclose(self) -> None: ...
