"""The embedded store's front log: plain append-only files beside the SQLite database that
take each update in one ``write()`` before the update is relayed, so no client's edit waits
for a SQLite transaction. The store moves what they hold into SQLite in batches.

Two files take turns. Appends go to the active one. The store swaps them and, a turn later,
moves the records of the one it left that no compaction has folded into SQLite (over several
turns of the event loop), then empties it: appends made meanwhile land in the active file,
so a drain never empties a file that holds a record it did not move.

A ``write()`` into the page cache survives ``kill -9`` exactly as a WAL commit with
``synchronous=NORMAL`` does; with ``fsync=True`` each record is also flushed to the disk.

Record: ``u32 length, u32 crc32, payload`` with payload ``i64 seq, f64 created, u16 doc id
length, u16 origin length, doc id, origin, update``. A crash can leave at most the last record
of the active file torn; the checksum finds it and reading stops there. A torn record's append
never returned, so nobody was ever shown its update.

One process owns the files (``flock`` on the first): a second server on the same data
directory is refused. Readers such as ``tandem finetune`` take no lock: they decode the files
as they are (``read_front_logs``), and stop at the record being written.
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


def front_log_paths(db_path: Path) -> tuple[Path, Path]:
    """The two files of the front log of the database at ``db_path``."""
    return db_path.with_name(db_path.name + "-front"), db_path.with_name(db_path.name + "-front2")


def read_front_logs(db_path: Path) -> list[Record]:
    """What the front log of the database at ``db_path`` holds, in seq order, as a reader sees
    it: a torn tail is the writer's record being written, whose append has not returned."""
    records: list[Record] = []
    for path in front_log_paths(db_path):
        with contextlib.suppress(FileNotFoundError):
            records += decode_records(path.read_bytes())[0]
    records.sort()  # by seq, which is unique: nothing else is compared
    return records


class _File:
    """One of the two files: appends go to its end; a failed write is cut off again."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        self.size = os.fstat(fd).st_size

    def truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)
        self.size = size


class FrontLog:
    def __init__(self, db_path: Path, *, fsync: bool = False) -> None:
        self._fsync = fsync
        first, second = front_log_paths(db_path)
        fd = _open(first)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FrontLogBusy(f"{first} is in use by another process") from None
        try:
            self._files = (_File(fd, first), _File(_open(second), second))
        except OSError:
            os.close(fd)
            raise
        self._active = 0
        self._broken = False

    def read(self) -> list[Record]:
        """Every whole record of both files, in seq order; a torn tail is cut off so later
        appends follow the last whole record."""
        records: list[Record] = []
        for file in self._files:
            data = file.path.read_bytes()
            whole_records, whole = decode_records(data)
            if whole < len(data):
                log.warning(
                    "%s: dropping a torn tail of %d bytes after %d records",
                    file.path.name,
                    len(data) - whole,
                    len(whole_records),
                )
                file.truncate(whole)
            records += whole_records
        records.sort()
        return records

    @property
    def active_bytes(self) -> int:
        return self._files[self._active].size

    def write(self, seq: int, doc_id: str, origin: str, update: bytes, created: float) -> int:
        """Append one record (``Record``'s fields: the append path builds no object for it)
        to the active file; how many bytes that file holds now."""
        if self._broken:
            raise FrontLogWriteError("the front log holds a torn record that could not be cut")
        file = self._files[self._active]
        data = _encode(seq, doc_id, origin, update, created)
        try:
            written = os.write(file.fd, data)
            if written == len(data) and self._fsync:
                os.fdatasync(file.fd)
        except OSError as exc:
            self._undo(file)
            raise FrontLogWriteError(str(exc)) from exc
        if written != len(data):
            self._undo(file)
            raise FrontLogWriteError(f"short write: {written} of {len(data)} bytes")
        file.size += written
        return file.size

    def swap(self) -> None:
        """Make the other file the active one: what the active one holds now is the next
        drain's to move."""
        self._active ^= 1

    def clear_inactive(self) -> None:
        """Empty the file appends do not go to; only once everything in it is safe elsewhere."""
        self._files[self._active ^ 1].truncate(0)

    def clear(self) -> None:
        """Empty both files; only once everything in them is safe elsewhere."""
        for file in self._files:
            file.truncate(0)

    def _undo(self, file: _File) -> None:
        """Cut a partly written record so the next one follows the last whole one. Should that
        fail too, nothing more is written: a reader stops at torn bytes, and would never reach
        records written after them."""
        try:
            file.truncate(file.size)
        except OSError:
            log.exception("%s: cannot cut a partly written record", file.path.name)
            self._broken = True

    def close(self) -> None:
        for file in self._files:
            with contextlib.suppress(OSError):
                os.close(file.fd)  # closing the first releases the lock


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
