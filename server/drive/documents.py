"""Text files' collaborative documents, over the directory and the sync rooms."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pycrdt import Doc, Text

from drive.errors import DocumentUnavailableError
from server.access.directory import Directory
from server.access.models import WorkspaceId
from sync.peer import CloseCode
from sync.rooms import Rooms, RoomUnavailableError
from sync.store import StoreError
from sync.types import DocId

T = TypeVar("T")

CONTENT = "content"


class RoomDocuments:
    def __init__(self, rooms: Rooms, directory: Directory) -> None:
        self._rooms = rooms
        self._directory = directory

    async def create(self, doc_id: str, workspace_id: str, text: str) -> None:
        await self._directory.register_doc(doc_id, WorkspaceId(workspace_id))
        if not text:
            return

        def seed(doc: Doc) -> None:
            doc.get(CONTENT, type=Text).insert(0, text)

        await self._edit(doc_id, seed)

    async def read_text(self, doc_id: str) -> str:
        return await self._edit(doc_id, lambda doc: str(doc.get(CONTENT, type=Text)))

    async def delete(self, doc_id: str) -> None:
        """Unregistered, nobody can open it again; its peers on this pod are closed with
        4404 (a reconnect is refused alike; peers on other pods stay until they reconnect).
        Its history stays in the sync store, which never deletes."""
        await self._directory.unregister_doc(doc_id)
        room = self._rooms.get(DocId(doc_id))
        if room is not None:
            self._rooms.drop(room, CloseCode.NOT_FOUND, "the file was deleted")

    async def _edit(self, doc_id: str, change: Callable[[Doc], T]) -> T:
        try:
            return await self._rooms.edit(DocId(doc_id), change)
        except (StoreError, RoomUnavailableError) as exc:
            raise DocumentUnavailableError(f"the document is unavailable: {exc}") from exc
