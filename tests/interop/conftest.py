from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.server_proc import TandemProcess
from tests.yjs import YjsClients


@pytest.fixture
async def js() -> AsyncIterator[YjsClients]:
    async with YjsClients() as clients:
        yield clients


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TandemProcess]:
    async with TandemProcess(tmp_path / "data") as proc:
        yield proc
