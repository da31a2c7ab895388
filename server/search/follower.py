"""Keeps the index following the workspaces' text files on this pod: what its clients edit
(the rooms' update listener), what the server itself changes in a document (an accepted
suggestion, a history restore: the rooms' change listener) and in a workspace's tree (a
create, upload, rename, move, trash, restore or delete publishes to ``tree:{ws}``, heard the
same way). Each ``refresh`` (every TANDEM_SEARCH_REFRESH_INTERVAL_S) indexes the documents
noted since, and brings the paths of each workspace whose tree changed in line.

In cluster mode the index is shared, so the pod that heard a change is the one that indexes
it and every pod (and worker) finds it."""

from __future__ import annotations

import logging

from assistant.knowledge.index import IndexedFile
from drive.entries import ROOT, Entry
from drive.service import Drive
from server.access.directory import Directory
from sync.changes import AppliedUpdate
from sync.rooms import Rooms
from sync.types import DocId

from .knowledge import WorkspaceKnowledge

log = logging.getLogger(__name__)

_TREE = "tree:"
_MAX_DEPTH = 1_000


class IndexFollower:
    def __init__(
        self, knowledge: WorkspaceKnowledge, drive: Drive, directory: Directory, rooms: Rooms
    ) -> None:
        self._knowledge = knowledge
        self._drive = drive
        self._directory = directory
        self._rooms = rooms
        self._edited: set[str] = set()
        self._trees: set[str] = set()
        rooms.add_update_listener(self.on_updates)
        rooms.add_change_listener(self.on_change)

    def on_updates(self, batch: list[AppliedUpdate]) -> None:
        for update in batch:
            if ":" not in update.doc_id:  # companion documents (suggestions, threads)
                self._edited.add(update.doc_id)

    def on_change(self, doc_id: DocId) -> None:
        if doc_id.startswith(_TREE):
            self._trees.add(doc_id.removeprefix(_TREE))
        elif ":" not in doc_id:
            self._edited.add(doc_id)

    async def refresh(self) -> None:
        """What was noted since the last call; what fails now is tried again next time."""
        self._rooms.tell_listeners()
        trees, self._trees = self._trees, set()
        edited, self._edited = self._edited, set()
        for workspace_id in trees:
            try:
                # A workspace never searched is indexed in full when it first is.
                if await self._knowledge.is_complete(workspace_id):
                    await self._knowledge.reconcile(workspace_id)
            except Exception:
                log.warning("cannot follow the tree of %s yet", workspace_id, exc_info=True)
                self._trees.add(workspace_id)
        for doc_id in edited:
            try:
                await self._reindex(doc_id)
            except Exception:
                log.warning("cannot index %s yet", doc_id, exc_info=True)
                self._edited.add(doc_id)

    async def _reindex(self, doc_id: str) -> None:
        record = await self._directory.doc(doc_id)
        if record is None:
            return  # deleted meanwhile
        workspace_id = str(record.workspace_id)
        entry = await self._drive.store.by_doc(workspace_id, doc_id)
        if entry is None:
            return  # no file's document
        path = await self._live_path(workspace_id, entry)
        if path is None:
            await self._knowledge.index.remove(workspace_id, entry.id)
            return
        text = await self._drive.documents.read_text(doc_id)
        await self._knowledge.put(IndexedFile(workspace_id, entry.id, doc_id, path), text)

    async def _live_path(self, workspace_id: str, entry: Entry) -> str | None:
        """The file's path, None when it or a folder above it is trashed or gone."""
        names = [entry.name]
        current: Entry | None = entry
        while current is not None and not current.trashed:
            if current.parent_id == ROOT:
                return "/".join(reversed(names))
            if len(names) > _MAX_DEPTH:
                return None
            current = await self._drive.store.get(workspace_id, current.parent_id)
            if current is not None:
                names.append(current.name)
        return None
