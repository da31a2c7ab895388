"""The retrieval object: a workspace's live text files in the index, indexed in full the
first time the workspace is searched, then kept up to date by the follower (pods only).

It needs only the index, the workspace's entries and a way to read a document's text, so a
``tandem assistant`` worker builds one over MongoDB and the document store like a pod."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pycrdt import Doc, Text

from assistant.knowledge.index import IndexedFile, SearchIndex
from assistant.knowledge.passages import Passage, question_query, search_query
from drive.entries import ROOT, Entry, Kind
from drive.tree import TreeView
from sync.store import DocumentStore
from sync.types import DocId

log = logging.getLogger(__name__)

Entries = Callable[[str], Awaitable[list[Entry]]]
ReadText = Callable[[str], Awaitable[str]]
CONTENT = "content"


def stored_text(store: DocumentStore) -> ReadText:
    """A document's text as its store holds it, without opening a room (a first indexing
    reads every file once; rooms would keep each loaded for their grace time)."""

    async def read(doc_id: str) -> str:
        loaded = await store.load(DocId(doc_id))
        doc = Doc()
        for update in loaded.updates:
            doc.apply_update(update)
        return str(doc.get(CONTENT, type=Text))

    return read


def live_text_files(entries: list[Entry]) -> dict[str, tuple[str, Entry]]:
    """file id -> (path, entry) for each text file nothing above is trashed."""
    return {
        entry.id: (path, entry)
        for path, entry in TreeView(entries).live_files(ROOT)
        if entry.kind is Kind.TEXT and entry.doc_id
    }


class WorkspaceKnowledge:
    def __init__(
        self, index: SearchIndex, entries: Entries, read_text: ReadText, *, concurrency: int = 4
    ) -> None:
        self.index = index
        self._entries = entries
        self._read_text = read_text
        self._reading = asyncio.Semaphore(max(1, concurrency))
        self._complete: set[str] = set()
        self._backfills: dict[str, asyncio.Task[None]] = {}

    async def retrieve(self, workspace_id: str, query: str, limit: int = 12) -> list[Passage]:
        """The answerer's retrieval: passages for a question, best first."""
        await self.ensure_indexed(workspace_id)
        return await self.index.search(workspace_id, question_query(query), limit=limit)

    async def search(self, workspace_id: str, query: str, *, limit: int) -> list[Passage]:
        """The search box: passages holding every word, best first."""
        await self.ensure_indexed(workspace_id)
        return await self.index.search(workspace_id, search_query(query), limit=limit)

    async def is_complete(self, workspace_id: str) -> bool:
        if workspace_id in self._complete:
            return True
        if await self.index.complete(workspace_id):
            self._complete.add(workspace_id)
            return True
        return False

    async def ensure_indexed(self, workspace_id: str) -> None:
        """Indexes every live text file once (one run per workspace and process at a time;
        the callers all wait for it), then marks the workspace done in the index."""
        if await self.is_complete(workspace_id):
            return
        task = self._backfills.get(workspace_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._backfill(workspace_id))
            self._backfills[workspace_id] = task
            task.add_done_callback(lambda _: self._backfills.pop(workspace_id, None))
        await asyncio.shield(task)

    async def _backfill(self, workspace_id: str) -> None:
        await self.reconcile(workspace_id)
        await self.index.mark_complete(workspace_id)
        self._complete.add(workspace_id)
        # A rename or trash between the first pass's read and the mark was heard by a
        # follower that saw the workspace incomplete and let it be: catch it now.
        await self.reconcile(workspace_id)

    async def reconcile(self, workspace_id: str) -> None:
        """The index holds exactly the live text files, under their current paths: gone or
        trashed ones are removed, moved ones get their path, new or restored ones are read."""
        live = live_text_files(await self._entries(workspace_id))
        indexed = await self.index.files(workspace_id)
        for file_id in indexed.keys() - live.keys():
            await self.index.remove(workspace_id, file_id)
        for file_id, (path, _) in live.items():
            if file_id in indexed and indexed[file_id] != path:
                await self.index.move(workspace_id, file_id, path)
        missing = [live[file_id] for file_id in live.keys() - indexed.keys()]
        await asyncio.gather(*(self._put(workspace_id, path, entry) for path, entry in missing))

    async def _put(self, workspace_id: str, path: str, entry: Entry) -> None:
        assert entry.doc_id is not None
        async with self._reading:
            try:
                text = await self._read_text(entry.doc_id)
            except Exception:
                log.warning("cannot read %s to index it", entry.doc_id, exc_info=True)
                return
        await self.put(IndexedFile(workspace_id, entry.id, entry.doc_id, path), text)

    async def put(self, file: IndexedFile, text: str) -> None:
        await self.index.put(file, text)

    async def delete_workspace(self, workspace_id: str) -> None:
        self._complete.discard(workspace_id)
        await self.index.remove_workspace(workspace_id)
