"""Fixtures every suite may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mongo import MongoServer, running_mongo


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """One nx-27017 for the run; ``mongo_server.url()`` names a fresh database each call."""
    with running_mongo(tmp_path_factory.mktemp("mongo")) as server:
        yield server
