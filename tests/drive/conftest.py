from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.accounts import Account, sign_up
from tests.cluster.services import S3Server, Valkey, running
from tests.drive.drive_client import DriveApi
from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


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


JWT_SECRET = "drive-tests-secret-0123456789-abcdefghijklmnop"


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TandemProcess]:
    """An embedded server with room for the 50 MB round trip."""
    env = {
        "TANDEM_JWT_SECRET": JWT_SECRET,
        "TANDEM_MAX_UPLOAD_BYTES": str(64 * 1024 * 1024),
        "TANDEM_WORKSPACE_QUOTA_BYTES": str(256 * 1024 * 1024),
        "TANDEM_ACCESS_RECHECK_S": "0.5",
        "TANDEM_SIGNIN_ATTEMPTS_PER_MIN": "100",
        "TANDEM_DRIVE_SIZE_INTERVAL_S": "0.2",
    }
    async with TandemProcess(tmp_path_factory.mktemp("drive"), env=env) as proc:
        yield proc


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


@pytest.fixture
async def owner(server: TandemProcess) -> Account:
    return await sign_up(server.http_url)


@pytest.fixture
async def drive(owner: Account) -> DriveApi:
    return DriveApi(owner, await owner.create_workspace("Drive"))
