"""Reading a file's content: the current text of a text file's document, or its bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from .entries import Entry, Kind
from .errors import NotAFileError
from .service import Drive


@dataclass(frozen=True, slots=True)
class Download:
    entry: Entry
    content_type: str
    size: int | None
    chunks: AsyncIterator[bytes]


async def open_file(drive: Drive, ws: str, entry_id: str) -> Download:
    """A file's content as a stream: a text file's current text, or its stored bytes. The
    first read happens here, so a missing object is an error before any header is sent."""
    entry = await drive.entry(ws, entry_id)
    if entry.kind is Kind.FOLDER:
        raise NotAFileError("that is a folder: download it as a zip")
    if entry.kind is Kind.TEXT:
        assert entry.doc_id is not None
        data = (await drive.documents.read_text(entry.doc_id)).encode("utf-8")
        content_type = f"{entry.content_type or 'text/plain'}; charset=utf-8"
        return Download(entry, content_type, len(data), _once(data))
    assert entry.object_key is not None
    chunks = aiter(drive.objects.get(entry.object_key))
    first = await anext(chunks, b"")
    return Download(
        entry,
        entry.content_type or "application/octet-stream",
        entry.size,
        _then(first, chunks),
    )


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _then(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk
