"""The bodies of the drive's routes (``server.requests``). Names are checked by the drive's
own ``check_name``, whatever their type (``null`` included): 400 ``invalid_name``."""

from __future__ import annotations

from typing import Annotated

from pydantic import PlainValidator

from drive.entries import ROOT
from drive.names import check_name
from server.errors import bad_request
from server.requests import JsonBody


def parent_id(raw: object) -> str:
    """``null`` is the top of the drive."""
    if raw is None:
        return ROOT
    if not isinstance(raw, str) or not raw:
        raise bad_request("'parent_id' must be an entry id or null", "invalid_field")
    return raw


EntryName = Annotated[str, PlainValidator(check_name)]
GivenName = Annotated[str | None, PlainValidator(check_name)]
"""Absent is ``None``; given, even as ``null``, it must be a valid name."""
ParentId = Annotated[str, PlainValidator(parent_id)]
GivenParentId = Annotated[str | None, PlainValidator(parent_id)]
"""Absent is ``None``; ``null`` is the top."""


class NewFolder(JsonBody):
    name: EntryName
    parent_id: ParentId = ROOT


class NewTextFile(NewFolder):
    text: str = ""
    content_type: str | None = None


class EntryChanges(JsonBody):
    """Only the fields given change; ``"parent_id": null`` moves to the top."""

    name: GivenName = None
    parent_id: GivenParentId = None


class Restore(JsonBody):
    """Back where it was, unless a name or a parent (not ``null``) is given."""

    name: GivenName = None
    parent_id: ParentId | None = None
