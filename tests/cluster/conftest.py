from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from sync.redis_s3_store import RedisS3Store
from sync.snapshot_store import SnapshotStore
from tests.cluster.services import S3Server, Valkey, running


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Valkey]:
    with running(Valkey(tmp_path_factory.mktemp("valkey"))) as server:
        yield server


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running(S3Server(tmp_path_factory.mktemp("s3"))) as server:
        yield server


async def open_cluster_store(valkey: Valkey, s3: S3Server, *, flush: bool = True) -> RedisS3Store:
    """A store on the shared services; ``flush`` starts from an empty Redis."""
    # One bucket for the run: SeaweedFS gives every bucket volumes of its own.
    snapshots = SnapshotStore(s3.client(), "tandem-test")
    await snapshots.ensure_bucket()
    redis = Redis.from_url(valkey.url, socket_timeout=5)
    if flush:
        await redis.flushdb()
    return RedisS3Store(redis, snapshots)


@pytest.fixture
async def cluster_store(valkey: Valkey, s3: S3Server) -> AsyncIterator[RedisS3Store]:
    store = await open_cluster_store(valkey, s3)
    yield store
    await store.aclose()


@pytest.fixture(scope="module", autouse=True)
def _sync_without_accounts() -> Iterator[None]:
    """These suites test the sync protocol and storage, not access control (tests/access
    does): their servers admit any client to any document. Module-scoped so that it is in
    place before module-scoped servers start."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TANDEM_OPEN_ACCESS", "true")
        yield
