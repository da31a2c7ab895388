from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def _sync_without_accounts() -> Iterator[None]:
    """These suites test the sync protocol and storage, not access control (tests/access
    does): their servers admit any client to any document. Module-scoped so that it is in
    place before module-scoped servers start."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TANDEM_OPEN_ACCESS", "true")
        yield
