"""A client's Yjs update (lib0 v1) and state vector, walked before pycrdt decodes them.

yrs, the Rust Yjs under pycrdt, trusts the counts it reads: it reserves room for as many
clients, structs, values or state-vector entries as the bytes claim before reading one of them
(a 4-byte state vector claiming 10**8 entries made it touch 128 MiB, garbage updates of 20 KB
about 240 MiB), it reads nested values by recursion (100 KB of nested arrays overflowed the
stack: the process died), and it keeps clocks in 32 bits (an item past 2**32 panicked, and
pyo3's PanicException is no Exception). So every update a client sends is walked here first, as
yrs reads it, keeping nothing: each count checked against the bytes left, each number against
what yrs and lib0 hold, nested values to a depth every reader follows. An update that passes
costs yrs what its bytes hold; one that fails never reaches the document.

Refused besides, since relaying them would break every browser or the document: content that
yrs and Yjs read differently (yrs reads one string more of the old JSON content than it
writes, and no name for an XmlHook), and yrs's own type refs that Yjs cannot read (weak
links, a subdocument's or an undefined type). No Yjs 13 or pycrdt encoder writes any of them
but the XmlHook, which yrs cannot read right anyway. Bytes after the delete set are ignored,
as both decoders ignore them; invalid UTF-8 is left to yrs, which refuses it.

The layout (Yjs ``readClientsStructRefs``, ``readItemContent``, ``readDeleteSet``):
  update   varuint clients, per client {varuint structs, varuint client, varuint clock,
           structs * struct}, then the delete set
  struct   info byte: 0 GC / 10 skip, then varuint length; else an item whose low five bits
           name its content: left origin (client, clock) if bit 8, right origin if bit 7;
           with neither, parent info (varuint 1: a root type's name; 0: a parent item's id)
           and, if bit 6, the map key; then the content
  deletes  varuint clients, per client {varuint client, varuint ranges, ranges * (clock, len)}

The walk is written for speed, in one function per section with varints read inline: it runs
on every keystroke, and a long update's structs cost it a microsecond each or less.
"""

from __future__ import annotations

import re

from .protocol import ProtocolError

MAX_CLIENT = 2**53 - 1
"""lib0 reads every varuint as a double and throws past this; yrs keeps client ids in 64
bits and wraps longer varints."""
CLOCK_END = 2**32
"""yrs keeps clocks and lengths in 32 bits: every item and deleted range ends below this."""
MAX_VALUE_DEPTH = 1000
"""How deeply arrays and maps of plain values (lib0 ``Any``) may nest. yrs overflowed the
stack past about 20,000 levels and killed the process; Yjs in Node threw past 3,000."""

_MAX_CLOCK = CLOCK_END - 1

# Item content, by the low five bits of a struct's info.
_DELETED, _JSON, _BINARY, _STRING, _EMBED, _FORMAT, _TYPE, _ANY, _DOC = range(1, 10)
_GC, _SKIP = 0, 10
_HAS_ORIGIN, _HAS_RIGHT_ORIGIN, _HAS_PARENT_SUB = 0x80, 0x40, 0x20
_HAS_ORIGINS = _HAS_ORIGIN | _HAS_RIGHT_ORIGIN

_XML_ELEMENT = 3
_PLAIN_TYPES = frozenset((0, 1, 2, 4, 6))
"""Type refs with no body: array, map, text, XML fragment, XML text."""
_REFUSED_TYPES = {
    5: "an XmlHook (yrs reads no name for it, Yjs reads one)",
    7: "a weak link (yrs-only, and not in this build)",
    9: "a subdocument type (yrs-only)",
    15: "an undefined type (yrs-only)",
}

# lib0 Any tags.
_NO_BODY = frozenset((127, 126, 121, 120))  # undefined, null, false, true
_INTEGER, _FLOAT32, _FLOAT64, _BIGINT = 125, 124, 123, 122
_STRING_VALUE, _MAP, _ARRAY, _BUFFER = 119, 118, 117, 116

