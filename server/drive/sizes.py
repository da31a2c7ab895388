"""Text files' sizes follow their documents: edits arrive as updates to the file's document,
not through the drive, so without this a file listed the size it was uploaded with forever
and the workspace's quota never saw it grow.

Updates are only noted on the room's path (a set insert); every ``interval_s`` the documents
edited since are measured and their entries saved, one write per document and period rather
than per keystroke. Each pod does this for the edits its own clients make."""

from __future__ import annotations

from typing import Any, Self

from pycrdt import Doc, Text

from drive.service import Drive
from server.access.directory import Directory
from server.periodic import Periodic
from sync.changes import AppliedUpdate
from sync.rooms import Rooms
from sync.types import DocId

_NOT_FILES_KEPT = 10_000


def _utf8_size(doc: Doc) -> int:
    return len(str(doc.get("content", type=Text)).encode("utf-8"))


class TextSizes:
    def __init__(
        self, drive: Drive, rooms: Rooms, directory: Directory, *, interval_s: float = 2.0
    ) -> None:
        self._drive = drive
        self._rooms = rooms
        self._directory = directory
        self._edited: dict[str, str | None] = {}  # doc id -> the last editor's user id
        self._not_files: set[str] = set()  # documents no drive entry points to
        self._periodic = Periodic(self.refresh, interval_s, "updating text files' sizes")

    async def __aenter__(self) -> Self:
        self._rooms.add_update_listener(self.on_update)
        await self._periodic.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._periodic.__aexit__(*exc_info)

    def on_update(self, applied: AppliedUpdate) -> None:
        doc_id = str(applied.doc_id)
        if ":" in doc_id or doc_id in self._not_files:
            return  # companion documents (suggestions, trees) are no files
        owner: Any = applied.peer.owner
        self._edited[doc_id] = getattr(owner, "user_id", None)

    async def refresh(self) -> None:
        """Measure the documents edited since the last call and save their entries."""
        edited, self._edited = self._edited, {}
        for doc_id, by in edited.items():
            try:
                record = await self._directory.doc(doc_id)
                if record is None:
                    continue  # deleted meanwhile
                size = await self._rooms.edit(DocId(doc_id), _utf8_size)
                entry = await self._drive.text_edited(str(record.workspace_id), doc_id, size, by)
            except Exception:
                self._edited.setdefault(doc_id, by)  # measured next period
                raise
            if entry is None:
                if len(self._not_files) >= _NOT_FILES_KEPT:
                    self._not_files.clear()
                self._not_files.add(doc_id)
