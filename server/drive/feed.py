"""The live tree: a server-written document per workspace (``tree:{workspace}``), its Y.Map
``entries`` holding every entry (trashed ones too, with ``trashed_at``) by id as JSON. The
directory registers it ``server_only``: members read it with a stock WebsocketProvider and
the sync endpoint drops anything they write. A client shows an entry when neither it nor a
folder above it has ``trashed_at``."""

from __future__ import annotations

import logging
from typing import Any

from pycrdt import Doc, Map

from drive.entries import Entry
from server.access.directory import Directory
from server.access.models import WorkspaceId
from sync.rooms import Rooms
from sync.types import DocId

log = logging.getLogger(__name__)

ENTRIES = "entries"


def tree_doc_id(workspace_id: str) -> str:
    return f"tree:{workspace_id}"


class RoomTreeFeed:
    def __init__(self, rooms: Rooms, directory: Directory) -> None:
        self._rooms = rooms
        self._directory = directory
        self._registered: set[str] = set()

    def doc_id(self, workspace_id: str) -> str:
        return tree_doc_id(workspace_id)

    async def _ensure_registered(self, workspace_id: str) -> None:
        if workspace_id not in self._registered:
            await self._directory.register_doc(
                tree_doc_id(workspace_id), WorkspaceId(workspace_id), server_only=True
            )
            self._registered.add(workspace_id)

    async def publish(self, workspace_id: str, changed: list[Entry], removed: list[str]) -> None:
        def change(doc: Doc) -> None:
            entries = doc.get(ENTRIES, type=Map)
            for entry in changed:
                entries[entry.id] = entry.to_json()
            for entry_id in removed:
                if entry_id in entries:
                    del entries[entry_id]

        try:
            await self._ensure_registered(workspace_id)
            await self._rooms.edit(DocId(tree_doc_id(workspace_id)), change)
        except Exception:
            # The change itself is stored; the next reconcile (a member opening the drive)
            # brings the feed back in line.
            log.exception("could not publish a tree change of workspace %s", workspace_id)

    async def matches(self, workspace_id: str, entries: list[Entry]) -> bool:
        if workspace_id not in self._registered:
            return False  # the first read on this pod also makes sure the feed is registered
        wanted = {entry.id: entry.to_json() for entry in entries}
        try:
            # Yjs numbers come back as floats; 3 == 3.0, so equal entries compare equal.
            held = await self._rooms.edit(
                DocId(tree_doc_id(workspace_id)), lambda doc: doc.get(ENTRIES, type=Map).to_py()
            )
        except Exception:
            log.exception("could not read the tree of workspace %s", workspace_id)
            return True
        return held == wanted

    async def reconcile(self, workspace_id: str, entries: list[Entry]) -> None:
        wanted: dict[str, dict[str, Any]] = {entry.id: entry.to_json() for entry in entries}

        def change(doc: Doc) -> None:
            current = doc.get(ENTRIES, type=Map)
            for entry_id in [key for key in current if key not in wanted]:
                del current[entry_id]
            for entry_id, value in wanted.items():
                if current.get(entry_id) != value:
                    current[entry_id] = value

        try:
            await self._ensure_registered(workspace_id)
            await self._rooms.edit(DocId(tree_doc_id(workspace_id)), change)
        except Exception:
            log.exception("could not reconcile the tree of workspace %s", workspace_id)