# Varints as patterns: up to 7 bytes of a client id, or 8 whose last is below 0x10 (53 bits);
# up to 4 bytes of a clock, or 5 whose last is below 0x10 (32 bits). Possessive, and branching
# only at the end: the regular expression engine then backtracks nowhere.
_CLIENT = rb"[\x80-\xff]{0,6}+(?:[\x00-\x7f]|[\x80-\xff][\x00-\x0f])"
_CLOCK = rb"[\x80-\xff]{0,3}+(?:[\x00-\x7f]|[\x80-\xff][\x00-\x0f])"
_SHORT_CLOCK = rb"[\x80-\xff]{0,3}+[\x00-\x7f]"
"""Below 2**28: no keystroke's length takes it past CLOCK_END."""
_ID = _CLIENT + _CLOCK
_ID_AT = re.compile(_ID)
_PLACED_STRING = rb"(?:\x84%s|\xc4%s%s|\x44%s)" % (_ID, _ID, _ID, _ID)
"""A string item's info and its origins: the left one, both, or the right one."""
_PLACED_AT = re.compile(rb"(?:[\x84\x81]%s|[\xc4\xc1]%s%s|[\x44\x41]%s)" % (_ID, _ID, _ID, _ID))
"""A string or deleted item's info and origins."""
_KEYSTROKE = re.compile(rb"\x01\x01" + _CLIENT + _SHORT_CLOCK + _PLACED_STRING + rb"([\x01-\x7f])")
"""A keystroke's structs, up to its string's length: one client's one string item, placed by
its origins, of 1 to 127 bytes. The bytes of the string and an empty delete set follow."""
_BACKSPACE = re.compile(rb"\x00\x01" + _CLIENT + rb"\x01" + _SHORT_CLOCK + _SHORT_CLOCK)
"""A deletion of one range: no structs, one client's one deleted range."""


class MalformedUpdateError(ProtocolError):
    """Bytes a client sent as an update or state vector that yrs must not decode."""


class _Malformed(Exception):
    def __init__(self, pos: int, reason: str) -> None:
        super().__init__(f"at byte {pos}: {reason}")


def check_update(update: bytes) -> None:
    """Raise MalformedUpdateError unless ``update`` is a v1 update yrs may decode."""
    if not is_keystroke(update):
        walk_update(update)


def is_keystroke(update: bytes) -> bool:
    """Whether ``update`` is one of the two shapes most updates take, typing or deleting a
    range, with every number in bounds: told by a regular expression in a fifth of the time
    the walk takes. False says nothing of the rest, which the walk checks."""
    typed = _KEYSTROKE.match(update)
    if typed is not None:
        string_start = typed.end()
        string_end = string_start + update[string_start - 1]
        return string_end + 1 == len(update) and not update[string_end]
    return _BACKSPACE.fullmatch(update) is not None


def walk_update(update: bytes) -> None:
    """``check_update`` for any update, through the general walk."""
    try:
        clients, pos = _count(update, 0, 3, "clients")
        seen: set[int] = set()
        for _ in range(clients):
            pos = _client_structs(update, pos, seen)
        _delete_set(update, pos)
    except _Malformed as exc:
        raise MalformedUpdateError(f"malformed update {exc}") from None
    except IndexError:
        raise MalformedUpdateError("malformed update: the bytes end inside it") from None


def check_state_vector(state: bytes) -> None:
    """Raise MalformedUpdateError unless ``state`` is a state vector yrs may decode."""
    try:
        entries, pos = _count(state, 0, 2, "state vector entries")
        for _ in range(entries):
            pos = _id(state, pos)
    except _Malformed as exc:
        raise MalformedUpdateError(f"malformed state vector {exc}") from None
    except IndexError:
        raise MalformedUpdateError("malformed state vector: it ends inside an entry") from None


