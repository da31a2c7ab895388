from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.services import S3Server, Valkey, running


@pytest.fixture(scope="session")
def drive_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running(S3Server(tmp_path_factory.mktemp("drive-s3"))) as server:
        assert isinstance(server, S3Server)
        yield server


@pytest.fixture(scope="session")
def drive_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    with running(Valkey(tmp_path_factory.mktemp("drive-valkey"))) as server:
        assert isinstance(server, Valkey)
        yield server
