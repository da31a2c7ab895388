"""A folder as a zip archive, sent as it is written.

Nothing is spooled. Memory and disk hold about one chunk, whatever the folder holds: a
whole-drive archive built first would have to fit somewhere, and the pod's /tmp is a small
emptyDir, which a 1 GiB workspace would overflow and get the pod evicted along with every
connection on it. The archive's size is therefore not known up front (no Content-Length).
The folder is checked before the first byte, so a missing or trashed one is still an HTTP
error. A failure later (a store gone mid-way) aborts the response, which a client sees as a
failed download, never as a whole-looking short archive.

Paths come from entry names, which cannot hold ``/``, ``\\``, ``.`` or ``..``: nothing
unpacks outside its folder."""

from __future__ import annotations

import asyncio
import time
import zipfile
from collections.abc import AsyncIterator

from .entries import Kind
from .service import Drive
from .tree import TreeView


class _Pipe:
    """What zipfile writes into, kept until the response takes it. It has no ``seek``, so
    zipfile writes each member's sizes after its data (a data descriptor)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


async def zip_folder(drive: Drive, ws: str, folder_id: str) -> AsyncIterator[bytes]:
    """The archive's bytes, as they are made; ``folder_id`` ROOT zips the whole drive.
    Raises a DriveError here, before any byte, for a folder that is not there."""
    await drive.listing(ws, folder_id)  # a live folder, or a DriveError
    view = TreeView(await drive.store.all(ws))
    return _archive(drive, view, folder_id)


async def _archive(drive: Drive, view: TreeView, folder_id: str) -> AsyncIterator[bytes]:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", allowZip64=True) as archive:  # type: ignore[arg-type]
        for path, entry in view.live_files(folder_id):
            if entry.kind is Kind.FOLDER:
                archive.writestr(path + "/", b"")
            elif entry.kind is Kind.TEXT:
                assert entry.doc_id is not None
                text = await drive.documents.read_text(entry.doc_id)
                await asyncio.to_thread(  # deflating is CPU work: off the event loop
                    archive.writestr, path, text.encode("utf-8"), zipfile.ZIP_DEFLATED
                )
            else:
                assert entry.object_key is not None
                info = zipfile.ZipInfo(path, _date(entry.modified_at))
                with archive.open(info, "w", force_zip64=True) as member:
                    async for chunk in drive.objects.get(entry.object_key):
                        await asyncio.to_thread(member.write, chunk)
                        if written := pipe.take():
                            yield written
            if written := pipe.take():
                yield written
    yield pipe.take()  # the central directory, written as the archive closed


def _date(timestamp: float) -> tuple[int, int, int, int, int, int]:
    moment = time.gmtime(max(timestamp, 315532800))  # zip dates start in 1980
    return moment[:6]  # type: ignore[return-value]
