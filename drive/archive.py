"""A folder as a zip archive: built into a spooled temporary file (memory stays bounded; the
archive is complete before the first byte is sent, so a failure is an HTTP error, not a
truncated download), then streamed out. Paths come from entry names, which cannot hold
``/``, ``\\``, ``.`` or ``..``: nothing unpacks outside its folder."""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from collections.abc import AsyncIterator
from typing import IO

from .entries import Kind
from .objects import CHUNK_BYTES
from .service import Drive
from .tree import TreeView

_SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024


async def zip_folder(drive: Drive, ws: str, folder_id: str) -> tuple[int, AsyncIterator[bytes]]:
    """The archive's size and its bytes; ``folder_id`` ROOT zips the whole drive."""
    await drive.listing(ws, folder_id)  # a live folder, or a DriveError
    view = TreeView(await drive.store.all(ws))
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
    try:
        with zipfile.ZipFile(spool, "w", allowZip64=True) as archive:
            for path, entry in view.live_files(folder_id):
                if entry.kind is Kind.FOLDER:
                    await asyncio.to_thread(archive.writestr, path + "/", b"")
                elif entry.kind is Kind.TEXT:
                    assert entry.doc_id is not None
                    text = await drive.documents.read_text(entry.doc_id)
                    await asyncio.to_thread(
                        archive.writestr, path, text.encode("utf-8"), zipfile.ZIP_DEFLATED
                    )
                else:
                    assert entry.object_key is not None
                    info = zipfile.ZipInfo(path, _date(entry.modified_at))
                    with archive.open(info, "w", force_zip64=True) as dest:
                        async for chunk in drive.objects.get(entry.object_key):
                            await asyncio.to_thread(dest.write, chunk)
        size = await asyncio.to_thread(spool.tell)
        await asyncio.to_thread(spool.seek, 0)
    except BaseException:
        spool.close()
        raise
    return size, _stream(spool)


def _date(timestamp: float) -> tuple[int, int, int, int, int, int]:
    import time

    moment = time.gmtime(max(timestamp, 315532800))  # zip dates start in 1980
    return moment[:6]  # type: ignore[return-value]


async def _stream(spool: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(spool.read, CHUNK_BYTES):
            yield chunk
    finally:
        spool.close()
