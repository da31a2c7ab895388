"""Generated ids: 22 url-safe characters, never a ``:`` (companion documents use it) and
never a leading ``-`` (a command line would read the id as an option; one in 64 random ids
used to start with one)."""

from __future__ import annotations

import re

import pytest

from drive.entries import new_entry_id
from server.access.models import new_id


@pytest.mark.parametrize("make", [new_id, new_entry_id])
def test_ids_are_url_safe_and_never_look_like_an_option(make: object) -> None:
    assert callable(make)
    ids = [make() for _ in range(5000)]
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)
    assert len(set(ids)) == len(ids)
