"""The embedded store's front log: a plain append-only file beside the SQLite database that
takes each update in one ``write()`` before the update is relayed, so no client's edit waits
for a SQLite transaction. The store moves what it holds into SQLite in batches and empties it.

A ``write()`` into the page cache survives ``kill -9`` exactly as a WAL commit with
``synchronous=NORMAL`` does; with ``fsync=True`` each record is also flushed to the disk.

Record: ``u32 length, u32 crc32, payload`` with payload ``i64 seq, f64 created, u16 doc id
length, u16 origin length, doc id, origin, update``. A crash can leave at most the last record
torn; the checksum finds it and reading stops there. A torn record's append never returned, so
nobody was ever shown its update.

One process owns the file (``flock``): a second server on the same data directory is refused.
Readers such as ``tandem finetune`` take no lock: they decode the file as it is, and stop at
the record being written.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

_FRAME = struct.Struct("<II")
_HEAD = struct.Struct("<qdHH")


class FrontLogBusy(Exception):
    """Another process owns the front log."""


class FrontLogWriteError(Exception):
    """A record could not be written whole; the file is as it was before."""


class Record(NamedTuple):
    """One update as the store keeps it: the same tuple the store holds until it is drained."""

    seq: int
    doc_id: str
    origin: str
    update: bytes
    created: float


def encode_record(record: Record) -> bytes:
    return _encode(*record)


def _encode(seq: int, doc_id: str, origin: str, update: bytes, created: float) -> bytes:
    doc = doc_id.encode()
    source = origin.encode()
    payload = _HEAD.pack(seq, created, len(doc), len(source)) + doc + source + update
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def decode_records(data: bytes) -> tuple[list[Record], int]:
    """The whole records at the start of ``data`` and the length they take; what follows is
    a torn or corrupt tail."""
    records: list[Record] = []
    at = 0
    while at + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, at)
        start = at + _FRAME.size
        payload = data[start : start + length]
        if len(payload) < length or length < _HEAD.size or zlib.crc32(payload) != crc:
            break
        seq, created, doc_len, origin_len = _HEAD.unpack_from(payload)
        body = _HEAD.size
        if body + doc_len + origin_len > length:
            break
        doc = payload[body : body + doc_len].decode()
        origin = payload[body + doc_len : body + doc_len + origin_len].decode()
        update = payload[body + doc_len + origin_len :]
        records.append(Record(seq, doc, origin, update, created))
        at = start + length
    return records, at


class FrontLog:
    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FrontLogBusy(f"{path} is in use by another process") from None
        self._fd = fd
        self._size = os.fstat(fd).st_size
        self._broken = False

    def read(self) -> list[Record]:
        """Every whole record in the file; a torn tail is cut off so later appends follow the
        last whole record."""
        with open(self.path, "rb") as f:
            data = f.read()
        records, whole = decode_records(data)
        if whole < len(data):
            log.warning(
                "%s: dropping a torn tail of %d bytes after %d records",
                self.path.name,
                len(data) - whole,
                len(records),
            )
            self._truncate(whole)
        return records

    def write(self, seq: int, doc_id: str, origin: str, update: bytes, created: float) -> None:
        """Append one record (``Record``'s fields: the append path builds no object for it)."""
        if self._broken:
            raise FrontLogWriteError(f"{self.path.name} holds a torn record that could not be cut")
        data = _encode(seq, doc_id, origin, update, created)
        try:
            written = os.write(self._fd, data)
            if written == len(data) and self._fsync:
                os.fdatasync(self._fd)
        except OSError as exc:
            self._undo()
            raise FrontLogWriteError(str(exc)) from exc
        if written != len(data):
            self._undo()
            raise FrontLogWriteError(f"short write: {written} of {len(data)} bytes")
        self._size += written

    def clear(self) -> None:
        """Empty the file; only once everything in it is safe elsewhere."""
        self._truncate(0)

    def _undo(self) -> None:
        """Cut a partly written record so the next one follows the last whole one. Should that
        fail too, nothing more is written: a reader stops at torn bytes, and would never reach
        records written after them."""
        try:
            self._truncate(self._size)
        except OSError:
            log.exception("%s: cannot cut a partly written record", self.path.name)
            self._broken = True

    def _truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)
        self._size = size

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)  # closing releases the lock
