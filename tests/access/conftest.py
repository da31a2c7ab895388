from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.server_proc import TandemProcess
from tests.yjs import YjsClients

JWT_SECRET = "access-tests-secret-0123456789-abcdefghijklmnop"


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TandemProcess]:
    env = {
        "TANDEM_JWT_SECRET": JWT_SECRET,
        "TANDEM_ACCESS_RECHECK_S": "0.3",
        "TANDEM_SIGNIN_ATTEMPTS_PER_MIN": "50",
        "TANDEM_REFRESH_REUSE_GRACE_S": "0",  # strictly once: the grace has its own test
    }
    async with TandemProcess(tmp_path_factory.mktemp("access"), env=env) as proc:
        yield proc


async def start(tmp_path: Path, **env: str) -> TandemProcess:
    return await TandemProcess(tmp_path, env={"TANDEM_JWT_SECRET": JWT_SECRET, **env}).start()