def _uint(data: bytes, pos: int, limit: int, what: str) -> tuple[int, int]:
    """The varuint at ``pos``, at most ``limit``, and the position after it."""
    start = pos
    byte = data[pos]
    value = byte & 0x7F
    shift = 7
    while byte >= 0x80:
        if shift > 63:
            raise _Malformed(start, f"{what}: a varint longer than 10 bytes")
        pos += 1
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        shift += 7
    if value > limit:
        raise _Malformed(start, f"{what} {value} is past {limit}")
    return value, pos + 1


def _count(data: bytes, pos: int, min_size: int, what: str) -> tuple[int, int]:
    """A count of things of at least ``min_size`` bytes each, which must fit in what is left."""
    count, after = _uint(data, pos, MAX_CLIENT, what)
    if count * min_size > len(data) - after:
        raise _Malformed(pos, f"{count} {what} claimed in {len(data) - after} bytes")
    return count, after


def _id(data: bytes, pos: int) -> int:
    """Past a (client, clock) pair: the client a double can hold, the clock one yrs can."""
    matched = _ID_AT.match(data, pos)  # the usual shortest varints, in one call
    if matched is not None:
        return matched.end()
    _, pos = _uint(data, pos, MAX_CLIENT, "client id")
    _, pos = _uint(data, pos, _MAX_CLOCK, "clock")
    return pos


def _client_structs(data: bytes, pos: int, seen: set[int]) -> int:
    """Past one client's structs, each checked as yrs will read it; ``seen`` holds the
    clients before it."""
    section = pos
    structs, pos = _count(data, pos, 2, "structs")
    client, pos = _uint(data, pos, MAX_CLIENT, "client id")
    if client in seen:
        # yrs adds a second section to the first one's list, out of order: it panicked
        # ("unreachable code") or crashed. Yjs and yrs write each client once.
        raise _Malformed(section, f"client {client} has a second section")
    seen.add(client)
    clock, pos = _uint(data, pos, _MAX_CLOCK, "clock")
    first_clock, has_range = clock, False
    for _ in range(structs):
        start = pos
        info = data[pos]
        placed = _PLACED_AT.match(data, pos)  # most structs: text or deleted text, and origins
        if placed is not None:
            pos = placed.end()
        elif info == _GC or info == _SKIP:
            length, pos = _uint(data, pos + 1, _MAX_CLOCK, "GC or skip length")
            if not length:  # yrs divided by it (a panic) when the document knew no more
                raise _Malformed(start, "a GC or skip of no length")
            clock += length
            if clock >= CLOCK_END:
                raise _Malformed(start, f"clock {clock} is past yrs's 32 bits")
            has_range = True
            continue
        else:
            pos = _item_head(data, pos + 1, info)
        ref = info & 0x1F
        if ref == _STRING:
            size = data[pos]
            if size < 0x80:
                pos += 1 + size
            else:
                size, pos = _uint(data, pos, _MAX_CLOCK, "string length")
                pos += size
            clock += size  # its UTF-16 length is at most its UTF-8 size
            if clock >= CLOCK_END:
                clock += _utf16_length(data[pos - size : pos]) - size
        elif ref == _DELETED:
            length, pos = _uint(data, pos, _MAX_CLOCK, "deleted length")
            clock += length
        elif ref == _ANY:
            count, pos = _count(data, pos, 1, "values")
            pos = _values(data, pos, count)
            clock += count
        else:
            pos = _other_content(data, pos, ref)
            clock += 1
        if clock >= CLOCK_END:
            raise _Malformed(start, f"clock {clock} is past yrs's 32 bits")
    if clock == first_clock and not has_range:
        # yrs drops empty items, keeps the client's empty list, and panics on it when the
        # document knows the client. Neither Yjs nor yrs writes such a section.
        raise _Malformed(section, f"client {client} has no structs, or only empty items")
    return pos


def _item_head(data: bytes, pos: int, info: int) -> int:
    """Past an item's origins, or its parent and map key: up to its content."""
    ref = info & 0x1F
    if not 0 < ref <= _DOC:
        raise _Malformed(pos - 1, f"struct info {info:#04x} names no content")
    if info & _HAS_ORIGINS:
        if info & _HAS_ORIGIN:
            pos = _id(data, pos)
        if info & _HAS_RIGHT_ORIGIN:
            pos = _id(data, pos)
        return pos
    parent, pos = _uint(data, pos, 1, "parent info")
    pos = _past_bytes(data, pos, "root type name") if parent else _id(data, pos)
    if info & _HAS_PARENT_SUB:
        pos = _past_bytes(data, pos, "map key")
    return pos


