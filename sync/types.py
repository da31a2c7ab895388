"""The shared vocabulary of the sync package."""

from __future__ import annotations

import re
from typing import NewType

DocId = NewType("DocId", str)
"""A document id: 1–128 characters of ``A-Z a-z 0-9 . _ : -``, not starting with ``.``."""

LogId = NewType("LogId", str)
"""An opaque, store-specific position in a document's update log (ordered by the store)."""

Origin = NewType("Origin", str)
"""Who produced an update: a pod id, or ``pod-id/assistant``-like names for server writers."""

Update = bytes
"""A Yjs update (lib0 v1 encoding)."""

Frame = bytes
"""One binary websocket message of the y-websocket protocol."""

_DOC_ID = re.compile(r"[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}")


class InvalidDocIdError(ValueError):
    """The document id breaks the allowed charset or length."""


def parse_doc_id(raw: str) -> DocId:
    if not _DOC_ID.fullmatch(raw):
        raise InvalidDocIdError(
            "doc ids are 1-128 characters of A-Z a-z 0-9 . _ : - and do not start with '.'"
        )
    return DocId(raw)
