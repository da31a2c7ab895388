"""The port for file bytes: a local directory in the embedded default, S3 (MinIO) in cluster
mode. One contract suite (tests/drive/test_object_store_contract.py) runs against both.

Keys are chosen by the drive (random ids, see ``new_object_key``), never from user input, so
no name a user types can reach a path or a foreign object."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

from .errors import ObjectStoreError

CHUNK_BYTES = 1024 * 1024
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}"
_KEY = re.compile(rf"{_SEGMENT}(/{_SEGMENT}){{0,5}}")
"""Up to six segments; a dot only inside one (``adapter_config.json``), so no ``.`` or ``..``."""


def new_object_key(workspace_id: str) -> str:
    """``drive/{workspace}/{random}``: the prefix lets a deleted workspace be found by prefix,
    the random part keeps keys unguessable and unrelated to names."""
    return check_key(f"drive/{workspace_id}/{secrets.token_urlsafe(24)}")


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ObjectStoreError(f"invalid object key {key!r}")
    return key


class ObjectStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        """Stores the bytes and returns their size. Raises TooLargeError (having stored
        nothing) as soon as more than ``max_bytes`` arrive. The object appears whole or not
        at all."""
        ...

    def get(self, key: str) -> AsyncIterator[bytes]:
        """The bytes in chunks. Raises ObjectMissingError when there is no such object."""
        ...

    async def size(self, key: str) -> int | None:
        """The stored size, or None when the object does not exist."""
        ...

    async def delete(self, key: str) -> None:
        """Idempotent."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Removes every object under ``prefix`` (a workspace being deleted); returns how many."""
        ...
