"""The port for tree metadata: SQLite in the embedded default, MongoDB in cluster mode. One
contract suite (tests/drive/test_tree_store_contract.py) runs against both.

Stores check nothing about the shape of the tree (cycles, live parents): the service does,
under the workspace's lock. What a store must guarantee on its own is name uniqueness among
live siblings, with a unique index, so two pods creating the same name cannot both win."""

from __future__ import annotations

from typing import Protocol

from .entries import Entry


class TreeStore(Protocol):
    async def insert(self, entry: Entry) -> None:
        """Raises NameTakenError when a live sibling has the name."""
        ...

    async def save(self, entry: Entry) -> None:
        """Replaces the stored entry of that id and workspace. Raises NameTakenError, and
        EntryNotFoundError when there is no such entry."""
        ...

    async def get(self, workspace_id: str, entry_id: str) -> Entry | None:
        """Only within the workspace: another workspace's id is not found."""
        ...

    async def by_doc(self, workspace_id: str, doc_id: str) -> Entry | None:
        """The text file whose collaborative document is ``doc_id``, trashed or not."""
        ...

    async def children(self, workspace_id: str, parent_id: str) -> list[Entry]:
        """Untrashed entries directly under ``parent_id``, by name."""
        ...

    async def all(self, workspace_id: str) -> list[Entry]:
        """Every entry of the workspace, trashed ones included."""
        ...

    async def delete(self, workspace_id: str, entry_ids: list[str]) -> None: ...

    async def usage(self, workspace_id: str) -> int:
        """Bytes the workspace's files take, trashed ones included (their bytes remain)."""
        ...

    async def delete_workspace(self, workspace_id: str) -> None: ...

    async def aclose(self) -> None: ...
