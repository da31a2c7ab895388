"""The drive's operations on one workspace's tree: checks first, then one change under the
workspace's lock, then the live feed. Every refused operation raises a DriveError before it
changes anything."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import replace

from .entries import ROOT, Entry, Kind, new_entry_id
from .errors import (
    CycleError,
    DriveError,
    EntryNotFoundError,
    NotAFolderError,
    NotInTrashError,
    QuotaExceededError,
    TooLargeError,
    TrashedError,
)
from .limits import DriveLimits, quota_message
from .names import check_name
from .objects import ObjectStore, new_object_key
from .ports import Documents, TreeFeed, WorkspaceLocks
from .text_files import binary_content_type, decode_text, looks_textual, text_content_type
from .tree import TreeView
from .tree_store import TreeStore

log = logging.getLogger(__name__)

_MAX_DEPTH = 10_000
_UNSET = object()


class Drive:
    def __init__(
        self,
        tree: TreeStore,
        objects: ObjectStore,
        documents: Documents,
        feed: TreeFeed,
        locks: WorkspaceLocks,
        limits: DriveLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = tree
        self.objects = objects
        self.documents = documents
        self.feed = feed
        self.locks = locks
        self.limits = limits or DriveLimits()
        self._clock = clock

    # -- reading -------------------------------------------------------------------------------

    async def entry(self, ws: str, entry_id: str) -> Entry:
        entry = await self.store.get(ws, entry_id) if entry_id else None
        if entry is None:
            raise EntryNotFoundError("no such file or folder")
        return entry

    async def listing(self, ws: str, parent_id: str) -> list[Entry]:
        await self._live_folder_chain(ws, parent_id)
        return await self.store.children(ws, parent_id)

    async def tree(self, ws: str) -> TreeView:
        """Every entry, and the live feed brought up to date with them: a client that opens
        the drive gets a feed it can trust even if a publish was lost before. Comparing needs
        no lock; only a repair takes it (and reads again), so readers do not queue writers."""
        entries = await self.store.all(ws)
        if not await self.feed.matches(ws, entries):
            async with self.locks.hold(ws):
                entries = await self.store.all(ws)
                await self.feed.reconcile(ws, entries)
        return TreeView(entries)

    async def trashed(self, ws: str) -> list[Entry]:
        """What users put in the trash (not what lies below it)."""
        return TreeView(await self.store.all(ws)).trashed()

    async def usage(self, ws: str) -> int:
        return await self.store.usage(ws)

    # -- creating ------------------------------------------------------------------------------

    async def create_folder(self, ws: str, parent_id: str, name: str, by: str) -> Entry:
        entry = self._new(ws, parent_id, check_name(name), Kind.FOLDER, by)
        async with self.locks.hold(ws):
            await self._live_folder_chain(ws, parent_id)
            await self.store.insert(entry)
            await self.feed.publish(ws, [entry], [])
        return entry

    async def create_text_file(
        self,
        ws: str,
        parent_id: str,
        name: str,
        by: str,
        text: str = "",
        content_type: str | None = None,
    ) -> Entry:
        name = check_name(name)
        size = len(text.encode("utf-8"))
        if size > self.limits.max_text_file_bytes:
            raise TooLargeError(f"text files are at most {self.limits.max_text_file_bytes} bytes")
        entry = replace(
            self._new(ws, parent_id, name, Kind.TEXT, by),
            size=size,
            content_type=text_content_type(name, content_type),
            doc_id=new_entry_id(),
        )
        async with self.locks.hold(ws):
            await self._live_folder_chain(ws, parent_id)
            await self._check_quota(ws, size)
            await self.store.insert(entry)
            try:
                assert entry.doc_id is not None
                await self.documents.create(entry.doc_id, ws, text)
            except BaseException:
                await self.store.delete(ws, [entry.id])
                raise
            await self.feed.publish(ws, [entry], [])
        return entry

    async def upload(
        self,
        ws: str,
        parent_id: str,
        name: str,
        content_type: str | None,
        chunks: AsyncIterable[bytes],
        by: str,
        declared_size: int | None = None,
    ) -> Entry:
        """A text file becomes a collaborative document; anything else is stored as bytes."""
        name = check_name(name)
        limits = self.limits
        if declared_size is not None and declared_size > limits.max_upload_bytes:
            raise TooLargeError(f"uploads are at most {limits.max_upload_bytes} bytes")
        await self._live_folder_chain(ws, parent_id)  # fail before reading any bytes
        room = limits.workspace_quota_bytes - await self.store.usage(ws)
        if declared_size is not None and declared_size > room:
            raise QuotaExceededError(quota_message(limits))
        stream = aiter(chunks)
        head = bytearray()
        if looks_textual(name, content_type) is not False:
            text_limit = min(limits.max_text_file_bytes, limits.max_upload_bytes)
            async for chunk in stream:
                head += chunk
                if len(head) > text_limit:
                    break
            else:
                text = decode_text(bytes(head))
                if text is not None:
                    return await self.create_text_file(ws, parent_id, name, by, text, content_type)
        return await self._upload_binary(
            ws, parent_id, name, content_type, bytes(head), stream, by, room
        )

    async def _upload_binary(
        self,
        ws: str,
        parent_id: str,
        name: str,
        content_type: str | None,
        head: bytes,
        stream: AsyncIterator[bytes],
        by: str,
        room: int,
    ) -> Entry:
        limits = self.limits

        async def everything() -> AsyncIterator[bytes]:
            if head:
                yield head
            async for chunk in stream:
                yield chunk

        key = new_object_key(ws)
        max_bytes = max(0, min(limits.max_upload_bytes, room))
        try:
            size = await self.objects.put(key, everything(), max_bytes=max_bytes)
        except TooLargeError:
            if room < limits.max_upload_bytes:
                raise QuotaExceededError(quota_message(limits)) from None
            raise TooLargeError(f"uploads are at most {limits.max_upload_bytes} bytes") from None
        entry = replace(
            self._new(ws, parent_id, name, Kind.BINARY, by),
            size=size,
            content_type=binary_content_type(name, content_type),
            object_key=key,
        )
        try:
            async with self.locks.hold(ws):
                await self._live_folder_chain(ws, parent_id)
                await self._check_quota(ws, size)
                await self.store.insert(entry)
                await self.feed.publish(ws, [entry], [])
        except BaseException:
            with contextlib.suppress(DriveError):  # the refusal matters more than the leftover
                await self.objects.delete(key)
            raise
        return entry

    # -- changing ------------------------------------------------------------------------------

    async def update(
        self,
        ws: str,
        entry_id: str,
        by: str,
        *,
        name: str | None = None,
        parent_id: object = _UNSET,
    ) -> Entry:
        """Rename and/or move. A folder cannot go into itself or below itself: the check
        walks the new parent's ancestors under the workspace's lock, so concurrent moves on
        other pods have either finished (and are seen) or not started."""
        new_name = check_name(name) if name is not None else None
        async with self.locks.hold(ws):
            entry = await self.entry(ws, entry_id)
            await self._require_live(ws, entry)
            target = entry.parent_id if parent_id is _UNSET else str(parent_id)
            if target != entry.parent_id:
                chain = await self._live_folder_chain(ws, target)
                if entry.id == target or any(folder.id == entry.id for folder in chain):
                    raise CycleError("a folder cannot move into itself or its own subfolder")
            changed = replace(
                entry,
                name=new_name if new_name is not None else entry.name,
                parent_id=target,
                modified_by=by,
                modified_at=self._clock(),
            )
            await self.store.save(changed)
            await self.feed.publish(ws, [changed], [])
        return changed

    async def text_edited(self, ws: str, doc_id: str, size: int, by: str | None) -> Entry | None:
        """A text file's document was edited (by ``by``, when known) and now holds ``size``
        bytes of UTF-8: the entry's size and modification follow. None when ``doc_id`` is no
        file's."""
        async with self.locks.hold(ws):
            entry = await self.store.by_doc(ws, doc_id)
            if entry is None:
                return None
            changed = replace(
                entry,
                size=size,
                modified_by=by or entry.modified_by,
                modified_at=self._clock(),
            )
            await self.store.save(changed)
            await self.feed.publish(ws, [changed], [])
        return changed

    async def trash(self, ws: str, entry_id: str, by: str) -> Entry:
        async with self.locks.hold(ws):
            entry = await self.entry(ws, entry_id)
            await self._require_live(ws, entry)
            trashed = replace(entry, trashed_at=self._clock(), trashed_by=by)
            await self.store.save(trashed)
            await self.feed.publish(ws, [trashed], [])
        return trashed

    async def restore(
        self,
        ws: str,
        entry_id: str,
        by: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
    ) -> Entry:
        """Back where it was, or at the top when that folder is gone or in the trash itself;
        a live sibling with the same name is a conflict (409): the caller may pass another
        ``name`` or ``parent_id``. Nothing is renamed behind the user's back."""
        new_name = check_name(name) if name is not None else None
        async with self.locks.hold(ws):
            entry = await self.entry(ws, entry_id)
            if not entry.trashed:
                raise NotInTrashError("only what is in the trash can be restored")
            if parent_id is not None:
                await self._live_folder_chain(ws, parent_id)
                target = parent_id
            else:
                target = entry.parent_id
                try:
                    await self._live_folder_chain(ws, target)
                except (EntryNotFoundError, TrashedError, NotAFolderError):
                    target = ROOT
            restored = replace(
                entry,
                parent_id=target,
                name=new_name or entry.name,
                trashed_at=None,
                trashed_by=None,
                modified_by=by,
                modified_at=self._clock(),
            )
            await self.store.save(restored)
            await self.feed.publish(ws, [restored], [])
        return restored

    async def purge(self, ws: str, entry_id: str) -> list[Entry]:
        """Deletes a trashed entry and everything below it for good: the entries first (so
        nothing points at missing bytes), then the bytes and documents. A crash in between
        leaves unreferenced bytes, never an entry without its content."""
        async with self.locks.hold(ws):
            entry = await self.entry(ws, entry_id)
            if not entry.trashed:
                raise NotInTrashError("move it to the trash first")
            doomed = TreeView(await self.store.all(ws)).subtree(entry.id)
            await self.store.delete(ws, [e.id for e in doomed])
            await self.feed.publish(ws, [], [e.id for e in doomed])
        await self._remove_contents(doomed)
        return doomed

    async def delete_workspace(self, ws: str) -> None:
        """The workspace is going away: its bytes, documents and entries."""
        async with self.locks.hold(ws):
            entries = await self.store.all(ws)
            await self.store.delete_workspace(ws)
        await self._remove_contents(entries)
        try:
            await self.objects.delete_prefix(f"drive/{ws}/")
        except DriveError:
            # Nothing refers to these bytes any more; the workspace can go on being deleted.
            log.exception("could not delete the objects of workspace %s", ws)

    async def _remove_contents(self, entries: list[Entry]) -> None:
        for entry in entries:
            try:
                if entry.object_key:
                    await self.objects.delete(entry.object_key)
                if entry.doc_id:
                    await self.documents.delete(entry.doc_id)
            except Exception:
                # The entry is gone already; leftover bytes or a registration are only waste.
                log.exception("could not remove the content of entry %s", entry.id)

    # -- checks --------------------------------------------------------------------------------

    def _new(self, ws: str, parent_id: str, name: str, kind: Kind, by: str) -> Entry:
        now = self._clock()
        return Entry(
            id=new_entry_id(),
            workspace_id=ws,
            parent_id=parent_id,
            name=name,
            kind=kind,
            created_by=by,
            created_at=now,
            modified_by=by,
            modified_at=now,
        )

    async def _live_folder_chain(self, ws: str, folder_id: str) -> list[Entry]:
        """The folder and its ancestors, checking it is a folder and nothing is trashed."""
        if folder_id == ROOT:
            return []
        folder = await self.store.get(ws, folder_id)
        if folder is None:
            raise EntryNotFoundError("no such folder")
        if not folder.is_folder:
            raise NotAFolderError(f"{folder.name!r} is not a folder")
        return [folder, *await self._require_live(ws, folder)]

    async def _require_live(self, ws: str, entry: Entry) -> list[Entry]:
        """The entry's ancestors; TrashedError when it or one of them is in the trash."""
        if entry.trashed:
            raise TrashedError(f"{entry.name!r} is in the trash")
        ancestors: list[Entry] = []
        parent_id = entry.parent_id
        while parent_id != ROOT:
            parent = await self.store.get(ws, parent_id)
            if parent is None or len(ancestors) > _MAX_DEPTH:
                raise EntryNotFoundError("the folder above it is gone")
            if parent.trashed:
                raise TrashedError(f"{parent.name!r} above it is in the trash")
            ancestors.append(parent)
            parent_id = parent.parent_id
        return ancestors

    async def _check_quota(self, ws: str, adding: int) -> None:
        if await self.store.usage(ws) + adding > self.limits.workspace_quota_bytes:
            raise QuotaExceededError(quota_message(self.limits))
