"""The embedded store's front log: append-only files beside the SQLite database, mapped into
memory, that take each update as one copy into the mapping before the update is relayed, so no
client's edit waits for a SQLite transaction or a system call. The store moves what they hold
into SQLite in batches.

Two files take turns. Appends go to the active one. The store swaps them and, a turn later,
moves the records of the one it left that no compaction has folded into SQLite (over several
turns of the event loop), then empties it: appends made meanwhile land in the active file,
so a drain never empties a file that holds a record it did not move.

The mapping is shared: a record copied into it is in the page cache at once, and survives
``kill -9`` exactly as a WAL commit with ``synchronous=NORMAL`` does; with ``fsync=True`` each
record is also flushed to the disk (``msync``).

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
import mmap
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


_GROWTH = 4 * 1024 * 1024
"""A file grows by this much at a time, its blocks reserved then (``_reserve``): a full disk
fails the append that needed them, never a store into the mapping (which would be SIGBUS)."""


class _File:
    """One of the two files, mapped into memory. An append copies its record into the mapping
    after the last whole record: a store into the page cache, where ``write()`` would be a
    system call, and on ext4 a journalled change of the file's mtime, for every update. The
    file's length is its capacity; the tail past the records is zeros, where readers stop."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        self.size = 0
        """Where the next record goes: the end of the whole records."""
        self.capacity = 0
        self._map: mmap.mmap | None = None

    def load(self) -> list[Record]:
        """The whole records the file holds; whatever follows them (zeros, or a record a crash
        tore) is cut off, so appends follow the last whole one."""
        data = self.path.read_bytes()
        records, whole = decode_records(data)
        if data.count(0, whole) != len(data) - whole:
            log.warning(
                "%s: dropping a torn tail of %d bytes after %d records",
                self.path.name,
                len(data.rstrip(b"\0")) - whole,
                len(records),
            )
        if whole < len(data):
            os.ftruncate(self.fd, whole)
        self.size = self.capacity = whole
        return records

    def append(self, data: bytes, fsync: bool) -> int:
        start, end = self.size, self.size + len(data)
        if end > self.capacity:
            self._grow(end, fsync)
        assert self._map is not None
        self._map[start:end] = data
        if fsync:
            try:
                page = start - start % mmap.PAGESIZE
                self._map.flush(page, end - page)
            except OSError:
                self._map[start:end] = bytes(len(data))  # never shown to anyone: take it back
                raise
        self.size = end
        return end

    def _grow(self, needed: int, fsync: bool) -> None:
        capacity = max(needed, self.capacity + _GROWTH)
        _reserve(self.fd, self.capacity, capacity - self.capacity)
        if fsync:
            os.fsync(self.fd)  # the new length, before records are flushed into it
        mapping = mmap.mmap(self.fd, capacity)
        if self._map is not None:
            self._map.close()
        self._map, self.capacity = mapping, capacity

    def clear(self) -> None:
        self._unmap()
        os.ftruncate(self.fd, 0)
        self.size = self.capacity = 0

    def close(self) -> None:
        self._unmap()
        os.close(self.fd)

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


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
            records = [record for file in self._files for record in file.load()]
        except OSError:
            os.close(fd)
            raise
        records.sort()  # by seq, which is unique: nothing else is compared
        self._found = records
        self._active = 0

    def read(self) -> list[Record]:
        """Every whole record the files held when opened, in seq order: what the last owner
        left. A torn tail was cut off then, so appends follow the last whole record. Handed
        over once: the log does not keep them."""
        found, self._found = self._found, []
        return found

    @property
    def active_bytes(self) -> int:
        return self._files[self._active].size

    def write(self, seq: int, doc_id: str, origin: str, update: bytes, created: float) -> int:
        """Append one record (``Record``'s fields: the append path builds no object for it)
        to the active file; how many bytes that file holds now. Once this returns, the record
        survives ``kill -9`` (the page cache holds it); with ``fsync``, a power cut too."""
        try:
            return self._files[self._active].append(
                _encode(seq, doc_id, origin, update, created), self._fsync
            )
        except (OSError, ValueError) as exc:  # ValueError: the mapping is gone
            raise FrontLogWriteError(str(exc)) from exc

    def swap(self) -> None:
        """Make the other file the active one: what the active one holds now is the next
        drain's to move."""
        self._active ^= 1

    def clear_inactive(self) -> None:
        """Empty the file appends do not go to; only once everything in it is safe elsewhere."""
        self._files[self._active ^ 1].clear()

    def clear(self) -> None:
        """Empty both files; only once everything in them is safe elsewhere."""
        for file in self._files:
            file.clear()

    def close(self) -> None:
        for file in self._files:
            with contextlib.suppress(OSError):
                file.close()  # closing the first releases the lock


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _reserve(fd: int, offset: int, length: int) -> None:
    """Extend the file by ``length`` zeros with their blocks allocated. macOS has no
    ``posix_fallocate``: there the zeros are written."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, offset, length)
    else:
        os.pwrite(fd, bytes(length), offset)
