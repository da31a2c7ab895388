"""Entry names: what a file system and a zip archive can both hold safely."""

from __future__ import annotations

import unicodedata

from .errors import InvalidNameError

MAX_NAME_BYTES = 255


def check_name(raw: object) -> str:
    """The name in NFC (so visually equal names compare equal), or InvalidNameError.

    Refused: empty, ``.``, ``..``, anything with ``/``, ``\\``, NUL or another control
    character, more than 255 bytes of UTF-8. Backslash is refused too because zip tools on
    Windows treat it as a separator: a downloaded folder must unpack where it is told."""
    if not isinstance(raw, str):
        raise InvalidNameError("the name must be a string")
    name = unicodedata.normalize("NFC", raw)
    if not name:
        raise InvalidNameError("the name is empty")
    if name in (".", ".."):
        raise InvalidNameError(f"{name!r} is not a valid name")
    if "/" in name or "\\" in name:
        raise InvalidNameError("names cannot contain '/' or '\\'")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidNameError("names cannot contain NUL or control characters")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidNameError(f"names are at most {MAX_NAME_BYTES} bytes of UTF-8")
    if name != name.strip():
        raise InvalidNameError("names cannot start or end with whitespace")
    return name
