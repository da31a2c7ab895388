from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
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


@pytest.fixture(scope="module", autouse=True)
def _sync_without_accounts() -> Iterator[None]:
    """These suites test the sync protocol and storage, not access control (tests/access
    does): their servers admit any client to any document. Module-scoped so that it is in
    place before module-scoped servers start."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TANDEM_OPEN_ACCESS", "true")
        yield
