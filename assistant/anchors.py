"""Anchors: where a suggestion sits in the text, as Yjs relative positions a JS client can
``Y.decodeRelativePosition``, exact on any text.

Positions in our API are code points (Python ``str`` indices). pycrdt 0.14.13 gets relative
positions wrong on non-ASCII text: ``Text`` counts UTF-8 bytes, item clocks count UTF-16 units,
and ``sticky_index()`` / ``StickyIndex.get_index()`` locate the block by bytes, then add the
byte offset inside the block to the UTF-16 clock (and ``sticky_index`` panics at the end of a
non-ASCII text). Both are exact when the position is at the *start* of a block, where there is
no in-block offset to get wrong. So on a throwaway copy of the document we insert one-byte
markers that split the block exactly where we look (``insert`` itself counts bytes correctly):

- making an anchor: a marker just before the character makes it start a block; its id is then
  read exactly;
- resolving an anchor: the mixed index is never past the true byte position (a UTF-16 unit is
  at most as long as its UTF-8 bytes), so a marker there splits the anchor's block before the
  anchor; repeat until the anchor starts its block (each round removes at least a third of the
  remaining distance).

ASCII text needs none of this: bytes, UTF-16 units and code points coincide.
"""

from __future__ import annotations

import base64
import binascii

from pycrdt import Assoc, Doc, StickyIndex, Text

TEXT_NAME = "content"
_MARKER = "#"


class AnchorError(ValueError):
    """The bytes are not a relative position into this document's text."""


# -- lib0 encoding of a relative position --------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise AnchorError("truncated relative position")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def var_uint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value
            if shift > 70:
                raise AnchorError("varint too long")

    def var_int(self) -> int:
        byte = self.byte()
        value, negative, shift = byte & 0x3F, bool(byte & 0x40), 6
        while byte & 0x80:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
            if shift > 70:
                raise AnchorError("varint too long")
        return -value if negative else value

    def var_string(self) -> str:
        length = self.var_uint()
        if self.pos + length > len(self.data):
            raise AnchorError("truncated relative position")
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise AnchorError("type name is not UTF-8") from None


def _write_var_uint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def _write_var_string(value: str) -> bytes:
    raw = value.encode()
    return _write_var_uint(len(raw)) + raw


def _item_anchor(client: int, clock: int, assoc: int = 0) -> bytes:
    assert assoc in (0, -1)
    return (
        b"\x00" + _write_var_uint(client) + _write_var_uint(clock) + (b"\x41" if assoc else b"\x00")
    )


def _end_anchor(name: str) -> bytes:
    """The end of a root type, as Yjs writes it (no item: "after the last character")."""
    return b"\x01" + _write_var_string(name) + b"\x00"


def _parse(data: bytes) -> tuple[int, int, int] | tuple[str, int]:
    """(client, clock, assoc) for an item anchor, (type name, assoc) for a type-end anchor."""
    reader = _Reader(data)
    kind = reader.var_uint()
    if kind == 0:
        client, clock = reader.var_uint(), reader.var_uint()
        return client, clock, reader.var_int()
    if kind == 1:
        name = reader.var_string()
        return name, reader.var_int()
    raise AnchorError("anchors into nested types are not supported")


def _state_vector(doc: Doc) -> dict[int, int]:
    reader = _Reader(doc.get_state())
    return {reader.var_uint(): reader.var_uint() for _ in range(reader.var_uint())}


# -- text units ----------------------------------------------------------------------------------


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _ceil_boundary(raw: bytes, offset: int) -> int:
    """The first UTF-8 character boundary at or after ``offset``."""
    offset = min(max(offset, 0), len(raw))
    while offset < len(raw) and (raw[offset] & 0xC0) == 0x80:
        offset += 1
    return offset


def _copy_text(text: Text) -> Text:
    doc = text.doc
    copy = Doc()
    copy.apply_update(doc.get_update())
    return copy.get(TEXT_NAME, type=Text)


# -- public API ----------------------------------------------------------------------------------


def encode(text: Text, index: int) -> str:
    """The anchor of the character at code point ``index`` (``len`` = the end), base64, with
    Yjs' default association (it follows the character to its right)."""
    value = str(text)
    if not 0 <= index <= len(value):
        raise AnchorError(f"position {index} is outside the text (0..{len(value)})")
    if index == len(value):
        data = _end_anchor(TEXT_NAME)
    elif value.isascii():
        data = text.sticky_index(index, Assoc.AFTER).encode()
    else:
        copy = _copy_text(text)
        offset = _byte_offset(value, index)
        copy.insert(offset, _MARKER)
        data = copy.sticky_index(offset + len(_MARKER), Assoc.AFTER).encode()
    return base64.b64encode(data).decode()


def decode(anchor: str) -> bytes:
    try:
        data = base64.b64decode(anchor, validate=True)
    except (binascii.Error, ValueError):
        raise AnchorError("anchors are base64") from None
    _parse(data)
    return data


def resolve(text: Text, anchor: str | bytes) -> int:
    """The code point index an anchor points at now, as Yjs' absolute position would give it.
    Raises AnchorError for bytes that are no anchor into this text."""
    data = decode(anchor) if isinstance(anchor, str) else anchor
    parsed = _parse(data)
    value = str(text)
    if len(parsed) == 2:
        name, assoc = parsed
        if name != TEXT_NAME:
            raise AnchorError(f"the anchor points into {name!r}, not the text")
        return len(value) if assoc >= 0 else 0
    client, clock, assoc = parsed
    if _state_vector(text.doc).get(client, 0) <= clock:
        raise AnchorError("the anchor points at text this document never had")
    byte_offset, visible = _locate(text, value, client, clock)
    index = len(value.encode()[:byte_offset].decode())
    if assoc < 0 and visible:
        index += 1  # associated with the character on its left: the position after it
    return index


def _locate(text: Text, value: str, client: int, clock: int) -> tuple[int, bool]:
    """Byte offset of the item (client, clock), or where it was if deleted, and whether it is
    still there."""
    target = _item_anchor(client, clock)
    raw = value.encode()
    if value.isascii():
        offset = StickyIndex.decode(target, text).get_index()
        return offset, offset < len(raw) and text.sticky_index(offset).encode() == target
    copy = _copy_text(text)
    sticky = StickyIndex.decode(target, copy)
    markers: list[int] = []
    mixed = sticky.get_index()
    starts_block = False
    for _ in range(len(raw) + 2):
        if markers and mixed == markers[-1] + len(_MARKER):
            starts_block = True  # the item starts its block right after the last marker: exact
            break
        if markers and mixed <= markers[-1]:
            break  # a deleted item, which the marker went after (exact), or see below
        at = _ceil_boundary(str(copy).encode(), mixed)
        copy.insert(at, _MARKER)
        markers.append(at)
        mixed = sticky.get_index()
    else:  # pragma: no cover - each round moves forward by at least one byte
        raise AnchorError("could not resolve the anchor")
    current = str(copy).encode()
    offset = mixed
    if offset < len(current) and (current[offset] & 0xC0) == 0x80:
        # The id of the second UTF-16 unit of an astral character (a JS client anchoring
        # "after the emoji" does that): the character is there, we stand at its start.
        while (current[offset] & 0xC0) == 0x80:
            offset -= 1
        visible = True
    else:
        visible = (
            starts_block and offset < len(current) and copy.sticky_index(offset).encode() == target
        )
    before = sum(1 for at in markers if at < offset)
    return offset - before * len(_MARKER), visible
