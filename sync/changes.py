"""What one applied update changed, in Yjs units: items inserted (for text, UTF-16 code units)
and items deleted. Read from the transaction's own update (its structs) and delete set, so the
cost follows the size of the change, not of the document; the server's edit history counts
with it.

The structs are read as lib0 v1 encodes them (Yjs ``readClientsStructRefs``/``readItemContent``):
per client a struct count, the client and its first clock, then per struct an info byte whose
low five bits name the content (0 GC, 10 skip, else an item: left origin if bit 8, right origin
if bit 7, else parent info, then the content)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from .types import DocId, Update

if TYPE_CHECKING:
    from .peer import Peer


class AppliedUpdate(NamedTuple):
    """A client's update, after it was durably appended. A named tuple, not a frozen
    dataclass: one is built for every client update, and a frozen dataclass's ``__init__``
    (``object.__setattr__`` per field) took three times as long."""

    doc_id: DocId
    peer: Peer
    update: Update
    at: float
    """When it was appended: wall-clock seconds."""


class Heard(list[AppliedUpdate]):
    """Client updates made durable since the listeners last heard of them, in order. The
    rooms append to it; ``wake`` is called when one lands in it empty, so its owner tells the
    listeners a little later, and nothing wakes while nobody types."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__()
        self.wake = wake


class _Malformed(Exception):
    pass


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Malformed
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uint(self) -> int:
        data, pos = self.data, self.pos
        try:
            byte = data[pos]
            if byte < 0x80:
                self.pos = pos + 1
                return byte  # most lengths and small clocks
            # Client ids take up to eight bytes: read them here, not a call per byte.
            value, shift = byte & 0x7F, 7
            while True:
                pos += 1
                byte = data[pos]
                value |= (byte & 0x7F) << shift
                if byte < 0x80:
                    self.pos = pos + 1
                    return value
                shift += 7
                if shift > 70:
                    raise _Malformed
        except IndexError:
            raise _Malformed from None

    def int(self) -> None:
        byte = self.byte()
        while byte & 0x80:
            byte = self.byte()

    def skip(self, count: int) -> None:
        self.pos += count
        if self.pos > len(self.data):
            raise _Malformed

    def bytes(self) -> bytes:
        length = self.uint()
        start = self.pos
        self.skip(length)
        return self.data[start : self.pos]

    def any(self) -> None:
        kind = self.byte()
        if kind in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if kind == 125:
            self.int()
        elif kind == 124:
            self.skip(4)
        elif kind in (123, 122):
            self.skip(8)
        elif kind in (119, 116):  # string, bytes
            self.bytes()
        elif kind == 118:  # object
            for _ in range(self.uint()):
                self.bytes()
                self.any()
        elif kind == 117:  # array
            for _ in range(self.uint()):
                self.any()
        else:
            raise _Malformed


def _utf16_length(raw: bytes) -> int:
    if raw.isascii():
        return len(raw)  # most typing: one unit a byte
    text = raw.decode("utf-8", errors="surrogatepass")
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def _content_length(reader: _Reader, ref: int) -> int:
    """Reads an item's content; returns how many units it inserts (0 for non-content)."""
    match ref:
        case 1:  # deleted
            reader.uint()
            return 0
        case 2:  # JSON
            count = reader.uint()
            for _ in range(count):
                reader.bytes()
            return count
        case 3 | 5:  # binary, embed
            reader.bytes()
            return 1
        case 4:  # string
            return _utf16_length(reader.bytes())
        case 6:  # format: a mark, not content
            reader.bytes()
            reader.bytes()
            return 0
        case 7:  # a nested type
            if reader.uint() in (3, 5):  # XmlElement, XmlHook carry a name
                reader.bytes()
            return 1
        case 8:  # any
            count = reader.uint()
            for _ in range(count):
                reader.any()
            return count
        case 9:  # subdocument
            reader.bytes()
            reader.any()
            return 1
    raise _Malformed


def _inserted(reader: _Reader) -> int:
    total = 0
    for _ in range(reader.uint()):
        structs = reader.uint()
        reader.uint()  # client
        reader.uint()  # first clock
        for _ in range(structs):
            info = reader.byte()
            ref = info & 0x1F
            if ref in (0, 10):  # GC, skip
                reader.uint()
                continue
            if info & 0x80:
                reader.uint(), reader.uint()
            if info & 0x40:
                reader.uint(), reader.uint()
            if not info & 0xC0:
                if reader.uint() == 1:
                    reader.bytes()  # a root type by name
                else:
                    reader.uint(), reader.uint()  # a parent item
                if info & 0x20:
                    reader.bytes()  # a map key
            total += _content_length(reader, ref)
    return total


def _deleted(reader: _Reader) -> int:
    total = 0
    for _ in range(reader.uint()):
        reader.uint()  # client
        for _ in range(reader.uint()):
            reader.uint()  # clock
            total += reader.uint()
    return total


def change_size(update: bytes) -> tuple[int, int]:
    """(inserted, deleted) of a v1 update: its structs, then its delete set. (0, 0) for bytes
    that do not decode, which only costs a count."""
    typed = _typed(update)
    if typed is not None:
        return typed, 0
    return _read_size(update)


def _read_size(update: bytes) -> tuple[int, int]:
    """``change_size`` for any update, through the general reader."""
    reader = _Reader(update)
    try:
        return _inserted(reader), _deleted(reader)
    except (_Malformed, UnicodeDecodeError):
        return 0, 0


def _typed(update: bytes) -> int | None:
    """What a keystroke inserts, read straight off its bytes: one client's one item of string
    content placed by its origins, with an empty delete set. None for any other shape, which
    the general reader then reads. Sizing a keystroke through the reader took a fifth of the
    server's own time for an update (in-process, 50 documents)."""
    try:
        if update[0] != 1 or update[1] != 1:  # one client, one struct
            return None
        at = _past_varints(update, 2, 2)  # the client, its clock
        info = update[at]
        if info & 0x1F != 4 or not info & 0xC0:  # string content; no parent info, no key
            return None
        origins = (info >> 7) + (info >> 6 & 1)  # left, right: each a client and a clock
        at = _past_varints(update, at + 1, 2 * origins)
        length = update[at]
        if length & 0x80:
            return None  # a long string: rare enough for the reader
        start = at + 1
        end = start + length
        if update[end] != 0:  # deletions too: the reader counts them
            return None
        return _utf16_length(update[start:end])
    except (IndexError, UnicodeDecodeError):
        return None


def _past_varints(data: bytes, at: int, count: int) -> int:
    """Where the ``count`` varints from ``data[at]`` end; IndexError if they do not."""
    for _ in range(count):
        while data[at] & 0x80:
            at += 1
        at += 1
    return at