def _other_content(data: bytes, pos: int, ref: int) -> int:
    """Past the content of one length: a nested type, formatting, binary, embed, subdoc."""
    if ref == _TYPE:
        type_ref = data[pos]
        if type_ref == _XML_ELEMENT:
            return _past_bytes(data, pos + 1, "XML element name")
        if type_ref not in _PLAIN_TYPES:
            refused = _REFUSED_TYPES.get(type_ref, "unknown")
            raise _Malformed(pos, f"type ref {type_ref}: {refused}")
        return pos + 1
    if ref == _FORMAT:
        return _past_bytes(data, _past_bytes(data, pos, "format key"), "format value")
    if ref == _BINARY or ref == _EMBED:
        return _past_bytes(data, pos, "binary or embed")
    if ref == _DOC:
        return _values(data, _past_bytes(data, pos, "subdocument guid"), 1)
    raise _Malformed(pos, "JSON content (yrs reads one string more of it than Yjs writes)")


def _past_bytes(data: bytes, pos: int, what: str) -> int:
    size, pos = _uint(data, pos, _MAX_CLOCK, what)
    if pos + size > len(data):
        raise _Malformed(pos, f"{what} of {size} bytes runs past the end")
    return pos + size


def _utf16_length(raw: bytes) -> int:
    try:
        return len(raw.decode("utf-8").encode("utf-16-le")) // 2
    except UnicodeDecodeError:
        return 0  # yrs refuses it


def _values(data: bytes, pos: int, count: int) -> int:
    """Past ``count`` lib0 Any values; nested ones in a loop, not by recursion."""
    open_levels: list[tuple[int, bool]] = []  # values left in each enclosing array or map
    left, in_map = count, False
    while True:
        if not left:
            if not open_levels:
                return pos
            left, in_map = open_levels.pop()
            continue
        left -= 1
        if in_map:
            pos = _past_bytes(data, pos, "map key")
        tag = data[pos]
        pos += 1
        if tag in _NO_BODY:
            continue
        if tag == _STRING_VALUE or tag == _BUFFER:
            pos = _past_bytes(data, pos, "string or buffer value")
        elif tag == _INTEGER:
            first = data[pos]
            if first < 0x80:
                pos += 1
            else:
                _, pos = _uint(data, pos + 1, MAX_CLIENT >> 6, "integer")
        elif tag == _FLOAT64 or tag == _BIGINT:
            pos += 8
        elif tag == _FLOAT32:
            pos += 4
        elif tag == _ARRAY or tag == _MAP:
            is_map = tag == _MAP
            inner, pos = _count(data, pos, 2 if is_map else 1, "map entries" if is_map else "items")
            if inner:
                if len(open_levels) >= MAX_VALUE_DEPTH:
                    raise _Malformed(pos, f"values nested past {MAX_VALUE_DEPTH} levels")
                open_levels.append((left, in_map))
                left, in_map = inner, is_map
        else:
            raise _Malformed(pos - 1, f"value tag {tag} is no lib0 type")


def _delete_set(data: bytes, pos: int) -> int:
    clients, pos = _count(data, pos, 2, "deleting clients")
    for _ in range(clients):
        _, pos = _uint(data, pos, MAX_CLIENT, "deleting client id")
        ranges, pos = _count(data, pos, 2, "deleted ranges")
        for _ in range(ranges):
            start = pos
            clock, pos = _uint(data, pos, _MAX_CLOCK, "deleted clock")
            length, pos = _uint(data, pos, _MAX_CLOCK, "deleted length")
            if clock + length >= CLOCK_END:
                raise _Malformed(start, "deleted range ends past yrs's 32 bits")
    return pos
