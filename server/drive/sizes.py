"""Text files' sizes follow their documents: edits arrive as updates to the file's document,
not through the drive, so without this a file listed the size it was uploaded with forever
and the workspace's quota never saw it grow.

``on_updates`` (a rooms' update listener, heard in batches) only notes the documents; each
``refresh`` (run periodically by the wiring) measures the documents edited since and saves
their entries: one write per document and period rather than per keystroke. Each pod does
this for the edits its own clients make."""

from __future__ import annotations

import logging
from typing import Any

from drive.service import Drive
from server.access.directory import Directory
from sync.changes import AppliedUpdate
from sync.rooms import Rooms

log = logging.getLogger(__name__)

_NOT_FILES_KEPT = 10_000


class TextSizes:
    def __init__(self, drive: Drive, directory: Directory, rooms: Rooms) -> None:
        self._drive = drive
        self._directory = directory
        self._rooms = rooms
        rooms.add_update_listener(self.on_updates)
        self._edited: dict[str, str | None] = {}  # doc id -> the last editor's user id
        self._not_files: set[str] = set()  # documents no drive entry points to

    def on_updates(self, batch: list[AppliedUpdate]) -> None:
        for doc_id, peer, _, _ in batch:
            if ":" in doc_id or doc_id in self._not_files:
                continue  # companion documents (suggestions, trees) are no files
            owner: Any = peer.owner
            self._edited[doc_id] = getattr(owner, "user_id", None)

    async def refresh(self) -> None:
        """Measure the documents edited since the last call and save their entries; one that
        cannot be measured now is tried again next time, without holding up the others."""
        self._rooms.tell_listeners()
        edited, self._edited = self._edited, {}
        for doc_id, by in edited.items():
            try:
                await self._measure(doc_id, by)
            except Exception:
                log.warning("cannot update the size of %s yet", doc_id, exc_info=True)
                self._edited.setdefault(doc_id, by)

    async def _measure(self, doc_id: str, by: str | None) -> None:
        record = await self._directory.doc(doc_id)
        if record is None:
            return  # deleted meanwhile
        size = len((await self._drive.documents.read_text(doc_id)).encode("utf-8"))
        if await self._drive.text_edited(str(record.workspace_id), doc_id, size, by) is None:
            if len(self._not_files) >= _NOT_FILES_KEPT:
                self._not_files.clear()
            self._not_files.add(doc_id)
